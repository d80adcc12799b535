/*
 * optimizer.c: Adam and AdamW (optimizer.h). The step is element-wise, so
 * splitting it over the worker pool changes no result.
 */
#include "vqaprune/optimizer.h"

#include <math.h>
#include <stdlib.h>

#include "vqaprune/floats.h"
#include "vqaprune/parallel.h"

VqaAdam *
vqa_adam_new(size_t n)
{
	VqaAdam    *adam = calloc(1, sizeof(VqaAdam));

	if (adam == NULL)
		return NULL;
	adam->n = n;
	adam->m = vqa_zeroed_floats(n);
	adam->v = vqa_zeroed_floats(n);
	if (adam->m == NULL || adam->v == NULL)
	{
		vqa_adam_free(adam);
		return NULL;
	}
	return adam;
}

void
vqa_adam_free(VqaAdam *adam)
{
	if (adam == NULL)
		return;
	free(adam->m);
	free(adam->v);
	free(adam);
}

/* A step's scalars, worked out once per call rather than per parameter. */
typedef struct AdamScalars
{
	float		beta1;
	float		beta2;
	float		eps;
	float		l2;				/* Adam's decay, added to the gradient */
	float		decay;			/* AdamW's factor, 1 - lr * weight_decay (1 for Adam) */
	float		step_size;		/* lr / (1 - beta1^t) */
	float		sqrt_c2;		/* sqrt(1 - beta2^t) */
} AdamScalars;

/*
 * The update of n parameters against their moments m, v, as PyTorch's Adam
 * orders it. Called with n = ADAM_BLOCK, a loop of fixed length over
 * non-aliased arrays: GCC vectorizes it at -O2 (and, with -fno-math-errno,
 * sqrtf is one instruction), where the scalar loop cost a tenth of a
 * 1-thread training step at base shape.
 */
#define ADAM_BLOCK 16

static inline void
adam_update(float *restrict params, const float *restrict grads, float *restrict m,
			float *restrict v, size_t n, const AdamScalars *s)
{
	for (size_t i = 0; i < n; i++)
	{
		float		g = grads[i] + s->l2 * params[i];
		float		mi = s->beta1 * m[i] + (1.0f - s->beta1) * g;
		float		vi = s->beta2 * v[i] + (1.0f - s->beta2) * g * g;

		m[i] = mi;
		v[i] = vi;
		params[i] = params[i] * s->decay
			- s->step_size * (mi / (sqrtf(vi) / s->sqrt_c2 + s->eps));
	}
}

static void
adam_kernel(float *params, const float *grads, float *m, float *v, size_t n,
			const VqaAdamConfig *c, int t)
{
	AdamScalars s = {
		.beta1 = c->beta1,
		.beta2 = c->beta2,
		.eps = c->eps,
		.l2 = c->decoupled ? 0.0f : c->weight_decay,
		.decay = c->decoupled ? 1.0f - c->lr * c->weight_decay : 1.0f,
		.step_size = c->lr / (1.0f - powf(c->beta1, (float) t)),
		.sqrt_c2 = sqrtf(1.0f - powf(c->beta2, (float) t)),
	};
	size_t		i = 0;

	for (; i + ADAM_BLOCK <= n; i += ADAM_BLOCK)
		adam_update(params + i, grads + i, m + i, v + i, ADAM_BLOCK, &s);
	adam_update(params + i, grads + i, m + i, v + i, n - i, &s);
}

typedef struct AdamJob
{
	VqaAdam    *adam;
	const VqaParamRange *ranges;
	int			n_ranges;
	const VqaAdamConfig *config;
	int			t;
} AdamJob;

/* Moments [begin, end): the parts of the ranges that fall in it. */
static void
adam_range(void *arg, size_t begin, size_t end, int worker)
{
	const AdamJob *j = arg;

	for (int r = 0; r < j->n_ranges; r++)
	{
		const VqaParamRange *range = &j->ranges[r];
		size_t		lo = range->offset > begin ? range->offset : begin;
		size_t		hi = range->offset + range->n < end ? range->offset + range->n : end;

		if (lo >= hi)
			continue;
		adam_kernel(range->params + (lo - range->offset), range->grads + (lo - range->offset),
					j->adam->m + lo, j->adam->v + lo, hi - lo, j->config, j->t);
	}
}

void
vqa_adam_step_ranges(VqaAdam *adam, const VqaParamRange *ranges, int n_ranges,
					 const VqaAdamConfig *config, int t)
{
	AdamJob		j = {adam, ranges, n_ranges, config, t};

	vqa_parallel_for(adam->n, 1 << 16, adam_range, &j);
}

void
vqa_adam_step(VqaAdam *adam, float *params, const float *grads, const VqaAdamConfig *config,
			  int t)
{
	VqaParamRange all = {params, grads, 0, adam->n};

	vqa_adam_step_ranges(adam, &all, 1, config, t);
}
