/*
 * parallel.h: a small pool of worker threads for the element-wise work of
 * the core (GeLU, LayerNorm, softmax, attention heads, Adam), which would
 * otherwise leave all but one core idle between the BLAS calls.
 *
 * Workers block (no spinning) between jobs, block every signal (the host
 * process, e.g. a PostgreSQL backend, handles signals on its main thread),
 * and never allocate: the work functions only touch memory they are given.
 */
#ifndef VQAPRUNE_PARALLEL_H
#define VQAPRUNE_PARALLEL_H

#include <stddef.h>

/* Work on items [begin, end) of a job; worker is 0 .. threads - 1. */
typedef void (*VqaRangeFn) (void *arg, size_t begin, size_t end, int worker);

/* Threads used by vqa_parallel_for (1 = the caller alone); at most 64. */
void		vqa_parallel_set_threads(int threads);
int			vqa_parallel_threads(void);

/*
 * Runs fn over [0, n) split in contiguous ranges, one per thread, and
 * returns when all are done. Jobs of fewer than 2 * min_items items run on
 * the caller alone.
 */
void		vqa_parallel_for(size_t n, size_t min_items, VqaRangeFn fn, void *arg);

#endif
