/*
 * losses.h: the VQA training losses, plain and debiasing, forward and
 * backward.
 *
 * The five losses of Si et al. (EMNLP 2023), computed as the authors' code
 * computes them (Compress-Robust-VQA):
 *
 *   bce   Plain: binary cross-entropy with logits, mean over B x A, times A.
 *   lmh   LearnedMixin +H: the main sigmoid distribution mixed with the
 *         question-type prior p_b, scaled by a learned gate
 *         softplus(w . hidden + c) and smoothed by sigmoid(s); plus
 *         entropy_weight times the mean entropy of the scaled prior. Rows
 *         whose main loss is NaN count as 0 (the authors' NaN guard).
 *   rubi  RUBI_loss: cross-entropy of logits * sigmoid(p_b) on max_label.
 *   lpf   LPF_loss: mean of (1 - max(p_b[k], 1e-7))^gamma *
 *         -log max(softmax(logits)[k], 1e-7), k = max_label.
 *   poe   BiasProduct: log sigma(z) + log(p_b + sigmoid(s)) and
 *         log(1 - sigma(z)) + log(1 - p_b + sigmoid(s)), renormalised, BCE
 *         summed over answers and averaged over the batch.
 *
 * Everything is float32 in memory; the arithmetic is done in double.
 */
#ifndef VQAPRUNE_LOSSES_H
#define VQAPRUNE_LOSSES_H

#include <stdint.h>

typedef enum VqaLossKind
{
	VQA_LOSS_BCE,
	VQA_LOSS_LMH,
	VQA_LOSS_RUBI,
	VQA_LOSS_LPF,
	VQA_LOSS_POE
} VqaLossKind;

#define VQA_LOSS_N_KINDS 5

/* "bce", "lmh", "rubi", "lpf", "poe" (exact, lower case): 0 ok, -1 unknown. */
int			vqa_loss_parse(const char *name, VqaLossKind *kind);

/* The name vqa_loss_parse accepts; NULL for a value outside the enum. */
const char *vqa_loss_name(VqaLossKind kind);

/* Whether the loss reads the prior p_b, max_label, hidden and VqaLmhParams. */
int			vqa_loss_needs_prior(VqaLossKind kind);
int			vqa_loss_needs_max_label(VqaLossKind kind);
int			vqa_loss_needs_lmh(VqaLossKind kind);

/*
 * The learned parameters of LMH: the gate Linear(hidden, 1) (gate_w [hidden],
 * gate_b) and the smoothing logit s (the authors initialise it to -1).
 */
typedef struct VqaLmhParams
{
	int			hidden_size;	/* H */
	const float *gate_w;
	float		gate_b;
	float		smooth;
} VqaLmhParams;

typedef struct VqaLossInput
{
	int			batch;
	int			answers;
	int			hidden_size;	/* H, lmh only */
	const float *logits;		/* B x A main logits */
	const float *targets;		/* B x A soft scores (bce, lmh, poe) */
	const float *prior;			/* B x A question-type prior p_b (lmh, rubi, lpf, poe) */

	/*
	 * B: the label of the highest score (rubi, lpf). A negative label marks
	 * an example without one: it adds nothing, and the mean is over labelled
	 * examples, like CrossEntropyLoss's ignore_index. (The authors' data
	 * loader never produces one: it draws a random answer instead.)
	 */
	const int32_t *max_label;
	const float *hidden;		/* B x H pooled output, the gate input (lmh) */
} VqaLossInput;

/*
 * Gradients of the loss, each written (not accumulated); any pointer may be
 * NULL to skip that gradient.
 */
typedef struct VqaLossGrad
{
	float	   *logits;			/* B x A */
	float	   *hidden;			/* B x H (lmh) */
	float	   *gate_w;			/* H (lmh) */
	float	   *gate_b;			/* 1 (lmh) */
	float	   *smooth;			/* 1: d/ds of lmh's s, or of poe_smooth for poe */
} VqaLossGrad;

typedef struct VqaLossOptions
{
	float		lmh_entropy_weight;	/* w_H, 0.36 (chrisc36 -p, the authors' LearnedMixin(0.36)) */
	float		lpf_gamma;		/* gamma, 5 (--gamma) */
	float		poe_smooth;		/* BiasProduct's smoothing logit s, init -1 */
} VqaLossOptions;

/* Fills the defaults: 0.36, 5, -1. */
void		vqa_loss_default_options(VqaLossOptions *opt);

/*
 * Returns the loss of kind over the batch and, with grad non-NULL, writes its
 * gradients. opt NULL means the defaults; lmh is read by lmh only (its hidden_size
 * must equal in->hidden_size). Returns NaN, writing nothing, when an input the
 * loss needs is missing, a size is not positive or a label is >= answers; also
 * NaN, with the gradients zeroed, when lmh cannot allocate B doubles for the
 * gate_w gradient.
 */
double		vqa_loss(VqaLossKind kind, const VqaLossOptions *opt,
					 const VqaLossInput *in, const VqaLmhParams *lmh,
					 VqaLossGrad *grad);

/*
 * The gradient of the loss vqa_model_forward reports (model.h: mean BCE
 * times A) with respect to the B x A logits, in float: (sigmoid(z) - t) / B.
 */
void		vqa_bce_grad(const float *logits, const float *targets, int batch, int answers,
						 float *dlogits);

#endif
