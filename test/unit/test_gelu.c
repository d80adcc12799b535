/*
 * test_gelu.c: the GELU spans on every path the CPU runs, forward and
 * backward, against double precision: values across [-10, 10] (both
 * tails of Phi, and 0) in spans of lengths around every vector width, so
 * the zero-padded last vector is exercised; the gradient in place too.
 */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "vqaprune/gelu.h"

static const char *const isas[] = {"avx512", "avx2", "baseline"};

/*
 * erf within 2 ulp (at most 2^-22 absolute, |erf| <= 1) moves x Phi(x) by
 * up to |x| 2^-23 (1.2e-7 |x|) and the products' rounding adds an ulp or
 * two of the result: the tolerance is 2.5e-7 (1 + |x|), times |dout| for
 * the gradient.
 */
static double
tolerance(double x, double scale)
{
	return 2.5e-7 * (1.0 + fabs(x)) * scale;
}

static void
gelu_matches_double_precision_on_every_path(void **state)
{
	static const size_t lengths[] = {1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 1000};
	int			paths = 0;
	double		worst = 0.0;

	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++)
	{
		if (vqa_gelu_set_isa(isas[ii]) != 0)
			continue;
		assert_string_equal(vqa_gelu_isa(), isas[ii]);
		paths++;
		for (size_t li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++)
		{
			size_t		n = lengths[li];
			float	   *x = malloc(sizeof(float) * n),
					   *y = malloc(sizeof(float) * n),
					   *dout = malloc(sizeof(float) * n),
					   *dx = malloc(sizeof(float) * n);

			for (size_t i = 0; i < n; i++)
			{
				x[i] = n == 1 ? 0.0f : (float) (-10.0 + 20.0 * i / (n - 1));
				dout[i] = (float) (1.5 - (double) (i % 5) * 0.75);
				/* the span writes only its n values */
				y[i] = dx[i] = NAN;
			}
			vqa_gelu_span(y, x, n);
			vqa_gelu_backward_span(dx, dout, x, n);
			for (size_t i = 0; i < n; i++)
			{
				double		xd = x[i],
							cdf = 0.5 * (1.0 + erf(xd / sqrt(2.0))),
							pdf = exp(-0.5 * xd * xd) / sqrt(2.0 * 3.14159265358979323846),
							grad = dout[i] * (cdf + xd * pdf);

				assert_true(fabs(y[i] - xd * cdf) <= tolerance(xd, 1.0));
				assert_true(fabs(dx[i] - grad) <= tolerance(xd, fabs(dout[i])));
				worst = fmax(worst, fabs(y[i] - xd * cdf) / tolerance(xd, 1.0));
			}
			/* in place: the gradient over dout, the forward over x */
			vqa_gelu_backward_span(dout, dout, x, n);
			vqa_gelu_span(x, x, n);
			for (size_t i = 0; i < n; i++)
			{
				assert_true(dout[i] == dx[i]);
				assert_true(x[i] == y[i]);
			}
			free(x);
			free(y);
			free(dout);
			free(dx);
		}
	}
	printf("gelu: %d paths, worst forward error %.2f of the tolerance\n", paths, worst);
	assert_true(paths >= 1);
	assert_int_equal(vqa_gelu_set_isa("sse9"), -1);
	assert_int_equal(vqa_gelu_set_isa(NULL), 0);
}

int
run_gelu_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gelu_matches_double_precision_on_every_path),
	};

	return UNIT_GROUP(gelu, tests, n_tests);
}
