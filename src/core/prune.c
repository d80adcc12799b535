/*
 * prune.c: sparsity plans, exact-k selection, magnitude masks and the mask
 * scores of mask training (prune.h).
 *
 * Selection is a quickselect on a copy of the keys (linear time, where the
 * reference sorts), then one pass that prunes every key below the k-th
 * smallest and, of the keys equal to it, the first ones by position until k
 * are pruned. The result is the same as a stable sort would give.
 */
#include "vqaprune/prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/error.h"
#include "vqaprune/rng.h"

/* A planned target may be above the overall by this much for rounding. */
#define PLAN_TOLERANCE 0.005

static int
module_index(VqaModule module)
{
	switch (module)
	{
		case LXMERT_LANGUAGE:
			return 0;
		case LXMERT_VISUAL:
			return 1;
		case LXMERT_CROSS:
			return 2;
		case LXMERT_POOLER:
		case VQA_MODULE_ENCODER:
			/* at the overall target: LXMERT's pooler; all of VisualBERT, which has no modules */
			return 3;
		default:
			return -1;
	}
}

void
vqa_prunable_counts(const VqaModel *model, size_t counts[4])
{
	memset(counts, 0, sizeof(size_t) * 4);
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (t->prunable && module_index(t->module) >= 0)
			counts[module_index(t->module)] += t->numel;
	}
}

double
vqa_implied_sparsity(const size_t counts[4], const double module[VQA_PRUNE_MODULES])
{
	double		pruned = 0.0,
				total = 0.0;

	/* the pooler is at the overall target, so it does not move the overall */
	for (int m = 0; m < VQA_PRUNE_MODULES; m++)
	{
		pruned += module[m] * (double) counts[m];
		total += (double) counts[m];
	}
	return total > 0 ? pruned / total : 0.0;
}

static const char *const MODULE_LABELS[VQA_PRUNE_MODULES] = {"language", "visual", "cross"};

int
vqa_plan_sparsity(const size_t counts[4], double overall, const double given[VQA_PRUNE_MODULES],
				  VqaSparsityPlan *plan, char *errbuf, size_t errlen)
{
	int			n_given = 0;
	double		given_pruned = 0.0,
				rest = 0.0,
				total = 0.0;

	for (int m = 0; m < VQA_PRUNE_MODULES; m++)
	{
		total += (double) counts[m];
		if (isnan(given[m]))
		{
			rest += (double) counts[m];
			continue;
		}
		if (!(given[m] >= 0.0 && given[m] < 1.0))
		{
			vqa_set_error(errbuf, errlen, "the %s sparsity must be in [0, 1), not %g",
						  MODULE_LABELS[m], given[m]);
			return -1;
		}
		n_given++;
		given_pruned += given[m] * (double) counts[m];
	}
	if (!isnan(overall) && !(overall >= 0.0 && overall < 1.0))
	{
		vqa_set_error(errbuf, errlen, "sparsity must be in [0, 1), not %g", overall);
		return -1;
	}
	plan->scope = VQA_SCOPE_MATRIX;
	if (n_given == VQA_PRUNE_MODULES)
	{
		double		implied = vqa_implied_sparsity(counts, given);

		if (!isnan(overall) && fabs(implied - overall) > PLAN_TOLERANCE)
		{
			vqa_set_error(errbuf, errlen,
						  "the module targets imply an overall sparsity of %.4f, not %g",
						  implied, overall);
			return -1;
		}
		plan->overall = isnan(overall) ? implied : overall;
		memcpy(plan->module, given, sizeof(plan->module));
		return 0;
	}
	if (isnan(overall))
	{
		vqa_set_error(errbuf, errlen,
					  "give the overall sparsity, or targets for all three modules");
		return -1;
	}
	plan->overall = overall;
	if (n_given == 0)
	{
		for (int m = 0; m < VQA_PRUNE_MODULES; m++)
			plan->module[m] = overall;
		return 0;
	}
	/* the modules not given share what the overall still needs (Eq. 10) */
	{
		double		shared = rest > 0 ? (overall * total - given_pruned) / rest : 0.0;

		if (!(shared >= 0.0 && shared < 1.0))
		{
			vqa_set_error(errbuf, errlen,
						  "the module targets cannot reach an overall sparsity of %g: "
						  "the other modules would need %.4f", overall, shared);
			return -1;
		}
		for (int m = 0; m < VQA_PRUNE_MODULES; m++)
			plan->module[m] = isnan(given[m]) ? shared : given[m];
	}
	return 0;
}

int
vqa_plan_paper_allocation(const size_t counts[4], double overall, VqaSparsityPlan *plan,
						  char *errbuf, size_t errlen)
{
	/* methods-reference 3.3, Fig. 8: the best splits the paper's search found */
	static const struct
	{
		double		overall;
		double		module[VQA_PRUNE_MODULES];
	}			splits[] = {
		{0.5, {0.60, 0.04, 0.60}},
		{0.9, {0.90, 0.94, 0.88}},
	};
	for (size_t s = 0; s < sizeof(splits) / sizeof(splits[0]); s++)
	{
		double		visual,
					other,
					scale;

		if (fabs(splits[s].overall - overall) > 1e-9)
			continue;
		visual = splits[s].module[1] * (double) counts[1];
		other = splits[s].module[0] * (double) counts[0] + splits[s].module[2] * (double) counts[2];
		scale = other > 0 ? (overall * (double) (counts[0] + counts[1] + counts[2]) - visual) / other : 0.0;
		plan->scope = VQA_SCOPE_MATRIX;
		plan->overall = overall;
		plan->module[0] = splits[s].module[0] * scale;
		plan->module[1] = splits[s].module[1];
		plan->module[2] = splits[s].module[2] * scale;
		if (!(plan->module[0] >= 0 && plan->module[0] < 1 && plan->module[2] >= 0 &&
			  plan->module[2] < 1))
		{
			vqa_set_error(errbuf, errlen,
						  "this model's module sizes cannot take the paper's split at sparsity %g",
						  overall);
			return -1;
		}
		return 0;
	}
	vqa_set_error(errbuf, errlen, "the paper gives module splits only for sparsity 0.5 and 0.9, not %g",
				  overall);
	return -1;
}

double
vqa_plan_tensor_sparsity(const VqaModel *model, const VqaSparsityPlan *plan, int i)
{
	const VqaTensor *t = &model->tensors[i];
	int			m = module_index(t->module);

	if (!t->prunable || m < 0)
		return 0.0;
	return m == 3 ? plan->overall : plan->module[m];
}

size_t
vqa_pruned_count(size_t n, double sparsity)
{
	/* 0.29 * 100 is 28.999999999999996 in binary: round such cases up */
	double		k = floor((double) n * sparsity + 1e-7);

	return k < 0 ? 0 : (size_t) k > n ? n : (size_t) k;
}

/* The k-th smallest (k >= 1) of work[0..n); reorders work. */
static float
kth_smallest(float *work, size_t n, size_t k)
{
	size_t		lo = 0,
				hi = n - 1,
				target = k - 1;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		float		pivot,
					tmp;
		size_t		i = lo,
					j = hi;

		/* median of three as the pivot */
		if (work[mid] < work[lo])
			tmp = work[mid], work[mid] = work[lo], work[lo] = tmp;
		if (work[hi] < work[lo])
			tmp = work[hi], work[hi] = work[lo], work[lo] = tmp;
		if (work[hi] < work[mid])
			tmp = work[hi], work[hi] = work[mid], work[mid] = tmp;
		pivot = work[mid];
		/* Hoare partition: equal keys split evenly, so many ties stay linear */
		for (;;)
		{
			while (work[i] < pivot)
				i++;
			while (pivot < work[j])
				j--;
			if (i >= j)
				break;
			tmp = work[i], work[i] = work[j], work[j] = tmp;
			i++;
			j--;
		}
		if (target <= j)
			hi = j;
		else
			lo = j + 1;
	}
	return work[target];
}

/*
 * Prunes the k smallest keys over the ranges [offset, offset + len) of the
 * layout (in order; ties by position across them) into mask; returns the
 * threshold.
 */
static float
prune_ranges(const float *key, const size_t *offsets, const size_t *lengths, int n_ranges,
			 size_t k, float *mask, float *work)
{
	size_t		n = 0,
				less = 0,
				ties;
	float		threshold;

	for (int r = 0; r < n_ranges; r++)
	{
		memcpy(work + n, key + offsets[r], sizeof(float) * lengths[r]);
		n += lengths[r];
	}
	if (k == 0)
	{
		for (int r = 0; r < n_ranges; r++)
			for (size_t i = 0; i < lengths[r]; i++)
				mask[offsets[r] + i] = 1.0f;
		return -INFINITY;
	}
	threshold = kth_smallest(work, n, k);
	for (int r = 0; r < n_ranges; r++)
		for (size_t i = 0; i < lengths[r]; i++)
			less += key[offsets[r] + i] < threshold;
	ties = k - less;
	for (int r = 0; r < n_ranges; r++)
		for (size_t i = 0; i < lengths[r]; i++)
		{
			float		v = key[offsets[r] + i];
			int			prune = v < threshold || (v == threshold && ties > 0);

			ties -= v == threshold && ties > 0;
			mask[offsets[r] + i] = prune ? 0.0f : 1.0f;
		}
	return threshold;
}

float
vqa_prune_smallest(const float *key, size_t n, size_t k, float *mask, float *work)
{
	size_t		offset = 0;

	return prune_ranges(key, &offset, &n, 1, k, mask, work);
}

/* Largest prunable tensor, and all of theta_pr, in floats. */
static void
prunable_sizes(const VqaModel *model, size_t *largest, size_t *total)
{
	*largest = *total = 0;
	for (int i = 0; i < model->n_tensors; i++)
		if (model->tensors[i].prunable)
		{
			*total += model->tensors[i].numel;
			if (model->tensors[i].numel > *largest)
				*largest = model->tensors[i].numel;
		}
}

/*
 * Prunes by key under a plan: per tensor (matrix scope) or over all of
 * theta_pr (global scope). thresholds (per tensor) may be NULL.
 */
static void
prune_by_plan(const VqaModel *model, const VqaSparsityPlan *plan, const float *key,
			  float *mask, float *work, size_t *offsets, size_t *lengths, float *thresholds)
{
	int			n = 0;
	size_t		total = 0;
	float		threshold;

	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (!t->prunable)
			continue;
		if (plan->scope == VQA_SCOPE_MATRIX)
		{
			threshold = prune_ranges(key, &t->offset, &t->numel, 1,
									 vqa_pruned_count(t->numel, vqa_plan_tensor_sparsity(model, plan, i)),
									 mask, work);
			if (thresholds)
				thresholds[i] = threshold;
			continue;
		}
		offsets[n] = t->offset;
		lengths[n] = t->numel;
		total += t->numel;
		n++;
	}
	if (plan->scope != VQA_SCOPE_GLOBAL)
		return;
	threshold = prune_ranges(key, offsets, lengths, n, vqa_pruned_count(total, plan->overall),
							 mask, work);
	for (int i = 0; thresholds && i < model->n_tensors; i++)
		thresholds[i] = threshold;
}

int
vqa_magnitude_mask(const VqaModel *model, const VqaSparsityPlan *plan, float *mask)
{
	size_t		largest,
				total;
	float	   *key = malloc(sizeof(float) * model->n_params);
	float	   *work;
	size_t	   *ranges = malloc(sizeof(size_t) * 2 * model->n_tensors);

	prunable_sizes(model, &largest, &total);
	work = malloc(sizeof(float) * (plan->scope == VQA_SCOPE_GLOBAL ? total : largest) + 1);
	if (key == NULL || work == NULL || ranges == NULL)
	{
		free(key);
		free(work);
		free(ranges);
		return -1;
	}
	for (size_t i = 0; i < model->n_params; i++)
	{
		key[i] = fabsf(model->params[i]);
		mask[i] = 1.0f;
	}
	prune_by_plan(model, plan, key, mask, work, ranges, ranges + model->n_tensors, NULL);
	free(key);
	free(work);
	free(ranges);
	return 0;
}

VqaMasker *
vqa_masker_new(const VqaModel *model, const VqaSparsityPlan *plan, float threshold)
{
	VqaMasker  *m = calloc(1, sizeof(VqaMasker));
	size_t		largest,
				total;

	if (m == NULL)
		return NULL;
	prunable_sizes(model, &largest, &total);
	m->model = model;
	m->plan = *plan;
	m->scores = calloc(model->n_params, sizeof(float));
	m->thresholds = malloc(sizeof(float) * model->n_tensors);
	m->work = malloc(sizeof(float) * (plan->scope == VQA_SCOPE_GLOBAL ? total : largest) + 1);
	m->ranges = malloc(sizeof(size_t) * 2 * model->n_tensors);
	if (m->scores == NULL || m->thresholds == NULL || m->work == NULL || m->ranges == NULL)
	{
		vqa_masker_free(m);
		return NULL;
	}
	for (int i = 0; i < model->n_tensors; i++)
		m->thresholds[i] = threshold;
	return m;
}

int
vqa_masker_init_magnitude(VqaMasker *m, float init_scale)
{
	const VqaModel *model = m->model;
	float	   *mask = malloc(sizeof(float) * model->n_params);

	if (mask == NULL || vqa_magnitude_mask(model, &m->plan, mask) != 0)
	{
		free(mask);
		return -1;
	}
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (t->prunable)
			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				m->scores[j] = mask[j] * init_scale;
	}
	free(mask);
	return 0;
}

void
vqa_masker_init_random(VqaMasker *m, float init_scale, uint64_t seed)
{
	const VqaModel *model = m->model;
	VqaRng		rng;

	vqa_rng_seed(&rng, seed);
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (t->prunable)
			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				m->scores[j] = (float) vqa_rng_uniform(&rng) * init_scale;
	}
}

int
vqa_masker_reset(VqaMasker *m, float *mask)
{
	const VqaModel *model = m->model;

	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (t->prunable)
			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				if (isnan(m->scores[j]))
					return -1;
	}
	prune_by_plan(model, &m->plan, m->scores, mask, m->work, m->ranges,
				  m->ranges + model->n_tensors, m->thresholds);
	return 0;
}

void
vqa_masker_apply(const VqaMasker *m, float *mask)
{
	const VqaModel *model = m->model;

	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (t->prunable)
			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				mask[j] = m->scores[j] > m->thresholds[i] ? 1.0f : 0.0f;
	}
}

void
vqa_masker_free(VqaMasker *m)
{
	if (m == NULL)
		return;
	free(m->scores);
	free(m->thresholds);
	free(m->work);
	free(m->ranges);
	free(m);
}

void
vqa_mask_sparsity(const VqaModel *model, const float *mask, double module[4], double *overall)
{
	size_t		pruned[4] = {0},
				counts[4],
				all = 0,
				all_pruned = 0;

	vqa_prunable_counts(model, counts);
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];
		int			mi = module_index(t->module);

		if (!t->prunable || mi < 0)
			continue;
		for (size_t j = t->offset; mask && j < t->offset + t->numel; j++)
			pruned[mi] += mask[j] == 0.0f;
	}
	for (int mi = 0; mi < 4; mi++)
	{
		module[mi] = counts[mi] ? (double) pruned[mi] / (double) counts[mi] : 0.0;
		all += counts[mi];
		all_pruned += pruned[mi];
	}
	*overall = all ? (double) all_pruned / (double) all : 0.0;
}
