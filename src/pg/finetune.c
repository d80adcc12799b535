/*
 * finetune.c: vqa_finetune, the paper's Stage 1 (and Stage 3 once models
 * carry masks): train a copy of a model on a dataset's train split with a
 * debiasing loss and store it as a new model with its lineage, options and
 * per-epoch metrics. The source model never changes.
 *
 * The core trains (src/core/train.c); this file reads the options and
 * loads the split; training.c drives the steps (reporting progress and
 * checking for cancellation between them) and stores the result. Nothing
 * is stored unless every epoch completes.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "spi_checked.h"
#include "vqaprune.h"

PG_FUNCTION_INFO_V1(vqa_finetune);

typedef struct FinetuneOptions
{
	char	   *name;
	TrainOptions common;
	double		warmup_epochs;	/* used when warmup (steps) is not given */
	int			warmup_steps;	/* -1: from warmup_epochs */
	bool		keep_best;
} FinetuneOptions;

static const char *const OPTION_NAMES[] = {
	"name", "epochs", "batch_size", "lr", "optimizer", "weight_decay", "warmup",
	"warmup_epochs", "max_grad_norm", "seed", "dropout", "eval_split", "keep_best",
	"lmh_entropy_weight", "lpf_gamma", "bce_scale", "loss_params", "micro_batch_size",
	"checkpoint_minutes", "length_buckets",
};

/* The paper's Stage 1 defaults (methods-reference 1.2), overridden by the options. */
static void
ReadOptions(Jsonb *options, const char *model, const char *loss, FinetuneOptions *o)
{
	RequireKnownOptions(options, OPTION_NAMES, lengthof(OPTION_NAMES));
	o->name = OptionText(options, "name", psprintf("%s_%s", model, loss));
	ReadTrainOptions(options, &o->common, 20, 64, "adam", "train");
	o->warmup_steps = OptionInt(options, "warmup", -1);
	o->warmup_epochs = OptionNumber(options, "warmup_epochs", o->common.train.epochs / 4.0);
	o->keep_best = OptionBool(options, "keep_best", false);
	if (o->warmup_epochs < 0 || (OptionValue(options, "warmup") && o->warmup_steps < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weight_decay and warmup must not be negative")));
	if (OptionValue(options, "warmup") && OptionValue(options, "warmup_epochs"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give warmup (steps) or warmup_epochs, not both")));
}

/*
 * vqa_finetune(model, dataset, loss, options) -> the new model's name
 */
Datum
vqa_finetune(PG_FUNCTION_ARGS)
{
	char	   *model = RequireTextArg(fcinfo, 0, "model");
	char	   *dataset = RequireTextArg(fcinfo, 1, "dataset");
	char	   *loss = RequireTextArg(fcinfo, 2, "loss");
	FinetuneOptions o = {0};
	VqaTrainConfig *train_config = &o.common.train;
	char	   *config_json;
	int64		model_id;
	int64		dataset_id;
	int			source_stage;
	VqaModel *source;
	VqaModel *volatile core = NULL;
	VqaExamples *volatile train = NULL;
	VqaExamples *volatile eval = NULL;
	VqaTrainer *volatile trainer = NULL;
	volatile bool suspended = false;
	StringInfoData metrics;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("options must not be null"),
				 errhint("Pass '{}' for the paper's defaults.")));
	ParseLoss(loss, train_config);
	ReadOptions(PG_GETARG_JSONB_P(3), model, loss, &o);

	SPI_connect();
	model_id = RequireModel(model, &config_json);
	dataset_id = RequireDataset(dataset);
	RequireNewModelName(o.name);
	RequirePriorIfNeeded(train_config, loss, dataset_id, dataset);
	RequireMatchingAnswers(model_id, model, dataset_id, dataset);
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(model_id)};

		if (SpiRun("SELECT stage FROM vqaprune.models WHERE model_id = $1",
				   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
			elog(ERROR, "model " INT64_FORMAT " disappeared", model_id);
		source_stage = DatumGetInt32(SpiRequired(0, 1, "vqaprune.models"));
	}
	source = LoadModel(model_id, config_json);
	initStringInfo(&metrics);

	PG_TRY();
	{
		VqaModelConfig config = source->config;
		char		err[256];
		TrainingRun run;
		StoredModelInfo info = {0};
		StringInfoData used;

		if (o.common.dropout >= 0)
			config.hidden_dropout_prob = config.attention_probs_dropout_prob = (float) o.common.dropout;
		core = NewCoreModel(&config);
		memcpy(core->params, source->params, sizeof(float) * core->n_params);
		if (source->mask && vqa_model_set_mask(core, source->mask) != 0)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

		ReportPhase("vqa_finetune", o.name, "loading");
		train = TrainingExamples(dataset_id, dataset, "train", model_id, model, &config);
		if (o.common.eval_split)
			eval = TrainingExamples(dataset_id, dataset, o.common.eval_split, model_id, model, &config);
		train_config->warmup_steps = o.warmup_steps >= 0 ? o.warmup_steps
			: (int) (o.warmup_epochs * ((train->n + train_config->batch_size - 1) / train_config->batch_size));
		SetComputeThreads();
		ChooseMicroBatch(&o.common, &config, train);
		/* a pruned model (Stage 3): its sparse enough matrices train in sparse form */
		train_config->sparse_density = 1.0 - vqaprune_stage3_sparse_sparsity;
		trainer = vqa_trainer_new(core, train, train_config, err, sizeof(err));
		if (trainer == NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", err)));

		run = (TrainingRun) {
			.function = "vqa_finetune", .name = o.name, .model = core, .trainer = trainer,
			.epochs = train_config->epochs, .eval = eval, .eval_split = o.common.eval_split,
			.keep_best = o.keep_best, .checkpoint_minutes = o.common.checkpoint_minutes,
			.model_id = model_id, .dataset_id = dataset_id,
		};
		/* a job's segment that ended at a checkpoint stores nothing: the next one goes on */
		suspended = RunTraining(&run, &metrics) == TRAINING_SUSPENDED;
		if (!suspended)
		{
			appendStringInfoChar(&metrics, '}');

			ReportPhase("vqa_finetune", o.name, "storing");
			initStringInfo(&used);
			appendStringInfoChar(&used, '{');
			AppendTrainOptions(&used, &o.common, config.hidden_dropout_prob);
			appendStringInfo(&used, ", \"warmup\": %d, \"keep_best\": %s}",
							 train_config->warmup_steps, o.keep_best ? "true" : "false");
			info.name = o.name;
			info.dataset_id = dataset_id;
			info.parent_id = model_id;
			info.stage = source_stage == 2 ? 3 : 1;
			info.loss = loss;
			info.options_json = used.data;
			info.sparsity_target = NAN;
			StoreTrainedModel(core, &info, metrics.data);
		}
	}
	PG_FINALLY();
	{
		vqa_trainer_free(trainer);
		vqa_examples_free(train);
		vqa_examples_free(eval);
		vqa_model_free(core);
	}
	PG_END_TRY();
	SPI_finish();
	if (suspended)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(o.name));
}
