/*
 * test_losses.c: the five training losses against the authors' PyTorch code,
 * and their hand-derived gradients against finite differences.
 *
 * The fixture losses/debias_losses.json holds, per case, the inputs (logits,
 * prior p_b, targets, max_label, hidden, the LMH gate and smoothing, w_H,
 * gamma) and what the authors' Plain, LearnedMixin, BiasProduct, RUBI_loss
 * and LPF_loss returned in PyTorch 1.13 (float32): the loss, its gradient
 * with respect to the logits and, for lmh, with respect to hidden, the gate
 * and the smoothing. Every case and every loss must match: the loss to 1e-5
 * relative, every gradient to 1e-5 absolute.
 *
 * The finite-difference tests perturb every input the loss is differentiated
 * against (central differences, step 1e-3) on random batches, which also
 * exercises rows without a label for rubi and lpf; then come the edge cases:
 * parsing, missing inputs, the NaN guard of LMH, unlabelled examples.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "unit.h"
#include "vqaprune/losses.h"

#define FIXTURE_VALUE_RTOL 1e-5
#define FIXTURE_GRAD_ATOL 1e-5
#define FD_STEP 1e-3
#define FD_RTOL 3e-3
#define FD_ATOL 1e-6

/* ---------------------------------------------------------------------- */
/* fixture reading */

static yajl_val
load_fixture(void)
{
	char		path[1024];
	char		errbuf[256];
	char	   *text;
	yajl_val	root;

	snprintf(path, sizeof(path), "%s/losses/debias_losses.json", unit_fixtures_dir());
	text = unit_read_file(path, NULL);
	if (text == NULL)
		print_error("cannot read %s\n", path);
	assert_non_null(text);
	root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
	free(text);
	if (root == NULL)
		print_error("%s: %s\n", path, errbuf);
	assert_non_null(root);
	return root;
}

static yajl_val
field(yajl_val obj, const char *name)
{
	const char *path[] = {name, NULL};
	yajl_val	v = yajl_tree_get(obj, path, yajl_t_any);

	if (v == NULL)
		print_error("fixture field '%s' missing\n", name);
	assert_non_null(v);
	return v;
}

static double
number(yajl_val v)
{
	assert_true(YAJL_IS_NUMBER(v));
	return YAJL_GET_DOUBLE(v);
}

/* Number of leaves of a (nested) array of numbers. */
static size_t
count_leaves(yajl_val v)
{
	size_t		n = 0,
				i;

	if (!YAJL_IS_ARRAY(v))
		return 1;
	for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++)
		n += count_leaves(YAJL_GET_ARRAY(v)->values[i]);
	return n;
}

static void
flatten_into(yajl_val v, double *out, size_t *pos)
{
	size_t		i;

	if (!YAJL_IS_ARRAY(v))
	{
		out[(*pos)++] = number(v);
		return;
	}
	for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++)
		flatten_into(YAJL_GET_ARRAY(v)->values[i], out, pos);
}

/* A (nested) array as doubles, row-major; checks it holds n values. */
static double *
fixture_doubles(yajl_val obj, const char *name, size_t n)
{
	yajl_val	v = field(obj, name);
	size_t		pos = 0;
	double	   *out;

	if (count_leaves(v) != n)
		print_error("fixture field '%s': %zu values, expected %zu\n",
					name, count_leaves(v), n);
	assert_int_equal(count_leaves(v), n);
	out = malloc(sizeof(double) * (n > 0 ? n : 1));
	assert_non_null(out);
	flatten_into(v, out, &pos);
	return out;
}

static float *
fixture_floats(yajl_val obj, const char *name, size_t n)
{
	double	   *d = fixture_doubles(obj, name, n);
	float	   *out = malloc(sizeof(float) * (n > 0 ? n : 1));
	size_t		i;

	assert_non_null(out);
	for (i = 0; i < n; i++)
		out[i] = (float) d[i];
	free(d);
	return out;
}

/* Largest |got - want| over n values, want from the fixture. */
static double
max_abs_diff(const float *got, const double *want, size_t n)
{
	double		m = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		double		d = fabs((double) got[i] - want[i]);

		if (!(d <= m))			/* NaN counts as a difference */
			m = isnan(d) ? INFINITY : d;
	}
	return m;
}

/* One fixture case: its inputs, in the layout of VqaLossInput. */
typedef struct FixtureCase
{
	int			B,
				A,
				H;
	float	   *logits,
			   *prior,
			   *targets,
			   *hidden,
			   *gate_w;
	int32_t    *max_label;
	float		gate_b,
				smooth,
				entropy_weight,
				gamma;
} FixtureCase;

static void
read_case(yajl_val c, FixtureCase *fc)
{
	double	   *labels;
	double	   *gb;
	int			i;

	fc->B = (int) number(field(c, "B"));
	fc->A = (int) number(field(c, "A"));
	fc->H = (int) number(field(c, "H"));
	assert_true(fc->B > 0 && fc->A > 0 && fc->H > 0);
	fc->logits = fixture_floats(c, "logits", (size_t) fc->B * fc->A);
	fc->prior = fixture_floats(c, "prior", (size_t) fc->B * fc->A);
	fc->targets = fixture_floats(c, "targets", (size_t) fc->B * fc->A);
	fc->hidden = fixture_floats(c, "hidden", (size_t) fc->B * fc->H);
	fc->gate_w = fixture_floats(c, "lmh_gate_weight", (size_t) fc->H);
	gb = fixture_doubles(c, "lmh_gate_bias", 1);
	fc->gate_b = (float) gb[0];
	free(gb);
	labels = fixture_doubles(c, "max_label", (size_t) fc->B);
	fc->max_label = malloc(sizeof(int32_t) * (size_t) fc->B);
	assert_non_null(fc->max_label);
	for (i = 0; i < fc->B; i++)
		fc->max_label[i] = (int32_t) labels[i];
	free(labels);
	fc->smooth = (float) number(field(c, "smooth_init"));
	fc->entropy_weight = (float) number(field(c, "lmh_entropy_weight"));
	fc->gamma = (float) number(field(c, "lpf_gamma"));
}

static void
free_case(FixtureCase *fc)
{
	free(fc->logits);
	free(fc->prior);
	free(fc->targets);
	free(fc->hidden);
	free(fc->gate_w);
	free(fc->max_label);
}

/* Compares one loss of one case; returns the largest difference seen. */
static double
check_fixture_loss(const FixtureCase *fc, VqaLossKind kind, yajl_val res,
				   int case_no)
{
	size_t		BA = (size_t) fc->B * fc->A,
				BH = (size_t) fc->B * fc->H;
	VqaLossOptions opt;
	VqaLossInput in = {0};
	VqaLmhParams lmh = {0};
	VqaLossGrad grad = {0};
	float	   *g_logits = malloc(sizeof(float) * BA);
	float	   *g_hidden = malloc(sizeof(float) * BH);
	float	   *g_gate_w = malloc(sizeof(float) * (size_t) fc->H);
	float		g_gate_b = 0.0f,
				g_smooth = 0.0f;
	double		loss,
				want_loss,
				rel,
				maxdiff = 0.0,
				d;
	double	   *want;

	assert_non_null(g_logits);
	assert_non_null(g_hidden);
	assert_non_null(g_gate_w);

	vqa_loss_default_options(&opt);
	opt.lmh_entropy_weight = fc->entropy_weight;
	opt.lpf_gamma = fc->gamma;
	opt.poe_smooth = fc->smooth;	/* BiasProduct's own smooth_param, same init */

	in.batch = fc->B;
	in.answers = fc->A;
	in.hidden_size = fc->H;
	in.logits = fc->logits;
	in.targets = fc->targets;
	in.prior = fc->prior;
	in.max_label = fc->max_label;
	in.hidden = fc->hidden;

	lmh.hidden_size = fc->H;
	lmh.gate_w = fc->gate_w;
	lmh.gate_b = fc->gate_b;
	lmh.smooth = fc->smooth;

	grad.logits = g_logits;
	grad.hidden = g_hidden;
	grad.gate_w = g_gate_w;
	grad.gate_b = &g_gate_b;
	grad.smooth = &g_smooth;

	loss = vqa_loss(kind, &opt, &in, &lmh, &grad);
	want_loss = number(field(res, "loss"));
	rel = fabs(loss - want_loss) / fmax(fabs(want_loss), 1e-30);
	if (!(rel <= FIXTURE_VALUE_RTOL))
		print_error("%s case %d: loss %.9g, PyTorch %.9g (rel %.3g)\n",
					vqa_loss_name(kind), case_no, loss, want_loss, rel);
	assert_true(rel <= FIXTURE_VALUE_RTOL);

	want = fixture_doubles(res, "grad_logits", BA);
	d = max_abs_diff(g_logits, want, BA);
	free(want);
	if (!(d <= FIXTURE_GRAD_ATOL))
		print_error("%s case %d: grad_logits off by %.3g\n",
					vqa_loss_name(kind), case_no, d);
	assert_true(d <= FIXTURE_GRAD_ATOL);
	maxdiff = fmax(maxdiff, d);

	if (kind == VQA_LOSS_LMH)
	{
		static const char *const names[] = {
			"grad_hidden", "grad_gate_weight", "grad_gate_bias", "grad_smooth"
		};
		const float *got[] = {g_hidden, g_gate_w, &g_gate_b, &g_smooth};
		size_t		sizes[] = {BH, (size_t) fc->H, 1, 1};
		int			j;

		for (j = 0; j < 4; j++)
		{
			want = fixture_doubles(res, names[j], sizes[j]);
			d = max_abs_diff(got[j], want, sizes[j]);
			free(want);
			if (!(d <= FIXTURE_GRAD_ATOL))
				print_error("lmh case %d: %s off by %.3g\n", case_no, names[j], d);
			assert_true(d <= FIXTURE_GRAD_ATOL);
			maxdiff = fmax(maxdiff, d);
		}
	}
	printf("%s case %d OK, loss %.7g (rel diff %.2g), grad maxdiff = %.2g\n",
		   vqa_loss_name(kind), case_no, loss, rel, maxdiff);

	free(g_logits);
	free(g_hidden);
	free(g_gate_w);
	return maxdiff;
}

static void
losses_match_authors_code(void **state)
{
	yajl_val	root = load_fixture();
	yajl_val	cases = field(root, "cases");
	size_t		n_cases,
				c;
	int			checked = 0;

	assert_true(YAJL_IS_ARRAY(cases));
	n_cases = YAJL_GET_ARRAY(cases)->len;
	assert_true(n_cases >= 1);
	for (c = 0; c < n_cases; c++)
	{
		yajl_val	cv = YAJL_GET_ARRAY(cases)->values[c];
		yajl_val	results = field(cv, "results");
		FixtureCase fc;
		size_t		r;
		int			k;

		/* every result of the fixture is one we check: nothing is skipped */
		assert_true(YAJL_IS_OBJECT(results));
		for (r = 0; r < YAJL_GET_OBJECT(results)->len; r++)
		{
			const char *key = YAJL_GET_OBJECT(results)->keys[r];

			if (vqa_loss_parse(key, NULL) != 0)
				print_error("fixture case %zu: unknown loss '%s'\n", c, key);
			assert_int_equal(vqa_loss_parse(key, NULL), 0);
		}
		read_case(cv, &fc);
		for (k = 0; k < VQA_LOSS_N_KINDS; k++)
		{
			check_fixture_loss(&fc, (VqaLossKind) k,
							   field(results, vqa_loss_name((VqaLossKind) k)), (int) c);
			checked++;
		}
		free_case(&fc);
	}
	assert_int_equal(checked, (int) n_cases * VQA_LOSS_N_KINDS);
	yajl_tree_free(root);
}

/* ---------------------------------------------------------------------- */
/* finite differences on random batches */

static uint64_t rng_state;

static double
uniform(void)
{
	/* xorshift64*, enough for test data */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double) ((rng_state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double
normal(void)
{
	double		u1 = uniform(),
				u2 = uniform();

	return sqrt(-2.0 * log(u1 + 1e-300)) * cos(6.283185307179586 * u2);
}

typedef struct RandomBatch
{
	int			B,
				A,
				H;
	float	   *logits,
			   *targets,
			   *prior,
			   *hidden,
			   *gate_w;
	int32_t    *max_label;
	VqaLossInput in;
	VqaLmhParams lmh;
	VqaLossOptions opt;
} RandomBatch;

static void
random_batch(RandomBatch *rb, int B, int A, int H, uint64_t seed)
{
	static const float scores[] = {0.0f, 0.0f, 0.0f, 0.3f, 0.6f, 0.9f, 1.0f};
	size_t		BA = (size_t) B * A;
	size_t		j;
	int			i;

	rng_state = seed;
	rb->B = B;
	rb->A = A;
	rb->H = H;
	rb->logits = malloc(sizeof(float) * BA);
	rb->targets = malloc(sizeof(float) * BA);
	rb->prior = malloc(sizeof(float) * BA);
	rb->hidden = malloc(sizeof(float) * (size_t) B * H);
	rb->gate_w = malloc(sizeof(float) * (size_t) H);
	rb->max_label = malloc(sizeof(int32_t) * (size_t) B);
	assert_non_null(rb->logits);
	assert_non_null(rb->targets);
	assert_non_null(rb->prior);
	assert_non_null(rb->hidden);
	assert_non_null(rb->gate_w);
	assert_non_null(rb->max_label);
	for (j = 0; j < BA; j++)
	{
		rb->logits[j] = (float) (2.0 * normal());
		rb->targets[j] = scores[(int) (uniform() * 7) % 7];
		/* a prior of exactly 0 occurs (answers never seen for a type) */
		rb->prior[j] = uniform() < 0.15 ? 0.0f : (float) uniform();
	}
	for (j = 0; j < (size_t) B * H; j++)
		rb->hidden[j] = (float) normal();
	for (i = 0; i < H; i++)
		rb->gate_w[i] = (float) (0.5 * normal());
	for (i = 0; i < B; i++)
		rb->max_label[i] = (int32_t) ((int) (uniform() * A) % A);
	rb->max_label[B - 1] = -1;	/* one example without a label */

	memset(&rb->in, 0, sizeof(rb->in));
	rb->in.batch = B;
	rb->in.answers = A;
	rb->in.hidden_size = H;
	rb->in.logits = rb->logits;
	rb->in.targets = rb->targets;
	rb->in.prior = rb->prior;
	rb->in.max_label = rb->max_label;
	rb->in.hidden = rb->hidden;
	rb->lmh.hidden_size = H;
	rb->lmh.gate_w = rb->gate_w;
	rb->lmh.gate_b = (float) (0.3 * normal());
	rb->lmh.smooth = -1.0f;
	vqa_loss_default_options(&rb->opt);
	/* away from the init so that d/ds is exercised at a generic point */
	rb->opt.poe_smooth = -0.7f;
}

static void
free_batch(RandomBatch *rb)
{
	free(rb->logits);
	free(rb->targets);
	free(rb->prior);
	free(rb->hidden);
	free(rb->gate_w);
	free(rb->max_label);
}

/*
 * Central difference of the loss in *x against the analytic gradient; the
 * step is what float rounding made of x +- FD_STEP. Returns |num - ana|
 * relative to the tolerance (<= 1 passes).
 */
static double
fd_check(VqaLossKind kind, RandomBatch *rb, float *x, double analytic)
{
	float		x0 = *x,
				xp = (float) (x0 + FD_STEP),
				xm = (float) (x0 - FD_STEP);
	double		fp,
				fm,
				num;

	*x = xp;
	fp = vqa_loss(kind, &rb->opt, &rb->in, &rb->lmh, NULL);
	*x = xm;
	fm = vqa_loss(kind, &rb->opt, &rb->in, &rb->lmh, NULL);
	*x = x0;
	num = (fp - fm) / ((double) xp - (double) xm);
	return fabs(num - analytic) / (FD_ATOL + FD_RTOL * fmax(fabs(num), fabs(analytic)));
}

static void
fd_one_loss(VqaLossKind kind, uint64_t seed)
{
	RandomBatch rb;
	VqaLossGrad grad = {0};
	float	   *g_logits,
			   *g_hidden,
			   *g_gate_w;
	float		g_gate_b = 0.0f,
				g_smooth = 0.0f;
	double		worst = 0.0,
				r,
				loss;
	size_t		BA,
				j;
	int			k;

	random_batch(&rb, 5, 9, 4, seed);
	BA = (size_t) rb.B * rb.A;
	g_logits = malloc(sizeof(float) * BA);
	g_hidden = malloc(sizeof(float) * (size_t) rb.B * rb.H);
	g_gate_w = malloc(sizeof(float) * (size_t) rb.H);
	assert_non_null(g_logits);
	assert_non_null(g_hidden);
	assert_non_null(g_gate_w);
	grad.logits = g_logits;
	grad.hidden = g_hidden;
	grad.gate_w = g_gate_w;
	grad.gate_b = &g_gate_b;
	grad.smooth = &g_smooth;

	loss = vqa_loss(kind, &rb.opt, &rb.in, &rb.lmh, &grad);
	assert_true(isfinite(loss));

	for (j = 0; j < BA; j++)
	{
		r = fd_check(kind, &rb, &rb.logits[j], g_logits[j]);
		if (!(r <= 1.0))
			print_error("%s: d/dlogits[%zu] analytic %.6g off (ratio %.3g)\n",
						vqa_loss_name(kind), j, g_logits[j], r);
		assert_true(r <= 1.0);
		worst = fmax(worst, r);
	}
	if (kind == VQA_LOSS_LMH)
	{
		for (j = 0; j < (size_t) rb.B * rb.H; j++)
		{
			r = fd_check(kind, &rb, &rb.hidden[j], g_hidden[j]);
			if (!(r <= 1.0))
				print_error("lmh: d/dhidden[%zu] off (ratio %.3g)\n", j, r);
			assert_true(r <= 1.0);
			worst = fmax(worst, r);
		}
		for (k = 0; k < rb.H; k++)
		{
			r = fd_check(kind, &rb, &rb.gate_w[k], g_gate_w[k]);
			if (!(r <= 1.0))
				print_error("lmh: d/dgate_w[%d] off (ratio %.3g)\n", k, r);
			assert_true(r <= 1.0);
			worst = fmax(worst, r);
		}
		r = fd_check(kind, &rb, &rb.lmh.gate_b, g_gate_b);
		if (!(r <= 1.0))
			print_error("lmh: d/dgate_b off (ratio %.3g)\n", r);
		assert_true(r <= 1.0);
		worst = fmax(worst, r);
		r = fd_check(kind, &rb, &rb.lmh.smooth, g_smooth);
		if (!(r <= 1.0))
			print_error("lmh: d/dsmooth off (ratio %.3g)\n", r);
		assert_true(r <= 1.0);
		worst = fmax(worst, r);
	}
	else if (kind == VQA_LOSS_POE)
	{
		r = fd_check(kind, &rb, &rb.opt.poe_smooth, g_smooth);
		if (!(r <= 1.0))
			print_error("poe: d/dsmooth off (ratio %.3g)\n", r);
		assert_true(r <= 1.0);
		worst = fmax(worst, r);
	}
	else
	{
		/* the loss does not depend on these: written as zeros */
		for (k = 0; k < rb.H; k++)
			assert_true(g_gate_w[k] == 0.0f);
		assert_true(g_gate_b == 0.0f && g_smooth == 0.0f);
	}
	if (kind == VQA_LOSS_RUBI || kind == VQA_LOSS_LPF)
	{
		/* the unlabelled last example gets no gradient */
		for (j = (size_t) (rb.B - 1) * rb.A; j < BA; j++)
			assert_true(g_logits[j] == 0.0f);
	}
	printf("%s finite differences OK, worst error / tolerance = %.3f\n",
		   vqa_loss_name(kind), worst);

	free(g_logits);
	free(g_hidden);
	free(g_gate_w);
	free_batch(&rb);
}

static void
gradients_match_finite_differences(void **state)
{
	int			k;

	for (k = 0; k < VQA_LOSS_N_KINDS; k++)
	{
		fd_one_loss((VqaLossKind) k, 0x9E3779B97F4A7C15ULL + (uint64_t) k);
		fd_one_loss((VqaLossKind) k, 0xD1B54A32D192ED03ULL + (uint64_t) k);
	}
}

/* ---------------------------------------------------------------------- */
/* edge cases */

static void
names_parse_and_print(void **state)
{
	VqaLossKind kind;
	int			k;

	for (k = 0; k < VQA_LOSS_N_KINDS; k++)
	{
		const char *name = vqa_loss_name((VqaLossKind) k);

		assert_non_null(name);
		assert_int_equal(vqa_loss_parse(name, &kind), 0);
		assert_int_equal((int) kind, k);
	}
	assert_int_equal(vqa_loss_parse("bce", &kind), 0);
	assert_int_equal(kind, VQA_LOSS_BCE);
	assert_int_equal(vqa_loss_parse("poe", &kind), 0);
	assert_int_equal(kind, VQA_LOSS_POE);
	assert_int_equal(vqa_loss_parse("LMH", &kind), -1);
	assert_int_equal(vqa_loss_parse("", &kind), -1);
	assert_int_equal(vqa_loss_parse("focal", &kind), -1);
	assert_int_equal(vqa_loss_parse(NULL, &kind), -1);
	assert_null(vqa_loss_name((VqaLossKind) VQA_LOSS_N_KINDS));
	assert_true(vqa_loss_needs_lmh(VQA_LOSS_LMH) && !vqa_loss_needs_lmh(VQA_LOSS_POE));
	assert_true(vqa_loss_needs_max_label(VQA_LOSS_RUBI) &&
				vqa_loss_needs_max_label(VQA_LOSS_LPF) &&
				!vqa_loss_needs_max_label(VQA_LOSS_BCE));
	assert_true(!vqa_loss_needs_prior(VQA_LOSS_BCE) && vqa_loss_needs_prior(VQA_LOSS_RUBI));
}

static void
missing_inputs_give_nan(void **state)
{
	RandomBatch rb;
	VqaLossInput in;
	VqaLmhParams lmh;
	float		g[5 * 9];
	VqaLossGrad grad = {0};

	random_batch(&rb, 5, 9, 4, 42);
	grad.logits = g;

	/* bce needs no prior, labels or hidden */
	in = rb.in;
	in.prior = NULL;
	in.max_label = NULL;
	in.hidden = NULL;
	assert_true(isfinite(vqa_loss(VQA_LOSS_BCE, NULL, &in, NULL, &grad)));

	in = rb.in;
	in.prior = NULL;
	assert_true(isnan(vqa_loss(VQA_LOSS_POE, NULL, &in, NULL, NULL)));
	assert_true(isnan(vqa_loss(VQA_LOSS_RUBI, NULL, &in, NULL, NULL)));
	in = rb.in;
	in.max_label = NULL;
	assert_true(isnan(vqa_loss(VQA_LOSS_LPF, NULL, &in, NULL, NULL)));
	in = rb.in;
	in.targets = NULL;
	assert_true(isnan(vqa_loss(VQA_LOSS_BCE, NULL, &in, NULL, NULL)));
	assert_true(isfinite(vqa_loss(VQA_LOSS_RUBI, NULL, &in, NULL, NULL)));
	in = rb.in;
	in.batch = 0;
	assert_true(isnan(vqa_loss(VQA_LOSS_BCE, NULL, &in, NULL, NULL)));

	/* a label outside the answers is an error, as in PyTorch */
	in = rb.in;
	rb.max_label[0] = (int32_t) rb.A;
	assert_true(isnan(vqa_loss(VQA_LOSS_RUBI, NULL, &in, NULL, NULL)));
	assert_true(isnan(vqa_loss(VQA_LOSS_LPF, NULL, &in, NULL, NULL)));
	rb.max_label[0] = 0;

	/* lmh: its parameters, hidden and matching sizes */
	in = rb.in;
	assert_true(isnan(vqa_loss(VQA_LOSS_LMH, NULL, &in, NULL, NULL)));
	lmh = rb.lmh;
	lmh.hidden_size = rb.H + 1;
	assert_true(isnan(vqa_loss(VQA_LOSS_LMH, NULL, &in, &lmh, NULL)));
	in.hidden = NULL;
	assert_true(isnan(vqa_loss(VQA_LOSS_LMH, NULL, &in, &rb.lmh, NULL)));
	in = rb.in;
	assert_true(isfinite(vqa_loss(VQA_LOSS_LMH, NULL, &in, &rb.lmh, NULL)));
	assert_true(isnan(vqa_loss((VqaLossKind) 17, NULL, &in, &rb.lmh, NULL)));
	free_batch(&rb);
}

/*
 * A row whose main LMH term is NaN counts 0, the mean still over B (the
 * authors' torch.where on sum_prob): z = +inf with t = 1 gives 0 * inf in
 * (1 - t) log(1 - sigma(z)), in their code and here.
 */
static void
lmh_nan_guard(void **state)
{
	RandomBatch rb;
	VqaLossInput rest;
	float		g[5 * 9];
	VqaLossGrad grad = {0};
	double		with_guard,
				without_row;
	int			a;

	random_batch(&rb, 5, 9, 4, 7);
	rb.opt.lmh_entropy_weight = 0.0f;	/* the entropy term is finite anyway */
	rb.logits[0] = INFINITY;
	rb.targets[0] = 1.0f;
	grad.logits = g;
	with_guard = vqa_loss(VQA_LOSS_LMH, &rb.opt, &rb.in, &rb.lmh, &grad);
	assert_true(isfinite(with_guard));
	for (a = 0; a < rb.A; a++)
		assert_true(g[a] == 0.0f);

	rest = rb.in;
	rest.batch = rb.B - 1;
	rest.logits += rb.A;
	rest.targets += rb.A;
	rest.prior += rb.A;
	rest.hidden += rb.H;
	without_row = vqa_loss(VQA_LOSS_LMH, &rb.opt, &rest, &rb.lmh, NULL);
	assert_true(fabs(with_guard - without_row * (rb.B - 1) / rb.B) <=
				1e-12 * fabs(with_guard));

	/* with the penalty on, the guarded row still adds its entropy */
	rb.opt.lmh_entropy_weight = 0.36f;
	assert_true(isfinite(vqa_loss(VQA_LOSS_LMH, &rb.opt, &rb.in, &rb.lmh, NULL)));
	free_batch(&rb);
}

/* rubi and lpf: an unlabelled example is left out of the sum and the mean. */
static void
unlabelled_examples_are_ignored(void **state)
{
	static const VqaLossKind kinds[] = {VQA_LOSS_RUBI, VQA_LOSS_LPF};
	RandomBatch rb;
	VqaLossInput labelled;
	float		g[5 * 9];
	VqaLossGrad grad = {0};
	int			k,
				i;

	random_batch(&rb, 5, 9, 4, 11);
	/* the last example has max_label -1 */
	labelled = rb.in;
	labelled.batch = rb.B - 1;
	for (k = 0; k < 2; k++)
	{
		double		all = vqa_loss(kinds[k], &rb.opt, &rb.in, NULL, NULL);
		double		some = vqa_loss(kinds[k], &rb.opt, &labelled, NULL, NULL);

		assert_true(fabs(all - some) <= 1e-12 * fabs(some));
	}

	/* no label at all: loss 0, gradient 0 */
	for (i = 0; i < rb.B; i++)
		rb.max_label[i] = -1;
	grad.logits = g;
	for (k = 0; k < 2; k++)
	{
		assert_true(vqa_loss(kinds[k], &rb.opt, &rb.in, NULL, &grad) == 0.0);
		for (i = 0; i < rb.B * rb.A; i++)
			assert_true(g[i] == 0.0f);
	}
	free_batch(&rb);
}

/* lpf: below 1e-7 the clamp holds p fixed, so the gradient stops. */
static void
lpf_clamp(void **state)
{
	float		logits[3] = {0.0f, 30.0f, 0.0f};
	float		prior[3] = {0.0f, 0.5f, 0.2f};
	int32_t		label = 0;
	float		g[3];
	VqaLossInput in = {0};
	VqaLossGrad grad = {0};
	double		loss;

	in.batch = 1;
	in.answers = 3;
	in.logits = logits;
	in.prior = prior;
	in.max_label = &label;
	grad.logits = g;
	/* p_0 = e^-30 < 1e-7, q_0 = max(0, 1e-7) */
	loss = vqa_loss(VQA_LOSS_LPF, NULL, &in, NULL, &grad);
	assert_true(fabs(loss - pow(1.0 - 1e-7f, 5.0) * -log((double) 1e-7f)) <= 1e-12);
	assert_true(g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.0f);
}

int			run_losses_tests(int *n_tests);	/* called by main.c */

int
run_losses_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(losses_match_authors_code),
		cmocka_unit_test(gradients_match_finite_differences),
		cmocka_unit_test(names_parse_and_print),
		cmocka_unit_test(missing_inputs_give_nan),
		cmocka_unit_test(lmh_nan_guard),
		cmocka_unit_test(unlabelled_examples_are_ignored),
		cmocka_unit_test(lpf_clamp),
	};

	return UNIT_GROUP(losses, tests, n_tests);
}
