/*
 * train.c: the fine-tuning step.
 *
 * A step: gather the next mini-batch of the epoch's shuffled order, forward
 * with dropout, the loss and its gradients (of the logits, and for LMH of the
 * pooled output and of the gate and smoothing parameters), backward, clip
 * everything to max_grad_norm together, then an Adam or AdamW update at the
 * scheduled learning rate. LMH's gate w . h + b and smoothing s, and PoE's
 * smoothing, are trained with the model unless fixed_loss_params keeps
 * them at their initial values, as the paper's code does (its optimizer
 * leaves them out); they belong to the training run, not to the model,
 * since only the main logits are used at evaluation. So does the
 * question-only branch of the original RUBi and LPF (rubi_qo, lpf_qo), which
 * reads the language stream's [CLS] output after the language layers, with
 * no gradient back into them.
 *
 * Mask training (Stage 2) is the same step with other trained values: the
 * gradients of the prunable weights become straight-through score
 * gradients, the other weights are frozen except the answer head, and
 * AdamW moves the scores and the head. The mask then follows the scores.
 */
#include "vqaprune/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/optimizer.h"
#include "vqaprune/sparse.h"

#define BETA1 0.9f
#define BETA2 0.999f
#define ADAM_EPS 1e-8f

/*
 * The losses' own parameters, or gradients of them: LMH's gate
 * w . pooled + b and smoothing logit, PoE's smoothing logit. In a state and
 * in their moments they are one vector: gate_w, gate_b, lmh_smooth,
 * poe_smooth.
 */
typedef struct LossParams
{
	float	   *gate_w;			/* H */
	float		gate_b;
	float		lmh_smooth;
	float		poe_smooth;
} LossParams;

#define LOSS_PARAM_PARTS 4

struct VqaTrainer
{
	VqaModel *model;
	const VqaExamples *train;
	VqaTrainConfig config;
	VqaBatchBuffers *buf;
	float	   *logits,
			   *dlogits,
			   *dhidden;
	/* the loss's own parameters: LMH gate (H), gate bias, LMH smoothing, PoE smoothing */
	size_t		n_loss_params;	/* H + 3 */
	LossParams	loss_params,
				loss_grad,		/* of the step, summed over its micro-batches */
				loss_chunk_grad;	/* of one micro-batch */
	VqaQoBranch *qo;			/* rubi_qo, lpf_qo */
	float	   *q_emb;			/* B x H */
	/*
	 * The optimizer's state: the moments of what the step trains in the
	 * model's layout (the weights; in mask training the scores on theta_pr
	 * and the head's weights), of the loss's parameters and of the branch.
	 */
	VqaAdam    *adam;
	VqaAdam    *loss_adam;
	VqaAdam    *qo_adam;
	VqaParamRange *mask_ranges; /* mask training: the scores on theta_pr, the head's weights */
	int			n_mask_ranges;
	/*
	 * Stage 3 on sparse weights: per tensor, its dense weights or its
	 * sparse form's kept values, and their gradients; the moments follow
	 * in that order, so only kept weights have any.
	 */
	VqaParamRange *weight_ranges;
	int			n_weight_ranges;
	int		   *order;
	int		   *bucket_scratch;	/* with length_buckets */
	int			position;		/* in order */
	int			steps;
	int			steps_per_epoch;
	int			micro_batch;	/* examples per forward and backward pass */
	VqaRng		rng;
};

/* The parts of p in their vector order (LossParams), and their lengths. */
static void
loss_param_parts(LossParams *p, int H, float **parts, size_t *lengths)
{
	parts[0] = p->gate_w;
	lengths[0] = (size_t) H;
	parts[1] = &p->gate_b;
	parts[2] = &p->lmh_smooth;
	parts[3] = &p->poe_smooth;
	lengths[1] = lengths[2] = lengths[3] = 1;
}

static void
loss_params_zero(LossParams *p, int H)
{
	memset(p->gate_w, 0, sizeof(float) * H);
	p->gate_b = p->lmh_smooth = p->poe_smooth = 0.0f;
}

/* sum += scale * add, part by part */
static void
loss_params_add_scaled(LossParams *sum, LossParams *add, float scale, int H)
{
	float	   *s[LOSS_PARAM_PARTS],
			   *a[LOSS_PARAM_PARTS];
	size_t		n[LOSS_PARAM_PARTS];

	loss_param_parts(sum, H, s, n);
	loss_param_parts(add, H, a, n);
	for (int k = 0; k < LOSS_PARAM_PARTS; k++)
		for (size_t i = 0; i < n[k]; i++)
			s[k][i] += scale * a[k][i];
}

static void
loss_params_scale(LossParams *p, float scale, int H)
{
	float	   *parts[LOSS_PARAM_PARTS];
	size_t		n[LOSS_PARAM_PARTS];

	loss_param_parts(p, H, parts, n);
	for (int k = 0; k < LOSS_PARAM_PARTS; k++)
		for (size_t i = 0; i < n[k]; i++)
			parts[k][i] *= scale;
}

static double
loss_params_sum_squares(LossParams *p, int H)
{
	float	   *parts[LOSS_PARAM_PARTS];
	size_t		n[LOSS_PARAM_PARTS];
	double		sum = 0.0;

	loss_param_parts(p, H, parts, n);
	for (int k = 0; k < LOSS_PARAM_PARTS; k++)
		for (size_t i = 0; i < n[k]; i++)
			sum += (double) parts[k][i] * parts[k][i];
	return sum;
}

/* An Adam step of the loss's parameters from their gradients. */
static void
loss_params_adam_step(VqaAdam *adam, LossParams *p, LossParams *grad, int H,
					  const VqaAdamConfig *c, int step)
{
	float	   *parts[LOSS_PARAM_PARTS],
			   *grads[LOSS_PARAM_PARTS];
	size_t		n[LOSS_PARAM_PARTS];
	VqaParamRange ranges[LOSS_PARAM_PARTS];
	size_t		offset = 0;

	loss_param_parts(p, H, parts, n);
	loss_param_parts(grad, H, grads, n);
	for (int k = 0; k < LOSS_PARAM_PARTS; k++)
	{
		ranges[k] = (VqaParamRange) {parts[k], grads[k], offset, n[k]};
		offset += n[k];
	}
	vqa_adam_step_ranges(adam, ranges, LOSS_PARAM_PARTS, c, step);
}

/* The next epoch's order: the last one shuffled, and bucketed by length if asked. */
static void
epoch_order(VqaTrainer *t)
{
	vqa_rng_shuffle_int(&t->rng, t->order, t->train->n);
	if (t->config.length_buckets > 0)
		vqa_examples_bucket_order(t->train, t->order, t->config.batch_size,
								  t->config.length_buckets, &t->rng, t->bucket_scratch);
}

/*
 * Stage 3 on sparse weights: the model's sparse enough prunable matrices
 * made trainable sparse forms (from the masked weights), and the weight
 * ranges and moments over what remains to train.
 */
static int
sparse_weight_ranges(VqaTrainer *t, double max_density)
{
	VqaModel *model = t->model;
	size_t		moments = 0;

	for (size_t i = 0; i < model->n_params; i++)
		model->params[i] *= model->mask[i];
	vqa_model_refresh_mask(model);
	/* the ranges point into the gradients: made now */
	if (vqa_model_zero_grad(model) != 0 || vqa_model_train_sparse(model, max_density) != 0)
		return -1;
	t->weight_ranges = malloc(sizeof(VqaParamRange) * model->n_tensors);
	if (t->weight_ranges == NULL)
	{
		vqa_model_drop_sparse(model);
		return -1;
	}
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *tensor = &model->tensors[i];
		VqaParamRange *r = &t->weight_ranges[t->n_weight_ranges++];
		VqaCsr	   *csr = model->sparse[i];

		r->params = csr ? csr->val : model->params + tensor->offset;
		r->grads = csr ? csr->grad : model->grads + tensor->offset;
		r->offset = moments;
		r->n = csr ? csr->nnz : tensor->numel;
		moments += r->n;
	}
	t->adam = vqa_adam_new(moments);
	return t->adam ? 0 : -1;
}

/* The sparse forms' gradients: zeroed, their sum of squares, scaled */
static void
sparse_grads_zero(VqaModel *model)
{
	for (int i = 0; model->sparse_training && i < model->n_tensors; i++)
		if (model->sparse[i])
			memset(model->sparse[i]->grad, 0, sizeof(float) * model->sparse[i]->nnz);
}

static double
sparse_grad_sum_squares(const VqaModel *model)
{
	double		sum = 0.0;

	for (int i = 0; model->sparse_training && i < model->n_tensors; i++)
		for (size_t k = 0; model->sparse[i] && k < model->sparse[i]->nnz; k++)
			sum += (double) model->sparse[i]->grad[k] * model->sparse[i]->grad[k];
	return sum;
}

static void
sparse_grads_scale(VqaModel *model, float scale)
{
	for (int i = 0; model->sparse_training && i < model->n_tensors; i++)
		for (size_t k = 0; model->sparse[i] && k < model->sparse[i]->nnz; k++)
			model->sparse[i]->grad[k] *= scale;
}

VqaTrainer *
vqa_trainer_new(VqaModel *model, const VqaExamples *train, const VqaTrainConfig *config,
				char *errbuf, size_t errlen)
{
	VqaTrainer *t;
	int			H = model->config.hidden_size;
	int			A = model->config.num_qa_labels;
	int			B = config->micro_batch_size > 0 ? config->micro_batch_size : config->batch_size;

	if (config->epochs < 1 || config->batch_size < 1 || !(config->lr > 0) ||
		config->warmup_steps < 0 || !(config->weight_decay >= 0) || config->length_buckets < 0)
	{
		snprintf(errbuf, errlen, "epochs, batch_size and lr must be positive, "
				 "warmup, weight_decay and length_buckets not negative");
		return NULL;
	}
	if (config->micro_batch_size < 0 || config->batch_size % B != 0 ||
		(config->question_only && B != config->batch_size))
	{
		snprintf(errbuf, errlen, config->question_only
				 ? "micro_batch_size is not available with a question-only branch"
				 : "micro_batch_size %d does not divide batch_size %d",
				 config->micro_batch_size, config->batch_size);
		return NULL;
	}
	if (train->n < 1 || train->answers != A ||
		train->seq_len > model->config.max_position_embeddings)
	{
		snprintf(errbuf, errlen, "the training examples do not fit the model");
		return NULL;
	}
	t = calloc(1, sizeof(VqaTrainer));
	if (t == NULL)
		goto oom;
	t->model = model;
	model->forward_only = 0;	/* an evaluated model trains: keep what backward needs */
	t->train = train;
	t->config = *config;
	t->buf = vqa_batch_buffers_new(train, B);
	t->logits = malloc(sizeof(float) * B * A);
	t->dlogits = malloc(sizeof(float) * B * A);
	t->dhidden = malloc(sizeof(float) * B * H);
	t->n_loss_params = (size_t) H + 3;
	t->loss_params.gate_w = calloc(H, sizeof(float));
	t->loss_grad.gate_w = calloc(H, sizeof(float));
	t->loss_chunk_grad.gate_w = calloc(H, sizeof(float));
	t->micro_batch = B;
	if (model->mask && !config->masker && config->sparse_density > 0)
	{
		if (sparse_weight_ranges(t, config->sparse_density) != 0)
			goto oom;
	}
	else
		t->adam = vqa_adam_new(model->n_params);
	t->loss_adam = vqa_adam_new(t->n_loss_params);
	t->order = malloc(sizeof(int) * train->n);
	if (config->length_buckets > 0)
		t->bucket_scratch = malloc(sizeof(int) * VQA_BUCKET_SCRATCH(train));
	if ((config->length_buckets > 0 && !t->bucket_scratch) || !t->buf || !t->logits ||
		!t->dlogits || !t->dhidden || !t->loss_params.gate_w ||
		!t->loss_grad.gate_w || !t->loss_chunk_grad.gate_w || !t->adam || !t->loss_adam || !t->order)
		goto oom;
	vqa_rng_seed(&t->rng, config->seed);
	/* the LMH gate as nn.Linear(H, 1) initialises it; smoothing logits at -1 */
	for (int i = 0; i < H; i++)
		t->loss_params.gate_w[i] = (float) ((2.0 * vqa_rng_uniform(&t->rng) - 1.0) / sqrt((double) H));
	t->loss_params.gate_b = (float) ((2.0 * vqa_rng_uniform(&t->rng) - 1.0) / sqrt((double) H));
	t->loss_params.lmh_smooth = -1.0f;
	t->loss_params.poe_smooth = config->loss_options.poe_smooth;
	if (config->question_only)
	{
		if (model->config.l_layers < 1)
		{
			snprintf(errbuf, errlen, "the question-only branch reads LXMERT's language-only layers: "
					 "the model has none");
			vqa_trainer_free(t);
			return NULL;
		}
		t->qo = vqa_qo_new(H, H, A, config->seed);
		t->q_emb = malloc(sizeof(float) * B * H);
		if (t->qo == NULL || t->q_emb == NULL)
			goto oom;
		t->qo_adam = vqa_adam_new(t->qo->n_params);
		if (t->qo_adam == NULL)
			goto oom;
	}
	/* batches padded to their longest question fit in the arena of the longest */
	if (vqa_model_reserve(model, B, train->seq_len, train->num_boxes) != 0)
		goto oom;
	for (int i = 0; i < train->n; i++)
		t->order[i] = i;
	epoch_order(t);
	t->steps_per_epoch = (train->n + config->batch_size - 1) / config->batch_size;
	model->dropout_seed = config->seed;
	model->dropout_step = 0;
	if (config->masker)
	{
		float	   *mask = malloc(sizeof(float) * model->n_params);

		t->mask_ranges = malloc(sizeof(VqaParamRange) * model->n_tensors);
		/* the ranges point into the gradients: made now */
		if (mask == NULL || t->mask_ranges == NULL || vqa_model_zero_grad(model) != 0)
		{
			free(mask);
			goto oom;
		}
		for (int i = 0; i < model->n_tensors; i++)
		{
			const VqaTensor *tensor = &model->tensors[i];
			VqaParamRange *r = &t->mask_ranges[t->n_mask_ranges];

			if (!tensor->prunable && tensor->module != LXMERT_HEAD)
				continue;
			r->params = (tensor->prunable ? config->masker->scores : model->params) + tensor->offset;
			r->grads = model->grads + tensor->offset;
			r->offset = tensor->offset;
			r->n = tensor->numel;
			t->n_mask_ranges++;
		}
		for (size_t i = 0; i < model->n_params; i++)
			mask[i] = 1.0f;
		vqa_masker_apply(config->masker, mask);
		if (vqa_model_set_mask(model, mask) != 0)
		{
			free(mask);
			goto oom;
		}
		free(mask);
	}
	/* a pruned model (Stage 3): pruned weights are zero and stay zero */
	else if (model->mask && !t->weight_ranges)
	{
		for (size_t i = 0; i < model->n_params; i++)
			model->params[i] *= model->mask[i];
		vqa_model_refresh_mask(model);
	}
	return t;

oom:
	snprintf(errbuf, errlen, "out of memory for training");
	vqa_trainer_free(t);
	return NULL;
}

int
vqa_trainer_steps_per_epoch(const VqaTrainer *t)
{
	return t->steps_per_epoch;
}

int
vqa_trainer_total_steps(const VqaTrainer *t)
{
	return t->steps_per_epoch * t->config.epochs;
}

int
vqa_trainer_step_count(const VqaTrainer *t)
{
	return t->steps;
}

float
vqa_trainer_lr(const VqaTrainer *t)
{
	int			warmup = t->config.warmup_steps;
	int			total = vqa_trainer_total_steps(t);

	if (t->steps < warmup)
		return t->config.lr * (float) t->steps / (float) warmup;
	if (total <= warmup)
		return 0.0f;
	return t->config.lr * fmaxf(0.0f, (float) (total - t->steps) / (float) (total - warmup));
}

/*
 * Mask training's gradients: straight-through score gradients on theta_pr,
 * the head's own, none for the frozen rest.
 */
static void
mask_training_grads(VqaModel *model)
{
	vqa_model_score_grad(model);
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (!t->prunable && t->module != LXMERT_HEAD)
			memset(model->grads + t->offset, 0, sizeof(float) * t->numel);
	}
}

/* Adam or AdamW as the config asks, at learning rate lr; weight decay 0: none. */
static VqaAdamConfig
adam_config(const VqaTrainer *t, float lr, float weight_decay)
{
	VqaAdamConfig c = {lr, BETA1, BETA2, ADAM_EPS, weight_decay, t->config.adamw};

	return c;
}

static void
mask_training_update(VqaTrainer *t, float lr)
{
	VqaModel *model = t->model;
	VqaAdamConfig c = adam_config(t, lr, t->config.weight_decay);

	vqa_adam_step_ranges(t->adam, t->mask_ranges, t->n_mask_ranges, &c, t->steps);
	/* between resets the thresholds hold, and sparsity may drift */
	if (t->config.reset_steps > 0 && t->steps % t->config.reset_steps == 0)
		vqa_masker_reset(t->config.masker, model->mask);
	else
		vqa_masker_apply(t->config.masker, model->mask);
	vqa_model_refresh_mask(model);
}

int
vqa_trainer_finish_masks(VqaTrainer *t)
{
	if (t->config.masker == NULL)
		return 0;
	if (vqa_masker_reset(t->config.masker, t->model->mask) != 0)
		return VQA_STEP_OUT_OF_MEMORY;
	vqa_model_refresh_mask(t->model);
	return 0;
}

/*
 * One micro-batch: examples order[position + from ..][0 .. count) of a step
 * of `total` examples. Its loss and the gradients of the model and of the
 * loss's own parameters are added in, weighted count / total, so that the
 * micro-batches of a step sum to the full batch's mean loss (and, with
 * bce_mean, divided by the answers). Dropout masks differ from one full
 * pass's: they are drawn per forward pass.
 */
static int
accumulate_chunk(VqaTrainer *t, int from, int count, int total, double *loss, double *score)
{
	VqaModel *model = t->model;
	const VqaExamples *ex = t->train;
	int			H = model->config.hidden_size;
	int			A = model->config.num_qa_labels;
	float		scale = (float) count / total * (t->config.bce_mean ? 1.0f / A : 1.0f);
	VqaBatch batch;
	VqaLossInput in;
	VqaLossGrad grad;
	VqaLmhParams lmh;
	VqaLossOptions options = t->config.loss_options;
	double		chunk_loss;

	if (vqa_examples_batch(ex, t->order + t->position + from, count, t->buf, &batch) != 0)
		return VQA_STEP_READ_FAILED;
	model->training = 1;
	if (vqa_model_forward(model, &batch, t->logits, NULL, NULL) != 0)
		return VQA_STEP_OUT_OF_MEMORY;

	in.batch = count;
	in.answers = A;
	in.hidden_size = H;
	in.logits = t->logits;
	in.targets = t->buf->targets;
	in.prior = t->buf->prior;
	in.max_label = t->buf->max_label;
	in.hidden = vqa_model_pooled(model);
	lmh.hidden_size = H;
	lmh.gate_w = t->loss_params.gate_w;
	lmh.gate_b = t->loss_params.gate_b;
	lmh.smooth = t->loss_params.lmh_smooth;
	options.poe_smooth = t->loss_params.poe_smooth;
	loss_params_zero(&t->loss_chunk_grad, H);
	grad.logits = t->dlogits;
	grad.hidden = !t->qo && vqa_loss_needs_lmh(t->config.loss) ? t->dhidden : NULL;
	grad.gate_w = t->loss_chunk_grad.gate_w;
	grad.gate_b = &t->loss_chunk_grad.gate_b;
	grad.smooth = t->config.loss == VQA_LOSS_POE
		? &t->loss_chunk_grad.poe_smooth : &t->loss_chunk_grad.lmh_smooth;
	if (t->qo)
	{
		const float *lang = lxmert_language_state(model, model->config.l_layers - 1);

		for (int b = 0; b < count; b++)
			memcpy(t->q_emb + (size_t) b * H, lang + (size_t) b * batch.seq_len * H, sizeof(float) * H);
		/* one chunk per step (vqa_trainer_new): the branch's gradients are the step's */
		memset(t->qo->grads, 0, sizeof(float) * t->qo->n_params);
		chunk_loss = vqa_qo_loss(t->qo, t->config.qo_kind, options.lpf_gamma, 1.0f, count,
								 t->logits, t->q_emb, t->buf->max_label, t->dlogits);
		for (size_t i = 0; scale != 1.0f && i < (size_t) count * A; i++)
			t->dlogits[i] *= scale;
		for (size_t i = 0; scale != 1.0f && i < t->qo->n_params; i++)
			t->qo->grads[i] *= scale;
	}
	else
	{
		chunk_loss = vqa_loss(t->config.loss, &options, &in, &lmh, &grad);
		for (size_t i = 0; scale != 1.0f && i < (size_t) count * A; i++)
			t->dlogits[i] *= scale;
		for (size_t i = 0; scale != 1.0f && grad.hidden && i < (size_t) count * H; i++)
			grad.hidden[i] *= scale;
	}
	if (!isfinite(chunk_loss))
		return VQA_STEP_NOT_FINITE;
	*loss += chunk_loss * scale;
	loss_params_add_scaled(&t->loss_grad, &t->loss_chunk_grad, scale, H);
	for (int b = 0; b < count; b++)
		*score += t->buf->targets[(size_t) b * A + vqa_argmax(t->logits + (size_t) b * A, A)];
	if (vqa_model_backward(model, t->dlogits, grad.hidden) != 0)
		return VQA_STEP_OUT_OF_MEMORY;
	return 1;
}

int
vqa_trainer_step(VqaTrainer *t, double *loss, double *score, int *examples)
{
	VqaModel *model = t->model;
	const VqaExamples *ex = t->train;
	int			count = ex->n - t->position < t->config.batch_size
		? ex->n - t->position : t->config.batch_size;
	int			micro = t->micro_batch;
	float		lr = vqa_trainer_lr(t);
	double		norm;

	*loss = 0.0;
	*score = 0.0;
	*examples = count;
	if (vqa_model_zero_grad(model) != 0)
		return VQA_STEP_OUT_OF_MEMORY;
	sparse_grads_zero(model);
	loss_params_zero(&t->loss_grad, model->config.hidden_size);
	/*
	 * Features not in memory: this batch's reads (asked for by the previous
	 * step, except in an epoch's first) and the next batch's proceed while
	 * this one computes.
	 */
	if (t->position == 0)
		vqa_examples_prefetch(ex, t->order, count);
	vqa_examples_prefetch(ex, t->order + t->position + count,
						  ex->n - t->position - count < t->config.batch_size
						  ? ex->n - t->position - count : t->config.batch_size);
	for (int from = 0; from < count; from += micro)
	{
		int			rc = accumulate_chunk(t, from, count - from < micro ? count - from : micro,
										  count, loss, score);

		if (rc != 1)
			return rc;
	}
	if (t->config.masker)
		mask_training_grads(model);
	/*
	 * Stage 3: pruned weights get no gradient, so Adam leaves them at
	 * exactly zero and they count for nothing in the clipping norm (as with
	 * W * M in the forward pass, and as in the sparse form).
	 */
	else
		vqa_model_mask_grads(model);

	/* clip the model's and the loss's gradients together */
	norm = vqa_model_grad_norm(model);
	{
		double		sum = t->config.fixed_loss_params
			? 0.0 : loss_params_sum_squares(&t->loss_grad, model->config.hidden_size);

		sum += sparse_grad_sum_squares(model);

		for (size_t i = 0; t->qo && i < t->qo->n_params; i++)
			sum += (double) t->qo->grads[i] * t->qo->grads[i];
		norm = sqrt(norm * norm + sum);
	}
	if (t->config.max_grad_norm > 0 && norm > t->config.max_grad_norm)
	{
		float		scale = (float) (t->config.max_grad_norm / (norm + 1e-6));

		vqa_model_scale_grads(model, scale);
		sparse_grads_scale(model, scale);
		loss_params_scale(&t->loss_grad, scale, model->config.hidden_size);
		for (size_t i = 0; t->qo && i < t->qo->n_params; i++)
			t->qo->grads[i] *= scale;
	}
	t->steps++;
	if (t->config.masker)
		mask_training_update(t, lr);
	else
	{
		VqaAdamConfig c = adam_config(t, lr, t->config.weight_decay);

		if (t->weight_ranges)
		{
			vqa_adam_step_ranges(t->adam, t->weight_ranges, t->n_weight_ranges, &c, t->steps);
			vqa_model_sparse_to_params(model);
		}
		else
		{
			vqa_adam_step(t->adam, model->params, model->grads, &c, t->steps);
			vqa_model_refresh_mask(model);
		}
	}
	/* the loss's parameters and the branch: no weight decay */
	{
		VqaAdamConfig c = adam_config(t, lr, 0.0f);

		if (!t->config.fixed_loss_params)
			loss_params_adam_step(t->loss_adam, &t->loss_params, &t->loss_grad,
								  model->config.hidden_size, &c, t->steps);
		if (t->qo)
			vqa_adam_step(t->qo_adam, t->qo->params, t->qo->grads, &c, t->steps);
	}

	t->position += count;
	if (t->position >= ex->n)
	{
		t->position = 0;
		epoch_order(t);
	}
	return 1;
}

#define STATE_MAGIC 0x53545156u	/* "VQTS" */
#define STATE_VERSION 2u

/* What a state holds and how large each part is: checked before anything is read. */
typedef struct TrainerStateHeader
{
	uint32_t	magic;
	uint32_t	version;
	uint64_t	n_params;
	uint64_t	n_loss_params;
	uint64_t	n_qo;
	int32_t		n_examples;
	int32_t		n_tensors;
	int32_t		has_mask;
	int32_t		has_masker;
	int32_t		steps;
	int32_t		position;
	uint64_t	dropout_seed;
	uint64_t	dropout_step;
	VqaRng		rng;
} TrainerStateHeader;

static void
header_of(const VqaTrainer *t, TrainerStateHeader *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = STATE_MAGIC;
	h->version = STATE_VERSION;
	h->n_params = t->model->n_params;
	h->n_loss_params = t->n_loss_params;
	h->n_qo = t->qo ? t->qo->n_params : 0;
	h->n_examples = t->train->n;
	h->n_tensors = t->model->n_tensors;
	h->has_mask = t->model->mask != NULL;
	h->has_masker = t->config.masker != NULL;
	h->steps = t->steps;
	h->position = t->position;
	h->dropout_seed = t->model->dropout_seed;
	h->dropout_step = t->model->dropout_step;
	h->rng = t->rng;
}

/* The float arrays of a state, in order, and their lengths. */
static int
state_arrays(const VqaTrainer *t, float **arrays, size_t *lengths)
{
	VqaModel *m = t->model;
	int			k = 0;

	arrays[k] = m->params;
	lengths[k++] = m->n_params;
	/* Stage 3 on sparse weights: the kept weights' moments only */
	arrays[k] = t->adam->m;
	lengths[k++] = t->adam->n;
	arrays[k] = t->adam->v;
	lengths[k++] = t->adam->n;
	if (m->mask)
	{
		arrays[k] = m->mask;
		lengths[k++] = m->n_params;
	}
	/* written through by vqa_trainer_load_state only, whose trainer is not const */
	loss_param_parts((LossParams *) &t->loss_params, m->config.hidden_size, arrays + k, lengths + k);
	k += LOSS_PARAM_PARTS;
	arrays[k] = t->loss_adam->m;
	lengths[k++] = t->n_loss_params;
	arrays[k] = t->loss_adam->v;
	lengths[k++] = t->n_loss_params;
	if (t->qo)
	{
		arrays[k] = t->qo->params;
		lengths[k++] = t->qo->n_params;
		arrays[k] = t->qo_adam->m;
		lengths[k++] = t->qo->n_params;
		arrays[k] = t->qo_adam->v;
		lengths[k++] = t->qo->n_params;
	}
	if (t->config.masker)
	{
		arrays[k] = t->config.masker->scores;
		lengths[k++] = m->n_params;
		arrays[k] = t->config.masker->thresholds;
		lengths[k++] = (size_t) m->n_tensors;
	}
	return k;
}

#define MAX_STATE_ARRAYS 15

size_t
vqa_trainer_state_bytes(const VqaTrainer *t)
{
	float	   *arrays[MAX_STATE_ARRAYS];
	size_t		lengths[MAX_STATE_ARRAYS];
	size_t		bytes = sizeof(TrainerStateHeader) + sizeof(int) * (size_t) t->train->n;
	int			k = state_arrays(t, arrays, lengths);

	for (int i = 0; i < k; i++)
		bytes += sizeof(float) * lengths[i];
	return bytes;
}

void
vqa_trainer_save_state(const VqaTrainer *t, void *out)
{
	float	   *arrays[MAX_STATE_ARRAYS];
	size_t		lengths[MAX_STATE_ARRAYS];
	int			k = state_arrays(t, arrays, lengths);
	char	   *p = out;
	TrainerStateHeader h;

	header_of(t, &h);
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	memcpy(p, t->order, sizeof(int) * (size_t) t->train->n);
	p += sizeof(int) * (size_t) t->train->n;
	for (int i = 0; i < k; i++)
	{
		memcpy(p, arrays[i], sizeof(float) * lengths[i]);
		p += sizeof(float) * lengths[i];
	}
}

int
vqa_trainer_load_state(VqaTrainer *t, const void *in, size_t bytes, char *errbuf, size_t errlen)
{
	VqaModel *m = t->model;
	float	   *arrays[MAX_STATE_ARRAYS];
	size_t		lengths[MAX_STATE_ARRAYS];
	TrainerStateHeader h,
				mine;
	const char *p = in;
	const int  *order;
	char	   *seen;
	int			k;

	if (bytes < sizeof(h))
	{
		snprintf(errbuf, errlen, "the training state is truncated");
		return -1;
	}
	memcpy(&h, p, sizeof(h));
	header_of(t, &mine);
	if (h.magic != STATE_MAGIC || h.version != STATE_VERSION)
	{
		snprintf(errbuf, errlen, "the bytes are not a training state of this version");
		return -1;
	}
	if (h.n_params != mine.n_params || h.n_loss_params != mine.n_loss_params || h.n_qo != mine.n_qo ||
		h.n_examples != mine.n_examples || h.n_tensors != mine.n_tensors ||
		h.has_mask != mine.has_mask || h.has_masker != mine.has_masker ||
		bytes != vqa_trainer_state_bytes(t))
	{
		snprintf(errbuf, errlen, "the training state is of another model, data or method");
		return -1;
	}
	if (h.steps < 0 || h.position < 0 || h.position >= h.n_examples)
	{
		snprintf(errbuf, errlen, "the training state's step %d or position %d is out of range",
				 h.steps, h.position);
		return -1;
	}
	order = (const int *) (p + sizeof(h));
	seen = calloc((size_t) h.n_examples, 1);
	if (seen == NULL)
	{
		snprintf(errbuf, errlen, "out of memory for training");
		return -1;
	}
	for (int i = 0; i < h.n_examples; i++)
	{
		int			e;

		memcpy(&e, order + i, sizeof(int));
		if (e < 0 || e >= h.n_examples || seen[e]++)
		{
			free(seen);
			snprintf(errbuf, errlen, "the training state's data order is not a permutation");
			return -1;
		}
	}
	free(seen);
	memcpy(t->order, order, sizeof(int) * (size_t) h.n_examples);
	p += sizeof(h) + sizeof(int) * (size_t) h.n_examples;
	k = state_arrays(t, arrays, lengths);
	for (int i = 0; i < k; i++)
	{
		memcpy(arrays[i], p, sizeof(float) * lengths[i]);
		p += sizeof(float) * lengths[i];
	}
	t->steps = h.steps;
	t->position = h.position;
	t->rng = h.rng;
	m->dropout_seed = h.dropout_seed;
	m->dropout_step = h.dropout_step;
	vqa_model_refresh_mask(m);
	vqa_model_params_to_sparse(m);
	return 0;
}

void
vqa_trainer_free(VqaTrainer *t)
{
	if (t == NULL)
		return;
	vqa_batch_buffers_free(t->buf);
	free(t->logits);
	free(t->dlogits);
	free(t->dhidden);
	free(t->loss_params.gate_w);
	free(t->loss_grad.gate_w);
	free(t->loss_chunk_grad.gate_w);
	vqa_adam_free(t->adam);
	vqa_adam_free(t->loss_adam);
	vqa_qo_free(t->qo);
	vqa_adam_free(t->qo_adam);
	free(t->mask_ranges);
	/* the model keeps its trained weights, dense */
	if (t->weight_ranges)
	{
		vqa_model_drop_sparse(t->model);
	}
	free(t->weight_ranges);
	free(t->q_emb);
	free(t->order);
	free(t->bucket_scratch);
	free(t);
}

double
vqa_soft_score(VqaModel *model, const VqaExamples *ex, int start, int count,
			   VqaBatchBuffers *buf, float *logits)
{
	int			A = model->config.num_qa_labels;
	int		   *idx = calloc(count > 0 ? count : 1, sizeof(int));
	VqaBatch batch;
	double		score = 0.0;
	int			gathered;

	if (idx == NULL)
		return NAN;
	for (int b = 0; b < count; b++)
		idx[b] = start + b;
	gathered = vqa_examples_batch(ex, idx, count, buf, &batch);
	free(idx);
	model->training = 0;
	if (gathered != 0 || vqa_model_forward(model, &batch, logits, NULL, NULL) != 0)
		return NAN;
	for (int b = 0; b < count; b++)
		score += buf->targets[(size_t) b * A + vqa_argmax(logits + (size_t) b * A, A)];
	return score;
}
