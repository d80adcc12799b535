/*
 * test_answer_list.c: unit tests of the answer-list reader (answer_list.h):
 * its three formats, each of its errors, lookups, and reading a file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "vqaprune/answer_list.h"

static VqaAnswerList *
parse_ok_len(const char *data, size_t len)
{
	char		err[256] = "";
	VqaAnswerList *list = vqa_answer_list_parse(data, len, err, sizeof(err));

	if (list == NULL)
		fail_msg("refused: %s", err);
	return list;
}

static VqaAnswerList *
parse_ok(const char *data)
{
	return parse_ok_len(data, strlen(data));
}

/* The answers of a list, in order, must be the n of expected. */
static void
expect_answers(const char *data, const char *const *expected, int n)
{
	VqaAnswerList *list = parse_ok(data);
	int			i;

	assert_int_equal(vqa_answer_list_count(list), n);
	for (i = 0; i < n; i++)
	{
		assert_string_equal(vqa_answer_list_get(list, i), expected[i]);
		assert_int_equal(vqa_answer_list_find(list, expected[i]), i);
	}
	vqa_answer_list_free(list);
}

static void
expect_error_len(const char *data, size_t len, const char *message)
{
	char		err[256] = "";

	assert_null(vqa_answer_list_parse(data, len, err, sizeof(err)));
	assert_string_equal(err, message);
}

static void
expect_error(const char *data, const char *message)
{
	expect_error_len(data, strlen(data), message);
}

/* The message must start with prefix (for yajl's wording, or long ones). */
static void
expect_error_prefix(const char *data, size_t len, const char *prefix)
{
	char		err[256] = "";

	assert_null(vqa_answer_list_parse(data, len, err, sizeof(err)));
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", err, prefix);
}

static const char *const three[] = {"net", "pitcher", "orange"};

static void
test_json_list(void **state)
{
	VqaAnswerList *list;

	(void) state;
	expect_answers("[\"net\", \"pitcher\", \"orange\"]", three, 3);
	expect_answers(" \n\t[\"net\",\"pitcher\",\"orange\"]\n\n", three, 3);

	list = parse_ok("[\"yes\"]");
	assert_int_equal(vqa_answer_list_count(list), 1);
	assert_null(vqa_answer_list_get(list, 1));
	assert_null(vqa_answer_list_get(list, -1));
	vqa_answer_list_free(list);
}

static void
test_json_object(void **state)
{
	(void) state;
	expect_answers("{\"net\": 0, \"pitcher\": 1, \"orange\": 2}", three, 3);
	/* the indices, not the order of the keys, give the classes */
	expect_answers("{\"orange\": 2, \"net\": 0, \"pitcher\": 1}", three, 3);
	expect_answers("\r\n{\"pitcher\":1,\"net\":-0,\"orange\":2}", three, 3);
}

static void
test_lines(void **state)
{
	static const char *const spaced[] = {"two words", " leading", "trailing "};

	(void) state;
	expect_answers("net\npitcher\norange\n", three, 3);
	/* a final line without a newline counts */
	expect_answers("net\npitcher\norange", three, 3);
	expect_answers("net\r\npitcher\r\norange\r\n", three, 3);
	expect_answers("net\r\npitcher\norange\r", three, 3);
	/* trailing empty lines are ignored, with or without \r */
	expect_answers("net\npitcher\norange\n\n\n", three, 3);
	expect_answers("net\r\npitcher\r\norange\r\n\r\n\n\r", three, 3);
	/* spaces are part of an answer; only the JSON formats skip them */
	expect_answers("two words\n leading\ntrailing \n", spaced, 3);
	/* a '[' or '{' only picks JSON as the first byte */
	{
		static const char *const brackets[] = {"yes", "[unk]", "{x}"};

		expect_answers("yes\n[unk]\n{x}\n", brackets, 3);
	}
}

static void
test_bom(void **state)
{
	(void) state;
	expect_answers("\xef\xbb\xbfnet\npitcher\norange\n", three, 3);
	expect_answers("\xef\xbb\xbf[\"net\", \"pitcher\", \"orange\"]", three, 3);
	expect_answers("\xef\xbb\xbf  {\"net\": 0, \"pitcher\": 1, \"orange\": 2}", three, 3);
	expect_error("\xef\xbb\xbf", "no answers");
	/* only one mark is skipped: a second is part of the first answer */
	{
		static const char *const marked[] = {"\xef\xbb\xbfnet"};

		expect_answers("\xef\xbb\xbf\xef\xbb\xbfnet\n", marked, 1);
	}
}

static void
test_escapes_and_unicode(void **state)
{
	static const char *const decoded[] = {
		"caf\xc3\xa9", "\xf0\x9f\x98\x80", "say \"hi\"", "back\\slash", "two\nlines", "\xe2\x82\xac"
	};

	(void) state;
	expect_answers("[\"caf\\u00e9\", \"\\ud83d\\ude00\", \"say \\\"hi\\\"\", \"back\\\\slash\","
				   " \"two\\nlines\", \"\xe2\x82\xac\"]", decoded, 6);
	expect_answers("{\"caf\\u00e9\": 0, \"\\ud83d\\ude00\": 1, \"say \\\"hi\\\"\": 2,"
				   " \"back\\\\slash\": 3, \"two\\nlines\": 4, \"\\u20ac\": 5}", decoded, 6);
	{
		static const char *const plain[] = {"caf\xc3\xa9", "\xf0\x9f\x98\x80"};

		expect_answers("caf\xc3\xa9\n\xf0\x9f\x98\x80\n", plain, 2);
	}
}

static void
test_no_answers(void **state)
{
	(void) state;
	expect_error_len("", 0, "no answers");
	expect_error("\n\n\r\n", "no answers");
	expect_error("[]", "no answers");
	expect_error(" [ ] ", "no answers");
	expect_error("{}", "no answers");
}

static void
test_empty_answers(void **state)
{
	(void) state;
	expect_error("net\n\npitcher\n", "line 2 is empty");
	expect_error("net\n\r\n\npitcher\n", "line 2 is empty");
	expect_error("\nnet\n", "line 1 is empty");
	expect_error("[\"net\", \"\"]", "element 1 is the empty string");
	expect_error("{\"net\": 0, \"\": 1}", "key 1 is the empty string");
}

static void
test_duplicates(void **state)
{
	(void) state;
	expect_error("[\"net\", \"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"net\"]",
				 "answer \"net\" appears twice: at 0 and 7");
	expect_error("net\npitcher\nnet\n", "answer \"net\" appears twice: at 0 and 2 (lines 1 and 3)");
	expect_error("net\r\nnet", "answer \"net\" appears twice: at 0 and 1 (lines 1 and 2)");
	expect_error("{\"pitcher\": 2, \"net\": 1, \"x\": 0, \"net\": 3}",
				 "answer \"net\" appears twice: at 1 and 3");
	/* an escape and its character are the same answer */
	expect_error("[\"caf\\u00e9\", \"caf\xc3\xa9\"]", "answer \"caf\xc3\xa9\" appears twice: at 0 and 1");
	/* but case and spaces count */
	{
		static const char *const differ[] = {"Net", "net", "net "};

		expect_answers("[\"Net\", \"net\", \"net \"]", differ, 3);
	}
}

static void
test_not_strings(void **state)
{
	(void) state;
	expect_error("[\"net\", 1]", "element 1 is not a string");
	expect_error("[null]", "element 0 is not a string");
	expect_error("[\"a\", \"b\", true]", "element 2 is not a string");
	expect_error("[[\"net\"]]", "element 0 is not a string");
	expect_error("[\"net\", {\"a\": 1}]", "element 1 is not a string");
	/* deep nesting stops at its first level */
	expect_error("[\"a\", [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "element 1 is not a string");
}

static void
test_object_indices(void **state)
{
	(void) state;
	expect_error("{\"net\": 0, \"pitcher\": -1}", "answer \"pitcher\" has a negative index: -1");
	expect_error("{\"net\": 0, \"pitcher\": 2}",
				 "answer \"pitcher\" has index 2: the indices must be 0..1, one per answer, with no gaps");
	expect_error("{\"net\": 0, \"pitcher\": 1, \"orange\": 3, \"x\": 5}",
				 "answer \"x\" has index 5: the indices must be 0..3, one per answer, with no gaps");
	expect_error("{\"net\": 1}",
				 "answer \"net\" has index 1: the indices must be 0..0, one per answer, with no gaps");
	expect_error("{\"net\": 0, \"pitcher\": 1000000}",
				 "answer \"pitcher\" has index 1000000, but there can be at most 1000000 answers");
	expect_error("{\"net\": 99999999999999999999999999}",
				 "answer \"net\" has index 99999999999999999999999999, but there can be at most 1000000 answers");
	expect_error("{\"net\": -99999999999999999999999999}",
				 "answer \"net\" has a negative index: -99999999999999999999999999");
	expect_error("{\"net\": 0, \"pitcher\": 0}", "answers \"net\" and \"pitcher\" both have index 0");
	expect_error("{\"net\": 0, \"net\": 0}", "answers \"net\" and \"net\" both have index 0");
	expect_error("{\"net\": 1.5}", "answer \"net\" has index 1.5, not an integer");
	expect_error("{\"net\": 0.0}", "answer \"net\" has index 0.0, not an integer");
	expect_error("{\"net\": 1e0}", "answer \"net\" has index 1e0, not an integer");
	expect_error("{\"net\": 1E2}", "answer \"net\" has index 1E2, not an integer");
	expect_error("{\"net\": \"0\"}", "answer \"net\" has an index that is not a number");
	expect_error("{\"net\": null}", "answer \"net\" has an index that is not a number");
	expect_error("{\"net\": false}", "answer \"net\" has an index that is not a number");
	expect_error("{\"net\": [0]}", "answer \"net\" has an index that is not a number");
	expect_error("{\"net\": {}}", "answer \"net\" has an index that is not a number");
}

static void
test_bad_bytes(void **state)
{
	(void) state;
	expect_error_len("net\npit\0cher\n", 13, "NUL byte at byte 7 (line 2)");
	expect_error_len("[\"net\", \"a\0\"]", 13, "NUL byte at byte 10 (line 1)");
	expect_error("net\nor\xffnge\n", "invalid UTF-8 at byte 6 (line 2)");
	expect_error("net\n\xc3", "invalid UTF-8 at byte 4 (line 2)");
	/* what yajl would let through: overlong, a surrogate, above U+10FFFF */
	expect_error("[\"\xc0\x80\"]", "invalid UTF-8 at byte 2 (line 1)");
	expect_error("[\"\xed\xa0\x80\"]", "invalid UTF-8 at byte 2 (line 1)");
	expect_error("{\"\xf4\x90\x80\x80\": 0}", "invalid UTF-8 at byte 2 (line 1)");
	/* the BOM counts in offsets */
	expect_error("\xef\xbb\xbfn\xe9t", "invalid UTF-8 at byte 4 (line 1)");
	/* and escapes that would bring them back */
	expect_error("[\"a\\u0000b\"]", "\\u0000 escape at byte 3 (line 1): an answer cannot hold a NUL");
	expect_error("[\"a\",\n \"\\ud800\"]", "lone surrogate escape at byte 8 (line 2)");
	expect_error("[\"\\ud800\\u0041\"]", "lone surrogate escape at byte 2 (line 1)");
	expect_error("[\"\\ud800\\ud800\"]", "lone surrogate escape at byte 2 (line 1)");
	expect_error("[\"\\udc00\"]", "lone surrogate escape at byte 2 (line 1)");
	expect_error("{\"\\uDBFFx\": 0}", "lone surrogate escape at byte 2 (line 1)");
	/* an escaped backslash does not escape: "\\u0000" is text */
	{
		static const char *const text[] = {"\\u0000"};

		expect_answers("[\"\\\\u0000\"]", text, 1);
	}
}

/* One answer of n bytes, in each format: accepted if message is NULL. */
static void
expect_length(size_t n, const char *message_list, const char *message_object,
			  const char *message_lines)
{
	char	   *answer = malloc(n + 1);
	char	   *doc = malloc(n + 16);

	assert_non_null(answer);
	assert_non_null(doc);
	memset(answer, 'a', n);
	answer[n] = '\0';
	for (int format = 0; format < 3; format++)
	{
		const char *message = format == 0 ? message_list : format == 1 ? message_object : message_lines;
		char		err[256] = "";
		VqaAnswerList *list;

		sprintf(doc, format == 0 ? "[\"%s\"]" : format == 1 ? "{\"%s\": 0}" : "%s\n", answer);
		list = vqa_answer_list_parse(doc, strlen(doc), err, sizeof(err));
		if (message == NULL)
		{
			assert_non_null(list);
			assert_string_equal(vqa_answer_list_get(list, 0), answer);
			vqa_answer_list_free(list);
		}
		else
		{
			assert_null(list);
			assert_string_equal(err, message);
		}
	}
	free(answer);
	free(doc);
}

static void
test_long_answers(void **state)
{
	char	   *doc;
	char		err[256] = "";
	VqaAnswerList *list;

	(void) state;
	expect_length(1024, NULL, NULL, NULL);
	expect_length(1025, "element 0 is 1025 bytes long, over the limit of 1024 bytes for an answer",
				  "key 0 is 1025 bytes long, over the limit of 1024 bytes for an answer",
				  "line 1 is 1025 bytes long, over the limit of 1024 bytes for an answer");
	/* the limit is on the decoded bytes: 1024 escapes of 6 bytes are fine */
	doc = malloc(3 + 6 * 1024 + 3);
	assert_non_null(doc);
	strcpy(doc, "[\"");
	for (int i = 0; i < 1024; i++)
		strcat(doc, "\\u0061");
	strcat(doc, "\"]");
	list = vqa_answer_list_parse(doc, strlen(doc), err, sizeof(err));
	assert_non_null(list);
	assert_int_equal(strlen(vqa_answer_list_get(list, 0)), 1024);
	vqa_answer_list_free(list);
	free(doc);
}

/* Long answers are cut in messages, at a character boundary. */
static void
test_long_answers_in_messages(void **state)
{
	char		doc[300];
	char		err[512] = "";

	(void) state;
	/* 59 'a', then a 2-byte character across byte 60, then more */
	strcpy(doc, "[\"");
	for (int i = 0; i < 59; i++)
		strcat(doc, "a");
	strcat(doc, "\xc3\xa9xyz\", \"b\", \"");
	for (int i = 0; i < 59; i++)
		strcat(doc, "a");
	strcat(doc, "\xc3\xa9xyz\"]");
	assert_null(vqa_answer_list_parse(doc, strlen(doc), err, sizeof(err)));
	assert_string_equal(err, "answer \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""
						" appears twice: at 0 and 2");
}

static void
test_too_many(void **state)
{
	const int	max = VQA_ANSWER_LIST_MAX;
	size_t		cap = (size_t) (max + 1) * 9;
	char	   *doc = malloc(cap);
	size_t		len = 0;
	VqaAnswerList *list;
	char		err[256] = "";
	char		answer[16];

	(void) state;
	assert_non_null(doc);
	for (int i = 0; i < max; i++)
		len += (size_t) sprintf(doc + len, "%d\n", i);
	list = vqa_answer_list_parse(doc, len, err, sizeof(err));
	assert_non_null(list);
	assert_int_equal(vqa_answer_list_count(list), max);
	/* lookups of every answer, and of absent ones */
	for (int i = 0; i < max; i++)
	{
		sprintf(answer, "%d", i);
		if (vqa_answer_list_find(list, answer) != i)
			fail_msg("find(\"%s\") is %d", answer, vqa_answer_list_find(list, answer));
	}
	assert_int_equal(vqa_answer_list_find(list, "1000000"), -1);
	assert_int_equal(vqa_answer_list_find(list, "-1"), -1);
	vqa_answer_list_free(list);

	len += (size_t) sprintf(doc + len, "%d\n", max);
	expect_error_len(doc, len, "more than 1000000 answers");
	free(doc);
}

static void
test_find(void **state)
{
	VqaAnswerList *list = parse_ok("{\"net\": 1, \"pitcher\": 0}");

	(void) state;
	assert_int_equal(vqa_answer_list_find(list, "net"), 1);
	assert_int_equal(vqa_answer_list_find(list, "pitcher"), 0);
	assert_int_equal(vqa_answer_list_find(list, "ne"), -1);
	assert_int_equal(vqa_answer_list_find(list, "nets"), -1);
	assert_int_equal(vqa_answer_list_find(list, "Net"), -1);
	assert_int_equal(vqa_answer_list_find(list, ""), -1);
	assert_int_equal(vqa_answer_list_find(list, NULL), -1);
	vqa_answer_list_free(list);
	vqa_answer_list_free(NULL);
}

static void
test_bad_json(void **state)
{
	(void) state;
	expect_error("[\"net\" \"pitcher\"]",
				 "invalid JSON at byte 16: parse error: after array element, I expect ',' or ']'");
	expect_error("[\"net\"", "invalid JSON at byte 6: parse error: premature EOF");
	expect_error("{\"net\": 0", "invalid JSON at byte 9: parse error: premature EOF");
	expect_error("{\"net\" 0}",
				 "invalid JSON at byte 8: parse error: object key and value must be separated by a colon (':')");
	expect_error("[\"net\"] x", "invalid JSON at byte 9: parse error: trailing garbage");
	expect_error("[\"net\"][\"pitcher\"]", "invalid JSON at byte 8: parse error: trailing garbage");
	expect_error("{1: 0}", "invalid JSON at byte 2: parse error: invalid object key (must be a string)");
	/* no comments, no trailing commas, no bad escapes */
	expect_error_prefix("[\"net\" /* x */]", 15, "invalid JSON at byte ");
	expect_error_prefix("[\"net\",]", 8, "invalid JSON at byte ");
	expect_error_prefix("{\"net\": 0,}", 11, "invalid JSON at byte ");
	expect_error_prefix("[\"n\\x\"]", 7, "invalid JSON at byte ");
	expect_error_prefix("[\"n\\u12\"]", 9, "invalid JSON at byte ");
	expect_error_prefix("[\"net\nx\"]", 9, "invalid JSON at byte ");
	expect_error_prefix("{\"net\": 01}", 11, "invalid JSON at byte ");
}

static void
write_temp(const char *data, size_t len, char *path)
{
	FILE	   *f;
	int			fd;

	strcpy(path, "/tmp/answer_list_test_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
test_load(void **state)
{
	static const char doc[] = "\xef\xbb\xbfnet\r\npitcher\r\norange\r\n\r\n";
	char		path[64];
	char		err[512] = "";
	char		expected[600];
	VqaAnswerList *list;
	FILE	   *f;

	(void) state;
	write_temp(doc, sizeof(doc) - 1, path);
	list = vqa_answer_list_load(path, err, sizeof(err));
	if (list == NULL)
		fail_msg("%s", err);
	assert_int_equal(vqa_answer_list_count(list), 3);
	assert_string_equal(vqa_answer_list_get(list, 0), "net");
	assert_string_equal(vqa_answer_list_get(list, 2), "orange");
	assert_int_equal(vqa_answer_list_find(list, "pitcher"), 1);
	vqa_answer_list_free(list);

	/* a parse error is the parser's message */
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs("[\"a\", \"a\"]", f);
	assert_int_equal(fclose(f), 0);
	assert_null(vqa_answer_list_load(path, err, sizeof(err)));
	assert_string_equal(err, "answer \"a\" appears twice: at 0 and 1");

	/* an empty file */
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	assert_null(vqa_answer_list_load(path, err, sizeof(err)));
	assert_string_equal(err, "no answers");

	/* over 64 MiB is refused (sparse files, so cheap); exactly 64 MiB is read */
	assert_int_equal(truncate(path, VQA_ANSWER_LIST_MAX_FILE + 1), 0);
	assert_null(vqa_answer_list_load(path, err, sizeof(err)));
	snprintf(expected, sizeof(expected), "\"%s\" is 67108865 bytes, over the 64 MiB limit for an answer list", path);
	assert_string_equal(err, expected);
	assert_int_equal(truncate(path, VQA_ANSWER_LIST_MAX_FILE), 0);
	assert_null(vqa_answer_list_load(path, err, sizeof(err)));
	assert_string_equal(err, "NUL byte at byte 0 (line 1)");
	unlink(path);

	assert_null(vqa_answer_list_load(path, err, sizeof(err)));
	snprintf(expected, sizeof(expected), "could not open \"%s\": No such file or directory", path);
	assert_string_equal(err, expected);
	assert_null(vqa_answer_list_load("/tmp", err, sizeof(err)));
	assert_string_equal(err, "\"/tmp\" is not a regular file");
	/* a NULL errbuf is allowed */
	assert_null(vqa_answer_list_load(path, NULL, 0));
}

int
run_answer_list_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_list),
		cmocka_unit_test(test_json_object),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_escapes_and_unicode),
		cmocka_unit_test(test_no_answers),
		cmocka_unit_test(test_empty_answers),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_not_strings),
		cmocka_unit_test(test_object_indices),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_long_answers),
		cmocka_unit_test(test_long_answers_in_messages),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_load),
	};

	return UNIT_GROUP(answer_list, tests, n_tests);
}
