/*
 * half.h: IEEE 754 binary16 ("half") conversions for region features stored
 * at half precision. Rounding is to nearest, ties to even, as F16C rounds;
 * the CPU's F16C instructions are used where it has them (chosen at run
 * time), a portable loop otherwise, with the same results.
 */
#ifndef VQAPRUNE_HALF_H
#define VQAPRUNE_HALF_H

#include <stddef.h>
#include <stdint.h>

/* out[i] = in[i] rounded to binary16 (overflow to infinity, NaN kept NaN). */
void		vqa_half_from_float(const float *in, uint16_t *out, size_t n);

/* out[i] = in[i] exactly. */
void		vqa_float_from_half(const uint16_t *in, float *out, size_t n);

/* The same with the portable loops whatever the CPU, for tests. */
void		vqa_half_from_float_portable(const float *in, uint16_t *out, size_t n);
void		vqa_float_from_half_portable(const uint16_t *in, float *out, size_t n);

/* "f16c" or "portable": the path the conversions take on this CPU. */
const char *vqa_half_path(void);

#endif
