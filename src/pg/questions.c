/*
 * questions.c: vqa_load_questions, and the question rows every dataset
 * source writes.
 *
 * A split is loaded from a question file and its annotation file, in the
 * VQA-CP v2 or the VQA v2 layout (the core reader tells them apart). The
 * questions are read first into a hash table (ids, image ids and texts only,
 * never a parse tree), then the annotations stream past it, and each
 * question is written as soon as its annotation arrives. Any problem -- bad
 * JSON, a question without annotation or the other way round, a duplicate
 * id -- raises an error naming the file and the record, and the transaction
 * takes every row of the call back with it. The VQA-VS loader (vqavs.c)
 * reads its files through the same pairing of questions and annotations.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "ownership.h"
#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/vqa_json.h"

PG_FUNCTION_INFO_V1(vqa_load_questions);

typedef struct PendingQuestion
{
	int64		question_id;	/* hash key */
	int64		image_id;
	char	   *question;
	char	   *coco_split;
	long		record;
	bool		annotated;
} PendingQuestion;

/* UTF-8 from a file, as text in the server encoding. */
Datum
Utf8GetTextDatum(const char *s)
{
	return PointerGetDatum(cstring_to_text(pg_any_to_server(s, strlen(s), PG_UTF8)));
}

void
QuestionInserterInit(RowInserter *ins)
{
	Oid			argtypes[10] = {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};

	RowInserterInit(ins,
					"INSERT INTO vqaprune.questions (dataset_id, question_id, split, image_id, "
					"coco_split, question, question_type, answer_type, multiple_choice_answer, "
					"answers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
					"ON CONFLICT DO NOTHING",
					10, argtypes);
}

/* Inserts one question; false if its id is already in the dataset. */
bool
InsertQuestion(RowInserter *ins, int64 dataset_id, const QuestionRow *row)
{
	MemoryContext old = MemoryContextSwitchTo(ins->row_context);
	Datum		values[10];
	bool		nulls[10] = {false};
	Datum	   *answers = palloc(sizeof(Datum) * row->n_answers);

	for (int i = 0; i < row->n_answers; i++)
		answers[i] = Utf8GetTextDatum(row->answers[i]);
	values[0] = Int64GetDatum(dataset_id);
	values[1] = Int64GetDatum(row->question_id);
	values[2] = CStringGetTextDatum(row->split);
	values[3] = Int64GetDatum(row->image_id);
	nulls[4] = row->coco_split == NULL;
	values[4] = nulls[4] ? (Datum) 0 : Utf8GetTextDatum(row->coco_split);
	values[5] = Utf8GetTextDatum(row->question);
	values[6] = Utf8GetTextDatum(row->question_type);
	values[7] = Utf8GetTextDatum(row->answer_type);
	values[8] = Utf8GetTextDatum(row->multiple_choice_answer);
	values[9] = PointerGetDatum(construct_array(answers, row->n_answers, TEXTOID,
												-1, false, TYPALIGN_INT));
	MemoryContextSwitchTo(old);
	return RowInserterExec(ins, values, nulls) == 1;
}

static void
ReportJsonError(const char *what, const char *path, VqaJsonReader *reader)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid VQA %s file \"%s\": %s", what, path, vqa_json_error(reader))));
}

/* Reads the question file into a hash table keyed by question_id. */
static HTAB *
ReadQuestions(const char *path, MemoryContext context)
{
	HASHCTL		ctl = {0};
	HTAB	   *questions;
	VqaJsonReader *volatile reader;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(PendingQuestion);
	ctl.hcxt = context;
	questions = hash_create("vqaprune questions", 1024, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	reader = OpenJsonFile(path, VQA_JSON_QUESTIONS);
	PG_TRY();
	{
		VqaJsonRecord rec;
		int			rc;

		while ((rc = vqa_json_next(reader, &rec)) == 1)
		{
			PendingQuestion *q;
			bool		found;

			CHECK_FOR_INTERRUPTS();
			q = hash_search(questions, &rec.question_id, HASH_ENTER, &found);
			if (found)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("invalid VQA questions file \"%s\": record %ld (question_id " INT64_FORMAT "): "
								"question_id " INT64_FORMAT " appears twice",
								path, vqa_json_records(reader) - 1, rec.question_id,
								rec.question_id)));
			q->image_id = rec.image_id;
			q->question = MemoryContextStrdup(context, rec.question);
			q->coco_split = rec.coco_split ? MemoryContextStrdup(context, rec.coco_split) : NULL;
			q->record = vqa_json_records(reader) - 1;
			q->annotated = false;
		}
		if (rc < 0)
			ReportJsonError("questions", path, reader);
	}
	PG_FINALLY();
	{
		vqa_json_close(reader);
	}
	PG_END_TRY();
	return questions;
}

/*
 * Streams the annotations, handing each question to fn as its annotation
 * comes; returns how many.
 */
static int64
StreamAnnotations(const char *path, const char *questions_path, HTAB *questions,
				  const char *split, AnnotatedQuestionFn fn, void *arg)
{
	VqaJsonReader *volatile reader;
	volatile int64 annotated = 0;

	reader = OpenJsonFile(path, VQA_JSON_ANNOTATIONS);
	PG_TRY();
	{
		VqaJsonRecord rec;
		int			rc;

		while ((rc = vqa_json_next(reader, &rec)) == 1)
		{
			long		record = vqa_json_records(reader) - 1;
			PendingQuestion *q = hash_search(questions, &rec.question_id, HASH_FIND, NULL);
			QuestionRow row;

			CHECK_FOR_INTERRUPTS();
			if (q == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("invalid VQA annotations file \"%s\": record %ld (question_id " INT64_FORMAT "): "
								"no such question in \"%s\"", path, record, rec.question_id,
								questions_path)));
			if (q->annotated)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("invalid VQA annotations file \"%s\": record %ld (question_id " INT64_FORMAT "): "
								"question_id " INT64_FORMAT " is annotated twice",
								path, record, rec.question_id, rec.question_id)));
			if (q->image_id != rec.image_id)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("invalid VQA annotations file \"%s\": record %ld (question_id " INT64_FORMAT "): "
								"image_id " INT64_FORMAT " differs from " INT64_FORMAT " in \"%s\"",
								path, record, rec.question_id, rec.image_id, q->image_id,
								questions_path)));
			if (rec.n_answers < 2)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("invalid VQA annotations file \"%s\": record %ld (question_id " INT64_FORMAT "): "
								"the VQA accuracy needs at least 2 answers, found %d",
								path, record, rec.question_id, rec.n_answers)));
			q->annotated = true;

			row.question_id = rec.question_id;
			row.image_id = rec.image_id;
			row.split = split;
			row.coco_split = q->coco_split;
			row.question = q->question;
			row.question_type = rec.question_type;
			row.answer_type = rec.answer_type;
			row.multiple_choice_answer = rec.multiple_choice_answer;
			row.n_answers = rec.n_answers;
			row.answers = rec.answers;
			fn(&row, arg);
			annotated++;
		}
		if (rc < 0)
			ReportJsonError("annotations", path, reader);
	}
	PG_FINALLY();
	{
		vqa_json_close(reader);
	}
	PG_END_TRY();
	return annotated;
}

static void
RequireAllAnnotated(HTAB *questions, const char *questions_path, const char *annotations_path)
{
	HASH_SEQ_STATUS status;
	PendingQuestion *q;
	PendingQuestion *first = NULL;

	/* report the first question of the file, not a random one */
	hash_seq_init(&status, questions);
	while ((q = hash_seq_search(&status)) != NULL)
		if (!q->annotated && (first == NULL || q->record < first->record))
			first = q;
	if (first)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid VQA questions file \"%s\": record %ld (question_id " INT64_FORMAT "): "
						"no annotation in \"%s\"", questions_path, first->record,
						first->question_id, annotations_path)));
}

int64
ReadQuestionFiles(const char *questions_path, const char *annotations_path, const char *split,
				  AnnotatedQuestionFn fn, void *arg)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext, "vqaprune questions",
												  ALLOCSET_DEFAULT_SIZES);
	HTAB	   *questions = ReadQuestions(questions_path, context);
	int64		annotated = StreamAnnotations(annotations_path, questions_path, questions, split,
										  fn, arg);

	RequireAllAnnotated(questions, questions_path, annotations_path);
	MemoryContextDelete(context);
	return annotated;
}

typedef struct SplitInserter
{
	RowInserter ins;
	int64		dataset_id;
	const char *questions_path;
} SplitInserter;

/* Writes one question of a split; its id must be new to the dataset. */
static void
InsertSplitQuestion(const QuestionRow *row, void *arg)
{
	SplitInserter *s = arg;

	if (!InsertQuestion(&s->ins, s->dataset_id, row))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("question_id " INT64_FORMAT " of \"%s\" is already loaded in this dataset",
						row->question_id, s->questions_path),
				 errhint("Each question id may appear in one split only; "
						 "vqa_drop_dataset removes a dataset to load it again.")));
}

int64
LoadSplitFiles(int64 dataset_id, const char *split, const char *questions_path,
			   const char *annotations_path)
{
	SplitInserter s;

	QuestionInserterInit(&s.ins);
	s.dataset_id = dataset_id;
	s.questions_path = questions_path;
	return ReadQuestionFiles(questions_path, annotations_path, split, InsertSplitQuestion, &s);
}

/*
 * vqa_load_questions(dataset, split, questions_file, annotations_file,
 *					  min_answer_count DEFAULT NULL) -> questions loaded
 */
Datum
vqa_load_questions(PG_FUNCTION_ARGS)
{
	char	   *dataset = RequireTextArg(fcinfo, 0, "dataset");
	char	   *split = RequireTextArg(fcinfo, 1, "split");
	char	   *questions_path = RequireTextArg(fcinfo, 2, "questions_file");
	char	   *annotations_path = RequireTextArg(fcinfo, 3, "annotations_file");
	int64		dataset_id;
	int64		loaded;

	RequireReadServerFiles();
	if (!PG_ARGISNULL(4) && PG_GETARG_INT32(4) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_answer_count must be at least 1")));
	RequireFileExists(questions_path);
	RequireFileExists(annotations_path);

	SPI_connect();
	dataset_id = LookupDatasetId(dataset);
	if (dataset_id == 0)
		dataset_id = CreateDataset(dataset, "files", "vqa-cp",
								   PG_ARGISNULL(4) ? 9 : PG_GETARG_INT32(4), "{}");
	else
	{
		Oid			argtypes[3] = {INT8OID, TEXTOID, INT4OID};
		Datum		values[3];
		char		nulls[3] = {' ', ' ', PG_ARGISNULL(4) ? 'n' : ' '};

		RequireDatasetOwner(dataset_id, dataset);

		values[0] = Int64GetDatum(dataset_id);
		values[1] = CStringGetTextDatum(split);
		values[2] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
		if (SpiRun("SELECT source = 'synthetic', EXISTS (SELECT 1 FROM vqaprune.questions "
				   "WHERE dataset_id = $1 AND split = $2), benchmark = 'vqa-vs' FROM vqaprune.datasets "
				   "WHERE dataset_id = $1", SPI_OK_SELECT, 2, argtypes, values, nulls, false, 1) != 1)
			elog(ERROR, "dataset " INT64_FORMAT " disappeared", dataset_id);
		if (DatumGetBool(SpiRequired(0, 1, "vqaprune.datasets")))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("dataset \"%s\" was made by vqa_synthetic", dataset),
					 errhint("Load files into a dataset of another name.")));
		if (DatumGetBool(SpiRequired(0, 3, "vqaprune.datasets")))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("dataset \"%s\" was loaded by vqa_load_vqavs", dataset),
					 errhint("A VQA-VS dataset holds the splits and OOD sets of one directory: "
							 "load files into a dataset of another name.")));
		if (DatumGetBool(SpiRequired(0, 2, "vqaprune.datasets")))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("split \"%s\" of dataset \"%s\" is already loaded", split, dataset),
					 errhint("vqa_drop_dataset removes a dataset to load it again.")));
		if (!PG_ARGISNULL(4))
			(void) SpiRun("UPDATE vqaprune.datasets SET min_answer_count = $3 "
						  "WHERE dataset_id = $1", SPI_OK_UPDATE, 3, argtypes, values, nulls, false, 0);
	}

	loaded = LoadSplitFiles(dataset_id, split, questions_path, annotations_path);

	RebuildAnswers(dataset_id);
	SPI_finish();
	PG_RETURN_INT64(loaded);
}
