/*
 * synthetic_dataset.c: vqa_synthetic, the embedded benchmark as a dataset,
 * VQA-CP-style or VQA-VS-style. The core generator (src/core/synthetic.c)
 * streams one image with its questions at a time; each is written with the
 * same row writers as the file loaders, a VQA-VS test question's OOD sets as
 * vqa_load_vqavs writes them, then the answer vocabulary, soft targets and
 * priors are built as for a loaded dataset.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "vqaprune.h"
#include "vqaprune/synthetic.h"

PG_FUNCTION_INFO_V1(vqa_synthetic);

static VqaSyntheticBenchmark
ParseBenchmark(FunctionCallInfo fcinfo, int argno)
{
	char	   *benchmark = text_to_cstring(PG_GETARG_TEXT_PP(argno));

	if (strcmp(benchmark, "vqa-cp") == 0)
		return VQA_SYNTHETIC_VQA_CP;
	if (strcmp(benchmark, "vqa-vs") == 0)
		return VQA_SYNTHETIC_VQA_VS;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown benchmark \"%s\"", benchmark),
			 errhint("The benchmarks are vqa-cp (the VQA-CP v2 re-split) and vqa-vs (nine "
					 "shortcut-specific OOD sets).")));
	return VQA_SYNTHETIC_VQA_CP;	/* not reached */
}

/*
 * vqa_synthetic(dataset, images, seed, boxes, feature_dim,
 *				 questions_per_image, min_answer_count, storage, benchmark) -> questions made
 */
Datum
vqa_synthetic(PG_FUNCTION_ARGS)
{
	char	   *dataset = RequireTextArg(fcinfo, 0, "dataset");
	VqaSyntheticConfig config;
	int32		seed = PG_GETARG_INT32(2);
	int32		min_answer_count = PG_GETARG_INT32(6);
	bool		half = ParseFeatureStorage(fcinfo, 7);
	VqaSyntheticBenchmark benchmark = ParseBenchmark(fcinfo, 8);
	const char *benchmark_name = benchmark == VQA_SYNTHETIC_VQA_VS ? "vqa-vs" : "vqa-cp";
	VqaSynthetic *volatile gen;
	char		errbuf[256];
	char		options[256];
	int64		dataset_id;
	volatile int64 made = 0;
	RowInserter images;
	RowInserter questions;
	RowInserter ood;

	config.images = PG_GETARG_INT32(1);
	config.seed = (uint64) (uint32) seed;
	config.boxes = PG_GETARG_INT32(3);
	config.feature_dim = PG_GETARG_INT32(4);
	config.questions_per_image = PG_GETARG_INT32(5);
	config.benchmark = benchmark;
	if (min_answer_count < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_answer_count must be at least 1")));

	gen = vqa_synthetic_new(&config, errbuf, sizeof(errbuf));
	if (gen == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", errbuf)));

	PG_TRY();
	{
		VqaSyntheticImage image;

		SPI_connect();
		if (LookupDatasetId(dataset) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("dataset \"%s\" already exists", dataset),
					 errhint("Choose another name, or remove it with vqa_drop_dataset.")));
		snprintf(options, sizeof(options),
				 "{\"images\": %d, \"seed\": %d, \"boxes\": %d, \"feature_dim\": %d, "
				 "\"questions_per_image\": %d, \"storage\": \"%s\", \"benchmark\": \"%s\"}",
				 config.images, seed, config.boxes, config.feature_dim,
				 config.questions_per_image, half ? "float16" : "float32", benchmark_name);
		dataset_id = CreateDataset(dataset, "synthetic", benchmark_name, min_answer_count, options);
		ImageInserterInit(&images);
		QuestionInserterInit(&questions);
		{
			Oid			argtypes[3] = {INT8OID, TEXTOID, INT8OID};

			RowInserterInit(&ood, "INSERT INTO vqaprune.ood_questions (dataset_id, ood_set, question_id) "
							"VALUES ($1, $2, $3)", 3, argtypes);
		}

		while (vqa_synthetic_next(gen, &image) == 1)
		{
			CHECK_FOR_INTERRUPTS();
			InsertImage(&images, dataset_id, image.image_id, image.image_w, image.image_h,
						image.num_boxes, image.feature_dim, image.boxes, image.features, half);
			for (int i = 0; i < image.n_questions; i++)
			{
				const VqaSyntheticQuestion *q = &image.questions[i];
				QuestionRow row;

				row.question_id = q->question_id;
				row.image_id = q->image_id;
				row.split = q->split;
				row.coco_split = q->coco_split;
				row.question = q->question;
				row.question_type = q->question_type;
				row.answer_type = q->answer_type;
				row.multiple_choice_answer = q->multiple_choice_answer;
				row.n_answers = VQA_SYNTHETIC_ANSWERS;
				row.answers = q->answers;
				if (!InsertQuestion(&questions, dataset_id, &row))
					elog(ERROR, "synthetic question id " INT64_FORMAT " repeats", q->question_id);
				for (int s = 0; s < VQA_VS_OOD_SETS; s++)
					if (q->ood_sets & (1u << s))
					{
						Datum		values[3] = {Int64GetDatum(dataset_id),
						CStringGetTextDatum(vqa_vs_ood_set_names[s]), Int64GetDatum(q->question_id)};

						(void) RowInserterExec(&ood, values, NULL);
					}
				made++;
			}
		}
		RebuildAnswers(dataset_id);
		SPI_finish();
	}
	PG_FINALLY();
	{
		vqa_synthetic_free(gen);
	}
	PG_END_TRY();
	PG_RETURN_INT64(made);
}
