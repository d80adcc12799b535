/*
 * finetune.c: vqa_finetune, the paper's Stage 1 (and Stage 3 once models
 * carry masks): train a copy of a model on a dataset's train split with a
 * debiasing loss and store it as a new model with its lineage, options and
 * per-epoch metrics. The source model never changes.
 *
 * The core trains (src/core/train.c); this file reads the options, loads
 * the split, drives the steps (reporting progress and checking for
 * cancellation between them) and stores the result. Nothing is stored
 * unless every epoch completes.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "vqaprune.h"
#include "vqaprune/train.h"

PG_FUNCTION_INFO_V1(vqa_finetune);

typedef struct FinetuneOptions
{
	char	   *name;
	VqaTrainConfig train;
	double		warmup_epochs;	/* used when warmup (steps) is not given */
	int			warmup_steps;	/* -1: from warmup_epochs */
	double		dropout;		/* < 0: the model's */
	char	   *eval_split;
	bool		keep_best;
} FinetuneOptions;

static const char *const OPTION_NAMES[] = {
	"name", "epochs", "batch_size", "lr", "optimizer", "weight_decay", "warmup",
	"warmup_epochs", "max_grad_norm", "seed", "dropout", "eval_split", "keep_best",
	"lmh_entropy_weight", "lpf_gamma",
};

/* The value of a key of a jsonb object, or NULL. */
static JsonbValue *
OptionValue(Jsonb *options, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&options->root, JB_FOBJECT, &k);
}

static double
OptionNumber(Jsonb *options, const char *key, double fallback)
{
	JsonbValue *v = OptionValue(options, key);

	if (v == NULL || v->type == jbvNull)
		return fallback;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a number", key)));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static int
OptionInt(Jsonb *options, const char *key, int fallback)
{
	double		d = OptionNumber(options, key, fallback);

	if (d != floor(d) || d < INT_MIN || d > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be an integer", key)));
	return (int) d;
}

static char *
OptionText(Jsonb *options, const char *key, const char *fallback)
{
	JsonbValue *v = OptionValue(options, key);

	if (v == NULL || v->type == jbvNull)
		return fallback ? pstrdup(fallback) : NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static bool
OptionBool(Jsonb *options, const char *key, bool fallback)
{
	JsonbValue *v = OptionValue(options, key);

	if (v == NULL || v->type == jbvNull)
		return fallback;
	if (v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be true or false", key)));
	return v->val.boolean;
}

/* Every key must be a known option: a typo must not silently train something else. */
static void
RequireKnownOptions(Jsonb *options)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));
	it = JsonbIteratorInit(&options->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (token != WJB_KEY)
			continue;
		for (size_t i = 0; i < lengthof(OPTION_NAMES); i++)
			known |= strlen(OPTION_NAMES[i]) == (size_t) v.val.string.len &&
				strncmp(OPTION_NAMES[i], v.val.string.val, v.val.string.len) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%.*s\"", v.val.string.len, v.val.string.val),
					 errhint("Options: name, epochs, batch_size, lr, optimizer, weight_decay, warmup, "
							 "warmup_epochs, max_grad_norm, seed, dropout, eval_split, keep_best, "
							 "lmh_entropy_weight, lpf_gamma.")));
	}
}

/* The paper's defaults (methods-reference 1.2), overridden by the options. */
static void
ReadOptions(Jsonb *options, const char *model, const char *loss, FinetuneOptions *o)
{
	char	   *optimizer;

	RequireKnownOptions(options);
	o->name = OptionText(options, "name", psprintf("%s_%s", model, loss));
	o->train.epochs = OptionInt(options, "epochs", 20);
	o->train.batch_size = OptionInt(options, "batch_size", 64);
	o->train.lr = (float) OptionNumber(options, "lr", 5e-5);
	o->train.weight_decay = (float) OptionNumber(options, "weight_decay", 0.0);
	o->train.max_grad_norm = (float) OptionNumber(options, "max_grad_norm", 1.0);
	o->train.seed = (uint64) OptionInt(options, "seed", 0);
	o->warmup_steps = OptionInt(options, "warmup", -1);
	o->warmup_epochs = OptionNumber(options, "warmup_epochs", o->train.epochs / 4.0);
	o->dropout = OptionNumber(options, "dropout", -1.0);
	o->eval_split = OptionText(options, "eval_split", NULL);
	o->keep_best = OptionBool(options, "keep_best", false);
	vqa_loss_default_options(&o->train.loss_options);
	o->train.loss_options.lmh_entropy_weight =
		(float) OptionNumber(options, "lmh_entropy_weight", o->train.loss_options.lmh_entropy_weight);
	o->train.loss_options.lpf_gamma =
		(float) OptionNumber(options, "lpf_gamma", o->train.loss_options.lpf_gamma);
	optimizer = OptionText(options, "optimizer", "adam");
	if (strcmp(optimizer, "adam") != 0 && strcmp(optimizer, "adamw") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown optimizer \"%s\"", optimizer),
				 errhint("Use \"adam\" or \"adamw\".")));
	o->train.adamw = strcmp(optimizer, "adamw") == 0;
	if (o->train.epochs < 1 || o->train.batch_size < 1 || !(o->train.lr > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epochs, batch_size and lr must be positive")));
	if (!(o->train.weight_decay >= 0) || o->warmup_epochs < 0 ||
		(OptionValue(options, "warmup") && o->warmup_steps < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weight_decay and warmup must not be negative")));
	if (OptionValue(options, "warmup") && OptionValue(options, "warmup_epochs"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give warmup (steps) or warmup_epochs, not both")));
	if (o->dropout >= 1.0 || (o->dropout < 0 && o->dropout != -1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dropout must be in [0, 1)")));
}

/* The split's examples with soft targets, or an error naming what is missing. */
static VqaExamples *
TrainingExamples(int64 dataset_id, const char *dataset, const char *split, int64 model_id,
				 const char *model, const LxmertConfig *config)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(dataset_id), CStringGetTextDatum(split)};

	SPI_execute_with_args("SELECT 1 FROM vqaprune.questions WHERE dataset_id = $1 AND split = $2 LIMIT 1",
						  2, argtypes, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dataset \"%s\" has no split \"%s\"", dataset, split)));
	return LoadExamples(dataset_id, dataset, split, model_id, model, config, true);
}

/* The model's answer head must be the dataset's answer vocabulary, in order. */
static void
RequireMatchingAnswers(int64 model_id, const char *model, int64 dataset_id, const char *dataset)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(model_id), Int64GetDatum(dataset_id)};
	bool		isnull;
	Datum		same;

	SPI_execute_with_args("SELECT m.answer_vocab = (SELECT array_agg(answer ORDER BY answer_id) "
						  "FROM vqaprune.answers WHERE dataset_id = $2) "
						  "FROM vqaprune.models m WHERE m.model_id = $1",
						  2, argtypes, values, NULL, false, 1);
	same = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || !DatumGetBool(same))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the answer head of model \"%s\" does not match the answer vocabulary of dataset \"%s\"",
						model, dataset),
				 errhint("Make a model for this dataset with vqa_create_model, or fine-tune one made for it.")));
}

static bool
DatasetHasPrior(int64 dataset_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};

	SPI_execute_with_args("SELECT 1 FROM vqaprune.priors WHERE dataset_id = $1 LIMIT 1",
						  1, argtypes, values, NULL, false, 1);
	return SPI_processed > 0;
}

/* Mean soft-score accuracy (percent) of the model on examples. */
static double
EvalAccuracy(LxmertModel *model, const VqaExamples *ex, VqaBatchBuffers *buf, float *logits)
{
	double		score = 0.0;

	for (int start = 0; start < ex->n; start += buf->capacity)
	{
		CHECK_FOR_INTERRUPTS();
		score += vqa_soft_score(model, ex, start, Min(buf->capacity, ex->n - start), buf, logits);
	}
	return 100.0 * score / ex->n;
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
	Jsonb	   *options_jsonb;
	FinetuneOptions o;
	char	   *config_json;
	int64		model_id;
	int64		dataset_id;
	int			source_stage;
	LxmertModel *source;
	LxmertModel *volatile core = NULL;
	VqaExamples *volatile train = NULL;
	VqaExamples *volatile eval = NULL;
	VqaBatchBuffers *volatile eval_buf = NULL;
	float	   *volatile eval_logits = NULL;
	float	   *volatile best_params = NULL;
	VqaTrainer *volatile trainer = NULL;
	StringInfoData metrics;
	StoredModelInfo info = {0};
	bool		isnull;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("options must not be null"),
				 errhint("Pass '{}' for the paper's defaults.")));
	options_jsonb = PG_GETARG_JSONB_P(3);
	o.train.question_only = strcmp(loss, "rubi_qo") == 0 || strcmp(loss, "lpf_qo") == 0;
	o.train.qo_kind = strcmp(loss, "lpf_qo") == 0 ? VQA_QO_LPF : VQA_QO_RUBI;
	o.train.loss = VQA_LOSS_BCE;
	if (!o.train.question_only && vqa_loss_parse(loss, &o.train.loss) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown loss \"%s\"", loss),
				 errhint("Losses: bce, lmh, rubi, lpf, poe, rubi_qo, lpf_qo.")));
	ReadOptions(options_jsonb, model, loss, &o);

	SPI_connect();
	model_id = RequireModel(model, &config_json);
	dataset_id = RequireDataset(dataset);
	RequireNewModelName(o.name);
	if (!o.train.question_only && vqa_loss_needs_prior(o.train.loss) && !DatasetHasPrior(dataset_id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("loss \"%s\" needs the answer prior of dataset \"%s\", which has none", loss, dataset),
				 errhint("The prior is learnt from the \"train\" split: load it first.")));
	RequireMatchingAnswers(model_id, model, dataset_id, dataset);
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(model_id)};

		SPI_execute_with_args("SELECT stage FROM vqaprune.models WHERE model_id = $1",
							  1, argtypes, values, NULL, false, 1);
		source_stage = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	source = LoadModel(model_id, config_json);
	initStringInfo(&metrics);

	PG_TRY();
	{
		LxmertConfig config = source->config;
		char		err[256];
		int			total;
		double		best = -1.0;
		TimestampTz last_report = 0;
		double		step_seconds = 0.0;
		int64		samples = 0;

		if (o.dropout >= 0)
			config.hidden_dropout_prob = config.attention_probs_dropout_prob = (float) o.dropout;
		core = NewCoreModel(&config);
		memcpy(core->params, source->params, sizeof(float) * core->n_params);
		if (source->mask && lxmert_set_mask(core, source->mask) != 0)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

		train = TrainingExamples(dataset_id, dataset, "train", model_id, model, &config);
		if (o.eval_split)
		{
			eval = TrainingExamples(dataset_id, dataset, o.eval_split, model_id, model, &config);
			eval_buf = vqa_batch_buffers_new(eval, 256);
			eval_logits = malloc(sizeof(float) * 256 * config.num_qa_labels);
			if (eval_buf == NULL || eval_logits == NULL)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
		o.train.warmup_steps = o.warmup_steps >= 0 ? o.warmup_steps
			: (int) (o.warmup_epochs * ((train->n + o.train.batch_size - 1) / o.train.batch_size));
		trainer = vqa_trainer_new(core, train, &o.train, err, sizeof(err));
		if (trainer == NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", err)));
		total = vqa_trainer_total_steps(trainer);
		SetComputeThreads();

		appendStringInfoString(&metrics, "{\"epochs\": [");
		for (int epoch = 1; epoch <= o.train.epochs; epoch++)
		{
			double		loss_sum = 0.0,
						score_sum = 0.0;
			int			seen = 0;
			double		eval_accuracy = -1.0;

			for (int s = 0; s < vqa_trainer_steps_per_epoch(trainer); s++)
			{
				double		batch_loss,
							batch_score;
				int			count;
				TimestampTz step_start;
				int			rc;

				CHECK_FOR_INTERRUPTS();
				step_start = GetCurrentTimestamp();
				rc = vqa_trainer_step(trainer, &batch_loss, &batch_score, &count);
				step_seconds += (GetCurrentTimestamp() - step_start) / 1e6;
				if (rc != 1)
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("the loss is not finite at step %d (epoch %d)",
									vqa_trainer_step_count(trainer) + 1, epoch),
							 errhint("Lower lr, or keep max_grad_norm; nothing was stored.")));
				loss_sum += batch_loss * count;
				score_sum += batch_score;
				seen += count;
				samples += count;
				if (GetCurrentTimestamp() - last_report > USECS_PER_SEC)
				{
					last_report = GetCurrentTimestamp();
					pgstat_report_activity(STATE_RUNNING,
										   psprintf("vqa_finetune %s: epoch %d/%d, step %d/%d, loss %.4f, "
													"%.0f samples/s",
													o.name, epoch, o.train.epochs,
													vqa_trainer_step_count(trainer), total, batch_loss,
													samples / Max(step_seconds, 1e-9)));
				}
			}
			if (eval)
				eval_accuracy = EvalAccuracy(core, eval, eval_buf, eval_logits);
			appendStringInfo(&metrics, "%s{\"epoch\": %d, \"loss\": %.6f, \"train_accuracy\": %.4f",
							 epoch > 1 ? ", " : "", epoch, loss_sum / seen, 100.0 * score_sum / seen);
			if (eval)
				appendStringInfo(&metrics, ", \"eval_accuracy\": %.4f", eval_accuracy);
			appendStringInfoChar(&metrics, '}');
			if (vqaprune_verbose)
				ereport(NOTICE,
						(errmsg("epoch %d/%d: loss %.4f, train accuracy %.2f%s", epoch, o.train.epochs,
								loss_sum / seen, 100.0 * score_sum / seen,
								eval ? psprintf(", %s accuracy %.2f", o.eval_split, eval_accuracy) : "")));
			if (o.keep_best && eval && eval_accuracy > best)
			{
				best = eval_accuracy;
				if (best_params == NULL)
					best_params = malloc(sizeof(float) * core->n_params);
				if (best_params == NULL)
					ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
				memcpy(best_params, core->params, sizeof(float) * core->n_params);
			}
		}
		/* the core's own training speed, to compare with the call's */
		appendStringInfo(&metrics, "], \"step_seconds\": %.3f, \"samples_per_second\": %.1f",
						 step_seconds, samples / Max(step_seconds, 1e-9));
		if (best_params)
		{
			memcpy(core->params, best_params, sizeof(float) * core->n_params);
			appendStringInfo(&metrics, ", \"best_eval_accuracy\": %.4f", best);
		}
		appendStringInfoChar(&metrics, '}');

		info.name = o.name;
		info.dataset_id = dataset_id;
		info.parent_id = model_id;
		info.stage = source_stage == 2 ? 3 : 1;
		info.loss = loss;
		{
			StringInfoData used;

			initStringInfo(&used);
			appendStringInfo(&used, "{\"epochs\": %d, \"batch_size\": %d, \"lr\": %g, \"optimizer\": \"%s\", "
							 "\"weight_decay\": %g, \"warmup\": %d, \"max_grad_norm\": %g, "
							 "\"seed\": %llu, \"dropout\": %g, \"keep_best\": %s, "
							 "\"lmh_entropy_weight\": %g, \"lpf_gamma\": %g",
							 o.train.epochs, o.train.batch_size, o.train.lr,
							 o.train.adamw ? "adamw" : "adam", o.train.weight_decay,
							 o.train.warmup_steps, o.train.max_grad_norm,
							 (unsigned long long) o.train.seed, config.hidden_dropout_prob,
							 o.keep_best ? "true" : "false",
							 o.train.loss_options.lmh_entropy_weight,
							 o.train.loss_options.lpf_gamma);
			if (o.eval_split)
			{
				appendStringInfoString(&used, ", \"eval_split\": ");
				escape_json(&used, o.eval_split);
			}
			appendStringInfoChar(&used, '}');
			info.options_json = used.data;
		}
		{
			Oid			argtypes[1] = {INT8OID};
			Datum		values[1] = {Int64GetDatum(model_id)};

			SPI_execute_with_args("SELECT tokenizer_vocab, answer_vocab FROM vqaprune.models "
								  "WHERE model_id = $1", 1, argtypes, values, NULL, false, 1);
			info.tokenizer_vocab = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			info.answer_vocab = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			if (isnull)
				info.answer_vocab = (Datum) 0;
		}
		{
			int64		new_id = StoreModel(core, &info);
			Oid			argtypes[2] = {INT8OID, TEXTOID};
			Datum		values[2] = {Int64GetDatum(new_id), CStringGetTextDatum(metrics.data)};

			SPI_execute_with_args("UPDATE vqaprune.models SET metrics = $2::jsonb WHERE model_id = $1",
								  2, argtypes, values, NULL, false, 0);
		}
	}
	PG_FINALLY();
	{
		vqa_trainer_free(trainer);
		vqa_examples_free(train);
		vqa_examples_free(eval);
		vqa_batch_buffers_free(eval_buf);
		free(eval_logits);
		free(best_params);
		lxmert_free(core);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(o.name));
}
