/*
 * rng.c: xoshiro256** seeded by splitmix64, plus the few distributions the
 * project needs.
 *
 * Why not rand(): its sequence differs between C libraries, its state is
 * global and its range may be 15 bits. xoshiro256** is small, fast, passes
 * the usual statistical batteries and is defined by integer arithmetic
 * alone, so a seed gives the same numbers everywhere. Discrete draws
 * (vqa_rng_below, vqa_rng_weighted, vqa_rng_shuffle_int) use integers only,
 * so data sets and orders built from them are identical on every platform;
 * vqa_rng_normal is for float values such as weights and noise: its values
 * go through log and sqrt, but how many raw draws it consumes does not.
 */
#include <math.h>

#include "vqaprune/rng.h"

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* One splitmix64 step: a strong 64-bit mixer that turns any seed into state. */
static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

void
vqa_rng_seed(VqaRng *rng, uint64_t seed)
{
	uint64_t	x = seed;
	int			i;

	/* splitmix64 never yields four zero words, the one forbidden state */
	for (i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
	rng->spare_normal = 0.0;
	rng->has_spare = 0;
}

void
vqa_rng_seed_stream(VqaRng *rng, uint64_t seed, uint64_t stream)
{
	uint64_t	x = seed;
	uint64_t	mixed_seed = splitmix64(&x);

	/* mix the stream number through splitmix too, so nearby streams differ */
	x = stream ^ UINT64_C(0xD1B54A32D192ED03);
	vqa_rng_seed(rng, mixed_seed ^ splitmix64(&x));
}

uint64_t
vqa_rng_next(VqaRng *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double
vqa_rng_uniform(VqaRng *rng)
{
	/* top 53 bits times 2^-53: exact, and never 1.0 */
	return (double) (vqa_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t
vqa_rng_below(VqaRng *rng, uint64_t n)
{
	uint64_t	threshold;
	uint64_t	r;

	if (n == 0)
		return 0;
	/* reject the lowest 2^64 mod n values so every residue is equally likely */
	threshold = (0 - n) % n;
	do
		r = vqa_rng_next(rng);
	while (r < threshold);
	return r % n;
}

int
vqa_rng_weighted(VqaRng *rng, const int *weights, int n)
{
	uint64_t	total = 0;
	uint64_t	r;
	int			i;

	for (i = 0; i < n; i++)
		if (weights[i] > 0)
			total += (uint64_t) weights[i];
	if (total == 0)
		return (int) vqa_rng_below(rng, (uint64_t) (n > 0 ? n : 1));
	r = vqa_rng_below(rng, total);
	for (i = 0; i < n; i++)
	{
		if (weights[i] <= 0)
			continue;
		if (r < (uint64_t) weights[i])
			return i;
		r -= (uint64_t) weights[i];
	}
	return n - 1;				/* not reached */
}

double
vqa_rng_normal(VqaRng *rng)
{
	int64_t		a;
	int64_t		b;
	uint64_t	radius2;
	double		s;
	double		factor;

	if (rng->has_spare)
	{
		rng->has_spare = 0;
		return rng->spare_normal;
	}

	/*
	 * Marsaglia's polar method on a 2^31 grid: a and b are odd integers in
	 * (-2^31, 2^31) standing for a / 2^31 and b / 2^31, so the accept test is
	 * exact integer arithmetic (no compiler contraction or rounding can
	 * change how many draws are used) and s is never 0.
	 */
	do
	{
		uint64_t	bits = vqa_rng_next(rng);

		a = (int64_t) ((bits >> 33) << 1) + 1 - (INT64_C(1) << 31);
		b = (int64_t) (((bits >> 2) & UINT64_C(0x7FFFFFFF)) << 1) + 1 - (INT64_C(1) << 31);
		radius2 = (uint64_t) (a * a) + (uint64_t) (b * b);
	} while (radius2 >= (UINT64_C(1) << 62));

	s = (double) radius2 * (1.0 / 4611686018427387904.0);	/* 2^-62 */
	factor = sqrt(-2.0 * log(s) / s) * (1.0 / 2147483648.0);	/* 2^-31 */
	rng->spare_normal = (double) b * factor;
	rng->has_spare = 1;
	return (double) a * factor;
}

void
vqa_rng_shuffle_int(VqaRng *rng, int *items, int n)
{
	int			i;

	for (i = n - 1; i > 0; i--)
	{
		int			j = (int) vqa_rng_below(rng, (uint64_t) i + 1);
		int			tmp = items[i];

		items[i] = items[j];
		items[j] = tmp;
	}
}
