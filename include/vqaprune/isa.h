/*
 * isa.h: choosing among a kernel's builds for several instruction sets
 * (sparse.h, gelu.h): "avx512" (x86-64-v4), "avx2" (x86-64-v3) and
 * "baseline", the best the CPU runs or one asked for by name.
 */
#ifndef VQAPRUNE_ISA_H
#define VQAPRUNE_ISA_H

#include <stddef.h>

/*
 * The first of n kernel sets, each `size` bytes and starting with its name
 * (a const char *), that this CPU runs and that `name` names (any when
 * name is NULL); NULL when there is none. Sets go from best to baseline.
 */
const void *vqa_isa_choose(const void *sets, size_t n, size_t size, const char *name);

#endif
