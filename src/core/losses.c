/*
 * losses.c: the plain and debiasing VQA losses, forward and backward.
 *
 * Si et al. (EMNLP 2023) fine-tune and prune LXMERT with one of five losses.
 * The values here are those of the authors' code (Compress-Robust-VQA,
 * hg_transformers/vqa_debias_loss_functions.py and mask_trainer_Robust_VQA.py),
 * including its conventions, which are not always those of the papers:
 *
 *   bce   L = A * mean_{i,a} BCEWithLogits(z, t) = (1/B) sum_{i,a} bce(z, t).
 *         dL/dz = (sigma(z) - t) / B.
 *
 *   lmh   Per answer a 2-way distribution. With the gate g_i =
 *         softplus(w . h_i + c), the smoothing sigma(s) and
 *         delta_ia = log(b + sigma(s)) - log(1 - b + sigma(s)), the authors
 *         stack [log sigma(z), log(1 - sigma(z))] + g * [log(b + sigma(s)),
 *         log(1 - b + sigma(s))] and renormalise; the two renormalised entries
 *         are exactly log sigma(d) and log sigma(-d) with d = z + r,
 *         r = g * delta, so the main term is a BCE with logits on d, summed
 *         over answers, averaged over the batch; a row whose sum is NaN counts
 *         0 (the authors' torch.where guard; the mean still divides by B).
 *         The penalty is w_H times the mean over B x A of the entropy of
 *         softmax(g * [log(b + sigma(s)), log(1 - b + sigma(s))]), which is
 *         the binary entropy H(sigma(r)). Backward, with
 *           G_ia = (sigma(d) - t) / B  +  w_H / (B A) * (-r sigma(r) (1 - sigma(r)))
 *         (dH/dr = -r p (1 - p)): dL/dz = (sigma(d) - t) / B,
 *         dL/dg_i = sum_a G delta, dL/du_i = dL/dg_i * sigma(u_i) with
 *         u_i = w . h_i + c, hence the gradients of h, w and c; and
 *         dL/ds = sum G g (1/(b + sigma(s)) - 1/(1 - b + sigma(s))) *
 *         sigma(s) (1 - sigma(s)).
 *
 *   rubi  CrossEntropyLoss(z * sigma(b), max_label): y = z sigma(b),
 *         L = mean_i (logsumexp(y_i) - y_ik), dL/dz_ij =
 *         (softmax(y_i)_j - [j = k]) sigma(b_ij) / N. The question-only branch
 *         of RUBi is replaced by the fixed prior, and there is no
 *         question-only loss.
 *
 *   lpf   p = max(softmax(z), 1e-7), q = max(b, 1e-7),
 *         L = mean_i (1 - q_ik)^gamma * (-log p_ik). The weight is a constant
 *         (b is data); the clamp stops the gradient when p_ik < 1e-7, else
 *         dL/dz_ij = (1 - q_ik)^gamma (p_ij - [j = k]) / N.
 *
 *   poe   BiasProduct: d = z + log(b + sigma(s)) - log1p(-b + sigma(s)), then
 *         the same BCE on d as lmh's main term, without the guard.
 *
 * rubi and lpf average over the examples that have a label (max_label >= 0),
 * as CrossEntropyLoss does with ignore_index; with none the loss is 0.
 *
 * Inputs and gradients are float32; every quantity is computed in double and
 * sums are accumulated in double. Log-sigmoids go through a stable softplus,
 * softmaxes through logsumexp. The only allocation is B doubles for lmh's
 * gate_w gradient, summed over the batch in double.
 */
#include "vqaprune/losses.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* torch.ones_like(vqa_pt) * 1.0e-7 in float32 */
#define LPF_SMALL_VALUE ((double) 1.0e-7f)

static const char *const LOSS_NAMES[VQA_LOSS_N_KINDS] = {
	"bce", "lmh", "rubi", "lpf", "poe"
};

int
vqa_loss_parse(const char *name, VqaLossKind *kind)
{
	int			k;

	if (name == NULL)
		return -1;
	for (k = 0; k < VQA_LOSS_N_KINDS; k++)
	{
		if (strcmp(name, LOSS_NAMES[k]) == 0)
		{
			if (kind)
				*kind = (VqaLossKind) k;
			return 0;
		}
	}
	return -1;
}

const char *
vqa_loss_name(VqaLossKind kind)
{
	if ((int) kind < 0 || (int) kind >= VQA_LOSS_N_KINDS)
		return NULL;
	return LOSS_NAMES[kind];
}

int
vqa_loss_needs_prior(VqaLossKind kind)
{
	return kind != VQA_LOSS_BCE;
}

int
vqa_loss_needs_max_label(VqaLossKind kind)
{
	return kind == VQA_LOSS_RUBI || kind == VQA_LOSS_LPF;
}

int
vqa_loss_needs_lmh(VqaLossKind kind)
{
	return kind == VQA_LOSS_LMH;
}

void
vqa_loss_default_options(VqaLossOptions *opt)
{
	opt->lmh_entropy_weight = 0.36f;
	opt->lpf_gamma = 5.0f;
	opt->poe_smooth = -1.0f;
}

/* log(1 + e^x) without overflow; softplus(-x) = -log sigma(x). */
static double
softplus(double x)
{
	return fmax(x, 0.0) + log1p(exp(-fabs(x)));
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

/*
 * -[t log sigma(d) + (1 - t) log(1 - sigma(d))]. Written as the authors'
 * products so that what is NaN for them (0 * inf) is NaN here too.
 */
static double
bce_with_logit(double d, double t)
{
	return t * softplus(-d) + (1.0 - t) * softplus(d);
}

/* Entropy of the 2-way distribution softmax([r, 0]) = [sigma(r), sigma(-r)]. */
static double
binary_entropy(double r)
{
	double		p = sigmoid(r);

	return p * softplus(-r) + (1.0 - p) * softplus(r);
}

/* Zeroes the gradients a loss does not depend on. */
static void
zero_grad(const VqaLossInput *in, VqaLossGrad *grad)
{
	int			h = in->hidden_size > 0 ? in->hidden_size : 0;

	if (grad->logits)
		memset(grad->logits, 0, sizeof(float) * (size_t) in->batch * in->answers);
	if (grad->hidden && h > 0)
		memset(grad->hidden, 0, sizeof(float) * (size_t) in->batch * h);
	if (grad->gate_w && h > 0)
		memset(grad->gate_w, 0, sizeof(float) * (size_t) h);
	if (grad->gate_b)
		*grad->gate_b = 0.0f;
	if (grad->smooth)
		*grad->smooth = 0.0f;
}

/* Plain: BCE with logits, mean over B x A, times A. */
static double
loss_bce(const VqaLossInput *in, VqaLossGrad *grad)
{
	int			B = in->batch,
				A = in->answers;
	double		sum = 0.0;
	size_t		n = (size_t) B * A;
	size_t		j;

	for (j = 0; j < n; j++)
	{
		double		z = in->logits[j],
					t = in->targets[j];

		sum += bce_with_logit(z, t);
		if (grad && grad->logits)
			grad->logits[j] = (float) ((sigmoid(z) - t) / B);
	}
	return sum / B;
}

/* BiasProduct (PoE), smoothing sigma(s) with s = opt->poe_smooth. */
static double
loss_poe(const VqaLossInput *in, double s, VqaLossGrad *grad)
{
	int			B = in->batch,
				A = in->answers;
	double		smooth = sigmoid(s);
	double		sum = 0.0,
				dsmooth = 0.0;
	size_t		n = (size_t) B * A;
	size_t		j;

	for (j = 0; j < n; j++)
	{
		double		b = in->prior[j],
					t = in->targets[j];
		double		d = (double) in->logits[j] + log(b + smooth) - log1p(-b + smooth);
		double		gd = (sigmoid(d) - t) / B;

		sum += bce_with_logit(d, t);
		if (grad && grad->logits)
			grad->logits[j] = (float) gd;
		dsmooth += gd * (1.0 / (b + smooth) - 1.0 / (1.0 - b + smooth));
	}
	if (grad && grad->smooth)
		*grad->smooth = (float) (dsmooth * smooth * (1.0 - smooth));
	return sum / B;
}

/* LearnedMixin +H; see the header comment for the derivation. */
static double
loss_lmh(const VqaLossInput *in, const VqaLmhParams *lmh, double w_H,
		 VqaLossGrad *grad)
{
	int			B = in->batch,
				A = in->answers,
				H = in->hidden_size;
	double		smooth = sigmoid(lmh->smooth);
	double	   *du_rows = NULL;	/* dL/du_i, for the gate_w sum in double */
	double		main_sum = 0.0,
				entropy_sum = 0.0;
	double		dsmooth = 0.0,
				dgate_b = 0.0;
	int			i,
				a,
				k;

	if (grad && grad->gate_w)
	{
		du_rows = malloc(sizeof(double) * (size_t) B);
		if (du_rows == NULL)
			return NAN;
	}

	for (i = 0; i < B; i++)
	{
		const float *z = in->logits + (size_t) i * A;
		const float *t = in->targets + (size_t) i * A;
		const float *b = in->prior + (size_t) i * A;
		const float *h = in->hidden + (size_t) i * H;
		double		u = lmh->gate_b;
		double		g,
					row = 0.0,
					dg = 0.0,
					du;
		int			nan_row;

		for (k = 0; k < H; k++)
			u += (double) lmh->gate_w[k] * h[k];
		g = softplus(u);

		for (a = 0; a < A; a++)
		{
			double		delta = log(b[a] + smooth) - log(1.0 - b[a] + smooth);
			double		r = g * delta;

			row += bce_with_logit(z[a] + r, t[a]);
			entropy_sum += binary_entropy(r);
		}
		/* sum_prob[isnan(sum_prob)] = 0 in the authors' LearnedMixin */
		nan_row = isnan(row);
		if (!nan_row)
			main_sum += row;

		if (grad == NULL)
			continue;
		for (a = 0; a < A; a++)
		{
			double		delta = log(b[a] + smooth) - log(1.0 - b[a] + smooth);
			double		r = g * delta;
			double		pr = sigmoid(r);
			double		gmain = nan_row ? 0.0 : (sigmoid(z[a] + r) - t[a]) / B;
			double		gr = gmain + w_H / ((double) B * A) * (-r * pr * (1.0 - pr));

			if (grad->logits)
				grad->logits[(size_t) i * A + a] = (float) gmain;
			dg += gr * delta;
			dsmooth += gr * g * (1.0 / (b[a] + smooth) - 1.0 / (1.0 - b[a] + smooth));
		}
		du = dg * sigmoid(u);	/* softplus' = sigmoid */
		dgate_b += du;
		if (du_rows)
			du_rows[i] = du;
		if (grad->hidden)
			for (k = 0; k < H; k++)
				grad->hidden[(size_t) i * H + k] = (float) (du * lmh->gate_w[k]);
	}
	if (du_rows)
	{
		for (k = 0; k < H; k++)
		{
			double		gw = 0.0;

			for (i = 0; i < B; i++)
				gw += du_rows[i] * in->hidden[(size_t) i * H + k];
			grad->gate_w[k] = (float) gw;
		}
		free(du_rows);
	}
	if (grad && grad->gate_b)
		*grad->gate_b = (float) dgate_b;
	if (grad && grad->smooth)
		*grad->smooth = (float) (dsmooth * smooth * (1.0 - smooth));
	return main_sum / B + w_H * entropy_sum / ((double) B * A);
}

/* Number of examples with a label, the denominator of rubi and lpf. */
static int
count_labelled(const VqaLossInput *in)
{
	int			i,
				n = 0;

	for (i = 0; i < in->batch; i++)
		if (in->max_label[i] >= 0)
			n++;
	return n;
}

/* RUBI_loss: cross-entropy of z * sigmoid(b) on max_label. */
static double
loss_rubi(const VqaLossInput *in, VqaLossGrad *grad)
{
	int			B = in->batch,
				A = in->answers;
	int			N = count_labelled(in);
	double		sum = 0.0;
	int			i,
				j;

	for (i = 0; i < B; i++)
	{
		const float *z = in->logits + (size_t) i * A;
		const float *b = in->prior + (size_t) i * A;
		float	   *gz = grad && grad->logits ? grad->logits + (size_t) i * A : NULL;
		int			k = in->max_label[i];
		double		m = -INFINITY,
					se = 0.0,
					lse;

		if (k < 0)
		{
			if (gz)
				memset(gz, 0, sizeof(float) * (size_t) A);
			continue;
		}
		for (j = 0; j < A; j++)
			m = fmax(m, z[j] * sigmoid(b[j]));
		for (j = 0; j < A; j++)
			se += exp(z[j] * sigmoid(b[j]) - m);
		lse = m + log(se);
		sum += lse - z[k] * sigmoid(b[k]);
		if (gz == NULL)
			continue;
		for (j = 0; j < A; j++)
		{
			double		sb = sigmoid(b[j]);
			double		p = exp(z[j] * sb - lse);

			gz[j] = (float) ((p - (j == k ? 1.0 : 0.0)) * sb / N);
		}
	}
	return N > 0 ? sum / N : 0.0;
}

/* LPF_loss: (1 - max(b_k, 1e-7))^gamma * -log max(softmax(z)_k, 1e-7). */
static double
loss_lpf(const VqaLossInput *in, double gamma, VqaLossGrad *grad)
{
	int			B = in->batch,
				A = in->answers;
	int			N = count_labelled(in);
	double		sum = 0.0;
	int			i,
				j;

	for (i = 0; i < B; i++)
	{
		const float *z = in->logits + (size_t) i * A;
		float	   *gz = grad && grad->logits ? grad->logits + (size_t) i * A : NULL;
		int			k = in->max_label[i];
		double		m = -INFINITY,
					se = 0.0,
					lse,
					pk,
					q,
					weight,
					ce;
		int			clamped;

		if (k < 0)
		{
			if (gz)
				memset(gz, 0, sizeof(float) * (size_t) A);
			continue;
		}
		for (j = 0; j < A; j++)
			m = fmax(m, z[j]);
		for (j = 0; j < A; j++)
			se += exp(z[j] - m);
		lse = m + log(se);
		pk = exp(z[k] - lse);
		clamped = pk < LPF_SMALL_VALUE;
		/* lse - z_k is -log p_k without the rounding of p_k */
		ce = clamped ? -log(LPF_SMALL_VALUE) : lse - z[k];
		q = fmax(in->prior[(size_t) i * A + k], LPF_SMALL_VALUE);
		weight = pow(1.0 - q, gamma);
		sum += weight * ce;
		if (gz == NULL)
			continue;
		for (j = 0; j < A; j++)
			gz[j] = clamped ? 0.0f :
				(float) (weight * (exp(z[j] - lse) - (j == k ? 1.0 : 0.0)) / N);
	}
	return N > 0 ? sum / N : 0.0;
}

/* Whether the input has what kind needs; labels must be < answers. */
static int
input_ok(VqaLossKind kind, const VqaLossInput *in, const VqaLmhParams *lmh)
{
	int			i;

	if (in == NULL || in->batch <= 0 || in->answers <= 0 || in->logits == NULL)
		return 0;
	if ((kind == VQA_LOSS_BCE || kind == VQA_LOSS_LMH || kind == VQA_LOSS_POE) &&
		in->targets == NULL)
		return 0;
	if (vqa_loss_needs_prior(kind) && in->prior == NULL)
		return 0;
	if (vqa_loss_needs_max_label(kind))
	{
		if (in->max_label == NULL)
			return 0;
		for (i = 0; i < in->batch; i++)
			if (in->max_label[i] >= in->answers)
				return 0;
	}
	if (vqa_loss_needs_lmh(kind) &&
		(lmh == NULL || in->hidden_size <= 0 || in->hidden_size != lmh->hidden_size ||
		 in->hidden == NULL || lmh->gate_w == NULL))
		return 0;
	return 1;
}

double
vqa_loss(VqaLossKind kind, const VqaLossOptions *opt, const VqaLossInput *in,
		 const VqaLmhParams *lmh, VqaLossGrad *grad)
{
	VqaLossOptions defaults;

	if ((int) kind < 0 || (int) kind >= VQA_LOSS_N_KINDS || !input_ok(kind, in, lmh))
		return NAN;
	if (opt == NULL)
	{
		vqa_loss_default_options(&defaults);
		opt = &defaults;
	}
	if (grad)
		zero_grad(in, grad);

	switch (kind)
	{
		case VQA_LOSS_BCE:
			return loss_bce(in, grad);
		case VQA_LOSS_LMH:
			return loss_lmh(in, lmh, opt->lmh_entropy_weight, grad);
		case VQA_LOSS_RUBI:
			return loss_rubi(in, grad);
		case VQA_LOSS_LPF:
			return loss_lpf(in, opt->lpf_gamma, grad);
		case VQA_LOSS_POE:
			return loss_poe(in, opt->poe_smooth, grad);
	}
	return NAN;
}

void
vqa_bce_grad(const float *logits, const float *targets, int batch, int answers, float *dlogits)
{
	/* d(mean BCE * A)/dz = (sigmoid(z) - t) / B */
	for (size_t i = 0; i < (size_t) batch * answers; i++)
		dlogits[i] = (1.0f / (1.0f + expf(-logits[i])) - targets[i]) / batch;
}
