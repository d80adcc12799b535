/*
 * vqaprune.h: helpers shared by the SQL-callable functions (the glue).
 */
#ifndef VQAPRUNE_PG_H
#define VQAPRUNE_PG_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

#include "vqaprune/vqa_json.h"

/* Rows are inserted through prepared statements, one execution per row. */
typedef struct RowInserter
{
	SPIPlanPtr	plan;
	int			nargs;
	MemoryContext row_context;	/* reset after every row */
} RowInserter;

extern void RequireReadServerFiles(void);
extern void RequireFileExists(const char *path);
extern VqaJsonReader *OpenJsonFile(const char *path, VqaJsonKind kind);
extern char *RequireTextArg(FunctionCallInfo fcinfo, int argno, const char *name);

extern const char *ExtensionSchema(FunctionCallInfo fcinfo);
extern int64 LookupDatasetId(const char *name);
extern int64 CreateDataset(const char *name, const char *source,
						   int min_answer_count, const char *options_json);
extern void RebuildAnswers(int64 dataset_id);	/* answers.c */

extern void RowInserterInit(RowInserter *ins, const char *sql, int nargs, Oid *argtypes);
extern uint64 RowInserterExec(RowInserter *ins, Datum *values, const bool *nulls);

/* Rows of one image and of one question; used by the loaders and vqa_synthetic. */
extern void ImageInserterInit(RowInserter *ins);
extern bool InsertImage(RowInserter *ins, int64 dataset_id, int64 image_id,
						int image_w, int image_h, int num_boxes, int feature_dim,
						const float *boxes, const float *features);

typedef struct QuestionRow
{
	int64		question_id;
	int64		image_id;
	const char *split;
	const char *coco_split;		/* may be NULL */
	const char *question;
	const char *question_type;
	const char *answer_type;
	const char *multiple_choice_answer;
	int			n_answers;
	const char *const *answers;
} QuestionRow;

extern void QuestionInserterInit(RowInserter *ins);
extern bool InsertQuestion(RowInserter *ins, int64 dataset_id, const QuestionRow *row);

#endif
