/*
 * sparse.h: pruned weight matrices in a column-paneled compressed sparse
 * row form, the linear layer over them (evaluation of compacted models and
 * Stage 3's forward pass), and Stage 3's backward products: the input
 * gradient through the transposed matrix and the weight gradient at the
 * kept positions only.
 *
 * The columns are cut in panels; within a panel the kept weights are
 * stored row by row. The kernels work on blocks of input rows (64 with
 * AVX-512, 32 with AVX2, 16 on the baseline) whose panel is transposed into
 * a VQA_CSR_TILE_BYTES buffer, which every x86-64 core's level-1 data cache
 * holds, so each kept weight is one broadcast and four vector multiply-adds
 * on inputs in that cache, whatever the matrix's width, and the weights are
 * read once per block. A panel is as wide as that buffer allows for the
 * kernels chosen when the matrix is built (128 columns with AVX-512, 256
 * with AVX2, 512 on the baseline): the wider the panel, the longer each
 * row's run of kept weights between the sums' loads and stores. They are compiled for AVX-512, AVX2 and a portable baseline
 * and chosen at first use: the best the CPU has, or the one named by the
 * environment variable VQAPRUNE_SPARSE_ISA (avx512, avx2, baseline) if the
 * CPU can run it.
 */
#ifndef VQAPRUNE_SPARSE_H
#define VQAPRUNE_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#define VQA_CSR_TILE_BYTES 32768

typedef struct VqaCsr
{
	int			rows;			/* output features */
	int			cols;			/* input features */
	int			panel;			/* columns per panel */
	int			panels;			/* ceil(cols / panel) */
	size_t		nnz;
	/* kept weights of row o in panel p: [start[p * rows + o], start[p * rows + o + 1]) */
	int64_t    *start;			/* panels * rows + 1 */
	uint16_t   *col;			/* nnz: the column within its panel */
	float	   *val;			/* nnz */
	/*
	 * Training (vqa_csr_make_trainable): the gradient of each kept weight,
	 * and the transposed matrix, whose kept weight k is val[t_from[k]].
	 */
	float	   *grad;			/* nnz, or NULL */
	struct VqaCsr *t;
	int64_t    *t_from;
} VqaCsr;

/*
 * The kept weights of a rows x cols matrix: those where mask is not 0 (all
 * when mask is NULL). NULL when memory runs out.
 */
VqaCsr	   *vqa_csr_from_dense(const float *w, const float *mask, int rows, int cols);
void		vqa_csr_free(VqaCsr *csr);

/* The kept weights written into their places of a dense rows x cols matrix (others untouched). */
void		vqa_csr_to_dense(const VqaCsr *csr, float *w);

/* The kept weights' values read from their places in a dense matrix. */
void		vqa_csr_load_values(VqaCsr *csr, const float *w);

/*
 * out[M, rows] = inp[M, cols] W^T + b (b may be NULL), over the worker pool
 * (parallel.h). 0, or -1 when memory runs out.
 */
int			vqa_csr_linear(const VqaCsr *w, const float *inp, const float *b, float *out, int M);

/*
 * For training: a zeroed gradient and the transposed matrix. 0, or -1 when
 * memory runs out.
 */
int			vqa_csr_make_trainable(VqaCsr *w);

/* The transposed matrix's values from val, after val changed. */
void		vqa_csr_sync_transpose(VqaCsr *w);

/*
 * The backward pass of out = inp W^T for a trainable matrix: dinp (if not
 * NULL) += dout W, through the transposed matrix, and grad += the kept
 * entries of dout^T inp (sampled dense-dense products). 0, or -1 when
 * memory runs out.
 */
int			vqa_csr_backward(VqaCsr *w, float *dinp, const float *dout, const float *inp, int M);

/* The instruction set the kernels run with: "avx512", "avx2" or "baseline". */
const char *vqa_sparse_isa(void);

/*
 * Runs the kernels with the named instruction set from now on (NULL: the
 * best the CPU has). 0, or -1 if there is no such set or the CPU cannot
 * run it (nothing changes then).
 */
int			vqa_sparse_set_isa(const char *name);

/*
 * The largest kept fraction of a matrix at which the sparse linear layer is
 * faster than the dense product on this machine, with the kernels chosen
 * and the worker pool's threads: measured on the first call (about 0.1 s,
 * on a 3072 x 768 matrix), then remembered.
 */
double		vqa_sparse_crossover_density(void);

#endif
