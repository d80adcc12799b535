/*
 * test_vqa_json.c: unit tests of the streaming VQA JSON readers.
 *
 * Most documents are read three ways: from memory in one 64 KB chunk, from
 * memory one byte at a time (so every token straddles a chunk boundary), and
 * from a temporary file with a 7-byte chunk, and must give the same records
 * and the same error each way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "vqaprune/vqa_json.h"
#include "../../src/core/vqa_json_internal.h"

typedef enum Mode
{
	MODE_BUFFER,
	MODE_BYTEWISE,
	MODE_FILE
} Mode;

#define N_MODES 3

typedef struct Opened
{
	VqaJsonReader *reader;
	char		path[64];		/* temp file to remove, or "" */
} Opened;

static void
write_temp(const char *data, size_t len, char *path)
{
	FILE	   *f;
	int			fd;

	strcpy(path, "/tmp/vqa_json_test_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static Opened
open_mode(const char *data, size_t len, VqaJsonKind kind, Mode mode)
{
	Opened		o;
	char		err[256] = "";

	o.path[0] = '\0';
	if (mode == MODE_FILE)
	{
		write_temp(data, len, o.path);
		o.reader = vqa_json_open(o.path, kind, err, sizeof(err));
		assert_non_null(o.reader);
		vqa_json_set_chunk_size(o.reader, 7);
	}
	else
	{
		o.reader = vqa_json_open_buffer(data, len, kind, err, sizeof(err));
		assert_non_null(o.reader);
		if (mode == MODE_BYTEWISE)
			vqa_json_set_chunk_size(o.reader, 1);
	}
	return o;
}

static void
close_opened(Opened *o)
{
	vqa_json_close(o->reader);
	if (o->path[0])
		unlink(o->path);
}

/* Reads a whole document that must hold n valid records; returns a digest. */
static void
expect_records(const char *json, VqaJsonKind kind, long n)
{
	int			mode;

	for (mode = 0; mode < N_MODES; mode++)
	{
		Opened		o = open_mode(json, strlen(json), kind, (Mode) mode);
		VqaJsonRecord rec;
		int			rc;

		while ((rc = vqa_json_next(o.reader, &rec)) == 1)
			;
		if (rc != 0)
			fail_msg("mode %d: %s", mode, vqa_json_error(o.reader));
		assert_int_equal(vqa_json_records(o.reader), n);
		assert_int_equal(vqa_json_bytes(o.reader), strlen(json));
		/* the end stays the end */
		assert_int_equal(vqa_json_next(o.reader, &rec), 0);
		close_opened(&o);
	}
}

/* A document whose first n_ok records are valid, then fails with message. */
static void
expect_error(const char *json, VqaJsonKind kind, long n_ok, const char *message)
{
	int			mode;

	for (mode = 0; mode < N_MODES; mode++)
	{
		Opened		o = open_mode(json, strlen(json), kind, (Mode) mode);
		VqaJsonRecord rec;
		int			rc;

		while ((rc = vqa_json_next(o.reader, &rec)) == 1)
			;
		assert_int_equal(rc, -1);
		assert_string_equal(vqa_json_error(o.reader), message);
		assert_int_equal(vqa_json_records(o.reader), n_ok);
		/* the error stays */
		assert_int_equal(vqa_json_next(o.reader, &rec), -1);
		close_opened(&o);
	}
}

static const char *plain_questions =
"  [\n"
"  {\"image_id\": 1, \"question\": \"What color is the bus?\", \"question_id\": 100,"
"   \"coco_split\": \"train2014\"},\n"
"  {\"question_id\": 201, \"question\": \"How many dogs?\", \"image_id\": 2}\n"
"]\n";

static void
test_plain_questions(void **state)
{
	int			mode;

	(void) state;
	for (mode = 0; mode < N_MODES; mode++)
	{
		Opened		o = open_mode(plain_questions, strlen(plain_questions),
								  VQA_JSON_QUESTIONS, (Mode) mode);
		VqaJsonRecord rec;

		assert_int_equal(vqa_json_next(o.reader, &rec), 1);
		assert_int_equal(rec.question_id, 100);
		assert_int_equal(rec.image_id, 1);
		assert_string_equal(rec.question, "What color is the bus?");
		assert_string_equal(rec.coco_split, "train2014");
		assert_null(rec.question_type);
		assert_null(rec.answer);
		assert_int_equal(rec.n_answers, 0);
		assert_int_equal(vqa_json_next(o.reader, &rec), 1);
		assert_int_equal(rec.question_id, 201);
		assert_int_equal(rec.image_id, 2);
		assert_string_equal(rec.question, "How many dogs?");
		assert_null(rec.coco_split);
		assert_int_equal(vqa_json_next(o.reader, &rec), 0);
		assert_int_equal(vqa_json_records(o.reader), 2);
		assert_int_equal(vqa_json_bytes(o.reader), strlen(plain_questions));
		close_opened(&o);
	}
}

/* VQA v2 wrapper; a "questions" key inside "info" must not be taken. */
static const char *wrapped_questions =
"{\"info\": {\"description\": \"x\", \"questions\": [1, 2, {\"a\": [[], {}]}],"
"  \"deep\": {\"a\": {\"b\": {\"c\": [null, true, false, 1.5e3, \"s\"]}}}},"
" \"task_type\": \"Open-Ended\", \"data_type\": \"mscoco\","
" \"license\": {\"url\": \"http://creativecommons.org\", \"name\": \"cc\"},"
" \"data_subtype\": \"val2014\","
" \"questions\": [{\"image_id\": 42, \"question\": \"Is there a cat?\","
"   \"question_id\": 42000, \"extra\": {\"nested\": [1, {\"question_id\": 7}]}},"
"   {\"image_id\": 43, \"question\": \"Why?\", \"question_id\": 43001, \"coco_split\": null}],"
" \"after\": [{\"questions\": []}]}";

static void
test_wrapped_questions(void **state)
{
	int			mode;

	(void) state;
	for (mode = 0; mode < N_MODES; mode++)
	{
		Opened		o = open_mode(wrapped_questions, strlen(wrapped_questions),
								  VQA_JSON_QUESTIONS, (Mode) mode);
		VqaJsonRecord rec;

		assert_int_equal(vqa_json_next(o.reader, &rec), 1);
		assert_int_equal(rec.question_id, 42000);
		assert_int_equal(rec.image_id, 42);
		assert_string_equal(rec.question, "Is there a cat?");
		assert_int_equal(vqa_json_next(o.reader, &rec), 1);
		assert_int_equal(rec.question_id, 43001);
		assert_string_equal(rec.question, "Why?");
		assert_null(rec.coco_split);
		assert_int_equal(vqa_json_next(o.reader, &rec), 0);
		close_opened(&o);
	}
}

static const char *wrapped_annotations =
"{\"info\": {\"year\": 2017}, \"license\": {\"name\": \"cc\"}, \"data_subtype\": \"val2014\","
" \"annotations\": [{\"question_type\": \"what color is the\","
"  \"multiple_choice_answer\": \"red\", \"answers\": ["
"   {\"answer\": \"red\", \"answer_confidence\": \"yes\", \"answer_id\": 1},"
"   {\"answer_id\": 2, \"answer_confidence\": \"maybe\", \"answer\": \"Red.\"},"
"   {\"answer\": \"dark red\", \"answer_confidence\": \"no\", \"answer_id\": 3}],"
"  \"image_id\": 9, \"answer_type\": \"other\", \"question_id\": 9001}],"
" \"data_type\": \"mscoco\"}";

static void
test_wrapped_annotations(void **state)
{
	int			mode;

	(void) state;
	for (mode = 0; mode < N_MODES; mode++)
	{
		Opened		o = open_mode(wrapped_annotations, strlen(wrapped_annotations),
								  VQA_JSON_ANNOTATIONS, (Mode) mode);
		VqaJsonRecord rec;

		assert_int_equal(vqa_json_next(o.reader, &rec), 1);
		assert_int_equal(rec.question_id, 9001);
		assert_int_equal(rec.image_id, 9);
		assert_string_equal(rec.question_type, "what color is the");
		assert_string_equal(rec.answer_type, "other");
		assert_string_equal(rec.multiple_choice_answer, "red");
		assert_int_equal(rec.n_answers, 3);
		assert_string_equal(rec.answers[0], "red");
		assert_string_equal(rec.answers[1], "Red.");
		assert_string_equal(rec.answers[2], "dark red");
		assert_null(rec.question);
		assert_int_equal(vqa_json_next(o.reader, &rec), 0);
		close_opened(&o);
	}
}

static void
test_plain_annotations_and_unknown_keys(void **state)
{
	const char *json =
		"[{\"question_id\": 5, \"image_id\": 6, \"question_type\": \"how many\","
		" \"answer_type\": \"number\", \"multiple_choice_answer\": \"2\","
		" \"question\": {\"not\": \"a field of annotations\"},"
		" \"answers\": [{\"answer\": \"2\"}, {\"answer\": \"two\", \"x\": [1, [2, [3]]]}],"
		" \"junk\": [{\"answers\": 5}]}]";
	VqaJsonReader *r;
	VqaJsonRecord rec;

	(void) state;
	expect_records(json, VQA_JSON_ANNOTATIONS, 1);
	r = vqa_json_open_buffer(json, strlen(json), VQA_JSON_ANNOTATIONS, NULL, 0);
	assert_int_equal(vqa_json_next(r, &rec), 1);
	assert_int_equal(rec.question_id, 5);
	assert_int_equal(rec.image_id, 6);
	assert_string_equal(rec.question_type, "how many");
	assert_string_equal(rec.answer_type, "number");
	assert_int_equal(rec.n_answers, 2);
	assert_string_equal(rec.answers[0], "2");
	assert_string_equal(rec.answers[1], "two");
	assert_int_equal(vqa_json_next(r, &rec), 0);
	vqa_json_close(r);
}

static void
test_results(void **state)
{
	const char *json =
		"[{\"question_id\": 101, \"answer\": \"red\"},"
		" {\"answer\": \"2\", \"question_id\": -3, \"score\": 0.5},"
		" {\"question_id\": 9223372036854775807, \"answer\": \"\"}]";
	VqaJsonReader *r;
	VqaJsonRecord rec;

	(void) state;
	expect_records(json, VQA_JSON_RESULTS, 3);
	r = vqa_json_open_buffer(json, strlen(json), VQA_JSON_RESULTS, NULL, 0);
	assert_int_equal(vqa_json_next(r, &rec), 1);
	assert_int_equal(rec.question_id, 101);
	assert_string_equal(rec.answer, "red");
	assert_null(rec.question);
	assert_int_equal(vqa_json_next(r, &rec), 1);
	assert_int_equal(rec.question_id, -3);
	assert_string_equal(rec.answer, "2");
	assert_int_equal(vqa_json_next(r, &rec), 1);
	assert_true(rec.question_id == INT64_MAX);
	assert_string_equal(rec.answer, "");
	assert_int_equal(vqa_json_next(r, &rec), 0);
	assert_int_equal(vqa_json_records(r), 3);
	vqa_json_close(r);
}

static void
test_empty_list(void **state)
{
	(void) state;
	expect_records("[]", VQA_JSON_QUESTIONS, 0);
	expect_records(" { \"questions\" : [ ] } ", VQA_JSON_QUESTIONS, 0);
	expect_records("[]", VQA_JSON_RESULTS, 0);
}

static void
test_missing_fields(void **state)
{
	(void) state;
	expect_error("[{\"question_id\": 1, \"image_id\": 1, \"question\": \"a\"},"
				 " {\"question_id\": 42, \"question\": \"b\"}]",
				 VQA_JSON_QUESTIONS, 1,
				 "record 1 (question_id 42): field \"image_id\" is missing");
	expect_error("[{\"image_id\": 1, \"question\": \"a\"}]", VQA_JSON_QUESTIONS, 0,
				 "record 0: field \"question_id\" is missing");
	expect_error("[{\"image_id\": 1, \"question_id\": 7}]", VQA_JSON_QUESTIONS, 0,
				 "record 0 (question_id 7): field \"question\" is missing");
	expect_error("[{\"question_id\": 7, \"image_id\": 1, \"question_type\": \"x\","
				 " \"answer_type\": \"other\", \"answers\": [{\"answer\": \"a\"}]}]",
				 VQA_JSON_ANNOTATIONS, 0,
				 "record 0 (question_id 7): field \"multiple_choice_answer\" is missing");
	expect_error("[{\"question_id\": 7, \"image_id\": 1, \"question_type\": \"x\","
				 " \"answer_type\": \"other\", \"multiple_choice_answer\": \"a\"}]",
				 VQA_JSON_ANNOTATIONS, 0,
				 "record 0 (question_id 7): field \"answers\" is missing");
	expect_error("[{\"question_id\": 7, \"image_id\": 1,"
				 " \"answer_type\": \"other\", \"multiple_choice_answer\": \"a\"}]",
				 VQA_JSON_ANNOTATIONS, 0,
				 "record 0 (question_id 7): field \"question_type\" is missing");
	expect_error("[{\"question_id\": 7, \"answers\": \"a\"}]",
				 VQA_JSON_RESULTS, 0,
				 "record 0 (question_id 7): field \"answer\" is missing");
}

static void
test_bad_types(void **state)
{
	(void) state;
	expect_error("[{\"question_id\": 1.0, \"image_id\": 1, \"question\": \"a\"}]",
				 VQA_JSON_QUESTIONS, 0,
				 "record 0: field \"question_id\" must be an integer");
	expect_error("[{\"question_id\": \"12\", \"image_id\": 1, \"question\": \"a\"}]",
				 VQA_JSON_QUESTIONS, 0,
				 "record 0: field \"question_id\" must be an integer");
	expect_error("[{\"question_id\": 12, \"image_id\": 1e3, \"question\": \"a\"}]",
				 VQA_JSON_QUESTIONS, 0,
				 "record 0 (question_id 12): field \"image_id\" must be an integer");
	expect_error("[{\"question_id\": 12, \"image_id\": null, \"question\": \"a\"}]",
				 VQA_JSON_QUESTIONS, 0,
				 "record 0 (question_id 12): field \"image_id\" must be an integer");
	expect_error("[{\"question_id\": 9223372036854775808, \"image_id\": 1, \"question\": \"a\"}]",
				 VQA_JSON_QUESTIONS, 0,
				 "record 0: field \"question_id\" is out of the int64 range");
	expect_error("[{\"question_id\": 3, \"image_id\": 1, \"question\": 5}]",
				 VQA_JSON_QUESTIONS, 0,
				 "record 0 (question_id 3): field \"question\" must be a string");
	expect_error("[{\"question_id\": 3, \"image_id\": 1, \"question\": \"q\", \"coco_split\": []}]",
				 VQA_JSON_QUESTIONS, 0,
				 "record 0 (question_id 3): field \"coco_split\" must be a string");
	expect_error("[{\"question_id\": 3, \"answer\": null}]", VQA_JSON_RESULTS, 0,
				 "record 0 (question_id 3): field \"answer\" must be a string");
	expect_error("[{\"question_id\": 3, \"answer\": \"a\\u0000b\"}]", VQA_JSON_RESULTS, 0,
				 "record 0 (question_id 3): field \"answer\" contains a NUL character");
}

static void
test_not_an_object(void **state)
{
	(void) state;
	expect_error("[{\"question_id\": 1, \"answer\": \"x\"}, {\"question_id\": 2, \"answer\": \"y\"},"
				 " {\"question_id\": 3, \"answer\": \"z\"}, 17]",
				 VQA_JSON_RESULTS, 3, "record 3: expected an object");
	expect_error("[[]]", VQA_JSON_QUESTIONS, 0, "record 0: expected an object");
	expect_error("{\"questions\": [\"q\"]}", VQA_JSON_QUESTIONS, 0,
				 "record 0: expected an object");
}

static void
test_answers_errors(void **state)
{
	const char *msg = "record 0 (question_id 8): field \"answers\" must be a list of 1 to 16 objects"
		" with an \"answer\" string";
	const char *prefix = "[{\"question_id\": 8, \"image_id\": 1, \"question_type\": \"x\","
		" \"answer_type\": \"other\", \"multiple_choice_answer\": \"a\", \"answers\": ";
	const char *bad[] = {
		"[]",
		"{\"answer\": \"a\"}",
		"\"a\"",
		"[\"a\"]",
		"[{\"answer\": \"a\"}, {\"answer_id\": 2}]",
		"[{\"answer\": 3}]",
		"[{\"answer\": null}]",
	};
	char		json[2048];
	size_t		i;
	int			k;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		snprintf(json, sizeof(json), "%s%s}]", prefix, bad[i]);
		expect_error(json, VQA_JSON_ANNOTATIONS, 0, msg);
	}

	/* 16 answers are fine, 17 are not */
	snprintf(json, sizeof(json), "%s[", prefix);
	for (k = 0; k < 16; k++)
		snprintf(json + strlen(json), sizeof(json) - strlen(json), "%s{\"answer\": \"a%d\"}",
				 k ? ", " : "", k);
	strcat(json, "]}]");
	expect_records(json, VQA_JSON_ANNOTATIONS, 1);
	{
		VqaJsonReader *r = vqa_json_open_buffer(json, strlen(json), VQA_JSON_ANNOTATIONS, NULL, 0);
		VqaJsonRecord rec;

		assert_int_equal(vqa_json_next(r, &rec), 1);
		assert_int_equal(rec.n_answers, 16);
		assert_string_equal(rec.answers[0], "a0");
		assert_string_equal(rec.answers[15], "a15");
		vqa_json_close(r);
	}
	json[strlen(json) - 3] = '\0';
	strcat(json, ", {\"answer\": \"a16\"}]}]");
	expect_error(json, VQA_JSON_ANNOTATIONS, 0, msg);
}

static void
test_no_list(void **state)
{
	(void) state;
	expect_error("{\"info\": {\"questions\": []}, \"license\": {}}", VQA_JSON_QUESTIONS, 0,
				 "the file holds no \"questions\" list");
	expect_error("{\"questions\": [], \"annotationz\": []}", VQA_JSON_ANNOTATIONS, 0,
				 "the file holds no \"annotations\" list");
	expect_error("42", VQA_JSON_QUESTIONS, 0, "the file holds no \"questions\" list");
	expect_error("\"questions\"", VQA_JSON_QUESTIONS, 0, "the file holds no \"questions\" list");
	expect_error("{\"questions\": {\"a\": 1}}", VQA_JSON_QUESTIONS, 0,
				 "field \"questions\" must be a list");
	expect_error("{\"questions\": [], \"questions\": []}", VQA_JSON_QUESTIONS, 0,
				 "the file holds two \"questions\" lists");
	expect_error("{\"results\": []}", VQA_JSON_RESULTS, 0, "the file holds no list of results");
	expect_error("", VQA_JSON_QUESTIONS, 0, "the file is empty");
	expect_error(" \n\t ", VQA_JSON_QUESTIONS, 0, "the file is empty");
}

static void
test_syntax_errors(void **state)
{
	(void) state;
	/* records before the error still come out */
	expect_error("[{\"question_id\": 1, \"answer\": \"x\"},\n"
				 " {\"question_id\": 2, \"answer\": \"y\"},\n"
				 " {\"question_id\": 3, \"answer\" \"z\"}]",
				 VQA_JSON_RESULTS, 2,
				 "invalid JSON at byte 104: parse error: object key and value must be separated by a colon (':')");
	expect_error("[{\"question_id\": 1, \"answer\": \"x\"}", VQA_JSON_RESULTS, 1,
				 "invalid JSON at byte 35: parse error: premature EOF");
	expect_error("[{\"question_id\": 1, \"answer\": \"x\"}] []", VQA_JSON_RESULTS, 1,
				 "invalid JSON at byte 37: parse error: trailing garbage");
	expect_error("[{\"question_id\": 1, \"answer\": 'x'}]", VQA_JSON_RESULTS, 0,
				 "invalid JSON at byte 31: lexical error: invalid char in json text.");
	/* yajl checks UTF-8 */
	expect_error("[{\"question_id\": 1, \"answer\": \"\xc3\x28\"}]", VQA_JSON_RESULTS, 0,
				 "invalid JSON at byte 33: lexical error: invalid bytes in UTF8 string.");
	expect_error("[{\"question_id\": 1, \"answer\": \"x\"} // c\n]", VQA_JSON_RESULTS, 1,
				 "invalid JSON at byte 35: lexical error: probable comment found in input text, comments are not enabled.");
}

static void
test_utf8_and_escapes(void **state)
{
	const char *json =
		"[{\"question_id\": 1, \"answer\": \"caf\\u00e9 \\\"x\\\" \\\\ \\/ \\n\\t\"},"
		" {\"question_id\": 2, \"answer\": \"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \\ud83d\\ude00\"}]";
	int			mode;

	(void) state;
	for (mode = 0; mode < N_MODES; mode++)
	{
		Opened		o = open_mode(json, strlen(json), VQA_JSON_RESULTS, (Mode) mode);
		VqaJsonRecord rec;

		assert_int_equal(vqa_json_next(o.reader, &rec), 1);
		assert_string_equal(rec.answer, "caf\xc3\xa9 \"x\" \\ / \n\t");
		assert_int_equal(vqa_json_next(o.reader, &rec), 1);
		assert_string_equal(rec.answer, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
		assert_int_equal(vqa_json_next(o.reader, &rec), 0);
		close_opened(&o);
	}
}

/* Every chunk size from 1 to 40 gives the same records. */
static void
test_chunk_sizes(void **state)
{
	size_t		chunk;
	size_t		len = strlen(wrapped_annotations);

	(void) state;
	for (chunk = 1; chunk <= 40; chunk++)
	{
		VqaJsonReader *r = vqa_json_open_buffer(wrapped_annotations, len,
												VQA_JSON_ANNOTATIONS, NULL, 0);
		VqaJsonRecord rec;

		vqa_json_set_chunk_size(r, chunk);
		assert_int_equal(vqa_json_next(r, &rec), 1);
		assert_int_equal(rec.question_id, 9001);
		assert_string_equal(rec.multiple_choice_answer, "red");
		assert_string_equal(rec.answers[1], "Red.");
		assert_string_equal(rec.answers[2], "dark red");
		assert_int_equal(vqa_json_next(r, &rec), 0);
		assert_int_equal(vqa_json_bytes(r), len);
		vqa_json_close(r);
	}
}

/* Builds a plain list of n questions with long-ish text, in memory. */
static char *
make_big_questions(long n, size_t *len)
{
	size_t		cap = (size_t) n * 160 + 16;
	char	   *buf = malloc(cap);
	size_t		pos = 0;
	long		i;

	assert_non_null(buf);
	buf[pos++] = '[';
	for (i = 0; i < n; i++)
		pos += (size_t) snprintf(buf + pos, cap - pos,
								 "%s{\"image_id\": %ld, \"question\": \"What is the number %ld"
								 " written on the sign?\", \"question_id\": %ld,"
								 " \"coco_split\": \"%s\"}",
								 i ? ",\n" : "", i / 3, i, i * 10 + 7,
								 i % 2 ? "val2014" : "train2014");
	buf[pos++] = ']';
	buf[pos] = '\0';
	*len = pos;
	return buf;
}

static void
check_big(VqaJsonReader *r, long n, size_t len)
{
	VqaJsonRecord rec;
	char		expect[128];
	long		i = 0;
	int			rc;

	while ((rc = vqa_json_next(r, &rec)) == 1)
	{
		if (rec.question_id != i * 10 + 7 || rec.image_id != i / 3)
			fail_msg("record %ld: ids %lld %lld", i, (long long) rec.question_id,
					 (long long) rec.image_id);
		if (i == 0 || i == 65537 || i == n - 1)
		{
			snprintf(expect, sizeof(expect), "What is the number %ld written on the sign?", i);
			assert_string_equal(rec.question, expect);
			assert_string_equal(rec.coco_split, i % 2 ? "val2014" : "train2014");
		}
		i++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(i, n);
	assert_int_equal(vqa_json_records(r), n);
	assert_int_equal(vqa_json_bytes(r), len);
}

static void
test_big_file(void **state)
{
	const long	n = 200000;
	size_t		len;
	char	   *json = make_big_questions(n, &len);
	char		path[64];
	char		err[256];
	VqaJsonReader *r;

	(void) state;
	assert_true(len > 100 * VQA_JSON_CHUNK_SIZE);

	r = vqa_json_open_buffer(json, len, VQA_JSON_QUESTIONS, err, sizeof(err));
	check_big(r, n, len);
	vqa_json_close(r);

	write_temp(json, len, path);
	r = vqa_json_open(path, VQA_JSON_QUESTIONS, err, sizeof(err));
	assert_non_null(r);
	check_big(r, n, len);
	vqa_json_close(r);
	unlink(path);
	free(json);
}

static void
test_open_errors(void **state)
{
	char		err[256] = "";

	(void) state;
	assert_null(vqa_json_open("/nonexistent/dir/q.json", VQA_JSON_QUESTIONS, err, sizeof(err)));
	assert_string_equal(err, "could not open \"/nonexistent/dir/q.json\": No such file or directory");
	assert_null(vqa_json_open("/nonexistent/dir/q.json", VQA_JSON_QUESTIONS, NULL, 0));
	vqa_json_close(NULL);
}

/* The project's own test data (test/data), as the SQL tests use it. */
static VqaJsonReader *
open_data(const char *name, VqaJsonKind kind)
{
	char		path[1024];
	char		err[256] = "";
	VqaJsonReader *r;

	snprintf(path, sizeof(path), "%s/%s", unit_data_dir(), name);
	r = vqa_json_open(path, kind, err, sizeof(err));
	if (r == NULL)
		fail_msg("%s", err);
	return r;
}

static long
count_data(const char *name, VqaJsonKind kind, int expect_rc, const char *message)
{
	VqaJsonReader *r = open_data(name, kind);
	VqaJsonRecord rec;
	long		n;
	int			rc;

	while ((rc = vqa_json_next(r, &rec)) == 1)
		;
	assert_int_equal(rc, expect_rc);
	if (message)
		assert_string_equal(vqa_json_error(r), message);
	n = vqa_json_records(r);
	vqa_json_close(r);
	return n;
}

static void
test_data_files(void **state)
{
	VqaJsonReader *r;
	VqaJsonRecord rec;

	(void) state;
	assert_int_equal(count_data("vqacp_train_questions.json", VQA_JSON_QUESTIONS, 0, NULL), 24);
	assert_int_equal(count_data("vqacp_train_annotations.json", VQA_JSON_ANNOTATIONS, 0, NULL), 24);
	assert_int_equal(count_data("vqacp_test_questions.json", VQA_JSON_QUESTIONS, 0, NULL), 12);
	assert_int_equal(count_data("vqacp_test_annotations.json", VQA_JSON_ANNOTATIONS, 0, NULL), 12);
	assert_int_equal(count_data("vqa2_val_questions.json", VQA_JSON_QUESTIONS, 0, NULL), 6);
	assert_int_equal(count_data("vqa2_val_annotations.json", VQA_JSON_ANNOTATIONS, 0, NULL), 6);
	assert_int_equal(count_data("results_test.json", VQA_JSON_RESULTS, 0, NULL), 12);
	assert_int_equal(count_data("missing_annotation_annotations.json", VQA_JSON_ANNOTATIONS, 0, NULL), 23);
	assert_int_equal(count_data("duplicate_questions.json", VQA_JSON_QUESTIONS, 0, NULL), 25);
	assert_int_equal(count_data("missing_field_questions.json", VQA_JSON_QUESTIONS, -1,
								"record 2 (question_id 103): field \"image_id\" is missing"), 2);
	assert_int_equal(count_data("bad_json_questions.json", VQA_JSON_QUESTIONS, -1,
								"invalid JSON at byte 388: parse error: object key and value must be"
								" separated by a colon (':')"), 3);

	r = open_data("vqacp_train_questions.json", VQA_JSON_QUESTIONS);
	assert_int_equal(vqa_json_next(r, &rec), 1);
	assert_int_equal(rec.question_id, 101);
	assert_int_equal(rec.image_id, 1);
	assert_string_equal(rec.question, "What color is the car?");
	assert_string_equal(rec.coco_split, "train2014");
	assert_int_equal(vqa_json_next(r, &rec), 1);
	assert_string_equal(rec.coco_split, "val2014");
	vqa_json_close(r);

	r = open_data("vqa2_val_questions.json", VQA_JSON_QUESTIONS);
	assert_int_equal(vqa_json_next(r, &rec), 1);
	assert_int_equal(rec.question_id, 1007);
	assert_string_equal(rec.question, "What color is the caf\xc3\xa9 sign?");
	vqa_json_close(r);

	r = open_data("vqa2_val_annotations.json", VQA_JSON_ANNOTATIONS);
	assert_int_equal(vqa_json_next(r, &rec), 1);
	assert_int_equal(rec.n_answers, 10);
	vqa_json_close(r);
}

int
run_vqa_json_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_questions),
		cmocka_unit_test(test_wrapped_questions),
		cmocka_unit_test(test_wrapped_annotations),
		cmocka_unit_test(test_plain_annotations_and_unknown_keys),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_empty_list),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_bad_types),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_answers_errors),
		cmocka_unit_test(test_no_list),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_utf8_and_escapes),
		cmocka_unit_test(test_chunk_sizes),
		cmocka_unit_test(test_big_file),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_data_files),
	};

	return UNIT_GROUP(vqa_json, tests, n_tests);
}
