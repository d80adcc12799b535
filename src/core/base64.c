/*
 * base64.c: RFC 4648 base64 decoding (standard alphabet, '=' padding).
 *
 * The region-feature TSV files hold every array as base64 text, some 300 KB
 * of it per image, so this loop is where loading features spends its time.
 * Each group of 4 characters goes through a 256-entry table and becomes 3
 * bytes with shifts and ORs only; an invalid character maps to a value with
 * the high bit set, which is ORed into a flag checked once after the loop
 * rather than branched on per character. Padding may only appear in the last
 * group ("xx==" or "xxx="), and the input length must be a multiple of 4.
 */
#include "vqaprune/features_tsv.h"

#include <stdint.h>

#define BAD 0xFF

static const uint8_t decode_table[256] = {
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,  62, BAD, BAD, BAD,  63,
	 52,  53,  54,  55,  56,  57,  58,  59,  60,  61, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
	 15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, BAD, BAD, BAD, BAD, BAD,
	BAD,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
	 41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
};

long
vqa_base64_decode(const char *in, size_t len, unsigned char *out)
{
	const unsigned char *s = (const unsigned char *) in;
	unsigned char *o = out;
	size_t		n_full;
	size_t		i;
	uint32_t	bad = 0;
	uint32_t	a,
				b,
				c,
				d;

	if (len % 4 != 0)
		return -1;
	if (len == 0)
		return 0;

	/* every group but the last: no padding allowed ('=' is BAD) */
	n_full = len / 4 - 1;
	for (i = 0; i < n_full; i++)
	{
		uint32_t	v;

		a = decode_table[s[0]];
		b = decode_table[s[1]];
		c = decode_table[s[2]];
		d = decode_table[s[3]];
		bad |= a | b | c | d;
		v = (a << 18) | (b << 12) | (c << 6) | d;
		o[0] = (unsigned char) (v >> 16);
		o[1] = (unsigned char) (v >> 8);
		o[2] = (unsigned char) v;
		s += 4;
		o += 3;
	}
	if (bad & 0x80)
		return -1;

	/* the last group: "xxxx", "xxx=" or "xx==" */
	a = decode_table[s[0]];
	b = decode_table[s[1]];
	if ((a | b) & 0x80)
		return -1;
	if (s[2] == '=')
	{
		if (s[3] != '=')
			return -1;
		*o++ = (unsigned char) ((a << 2) | (b >> 4));
		return (long) (o - out);
	}
	c = decode_table[s[2]];
	if (c & 0x80)
		return -1;
	if (s[3] == '=')
	{
		*o++ = (unsigned char) ((a << 2) | (b >> 4));
		*o++ = (unsigned char) ((b << 4) | (c >> 2));
		return (long) (o - out);
	}
	d = decode_table[s[3]];
	if (d & 0x80)
		return -1;
	*o++ = (unsigned char) ((a << 2) | (b >> 4));
	*o++ = (unsigned char) ((b << 4) | (c >> 2));
	*o++ = (unsigned char) ((c << 6) | d);
	return (long) (o - out);
}
