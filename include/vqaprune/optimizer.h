/*
 * optimizer.h: Adam and AdamW over float parameters, whatever they belong
 * to (a model's weights, mask scores, a loss's own parameters, a branch):
 * the moments of a set of n parameters, and a step over ranges of
 * parameters that map onto those moments. The caller owns the parameters
 * and their gradients; the moments are the optimizer's.
 */
#ifndef VQAPRUNE_OPTIMIZER_H
#define VQAPRUNE_OPTIMIZER_H

#include <stddef.h>

typedef struct VqaAdamConfig
{
	float		lr;
	float		beta1;
	float		beta2;
	float		eps;
	float		weight_decay;
	/*
	 * 1: AdamW, the decay decoupled (p -= lr * weight_decay * p); 0: Adam,
	 * the decay an L2 term added to the gradient.
	 */
	int			decoupled;
} VqaAdamConfig;

/* The first and second moments of n parameters. */
typedef struct VqaAdam
{
	size_t		n;
	float	   *m;
	float	   *v;
} VqaAdam;

/* Zeroed moments of n parameters; NULL if memory runs out. */
VqaAdam    *vqa_adam_new(size_t n);
void		vqa_adam_free(VqaAdam *adam);

/*
 * n parameters and their gradients, whose moments are [offset, offset + n)
 * of a VqaAdam: a set of parameters may live in several buffers.
 */
typedef struct VqaParamRange
{
	float	   *params;
	const float *grads;
	size_t		offset;
	size_t		n;
} VqaParamRange;

/*
 * Step t >= 1 over the ranges (disjoint, by increasing offset, within the
 * moments), on the worker pool:
 *   g = grad (+ weight_decay * p for Adam), m = beta1 m + (1 - beta1) g,
 *   v = beta2 v + (1 - beta2) g^2,
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *        (+ lr * weight_decay * p for AdamW), as PyTorch orders it.
 */
void		vqa_adam_step_ranges(VqaAdam *adam, const VqaParamRange *ranges, int n_ranges,
								 const VqaAdamConfig *config, int t);

/* The same over all the moments' parameters: params and grads hold adam->n values. */
void		vqa_adam_step(VqaAdam *adam, float *params, const float *grads,
						  const VqaAdamConfig *config, int t);

#endif
