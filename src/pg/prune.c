/*
 * prune.c: vqa_prune, the paper's Stage 2. Finds a subnetwork of a model at
 * a target sparsity, by one-shot magnitude pruning or by mask training, and
 * stores it as a new model: the source weights unchanged, a mask over every
 * prunable matrix and, after mask training, the retrained answer head.
 *
 * The core does the work (src/core/prune.c, src/core/train.c); this file
 * reads the sparsity plan and the options, and training.c drives the
 * training steps. Nothing is stored unless the whole run completes.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/prune.h"

PG_FUNCTION_INFO_V1(vqa_prune);

static const char *const MODULE_KEYS[VQA_PRUNE_MODULES] = {"language", "visual", "cross"};

/* Options of both methods, then those of mask training only. */
static const char *const OPTION_NAMES[] = {
	"name", "dataset", "scope", "allocation",
	"epochs", "batch_size", "lr", "optimizer", "weight_decay", "max_grad_norm", "seed",
	"dropout", "eval_split", "lmh_entropy_weight", "lpf_gamma", "reset_steps", "init",
	"init_scale", "threshold", "bce_scale", "keep_best", "loss_params", "micro_batch_size",
	"checkpoint_minutes", "length_buckets",
};
#define N_COMMON_OPTIONS 4

typedef struct PruneOptions
{
	char	   *name;
	char	   *dataset;		/* NULL: the model's */
	char	   *scope;			/* matrix, global or modules */
	char	   *allocation;		/* uniform or paper */
	double		module[VQA_PRUNE_MODULES];	/* NAN where not given */
	TrainOptions common;
	int			reset_steps;
	bool		random_init;
	float		init_scale;
	float		threshold;
	bool		keep_best;
} PruneOptions;

/* model_mask_lmh_70, model_magnitude_70, or with module targets model_mask_lmh_60_4_60 */
static char *
DefaultName(const char *model, const char *loss, bool mask_training, double sparsity,
			const double module[VQA_PRUNE_MODULES])
{
	StringInfoData name;

	initStringInfo(&name);
	if (mask_training)
		appendStringInfo(&name, "%s_mask_%s", model, loss);
	else
		appendStringInfo(&name, "%s_magnitude", model);
	if (!isnan(sparsity))
		appendStringInfo(&name, "_%.0f", 100 * sparsity);
	else
		for (int m = 0; m < VQA_PRUNE_MODULES; m++)
			appendStringInfo(&name, "_%.0f", isnan(module[m]) ? 0.0 : 100 * module[m]);
	return name.data;
}

static void
ReadOptions(Jsonb *options, const char *model, const char *loss, bool mask_training,
			double sparsity, PruneOptions *o)
{
	JsonbValue *scope;
	char	   *init;

	RequireKnownOptions(options, OPTION_NAMES, lengthof(OPTION_NAMES));
	if (!mask_training)
		for (size_t i = N_COMMON_OPTIONS; i < lengthof(OPTION_NAMES); i++)
			if (OptionValue(options, OPTION_NAMES[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" applies to mask training only", OPTION_NAMES[i]),
						 errhint("Magnitude pruning takes name, dataset, scope and allocation.")));
	o->dataset = OptionText(options, "dataset", NULL);
	o->allocation = OptionText(options, "allocation", "uniform");
	if (strcmp(o->allocation, "uniform") != 0 && strcmp(o->allocation, "paper") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown allocation \"%s\"", o->allocation),
				 errhint("Use \"uniform\" or \"paper\".")));
	scope = OptionValue(options, "scope");
	if (scope && scope->type == jbvBinary)
	{
		OptionNumberObject(options, "scope", MODULE_KEYS, VQA_PRUNE_MODULES, o->module);
		o->scope = "modules";
	}
	else
	{
		for (int m = 0; m < VQA_PRUNE_MODULES; m++)
			o->module[m] = NAN;
		o->scope = OptionText(options, "scope", "matrix");
		if (strcmp(o->scope, "matrix") != 0 && strcmp(o->scope, "global") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown scope \"%s\"", o->scope),
					 errhint("Use \"matrix\", \"global\", or module targets such as "
							 "{\"language\": 0.6, \"visual\": 0.04, \"cross\": 0.6}.")));
	}
	o->name = OptionText(options, "name", DefaultName(model, loss, mask_training, sparsity, o->module));
	if (strcmp(o->allocation, "paper") == 0 && strcmp(o->scope, "matrix") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("allocation \"paper\" sets the module targets itself"),
				 errhint("Leave scope at \"matrix\", or give module targets without allocation.")));
	if (!mask_training)
		return;
	/* the paper's Stage 2 (methods-reference 1.3) */
	ReadTrainOptions(options, &o->common, 20, 256, "adamw", "fixed");
	o->common.train.warmup_steps = 0;
	o->reset_steps = OptionInt(options, "reset_steps", 100);
	o->init_scale = (float) OptionNumber(options, "init_scale", 0.02);
	o->threshold = (float) OptionNumber(options, "threshold", 0.01);
	init = OptionText(options, "init", "magnitude");
	if (strcmp(init, "magnitude") != 0 && strcmp(init, "random") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown init \"%s\"", init),
				 errhint("Use \"magnitude\" or \"random\".")));
	o->random_init = strcmp(init, "random") == 0;
	o->keep_best = OptionBool(options, "keep_best", false);
	if (o->keep_best && o->common.eval_split == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep_best needs an eval_split to choose the best epoch on")));
	if (o->reset_steps < 0 || !(o->init_scale > 0) || !isfinite(o->threshold))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reset_steps must not be negative, init_scale must be positive "
						"and threshold finite")));
}

/* The plan of the call: the overall target, a scope, module targets or the paper's split. */
static void
MakePlan(const VqaModel *model, double sparsity, const PruneOptions *o, VqaSparsityPlan *plan)
{
	size_t		counts[4];
	char		err[256];
	int			rc;

	vqa_prunable_counts(model, counts);
	if (!HasModules(model) && (strcmp(o->allocation, "paper") == 0 || strcmp(o->scope, "modules") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no modules to give their own sparsity", model->ops->name),
				 errhint("Prune it uniformly, with scope \"matrix\" or \"global\" and allocation "
						 "\"uniform\", as the paper does for VisualBERT.")));
	if (strcmp(o->allocation, "paper") == 0)
		rc = vqa_plan_paper_allocation(counts, sparsity, plan, err, sizeof(err));
	else
		rc = vqa_plan_sparsity(counts, sparsity, o->module, plan, err, sizeof(err));
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err),
				 errhint("The overall sparsity is the module targets weighted by their prunable "
						 "weights: language %zu, visual %zu, cross %zu.",
						 counts[0], counts[1], counts[2])));
	if (strcmp(o->scope, "global") == 0)
		plan->scope = VQA_SCOPE_GLOBAL;
}

/*
 * The dataset of the new model: the option, or the one the source was made
 * or trained for. Mask training needs one; 0 when there is none.
 */
static int64
PruneDataset(int64 model_id, const char *model, PruneOptions *o, bool required)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	uint64		found;

	if (o->dataset)
		return RequireDataset(o->dataset);
	found = SpiRun("SELECT d.dataset_id, d.name FROM vqaprune.models m "
				   "JOIN vqaprune.datasets d USING (dataset_id) WHERE m.model_id = $1",
				   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1);
	if (found == 0 && !required)
		return 0;
	if (found == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no dataset to train its masks on", model),
				 errhint("Pass one in the options: '{\"dataset\": \"...\"}'.")));
	o->dataset = SpiRequiredText(0, 2, "vqaprune.datasets");
	return DatumGetInt64(SpiRequired(0, 1, "vqaprune.datasets"));
}

static char *
OptionsJson(const PruneOptions *o, const VqaSparsityPlan *plan, bool has_modules, bool mask_training,
			float dropout)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"scope\": \"%s\", \"allocation\": \"%s\"",
					 plan->scope == VQA_SCOPE_GLOBAL ? "global" : o->scope, o->allocation);
	if (has_modules)
		appendStringInfo(&buf, ", \"module_targets\": {\"language\": %.6f, \"visual\": %.6f, "
						 "\"cross\": %.6f, \"pooler\": %.6f}",
						 plan->module[0], plan->module[1], plan->module[2], plan->overall);
	if (mask_training)
	{
		appendStringInfoString(&buf, ", \"dataset\": ");
		escape_json(&buf, o->dataset);
		appendStringInfoString(&buf, ", ");
		AppendTrainOptions(&buf, &o->common, dropout);
		appendStringInfo(&buf, ", \"reset_steps\": %d, \"init\": \"%s\", \"init_scale\": %g, "
						 "\"threshold\": %g, \"keep_best\": %s", o->reset_steps,
						 o->random_init ? "random" : "magnitude", o->init_scale, o->threshold,
						 o->keep_best ? "true" : "false");
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * vqa_prune(model, loss, sparsity, method, options) -> the new model's name
 */
Datum
vqa_prune(PG_FUNCTION_ARGS)
{
	char	   *model = RequireTextArg(fcinfo, 0, "model");
	char	   *loss = RequireTextArg(fcinfo, 1, "loss");
	double		sparsity = PG_ARGISNULL(2) ? NAN : PG_GETARG_FLOAT8(2);
	char	   *method = RequireTextArg(fcinfo, 3, "method");
	bool		mask_training;
	PruneOptions o = {0};
	VqaTrainConfig *train_config = &o.common.train;
	char	   *config_json;
	int64		model_id;
	int64		dataset_id = 0;
	VqaModel *source;
	VqaModel *volatile core = NULL;
	VqaMasker  *volatile masker = NULL;
	VqaExamples *volatile train = NULL;
	VqaExamples *volatile eval = NULL;
	VqaTrainer *volatile trainer = NULL;
	volatile TrainingOutcome outcome = TRAINING_ENDED;
	float	   *volatile mask = NULL;
	StringInfoData metrics;

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("options must not be null"),
				 errhint("Pass '{}' for the paper's defaults.")));
	if (strcmp(method, "mask") != 0 && strcmp(method, "magnitude") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown pruning method \"%s\"", method),
				 errhint("Use \"mask\" (mask training) or \"magnitude\" (one-shot magnitude pruning).")));
	mask_training = strcmp(method, "mask") == 0;
	if (!isnan(sparsity) && !(sparsity >= 0.0 && sparsity < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sparsity must be in [0, 1), not %g", sparsity),
				 errhint("Sparsity is the fraction of prunable weights removed: 0.7 keeps 30%%.")));
	ParseLoss(loss, train_config);
	ReadOptions(PG_GETARG_JSONB_P(4), model, loss, mask_training, sparsity, &o);

	SPI_connect();
	model_id = RequireModel(model, &config_json);
	RequireNewModelName(o.name);
	dataset_id = PruneDataset(model_id, model, &o, mask_training);
	if (mask_training)
	{
		RequirePriorIfNeeded(train_config, loss, dataset_id, o.dataset);
		RequireMatchingAnswers(model_id, model, dataset_id, o.dataset);
	}
	source = LoadModel(model_id, config_json);
	initStringInfo(&metrics);

	PG_TRY();
	{
		VqaModelConfig config = source->config;
		VqaSparsityPlan plan;
		StoredModelInfo info = {0};
		char		err[256];

		MakePlan(source, sparsity, &o, &plan);
		if (mask_training && o.common.dropout >= 0)
			config.hidden_dropout_prob = config.attention_probs_dropout_prob = (float) o.common.dropout;
		core = NewCoreModel(&config);
		/* a pruned source is pruned again from the weights its forward pass uses */
		memcpy(core->params, source->mask ? source->masked : source->params,
			   sizeof(float) * core->n_params);
		SetComputeThreads();

		if (mask_training)
		{
			TrainingRun run;

			masker = vqa_masker_new(core, &plan, o.threshold);
			if (masker == NULL)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			if (o.random_init)
				vqa_masker_init_random(masker, o.init_scale, train_config->seed);
			else if (vqa_masker_init_magnitude(masker, o.init_scale) != 0)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			train_config->masker = masker;
			train_config->reset_steps = o.reset_steps;
			ReportPhase("vqa_prune", o.name, "loading");
			train = TrainingExamples(dataset_id, o.dataset, "train", model_id, model, &config);
			if (o.common.eval_split)
				eval = TrainingExamples(dataset_id, o.dataset, o.common.eval_split, model_id, model, &config);
			ChooseMicroBatch(&o.common, &config, train);
			trainer = vqa_trainer_new(core, train, train_config, err, sizeof(err));
			if (trainer == NULL)
				ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", err)));
			run = (TrainingRun) {
				.function = "vqa_prune", .name = o.name, .model = core, .trainer = trainer,
				.epochs = train_config->epochs, .eval = eval, .eval_split = o.common.eval_split,
				.keep_best = o.keep_best, .checkpoint_minutes = o.common.checkpoint_minutes,
				.model_id = model_id, .dataset_id = dataset_id,
			};
			outcome = RunTraining(&run, &metrics);
			/* the best epoch's mask is final; otherwise the last scores make it */
			if (outcome == TRAINING_ENDED && vqa_trainer_finish_masks(trainer) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("the mask scores are not finite"),
						 errhint("Lower lr; nothing was stored.")));
			appendStringInfoChar(&metrics, '}');
		}
		else
		{
			mask = malloc(sizeof(float) * core->n_params);
			if (mask == NULL || vqa_magnitude_mask(core, &plan, mask) != 0 ||
				vqa_model_set_mask(core, mask) != 0)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			appendStringInfoString(&metrics, "{}");
		}

		/* a job's segment that ended at a checkpoint stores nothing: the next one goes on */
		if (outcome != TRAINING_SUSPENDED)
		{
			ReportPhase("vqa_prune", o.name, "storing");
			info.name = o.name;
			info.dataset_id = dataset_id;
			info.parent_id = model_id;
			info.stage = 2;
			info.loss = mask_training ? loss : NULL;
			info.method = method;
			info.options_json = OptionsJson(&o, &plan, HasModules(core), mask_training,
										   config.hidden_dropout_prob);
			info.sparsity_target = plan.overall;
			StoreTrainedModel(core, &info, metrics.data);
		}
	}
	PG_FINALLY();
	{
		vqa_trainer_free(trainer);
		vqa_masker_free(masker);
		vqa_examples_free(train);
		vqa_examples_free(eval);
		free(mask);
		vqa_model_free(core);
	}
	PG_END_TRY();
	SPI_finish();
	if (outcome == TRAINING_SUSPENDED)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(o.name));
}
