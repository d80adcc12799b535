/*
 * unit.h: shared bits of the C unit tests of the core (cmocka).
 *
 * Each test/unit/test_NAME.c defines "int run_NAME_tests(int *n_tests)",
 * which runs its cmocka group, adds its test count to *n_tests and returns
 * the number of failures. The Makefile lists the groups from the file names.
 */
#ifndef VQAPRUNE_UNIT_H
#define VQAPRUNE_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Directory of the reference fixtures (env VQAPRUNE_FIXTURES). */
const char *unit_fixtures_dir(void);

/* Directory of the project's own test data (env VQAPRUNE_TEST_DATA). */
const char *unit_data_dir(void);

/* Reads a whole file into a malloc'd, NUL-terminated buffer; NULL on error. */
char	   *unit_read_file(const char *path, size_t *len);

#define UNIT_GROUP(name, tests, n_tests) \
	(*(n_tests) += (int) (sizeof(tests) / sizeof((tests)[0])), \
	 cmocka_run_group_tests_name(#name, tests, NULL, NULL))

#endif
