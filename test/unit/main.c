/*
 * main.c: runs every group of C unit tests of the core and prints the summary
 * line "N passed, N failed" that CI reads.
 */
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"

#define UNIT_GROUP_DECL(name) int run_##name##_tests(int *n_tests);
#include "groups.h"
#undef UNIT_GROUP_DECL

const char *
unit_fixtures_dir(void)
{
	const char *dir = getenv("VQAPRUNE_FIXTURES");

	return dir ? dir : "test/fixtures";
}

const char *
unit_data_dir(void)
{
	const char *dir = getenv("VQAPRUNE_TEST_DATA");

	return dir ? dir : "test/data";
}

char *
unit_read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		size;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) size + 1);
	if (buf && fread(buf, 1, (size_t) size, f) != (size_t) size)
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
	{
		buf[size] = '\0';
		if (len)
			*len = (size_t) size;
	}
	return buf;
}

int
main(void)
{
	int			n_tests = 0;
	int			failed = 0;

#define UNIT_GROUP_DECL(name) failed += run_##name##_tests(&n_tests);
#include "groups.h"
#undef UNIT_GROUP_DECL

	printf("%d passed, %d failed\n", n_tests - failed, failed);
	return failed == 0 ? 0 : 1;
}
