/*
 * training.c: what vqa_finetune and vqa_prune share: the loss names, the
 * training options both take, the checks of a model against a dataset, the
 * loop over epochs (progress, cancellation, per-epoch metrics) and storing
 * the trained model with its lineage.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "checkpoint.h"
#include "spi_checked.h"
#include "vqaprune.h"


void
ParseLoss(const char *loss, VqaTrainConfig *train)
{
	train->question_only = strcmp(loss, "rubi_qo") == 0 || strcmp(loss, "lpf_qo") == 0;
	train->qo_kind = strcmp(loss, "lpf_qo") == 0 ? VQA_QO_LPF : VQA_QO_RUBI;
	train->loss = VQA_LOSS_BCE;
	if (!train->question_only && vqa_loss_parse(loss, &train->loss) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown loss \"%s\"", loss),
				 errhint("Losses: bce, lmh, rubi, lpf, poe, rubi_qo, lpf_qo.")));
}

/* The largest divisor of n that is at most limit (1 at least). */
static int
LargestDivisorAtMost(int n, int limit)
{
	for (int d = Min(n, limit); d > 1; d--)
		if (n % d == 0)
			return d;
	return 1;
}

/* Batches per run sorted by length, as HuggingFace's group_by_length sorts megabatches */
#define DEFAULT_LENGTH_BUCKET_BATCHES 50
#define MAX_LENGTH_BUCKET_BATCHES 1000000

/*
 * "length_buckets": false (the default), true (runs of 50 batches) or the
 * batches per run.
 */
static int
LengthBucketsOption(Jsonb *options)
{
	JsonbValue *v = OptionValue(options, "length_buckets");
	int			batches;

	if (v == NULL || v->type == jbvNull)
		return 0;
	if (v->type == jbvBool)
		return v->val.boolean ? DEFAULT_LENGTH_BUCKET_BATCHES : 0;
	batches = v->type == jbvNumeric ? OptionInt(options, "length_buckets", 0) : -1;
	if (batches < 1 || batches > MAX_LENGTH_BUCKET_BATCHES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"length_buckets\" must be true, false or a number of batches "
						"from 1 to %d", MAX_LENGTH_BUCKET_BATCHES),
				 errhint("true sorts runs of %d batches by question length.",
						 DEFAULT_LENGTH_BUCKET_BATCHES)));
	return batches;
}

void
ReadTrainOptions(Jsonb *options, TrainOptions *o, int epochs, int batch_size,
				 const char *optimizer_default, const char *loss_params_default)
{
	char	   *optimizer;
	char	   *bce_scale;
	char	   *loss_params;

	o->train.epochs = OptionInt(options, "epochs", epochs);
	o->train.batch_size = OptionInt(options, "batch_size", batch_size);
	o->train.lr = (float) OptionNumber(options, "lr", 5e-5);
	o->train.weight_decay = (float) OptionNumber(options, "weight_decay", 0.0);
	o->train.max_grad_norm = (float) OptionNumber(options, "max_grad_norm", 1.0);
	o->train.seed = (uint64) OptionInt(options, "seed", 0);
	o->dropout = OptionNumber(options, "dropout", -1.0);
	o->eval_split = OptionText(options, "eval_split", NULL);
	o->checkpoint_minutes = OptionNumber(options, "checkpoint_minutes", 30.0);
	if (!(o->checkpoint_minutes > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checkpoint_minutes must be positive"),
				 errhint("A job commits a checkpoint at every epoch's end and every checkpoint_minutes "
						 "(default 30).")));
	vqa_loss_default_options(&o->train.loss_options);
	o->train.loss_options.lmh_entropy_weight =
		(float) OptionNumber(options, "lmh_entropy_weight", o->train.loss_options.lmh_entropy_weight);
	o->train.loss_options.lpf_gamma =
		(float) OptionNumber(options, "lpf_gamma", o->train.loss_options.lpf_gamma);
	optimizer = OptionText(options, "optimizer", optimizer_default);
	if (strcmp(optimizer, "adam") != 0 && strcmp(optimizer, "adamw") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown optimizer \"%s\"", optimizer),
				 errhint("Use \"adam\" or \"adamw\".")));
	o->train.adamw = strcmp(optimizer, "adamw") == 0;
	bce_scale = OptionText(options, "bce_scale", "answers");
	if (strcmp(bce_scale, "answers") != 0 && strcmp(bce_scale, "mean") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown bce_scale \"%s\"", bce_scale),
				 errhint("Use \"answers\" (the mean times the number of answers, as LXMERT and the "
						 "paper's authors scale it) or \"mean\".")));
	o->train.bce_mean = strcmp(bce_scale, "mean") == 0;
	loss_params = OptionText(options, "loss_params", loss_params_default);
	if (strcmp(loss_params, "train") != 0 && strcmp(loss_params, "fixed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown loss_params \"%s\"", loss_params),
				 errhint("Use \"train\" or \"fixed\" (the paper authors' code never updates them).")));
	o->train.fixed_loss_params = strcmp(loss_params, "fixed") == 0;
	o->train.micro_batch_size = OptionInt(options, "micro_batch_size", 0);
	if (o->train.micro_batch_size < 0 ||
		(o->train.micro_batch_size > 0 && o->train.batch_size % o->train.micro_batch_size != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("micro_batch_size %d does not divide batch_size %d",
						o->train.micro_batch_size, o->train.batch_size),
				 errhint("Give a divisor of batch_size, such as %d.",
						 LargestDivisorAtMost(o->train.batch_size, Max(o->train.micro_batch_size, 1)))));
	o->train.length_buckets = LengthBucketsOption(options);
	if (o->train.epochs < 1 || o->train.batch_size < 1 || !(o->train.lr > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epochs, batch_size and lr must be positive")));
	if (!(o->train.weight_decay >= 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weight_decay must not be negative")));
	if (o->dropout >= 1.0 || (o->dropout < 0 && o->dropout != -1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dropout must be in [0, 1)")));
}

/*
 * Batches of `rows` examples hold their features as float32, whether the
 * split's are in memory or in a file: vqaprune.feature_memory must hold
 * one. `lower` names what else makes the batch smaller.
 */
static void
RequireBatchFeatureMemory(const VqaExamples *ex, int rows, const char *lower)
{
	size_t		bytes = vqa_examples_batch_feature_bytes(ex, rows);

	if (bytes > (size_t) vqaprune_feature_memory << 20)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vqaprune.feature_memory (%d MB) is too small for a batch of %d examples, "
						"whose features take %zu MB", vqaprune_feature_memory, rows,
						(bytes + (1 << 20) - 1) >> 20),
				 errhint("Raise vqaprune.feature_memory, or lower %s.", lower)));
}

/* The micro-batch that fits vqaprune.train_memory, if it is set and micro_batch_size is not. */
static void
FitMicroBatch(TrainOptions *o, const VqaModelConfig *config, const VqaExamples *train)
{
	size_t		budget = (size_t) vqaprune_train_memory << 20;
	int			B = o->train.batch_size;
	size_t		one;

	if (o->train.micro_batch_size > 0 || vqaprune_train_memory == 0)
		return;
	one = vqa_model_activation_bytes_for(config, 1, train->seq_len, train->num_boxes, 0);
	if (one == 0)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (one > budget)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vqaprune.train_memory (%d MB) is too small for one example, which needs %zu MB",
						vqaprune_train_memory, (one >> 20) + 1),
				 errhint("Raise vqaprune.train_memory, or set it to 0 to train whole batches.")));
	/* the largest micro-batch that divides the batch and fits */
	for (int m = B; m >= 1; m--)
		if (B % m == 0 &&
			vqa_model_activation_bytes_for(config, m, train->seq_len, train->num_boxes, 0) <= budget)
		{
			o->train.micro_batch_size = m;
			return;
		}
}

/* Then the batch a pass takes must fit vqaprune.feature_memory. */
void
ChooseMicroBatch(TrainOptions *o, const VqaModelConfig *config, const VqaExamples *train)
{
	FitMicroBatch(o, config, train);
	RequireBatchFeatureMemory(train, o->train.micro_batch_size > 0
							  ? o->train.micro_batch_size : o->train.batch_size,
							  "batch_size or micro_batch_size");
}

void
AppendTrainOptions(StringInfo buf, const TrainOptions *o, float dropout)
{
	appendStringInfo(buf, "\"epochs\": %d, \"batch_size\": %d, \"lr\": %g, \"optimizer\": \"%s\", "
					 "\"weight_decay\": %g, \"max_grad_norm\": %g, \"seed\": %llu, \"dropout\": %g, "
					 "\"lmh_entropy_weight\": %g, \"lpf_gamma\": %g, \"bce_scale\": \"%s\", "
					 "\"loss_params\": \"%s\"",
					 o->train.epochs, o->train.batch_size, o->train.lr,
					 o->train.adamw ? "adamw" : "adam", o->train.weight_decay,
					 o->train.max_grad_norm, (unsigned long long) o->train.seed, dropout,
					 o->train.loss_options.lmh_entropy_weight, o->train.loss_options.lpf_gamma,
					 o->train.bce_mean ? "mean" : "answers",
					 o->train.fixed_loss_params ? "fixed" : "train");
	if (o->train.micro_batch_size > 0)
		appendStringInfo(buf, ", \"micro_batch_size\": %d", o->train.micro_batch_size);
	if (o->eval_split)
	{
		appendStringInfoString(buf, ", \"eval_split\": ");
		escape_json(buf, o->eval_split);
	}
}

VqaExamples *
TrainingExamples(int64 dataset_id, const char *dataset, const char *split, int64 model_id,
				 const char *model, const VqaModelConfig *config)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(dataset_id), CStringGetTextDatum(split)};

	if (SpiRun("SELECT 1 FROM vqaprune.questions WHERE dataset_id = $1 AND split = $2 LIMIT 1",
			   SPI_OK_SELECT, 2, argtypes, values, NULL, false, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dataset \"%s\" has no split \"%s\"", dataset, split)));
	return LoadExamples(dataset_id, dataset, split, model_id, model, config, true);
}

void
RequireMatchingAnswers(int64 model_id, const char *model, int64 dataset_id, const char *dataset)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(model_id), Int64GetDatum(dataset_id)};
	bool		isnull;
	Datum		same;

	if (SpiRun("SELECT m.answer_vocab = (SELECT array_agg(answer ORDER BY answer_id) "
			   "FROM vqaprune.answers WHERE dataset_id = $2) "
			   "FROM vqaprune.models m WHERE m.model_id = $1",
			   SPI_OK_SELECT, 2, argtypes, values, NULL, false, 1) != 1)
		elog(ERROR, "model " INT64_FORMAT " disappeared", model_id);
	same = SpiValue(0, 1, &isnull);
	if (isnull || !DatumGetBool(same))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the answer head of model \"%s\" does not match the answer vocabulary of dataset \"%s\"",
						model, dataset),
				 errhint("Make a model for this dataset with vqa_create_model, or fine-tune one made for it.")));
}

void
RequirePriorIfNeeded(const VqaTrainConfig *train, const char *loss, int64 dataset_id,
					 const char *dataset)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};

	if (train->question_only || !vqa_loss_needs_prior(train->loss))
		return;
	if (SpiRun("SELECT 1 FROM vqaprune.priors WHERE dataset_id = $1 LIMIT 1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("loss \"%s\" needs the answer prior of dataset \"%s\", which has none", loss, dataset),
				 errhint("The prior is learnt from the \"train\" split: load it first.")));
}

/*
 * Mean soft-score accuracy (percent) of the model on examples; next holds
 * buf->capacity indices.
 */
static double
EvalAccuracy(VqaModel *model, const VqaExamples *ex, VqaBatchBuffers *buf, float *logits,
			 int *next)
{
	double		score = 0.0;

	/* the training arena stays as it is: evaluation keeps nothing for backward */
	model->forward_only = 1;
	for (int start = 0; start < ex->n; start += buf->capacity)
	{
		int			count = Min(buf->capacity, ex->n - start);
		int			n_next = Min(buf->capacity, ex->n - start - count);
		double		batch_score;

		CHECK_FOR_INTERRUPTS();
		/* asked for before a batch computes: the first batch, and each next one */
		if (start == 0)
		{
			for (int b = 0; b < count; b++)
				next[b] = b;
			vqa_examples_prefetch(ex, next, count);
		}
		for (int b = 0; b < n_next; b++)
			next[b] = start + count + b;
		vqa_examples_prefetch(ex, next, n_next);
		batch_score = vqa_soft_score(model, ex, start, count, buf, logits);
		if (isnan(batch_score) && ex->source && ex->source->error[0])
			ereport(ERROR, (errcode(ERRCODE_IO_ERROR), errmsg("%s", ex->source->error)));
		if (isnan(batch_score))
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory for a forward pass of %d examples", count)));
		score += batch_score;
	}
	model->forward_only = 0;
	return 100.0 * score / ex->n;
}

/*
 * The phase of a long call, in its activity string (pg_stat_activity, and
 * the progress of a job in vqa_jobs): "<function> <model>: <phase>".
 */
void
ReportPhase(const char *function, const char *name, const char *phase)
{
	pgstat_report_activity(STATE_RUNNING, psprintf("%s %s: %s", function, name, phase));
}

/*
 * Where a run stands between steps: what its epochs so far reported and
 * the sums of the epoch under way. With the trainer's state it is what a
 * checkpoint holds.
 */
typedef struct RunProgress
{
	StringInfoData epochs_json;	/* the "epochs" entries so far */
	double		best;			/* the best eval accuracy so far, -1 if none */
	double		step_seconds;
	int64		samples;
	double		loss_sum;		/* of the epoch under way */
	double		score_sum;
	int			seen;
	float	   *best_params;	/* keep_best: the best epoch's weights and mask (malloc) */
	float	   *best_mask;
} RunProgress;

#define RUN_STATE_MAGIC 0x4e525156u /* "VQRN" */

/* The checkpoint's header; then the epochs' JSON, the best weights and mask, the trainer's state. */
typedef struct RunStateHeader
{
	uint32		magic;
	uint32		metrics_len;
	double		best;
	double		step_seconds;
	double		loss_sum;
	double		score_sum;
	int64		samples;
	int32		seen;
	int32		has_best_params;
	int32		has_best_mask;
	uint64		trainer_bytes;
} RunStateHeader;

/* Saves the run's whole state as the job's checkpoint, at `epochs_done` finished epochs. */
static void
CheckpointRun(const TrainingRun *run, const RunProgress *p, int epochs_done)
{
	VqaModel *model = run->model;
	Size		floats = sizeof(float) * model->n_params;
	RunStateHeader h = {
		.magic = RUN_STATE_MAGIC, .metrics_len = p->epochs_json.len, .best = p->best,
		.step_seconds = p->step_seconds, .loss_sum = p->loss_sum, .score_sum = p->score_sum,
		.samples = p->samples, .seen = p->seen, .has_best_params = p->best_params != NULL,
		.has_best_mask = p->best_mask != NULL, .trainer_bytes = vqa_trainer_state_bytes(run->trainer),
	};
	Size		bytes = sizeof(h) + h.metrics_len + (h.has_best_params + h.has_best_mask) * floats +
		h.trainer_bytes;
	char	   *state = palloc_extended(bytes, MCXT_ALLOC_HUGE);
	char	   *at = state;
	CheckpointInfo info = {
		.epoch = epochs_done, .step = vqa_trainer_step_count(run->trainer),
		.total_steps = vqa_trainer_total_steps(run->trainer), .model_id = run->model_id,
		.dataset_id = run->dataset_id,
	};

	ReportPhase(run->function, run->name, "checkpointing");
	memcpy(at, &h, sizeof(h));
	at += sizeof(h);
	memcpy(at, p->epochs_json.data, h.metrics_len);
	at += h.metrics_len;
	if (p->best_params)
	{
		memcpy(at, p->best_params, floats);
		at += floats;
	}
	if (p->best_mask)
	{
		memcpy(at, p->best_mask, floats);
		at += floats;
	}
	vqa_trainer_save_state(run->trainer, at);
	SaveCheckpoint(&info, state, bytes);
	pfree(state);
	MarkSegmentSuspended();
}

static void
CorruptCheckpoint(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the checkpoint of job " INT64_FORMAT " does not fit this run: %s",
					CheckpointJob(), why),
			 errhint("vqa_drop_checkpoint(" INT64_FORMAT ") removes it.", CheckpointJob())));
}

/* Restores the job's checkpoint into the trainer and p, if it has one; whether it had. */
static bool
RestoreRun(const TrainingRun *run, RunProgress *p)
{
	VqaModel *model = run->model;
	Size		floats = sizeof(float) * model->n_params;
	Size		bytes;
	char	   *state = LoadCheckpoint(&bytes);
	const char *at = state;
	RunStateHeader h;
	char		err[256];

	if (state == NULL)
		return false;
	if (bytes < sizeof(h))
		CorruptCheckpoint("it is truncated");
	memcpy(&h, at, sizeof(h));
	at += sizeof(h);
	if (h.magic != RUN_STATE_MAGIC || h.seen < 0 || h.samples < 0 ||
		h.has_best_params != (h.has_best_params != 0) || h.has_best_mask != (h.has_best_mask != 0) ||
		h.trainer_bytes != vqa_trainer_state_bytes(run->trainer) ||
		bytes != sizeof(h) + h.metrics_len + (h.has_best_params + h.has_best_mask) * floats +
		h.trainer_bytes)
		CorruptCheckpoint("its header does not match its size or this model");
	appendBinaryStringInfo(&p->epochs_json, at, h.metrics_len);
	at += h.metrics_len;
	p->best = h.best;
	p->step_seconds = h.step_seconds;
	p->samples = h.samples;
	p->loss_sum = h.loss_sum;
	p->score_sum = h.score_sum;
	p->seen = h.seen;
	if (h.has_best_params)
	{
		p->best_params = malloc(floats);
		if (p->best_params == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		memcpy(p->best_params, at, floats);
		at += floats;
	}
	if (h.has_best_mask)
	{
		p->best_mask = malloc(floats);
		if (p->best_mask == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		memcpy(p->best_mask, at, floats);
		at += floats;
	}
	if (vqa_trainer_load_state(run->trainer, at, h.trainer_bytes, err, sizeof(err)) != 0)
		CorruptCheckpoint(err);
	pfree(state);
	return true;
}

/* Stops the step loop with the reason of a failed step. */
static void
ReportFailedStep(int rc, VqaTrainer *trainer, int epoch)
{
	if (rc == VQA_STEP_READ_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not read the region features of training step %d (epoch %d) "
						"from their temporary file",
						vqa_trainer_step_count(trainer) + 1, epoch)));
	if (rc == VQA_STEP_OUT_OF_MEMORY)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Training step %d (epoch %d) could not allocate its buffers.",
						   vqa_trainer_step_count(trainer) + 1, epoch),
				 errhint("Lower batch_size; nothing was stored.")));
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the loss is not finite at step %d (epoch %d)",
					vqa_trainer_step_count(trainer) + 1, epoch),
			 errhint("Lower lr, or keep max_grad_norm; nothing was stored.")));
}

TrainingOutcome
RunTraining(const TrainingRun *run, StringInfo metrics)
{
	VqaModel *model = run->model;
	VqaTrainer *trainer = run->trainer;
	int			epochs = run->epochs;
	int			total = vqa_trainer_total_steps(trainer);
	int			per_epoch = vqa_trainer_steps_per_epoch(trainer);
	VqaBatchBuffers *volatile eval_buf = NULL;
	float	   *volatile eval_logits = NULL;
	RunProgress *p = palloc0(sizeof(RunProgress));
	volatile TrainingOutcome outcome = TRAINING_ENDED;

	p->best = -1.0;
	initStringInfo(&p->epochs_json);
	PG_TRY();
	{
		TimestampTz last_report = 0;
		TimestampTz segment_end;
		int		   *eval_next = NULL;

		if (run->eval)
		{
			RequireBatchFeatureMemory(run->eval, vqaprune_eval_batch_size, "vqaprune.eval_batch_size");
			eval_buf = vqa_batch_buffers_new(run->eval, vqaprune_eval_batch_size);
			eval_logits = malloc(sizeof(float) * vqaprune_eval_batch_size * model->config.num_qa_labels);
			eval_next = palloc(sizeof(int) * vqaprune_eval_batch_size);
			if (eval_buf == NULL || eval_logits == NULL)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
		if (CheckpointJob() != 0 && RestoreRun(run, p))
			ReportPhase(run->function, run->name, "resumed");
		segment_end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  (int64) (run->checkpoint_minutes * 60000.0));
		for (int epoch = vqa_trainer_step_count(trainer) / per_epoch + 1;
			 epoch <= epochs && outcome != TRAINING_SUSPENDED; epoch++)
		{
			double		eval_accuracy = -1.0;

			while (vqa_trainer_step_count(trainer) < epoch * per_epoch)
			{
				double		batch_loss,
							batch_score;
				int			count;
				TimestampTz step_start;
				int			rc;

				CHECK_FOR_INTERRUPTS();
				step_start = GetCurrentTimestamp();
				rc = vqa_trainer_step(trainer, &batch_loss, &batch_score, &count);
				p->step_seconds += (GetCurrentTimestamp() - step_start) / 1e6;
				if (rc != 1)
					ReportFailedStep(rc, trainer, epoch);
				p->loss_sum += batch_loss * count;
				p->score_sum += batch_score;
				p->seen += count;
				p->samples += count;
				if (GetCurrentTimestamp() - last_report > USECS_PER_SEC)
				{
					last_report = GetCurrentTimestamp();
					pgstat_report_activity(STATE_RUNNING,
										   psprintf("%s %s: training, epoch %d/%d, step %d/%d, loss %.4f, "
													"%.0f samples/s",
													run->function, run->name, epoch, epochs,
													vqa_trainer_step_count(trainer), total, batch_loss,
													p->samples / Max(p->step_seconds, 1e-9)));
				}
				/* a job's checkpoint interval has passed: save, and go on in a new transaction */
				if (CheckpointJob() != 0 && GetCurrentTimestamp() >= segment_end &&
					vqa_trainer_step_count(trainer) < epoch * per_epoch)
				{
					CheckpointRun(run, p, epoch - 1);
					outcome = TRAINING_SUSPENDED;
					break;
				}
			}
			if (outcome == TRAINING_SUSPENDED)
				break;
			if (run->eval)
			{
				if (vqa_trainer_finish_masks(trainer) != 0)
					ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
				eval_accuracy = EvalAccuracy(model, run->eval, eval_buf, eval_logits, eval_next);
			}
			appendStringInfo(&p->epochs_json, "%s{\"epoch\": %d, \"loss\": %.6f, \"train_accuracy\": %.4f",
							 p->epochs_json.len > 0 ? ", " : "", epoch, p->loss_sum / p->seen,
							 100.0 * p->score_sum / p->seen);
			if (run->eval)
				appendStringInfo(&p->epochs_json, ", \"eval_accuracy\": %.4f", eval_accuracy);
			appendStringInfoChar(&p->epochs_json, '}');
			if (vqaprune_verbose)
				ereport(NOTICE,
						(errmsg("epoch %d/%d: loss %.4f, train accuracy %.2f%s", epoch, epochs,
								p->loss_sum / p->seen, 100.0 * p->score_sum / p->seen,
								run->eval ? psprintf(", %s accuracy %.2f", run->eval_split, eval_accuracy) : "")));
			p->loss_sum = p->score_sum = 0.0;
			p->seen = 0;
			if (run->keep_best && run->eval && eval_accuracy > p->best)
			{
				p->best = eval_accuracy;
				if (p->best_params == NULL)
					p->best_params = malloc(sizeof(float) * model->n_params);
				if (p->best_params == NULL)
					ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
				memcpy(p->best_params, model->params, sizeof(float) * model->n_params);
				if (model->mask && p->best_mask == NULL)
					p->best_mask = malloc(sizeof(float) * model->n_params);
				if (model->mask && p->best_mask == NULL)
					ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
				if (model->mask)
					memcpy(p->best_mask, model->mask, sizeof(float) * model->n_params);
			}
			/* a job commits a checkpoint at every epoch's end but the last */
			if (CheckpointJob() != 0 && epoch < epochs)
			{
				CheckpointRun(run, p, epoch);
				outcome = TRAINING_SUSPENDED;
			}
		}
		if (outcome != TRAINING_SUSPENDED)
		{
			/* the run is over: its checkpoint goes with the model it stores */
			DropSegmentCheckpoint();
			/* the core's own training speed, to compare with the call's */
			appendStringInfo(metrics, "{\"epochs\": [%s], \"step_seconds\": %.3f, "
							 "\"samples_per_second\": %.1f", p->epochs_json.data, p->step_seconds,
							 p->samples / Max(p->step_seconds, 1e-9));
			if (p->best_params)
			{
				memcpy(model->params, p->best_params, sizeof(float) * model->n_params);
				if (p->best_mask)
					memcpy(model->mask, p->best_mask, sizeof(float) * model->n_params);
				vqa_model_refresh_mask(model);
				appendStringInfo(metrics, ", \"best_eval_accuracy\": %.4f", p->best);
				outcome = TRAINING_ENDED_AT_BEST;
			}
		}
	}
	PG_FINALLY();
	{
		vqa_batch_buffers_free(eval_buf);
		free(eval_logits);
		free(p->best_params);
		free(p->best_mask);
	}
	PG_END_TRY();
	return outcome;
}

int64
StoreTrainedModel(const VqaModel *model, StoredModelInfo *info, const char *metrics_json)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(info->parent_id)};
	bool		isnull;
	int64		new_id;

	/* the vocabularies are the source model's */
	if (SpiRun("SELECT tokenizer_vocab, answer_vocab FROM vqaprune.models "
			   "WHERE model_id = $1", SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
		elog(ERROR, "model " INT64_FORMAT " disappeared", info->parent_id);
	info->tokenizer_vocab = SpiText(0, 1);
	info->answer_vocab = SpiValue(0, 2, &isnull);
	if (isnull)
		info->answer_vocab = (Datum) 0;
	new_id = StoreModel(model, info);
	{
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		args[2] = {Int64GetDatum(new_id), CStringGetTextDatum(metrics_json)};

		(void) SpiRun("UPDATE vqaprune.models SET metrics = $2::jsonb WHERE model_id = $1",
					  SPI_OK_UPDATE, 2, types, args, NULL, false, 0);
	}
	return new_id;
}
