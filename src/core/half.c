/*
 * half.c: binary16 conversions (half.h).
 *
 * The portable loops work on the bit patterns: a float's exponent is
 * rebiased from 127 to 15; values too small for a normal half become
 * subnormals, with the shifted-out bits rounded to nearest even; values
 * too large become infinity. The F16C path converts eight values per
 * instruction and is taken when the CPU reports F16C and AVX.
 */
#include "vqaprune/half.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_F16C_PATH 1
#endif

static uint32_t
float_bits(float f)
{
	uint32_t	u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float
bits_float(uint32_t u)
{
	float		f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static uint16_t
half_of(float f)
{
	uint32_t	u = float_bits(f);
	uint16_t	sign = (uint16_t) ((u >> 16) & 0x8000);
	uint32_t	abs = u & 0x7fffffff;

	if (abs > 0x7f800000)		/* NaN: quiet, with the top payload bits */
		return sign | 0x7e00 | (uint16_t) ((abs >> 13) & 0x3ff);
	if (abs >= 0x477ff000)		/* rounds to 65520 or more: infinity */
		return sign | 0x7c00;
	if (abs < 0x38800000)		/* below the smallest normal half, 2^-14 */
	{
		/* value = mantissa * 2^(e - 150), in units of the smallest subnormal, 2^-24 */
		int			shift = 126 - (int) (abs >> 23);
		uint32_t	mantissa = (abs & 0x7fffff) | 0x800000;
		uint32_t	kept,
					rest,
					half_way;

		if (abs < 0x33000000)	/* below half the smallest subnormal: zero */
			return sign;
		kept = mantissa >> shift;
		rest = mantissa & ((1u << shift) - 1);
		half_way = 1u << (shift - 1);
		if (rest > half_way || (rest == half_way && (kept & 1)))
			kept++;
		return sign | (uint16_t) kept;
	}
	{
		/* normal: rebias, round 13 dropped bits to nearest even (a carry may reach infinity) */
		uint32_t	h = ((abs - 0x38000000) >> 13);
		uint32_t	rest = abs & 0x1fff;

		if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
			h++;
		return sign | (uint16_t) h;
	}
}

static float
float_of(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exponent = (h >> 10) & 0x1f;
	uint32_t	mantissa = h & 0x3ff;

	if (exponent == 0x1f)		/* infinity; NaN comes out quiet, as F16C makes it */
		return bits_float(sign | 0x7f800000 | (mantissa << 13) | (mantissa ? 0x400000 : 0));
	if (exponent == 0)
	{
		/* zero and subnormals: mantissa * 2^-24, exact in a float */
		float		f = (float) mantissa * 5.9604644775390625e-8f;

		return sign ? -f : f;
	}
	return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

void
vqa_half_from_float_portable(const float *in, uint16_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = half_of(in[i]);
}

void
vqa_float_from_half_portable(const uint16_t *in, float *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = float_of(in[i]);
}

#ifdef HAVE_F16C_PATH
__attribute__((target("avx,f16c")))
static void
half_from_float_f16c(const float *in, uint16_t *out, size_t n)
{
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *) (out + i),
						 _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
	vqa_half_from_float_portable(in + i, out + i, n - i);
}

__attribute__((target("avx,f16c")))
static void
float_from_half_f16c(const uint16_t *in, float *out, size_t n)
{
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (in + i))));
	vqa_float_from_half_portable(in + i, out + i, n - i);
}

/* CPUID leaf 1: F16C and AVX, and the OS saving the YMM registers (XGETBV). */
static int
have_f16c(void)
{
	static int	known = -1;

	if (known < 0)
	{
		unsigned int eax,
					ebx,
					ecx,
					edx;

		known = 0;
		if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) && (ecx & bit_AVX) &&
			(ecx & bit_OSXSAVE))
		{
			unsigned int lo,
						hi;

			__asm__ volatile ("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
			known = (lo & 6) == 6;
		}
	}
	return known;
}
#endif

void
vqa_half_from_float(const float *in, uint16_t *out, size_t n)
{
#ifdef HAVE_F16C_PATH
	if (have_f16c())
	{
		half_from_float_f16c(in, out, n);
		return;
	}
#endif
	vqa_half_from_float_portable(in, out, n);
}

void
vqa_float_from_half(const uint16_t *in, float *out, size_t n)
{
#ifdef HAVE_F16C_PATH
	if (have_f16c())
	{
		float_from_half_f16c(in, out, n);
		return;
	}
#endif
	vqa_float_from_half_portable(in, out, n);
}

const char *
vqa_half_path(void)
{
#ifdef HAVE_F16C_PATH
	if (have_f16c())
		return "f16c";
#endif
	return "portable";
}
