/*
 * test_qo_branch.c: RUBi and LPF with a learned question-only branch.
 *
 * The hand-derived backward pass is checked against central differences
 * (step 1e-3 in float32, the step being what rounding made of x +- 1e-3) of
 * the loss w.r.t. every main logit and a sample of each parameter block of
 * the branch (w1, b1, w2, b2, w3, b3), for both kinds, on random batches in
 * which some examples have no label. Then: a tiny RUBi and LPF case worked
 * out here in double from the formulas, the all-unlabelled batch (loss 0,
 * zero gradients), bad input, and the determinism of the init.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "vqaprune/qo_branch.h"
#include "vqaprune/rng.h"

#define FD_STEP 1e-3
#define FD_RTOL 3e-3
#define FD_ATOL 1e-5
#define FD_SAMPLES_PER_BLOCK 12

typedef struct QoBatch
{
	int			B,
				H,
				I,
				A;
	VqaQoBranch *qo;
	VqaQoKind	kind;
	float		gamma,
				qo_weight;
	int			qo_only;		/* batch_loss gives L(qo_weight) - L(0) */
	float	   *logits,
			   *q_emb,
			   *dlogits;
	int32_t    *max_label;
} QoBatch;

static void
make_batch(QoBatch *qb, VqaQoKind kind, int B, int H, int I, int A, uint64_t seed)
{
	VqaRng		rng;
	int			i;

	qb->B = B;
	qb->H = H;
	qb->I = I;
	qb->A = A;
	qb->kind = kind;
	qb->gamma = 5.0f;
	qb->qo_weight = 1.0f;
	qb->qo_only = 0;
	qb->qo = vqa_qo_new(H, I, A, seed);
	assert_non_null(qb->qo);
	qb->logits = malloc(sizeof(float) * (size_t) B * A);
	qb->dlogits = malloc(sizeof(float) * (size_t) B * A);
	qb->q_emb = malloc(sizeof(float) * (size_t) B * H);
	qb->max_label = malloc(sizeof(int32_t) * (size_t) B);
	assert_non_null(qb->logits);
	assert_non_null(qb->dlogits);
	assert_non_null(qb->q_emb);
	assert_non_null(qb->max_label);
	vqa_rng_seed_stream(&rng, seed, 7);
	for (i = 0; i < B * A; i++)
		qb->logits[i] = (float) (1.5 * vqa_rng_normal(&rng));
	for (i = 0; i < B * H; i++)
		qb->q_emb[i] = (float) vqa_rng_normal(&rng);
	for (i = 0; i < B; i++)
		qb->max_label[i] = (int32_t) vqa_rng_below(&rng, (uint64_t) A);
	/* some examples without a label, the last one among them */
	qb->max_label[1] = -1;
	qb->max_label[B - 1] = -1;
}

static void
free_batch(QoBatch *qb)
{
	vqa_qo_free(qb->qo);
	free(qb->logits);
	free(qb->dlogits);
	free(qb->q_emb);
	free(qb->max_label);
}

static double
batch_loss(QoBatch *qb)
{
	double		loss = vqa_qo_loss(qb->qo, qb->kind, qb->gamma, qb->qo_weight, qb->B,
								   qb->logits, qb->q_emb, qb->max_label, qb->dlogits);

	if (qb->qo_only)
		loss -= vqa_qo_loss(qb->qo, qb->kind, qb->gamma, 0.0f, qb->B,
							qb->logits, qb->q_emb, qb->max_label, qb->dlogits);
	return loss;
}

/*
 * |numeric - analytic| over the tolerance (<= 1 passes); *worst_rel keeps the
 * largest relative error among gradients above 1e-4.
 */
static double
fd_check(QoBatch *qb, float *x, double analytic, double *worst_rel)
{
	float		x0 = *x,
				xp = (float) (x0 + FD_STEP),
				xm = (float) (x0 - FD_STEP);
	double		fp,
				fm,
				num;

	*x = xp;
	fp = batch_loss(qb);
	*x = xm;
	fm = batch_loss(qb);
	*x = x0;
	num = (fp - fm) / ((double) xp - (double) xm);
	if (fmax(fabs(num), fabs(analytic)) > 1e-4)
		*worst_rel = fmax(*worst_rel, fabs(num - analytic) / fmax(fabs(num), fabs(analytic)));
	return fabs(num - analytic) / (FD_ATOL + FD_RTOL * fmax(fabs(num), fabs(analytic)));
}

static void
fd_one(VqaQoKind kind, uint64_t seed)
{
	const char *name = kind == VQA_QO_RUBI ? "rubi_qo" : "lpf_qo";
	QoBatch		qb;
	float	   *g_logits,
			   *g_params;
	size_t		BA,
				j,
				block_start[7];
	double		worst = 0.0,
				worst_rel = 0.0,
				r,
				loss;
	int			n_checks = 0,
				blk,
				s;
	VqaRng		rng;
	static const char *const BLOCK_NAMES[6] = {"w1", "b1", "w2", "b2", "w3", "b3"};

	make_batch(&qb, kind, 6, 5, 7, 9, seed);
	BA = (size_t) qb.B * qb.A;
	g_logits = malloc(sizeof(float) * BA);
	g_params = malloc(sizeof(float) * qb.qo->n_params);
	assert_non_null(g_logits);
	assert_non_null(g_params);

	memset(qb.qo->grads, 0, sizeof(float) * qb.qo->n_params);
	loss = batch_loss(&qb);
	assert_true(isfinite(loss) && loss > 0.0);
	memcpy(g_logits, qb.dlogits, sizeof(float) * BA);
	memcpy(g_params, qb.qo->grads, sizeof(float) * qb.qo->n_params);

	for (j = 0; j < BA; j++)
	{
		r = fd_check(&qb, &qb.logits[j], g_logits[j], &worst_rel);
		if (!(r <= 1.0))
			print_error("%s: d/dlogits[%zu] analytic %.6g off (ratio %.3g)\n",
						name, j, g_logits[j], r);
		assert_true(r <= 1.0);
		worst = fmax(worst, r);
		n_checks++;
	}
	/* unlabelled rows get no gradient */
	for (j = 0; j < (size_t) qb.A; j++)
	{
		assert_true(g_logits[(size_t) 1 * qb.A + j] == 0.0f);
		assert_true(g_logits[(size_t) (qb.B - 1) * qb.A + j] == 0.0f);
	}

	block_start[0] = 0;
	block_start[1] = block_start[0] + (size_t) qb.I * qb.H;
	block_start[2] = block_start[1] + (size_t) qb.I;
	block_start[3] = block_start[2] + (size_t) qb.A * qb.I;
	block_start[4] = block_start[3] + (size_t) qb.A;
	block_start[5] = block_start[4] + (size_t) qb.A * qb.A;
	block_start[6] = block_start[5] + (size_t) qb.A;
	assert_true(block_start[6] == qb.qo->n_params);

	/*
	 * LPF's feedback weight depends on the branch but is detached, so the
	 * branch's gradient is that of the question-only term alone:
	 * L(w_q) - L(0), where the main terms cancel exactly. With w_q = 0 the
	 * branch must get no gradient at all.
	 */
	if (kind == VQA_QO_LPF)
	{
		float	   *g0 = calloc(qb.qo->n_params, sizeof(float));

		assert_non_null(g0);
		memset(qb.qo->grads, 0, sizeof(float) * qb.qo->n_params);
		assert_true(isfinite(vqa_qo_loss(qb.qo, kind, qb.gamma, 0.0f, qb.B, qb.logits,
										 qb.q_emb, qb.max_label, qb.dlogits)));
		assert_memory_equal(qb.qo->grads, g0, sizeof(float) * qb.qo->n_params);
		free(g0);
		qb.qo_only = 1;
	}
	vqa_rng_seed_stream(&rng, seed, 11);
	for (blk = 0; blk < 6; blk++)
	{
		size_t		n = block_start[blk + 1] - block_start[blk];
		int			n_nonzero = 0;

		for (s = 0; s < FD_SAMPLES_PER_BLOCK; s++)
		{
			size_t		idx = block_start[blk] + (size_t) vqa_rng_below(&rng, n);
			r = fd_check(&qb, &qb.qo->params[idx], g_params[idx], &worst_rel);
			if (!(r <= 1.0))
				print_error("%s: d/d%s[%zu] analytic %.6g off (ratio %.3g)\n",
							name, BLOCK_NAMES[blk], idx - block_start[blk],
							g_params[idx], r);
			assert_true(r <= 1.0);
			worst = fmax(worst, r);
			if (fabs(g_params[idx]) > 1e-4)
				n_nonzero++;
			n_checks++;
		}
		/* every block must actually be exercised */
		if (n_nonzero == 0)
			print_error("%s: no nonzero sampled gradient in %s\n", name, BLOCK_NAMES[blk]);
		assert_true(n_nonzero > 0);
	}
	printf("%s fd: %d checks OK, worst rel err %.2g (worst error / tolerance %.2g)\n",
		   name, n_checks, worst_rel, worst);

	free(g_logits);
	free(g_params);
	free_batch(&qb);
}

static void
gradients_match_finite_differences(void **state)
{
	fd_one(VQA_QO_RUBI, 0x9E3779B97F4A7C15ULL);
	fd_one(VQA_QO_RUBI, 0xD1B54A32D192ED03ULL);
	fd_one(VQA_QO_LPF, 0x9E3779B97F4A7C15ULL);
	fd_one(VQA_QO_LPF, 0xD1B54A32D192ED03ULL);
}

/* ---------------------------------------------------------------------- */
/* a tiny case by hand: B = 1, A = 2, H = 1, inner = 1 */

static double
sig(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/* -log softmax(v)[k] for two entries. */
static double
ce2(double v0, double v1, int k)
{
	double		m = fmax(v0, v1);
	double		lse = m + log(exp(v0 - m) + exp(v1 - m));

	return lse - (k == 0 ? v0 : v1);
}

static VqaQoBranch *
tiny_branch(void)
{
	/* w1, b1, w2[2], b2[2], w3[2x2], b3[2]; the test reads them back as float */
	static const float P[] = {2.0f, 0.5f, 0.4f, -0.3f, 0.1f, 0.2f,
	1.0f, 2.0f, -1.0f, 0.5f, 0.0f, 0.1f};
	VqaQoBranch *qo = vqa_qo_new(1, 1, 2, 1);

	assert_non_null(qo);
	assert_int_equal(qo->n_params, sizeof(P) / sizeof(P[0]));
	memcpy(qo->params, P, sizeof(P));
	return qo;
}

static void
tiny_case_by_hand(void **state)
{
	VqaQoBranch *qo = tiny_branch();
	const float z[2] = {1.5f, -0.5f};
	const float q[1] = {1.0f};
	const int32_t k[1] = {1};
	float		dz[2];
	/* h = 2 * 1 + 0.5 = 2.5 > 0; qp = W2 h + b2 (constants as stored) */
	double		h = 2.5,
				qp0 = (double) 0.4f * h + (double) 0.1f,
				qp1 = (double) -0.3f * h + (double) 0.2f,
				lq0 = 1.0 * qp0 + 2.0 * qp1 + 0.0,
				lq1 = -1.0 * qp0 + 0.5 * qp1 + (double) 0.1f,
				y0 = 1.5 * sig(qp0),
				y1 = -0.5 * sig(qp1),
				want,
				got,
				py1,
				pz1,
				feedback,
				weight;

	/* RUBi: CE(z * sigmoid(qp), 1) + 1 * CE(lq, 1) */
	want = ce2(y0, y1, 1) + ce2(lq0, lq1, 1);
	got = vqa_qo_loss(qo, VQA_QO_RUBI, 5.0f, 1.0f, 1, z, q, k, dz);
	printf("rubi_qo by hand: loss %.9g, expected %.9g\n", got, want);
	assert_true(fabs(got - want) < 1e-9 * fmax(1.0, fabs(want)));
	/* dL/dz_j = (softmax(y)_j - [j = k]) sigmoid(qp_j) */
	py1 = 1.0 / (1.0 + exp(y0 - y1));
	assert_true(fabs(dz[0] - (1.0 - py1) * sig(qp0)) < 1e-6);
	assert_true(fabs(dz[1] - (py1 - 1.0) * sig(qp1)) < 1e-6);
	/* the question-only loss alone, with weight 2 */
	want = ce2(y0, y1, 1) + 2.0 * ce2(lq0, lq1, 1);
	got = vqa_qo_loss(qo, VQA_QO_RUBI, 5.0f, 2.0f, 1, z, q, k, dz);
	assert_true(fabs(got - want) < 1e-9 * fmax(1.0, fabs(want)));

	/* LPF: (1 - softmax(lq)_1)^5 CE(z, 1) + CE(lq, 1) */
	feedback = 1.0 / (1.0 + exp(lq0 - lq1));
	weight = pow(1.0 - feedback, 5.0);
	want = weight * ce2(1.5, -0.5, 1) + ce2(lq0, lq1, 1);
	got = vqa_qo_loss(qo, VQA_QO_LPF, 5.0f, 1.0f, 1, z, q, k, dz);
	printf("lpf_qo by hand: loss %.9g, expected %.9g\n", got, want);
	assert_true(fabs(got - want) < 1e-9 * fmax(1.0, fabs(want)));
	pz1 = 1.0 / (1.0 + exp(1.5 - (-0.5)));
	assert_true(fabs(dz[0] - weight * (1.0 - pz1)) < 1e-6);
	assert_true(fabs(dz[1] - weight * (pz1 - 1.0)) < 1e-6);
	vqa_qo_free(qo);
}

/* ---------------------------------------------------------------------- */
/* edge cases */

static void
all_unlabelled_gives_zero(void **state)
{
	int			kind;

	for (kind = 0; kind < 2; kind++)
	{
		QoBatch		qb;
		size_t		j;
		int			i;

		make_batch(&qb, (VqaQoKind) kind, 4, 3, 5, 6, 42);
		for (i = 0; i < qb.B; i++)
			qb.max_label[i] = -1;
		memset(qb.qo->grads, 0, sizeof(float) * qb.qo->n_params);
		/* garbage the loss must overwrite */
		for (j = 0; j < (size_t) qb.B * qb.A; j++)
			qb.dlogits[j] = 123.0f;
		assert_true(batch_loss(&qb) == 0.0);
		for (j = 0; j < (size_t) qb.B * qb.A; j++)
			assert_true(qb.dlogits[j] == 0.0f);
		for (j = 0; j < qb.qo->n_params; j++)
			assert_true(qb.qo->grads[j] == 0.0f);
		free_batch(&qb);
	}
}

static void
bad_input_gives_nan(void **state)
{
	QoBatch		qb;

	make_batch(&qb, VQA_QO_RUBI, 3, 2, 3, 4, 5);
	qb.max_label[0] = 4;		/* == A */
	assert_true(isnan(batch_loss(&qb)));
	qb.max_label[0] = 0;
	assert_true(isfinite(batch_loss(&qb)));
	qb.B = 0;
	assert_true(isnan(batch_loss(&qb)));
	qb.B = 3;
	assert_true(isnan(vqa_qo_loss(NULL, VQA_QO_LPF, 5.0f, 1.0f, 3, qb.logits,
								  qb.q_emb, qb.max_label, qb.dlogits)));
	assert_true(isnan(vqa_qo_loss(qb.qo, VQA_QO_LPF, 5.0f, 1.0f, 3, qb.logits,
								  NULL, qb.max_label, qb.dlogits)));
	assert_null(vqa_qo_new(0, 3, 4, 1));
	free_batch(&qb);
	vqa_qo_free(NULL);
}

static void
init_is_deterministic(void **state)
{
	VqaQoBranch *a = vqa_qo_new(8, 5, 7, 1234),
			   *b = vqa_qo_new(8, 5, 7, 1234),
			   *c = vqa_qo_new(8, 5, 7, 1235);
	size_t		j,
				n;
	double		bound;

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	n = a->n_params;
	assert_int_equal(n, 5 * 8 + 5 + 7 * 5 + 7 + 7 * 7 + 7);
	assert_memory_equal(a->params, b->params, sizeof(float) * n);
	assert_memory_not_equal(a->params, c->params, sizeof(float) * n);
	for (j = 0; j < n; j++)
	{
		/* fan-in of the block: H for w1, b1; inner for w2, b2; A for w3, b3 */
		bound = j < 45 ? 1.0 / sqrt(8.0) : j < 87 ? 1.0 / sqrt(5.0) : 1.0 / sqrt(7.0);
		assert_true(fabs(a->params[j]) <= bound);
		assert_true(a->grads[j] == 0.0f);
	}
	vqa_qo_free(a);
	vqa_qo_free(b);
	vqa_qo_free(c);
}

int			run_qo_branch_tests(int *n_tests);

int
run_qo_branch_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gradients_match_finite_differences),
		cmocka_unit_test(tiny_case_by_hand),
		cmocka_unit_test(all_unlabelled_gives_zero),
		cmocka_unit_test(bad_input_gives_nan),
		cmocka_unit_test(init_is_deterministic),
	};

	return UNIT_GROUP(qo_branch, tests, n_tests);
}
