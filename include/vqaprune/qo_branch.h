/*
 * qo_branch.h: the original RUBi and LPF losses, with a learned question-only
 * branch instead of the fixed question-type prior of losses.h.
 *
 *   rubi_qo  (Cadene et al., RUBi) q_pred = MLP(q_emb), fused logits
 *            z * sigmoid(q_pred), logits_q = Linear(q_pred);
 *            L = CE(fused, a) + qo_weight * CE(logits_q, a).
 *   lpf_qo   (Liang et al., LPF) the same branch gives logits_q;
 *            L = mean (1 - softmax(logits_q)[a])^gamma * CE(z, a)
 *                + qo_weight * CE(logits_q, a), the weight held constant.
 *
 * a = max_label; a negative label marks an example without one, which adds
 * nothing; means are over labelled examples; with none the loss is 0. The
 * question embedding gets no gradient (the originals detach it). Only the
 * main logits z are used at evaluation.
 */
#ifndef VQAPRUNE_QO_BRANCH_H
#define VQAPRUNE_QO_BRANCH_H

#include <stddef.h>
#include <stdint.h>

typedef enum
{
	VQA_QO_RUBI,
	VQA_QO_LPF
} VqaQoKind;

/*
 * The branch: q_pred = W2 relu(W1 q + b1) + b2 (answers wide),
 * logits_q = W3 q_pred + b3. All parameters in one buffer (params), gradients
 * in a parallel buffer (grads), for an optimizer to update.
 */
typedef struct VqaQoBranch
{
	int			hidden;			/* H, size of q_emb */
	int			inner;			/* width of the MLP's hidden layer */
	int			answers;		/* A */
	size_t		n_params;
	float	   *params;			/* w1 [inner x H], b1 [inner], w2 [A x inner],
								 * b2 [A], w3 [A x A], b3 [A], in this order */
	float	   *grads;			/* same layout; vqa_qo_loss ACCUMULATES into
								 * it; the caller zeroes it */
} VqaQoBranch;

/*
 * nn.Linear-style init: uniform(-1/sqrt(in), 1/sqrt(in)) for weights and
 * biases, drawn from a VqaRng seeded with seed; grads start at zero. NULL on
 * OOM or a size < 1.
 */
VqaQoBranch *vqa_qo_new(int hidden, int inner, int answers, uint64_t seed);

void		vqa_qo_free(VqaQoBranch *qo);

/*
 * Loss of one batch; q_emb [B x H] gets no gradient (blocked, as the
 * originals do). Writes dlogits [B x A] (the gradient of the loss w.r.t. the
 * main logits), accumulates the branch's grads. gamma is used by lpf only.
 * Returns the loss, or NAN on bad input (B < 1, max_label >= A, a NULL
 * pointer, an unknown kind) or OOM, in which case nothing is written.
 */
double		vqa_qo_loss(VqaQoBranch *qo, VqaQoKind kind, float gamma, float qo_weight,
						int batch, const float *logits, const float *q_emb,
						const int32_t *max_label, float *dlogits);

#endif
