/*
 * prune.h: the paper's Stage 2 mechanics on the prunable set theta_pr
 * (the tensors flagged prunable): sparsity targets per module, one-shot
 * magnitude pruning, and the mask scores of mask training with their
 * threshold resets.
 *
 * Sparsity is the fraction of weights pruned. A matrix of n weights at
 * sparsity s loses exactly floor(n * s) of them: the smallest by the
 * ranking key (|w| for magnitude pruning, the score for mask training),
 * ties broken by position, so every result is deterministic.
 */
#ifndef VQAPRUNE_PRUNE_H
#define VQAPRUNE_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "vqaprune/model.h"

/* The modules that carry sparsity targets: the paper's language, visual, cross. */
#define VQA_PRUNE_MODULES 3

typedef enum VqaPruneScope
{
	VQA_SCOPE_MATRIX,			/* every matrix at its module's sparsity (the paper's default) */
	VQA_SCOPE_GLOBAL			/* one ranking over all of theta_pr */
} VqaPruneScope;

typedef struct VqaSparsityPlan
{
	VqaPruneScope scope;
	double		overall;		/* the target over theta_pr; the pooler's sparsity */
	double		module[VQA_PRUNE_MODULES];	/* language, visual, cross */
} VqaSparsityPlan;

/*
 * Prunable weights per module: language, visual, cross, and the rest, which
 * is at the overall target (LXMERT's pooler; every prunable tensor of a
 * VisualBERT, a type without modules).
 */
void		vqa_prunable_counts(const VqaModel *model, size_t counts[4]);

/* The paper's Eq. 10: the overall sparsity that module targets imply. */
double		vqa_implied_sparsity(const size_t counts[4], const double module[VQA_PRUNE_MODULES]);

/*
 * Completes a plan from what the user gave: overall (NAN if not given) and
 * module targets (NAN where not given). None given: every module at the
 * overall. All three: the overall they imply, which must match a given
 * overall to within 0.005. Some: the others share the sparsity that makes
 * the overall. counts are the model's (vqa_prunable_counts). 0, or -1 with a message when the targets cannot be met.
 */
int			vqa_plan_sparsity(const size_t counts[4], double overall,
							  const double given[VQA_PRUNE_MODULES], VqaSparsityPlan *plan,
							  char *errbuf, size_t errlen);

/*
 * The paper's best module split for an overall target, where it has one
 * (0.5: 60/4/60, 0.9: 90/94/88, found on LXMERT base). The visual target is
 * kept and language and cross are scaled together so that this model's
 * module sizes (counts) give the overall exactly. 0, or -1 with a message.
 */
int			vqa_plan_paper_allocation(const size_t counts[4], double overall,
									  VqaSparsityPlan *plan, char *errbuf, size_t errlen);

/* The sparsity a plan gives tensor i (matrix scope), 0 for tensors outside theta_pr. */
double		vqa_plan_tensor_sparsity(const VqaModel *model, const VqaSparsityPlan *plan, int i);

/* Weights a matrix of n weights loses at sparsity s: floor(n * s). */
size_t		vqa_pruned_count(size_t n, double sparsity);

/*
 * Writes mask[0..n) = 0 for the k smallest keys (ties: lower index first),
 * 1 elsewhere; returns the k-th smallest key (the threshold), or -INFINITY
 * when k is 0. work holds n floats. Keys must not be NaN.
 */
float		vqa_prune_smallest(const float *key, size_t n, size_t k, float *mask, float *work);

/*
 * One-shot magnitude pruning of the model by a plan: a mask over the whole
 * layout (1 outside theta_pr). 0, or -1 when memory runs out.
 */
int			vqa_magnitude_mask(const VqaModel *model, const VqaSparsityPlan *plan, float *mask);

/*
 * Mask scores (methods-reference 1.3): one real score per prunable weight;
 * the forward pass uses W * 1[score > threshold]; every reset gives each
 * matrix (matrix scope) or theta_pr (global scope) the threshold that prunes
 * exactly its target.
 */
typedef struct VqaMasker
{
	const VqaModel *model;
	VqaSparsityPlan plan;
	float	   *scores;			/* n_params, meaningful on prunable tensors */
	float	   *thresholds;		/* per tensor (global scope: all equal) */
	float	   *work;			/* scratch for the resets */
	size_t	   *ranges;			/* scratch: offsets and lengths of theta_pr's tensors */
} VqaMasker;

/* Every threshold starts at threshold (the paper's 0.01); NULL out of memory. */
VqaMasker  *vqa_masker_new(const VqaModel *model, const VqaSparsityPlan *plan,
						   float threshold);

/*
 * Magnitude init: init_scale where the magnitude mask keeps a weight, 0
 * where it prunes it (so the first mask is one-shot magnitude pruning).
 * Random init: uniform in [0, init_scale). 0, or -1 out of memory.
 */
int			vqa_masker_init_magnitude(VqaMasker *masker, float init_scale);
void		vqa_masker_init_random(VqaMasker *masker, float init_scale, uint64_t seed);

/* Resets the thresholds and writes the exact-target mask. 0, or -1 on NaN scores. */
int			vqa_masker_reset(VqaMasker *masker, float *mask);

/* The mask of the current scores and thresholds, without a reset. */
void		vqa_masker_apply(const VqaMasker *masker, float *mask);

void		vqa_masker_free(VqaMasker *masker);

/* Measured sparsity of a mask: per module (language, visual, cross, pooler) and overall. */
void		vqa_mask_sparsity(const VqaModel *model, const float *mask, double module[4],
							  double *overall);

#endif
