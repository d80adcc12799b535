/*
 * isa.c: the run-time choice among a kernel's instruction-set builds
 * (isa.h).
 */
#include "vqaprune/isa.h"

#include <string.h>

/* GCC's ISA level names; clang builds (PGXS's bitcode) carry the baseline only */
static int
cpu_runs(const char *isa)
{
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
	__builtin_cpu_init();
	if (strcmp(isa, "avx512") == 0)
		return __builtin_cpu_supports("x86-64-v4");
	if (strcmp(isa, "avx2") == 0)
		return __builtin_cpu_supports("x86-64-v3");
#endif
	return strcmp(isa, "baseline") == 0;
}

const void *
vqa_isa_choose(const void *sets, size_t n, size_t size, const char *name)
{
	for (size_t i = 0; i < n; i++)
	{
		const char *set_name = *(const char *const *) ((const char *) sets + i * size);

		if ((name == NULL || strcmp(name, set_name) == 0) && cpu_runs(set_name))
			return (const char *) sets + i * size;
	}
	return NULL;
}
