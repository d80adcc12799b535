/*
 * qo_branch.c: RUBi and LPF as their authors wrote them, with a learned
 * question-only branch, forward and backward.
 *
 * losses.c has rubi and lpf with the fixed question-type prior p_b in place
 * of a question-only model. Here the prior is learned, as in the original
 * code (cdancette/rubi.bootstrap.pytorch, jokieleung/LPF-VQA):
 *
 *   h  = W1 q + b1, r = relu(h)              (inner)
 *   qp = W2 r + b2                           (A, "q_pred")
 *   lq = W3 qp + b3                          (A, "logits_q")
 *
 * q is the question embedding, detached: nothing flows back into it, so the
 * question-only loss cannot make the encoder itself more biased.
 *
 *   rubi_qo  y = z * sigma(qp), L_i = CE(y, k) + w_q CE(lq, k).
 *            dL/dy = (softmax(y) - e_k) / N, dL/dz = dL/dy * sigma(qp),
 *            dL/dqp = dL/dy * z sigma(qp)(1 - sigma(qp)) + W3^T dL/dlq,
 *            dL/dlq = w_q (softmax(lq) - e_k) / N.
 *            The main loss thus also trains the mask sigma(qp).
 *   lpf_qo   c = (1 - softmax(lq)_k)^gamma, a constant (detached),
 *            L_i = c CE(z, k) + w_q CE(lq, k).
 *            dL/dz = c (softmax(z) - e_k) / N; the branch is trained by the
 *            question-only loss alone.
 *
 * Then back through the MLP: dW3 += dlq qp^T, db3 += dlq, dW2 += dqp r^T,
 * db2 += dqp, dh = (W2^T dqp) [h > 0], dW1 += dh q^T, db1 += dh.
 *
 * k = max_label; N is the number of labelled examples (k >= 0); an unlabelled
 * example adds nothing and gets zero dlogits; with none the loss is 0.
 *
 * Storage is float32; activations and every sum are kept in double, softmax
 * goes through logsumexp with the maximum subtracted. The only allocation is
 * a per-call scratch of inner + 4 A doubles. Plain loops, no BLAS: the sizes
 * (H <= 768, A a few thousand, B <= 256) make W3 (A x A) the largest product.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/qo_branch.h"
#include "vqaprune/rng.h"

/* Views of the six blocks of a params or grads buffer. */
typedef struct QoBlocks
{
	float	   *w1,
			   *b1,
			   *w2,
			   *b2,
			   *w3,
			   *b3;
} QoBlocks;

static void
qo_blocks(const VqaQoBranch *qo, float *base, QoBlocks *bl)
{
	size_t		H = (size_t) qo->hidden,
				I = (size_t) qo->inner,
				A = (size_t) qo->answers;

	bl->w1 = base;
	bl->b1 = bl->w1 + I * H;
	bl->w2 = bl->b1 + I;
	bl->b2 = bl->w2 + A * I;
	bl->w3 = bl->b2 + A;
	bl->b3 = bl->w3 + A * A;
}

static double
sigmoid(double x)
{
	double		e;

	if (x >= 0.0)
		return 1.0 / (1.0 + exp(-x));
	e = exp(x);
	return e / (1.0 + e);
}

/* log sum exp of x[0..n), the maximum subtracted first. */
static double
logsumexp(const double *x, int n)
{
	double		m = -INFINITY,
				s = 0.0;
	int			j;

	for (j = 0; j < n; j++)
		m = fmax(m, x[j]);
	for (j = 0; j < n; j++)
		s += exp(x[j] - m);
	return m + log(s);
}

/* out[r] = b[r] + sum_c w[r, c] x[c], w row-major rows x cols. */
static void
affine_f(const float *w, const float *b, const float *x, int rows, int cols,
		 double *out)
{
	int			r,
				c;

	for (r = 0; r < rows; r++)
	{
		const float *wr = w + (size_t) r * cols;
		double		s = b[r];

		for (c = 0; c < cols; c++)
			s += (double) wr[c] * x[c];
		out[r] = s;
	}
}

/* Same, with a double input vector. */
static void
affine_d(const float *w, const float *b, const double *x, int rows, int cols,
		 double *out)
{
	int			r,
				c;

	for (r = 0; r < rows; r++)
	{
		const float *wr = w + (size_t) r * cols;
		double		s = b[r];

		for (c = 0; c < cols; c++)
			s += wr[c] * x[c];
		out[r] = s;
	}
}

/* gw += dout x^T, gb += dout; x in double. */
static void
accum_outer(float *gw, float *gb, const double *dout, const double *x,
			int rows, int cols)
{
	int			r,
				c;

	for (r = 0; r < rows; r++)
	{
		float	   *gr = gw + (size_t) r * cols;
		double		d = dout[r];

		gb[r] += (float) d;
		if (d == 0.0)
			continue;
		for (c = 0; c < cols; c++)
			gr[c] += (float) (d * x[c]);
	}
}

/* dx[c] += sum_r w[r, c] dout[r]: the transposed product. */
static void
transpose_product(const float *w, const double *dout, int rows, int cols,
				  double *dx)
{
	int			r,
				c;

	for (r = 0; r < rows; r++)
	{
		const float *wr = w + (size_t) r * cols;
		double		d = dout[r];

		if (d == 0.0)
			continue;
		for (c = 0; c < cols; c++)
			dx[c] += wr[c] * d;
	}
}

/* Uniform(-bound, bound) into x[0..n). */
static void
init_uniform(VqaRng *rng, float *x, size_t n, double bound)
{
	size_t		i;

	for (i = 0; i < n; i++)
		x[i] = (float) ((2.0 * vqa_rng_uniform(rng) - 1.0) * bound);
}

VqaQoBranch *
vqa_qo_new(int hidden, int inner, int answers, uint64_t seed)
{
	VqaQoBranch *qo;
	QoBlocks	bl;
	VqaRng		rng;
	size_t		H,
				I,
				A;

	if (hidden < 1 || inner < 1 || answers < 1)
		return NULL;
	H = (size_t) hidden;
	I = (size_t) inner;
	A = (size_t) answers;
	qo = calloc(1, sizeof(VqaQoBranch));
	if (qo == NULL)
		return NULL;
	qo->hidden = hidden;
	qo->inner = inner;
	qo->answers = answers;
	qo->n_params = I * H + I + A * I + A + A * A + A;
	qo->params = malloc(sizeof(float) * qo->n_params);
	qo->grads = calloc(qo->n_params, sizeof(float));
	if (qo->params == NULL || qo->grads == NULL)
	{
		vqa_qo_free(qo);
		return NULL;
	}
	/* nn.Linear's default: weight and bias both within 1/sqrt(fan_in) */
	qo_blocks(qo, qo->params, &bl);
	vqa_rng_seed(&rng, seed);
	init_uniform(&rng, bl.w1, I * H, 1.0 / sqrt((double) H));
	init_uniform(&rng, bl.b1, I, 1.0 / sqrt((double) H));
	init_uniform(&rng, bl.w2, A * I, 1.0 / sqrt((double) I));
	init_uniform(&rng, bl.b2, A, 1.0 / sqrt((double) I));
	init_uniform(&rng, bl.w3, A * A, 1.0 / sqrt((double) A));
	init_uniform(&rng, bl.b3, A, 1.0 / sqrt((double) A));
	return qo;
}

void
vqa_qo_free(VqaQoBranch *qo)
{
	if (qo == NULL)
		return;
	free(qo->params);
	free(qo->grads);
	free(qo);
}

double
vqa_qo_loss(VqaQoBranch *qo, VqaQoKind kind, float gamma, float qo_weight,
			int batch, const float *logits, const float *q_emb,
			const int32_t *max_label, float *dlogits)
{
	QoBlocks	p,
				g;
	int			H,
				I,
				A,
				N = 0,
				i,
				j;
	double	   *scratch,
			   *h,
			   *qp,
			   *lq,
			   *y,
			   *dqp;
	double		sum = 0.0;

	if (qo == NULL || qo->params == NULL || qo->grads == NULL ||
		logits == NULL || q_emb == NULL || max_label == NULL ||
		dlogits == NULL || batch < 1 ||
		(kind != VQA_QO_RUBI && kind != VQA_QO_LPF))
		return NAN;
	H = qo->hidden;
	I = qo->inner;
	A = qo->answers;
	for (i = 0; i < batch; i++)
	{
		if (max_label[i] >= A)
			return NAN;
		if (max_label[i] >= 0)
			N++;
	}
	if (N == 0)
	{
		memset(dlogits, 0, sizeof(float) * (size_t) batch * A);
		return 0.0;
	}

	scratch = malloc(sizeof(double) * ((size_t) I + 4 * (size_t) A));
	if (scratch == NULL)
		return NAN;
	/* unlabelled rows keep these zeros */
	memset(dlogits, 0, sizeof(float) * (size_t) batch * A);
	h = scratch;
	qp = h + I;
	lq = qp + A;
	y = lq + A;
	dqp = y + A;
	qo_blocks(qo, qo->params, &p);
	qo_blocks(qo, qo->grads, &g);

	for (i = 0; i < batch; i++)
	{
		const float *z = logits + (size_t) i * A;
		const float *q = q_emb + (size_t) i * H;
		float	   *gz = dlogits + (size_t) i * A;
		int			k = max_label[i];
		double		lse_y,
					lse_q,
					ce_q;

		if (k < 0)
			continue;

		/*
		 * forward through the branch; h becomes relu(h) in place, and r > 0
		 * exactly where the ReLU passes gradient (none at 0)
		 */
		affine_f(p.w1, p.b1, q, I, H, h);
		for (j = 0; j < I; j++)
			h[j] = h[j] > 0.0 ? h[j] : 0.0;
		affine_d(p.w2, p.b2, h, A, I, qp);
		affine_d(p.w3, p.b3, qp, A, A, lq);
		lse_q = logsumexp(lq, A);
		ce_q = lse_q - lq[k];

		/* main term and dL/dqp from it */
		if (kind == VQA_QO_RUBI)
		{
			for (j = 0; j < A; j++)
				y[j] = z[j] * sigmoid(qp[j]);
			lse_y = logsumexp(y, A);
			sum += lse_y - y[k];
			for (j = 0; j < A; j++)
			{
				double		s = sigmoid(qp[j]);
				double		dy = (exp(y[j] - lse_y) - (j == k ? 1.0 : 0.0)) / N;

				gz[j] = (float) (dy * s);
				dqp[j] = dy * z[j] * s * (1.0 - s);
			}
		}
		else
		{
			/* the feedback weight is a constant: no gradient through it */
			double		c = pow(1.0 - exp(lq[k] - lse_q), gamma);
			double		lse_z;

			for (j = 0; j < A; j++)
				y[j] = z[j];
			lse_z = logsumexp(y, A);
			sum += c * (lse_z - z[k]);
			for (j = 0; j < A; j++)
			{
				gz[j] = (float) (c * (exp(y[j] - lse_z) - (j == k ? 1.0 : 0.0)) / N);
				dqp[j] = 0.0;
			}
		}

		/* question-only term: dL/dlq into y (free now) */
		sum += qo_weight * ce_q;
		for (j = 0; j < A; j++)
			y[j] = qo_weight * (exp(lq[j] - lse_q) - (j == k ? 1.0 : 0.0)) / N;
		accum_outer(g.w3, g.b3, y, qp, A, A);
		transpose_product(p.w3, y, A, A, dqp);

		/* through W2 and the ReLU (derivative 0 at 0) */
		accum_outer(g.w2, g.b2, dqp, h, A, I);
		/* dh one unit at a time, straight into W1's and b1's gradients */
		{
			int			a,
						c;

			for (c = 0; c < I; c++)
			{
				double		dh = 0.0;
				float	   *gr;

				if (!(h[c] > 0.0))
					continue;
				for (a = 0; a < A; a++)
					dh += p.w2[(size_t) a * I + c] * dqp[a];
				g.b1[c] += (float) dh;
				gr = g.w1 + (size_t) c * H;
				for (a = 0; a < H; a++)
					gr[a] += (float) (dh * q[a]);
			}
		}
	}
	free(scratch);
	return sum / N;
}
