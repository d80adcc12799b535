/*
 * float_pack.h: lossless packing of float32 arrays for storage.
 *
 * The bytes of the values are regrouped by significance (all the high
 * bytes, then the next, as HDF5's shuffle filter does) and deflated with
 * zlib. The high byte of a trained weight is its sign and the top of its
 * exponent: few values, so it shrinks to about a third; the mantissa bytes
 * stay as they are. Layout: the value count (4 bytes, little-endian), then
 * the zlib stream.
 */
#ifndef VQAPRUNE_FLOAT_PACK_H
#define VQAPRUNE_FLOAT_PACK_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes vqa_float_pack writes for n values. */
size_t		vqa_float_pack_bound(size_t n);

/*
 * Packs values[0..n) (n < 2^32) into out (vqa_float_pack_bound(n) bytes);
 * work holds 4 n bytes. Returns the bytes written, or 0 on failure.
 */
size_t		vqa_float_pack(const float *values, size_t n, uint8_t *out, uint8_t *work);

/* The value count of packed data, or -1 when it is too short to have one. */
int64_t		vqa_float_packed_count(const uint8_t *in, size_t len);

/*
 * Unpacks into values (vqa_float_packed_count values); work holds 4 times
 * that many bytes. 0, or -1 when the data is corrupt.
 */
int			vqa_float_unpack(const uint8_t *in, size_t len, float *values, uint8_t *work);

#endif
