/*
 * sparse.h: pruned weight matrices in compressed sparse rows, and the
 * linear layer over them, for evaluating compacted models.
 *
 * A dense GEMM does the same work whatever the mask; at high sparsity a
 * kernel that only touches kept weights does less. The kernel works on
 * blocks of 16 input rows at once, laid out so that each kept weight is
 * one broadcast and one vector multiply-add; it is compiled for AVX-512,
 * AVX2 and a baseline, chosen at load time.
 */
#ifndef VQAPRUNE_SPARSE_H
#define VQAPRUNE_SPARSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct VqaCsr
{
	int			rows;			/* output features */
	int			cols;			/* input features */
	size_t		nnz;
	int64_t    *row_start;		/* rows + 1 */
	int32_t    *col;			/* nnz */
	float	   *val;			/* nnz */
} VqaCsr;

/*
 * The kept weights of a rows x cols matrix: those where mask is not 0 (all
 * when mask is NULL). NULL when memory runs out.
 */
VqaCsr	   *vqa_csr_from_dense(const float *w, const float *mask, int rows, int cols);
void		vqa_csr_free(VqaCsr *csr);

/*
 * out[M, rows] = inp[M, cols] W^T + b (b may be NULL), over the worker pool
 * (parallel.h). 0, or -1 when memory runs out.
 */
int			vqa_csr_linear(const VqaCsr *w, const float *inp, const float *b, float *out, int M);

#endif
