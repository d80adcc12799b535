/*
 * gemm.c: sgemm split over the worker pool (gemm.h).
 *
 * The slices run along the longer side of C, in multiples of 16 so that
 * OpenBLAS's micro-kernels see whole tiles. Each covers the full depth K:
 * no reduction across slices, and each element of C is summed as one
 * single-threaded call would sum it.
 */
#include "vqaprune/gemm.h"

#include <cblas.h>

#include "vqaprune/parallel.h"

/* below this many multiply-adds a product runs on the caller alone */
#define SPLIT_MIN_MACS (1L << 21)
#define SLICE_ALIGN 16

typedef struct GemmJob
{
	bool		trans_a,
				trans_b,
				by_rows;
	int			M,
				N,
				K,
				lda,
				ldb,
				ldc;
	float		alpha,
				beta;
	const float *A,
			   *B,
			   *bias;
	float	   *C;
} GemmJob;

static void
add_bias(float *C, int ldc, const float *bias, int rows, int cols)
{
	for (int i = 0; i < rows; i++)
	{
		float	   *row = C + (size_t) i * ldc;

		for (int o = 0; o < cols; o++)
			row[o] += bias[o];
	}
}

static void
gemm_slice(const GemmJob *j, int start, int count)
{
	const float *A = j->A,
			   *B = j->B,
			   *bias = j->bias;
	float	   *C = j->C;
	int			M = j->M,
				N = j->N;

	if (count <= 0)
		return;
	if (j->by_rows)
	{
		A += j->trans_a ? (size_t) start : (size_t) start * j->lda;
		C += (size_t) start * j->ldc;
		M = count;
	}
	else
	{
		B += j->trans_b ? (size_t) start * j->ldb : (size_t) start;
		C += start;
		if (bias)
			bias += start;
		N = count;
	}
	cblas_sgemm(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans,
				j->trans_b ? CblasTrans : CblasNoTrans, M, N, j->K, j->alpha, A, j->lda, B,
				j->ldb, j->beta, C, j->ldc);
	if (bias)
		add_bias(C, j->ldc, bias, M, N);
}

/* items are tiles of SLICE_ALIGN rows or columns */
static void
gemm_tiles(void *arg, size_t begin, size_t end, int worker)
{
	const GemmJob *j = arg;
	int			side = j->by_rows ? j->M : j->N;
	int			start = (int) begin * SLICE_ALIGN;
	int			stop = (int) end * SLICE_ALIGN;

	if (stop > side)
		stop = side;
	gemm_slice(j, start, stop - start);
}

void
vqa_compute_set_threads(int threads)
{
	openblas_set_num_threads(1);
	vqa_parallel_set_threads(threads);
}

void
vqa_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
		  int lda, const float *B, int ldb, float beta, float *C, int ldc, const float *bias)
{
	GemmJob		j = {trans_a, trans_b, M >= N, M, N, K, lda, ldb, ldc, alpha, beta, A, B, bias, C};
	int			side = j.by_rows ? M : N;

	if (M <= 0 || N <= 0)
		return;
	if (vqa_parallel_threads() == 1 || (long) M * N * K < SPLIT_MIN_MACS)
	{
		gemm_slice(&j, 0, side);
		return;
	}
	vqa_parallel_for((size_t) (side + SLICE_ALIGN - 1) / SLICE_ALIGN, 1, gemm_tiles, &j);
}
