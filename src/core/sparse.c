/*
 * sparse.c: column-paneled compressed sparse rows, the sparse linear layer
 * and Stage 3's backward products (sparse.h); the kernels themselves are
 * in sparse_kernels.h, built once per instruction set.
 *
 * Why this layout: the weights are read once per block of 64 (AVX-512),
 * 32 (AVX2) or 16 (baseline) input rows, and the block's transposed inputs
 * for one panel (128, 256 or 512 columns) take 32 KB, so the multiply-adds
 * read inputs from the first cache level whatever the matrix's width.
 * XNNPACK's sparse kernels use the same broadcast-weight, wide-row-tile
 * scheme; the panels bound the tile's footprint for wide matrices (3072
 * inputs), and the sums stay in a per-thread buffer between panels. The
 * panel is as wide as that bound allows because each row's sums are loaded
 * and stored once per panel: on an AMD Zen 3 (AVX2), 256 columns rather
 * than 128 made the products at 90% sparsity 1.2-1.4x faster, and 512 (a
 * 64 KB tile) lost again at 70%.
 */
#include "vqaprune/sparse.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vqaprune/floats.h"
#include "vqaprune/gemm.h"
#include "vqaprune/isa.h"
#include "vqaprune/parallel.h"
#include "vqaprune/rng.h"

/*
 * The kernels for each instruction set. GCC unrolls them (the loads of
 * several kept weights in flight at once) and contracts the multiply-adds
 * whatever the C standard mode.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SPARSE_X86 1

#define ISA avx512
#define LANES 16
#define ISA_TARGET __attribute__((target("arch=x86-64-v4"), optimize("unroll-loops", "fp-contract=fast")))
#include "sparse_kernels.h"
#undef ISA
#undef LANES
#undef ISA_TARGET

#define ISA avx2
#define LANES 8
#define ISA_TARGET __attribute__((target("arch=x86-64-v3"), optimize("unroll-loops", "fp-contract=fast")))
#include "sparse_kernels.h"
#undef ISA
#undef LANES
#undef ISA_TARGET

#define ISA_TARGET __attribute__((optimize("unroll-loops", "fp-contract=fast")))
#else
#define ISA_TARGET
#endif

#define ISA baseline
#define LANES 4
#include "sparse_kernels.h"
#undef ISA
#undef LANES
#undef ISA_TARGET

typedef struct SparseKernels
{
	const char *name;
	int			rows;			/* input rows per linear block */
	int			grad_rows;		/* per weight-gradient block */
	void		(*linear_block) (const VqaCsr *w, const float *inp, const float *b, float *out,
								 int m0, int count, int o0, int o1, int accumulate, float *xt,
								 float *ot);
	void		(*grad_block) (VqaCsr *w, const float *dout, const float *inp, int m0, int count,
							   int o0, int o1, float *xt, float *dt);
} SparseKernels;

static const SparseKernels all_kernels[] = {
#ifdef SPARSE_X86
	{"avx512", 64, 128, linear_block_avx512, grad_block_avx512},
	{"avx2", 32, 64, linear_block_avx2, grad_block_avx2},
#endif
	{"baseline", 16, 32, linear_block_baseline, grad_block_baseline},
};

#define N_KERNELS (sizeof(all_kernels) / sizeof(all_kernels[0]))

static const SparseKernels *kernels;

int
vqa_sparse_set_isa(const char *name)
{
	const SparseKernels *k = vqa_isa_choose(all_kernels, N_KERNELS, sizeof(all_kernels[0]), name);

	if (k == NULL)
		return -1;
	kernels = k;
	return 0;
}

static const SparseKernels *
chosen_kernels(void)
{
	if (kernels == NULL && vqa_sparse_set_isa(getenv("VQAPRUNE_SPARSE_ISA")) != 0)
		vqa_sparse_set_isa(NULL);
	return kernels;
}

const char *
vqa_sparse_isa(void)
{
	return chosen_kernels()->name;
}

/* ---------------------------------------------------------------------- */
/* The format                                                             */
/* ---------------------------------------------------------------------- */

static VqaCsr *
csr_alloc(int rows, int cols, size_t nnz, int panel)
{
	VqaCsr	   *csr = calloc(1, sizeof(VqaCsr));

	if (csr == NULL)
		return NULL;
	csr->rows = rows;
	csr->cols = cols;
	csr->panel = panel;
	csr->panels = cols > 0 ? (cols + panel - 1) / panel : 1;
	csr->nnz = nnz;
	csr->start = calloc((size_t) csr->panels * rows + 1, sizeof(int64_t));
	csr->col = malloc(sizeof(uint16_t) * (nnz ? nnz : 1));
	csr->val = malloc(sizeof(float) * (nnz ? nnz : 1));
	if (csr->start == NULL || csr->col == NULL || csr->val == NULL)
	{
		vqa_csr_free(csr);
		return NULL;
	}
	return csr;
}

VqaCsr *
vqa_csr_from_dense(const float *w, const float *mask, int rows, int cols)
{
	size_t		nnz = 0;
	VqaCsr	   *csr;

	for (size_t i = 0; i < (size_t) rows * cols; i++)
		nnz += mask == NULL || mask[i] != 0.0f;
	csr = csr_alloc(rows, cols, nnz,
					(int) (VQA_CSR_TILE_BYTES / sizeof(float)) / chosen_kernels()->rows);
	if (csr == NULL)
		return NULL;
	nnz = 0;
	for (int p = 0; p < csr->panels; p++)
	{
		int			c0 = p * csr->panel;
		int			c1 = cols - c0 < csr->panel ? cols : c0 + csr->panel;

		for (int r = 0; r < rows; r++)
		{
			csr->start[(size_t) p * rows + r] = (int64_t) nnz;
			for (int c = c0; c < c1; c++)
			{
				size_t		i = (size_t) r * cols + c;

				if (mask != NULL && mask[i] == 0.0f)
					continue;
				csr->col[nnz] = (uint16_t) (c - c0);
				csr->val[nnz] = w[i];
				nnz++;
			}
		}
	}
	csr->start[(size_t) csr->panels * rows] = (int64_t) nnz;
	return csr;
}

void
vqa_csr_free(VqaCsr *csr)
{
	if (csr == NULL)
		return;
	vqa_csr_free(csr->t);
	free(csr->t_from);
	free(csr->grad);
	free(csr->start);
	free(csr->col);
	free(csr->val);
	free(csr);
}

void
vqa_csr_to_dense(const VqaCsr *csr, float *w)
{
	for (int p = 0; p < csr->panels; p++)
		for (int r = 0; r < csr->rows; r++)
		{
			float	   *row = w + (size_t) r * csr->cols + (size_t) p * csr->panel;

			for (int64_t q = csr->start[(size_t) p * csr->rows + r];
				 q < csr->start[(size_t) p * csr->rows + r + 1]; q++)
				row[csr->col[q]] = csr->val[q];
		}
}

void
vqa_csr_load_values(VqaCsr *csr, const float *w)
{
	for (int p = 0; p < csr->panels; p++)
		for (int r = 0; r < csr->rows; r++)
		{
			const float *row = w + (size_t) r * csr->cols + (size_t) p * csr->panel;

			for (int64_t q = csr->start[(size_t) p * csr->rows + r];
				 q < csr->start[(size_t) p * csr->rows + r + 1]; q++)
				csr->val[q] = row[csr->col[q]];
		}
}

int
vqa_csr_make_trainable(VqaCsr *w)
{
	VqaCsr	   *t;
	int64_t    *next;

	if (w->grad != NULL)
		return 0;
	t = csr_alloc(w->cols, w->rows, w->nnz, w->panel);
	w->grad = vqa_zeroed_floats(w->nnz);
	w->t_from = malloc(sizeof(int64_t) * (w->nnz ? w->nnz : 1));
	next = t ? calloc((size_t) t->panels * t->rows + 1, sizeof(int64_t)) : NULL;
	if (t == NULL || w->grad == NULL || w->t_from == NULL || next == NULL)
	{
		vqa_csr_free(t);
		free(w->grad);
		free(w->t_from);
		free(next);
		w->grad = NULL;
		w->t_from = NULL;
		return -1;
	}

	/*
	 * A counting sort: the transpose's row is w's column c, its panel that
	 * of w's row o; visiting o in increasing order keeps each of its rows
	 * sorted.
	 */
#define T_SLOT(o, c) ((size_t) ((o) / t->panel) * t->rows + (c))
	for (int o = 0; o < w->rows; o++)
		for (int p = 0; p < w->panels; p++)
			for (int64_t q = w->start[(size_t) p * w->rows + o]; q < w->start[(size_t) p * w->rows + o + 1]; q++)
				t->start[T_SLOT(o, p * w->panel + w->col[q]) + 1]++;
	for (size_t s = 0; s < (size_t) t->panels * t->rows; s++)
	{
		t->start[s + 1] += t->start[s];
		next[s] = t->start[s];
	}
	for (int o = 0; o < w->rows; o++)
		for (int p = 0; p < w->panels; p++)
			for (int64_t q = w->start[(size_t) p * w->rows + o]; q < w->start[(size_t) p * w->rows + o + 1]; q++)
			{
				int64_t		k = next[T_SLOT(o, p * w->panel + w->col[q])]++;

				t->col[k] = (uint16_t) (o % t->panel);
				w->t_from[k] = q;
			}
#undef T_SLOT
	free(next);
	w->t = t;
	vqa_csr_sync_transpose(w);
	return 0;
}

void
vqa_csr_sync_transpose(VqaCsr *w)
{
	for (size_t k = 0; k < w->nnz; k++)
		w->t->val[k] = w->val[w->t_from[k]];
}

/* ---------------------------------------------------------------------- */
/* The products over the worker pool                                      */
/* ---------------------------------------------------------------------- */

typedef struct CsrJob
{
	const SparseKernels *k;
	VqaCsr	   *w;
	const float *inp;			/* linear: the input; gradient: inp */
	const float *b;
	const float *dout;
	float	   *out;
	int			M;
	int			accumulate;
	int			chunks;			/* of output features per block */
	size_t		per_worker;		/* scratch floats */
	float	   *scratch;
} CsrJob;

/* Items are (block, chunk of output features) pairs. */
static void
linear_items(void *arg, size_t begin, size_t end, int worker)
{
	const CsrJob *j = arg;
	int			R = j->k->rows;
	float	   *xt = j->scratch + (size_t) worker * j->per_worker;
	float	   *ot = xt + (size_t) j->w->panel * R;

	for (size_t item = begin; item < end; item++)
	{
		int			m0 = (int) (item / j->chunks) * R;
		int			chunk = (int) (item % j->chunks);
		int			count = j->M - m0 < R ? j->M - m0 : R;

		j->k->linear_block(j->w, j->inp, j->b, j->out, m0, count,
						   (int) ((int64_t) j->w->rows * chunk / j->chunks),
						   (int) ((int64_t) j->w->rows * (chunk + 1) / j->chunks),
						   j->accumulate, xt, ot);
	}
}

/*
 * The calling thread's scratch for the workers, kept between products: a
 * fresh allocation of this size each time comes as new pages from the
 * kernel, whose zeroing cost as much as a 90%-sparse product's arithmetic.
 */
static _Thread_local float *scratch;
static _Thread_local size_t scratch_floats;

static float *
take_scratch(size_t floats)
{
	if (floats > scratch_floats)
	{
		/*
		 * Aligned to a cache line: malloc's 16 bytes would split half of
		 * the tiles' vector loads across two lines.
		 */
		float	   *bigger = aligned_alloc(64, (sizeof(float) * floats + 63) / 64 * 64);

		if (bigger == NULL)
			return NULL;
		free(scratch);
		scratch = bigger;
		scratch_floats = floats;
	}
	return scratch;
}

static int
run_linear(const SparseKernels *k, const VqaCsr *w, const float *inp, const float *b, float *out,
		   int M, int accumulate)
{
	int			threads = vqa_parallel_threads();
	size_t		blocks = (size_t) (M + k->rows - 1) / k->rows;
	CsrJob		j = {k, (VqaCsr *) w, inp, b, NULL, out, M, accumulate, 1, 0, NULL};

	if (M <= 0)
		return 0;
	/* few blocks (a short batch): split the outputs too, to keep every thread busy */
	while (blocks * j.chunks < 2 * (size_t) threads && w->rows / (j.chunks * 2) >= 64)
		j.chunks *= 2;
	j.per_worker = (size_t) (w->panel + w->rows) * k->rows;
	j.scratch = take_scratch(j.per_worker * threads);
	if (j.scratch == NULL)
		return -1;
	vqa_parallel_for(blocks * j.chunks, 1, linear_items, &j);
	return 0;
}

int
vqa_csr_linear(const VqaCsr *w, const float *inp, const float *b, float *out, int M)
{
	return run_linear(chosen_kernels(), w, inp, b, out, M, 0);
}

/* Items are chunks of output features, each over every block: no two write one gradient. */
static void
grad_items(void *arg, size_t begin, size_t end, int worker)
{
	const CsrJob *j = arg;
	int			R = j->k->grad_rows;
	float	   *xt = j->scratch + (size_t) worker * j->per_worker;
	float	   *dt = xt + (size_t) j->w->panel * R;

	for (size_t chunk = begin; chunk < end; chunk++)
	{
		int			o0 = (int) ((int64_t) j->w->rows * chunk / j->chunks);
		int			o1 = (int) ((int64_t) j->w->rows * (chunk + 1) / j->chunks);

		for (int m0 = 0; m0 < j->M; m0 += R)
			j->k->grad_block(j->w, j->dout, j->inp, m0, j->M - m0 < R ? j->M - m0 : R,
							 o0, o1, xt, dt);
	}
}

int
vqa_csr_backward(VqaCsr *w, float *dinp, const float *dout, const float *inp, int M)
{
	const SparseKernels *k = chosen_kernels();
	int			threads = vqa_parallel_threads();
	CsrJob		j = {k, w, inp, NULL, dout, NULL, M, 0, threads, 0, NULL};

	if (M <= 0)
		return 0;
	/* both products' scratch first: a failure then leaves dinp untouched */
	j.per_worker = (size_t) (w->panel + w->rows / threads + 1) * k->grad_rows;
	if (take_scratch(j.per_worker * threads) == NULL ||
		take_scratch((size_t) (w->panel + w->cols) * k->rows * threads) == NULL)
		return -1;
	if (dinp && run_linear(k, w->t, dout, NULL, dinp, M, 1) != 0)
		return -1;
	j.scratch = take_scratch(j.per_worker * threads);
	if (j.scratch == NULL)
		return -1;
	vqa_parallel_for((size_t) threads, 1, grad_items, &j);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The crossover with the dense product                                   */
/* ---------------------------------------------------------------------- */

static double crossover = -1.0;
static pthread_once_t crossover_once = PTHREAD_ONCE_INIT;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * A 3072 x 768 matrix (the feed-forward's first) at 256 input rows: the
 * dense product's time against the sparse one's at 10% and 40% kept, best
 * of five each; the sparse time is linear in the kept weights, so the
 * crossover is where that line meets the dense time less a 10% margin.
 */
static void
measure_crossover(void)
{
	const int	rows = 3072,
				cols = 768,
				M = 256;
	const double kept[2] = {0.1, 0.4};
	float	   *w = malloc(sizeof(float) * rows * cols);
	float	   *mask = malloc(sizeof(float) * rows * cols);
	float	   *inp = malloc(sizeof(float) * M * cols);
	float	   *out = malloc(sizeof(float) * M * rows);
	double		dense = 1e30,
				sparse[2] = {1e30, 1e30};
	VqaCsr	   *csr[2] = {NULL, NULL};
	VqaRng		rng;

	crossover = 0.0;
	if (w == NULL || mask == NULL || inp == NULL || out == NULL)
		goto done;
	vqa_rng_seed(&rng, 7);
	for (int i = 0; i < rows * cols; i++)
	{
		w[i] = (float) vqa_rng_uniform(&rng) - 0.5f;
		mask[i] = (float) vqa_rng_uniform(&rng);
	}
	for (int i = 0; i < M * cols; i++)
		inp[i] = (float) vqa_rng_uniform(&rng) - 0.5f;
	for (int d = 0; d < 2; d++)
	{
		float	   *m = malloc(sizeof(float) * rows * cols);

		if (m == NULL)
			goto done;
		for (int i = 0; i < rows * cols; i++)
			m[i] = mask[i] < kept[d] ? 1.0f : 0.0f;
		csr[d] = vqa_csr_from_dense(w, m, rows, cols);
		free(m);
		if (csr[d] == NULL)
			goto done;
	}
	/* one untimed round (first touches, the pool's start), then the best of five */
	for (int rep = 0; rep < 6; rep++)
	{
		double		t0 = now();

		vqa_sgemm(false, true, M, rows, cols, 1.0f, inp, cols, w, cols, 0.0f, out, rows, NULL);
		if (rep > 0 && now() - t0 < dense)
			dense = now() - t0;
		for (int d = 0; d < 2; d++)
		{
			t0 = now();
			if (vqa_csr_linear(csr[d], inp, NULL, out, M) != 0)
				goto done;
			if (rep > 0 && now() - t0 < sparse[d])
				sparse[d] = now() - t0;
		}
	}
	{
		double		slope = (sparse[1] - sparse[0]) / (kept[1] - kept[0]);
		double		target = dense / 1.1;

		if (slope > 0)
			crossover = kept[0] + (target - sparse[0]) / slope;
		else
			crossover = sparse[1] < target ? kept[1] : 0.0;
		crossover = crossover < 0.0 ? 0.0 : crossover > 1.0 ? 1.0 : crossover;
	}
done:
	vqa_csr_free(csr[0]);
	vqa_csr_free(csr[1]);
	free(w);
	free(mask);
	free(inp);
	free(out);
}

double
vqa_sparse_crossover_density(void)
{
	pthread_once(&crossover_once, measure_crossover);
	return crossover;
}
