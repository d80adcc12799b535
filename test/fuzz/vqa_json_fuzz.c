/*
 * vqa_json_fuzz.c: libFuzzer harness for the VQA JSON readers.
 *
 * The first byte picks the kind of file (questions, annotations, results);
 * the rest is the file. Records are read to the end or to the first error.
 * A refused file must say why; every record returned must keep the reader's
 * promises: the strings of its kind are NUL-terminated (AddressSanitizer
 * checks the reads), the answer count is within bounds, and the records
 * counted are the records returned.
 *
 * Built and run by test/fuzz/run-fuzz.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/vqa_json.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok, const char *what)
{
	if (!ok)
	{
		fprintf(stderr, "vqa_json_fuzz: %s\n", what);
		abort();
	}
}

/* Reads every byte of a string the reader handed out. */
static size_t
touch(const char *s)
{
	return s ? strlen(s) : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const VqaJsonKind kinds[] = {VQA_JSON_QUESTIONS, VQA_JSON_ANNOTATIONS, VQA_JSON_RESULTS};
	char		errbuf[512] = "";
	VqaJsonKind kind;
	VqaJsonReader *reader;
	VqaJsonRecord rec;
	long		returned = 0;
	size_t		total = 0;
	int			rc;

	if (size < 1)
		return 0;
	kind = kinds[data[0] % 3];
	reader = vqa_json_open_buffer((const char *) data + 1, size - 1, kind, errbuf, sizeof(errbuf));
	if (reader == NULL)
	{
		check(errbuf[0] != '\0', "refused without a message");
		return 0;
	}
	while ((rc = vqa_json_next(reader, &rec)) == 1)
	{
		returned++;
		check(vqa_json_records(reader) == returned, "record count is off");
		check(vqa_json_bytes(reader) <= size - 1, "consumed more bytes than there are");
		switch (kind)
		{
			case VQA_JSON_QUESTIONS:
				check(rec.question != NULL, "a question without its text");
				total += touch(rec.question) + touch(rec.coco_split);
				break;
			case VQA_JSON_ANNOTATIONS:
				check(rec.n_answers >= 0 && rec.n_answers <= VQA_MAX_ANSWERS,
					  "answer count out of bounds");
				total += touch(rec.question_type) + touch(rec.answer_type) +
					touch(rec.multiple_choice_answer);
				for (int i = 0; i < rec.n_answers; i++)
				{
					check(rec.answers[i] != NULL, "a NULL answer");
					total += touch(rec.answers[i]);
				}
				break;
			case VQA_JSON_RESULTS:
				check(rec.answer != NULL, "a result without its answer");
				total += touch(rec.answer);
				break;
		}
	}
	if (rc < 0)
		check(vqa_json_error(reader) != NULL && vqa_json_error(reader)[0] != '\0',
			  "an error without a message");
	vqa_json_close(reader);
	return total == (size_t) -1;	/* keeps the reads */
}
