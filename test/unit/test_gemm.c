/*
 * test_gemm.c: the pool-split sgemm against a double-precision product for
 * every transpose case, with and without the bias, at sizes that run on the
 * caller alone and sizes split in slices whose last one is partial, at 1 to
 * 3 threads; and the thread policy: after vqa_compute_set_threads, OpenBLAS
 * runs one thread in every pool worker.
 */
#include "unit.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "vqaprune/gemm.h"
#include "vqaprune/parallel.h"
#include "vqaprune/rng.h"

static float
element(const float *X, int ld, bool trans, int r, int c)
{
	return trans ? X[(size_t) c * ld + r] : X[(size_t) r * ld + c];
}

static void
gemm_matches_double_product(void **state)
{
	static const int sizes[][3] = {{5, 7, 3}, {200, 150, 90}, {150, 200, 90}, {97, 333, 130}};
	VqaRng		rng;

	vqa_rng_seed(&rng, 11);
	for (int s = 0; s < 4; s++)
		for (int threads = 1; threads <= 3; threads++)
			for (int t = 0; t < 8; t++)
			{
				int			M = sizes[s][0],
							N = sizes[s][1],
							K = sizes[s][2];
				bool		ta = t & 1,
							tb = t & 2,
							with_bias = t & 4;
				int			lda = ta ? M + 1 : K + 2,
							ldb = tb ? K + 3 : N + 1,
							ldc = N + 5;
				float	   *A = malloc(sizeof(float) * (ta ? K : M) * lda);
				float	   *B = malloc(sizeof(float) * (tb ? N : K) * ldb);
				float	   *C = malloc(sizeof(float) * M * ldc);
				float	   *C0 = malloc(sizeof(float) * M * ldc);
				float	   *bias = malloc(sizeof(float) * N);

				for (int i = 0; i < (ta ? K : M) * lda; i++)
					A[i] = (float) vqa_rng_uniform(&rng) - 0.5f;
				for (int i = 0; i < (tb ? N : K) * ldb; i++)
					B[i] = (float) vqa_rng_uniform(&rng) - 0.5f;
				for (int i = 0; i < M * ldc; i++)
					C[i] = C0[i] = (float) vqa_rng_uniform(&rng) - 0.5f;
				for (int i = 0; i < N; i++)
					bias[i] = (float) vqa_rng_uniform(&rng);
				vqa_compute_set_threads(threads);
				vqa_sgemm(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.5f, C, ldc,
						  with_bias ? bias : NULL);
				for (int i = 0; i < M; i++)
					for (int o = 0; o < ldc; o++)
					{
						double		ref = C0[(size_t) i * ldc + o],
									size = fabs(ref);

						if (o < N)
						{
							double		dot = 0.0,
										mag = 0.0;

							for (int k = 0; k < K; k++)
							{
								double		term = (double) element(A, lda, ta, i, k) *
									element(B, ldb, tb, k, o);

								dot += term;
								mag += fabs(term);
							}
							ref = 0.75 * dot + 0.5 * ref + (with_bias ? bias[o] : 0.0);
							size = 0.75 * mag + size + 1.0;
						}
						/* the columns past N are left alone */
						assert_true(fabs(C[(size_t) i * ldc + o] - ref) <= 1e-6 * size);
					}
				free(A);
				free(B);
				free(C);
				free(C0);
				free(bias);
			}
	vqa_compute_set_threads(1);
}

static void
record_blas_threads(void *arg, size_t begin, size_t end, int worker)
{
	int		   *seen = arg;

	seen[worker] = openblas_get_num_threads();
}

static void
pool_workers_see_a_single_threaded_blas(void **state)
{
	int			seen[2] = {0, 0};

	openblas_set_num_threads(2);
	vqa_compute_set_threads(2);
	vqa_parallel_for(2, 1, record_blas_threads, seen);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 1);
	vqa_compute_set_threads(1);
	assert_int_equal(openblas_get_num_threads(), 1);
}

int
run_gemm_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gemm_matches_double_product),
		cmocka_unit_test(pool_workers_see_a_single_threaded_blas),
	};

	return UNIT_GROUP(gemm, tests, n_tests);
}
