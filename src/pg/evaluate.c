/*
 * evaluate.c: vqa_evaluate, a model's answers to every question of a split,
 * scored with the dataset's metric and stored as a run, next to imported
 * runs in the accuracy views.
 *
 * The model answers with the argmax of its logits, named by the answer
 * labels stored with it; the accuracy of each answer is computed against the
 * question's raw annotator answers: the official VQA accuracy, or VQA-VS's
 * exact match on a VQA-VS dataset. A run of a VQA-VS test split (IID-Test)
 * scores every OOD set at once, since each is a subset of its questions
 * (vqa_accuracy_vqavs).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "spi_checked.h"
#include "vqaprune.h"

PG_FUNCTION_INFO_V1(vqa_evaluate);


/* The model's answer labels, in the order of its logits. */
static Datum *
AnswerLabels(int64 model_id, const char *model, int answers)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	bool		isnull;
	Datum		labels;
	Datum	   *elems;
	int			n;

	if (SpiRun("SELECT answer_vocab FROM vqaprune.models WHERE model_id = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
		elog(ERROR, "model " INT64_FORMAT " disappeared", model_id);
	labels = SpiValue(0, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no answer labels", model),
				 errhint("Models made by vqa_create_model or trained on a dataset have them.")));
	deconstruct_array(DatumGetArrayTypePCopy(labels), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, NULL, &n);
	if (n != answers)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" has %d answer labels for %d answers", model, n, answers)));
	return elems;
}

/*
 * vqa_evaluate(model, dataset, split) -> run id
 */
Datum
vqa_evaluate(PG_FUNCTION_ARGS)
{
	char	   *model = RequireTextArg(fcinfo, 0, "model");
	char	   *dataset = RequireTextArg(fcinfo, 1, "dataset");
	char	   *split = RequireTextArg(fcinfo, 2, "split");
	char	   *config_json;
	int64		model_id;
	int64		dataset_id;
	volatile int64 run_id = 0;
	VqaModel *core;
	Datum	   *labels;
	VqaExamples *volatile ex = NULL;
	VqaBatchBuffers *volatile buf = NULL;
	float	   *volatile logits = NULL;
	Oid			run_types[4] = {INT8OID, TEXTOID, TEXTOID, INT8OID};
	Datum		run_values[4];

	SPI_connect();
	model_id = RequireModel(model, &config_json);
	dataset_id = RequireDataset(dataset);
	core = LoadModel(model_id, config_json);
	PrepareEvaluation(core);
	labels = AnswerLabels(model_id, model, core->config.num_qa_labels);

	run_values[0] = Int64GetDatum(dataset_id);
	run_values[1] = CStringGetTextDatum(split);
	run_values[2] = CStringGetTextDatum(model);
	run_values[3] = Int64GetDatum(model_id);

	PG_TRY();
	{
		RowInserter ins;
		Oid			argtypes[5] = {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID};
		/* a batch and the next, whose features are asked for while it computes */
		int		   *idx = palloc(sizeof(int) * 2 * vqaprune_eval_batch_size);
		size_t		batch_bytes;

		ex = LoadExamples(dataset_id, dataset, split, model_id, model, &core->config, false);
		batch_bytes = vqa_examples_batch_feature_bytes(ex, vqaprune_eval_batch_size);
		if (batch_bytes > (size_t) vqaprune_feature_memory << 20)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("vqaprune.feature_memory (%d MB) is too small for a batch of %d examples, "
							"whose features take %zu MB", vqaprune_feature_memory,
							vqaprune_eval_batch_size, (batch_bytes + (1 << 20) - 1) >> 20),
					 errhint("Raise vqaprune.feature_memory, or lower vqaprune.eval_batch_size.")));
		buf = vqa_batch_buffers_new(ex, vqaprune_eval_batch_size);
		logits = malloc(sizeof(float) * vqaprune_eval_batch_size * core->config.num_qa_labels);
		if (buf == NULL || logits == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		(void) SpiRun("INSERT INTO vqaprune.runs (dataset_id, split, label, source, model_id) "
					  "VALUES ($1, $2, $3, 'model', $4) RETURNING run_id",
					  SPI_OK_INSERT_RETURNING, 4, run_types, run_values, NULL, false, 1);
		run_id = DatumGetInt64(SpiRequired(0, 1, "vqaprune.runs"));
		RowInserterInit(&ins,
						psprintf("INSERT INTO vqaprune.predictions (run_id, question_id, answer, accuracy) "
								 "SELECT $1, q.question_id, $3, %s.%s($3, q.answers) "
								 "FROM vqaprune.questions q WHERE q.dataset_id = $4 AND q.question_id = $2",
								 ExtensionSchema(fcinfo), DatasetAccuracyFunction(dataset_id)),
						5, argtypes);

		SetComputeThreads();
		core->training = 0;
		core->forward_only = 1;
		for (int start = 0; start < ex->n; start += vqaprune_eval_batch_size)
		{
			int			count = Min(vqaprune_eval_batch_size, ex->n - start);
			int			next = Min(vqaprune_eval_batch_size, ex->n - start - count);
			VqaBatch batch;

			CHECK_FOR_INTERRUPTS();
			for (int b = 0; b < count + next; b++)
				idx[b] = start + b;
			if (start == 0)
				vqa_examples_prefetch(ex, idx, count);
			if (vqa_examples_batch(ex, idx, count, buf, &batch) != 0)
				ereport(ERROR, (errcode(ERRCODE_IO_ERROR), errmsg("%s", ex->source->error)));
			vqa_examples_prefetch(ex, idx + count, next);
			if (vqa_model_forward(core, &batch, logits, NULL, NULL) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory for a forward pass of %d examples", count)));
			for (int b = 0; b < count; b++)
			{
				Datum		values[5];

				values[0] = Int64GetDatum(run_id);
				values[1] = Int64GetDatum(ex->question_ids[start + b]);
				values[2] = labels[vqa_argmax(logits + (size_t) b * core->config.num_qa_labels,
											  core->config.num_qa_labels)];
				values[3] = Int64GetDatum(dataset_id);
				values[4] = (Datum) 0;
				RowInserterExec(&ins, values, NULL);
			}
		}
	}
	PG_FINALLY();
	{
		vqa_examples_free(ex);
		vqa_batch_buffers_free(buf);
		free(logits);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_INT64(run_id);
}
