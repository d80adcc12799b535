/*
 * test_sparse.c: the sparse linear layer against a dense product in double
 * precision, at several densities and row counts around the block size;
 * and a pruned LXMERT evaluated with sparse kernels against its dense pass.
 */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/lxmert.h"
#include "vqaprune/parallel.h"
#include "vqaprune/rng.h"
#include "vqaprune/sparse.h"

static void
csr_linear_matches_a_dense_product(void **state)
{
	VqaRng		rng;
	const int	row_counts[] = {1, 15, 16, 17, 40};
	const double densities[] = {0.0, 0.05, 0.3, 1.0};

	vqa_rng_seed(&rng, 21);
	for (int threads = 1; threads <= 2; threads++)
	{
		vqa_parallel_set_threads(threads);
		for (size_t mi = 0; mi < sizeof(row_counts) / sizeof(row_counts[0]); mi++)
			for (size_t di = 0; di < sizeof(densities) / sizeof(densities[0]); di++)
			{
				int			M = row_counts[mi],
							rows = 23,
							cols = 37;
				float	   *w = malloc(sizeof(float) * rows * cols),
						   *mask = malloc(sizeof(float) * rows * cols),
						   *b = malloc(sizeof(float) * rows),
						   *inp = malloc(sizeof(float) * M * cols),
						   *out = malloc(sizeof(float) * M * rows);
				VqaCsr	   *csr;

				for (int i = 0; i < rows * cols; i++)
				{
					w[i] = (float) vqa_rng_normal(&rng);
					mask[i] = vqa_rng_uniform(&rng) < densities[di] ? 1.0f : 0.0f;
				}
				for (int i = 0; i < rows; i++)
					b[i] = (float) vqa_rng_normal(&rng);
				for (int i = 0; i < M * cols; i++)
					inp[i] = (float) vqa_rng_normal(&rng);
				csr = vqa_csr_from_dense(w, mask, rows, cols);
				assert_non_null(csr);
				assert_int_equal(vqa_csr_linear(csr, inp, b, out, M), 0);
				for (int m = 0; m < M; m++)
					for (int o = 0; o < rows; o++)
					{
						double		ref = b[o];

						for (int j = 0; j < cols; j++)
							ref += (double) w[o * cols + j] * mask[o * cols + j] * inp[m * cols + j];
						assert_true(fabs(out[m * rows + o] - ref) <= 1e-5 * (1.0 + fabs(ref)));
					}
				vqa_csr_free(csr);
				free(w);
				free(mask);
				free(b);
				free(inp);
				free(out);
			}
	}
	vqa_parallel_set_threads(1);
}

/* Evaluation with sparse kernels gives the dense pass's logits, to float rounding. */
static void
pruned_model_evaluates_the_same_with_sparse_kernels(void **state)
{
	VqaModelConfig c = {
		.vocab_size = 30, .hidden_size = 16, .num_attention_heads = 2,
		.intermediate_size = 40, .l_layers = 2, .r_layers = 1, .x_layers = 2,
		.visual_feat_dim = 24, .visual_pos_dim = 4, .num_qa_labels = 9,
		.max_position_embeddings = 12, .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
	};
	char		err[256];
	VqaModel *model = vqa_model_new(&c, err, sizeof(err));
	VqaRng		rng;
	int32_t		ids[3 * 7],
				att[3 * 7];
	float		feats[3 * 5 * 24],
				pos[3 * 5 * 4],
				dense[3 * 9],
				sparse[3 * 9];
	float	   *mask;
	VqaBatch batch = {3, 7, 5, ids, att, NULL, feats, pos};
	int			sparse_tensors = 0;

	assert_non_null(model);
	vqa_model_init_random(model, 4, 0.3f);
	vqa_rng_seed(&rng, 5);
	mask = malloc(sizeof(float) * model->n_params);
	for (size_t i = 0; i < model->n_params; i++)
		mask[i] = 1.0f;
	for (int i = 0; i < model->n_tensors; i++)
		if (model->tensors[i].prunable)
			for (size_t j = 0; j < model->tensors[i].numel; j++)
				mask[model->tensors[i].offset + j] = vqa_rng_uniform(&rng) < 0.2 ? 1.0f : 0.0f;
	assert_int_equal(vqa_model_set_mask(model, mask), 0);
	for (int i = 0; i < 21; i++)
	{
		ids[i] = (int32_t) (1 + vqa_rng_below(&rng, 29));
		att[i] = i % 7 < 5 + i / 7 % 3;
	}
	for (size_t i = 0; i < sizeof(feats) / sizeof(float); i++)
		feats[i] = (float) vqa_rng_normal(&rng);
	for (size_t i = 0; i < sizeof(pos) / sizeof(float); i++)
		pos[i] = (float) vqa_rng_uniform(&rng);

	assert_int_equal(vqa_model_forward(model, &batch, dense, NULL, NULL), 0);
	assert_int_equal(vqa_model_use_sparse(model, 0.3), 0);
	for (int i = 0; i < model->n_tensors; i++)
		sparse_tensors += model->sparse[i] != NULL;
	/* every prunable linear weight, not the word embeddings */
	assert_true(sparse_tensors > 10);
	assert_null(model->sparse[vqa_model_find_tensor(model, "embeddings.word_embeddings.weight") - model->tensors]);
	assert_int_equal(vqa_model_forward(model, &batch, sparse, NULL, NULL), 0);
	for (int i = 0; i < 27; i++)
		assert_true(fabsf(sparse[i] - dense[i]) <= 1e-5f * (1.0f + fabsf(dense[i])));
	/* denser than the limit: dense products */
	assert_int_equal(vqa_model_use_sparse(model, 0.1), 0);
	for (int i = 0; i < model->n_tensors; i++)
		assert_null(model->sparse[i]);
	free(mask);
	vqa_model_free(model);
}

int
run_sparse_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csr_linear_matches_a_dense_product),
		cmocka_unit_test(pruned_model_evaluates_the_same_with_sparse_kernels),
	};

	return UNIT_GROUP(sparse, tests, n_tests);
}
