/*
 * test_optimizer.c: Adam and AdamW against PyTorch's (test/fixtures/adam,
 * make_adam.py): 6 steps on 1043 parameters, plain Adam, Adam with L2
 * decay and AdamW, the parameters after every step and the moments after
 * the last. The same steps over two ranges in two buffers give the same
 * bits as over one.
 */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "vqaprune/optimizer.h"

#define STEPS 6
#define SPLIT 500				/* neither end a multiple of a vector width */

/*
 * PyTorch rounds each of its element-wise operations in float32 and this
 * Adam rounds the same operations in its own order: the moments agree to a
 * few ulp (below), and an update of lr = 1e-3 carries that error
 * into the parameters at about 1e-9, well below their own ulp (up to 4.8e-7
 * at |p| < 4); so each parameter is within 2 ulp of |p| (2.4e-7 (1 + |p|)).
 * A step wrong by a bias correction or a decay term is off by 1e-4 or more.
 */
static void
assert_params_close(const float *got, const float *want, int n, double *worst)
{
	for (int i = 0; i < n; i++)
	{
		double		tol = 2.4e-7 * (1.0 + fabs(want[i]));
		double		err = fabs((double) got[i] - want[i]);

		if (err > tol)
			fail_msg("parameter %d: %.9g, PyTorch %.9g (%.2f of the tolerance)", i, got[i], want[i], err / tol);
		if (err / tol > *worst)
			*worst = err / tol;
	}
}

/*
 * A moment is a sum of terms as large as the largest gradient it saw (its
 * square for v), and may cancel to near zero: each is within 4 ulp of that
 * scale, scale[i] (4.8e-7 scale[i]).
 */
static void
assert_moment_close(const char *what, const float *got, const float *want, const double *scale,
					int n)
{
	for (int i = 0; i < n; i++)
		if (fabs((double) got[i] - want[i]) > 4.8e-7 * scale[i])
			fail_msg("%s %d: %.9g, PyTorch %.9g", what, i, got[i], want[i]);
}

static void
adam_matches_pytorch(void **state)
{
	static const struct
	{
		const char *name;
		float		weight_decay;
		int			decoupled;
	}			runs[] = {{"adam", 0.0f, 0}, {"adam_l2", 0.1f, 0}, {"adamw", 0.1f, 1}};
	VqaSafetensors *st = unit_open_fixture("adam", "adam.safetensors");
	int64_t		n;
	float	   *params0 = unit_read_floats(st, "params0", &n);
	float	   *grads = unit_read_floats(st, "grads", NULL);
	double		worst = 0.0;

	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++)
	{
		char		name[64];
		float	   *want,
				   *want_m,
				   *want_v,
				   *whole = malloc(sizeof(float) * n),
				   *low = malloc(sizeof(float) * SPLIT),
				   *high = malloc(sizeof(float) * (n - SPLIT));
		VqaAdam    *one = vqa_adam_new(n),
				   *two = vqa_adam_new(n);
		VqaAdamConfig c = {1e-3f, 0.9f, 0.999f, 1e-8f, runs[r].weight_decay, runs[r].decoupled};
		double	   *g_scale = calloc(n, sizeof(double)),
				   *g2_scale = calloc(n, sizeof(double));

		snprintf(name, sizeof(name), "%s.params", runs[r].name);
		want = unit_read_floats(st, name, NULL);
		snprintf(name, sizeof(name), "%s.m", runs[r].name);
		want_m = unit_read_floats(st, name, NULL);
		snprintf(name, sizeof(name), "%s.v", runs[r].name);
		want_v = unit_read_floats(st, name, NULL);
		assert_non_null(one);
		assert_non_null(two);
		memcpy(whole, params0, sizeof(float) * n);
		memcpy(low, params0, sizeof(float) * SPLIT);
		memcpy(high, params0 + SPLIT, sizeof(float) * (n - SPLIT));
		for (int t = 1; t <= STEPS; t++)
		{
			const float *g = grads + (size_t) (t - 1) * n;

			for (int i = 0; i < n; i++)
			{
				/* the gradient Adam sees: with L2 decay, wd * p added (|p| < 4 here) */
				double		gi = fabs(g[i]) + (c.decoupled ? 0.0 : 4.0 * c.weight_decay);

				g_scale[i] = fmax(g_scale[i], gi);
				g2_scale[i] = fmax(g2_scale[i], gi * gi);
			}
			VqaParamRange ranges[2] = {
				{low, g, 0, SPLIT},
				{high, g + SPLIT, SPLIT, n - SPLIT},
			};

			vqa_adam_step(one, whole, g, &c, t);
			vqa_adam_step_ranges(two, ranges, 2, &c, t);
			assert_params_close(whole, want + (size_t) (t - 1) * n, n, &worst);
			assert_memory_equal(low, whole, sizeof(float) * SPLIT);
			assert_memory_equal(high, whole + SPLIT, sizeof(float) * (n - SPLIT));
		}
		assert_moment_close("first moment", one->m, want_m, g_scale, n);
		assert_moment_close("second moment", one->v, want_v, g2_scale, n);
		assert_memory_equal(two->m, one->m, sizeof(float) * n);
		assert_memory_equal(two->v, one->v, sizeof(float) * n);
		vqa_adam_free(one);
		vqa_adam_free(two);
		free(want);
		free(want_m);
		free(want_v);
		free(whole);
		free(low);
		free(high);
		free(g_scale);
		free(g2_scale);
	}
	printf("adam: worst parameter error %.2f of the tolerance\n", worst);
	free(params0);
	free(grads);
	vqa_st_free(st);
}

int
run_optimizer_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(adam_matches_pytorch),
	};

	return UNIT_GROUP(optimizer, tests, n_tests);
}
