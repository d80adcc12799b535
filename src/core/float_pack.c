/*
 * float_pack.c: byte-shuffled, deflated float32 (float_pack.h).
 */
#include "vqaprune/float_pack.h"

#include <string.h>
#include <zlib.h>

#define HEADER 4

size_t
vqa_float_pack_bound(size_t n)
{
	return HEADER + compressBound((uLong) (4 * n));
}

size_t
vqa_float_pack(const float *values, size_t n, uint8_t *out, uint8_t *work)
{
	uLongf		len = (uLongf) (vqa_float_pack_bound(n) - HEADER);

	if (n >= ((size_t) 1 << 32))
		return 0;
	/* plane k holds byte k (by significance) of every value */
	for (size_t i = 0; i < n; i++)
	{
		uint32_t	bits;

		memcpy(&bits, &values[i], 4);
		for (int k = 0; k < 4; k++)
			work[(size_t) k * n + i] = (uint8_t) (bits >> (8 * k));
	}
	for (int k = 0; k < 4; k++)
		out[k] = (uint8_t) (n >> (8 * k));
	if (compress2(out + HEADER, &len, work, (uLong) (4 * n), Z_DEFAULT_COMPRESSION) != Z_OK)
		return 0;
	return HEADER + len;
}

int64_t
vqa_float_packed_count(const uint8_t *in, size_t len)
{
	if (len < HEADER)
		return -1;
	return (int64_t) in[0] | (int64_t) in[1] << 8 | (int64_t) in[2] << 16 | (int64_t) in[3] << 24;
}

int
vqa_float_unpack(const uint8_t *in, size_t len, float *values, uint8_t *work)
{
	int64_t		n = vqa_float_packed_count(in, len);
	uLongf		out_len = (uLongf) (4 * n);

	if (n < 0 || uncompress(work, &out_len, in + HEADER, (uLong) (len - HEADER)) != Z_OK ||
		out_len != (uLongf) (4 * n))
		return -1;
	for (int64_t i = 0; i < n; i++)
	{
		uint32_t	bits = 0;

		for (int k = 0; k < 4; k++)
			bits |= (uint32_t) work[(size_t) k * n + i] << (8 * k);
		memcpy(&values[i], &bits, 4);
	}
	return 0;
}
