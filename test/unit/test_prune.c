/*
 * test_prune.c: sparsity plans (the paper's Eq. 10 and module splits),
 * exact-k selection against a stable sort, magnitude masks, mask scores and
 * their threshold resets, mask training steps, and micro-batched steps.
 */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/prune.h"
#include "vqaprune/rng.h"
#include "vqaprune/sparse.h"
#include "vqaprune/gemm.h"
#include "vqaprune/parallel.h"
#include "vqaprune/train.h"

/* LXMERT base's theta_pr per module (methods-reference section 4). */
static const size_t BASE_COUNTS[4] = {87141888, 36965376, 82575360, 589824};

static VqaModel *
small_model(uint64_t seed)
{
	VqaModelConfig c = {
		.vocab_size = 40, .hidden_size = 16, .num_attention_heads = 2,
		.intermediate_size = 24, .l_layers = 2, .r_layers = 1, .x_layers = 1,
		.visual_feat_dim = 12, .visual_pos_dim = 4, .num_qa_labels = 6,
		.max_position_embeddings = 12, .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
		.hidden_dropout_prob = 0.1f, .attention_probs_dropout_prob = 0.1f,
	};
	char		err[256];
	VqaModel *model = vqa_model_new(&c, err, sizeof(err));

	assert_non_null(model);
	vqa_model_init_random(model, seed, 0.5f);
	return model;
}

typedef struct Keyed
{
	float		key;
	size_t		index;
} Keyed;

static int
by_key_then_index(const void *a, const void *b)
{
	const Keyed *x = a,
			   *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Exact-k selection equals pruning the first k of a stable sort, ties and all. */
static void
smallest_k_matches_a_stable_sort(void **state)
{
	VqaRng		rng;

	vqa_rng_seed(&rng, 3);
	for (int round = 0; round < 200; round++)
	{
		size_t		n = 1 + vqa_rng_below(&rng, 300);
		size_t		k = vqa_rng_below(&rng, n + 1);
		/* few distinct values in some rounds: many ties */
		int			distinct = round % 2 ? 4 : 1000000;
		float	   *key = malloc(sizeof(float) * n),
				   *mask = malloc(sizeof(float) * n),
				   *work = malloc(sizeof(float) * n);
		Keyed	   *sorted = malloc(sizeof(Keyed) * n);
		float		threshold;

		for (size_t i = 0; i < n; i++)
		{
			key[i] = (float) vqa_rng_below(&rng, distinct) - distinct / 2;
			sorted[i].key = key[i];
			sorted[i].index = i;
		}
		qsort(sorted, n, sizeof(Keyed), by_key_then_index);
		threshold = vqa_prune_smallest(key, n, k, mask, work);
		for (size_t r = 0; r < n; r++)
			assert_true(mask[sorted[r].index] == (r < k ? 0.0f : 1.0f));
		if (k > 0)
			assert_true(threshold == sorted[k - 1].key);
		else
			assert_true(isinf(threshold) && threshold < 0);
		free(key);
		free(mask);
		free(work);
		free(sorted);
	}
}

static void
pruned_count_is_the_floor(void **state)
{
	assert_int_equal(vqa_pruned_count(100, 0.29), 29);
	assert_int_equal(vqa_pruned_count(100, 0.7), 70);
	assert_int_equal(vqa_pruned_count(10, 0.75), 7);
	assert_int_equal(vqa_pruned_count(3, 0.0), 0);
	assert_int_equal(vqa_pruned_count(7, 0.999), 6);
}

/* The paper's Eq. 10 check (methods-reference section 4). */
static void
module_targets_imply_the_papers_overall(void **state)
{
	double		half[3] = {0.6, 0.04, 0.6};
	double		ninety[3] = {0.9, 0.94, 0.88};

	assert_true(fabs(vqa_implied_sparsity(BASE_COUNTS, half) - 0.4998) < 5e-4);
	assert_true(fabs(vqa_implied_sparsity(BASE_COUNTS, ninety) - 0.899) < 1e-3);
}

static void
plans_complete_what_is_given(void **state)
{
	VqaSparsityPlan plan;
	char		err[256];
	double		none[3] = {NAN, NAN, NAN};
	double		visual_only[3] = {NAN, 0.04, NAN};
	double		all[3] = {0.6, 0.04, 0.6};
	double		too_much[3] = {0.0, 0.0, NAN};

	assert_int_equal(vqa_plan_sparsity(BASE_COUNTS, 0.7, none, &plan, err, sizeof(err)), 0);
	for (int m = 0; m < 3; m++)
		assert_true(plan.module[m] == 0.7);

	/* language and cross share what the overall still needs */
	assert_int_equal(vqa_plan_sparsity(BASE_COUNTS, 0.5, visual_only, &plan, err, sizeof(err)), 0);
	assert_true(plan.module[1] == 0.04);
	assert_true(fabs(plan.module[0] - 0.6002) < 1e-3 && plan.module[0] == plan.module[2]);
	assert_true(fabs(vqa_implied_sparsity(BASE_COUNTS, plan.module) - 0.5) < 1e-12);

	/* all three: the overall they imply, or a mismatch with the one given */
	assert_int_equal(vqa_plan_sparsity(BASE_COUNTS, NAN, all, &plan, err, sizeof(err)), 0);
	assert_true(fabs(plan.overall - 0.4998) < 5e-4);
	assert_int_equal(vqa_plan_sparsity(BASE_COUNTS, 0.7, all, &plan, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "imply an overall sparsity of 0.4998, not 0.7"));

	/* language and visual kept dense: cross alone cannot make 0.7 */
	assert_int_equal(vqa_plan_sparsity(BASE_COUNTS, 0.7, too_much, &plan, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot reach an overall sparsity of 0.7"));

	assert_int_equal(vqa_plan_sparsity(BASE_COUNTS, 1.0, none, &plan, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sparsity must be in [0, 1)"));
	assert_int_equal(vqa_plan_sparsity(BASE_COUNTS, NAN, visual_only, &plan, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "give the overall sparsity"));
}

static void
paper_allocation_is_the_papers_split_on_base(void **state)
{
	VqaSparsityPlan plan;
	char		err[256];

	assert_int_equal(vqa_plan_paper_allocation(BASE_COUNTS, 0.5, &plan, err, sizeof(err)), 0);
	assert_true(fabs(plan.module[0] - 0.60) < 1e-3 && plan.module[1] == 0.04 &&
				fabs(plan.module[2] - 0.60) < 1e-3);
	assert_true(fabs(vqa_implied_sparsity(BASE_COUNTS, plan.module) - 0.5) < 1e-12);
	assert_int_equal(vqa_plan_paper_allocation(BASE_COUNTS, 0.9, &plan, err, sizeof(err)), 0);
	assert_true(fabs(plan.module[0] - 0.90) < 2e-3 && plan.module[1] == 0.94 &&
				fabs(plan.module[2] - 0.88) < 2e-3);
	assert_true(fabs(vqa_implied_sparsity(BASE_COUNTS, plan.module) - 0.9) < 1e-12);
	assert_int_equal(vqa_plan_paper_allocation(BASE_COUNTS, 0.7, &plan, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "only for sparsity 0.5 and 0.9"));
}

/*
 * Over tensors [first, last]: nothing outside theta_pr is masked, and every
 * pruned key is at most every kept one. Returns the weights pruned.
 */
static size_t
check_ranking(const VqaModel *model, const float *mask, const float *key, int first, int last)
{
	size_t		pruned = 0;
	float		kept_min = INFINITY,
				pruned_max = -INFINITY;

	for (int i = first; i <= last; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		for (size_t j = t->offset; j < t->offset + t->numel; j++)
		{
			if (!t->prunable)
			{
				assert_true(mask[j] == 1.0f);
				continue;
			}
			pruned += mask[j] == 0.0f;
			if (mask[j] == 0.0f)
				pruned_max = fmaxf(pruned_max, key[j]);
			else
				kept_min = fminf(kept_min, key[j]);
		}
	}
	assert_true(pruned_max <= kept_min);
	return pruned;
}

/* Every prunable matrix loses exactly its count, the smallest keys first. */
static void
check_matrix_mask(const VqaModel *model, const VqaSparsityPlan *plan, const float *mask,
				  const float *key)
{
	for (int i = 0; i < model->n_tensors; i++)
		assert_int_equal(check_ranking(model, mask, key, i, i),
						 vqa_pruned_count(model->tensors[i].numel, vqa_plan_tensor_sparsity(model, plan, i)));
}

static void
magnitude_masks_keep_the_largest_weights(void **state)
{
	VqaModel *model = small_model(5);
	size_t		counts[4];
	double		given[3] = {0.6, 0.1, NAN};
	VqaSparsityPlan plan;
	char		err[256];
	float	   *mask = malloc(sizeof(float) * model->n_params);
	float	   *magnitude = malloc(sizeof(float) * model->n_params);
	double		module[4],
				overall;

	for (size_t i = 0; i < model->n_params; i++)
		magnitude[i] = fabsf(model->params[i]);
	vqa_prunable_counts(model, counts);
	assert_int_equal(vqa_plan_sparsity(counts, 0.5, given, &plan, err, sizeof(err)), 0);
	assert_int_equal(vqa_magnitude_mask(model, &plan, mask), 0);
	check_matrix_mask(model, &plan, mask, magnitude);
	/* each matrix rounds down by under one weight: modules within a weight a matrix */
	vqa_mask_sparsity(model, mask, module, &overall);
	assert_true(module[0] <= 0.6 && module[0] > 0.6 - 12.0 / counts[0]);
	assert_true(module[1] <= 0.1 && module[1] > 0.1 - 8.0 / counts[1]);
	assert_true(overall <= 0.5 && overall > 0.5 - 30.0 / (counts[0] + counts[1] + counts[2] + counts[3]));
	assert_true(module[3] <= 0.5 && module[3] > 0.5 - 1.0 / counts[3]);	/* the pooler at the overall */

	/* global: one ranking over theta_pr, exactly floor(N s) pruned */
	plan.scope = VQA_SCOPE_GLOBAL;
	plan.overall = 0.7;
	assert_int_equal(vqa_magnitude_mask(model, &plan, mask), 0);
	assert_int_equal(check_ranking(model, mask, magnitude, 0, model->n_tensors - 1),
					 vqa_pruned_count(counts[0] + counts[1] + counts[2] + counts[3], 0.7));
	free(mask);
	free(magnitude);
	vqa_model_free(model);
}

/* Magnitude init gives the magnitude mask; after drift a reset restores every matrix's target. */
static void
threshold_reset_restores_the_target(void **state)
{
	VqaModel *model = small_model(6);
	size_t		counts[4];
	double		none[3] = {NAN, NAN, NAN};
	VqaSparsityPlan plan;
	char		err[256];
	float	   *mask = malloc(sizeof(float) * model->n_params);
	float	   *expected = malloc(sizeof(float) * model->n_params);
	VqaMasker  *masker;
	VqaRng		rng;
	double		module[4],
				overall;

	vqa_prunable_counts(model, counts);
	assert_int_equal(vqa_plan_sparsity(counts, 0.7, none, &plan, err, sizeof(err)), 0);
	masker = vqa_masker_new(model, &plan, 0.01f);
	assert_non_null(masker);
	assert_int_equal(vqa_masker_init_magnitude(masker, 0.02f), 0);
	assert_int_equal(vqa_magnitude_mask(model, &plan, expected), 0);
	for (size_t i = 0; i < model->n_params; i++)
		mask[i] = 1.0f;
	vqa_masker_apply(masker, mask);
	assert_memory_equal(mask, expected, sizeof(float) * model->n_params);
	for (size_t i = 0; i < model->n_params; i++)
		assert_true(masker->scores[i] == 0.0f || masker->scores[i] == 0.02f);

	/* scores drift (as training moves them): the fixed threshold lets sparsity drift */
	vqa_rng_seed(&rng, 9);
	for (size_t i = 0; i < model->n_params; i++)
		masker->scores[i] += (float) (0.02 * vqa_rng_normal(&rng));
	vqa_masker_apply(masker, mask);
	vqa_mask_sparsity(model, mask, module, &overall);
	assert_true(fabs(overall - 0.7) > 0.05);

	assert_int_equal(vqa_masker_reset(masker, mask), 0);
	check_matrix_mask(model, &plan, mask, masker->scores);
	/* the reset threshold is each matrix's k-th smallest score */
	for (int i = 0; i < model->n_tensors; i++)
		if (model->tensors[i].prunable)
			for (size_t j = 0; j < model->tensors[i].numel; j++)
			{
				size_t		at = model->tensors[i].offset + j;

				assert_true(mask[at] == 0.0f ? masker->scores[at] <= masker->thresholds[i]
							: masker->scores[at] >= masker->thresholds[i]);
			}

	masker->scores[model->tensors[0].offset] = NAN;
	assert_int_equal(vqa_masker_reset(masker, mask), -1);
	vqa_masker_free(masker);
	free(mask);
	free(expected);
	vqa_model_free(model);
}

/* A tiny split: 8 questions, 3 images, random features and targets. */
static VqaExamples *
tiny_examples(const VqaModel *model)
{
	const VqaModelConfig *c = &model->config;
	int			n = 8,
				T = 6,
				N = 3;
	VqaExamples *ex = vqa_examples_new(n, T, 3, N, c->visual_feat_dim, c->num_qa_labels, 2,
									   (size_t) n, 0);
	VqaRng		rng;

	assert_non_null(ex);
	vqa_rng_seed(&rng, 11);
	for (int q = 0; q < n; q++)
	{
		ex->question_ids[q] = q;
		ex->image_of[q] = q % 3;
		ex->type_of[q] = q % 2;
		for (int t = 0; t < T; t++)
		{
			ex->input_ids[q * T + t] = (int32_t) (1 + vqa_rng_below(&rng, c->vocab_size - 1));
			ex->attended[q * T + t] = 1;
		}
		ex->target_start[q] = q;
		ex->target_ids[q] = (int32_t) vqa_rng_below(&rng, c->num_qa_labels);
		ex->target_scores[q] = 1.0f;
	}
	ex->target_start[n] = n;
	for (size_t i = 0; i < (size_t) 3 * N * c->visual_feat_dim; i++)
		ex->features[i] = (float) vqa_rng_normal(&rng);
	for (size_t i = 0; i < (size_t) 3 * N * 4; i++)
		ex->boxes[i] = (float) vqa_rng_uniform(&rng);
	for (size_t i = 0; i < (size_t) 2 * c->num_qa_labels; i++)
		ex->priors[i] = 1.0f / c->num_qa_labels;
	return ex;
}

/*
 * Mask training moves the scores and the head only: the weights stay as
 * they were, pruned weights are zero in the forward pass, and the last
 * reset leaves exactly the target.
 */
static void
mask_training_trains_scores_and_head_only(void **state)
{
	VqaModel *model = small_model(7);
	VqaExamples *ex = tiny_examples(model);
	size_t		counts[4];
	double		none[3] = {NAN, NAN, NAN};
	VqaTrainConfig config = {0};
	VqaTrainer *trainer;
	char		err[256];
	float	   *before = malloc(sizeof(float) * model->n_params);
	float	   *scores_before = malloc(sizeof(float) * model->n_params);
	int			head_moved = 0,
				scores_moved = 0;

	memcpy(before, model->params, sizeof(float) * model->n_params);
	vqa_prunable_counts(model, counts);
	config.epochs = 3;
	config.batch_size = 4;
	config.lr = 1e-2f;
	config.adamw = 1;
	config.max_grad_norm = 1.0f;
	config.seed = 1;
	config.loss = VQA_LOSS_LMH;
	vqa_loss_default_options(&config.loss_options);
	config.reset_steps = 2;
	{
		VqaSparsityPlan plan;

		assert_int_equal(vqa_plan_sparsity(counts, 0.5, none, &plan, err, sizeof(err)), 0);
		config.masker = vqa_masker_new(model, &plan, 0.01f);
		assert_non_null(config.masker);
		assert_int_equal(vqa_masker_init_magnitude(config.masker, 0.02f), 0);
	}
	memcpy(scores_before, config.masker->scores, sizeof(float) * model->n_params);
	trainer = vqa_trainer_new(model, ex, &config, err, sizeof(err));
	assert_non_null(trainer);
	for (int s = 0; s < vqa_trainer_total_steps(trainer); s++)
	{
		double		loss,
					score;
		int			count;

		assert_int_equal(vqa_trainer_step(trainer, &loss, &score, &count), 1);
		/* pruned weights are zero in every forward pass */
		for (size_t i = 0; i < model->n_params; i++)
			if (model->mask[i] == 0.0f)
				assert_true(model->masked[i] == 0.0f);
	}
	assert_int_equal(vqa_trainer_finish_masks(trainer), 0);
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		for (size_t j = t->offset; j < t->offset + t->numel; j++)
		{
			if (t->module == LXMERT_HEAD)
				head_moved += model->params[j] != before[j];
			else
				assert_true(model->params[j] == before[j]);
			scores_moved += t->prunable && config.masker->scores[j] != scores_before[j];
			if (!t->prunable)
				assert_true(model->mask[j] == 1.0f);
		}
	}
	assert_true(head_moved > 0 && scores_moved > 0);
	check_matrix_mask(model, &config.masker->plan, model->mask, config.masker->scores);
	vqa_trainer_free(trainer);
	vqa_masker_free(config.masker);
	vqa_examples_free(ex);
	free(before);
	free(scores_before);
	vqa_model_free(model);
}

/*
 * The gradients (after clipping) and the loss of one step of batch 8, run as
 * micro-batches of `micro`.
 */
static float *
grads_of_a_step(int micro, VqaLossKind loss, int mask_training, double *step_loss)
{
	VqaModel *model = small_model(9);
	VqaExamples *ex = tiny_examples(model);
	VqaTrainConfig config = {0};
	VqaTrainer *trainer;
	char		err[256];
	float	   *out = malloc(sizeof(float) * model->n_params);
	double		score;
	int			count;

	/* dropout draws per forward pass: off, so micro-batches see what one pass sees */
	model->config.hidden_dropout_prob = model->config.attention_probs_dropout_prob = 0.0f;
	config.epochs = 1;
	config.batch_size = 8;
	config.micro_batch_size = micro;
	config.lr = 1e-2f;
	config.adamw = 1;
	config.max_grad_norm = 1.0f;
	config.seed = 1;
	config.loss = loss;
	vqa_loss_default_options(&config.loss_options);
	if (mask_training)
	{
		size_t		counts[4];
		double		none[3] = {NAN, NAN, NAN};
		VqaSparsityPlan plan;

		vqa_prunable_counts(model, counts);
		assert_int_equal(vqa_plan_sparsity(counts, 0.5, none, &plan, err, sizeof(err)), 0);
		config.masker = vqa_masker_new(model, &plan, 0.01f);
		assert_non_null(config.masker);
		assert_int_equal(vqa_masker_init_magnitude(config.masker, 0.02f), 0);
	}
	trainer = vqa_trainer_new(model, ex, &config, err, sizeof(err));
	assert_non_null(trainer);
	assert_int_equal(vqa_trainer_step(trainer, step_loss, &score, &count), 1);
	memcpy(out, model->grads, sizeof(float) * model->n_params);
	vqa_trainer_free(trainer);
	vqa_masker_free(config.masker);
	vqa_examples_free(ex);
	vqa_model_free(model);
	return out;
}

/*
 * Micro-batches give the full batch's gradients, up to float summation
 * order (so its update, but for Adam's normalisation of gradients that are
 * zero up to rounding), for fine-tuning with BCE and LMH and for mask
 * training (score gradients); a micro-batch that does not divide the batch
 * is refused.
 */
static void
micro_batches_give_the_full_batch_gradients(void **state)
{
	const VqaLossKind losses[2] = {VQA_LOSS_BCE, VQA_LOSS_LMH};

	for (int mask_training = 0; mask_training < 2; mask_training++)
		for (int k = 0; k < 2; k++)
			for (int micro = 1; micro <= 4; micro *= 2)
			{
				VqaModel *shape = small_model(9);
				double		full_loss,
							micro_loss;
				float	   *full = grads_of_a_step(0, losses[k], mask_training, &full_loss);
				float	   *part = grads_of_a_step(micro, losses[k], mask_training, &micro_loss);
				double		largest = 0.0,
							worst = 0.0;

				for (size_t i = 0; i < shape->n_params; i++)
				{
					largest = fmax(largest, fabs(full[i]));
					worst = fmax(worst, fabs(full[i] - part[i]));
				}
				print_message("micro-batches of %d (%s, %s): worst gradient difference %.2g of %.2g, "
							  "loss %.7f / %.7f\n", micro, vqa_loss_name(losses[k]),
							  mask_training ? "mask training" : "fine-tuning", worst, largest,
							  full_loss, micro_loss);
				assert_true(largest > 0 && worst <= 1e-5 * largest);
				assert_true(fabs(full_loss - micro_loss) <= 1e-6 * fabs(full_loss));
				free(full);
				free(part);
				vqa_model_free(shape);
			}
	{
		VqaModel *model = small_model(9);
		VqaExamples *ex = tiny_examples(model);
		VqaTrainConfig config = {.epochs = 1, .batch_size = 8, .micro_batch_size = 3, .lr = 1e-3f};
		char		err[256];

		assert_null(vqa_trainer_new(model, ex, &config, err, sizeof(err)));
		assert_string_equal(err, "micro_batch_size 3 does not divide batch_size 8");
		vqa_examples_free(ex);
		vqa_model_free(model);
	}
}

/*
 * The parameters (and mask) after `steps` steps of a run of 3 epochs of
 * batch 3 (so epochs end mid-batch-order and the order reshuffles), with
 * dropout on; with stop_at > 0 the trainer is saved after stop_at steps,
 * freed, and a new one, made from the starting model, goes on from the
 * saved state.
 */
static float *
params_after(VqaLossKind loss, int mask_training, int stop_at, size_t *n_out)
{
	VqaModel *model = small_model(13);
	VqaModel *start = small_model(13);
	VqaExamples *ex = tiny_examples(model);
	VqaTrainConfig config = {0};
	VqaSparsityPlan plan;
	VqaTrainer *trainer;
	char		err[256];
	int			total;
	float	   *out;

	config.epochs = 3;
	config.batch_size = 3;
	config.lr = 1e-2f;
	config.warmup_steps = 2;
	config.adamw = mask_training;
	config.max_grad_norm = 1.0f;
	config.seed = 5;
	config.loss = loss;
	config.reset_steps = 2;
	vqa_loss_default_options(&config.loss_options);
	if (mask_training)
	{
		size_t		counts[4];
		double		none[3] = {NAN, NAN, NAN};

		vqa_prunable_counts(model, counts);
		assert_int_equal(vqa_plan_sparsity(counts, 0.5, none, &plan, err, sizeof(err)), 0);
	}
	for (int part = 0; part < (stop_at > 0 ? 2 : 1); part++)
	{
		static void *saved;
		static size_t saved_bytes;

		if (mask_training)
		{
			config.masker = vqa_masker_new(model, &plan, 0.01f);
			assert_non_null(config.masker);
			assert_int_equal(vqa_masker_init_magnitude(config.masker, 0.02f), 0);
		}
		trainer = vqa_trainer_new(model, ex, &config, err, sizeof(err));
		assert_non_null(trainer);
		total = vqa_trainer_total_steps(trainer);
		if (part == 1)
		{
			assert_int_equal(vqa_trainer_load_state(trainer, saved, saved_bytes, err, sizeof(err)), 0);
			free(saved);
		}
		while (vqa_trainer_step_count(trainer) < (part == 0 && stop_at > 0 ? stop_at : total))
		{
			double		l,
						sc;
			int			c;

			assert_int_equal(vqa_trainer_step(trainer, &l, &sc, &c), 1);
		}
		if (part == 0 && stop_at > 0)
		{
			saved_bytes = vqa_trainer_state_bytes(trainer);
			saved = malloc(saved_bytes);
			vqa_trainer_save_state(trainer, saved);
			/* the run goes on from a fresh model: nothing survives but the state */
			vqa_trainer_free(trainer);
			vqa_masker_free(config.masker);
			config.masker = NULL;
			vqa_model_set_mask(model, NULL);
			memcpy(model->params, start->params, sizeof(float) * model->n_params);
		}
	}
	if (mask_training)
		assert_int_equal(vqa_trainer_finish_masks(trainer), 0);
	*n_out = model->n_params * (model->mask ? 2 : 1);
	out = malloc(sizeof(float) * *n_out);
	memcpy(out, model->params, sizeof(float) * model->n_params);
	if (model->mask)
		memcpy(out + model->n_params, model->mask, sizeof(float) * model->n_params);
	vqa_trainer_free(trainer);
	vqa_masker_free(config.masker);
	vqa_examples_free(ex);
	vqa_model_free(model);
	vqa_model_free(start);
	return out;
}

/*
 * A run stopped and restored from its saved state ends with exactly the
 * weights (and mask) of one left alone, whether it stops mid-epoch or at an
 * epoch's end, for fine-tuning with BCE and LMH and for mask training; a
 * state that is not one, of another shape, or with an order that is not a
 * permutation is refused.
 */
static void
a_restored_run_ends_as_one_left_alone(void **state)
{
	const VqaLossKind losses[2] = {VQA_LOSS_BCE, VQA_LOSS_LMH};
	const int	stops[2] = {4, 3};	/* mid-epoch; at the end of the first epoch (8 examples, batch 3) */

	for (int mask_training = 0; mask_training < 2; mask_training++)
		for (int k = 0; k < 2; k++)
			for (int s = 0; s < 2; s++)
			{
				size_t		n,
							n2;
				float	   *alone = params_after(losses[k], mask_training, 0, &n);
				float	   *resumed = params_after(losses[k], mask_training, stops[s], &n2);

				assert_int_equal(n, n2);
				assert_memory_equal(alone, resumed, sizeof(float) * n);
				free(alone);
				free(resumed);
			}
	{
		VqaModel *model = small_model(13);
		VqaExamples *ex = tiny_examples(model);
		VqaTrainConfig config = {.epochs = 1, .batch_size = 4, .lr = 1e-3f, .seed = 1};
		VqaTrainer *trainer;
		char		err[256];
		size_t		bytes;
		char	   *saved;
		size_t		order_at;
		int			first;

		vqa_loss_default_options(&config.loss_options);
		trainer = vqa_trainer_new(model, ex, &config, err, sizeof(err));
		assert_non_null(trainer);
		bytes = vqa_trainer_state_bytes(trainer);
		saved = malloc(bytes);
		vqa_trainer_save_state(trainer, saved);
		assert_int_equal(vqa_trainer_load_state(trainer, saved, bytes - 1, err, sizeof(err)), -1);
		assert_string_equal(err, "the training state is of another model, data or method");
		saved[0] ^= 1;
		assert_int_equal(vqa_trainer_load_state(trainer, saved, bytes, err, sizeof(err)), -1);
		assert_string_equal(err, "the bytes are not a training state of this version");
		saved[0] ^= 1;
		/* the order follows the header, before the floats: params and Adam's two moments, the loss's 3 x (H + 3) */
		order_at = bytes - sizeof(float) * (3 * model->n_params + 3 * (size_t) (model->config.hidden_size + 3)) -
			sizeof(int) * (size_t) ex->n;
		memcpy(&first, saved + order_at, sizeof(int));
		memcpy(saved + order_at + sizeof(int), &first, sizeof(int));
		assert_int_equal(vqa_trainer_load_state(trainer, saved, bytes, err, sizeof(err)), -1);
		assert_string_equal(err, "the training state's data order is not a permutation");
		vqa_trainer_free(trainer);
		free(saved);
		vqa_examples_free(ex);
		vqa_model_free(model);
	}
}

/*
 * Stage 3 on sparse weights (sparse_density) against the dense masked step:
 * same model, batches and dropout, 6 steps of Adam, on every sparse kernel
 * path the CPU runs, 1 and 2 threads. The weights agree within 2e-6 (float
 * summation order: the sparse products sum in another order, and Adam's
 * first steps move a weight by about lr = 1e-3 whatever its gradient's
 * size, so rounding moves it by a little of that). Attention key biases
 * are left out: their gradient is 0 (softmax ignores a shift) but for
 * rounding noise near 1e-9, which Adam's eps of 1e-8 does not hide, so
 * they move by noise in either pass. Pruned weights stay
 * exactly zero; the moments cover the kept weights only, so the state is
 * smaller; a saved state restores into a sparse trainer.
 */
static void
sparse_stage3_matches_the_dense_masked_step(void **state)
{
	static const char *const isas[] = {"avx512", "avx2", "baseline"};

	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++)
	{
		if (vqa_sparse_set_isa(isas[ii]) != 0)
			continue;
		for (int threads = 1; threads <= 2; threads++)
		{
			VqaModel   *models[2] = {small_model(9), small_model(9)};
			VqaExamples *ex = tiny_examples(models[0]);
			float	   *mask = malloc(sizeof(float) * models[0]->n_params);
			VqaTrainer *trainers[2];
			VqaRng		rng;
			char		err[256];
			size_t		bytes[2];
			double		worst = 0.0;

			vqa_compute_set_threads(threads);
			vqa_rng_seed(&rng, 3);
			for (size_t i = 0; i < models[0]->n_params; i++)
				mask[i] = 1.0f;
			for (int i = 0; i < models[0]->n_tensors; i++)
				if (models[0]->tensors[i].prunable)
					for (size_t j = 0; j < models[0]->tensors[i].numel; j++)
						mask[models[0]->tensors[i].offset + j] = vqa_rng_uniform(&rng) < 0.3 ? 1.0f : 0.0f;
			for (int k = 0; k < 2; k++)
			{
				VqaTrainConfig config = {0};

				config.epochs = 3;
				config.batch_size = 4;
				config.lr = 1e-3f;
				config.adamw = k;	/* Adam's L2 decay on one, AdamW's on the other: both paths */
				config.weight_decay = 0.01f;
				config.max_grad_norm = 1.0f;
				config.seed = 1;
				config.loss = VQA_LOSS_LMH;
				vqa_loss_default_options(&config.loss_options);
				assert_int_equal(vqa_model_set_mask(models[0], mask), 0);
				assert_int_equal(vqa_model_set_mask(models[1], mask), 0);
				memcpy(models[1]->params, models[0]->params, sizeof(float) * models[0]->n_params);
				trainers[0] = vqa_trainer_new(models[0], ex, &config, err, sizeof(err));
				config.sparse_density = 1.0;
				trainers[1] = vqa_trainer_new(models[1], ex, &config, err, sizeof(err));
				assert_non_null(trainers[0]);
				assert_non_null(trainers[1]);
				assert_true(models[1]->sparse_training);
				for (int s = 0; s < 6; s++)
					for (int m = 0; m < 2; m++)
					{
						double		loss,
									score;
						int			count;

						assert_int_equal(vqa_trainer_step(trainers[m], &loss, &score, &count), 1);
					}
				for (int ti = 0; ti < models[0]->n_tensors; ti++)
				{
					const VqaTensor *t = &models[0]->tensors[ti];

					for (size_t i = t->offset; i < t->offset + t->numel; i++)
					{
						if (!strstr(t->name, "key.bias"))
							worst = fmax(worst, fabs(models[0]->params[i] - models[1]->params[i]));
						if (mask[i] == 0.0f)
							assert_true(models[1]->params[i] == 0.0f);
					}
				}
				assert_true(worst <= 2e-6);
				for (int m = 0; m < 2; m++)
					bytes[m] = vqa_trainer_state_bytes(trainers[m]);
				assert_true(bytes[1] < bytes[0]);
				/* a state of the sparse trainer goes on in another one as it would have */
				{
					void	   *saved = malloc(bytes[1]);
					VqaTrainer *again;
					double		loss,
								score;
					int			count;
					float	   *after = malloc(sizeof(float) * models[1]->n_params);

					vqa_trainer_save_state(trainers[1], saved);
					assert_int_equal(vqa_trainer_step(trainers[1], &loss, &score, &count), 1);
					memcpy(after, models[1]->params, sizeof(float) * models[1]->n_params);
					vqa_trainer_free(trainers[1]);
					assert_null(models[1]->sparse);
					/* the masked copy, not kept up to date while sparse, is the trained weights again */
					for (size_t i = 0; i < models[1]->n_params; i++)
						assert_true(models[1]->masked[i] == models[1]->params[i] * models[1]->mask[i]);
					again = vqa_trainer_new(models[1], ex, &config, err, sizeof(err));
					assert_non_null(again);
					assert_int_equal(vqa_trainer_load_state(again, saved, bytes[1], err, sizeof(err)), 0);
					assert_int_equal(vqa_trainer_step(again, &loss, &score, &count), 1);
					for (size_t i = 0; i < models[1]->n_params; i++)
						assert_true(models[1]->params[i] == after[i]);
					/* a dense trainer's state does not fit */
					assert_int_equal(vqa_trainer_load_state(trainers[0], saved, bytes[1], err, sizeof(err)), -1);
					vqa_trainer_free(again);
					free(saved);
					free(after);
				}
				vqa_trainer_free(trainers[0]);
			}
			free(mask);
			vqa_examples_free(ex);
			vqa_model_free(models[0]);
			vqa_model_free(models[1]);
		}
	}
	vqa_sparse_set_isa(NULL);
	vqa_compute_set_threads(1);
}

int
run_prune_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(smallest_k_matches_a_stable_sort),
		cmocka_unit_test(pruned_count_is_the_floor),
		cmocka_unit_test(module_targets_imply_the_papers_overall),
		cmocka_unit_test(plans_complete_what_is_given),
		cmocka_unit_test(paper_allocation_is_the_papers_split_on_base),
		cmocka_unit_test(magnitude_masks_keep_the_largest_weights),
		cmocka_unit_test(threshold_reset_restores_the_target),
		cmocka_unit_test(mask_training_trains_scores_and_head_only),
		cmocka_unit_test(micro_batches_give_the_full_batch_gradients),
		cmocka_unit_test(a_restored_run_ends_as_one_left_alone),
		cmocka_unit_test(sparse_stage3_matches_the_dense_masked_step),
	};

	return UNIT_GROUP(prune, tests, n_tests);
}
