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

/* The update of n parameters against their moments m, v. */
static void
adam_kernel(float *params, const float *grads, float *m, float *v, size_t n,
			const VqaAdamConfig *c, int t)
{
	float		c1 = 1.0f - powf(c->beta1, (float) t);
	float		c2 = 1.0f - powf(c->beta2, (float) t);
	float		l2 = c->decoupled ? 0.0f : c->weight_decay;
	float		decoupled = c->decoupled ? c->weight_decay : 0.0f;

	for (size_t i = 0; i < n; i++)
	{
		float		g = grads[i];
		float		mi,
					vi;

		if (l2 > 0)
			g = g + l2 * params[i];
		mi = c->beta1 * m[i] + (1.0f - c->beta1) * g;
		vi = c->beta2 * v[i] + (1.0f - c->beta2) * g * g;
		m[i] = mi;
		v[i] = vi;
		params[i] -= c->lr * ((mi / c1) / (sqrtf(vi / c2) + c->eps) + decoupled * params[i]);
	}
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
