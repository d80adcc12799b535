/*
 * gemm.h: the core's one way to call sgemm.
 *
 * All of the core's threads are the worker pool's (parallel.h). A product
 * large enough to share is split in row or column slices, one per worker,
 * and each worker calls a single-threaded OpenBLAS sgemm on its slice; the
 * attention heads, already spread over the pool, call it directly. OpenBLAS
 * itself is kept at one thread (vqa_compute_set_threads), so that its own
 * threads, which spin for a while after every call, never compete with the
 * pool's for the cores.
 */
#ifndef VQAPRUNE_GEMM_H
#define VQAPRUNE_GEMM_H

#include <stdbool.h>

/* Threads for all compute: the pool's size; OpenBLAS stays at one. */
void		vqa_compute_set_threads(int threads);

/*
 * C = alpha op(A) op(B) + beta C, row-major, op(A) M x K, op(B) K x N, as
 * cblas_sgemm; if bias is given (length N), it is added to every row of C.
 */
void		vqa_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
					  const float *A, int lda, const float *B, int ldb, float beta,
					  float *C, int ldc, const float *bias);

#endif
