/*
 * test_sparse.c: the sparse linear layer and Stage 3's backward products
 * against dense products in double precision, on every kernel path the
 * CPU runs, at several densities, widths and row counts around the block
 * sizes; and a pruned LXMERT evaluated with sparse kernels against its
 * dense pass.
 */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/lxmert.h"
#include "vqaprune/gemm.h"
#include "vqaprune/parallel.h"
#include "vqaprune/rng.h"
#include "vqaprune/sparse.h"

/*
 * A float sum of terms against its double-precision value: within 1e-6 of
 * the sum of the terms' magnitudes (float rounding in another order), and
 * 1e-6 absolute.
 */
static int
close(float got, double ref, double size)
{
	return fabs(got - ref) <= 1e-6 * size + 1e-6;
}

static const char *const isas[] = {"avx512", "avx2", "baseline"};
/* each path's panel: its block of input rows, transposed, fills VQA_CSR_TILE_BYTES */
static const int isa_panels[] = {128, 256, 512};

/* A rows x cols matrix, a mask keeping about `density` of it, and M x cols inputs. */
static void
random_problem(VqaRng *rng, int M, int rows, int cols, double density, float *w, float *mask,
			   float *inp)
{
	for (int i = 0; i < rows * cols; i++)
	{
		w[i] = (float) vqa_rng_normal(rng);
		mask[i] = vqa_rng_uniform(rng) < density ? 1.0f : 0.0f;
	}
	for (int i = 0; i < M * cols; i++)
		inp[i] = (float) vqa_rng_normal(rng);
}

/*
 * Every kernel path the CPU runs, 1 and 2 threads, row counts around the
 * blocks (16, 32, 64, 128 rows) and widths across column panels (128,
 * 256 or 512 columns): the sparse linear layer against a dense product in
 * double precision.
 */
static void
csr_linear_matches_a_dense_product(void **state)
{
	VqaRng		rng;
	const int	row_counts[] = {1, 15, 17, 40, 64, 130};
	const int	widths[] = {37, 300, 600};
	const double densities[] = {0.0, 0.05, 0.3, 1.0};
	int			paths = 0;

	vqa_rng_seed(&rng, 21);
	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++)
	{
		if (vqa_sparse_set_isa(isas[ii]) != 0)
			continue;
		assert_string_equal(vqa_sparse_isa(), isas[ii]);
		paths++;
		for (int threads = 1; threads <= 2; threads++)
		{
			vqa_compute_set_threads(threads);
			for (size_t mi = 0; mi < sizeof(row_counts) / sizeof(row_counts[0]); mi++)
				for (size_t ci = 0; ci < sizeof(widths) / sizeof(widths[0]); ci++)
					for (size_t di = 0; di < sizeof(densities) / sizeof(densities[0]); di++)
					{
						int			M = row_counts[mi],
									rows = 150,
									cols = widths[ci];
						float	   *w = malloc(sizeof(float) * rows * cols),
								   *mask = malloc(sizeof(float) * rows * cols),
								   *back = calloc((size_t) rows * cols, sizeof(float)),
								   *b = malloc(sizeof(float) * rows),
								   *inp = malloc(sizeof(float) * M * cols),
								   *out = malloc(sizeof(float) * M * rows);
						VqaCsr	   *csr;

						random_problem(&rng, M, rows, cols, densities[di], w, mask, inp);
						for (int i = 0; i < rows; i++)
							b[i] = (float) vqa_rng_normal(&rng);
						csr = vqa_csr_from_dense(w, mask, rows, cols);
						assert_non_null(csr);
						assert_int_equal(csr->panel, isa_panels[ii]);
						assert_int_equal(vqa_csr_linear(csr, inp, b, out, M), 0);
						for (int m = 0; m < M; m++)
							for (int o = 0; o < rows; o++)
							{
								double		ref = b[o],
											size = fabs(b[o]);

								for (int j = 0; j < cols; j++)
								{
									double		term = (double) w[o * cols + j] * mask[o * cols + j] * inp[m * cols + j];

									ref += term;
									size += fabs(term);
								}
								assert_true(close(out[m * rows + o], ref, size));
							}
						/* the kept weights go back to their places */
						vqa_csr_to_dense(csr, back);
						for (int i = 0; i < rows * cols; i++)
							assert_true(back[i] == w[i] * mask[i]);
						vqa_csr_free(csr);
						free(w);
						free(mask);
						free(back);
						free(b);
						free(inp);
						free(out);
					}
		}
	}
	/* this machine's best path, and the portable one everywhere */
	assert_true(paths >= 1);
	assert_int_equal(vqa_sparse_set_isa("baseline"), 0);
	assert_int_equal(vqa_sparse_set_isa("sse9"), -1);
	assert_string_equal(vqa_sparse_isa(), "baseline");
	assert_int_equal(vqa_sparse_set_isa(NULL), 0);
	vqa_compute_set_threads(1);
}

/*
 * Stage 3's backward products on every path: dinp += dout W through the
 * transposed matrix, and the gradient of each kept weight, the entry of
 * dout^T inp (added to what the gradient held), against double precision.
 */
static void
csr_backward_matches_dense_products(void **state)
{
	VqaRng		rng;
	const int	row_counts[] = {3, 64, 140};

	vqa_rng_seed(&rng, 22);
	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++)
	{
		if (vqa_sparse_set_isa(isas[ii]) != 0)
			continue;
		for (int threads = 1; threads <= 2; threads++)
		{
			vqa_compute_set_threads(threads);
			for (size_t mi = 0; mi < sizeof(row_counts) / sizeof(row_counts[0]); mi++)
			{
				int			M = row_counts[mi],
							rows = 300,
							cols = 270;
				float	   *w = malloc(sizeof(float) * rows * cols),
						   *mask = malloc(sizeof(float) * rows * cols),
						   *inp = malloc(sizeof(float) * M * cols),
						   *dout = malloc(sizeof(float) * M * rows),
						   *dinp = malloc(sizeof(float) * M * cols),
						   *grad = malloc(sizeof(float) * rows * cols);
				VqaCsr	   *csr;

				random_problem(&rng, M, rows, cols, 0.2, w, mask, inp);
				for (int i = 0; i < M * rows; i++)
					dout[i] = (float) vqa_rng_normal(&rng);
				for (int i = 0; i < M * cols; i++)
					dinp[i] = 1.0f;
				csr = vqa_csr_from_dense(w, mask, rows, cols);
				assert_non_null(csr);
				assert_int_equal(vqa_csr_make_trainable(csr), 0);
				for (size_t k = 0; k < csr->nnz; k++)
					csr->grad[k] = 0.5f;
				assert_int_equal(vqa_csr_backward(csr, dinp, dout, inp, M), 0);
				for (int m = 0; m < M; m++)
					for (int j = 0; j < cols; j++)
					{
						double		ref = 1.0,
									size = 1.0;

						for (int o = 0; o < rows; o++)
						{
							double		term = (double) dout[m * rows + o] * w[o * cols + j] * mask[o * cols + j];

							ref += term;
							size += fabs(term);
						}
						assert_true(close(dinp[m * cols + j], ref, size));
					}
				/* the gradients in the matrix's layout: the kept weights' places hold them */
				{
					float	   *saved = csr->val;

					csr->val = csr->grad;
					for (int i = 0; i < rows * cols; i++)
						grad[i] = NAN;
					vqa_csr_to_dense(csr, grad);
					csr->val = saved;
				}
				for (int o = 0; o < rows; o++)
					for (int j = 0; j < cols; j++)
					{
						double		ref = 0.5,
									size = 0.5;

						if (mask[o * cols + j] == 0.0f)
						{
							assert_true(isnan(grad[o * cols + j]));
							continue;
						}
						for (int m = 0; m < M; m++)
						{
							ref += (double) dout[m * rows + o] * inp[m * cols + j];
							size += fabs((double) dout[m * rows + o] * inp[m * cols + j]);
						}
						assert_true(close(grad[o * cols + j], ref, size));
					}
				/* new values reach the transpose */
				for (size_t k = 0; k < csr->nnz; k++)
					csr->val[k] = 0.0f;
				vqa_csr_sync_transpose(csr);
				for (int i = 0; i < M * cols; i++)
					dinp[i] = 2.0f;
				assert_int_equal(vqa_csr_backward(csr, dinp, dout, inp, M), 0);
				for (int i = 0; i < M * cols; i++)
					assert_true(dinp[i] == 2.0f);
				vqa_csr_free(csr);
				free(w);
				free(mask);
				free(inp);
				free(dout);
				free(dinp);
				free(grad);
			}
		}
	}
	vqa_sparse_set_isa(NULL);
	vqa_compute_set_threads(1);
}

/* Measured once: a kept fraction, the same on the second call. */
static void
crossover_is_measured_once(void **state)
{
	double		d = vqa_sparse_crossover_density();

	assert_true(d >= 0.0 && d <= 1.0);
	assert_true(vqa_sparse_crossover_density() == d);
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
		cmocka_unit_test(csr_backward_matches_dense_products),
		cmocka_unit_test(crossover_is_measured_once),
		cmocka_unit_test(pruned_model_evaluates_the_same_with_sparse_kernels),
	};

	return UNIT_GROUP(sparse, tests, n_tests);
}
