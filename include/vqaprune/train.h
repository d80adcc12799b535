/*
 * train.h: fine-tuning LXMERT on a split held in memory (examples.h) with
 * any of the debiasing losses (losses.h): shuffled mini-batches, Adam or
 * AdamW, linear warm-up then linear decay to 0 (HuggingFace's
 * get_linear_schedule_with_warmup), gradient clipping by global norm. The
 * caller drives it one step at a time, so it can report progress and stop
 * between steps.
 */
#ifndef VQAPRUNE_TRAIN_H
#define VQAPRUNE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "vqaprune/examples.h"
#include "vqaprune/losses.h"
#include "vqaprune/lxmert.h"
#include "vqaprune/prune.h"
#include "vqaprune/qo_branch.h"
#include "vqaprune/rng.h"

typedef struct VqaTrainConfig
{
	int			epochs;
	int			batch_size;
	float		lr;
	int			adamw;			/* 0: Adam (L2 weight decay), 1: AdamW (decoupled) */
	float		weight_decay;
	int			warmup_steps;
	float		max_grad_norm;	/* <= 0: no clipping */
	uint64_t	seed;
	VqaLossKind loss;
	VqaLossOptions loss_options;
	int			question_only;	/* 1: the original RUBi / LPF with a learned question-only branch */
	VqaQoKind	qo_kind;		/* then loss is ignored */
	/*
	 * Mask training (Stage 2) when set: the weights stay frozen; the
	 * masker's scores (straight-through) and the answer head are trained,
	 * and the mask follows the scores, with a threshold reset every
	 * reset_steps steps (0: never).
	 */
	VqaMasker  *masker;
	int			reset_steps;
	/*
	 * 0: the loss as LXMERT and the paper authors scale it, BCE summed over
	 * answers (mean times A); 1: divided by A, BCE a plain mean over B x A,
	 * as BCEWithLogitsLoss gives it.
	 */
	int			bce_mean;
	/*
	 * 1: the loss's own parameters (LMH's gate and smoothing, PoE's
	 * smoothing) keep their initial values and stay out of the clipping
	 * norm, as the paper authors' optimizer leaves them out.
	 */
	int			fixed_loss_params;
	/*
	 * Examples per forward and backward pass (0: batch_size): a step adds
	 * up its micro-batches' gradients, weighted by their size, before one
	 * update, so memory follows the micro-batch and the update the batch.
	 * It must divide batch_size.
	 */
	int			micro_batch_size;
	/*
	 * 0: each epoch's order is shuffled; k > 0: shuffled, then bucketed by
	 * question length in runs of k batches (vqa_examples_bucket_order), so
	 * that batches padded to their longest question (batch_padding) carry
	 * little padding.
	 */
	int			length_buckets;
	/*
	 * Stage 3 (a model with a mask, no masker): the prunable matrices that
	 * keep at most this fraction of their weights train in sparse form
	 * (sparse.h): sparse forward and input-gradient products, gradients and
	 * Adam moments for the kept weights only. 0: every matrix dense.
	 */
	double		sparse_density;
} VqaTrainConfig;

typedef struct VqaTrainer VqaTrainer;

/*
 * NULL with a message if memory runs out or the config is invalid. A model
 * with a mask (Stage 3) keeps it: its pruned weights are zeroed and stay
 * zero. In mask training the model's mask is set from the masker's scores.
 */
VqaTrainer *vqa_trainer_new(VqaModel *model, const VqaExamples *train,
							const VqaTrainConfig *config, char *errbuf, size_t errlen);

/* Why a step failed: nothing was updated either way. */
#define VQA_STEP_NOT_FINITE (-1)
#define VQA_STEP_OUT_OF_MEMORY (-2)
#define VQA_STEP_READ_FAILED (-3)	/* the batch's features could not be read */

/*
 * One optimisation step on the next mini-batch. Returns 1 after a step,
 * VQA_STEP_NOT_FINITE if the loss is not finite, VQA_STEP_OUT_OF_MEMORY if
 * memory ran out. *loss receives the batch loss, *score the sum of the soft
 * target scores of the argmax answers.
 */
int			vqa_trainer_step(VqaTrainer *trainer, double *loss, double *score, int *examples);

/* Steps per epoch, total steps, and steps done so far. */
int			vqa_trainer_steps_per_epoch(const VqaTrainer *trainer);
int			vqa_trainer_total_steps(const VqaTrainer *trainer);
int			vqa_trainer_step_count(const VqaTrainer *trainer);

/* The learning rate of the next step. */
float		vqa_trainer_lr(const VqaTrainer *trainer);

/*
 * Ends mask training: a last threshold reset, so the model's mask has
 * exactly the target sparsity. 0, or -1 if the scores are not finite.
 */
int			vqa_trainer_finish_masks(VqaTrainer *trainer);

/*
 * The trainer's whole state, for checkpoints: the model's weights and mask,
 * the Adam moments of what is trained (the weights, or the mask scores and
 * the head), the mask scores and thresholds, the loss's and the
 * question-only branch's parameters and moments, the data order and
 * position, the step count, and the shuffling and dropout RNG states. A
 * trainer made with the same model, examples and config and given this
 * state goes on exactly as the one that saved it. The bytes are for the
 * machine that wrote them (native byte order).
 */
size_t		vqa_trainer_state_bytes(const VqaTrainer *trainer);
void		vqa_trainer_save_state(const VqaTrainer *trainer, void *out);

/*
 * Restores a saved state, after checking that it is one, of this trainer's
 * shape, with an order that is a permutation of the examples. 0, or -1 with
 * a message (nothing is changed then).
 */
int			vqa_trainer_load_state(VqaTrainer *trainer, const void *in, size_t bytes,
								   char *errbuf, size_t errlen);

void		vqa_trainer_free(VqaTrainer *trainer);

/*
 * Sum of the soft target score of the model's argmax answer over examples
 * [start, start + count) of ex (count <= buf->capacity); logits holds
 * count x answers floats.
 */
double		vqa_soft_score(VqaModel *model, const VqaExamples *ex, int start, int count,
						   VqaBatchBuffers *buf, float *logits);

#endif
