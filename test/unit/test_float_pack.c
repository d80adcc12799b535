/*
 * test_float_pack.c: packing round-trips every float bit for bit (signed
 * zeros, subnormals, infinities, NaN payloads), shrinks trained-like
 * weights, and refuses corrupt data.
 */
#include "unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/float_pack.h"
#include "vqaprune/rng.h"

static size_t
round_trip(const float *values, size_t n)
{
	uint8_t    *packed = malloc(vqa_float_pack_bound(n));
	uint8_t    *work = malloc(4 * n + 1);
	float	   *back = malloc(sizeof(float) * n + 1);
	size_t		len = vqa_float_pack(values, n, packed, work);

	assert_true(len > 0);
	assert_int_equal(vqa_float_packed_count(packed, len), n);
	assert_int_equal(vqa_float_unpack(packed, len, back, work), 0);
	assert_memory_equal(back, values, sizeof(float) * n);
	free(packed);
	free(work);
	free(back);
	return len;
}

static void
every_bit_survives(void **state)
{
	uint32_t	special[] = {0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x7f800000,
	0xff800000, 0x7fc00001, 0xffbfffff, 0x3f800000};
	float		values[sizeof(special) / sizeof(special[0])];
	VqaRng		rng;
	float	   *random = malloc(sizeof(float) * 10000);

	memcpy(values, special, sizeof(special));
	round_trip(values, sizeof(values) / sizeof(values[0]));
	round_trip(values, 0);
	vqa_rng_seed(&rng, 1);
	for (int i = 0; i < 10000; i++)
	{
		uint32_t	bits = (uint32_t) vqa_rng_next(&rng);

		memcpy(&random[i], &bits, 4);
	}
	round_trip(random, 10000);
	free(random);
}

/* The kept 30% of normal(0, 0.02) weights: the high bytes compress. */
static void
weights_shrink(void **state)
{
	VqaRng		rng;
	size_t		n = 0;
	float	   *kept = malloc(sizeof(float) * 100000);
	size_t		len;

	vqa_rng_seed(&rng, 2);
	while (n < 100000)
	{
		float		w = (float) (0.02 * vqa_rng_normal(&rng));

		if (fabsf(w) > 0.0207f)	/* about the 70th percentile of |w| */
			kept[n++] = w;
	}
	len = round_trip(kept, n);
	assert_true(len < 0.85 * 4 * n);
	free(kept);
}

static void
corrupt_data_is_refused(void **state)
{
	float		values[100];
	uint8_t    *packed = malloc(vqa_float_pack_bound(100));
	uint8_t		work[400];
	size_t		len;

	for (int i = 0; i < 100; i++)
		values[i] = (float) i;
	len = vqa_float_pack(values, 100, packed, work);
	assert_int_equal(vqa_float_unpack(packed, len - 3, values, work), -1);
	packed[0] = 99;				/* a count the stream does not hold */
	assert_int_equal(vqa_float_unpack(packed, len, values, work), -1);
	assert_int_equal(vqa_float_packed_count(packed, 3), -1);
	free(packed);
}

int
run_float_pack_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_bit_survives),
		cmocka_unit_test(weights_shrink),
		cmocka_unit_test(corrupt_data_is_refused),
	};

	return UNIT_GROUP(float_pack, tests, n_tests);
}
