/*
 * floats.h: zeroed float buffers for the core's large arrays (weights,
 * gradients, optimiser state).
 */
#ifndef VQAPRUNE_FLOATS_H
#define VQAPRUNE_FLOATS_H

#include <stddef.h>

/*
 * n zeroed floats (at least one), aligned to a cache line; NULL when memory
 * runs out; free() releases them. Zeroed by writing, not by calloc: arrays
 * read before they are first written (Adam's moments, gradients added to)
 * would otherwise be mapped to the kernel's zero page and copied on the
 * first write, each copy flushing the other threads' TLBs (at base shape,
 * 11 s of the first training step at 2 threads).
 */
float	   *vqa_zeroed_floats(size_t n);

#endif
