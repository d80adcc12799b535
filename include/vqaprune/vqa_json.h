/*
 * vqa_json.h: streaming readers for the VQA JSON files.
 *
 * Reads question files, annotation files and result files one record at a
 * time, in both layouts found in the wild: VQA-CP v2 (a plain JSON list of
 * records) and VQA v2 (an object wrapping the list under "questions" or
 * "annotations"; every other key is skipped). The layout is detected from the
 * file itself. Only the current record is held in memory, so a 400 MB
 * annotation file never becomes a parse tree.
 */
#ifndef VQAPRUNE_VQA_JSON_H
#define VQAPRUNE_VQA_JSON_H

#include <stddef.h>
#include <stdint.h>

#define VQA_MAX_ANSWERS 16

typedef enum VqaJsonKind
{
	VQA_JSON_QUESTIONS,			/* {"question_id", "image_id", "question", "coco_split"?} */
	VQA_JSON_ANNOTATIONS,		/* {"question_id", "image_id", "question_type",
								 * "answer_type", "multiple_choice_answer",
								 * "answers": [{"answer": ...}, ...]} */
	VQA_JSON_RESULTS			/* {"question_id", "answer"} */
} VqaJsonKind;

/*
 * One record. Only the fields of the reader's kind are set; strings are
 * NUL-terminated UTF-8 owned by the reader and valid until the next call.
 * Optional strings that are absent are NULL.
 */
typedef struct VqaJsonRecord
{
	int64_t		question_id;
	int64_t		image_id;
	const char *question;
	const char *coco_split;
	const char *question_type;
	const char *answer_type;
	const char *multiple_choice_answer;
	int			n_answers;
	const char *answers[VQA_MAX_ANSWERS];
	const char *answer;			/* results files */
} VqaJsonRecord;

typedef struct VqaJsonReader VqaJsonReader;

/* Opens path for reading; NULL on failure with a message in errbuf. */
VqaJsonReader *vqa_json_open(const char *path, VqaJsonKind kind,
							 char *errbuf, size_t errlen);

/* Same, over a buffer in memory (not copied; must outlive the reader). */
VqaJsonReader *vqa_json_open_buffer(const char *data, size_t len, VqaJsonKind kind,
									char *errbuf, size_t errlen);

/* 1: *out holds the next record; 0: end of file; -1: error, see vqa_json_error. */
int			vqa_json_next(VqaJsonReader *reader, VqaJsonRecord *out);

/*
 * The last error, naming the record (0-based index in the list, and its
 * question_id when known) and what is wrong, e.g.
 * "record 17 (question_id 42): field \"image_id\" is missing".
 */
const char *vqa_json_error(const VqaJsonReader *reader);

/* Number of records returned so far. */
long		vqa_json_records(const VqaJsonReader *reader);

/* Bytes consumed so far (for progress reports). */
size_t		vqa_json_bytes(const VqaJsonReader *reader);

void		vqa_json_close(VqaJsonReader *reader);

#endif
