/*
 * sparse.c: compressed sparse rows and the sparse linear layer (sparse.h).
 *
 * For a block of 16 input rows, the block is transposed so that input
 * feature j of the 16 rows is 16 contiguous floats; then each output
 * feature is the sum, over its kept weights w[o, j], of w times that
 * vector: one broadcast and one 16-wide multiply-add per kept weight, with
 * the 16 sums held in registers. GCC's vector extension gives one zmm
 * register with AVX-512, two ymm with AVX2, four xmm on the baseline;
 * target_clones picks the best the CPU has when the library loads.
 */
#include "vqaprune/sparse.h"

#include <stdlib.h>
#include <string.h>

#include "vqaprune/parallel.h"

#define BLOCK 16

typedef float Vec16 __attribute__((vector_size(BLOCK * sizeof(float))));

VqaCsr *
vqa_csr_from_dense(const float *w, const float *mask, int rows, int cols)
{
	VqaCsr	   *csr = calloc(1, sizeof(VqaCsr));
	size_t		nnz = 0;

	if (csr == NULL)
		return NULL;
	for (size_t i = 0; i < (size_t) rows * cols; i++)
		nnz += mask == NULL || mask[i] != 0.0f;
	csr->rows = rows;
	csr->cols = cols;
	csr->nnz = nnz;
	csr->row_start = malloc(sizeof(int64_t) * (rows + 1));
	csr->col = malloc(sizeof(int32_t) * (nnz ? nnz : 1));
	csr->val = malloc(sizeof(float) * (nnz ? nnz : 1));
	if (csr->row_start == NULL || csr->col == NULL || csr->val == NULL)
	{
		vqa_csr_free(csr);
		return NULL;
	}
	nnz = 0;
	for (int r = 0; r < rows; r++)
	{
		csr->row_start[r] = (int64_t) nnz;
		for (int c = 0; c < cols; c++)
		{
			size_t		i = (size_t) r * cols + c;

			if (mask != NULL && mask[i] == 0.0f)
				continue;
			csr->col[nnz] = c;
			csr->val[nnz] = w[i];
			nnz++;
		}
	}
	csr->row_start[rows] = (int64_t) nnz;
	return csr;
}

void
vqa_csr_free(VqaCsr *csr)
{
	if (csr == NULL)
		return;
	free(csr->row_start);
	free(csr->col);
	free(csr->val);
	free(csr);
}

typedef struct CsrJob
{
	const VqaCsr *w;
	const float *inp;
	const float *b;
	float	   *out;
	int			M;
	float	   *scratch;		/* per worker: cols x BLOCK floats */
} CsrJob;

/*
 * GCC builds the kernel for x86-64-v4 (AVX-512), v3 (AVX2, FMA) and the
 * baseline, and unrolls it: unrolled, the loads of many kept weights are in
 * flight at once (2x the speed here). Other compilers build the baseline.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SPARSE_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), \
										optimize("unroll-loops")))
#else
#define SPARSE_KERNEL
#endif

/* out rows [m0, m0 + count) of one block, count <= BLOCK */
SPARSE_KERNEL
static void
csr_block(const VqaCsr *w, const float *inp, const float *b, float *out, int m0, int count,
		  float *xt)
{
	const int	cols = w->cols;

	/* xt[j] = input feature j of the block's rows; missing rows are zero */
	if (count < BLOCK)
		memset(xt, 0, sizeof(float) * BLOCK * cols);
	for (int k = 0; k < count; k++)
	{
		const float *row = inp + (size_t) (m0 + k) * cols;

		for (int j = 0; j < cols; j++)
			xt[(size_t) j * BLOCK + k] = row[j];
	}
	for (int o = 0; o < w->rows; o++)
	{
		/* four independent sums: one chain of multiply-adds would wait on each other */
		Vec16		acc[4] = {{0}, {0}, {0}, {0}};
		float		sums[BLOCK];
		int64_t		p = w->row_start[o];
		int64_t		end = w->row_start[o + 1];

		for (; p + 4 <= end; p += 4)
			for (int u = 0; u < 4; u++)
			{
				Vec16		x;

				memcpy(&x, xt + (size_t) w->col[p + u] * BLOCK, sizeof(x));
				acc[u] += w->val[p + u] * x;
			}
		for (; p < end; p++)
		{
			Vec16		x;

			memcpy(&x, xt + (size_t) w->col[p] * BLOCK, sizeof(x));
			acc[0] += w->val[p] * x;
		}
		acc[0] += acc[1] + acc[2] + acc[3];
		memcpy(sums, &acc[0], sizeof(sums));
		for (int k = 0; k < count; k++)
			out[(size_t) (m0 + k) * w->rows + o] = sums[k] + (b ? b[o] : 0.0f);
	}
}

static void
csr_blocks(void *arg, size_t begin, size_t end, int worker)
{
	const CsrJob *j = arg;
	float	   *xt = j->scratch + (size_t) worker * j->w->cols * BLOCK;

	for (size_t blk = begin; blk < end; blk++)
	{
		int			m0 = (int) blk * BLOCK;
		int			count = j->M - m0 < BLOCK ? j->M - m0 : BLOCK;

		csr_block(j->w, j->inp, j->b, j->out, m0, count, xt);
	}
}

int
vqa_csr_linear(const VqaCsr *w, const float *inp, const float *b, float *out, int M)
{
	size_t		blocks = (size_t) (M + BLOCK - 1) / BLOCK;
	CsrJob		j = {w, inp, b, out, M, NULL};

	j.scratch = malloc(sizeof(float) * BLOCK * w->cols * vqa_parallel_threads());
	if (j.scratch == NULL)
		return -1;
	vqa_parallel_for(blocks, 1, csr_blocks, &j);
	free(j.scratch);
	return 0;
}
