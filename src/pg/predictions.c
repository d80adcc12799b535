/*
 * predictions.c: vqa_import_predictions, scoring a standard VQA results file
 * ([{"question_id": ..., "answer": "..."}]) into a run.
 *
 * As the official evaluation, a results file must answer every question of
 * the split, each once, and nothing else; the accuracy of each answer is the
 * official one (VQA-VS's exact match on a VQA-VS dataset), stored unrounded,
 * and the accuracy views aggregate it.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/vqa_json.h"

PG_FUNCTION_INFO_V1(vqa_import_predictions);

/* Number of questions in a split of a dataset. */
static int64
SplitSize(int64 dataset_id, const char *split)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(dataset_id), CStringGetTextDatum(split)};

	(void) SpiRun("SELECT count(*) FROM vqaprune.questions WHERE dataset_id = $1 AND split = $2",
				  SPI_OK_SELECT, 2, argtypes, values, NULL, false, 1);
	return DatumGetInt64(SpiRequired(0, 1, "vqaprune.questions"));
}

static int64
CreateRun(int64 dataset_id, const char *split, const char *label)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3] = {Int64GetDatum(dataset_id), CStringGetTextDatum(split),
	CStringGetTextDatum(label)};

	(void) SpiRun("INSERT INTO vqaprune.runs (dataset_id, split, label, source) "
				  "VALUES ($1, $2, $3, 'import') RETURNING run_id",
				  SPI_OK_INSERT_RETURNING, 3, argtypes, values, NULL, false, 1);
	return DatumGetInt64(SpiRequired(0, 1, "vqaprune.runs"));
}

/*
 * vqa_import_predictions(dataset, split, results_file, label) -> run id
 */
Datum
vqa_import_predictions(PG_FUNCTION_ARGS)
{
	char	   *dataset = RequireTextArg(fcinfo, 0, "dataset");
	char	   *split = RequireTextArg(fcinfo, 1, "split");
	char	   *path = RequireTextArg(fcinfo, 2, "results_file");
	char	   *label = RequireTextArg(fcinfo, 3, "label");
	VqaJsonReader *volatile reader;
	int64		dataset_id;
	int64		split_size;
	int64		run_id;
	volatile int64 scored = 0;
	HASHCTL		ctl = {0};
	HTAB	   *seen;
	RowInserter ins;
	Oid			argtypes[5] = {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID};

	RequireReadServerFiles();
	RequireFileExists(path);

	SPI_connect();
	dataset_id = RequireDataset(dataset);
	split_size = SplitSize(dataset_id, split);
	if (split_size == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dataset \"%s\" has no split \"%s\"", dataset, split)));
	run_id = CreateRun(dataset_id, split, label);

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("vqaprune results", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	RowInserterInit(&ins,
					psprintf("INSERT INTO vqaprune.predictions (run_id, question_id, answer, accuracy) "
							 "SELECT $1, q.question_id, $3, %s.%s($3, q.answers) "
							 "FROM vqaprune.questions q "
							 "WHERE q.dataset_id = $4 AND q.split = $5 AND q.question_id = $2",
							 ExtensionSchema(fcinfo), DatasetAccuracyFunction(dataset_id)),
					5, argtypes);

	reader = OpenJsonFile(path, VQA_JSON_RESULTS);
	PG_TRY();
	{
		VqaJsonRecord rec;
		int			rc;

		while ((rc = vqa_json_next(reader, &rec)) == 1)
		{
			long		record = vqa_json_records(reader) - 1;
			bool		found;
			Datum		values[5];
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			hash_search(seen, &rec.question_id, HASH_ENTER, &found);
			if (found)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("invalid VQA results file \"%s\": record %ld (question_id " INT64_FORMAT "): "
								"question_id " INT64_FORMAT " is answered twice",
								path, record, rec.question_id, rec.question_id)));
			old = MemoryContextSwitchTo(ins.row_context);
			values[0] = Int64GetDatum(run_id);
			values[1] = Int64GetDatum(rec.question_id);
			values[2] = PointerGetDatum(cstring_to_text(pg_any_to_server(rec.answer, strlen(rec.answer),
																		 PG_UTF8)));
			values[3] = Int64GetDatum(dataset_id);
			values[4] = CStringGetTextDatum(split);
			MemoryContextSwitchTo(old);
			if (RowInserterExec(&ins, values, NULL) != 1)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("invalid VQA results file \"%s\": record %ld (question_id " INT64_FORMAT "): "
								"no such question in split \"%s\" of dataset \"%s\"",
								path, record, rec.question_id, split, dataset)));
			scored++;
		}
		if (rc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid VQA results file \"%s\": %s", path, vqa_json_error(reader))));
	}
	PG_FINALLY();
	{
		vqa_json_close(reader);
	}
	PG_END_TRY();

	if (scored != split_size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid VQA results file \"%s\": it answers " INT64_FORMAT " of the "
						INT64_FORMAT " questions of split \"%s\"", path, scored, split_size, split),
				 errhint("As in the official evaluation, every question of the split needs an answer.")));
	SPI_finish();
	PG_RETURN_INT64(run_id);
}
