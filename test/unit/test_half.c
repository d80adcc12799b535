/*
 * test_half.c: binary16 conversions. Every half converts to a float and back
 * to itself; values between two halves round to the nearer, ties to even;
 * the portable loops and the path the CPU takes (F16C where it has it)
 * agree bit for bit on every half and on a million random floats.
 */
#include "unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/half.h"
#include "vqaprune/rng.h"

static uint32_t
bits(float f)
{
	uint32_t	u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static void
every_half_round_trips(void **state)
{
	uint16_t   *h = malloc(sizeof(uint16_t) * 65536);
	uint16_t   *back = malloc(sizeof(uint16_t) * 65536);
	float	   *f = malloc(sizeof(float) * 65536);
	float	   *g = malloc(sizeof(float) * 65536);

	for (int i = 0; i < 65536; i++)
		h[i] = (uint16_t) i;
	vqa_float_from_half_portable(h, f, 65536);
	vqa_float_from_half(h, g, 65536);
	for (int i = 0; i < 65536; i++)
		assert_int_equal(bits(f[i]), bits(g[i]));
	vqa_half_from_float_portable(f, back, 65536);
	for (int i = 0; i < 65536; i++)
	{
		int			nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);

		/* a NaN comes back quiet */
		assert_int_equal(back[i], nan ? (i | 0x200) : i);
	}
	assert_true(f[0x3c00] == 1.0f && f[0x7bff] == 65504.0f && f[0x0001] == ldexpf(1, -24));
	assert_true(isinf(f[0x7c00]) && f[0xfc00] < 0 && signbit(f[0x8000]));
	free(h);
	free(back);
	free(f);
	free(g);
}

static void
rounding_is_to_nearest_even(void **state)
{
	const float in[] = {
		1.0f + ldexpf(1, -11),		/* halfway between 1 and the next half: to 1 (even) */
		1.0f + 3 * ldexpf(1, -11),	/* halfway above an odd half: up */
		1.0f + ldexpf(1, -11) + ldexpf(1, -20),	/* just above halfway: up */
		65504.0f, 65519.0f, 65520.0f, 1e6f, -1e6f,
		ldexpf(1, -24), ldexpf(1, -25), ldexpf(1, -25) * 1.0001f, ldexpf(3, -26),	/* 0.75 units: up */
		ldexpf(1, -14), ldexpf(1, -14) - ldexpf(1, -25), 1e-30f, -0.0f,
	};
	const uint16_t want[] = {
		0x3c00, 0x3c02, 0x3c01,
		0x7bff, 0x7bff, 0x7c00, 0x7c00, 0xfc00,
		0x0001, 0x0000, 0x0001, 0x0001,
		0x0400, 0x0400, 0x0000, 0x8000,
	};
	uint16_t	out[sizeof(in) / sizeof(in[0])];
	size_t		n = sizeof(in) / sizeof(in[0]);

	vqa_half_from_float_portable(in, out, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], want[i]);
	vqa_half_from_float(in, out, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], want[i]);
}

static void
paths_agree_on_random_floats(void **state)
{
	size_t		n = 1 << 20;
	float	   *f = malloc(sizeof(float) * n);
	uint16_t   *a = malloc(sizeof(uint16_t) * n);
	uint16_t   *b = malloc(sizeof(uint16_t) * n);
	VqaRng		rng;

	vqa_rng_seed(&rng, 5);
	for (size_t i = 0; i < n; i++)
	{
		/* every exponent a feature can have, and some beyond */
		uint32_t	u = (uint32_t) vqa_rng_below(&rng, 0xffffffffu);

		if (i % 2)
			f[i] = (float) (vqa_rng_normal(&rng) * ldexp(1, (int) vqa_rng_below(&rng, 40) - 26));
		else
			memcpy(&f[i], &u, sizeof(u));
	}
	vqa_half_from_float_portable(f, a, n);
	vqa_half_from_float(f, b, n);
	print_message("half conversions: the %s path\n", vqa_half_path());
	for (size_t i = 0; i < n; i++)
		assert_int_equal(a[i], b[i]);
	free(f);
	free(a);
	free(b);
}

int
run_half_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_half_round_trips),
		cmocka_unit_test(rounding_is_to_nearest_even),
		cmocka_unit_test(paths_agree_on_random_floats),
	};

	return UNIT_GROUP(half, tests, n_tests);
}
