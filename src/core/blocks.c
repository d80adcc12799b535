/*
 * blocks.c: the transformer building blocks (blocks.h), forward and
 * backward, hand-written per layer as llm.c does, with the matrix products
 * on CBLAS (OpenBLAS) and element-wise work on the core's worker pool.
 */
#include "vqaprune/blocks.h"

#include <cblas.h>
#undef I						/* complex.h, which OpenBLAS pulls in, defines I */
#include <float.h>
#include <math.h>
#include <string.h>

#include "vqaprune/gelu.h"
#include "vqaprune/gemm.h"
#include "vqaprune/parallel.h"
#include "vqaprune/sparse.h"

#define PADDING_SCORE (-FLT_MAX)

/* ---------------------------------------------------------------------- */
/* Activations                                                            */
/* ---------------------------------------------------------------------- */

float *
vqa_arena_take(VqaArena *a, size_t n)
{
	float	   *p = a->base ? a->base + a->used : NULL;

	a->used += (n + 15) & ~(size_t) 15;	/* 64-byte aligned blocks */
	return p;
}

/* Dropout's keep flags: one byte per value, stored in float-sized blocks. */
unsigned char *
vqa_arena_take_keep(VqaArena *a, size_t n, int dropout)
{
	return dropout ? (unsigned char *) vqa_arena_take(a, (n + 3) / 4) : NULL;
}

void
vqa_attention_acts_take(VqaArena *a, VqaAttentionActs *x, int B, int Tq, int Tk, int H, int nh,
						int att_dropout, int hid_dropout)
{
	size_t		rows = (size_t) B * Tq;

	x->q = vqa_arena_take(a, rows * H);
	x->k = vqa_arena_take(a, (size_t) B * Tk * H);
	x->v = vqa_arena_take(a, (size_t) B * Tk * H);
	x->probs = vqa_arena_take(a, (size_t) B * nh * Tq * Tk);
	x->probs_keep = vqa_arena_take_keep(a, (size_t) B * nh * Tq * Tk, att_dropout);
	x->ctx = vqa_arena_take(a, rows * H);
	x->out_keep = vqa_arena_take_keep(a, rows * H, hid_dropout);
	x->sum = vqa_arena_take(a, rows * H);
	x->mean = vqa_arena_take(a, rows);
	x->rstd = vqa_arena_take(a, rows);
	x->out = vqa_arena_take(a, rows * H);
}

void
vqa_ffn_acts_take(VqaArena *a, VqaFfnActs *f, size_t rows, int H, int I, int dropout)
{
	f->pre = vqa_arena_take(a, rows * I);
	f->act = vqa_arena_take(a, rows * I);
	f->keep = vqa_arena_take_keep(a, rows * H, dropout);
	f->sum = vqa_arena_take(a, rows * H);
	f->mean = vqa_arena_take(a, rows);
	f->rstd = vqa_arena_take(a, rows);
	f->out = vqa_arena_take(a, rows * H);
}

void
vqa_bert_layer_acts_take(VqaArena *a, VqaBertLayerActs *x, int B, int T, int H, int I, int nh,
						 int att_dropout, int hid_dropout)
{
	vqa_attention_acts_take(a, &x->att, B, T, T, H, nh, att_dropout, hid_dropout);
	vqa_ffn_acts_take(a, &x->ffn, (size_t) B * T, H, I, hid_dropout);
}

void
vqa_simple_classifier_acts_take(VqaArena *a, VqaSimpleClassifierActs *x, float *pre, float *act,
								int B, int in, int hid, int out, int forward_only)
{
	size_t		w3 = (size_t) out * hid;
	size_t		w0 = (size_t) hid * in;

	x->pre = pre;
	x->act = act;
	x->w0 = vqa_arena_take(a, w0);
	x->w3 = vqa_arena_take(a, w3);
	x->keep = vqa_arena_take_keep(a, (size_t) B * hid, !forward_only);
	x->dw = forward_only ? NULL : vqa_arena_take(a, w3 > w0 ? w3 : w0);
}

void
vqa_block_scratch_take(VqaArena *a, VqaBlockScratch *s, size_t rows, int H, int I, int Tmax,
					   int threads)
{
	s->dq = vqa_arena_take(a, rows * H);
	s->dk = vqa_arena_take(a, rows * H);
	s->dv = vqa_arena_take(a, rows * H);
	s->dctx = vqa_arena_take(a, rows * H);
	s->dsum = vqa_arena_take(a, rows * H);
	s->dinter = vqa_arena_take(a, rows * I);
	s->dprobs = vqa_arena_take(a, (size_t) Tmax * Tmax * threads);
	s->pdrop = vqa_arena_take(a, (size_t) Tmax * Tmax * threads);
	s->stride = Tmax * Tmax;
}

/* ---------------------------------------------------------------------- */
/* Kernels                                                                */
/* ---------------------------------------------------------------------- */

/*
 * Element-wise work runs on the core's worker pool (parallel.h): each job
 * below is a small struct of pointers and a function over a range of rows
 * or elements. Ranges never overlap, so no job needs a lock.
 */
#define MIN_ROWS 8
#define MIN_ELEMENTS 4096

typedef struct RowsJob
{
	float	   *out;
	float	   *out2;
	float	   *mean;
	float	   *rstd;
	const float *in;
	const float *in2;
	const float *w;
	const float *b;
	int			M;				/* rows, for jobs split over columns */
	int			C;
	float		eps;
} RowsJob;

void
vqa_linear_forward(const VqaBlockContext *ctx, float *out, const float *inp, const float *w,
				   const float *b, int M, int IC, int OC)
{
	const struct VqaCsr *csr = ctx->sparse ? ctx->sparse(ctx->sparse_owner, w) : NULL;

	if (csr && vqa_csr_linear(csr, inp, b, out, M) == 0)
		return;
	vqa_sgemm(false, true, M, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out, OC, b);
}

/* db[o] += sum over rows of dout[:, o], for a range of columns o */
static void
bias_grad_columns(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;

	for (int i = 0; i < j->M; i++)
	{
		const float *row = j->in + (size_t) i * j->C;

		for (size_t o = begin; o < end; o++)
			j->out[o] += row[o];
	}
}

void
vqa_linear_backward(const VqaBlockContext *ctx, float *dinp, float *dw, float *db,
					const float *dout, const float *inp, const float *w, int M, int IC, int OC)
{
	struct VqaCsr *csr = ctx->sparse ? ctx->sparse(ctx->sparse_owner, w) : NULL;

	/* Stage 3 on sparse weights: the gradient of the kept weights only, in the sparse form */
	if (!(csr && csr->grad && vqa_csr_backward(csr, dinp, dout, inp, M) == 0))
	{
		if (dinp)
			vqa_sgemm(false, false, M, IC, OC, 1.0f, dout, OC, w, IC, 1.0f, dinp, IC, NULL);
		vqa_sgemm(true, false, OC, IC, M, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC, NULL);
	}
	if (db)
	{
		RowsJob		j = {.out = db, .in = dout, .M = M, .C = OC};

		vqa_parallel_for(OC, 64, bias_grad_columns, &j);
	}
}

static void
layernorm_rows(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;
	int			C = j->C;

	for (size_t i = begin; i < end; i++)
	{
		const float *x = j->in + i * C;
		float	   *y = j->out + i * C;
		double		m = 0.0,
					v = 0.0;
		float		s;

		for (int k = 0; k < C; k++)
			m += x[k];
		m /= C;
		for (int k = 0; k < C; k++)
			v += (x[k] - m) * (x[k] - m);
		v /= C;
		s = (float) (1.0 / sqrt(v + j->eps));
		for (int k = 0; k < C; k++)
			y[k] = (float) ((x[k] - m) * s) * j->w[k] + j->b[k];
		j->mean[i] = (float) m;
		j->rstd[i] = s;
	}
}

void
vqa_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
				  const float *w, const float *b, int M, int C, float eps)
{
	RowsJob		j = {.out = out, .mean = mean, .rstd = rstd, .in = inp, .w = w, .b = b,
	.C = C, .eps = eps};

	vqa_parallel_for(M, MIN_ROWS, layernorm_rows, &j);
}

/* dinp of a LayerNorm, for a range of rows (in2 = dout) */
static void
layernorm_backward_rows(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;
	int			C = j->C;

	for (size_t i = begin; i < end; i++)
	{
		const float *dy = j->in2 + i * C;
		const float *x = j->in + i * C;
		float	   *dx = j->out + i * C;
		double		dnorm_mean = 0.0,
					dnorm_norm_mean = 0.0;

		for (int k = 0; k < C; k++)
		{
			float		norm = (x[k] - j->mean[i]) * j->rstd[i];
			float		dnorm = j->w[k] * dy[k];

			dnorm_mean += dnorm;
			dnorm_norm_mean += dnorm * norm;
		}
		dnorm_mean /= C;
		dnorm_norm_mean /= C;
		for (int k = 0; k < C; k++)
		{
			float		norm = (x[k] - j->mean[i]) * j->rstd[i];
			float		dnorm = j->w[k] * dy[k];

			dx[k] += (float) ((dnorm - dnorm_mean - norm * dnorm_norm_mean) * j->rstd[i]);
		}
	}
}

/* dw and db of a LayerNorm, for a range of columns (out = dw, out2 = db) */
static void
layernorm_backward_columns(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;
	int			C = j->C;

	for (int i = 0; i < j->M; i++)
	{
		const float *dy = j->in2 + (size_t) i * C;
		const float *x = j->in + (size_t) i * C;

		for (size_t k = begin; k < end; k++)
		{
			j->out2[k] += dy[k];
			j->out[k] += (x[k] - j->mean[i]) * j->rstd[i] * dy[k];
		}
	}
}

void
vqa_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
				   const float *w, const float *mean, const float *rstd, int M, int C)
{
	RowsJob		rows = {.out = dinp, .mean = (float *) mean, .rstd = (float *) rstd,
	.in = inp, .in2 = dout, .w = w, .C = C};
	RowsJob		columns = {.out = dw, .out2 = db, .mean = (float *) mean, .rstd = (float *) rstd,
	.in = inp, .in2 = dout, .M = M, .C = C};

	vqa_parallel_for(M, MIN_ROWS, layernorm_backward_rows, &rows);
	vqa_parallel_for(C, 64, layernorm_backward_columns, &columns);
}

static void
gelu_range(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;

	vqa_gelu_span(j->out + begin, j->in + begin, end - begin);
}

void
vqa_gelu_forward(float *out, const float *inp, size_t n)
{
	RowsJob		j = {.out = out, .in = inp};

	vqa_parallel_for(n, MIN_ELEMENTS, gelu_range, &j);
}

static void
gelu_backward_range(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;

	vqa_gelu_backward_span(j->out + begin, j->in2 + begin, j->in + begin, end - begin);
}

/* dinp = dout * (Phi(x) + x phi(x)) */
void
vqa_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
	RowsJob		j = {.out = dinp, .in = inp, .in2 = dout};

	vqa_parallel_for(n, MIN_ELEMENTS, gelu_backward_range, &j);
}

static void
add_range(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;

	for (size_t i = begin; i < end; i++)
		j->out[i] += j->in[i];
}

void
vqa_add_inplace(float *out, const float *in, size_t n)
{
	RowsJob		j = {.out = out, .in = in};

	vqa_parallel_for(n, MIN_ELEMENTS, add_range, &j);
}

void
vqa_dropout_forward(float *x, unsigned char *keep, size_t n, float p, VqaRng *rng)
{
	float		scale = 1.0f / (1.0f - p);

	for (size_t i = 0; i < n; i++)
	{
		keep[i] = vqa_rng_uniform(rng) >= p;
		x[i] = keep[i] ? x[i] * scale : 0.0f;
	}
}

void
vqa_dropout_backward(float *dx, const unsigned char *keep, size_t n, float p)
{
	float		scale = 1.0f / (1.0f - p);

	for (size_t i = 0; i < n; i++)
		dx[i] = keep[i] ? dx[i] * scale : 0.0f;
}

void
vqa_key_padding_bias(float *bias, const int32_t *attended, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bias[i] = (attended == NULL || attended[i] != 0) ? 0.0f : PADDING_SCORE;
}

/* ---------------------------------------------------------------------- */
/* Layers                                                                 */
/* ---------------------------------------------------------------------- */

/* The per-head work of one attention block, split over (batch, head) pairs. */
typedef struct HeadsJob
{
	const VqaAttentionActs *a;
	VqaBlockScratch *s;
	const float *kv_bias;		/* B x Tk additive */
	const float *dctx;			/* backward: gradient of a->ctx */
	int			nh,
				hs,
				H,
				Tq,
				Tk,
				scratch;		/* floats of scratch per worker */
	float		scale,
				p_att;
} HeadsJob;

/* scores = scale Q K^T + the keys' padding bias, softmax over keys, into a->probs */
static void
heads_softmax(void *arg, size_t begin, size_t end, int worker)
{
	HeadsJob   *j = arg;
	int			Tq = j->Tq,
				Tk = j->Tk,
				H = j->H;

	for (size_t bh = begin; bh < end; bh++)
	{
		int			b = (int) (bh / j->nh),
					h = (int) (bh % j->nh);
		float	   *probs = j->a->probs + bh * Tq * Tk;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, j->hs, j->scale,
					j->a->q + (size_t) b * Tq * H + h * j->hs, H,
					j->a->k + (size_t) b * Tk * H + h * j->hs, H, 0.0f, probs, Tk);
		for (int i = 0; i < Tq; i++)
		{
			float	   *row = probs + (size_t) i * Tk;
			float		max = -FLT_MAX;
			float		sum = 0.0f;

			for (int k = 0; k < Tk; k++)
			{
				row[k] += j->kv_bias[(size_t) b * Tk + k];
				if (row[k] > max)
					max = row[k];
			}
			for (int k = 0; k < Tk; k++)
			{
				row[k] = expf(row[k] - max);
				sum += row[k];
			}
			for (int k = 0; k < Tk; k++)
				row[k] /= sum;
		}
	}
}

/* The probabilities as used, after dropout: a->probs itself, or scratch. */
static const float *
used_probs(const HeadsJob *j, size_t bh, int worker)
{
	const float *probs = j->a->probs + bh * j->Tq * j->Tk;
	float	   *scratch;
	float		inv;
	const unsigned char *keep;

	if (j->a->probs_keep == NULL || j->p_att <= 0)
		return probs;
	scratch = j->s->pdrop + (size_t) worker * j->scratch;
	keep = j->a->probs_keep + bh * j->Tq * j->Tk;
	inv = 1.0f / (1.0f - j->p_att);
	for (size_t i = 0; i < (size_t) j->Tq * j->Tk; i++)
		scratch[i] = keep[i] ? probs[i] * inv : 0.0f;
	return scratch;
}

/* ctx = P V per head */
static void
heads_context(void *arg, size_t begin, size_t end, int worker)
{
	HeadsJob   *j = arg;

	for (size_t bh = begin; bh < end; bh++)
	{
		int			b = (int) (bh / j->nh),
					h = (int) (bh % j->nh);

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->Tq, j->hs, j->Tk, 1.0f,
					used_probs(j, bh, worker), j->Tk,
					j->a->v + (size_t) b * j->Tk * j->H + h * j->hs, j->H, 0.0f,
					(float *) j->a->ctx + (size_t) b * j->Tq * j->H + h * j->hs, j->H);
	}
}

/* dV, then dP, softmax backward, dQ and dK per head */
static void
heads_backward(void *arg, size_t begin, size_t end, int worker)
{
	HeadsJob   *j = arg;
	VqaBlockScratch *s = j->s;
	int			Tq = j->Tq,
				Tk = j->Tk,
				H = j->H,
				hs = j->hs;
	float	   *dp = s->dprobs + (size_t) worker * j->scratch;

	for (size_t bh = begin; bh < end; bh++)
	{
		int			b = (int) (bh / j->nh),
					h = (int) (bh % j->nh);
		size_t		qo = (size_t) b * Tq * H + h * hs;
		size_t		ko = (size_t) b * Tk * H + h * hs;
		const float *probs = j->a->probs + bh * Tq * Tk;

		/* dV += P^T dctx; dP = dctx V^T */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, hs, Tq,
					1.0f, used_probs(j, bh, worker), Tk, j->dctx + qo, H, 1.0f, s->dv + ko, H);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, hs,
					1.0f, j->dctx + qo, H, j->a->v + ko, H, 0.0f, dp, Tk);
		if (j->a->probs_keep && j->p_att > 0)
			vqa_dropout_backward(dp, j->a->probs_keep + bh * Tq * Tk, (size_t) Tq * Tk, j->p_att);
		/* softmax backward: dS = P (dP - rowsum(dP P)) */
		for (int i = 0; i < Tq; i++)
		{
			const float *p = probs + (size_t) i * Tk;
			float	   *d = dp + (size_t) i * Tk;
			float		dot = 0.0f;

			for (int k = 0; k < Tk; k++)
				dot += d[k] * p[k];
			for (int k = 0; k < Tk; k++)
				d[k] = p[k] * (d[k] - dot);
		}
		/* dQ = scale dS K; dK = scale dS^T Q */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, hs, Tk,
					j->scale, dp, Tk, j->a->k + ko, H, 1.0f, s->dq + qo, H);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, hs, Tq,
					j->scale, dp, Tk, j->a->q + qo, H, 1.0f, s->dk + ko, H);
	}
}

static void
heads_job_init(HeadsJob *j, const VqaBlockContext *ctx, const VqaAttentionActs *a, int Tq, int Tk)
{
	j->a = a;
	j->s = ctx->scratch;
	j->nh = ctx->nh;
	j->hs = ctx->H / ctx->nh;
	j->H = ctx->H;
	j->Tq = Tq;
	j->Tk = Tk;
	j->scratch = ctx->scratch->stride;
	j->scale = 1.0f / sqrtf((float) j->hs);
	j->p_att = ctx->p_att;
}

void
vqa_attention_forward(VqaBlockContext *ctx, VqaAttentionActs *a, const VqaAttentionWeights *w,
					  const float *x, const float *kv, const float *kv_bias, int Tq, int Tk)
{
	int			B = ctx->B,
				H = ctx->H;
	size_t		rows = (size_t) B * Tq;
	size_t		heads = (size_t) B * ctx->nh;
	HeadsJob	j;

	heads_job_init(&j, ctx, a, Tq, Tk);
	j.kv_bias = kv_bias;
	vqa_linear_forward(ctx, a->q, x, w->q_w, w->q_b, (int) rows, H, H);
	vqa_linear_forward(ctx, a->k, kv, w->k_w, w->k_b, B * Tk, H, H);
	vqa_linear_forward(ctx, a->v, kv, w->v_w, w->v_b, B * Tk, H, H);
	vqa_parallel_for(heads, 1, heads_softmax, &j);
	/* dropout's keep flags are drawn in order, on one thread: reproducible */
	if (a->probs_keep && ctx->p_att > 0)
		for (size_t i = 0; i < heads * Tq * Tk; i++)
			a->probs_keep[i] = vqa_rng_uniform(&ctx->rng) >= ctx->p_att;
	vqa_parallel_for(heads, 1, heads_context, &j);
	vqa_linear_forward(ctx, a->sum, a->ctx, w->o_w, w->o_b, (int) rows, H, H);
	if (a->out_keep && ctx->p_hidden > 0)
		vqa_dropout_forward(a->sum, a->out_keep, rows * H, ctx->p_hidden, &ctx->rng);
	vqa_add_inplace(a->sum, x, rows * H);
	vqa_layernorm_forward(a->out, a->mean, a->rstd, a->sum, w->ln_w, w->ln_b, (int) rows, H, ctx->eps);
}

void
vqa_attention_backward(VqaBlockContext *ctx, const VqaAttentionActs *a,
					   const VqaAttentionWeights *w, VqaAttentionWeights *g, const float *dout,
					   const float *x, const float *kv, float *dx, float *dkv, int Tq, int Tk)
{
	VqaBlockScratch *s = ctx->scratch;
	int			B = ctx->B,
				H = ctx->H;
	size_t		rows = (size_t) B * Tq;
	size_t		ctx_rows = (size_t) B * Tk;
	HeadsJob	j;

	/* LayerNorm, residual, dropout, output dense */
	memset(s->dsum, 0, sizeof(float) * rows * H);
	vqa_layernorm_backward(s->dsum, g->ln_w, g->ln_b, dout, a->sum, w->ln_w, a->mean, a->rstd,
					   (int) rows, H);
	vqa_add_inplace(dx, s->dsum, rows * H);
	if (a->out_keep && ctx->p_hidden > 0)
		vqa_dropout_backward(s->dsum, a->out_keep, rows * H, ctx->p_hidden);
	memset(s->dctx, 0, sizeof(float) * rows * H);
	vqa_linear_backward(ctx, s->dctx, g->o_w, g->o_b, s->dsum, a->ctx, w->o_w, (int) rows, H, H);

	/* per batch and head: softmax(QK^T / sqrt(hs)) V */
	memset(s->dq, 0, sizeof(float) * rows * H);
	memset(s->dk, 0, sizeof(float) * ctx_rows * H);
	memset(s->dv, 0, sizeof(float) * ctx_rows * H);
	heads_job_init(&j, ctx, a, Tq, Tk);
	j.dctx = s->dctx;
	vqa_parallel_for((size_t) B * ctx->nh, 1, heads_backward, &j);
	vqa_linear_backward(ctx, dx, g->q_w, g->q_b, s->dq, x, w->q_w, (int) rows, H, H);
	vqa_linear_backward(ctx, dkv, g->k_w, g->k_b, s->dk, kv, w->k_w, (int) ctx_rows, H, H);
	vqa_linear_backward(ctx, dkv, g->v_w, g->v_b, s->dv, kv, w->v_w, (int) ctx_rows, H, H);
}

void
vqa_ffn_forward(VqaBlockContext *ctx, VqaFfnActs *f, const VqaFfnWeights *w, const float *x,
				size_t rows)
{
	int			H = ctx->H,
				I = ctx->intermediate;

	vqa_linear_forward(ctx, f->pre, x, w->i_w, w->i_b, (int) rows, H, I);
	vqa_gelu_forward(f->act, f->pre, rows * I);
	vqa_linear_forward(ctx, f->sum, f->act, w->o_w, w->o_b, (int) rows, I, H);
	if (f->keep && ctx->p_hidden > 0)
		vqa_dropout_forward(f->sum, f->keep, rows * H, ctx->p_hidden, &ctx->rng);
	vqa_add_inplace(f->sum, x, rows * H);
	vqa_layernorm_forward(f->out, f->mean, f->rstd, f->sum, w->ln_w, w->ln_b, (int) rows, H, ctx->eps);
}

void
vqa_ffn_backward(VqaBlockContext *ctx, const VqaFfnActs *f, const VqaFfnWeights *w,
				 VqaFfnWeights *g, const float *dout, const float *x, float *dx, size_t rows)
{
	VqaBlockScratch *s = ctx->scratch;
	int			H = ctx->H,
				I = ctx->intermediate;

	memset(s->dsum, 0, sizeof(float) * rows * H);
	vqa_layernorm_backward(s->dsum, g->ln_w, g->ln_b, dout, f->sum, w->ln_w, f->mean, f->rstd,
					   (int) rows, H);
	vqa_add_inplace(dx, s->dsum, rows * H);
	if (f->keep && ctx->p_hidden > 0)
		vqa_dropout_backward(s->dsum, f->keep, rows * H, ctx->p_hidden);
	memset(s->dinter, 0, sizeof(float) * rows * I);
	vqa_linear_backward(ctx, s->dinter, g->o_w, g->o_b, s->dsum, f->act, w->o_w, (int) rows, I, H);
	vqa_gelu_backward(s->dinter, s->dinter, f->pre, rows * I);
	vqa_linear_backward(ctx, dx, g->i_w, g->i_b, s->dinter, x, w->i_w, (int) rows, H, I);
}

void
vqa_bert_layer_forward(VqaBlockContext *ctx, VqaBertLayerActs *a, const VqaBertLayerWeights *w,
					   const float *x, const float *bias, int T)
{
	vqa_attention_forward(ctx, &a->att, &w->att, x, x, bias, T, T);
	vqa_ffn_forward(ctx, &a->ffn, &w->ffn, a->att.out, (size_t) ctx->B * T);
}

void
vqa_bert_layer_backward(VqaBlockContext *ctx, const VqaBertLayerActs *a,
						const VqaBertLayerWeights *w, VqaBertLayerWeights *g, const float *dout,
						const float *x, float *datt, float *dx, int T)
{
	size_t		n = (size_t) ctx->B * T * ctx->H;

	memset(datt, 0, sizeof(float) * n);
	vqa_ffn_backward(ctx, &a->ffn, &w->ffn, &g->ffn, dout, a->att.out, datt, (size_t) ctx->B * T);
	memset(dx, 0, sizeof(float) * n);
	vqa_attention_backward(ctx, &a->att, &w->att, &g->att, datt, x, x, dx, dx, T, T);
}

double
vqa_weight_norm_forward(float *w, float g, const float *v, size_t n)
{
	double		sq = 0.0;
	float		scale;

	for (size_t i = 0; i < n; i++)
		sq += (double) v[i] * v[i];
	scale = sq > 0 ? (float) (g / sqrt(sq)) : 0.0f;
	for (size_t i = 0; i < n; i++)
		w[i] = scale * v[i];
	return sqrt(sq);
}

void
vqa_weight_norm_backward(float *dg, float *dv, const float *dw, float g, const float *v,
					 double norm, size_t n)
{
	double		dot = 0.0;
	float		scale,
				along;

	if (norm <= 0)
		return;
	for (size_t i = 0; i < n; i++)
		dot += (double) dw[i] * v[i];
	*dg += (float) (dot / norm);
	scale = (float) (g / norm);
	along = (float) (dot / (norm * norm));
	for (size_t i = 0; i < n; i++)
		dv[i] += scale * (dw[i] - along * v[i]);
}

void
vqa_pooler_forward(const VqaBlockContext *ctx, float *cls, float *pooled, const float *x,
				   const float *w, const float *b, int T)
{
	int			B = ctx->B,
				H = ctx->H;

	for (int i = 0; i < B; i++)
		memcpy(cls + (size_t) i * H, x + (size_t) i * T * H, sizeof(float) * H);
	vqa_linear_forward(ctx, pooled, cls, w, b, B, H, H);
	for (size_t i = 0; i < (size_t) B * H; i++)
		pooled[i] = tanhf(pooled[i]);
}

void
vqa_pooler_backward(const VqaBlockContext *ctx, float *dx, float *dcls, float *dpooled,
					const float *cls, const float *pooled, const float *w, float *dw, float *db,
					int T)
{
	int			B = ctx->B,
				H = ctx->H;

	for (size_t i = 0; i < (size_t) B * H; i++)
		dpooled[i] *= 1.0f - pooled[i] * pooled[i];
	memset(dcls, 0, sizeof(float) * B * H);
	vqa_linear_backward(ctx, dcls, dw, db, dpooled, cls, w, B, H, H);
	memset(dx, 0, sizeof(float) * B * T * H);
	for (int i = 0; i < B; i++)
		memcpy(dx + (size_t) i * T * H, dcls + (size_t) i * H, sizeof(float) * H);
}

void
vqa_simple_classifier_forward(VqaBlockContext *ctx, VqaSimpleClassifierActs *a,
							  const VqaSimpleClassifierWeights *w, const float *x, float *logits,
							  int in, int hid, int out)
{
	int			B = ctx->B;
	size_t		n = (size_t) B * hid;

	a->vnorm[0] = vqa_weight_norm_forward(a->w0, *w->fc0_g, w->fc0_v, (size_t) hid * in);
	a->vnorm[1] = vqa_weight_norm_forward(a->w3, *w->fc3_g, w->fc3_v, (size_t) out * hid);
	vqa_linear_forward(ctx, a->pre, x, a->w0, w->fc0_b, B, in, hid);
	for (size_t i = 0; i < n; i++)
		a->act[i] = a->pre[i] > 0 ? a->pre[i] : 0.0f;
	if (ctx->training)
		vqa_dropout_forward(a->act, a->keep, n, VQA_SIMPLE_CLASSIFIER_DROPOUT, &ctx->rng);
	vqa_linear_forward(ctx, logits, a->act, a->w3, w->fc3_b, B, hid, out);
}

void
vqa_simple_classifier_backward(VqaBlockContext *ctx, VqaSimpleClassifierActs *a,
							   const VqaSimpleClassifierWeights *w, VqaSimpleClassifierWeights *g,
							   const float *dlogits, const float *x, float *dx, float *dhid,
							   int in, int hid, int out)
{
	int			B = ctx->B;
	size_t		n = (size_t) B * hid;

	memset(dhid, 0, sizeof(float) * n);
	memset(a->dw, 0, sizeof(float) * out * hid);
	vqa_linear_backward(ctx, dhid, a->dw, g->fc3_b, dlogits, a->act, a->w3, B, hid, out);
	vqa_weight_norm_backward(g->fc3_g, g->fc3_v, a->dw, *w->fc3_g, w->fc3_v, a->vnorm[1],
							 (size_t) out * hid);
	if (ctx->training)
		vqa_dropout_backward(dhid, a->keep, n, VQA_SIMPLE_CLASSIFIER_DROPOUT);
	for (size_t i = 0; i < n; i++)
		if (a->pre[i] <= 0)
			dhid[i] = 0.0f;
	memset(a->dw, 0, sizeof(float) * hid * in);
	vqa_linear_backward(ctx, dx, a->dw, g->fc0_b, dhid, x, a->w0, B, in, hid);
	vqa_weight_norm_backward(g->fc0_g, g->fc0_v, a->dw, *w->fc0_g, w->fc0_v, a->vnorm[0],
							 (size_t) hid * in);
}

/* ---------------------------------------------------------------------- */
/* Text embeddings                                                        */
/* ---------------------------------------------------------------------- */

void
vqa_embedding_acts_take(VqaArena *a, VqaEmbeddingActs *e, size_t rows, int H, int dropout)
{
	e->sum = vqa_arena_take(a, rows * H);
	e->mean = vqa_arena_take(a, rows);
	e->rstd = vqa_arena_take(a, rows);
	e->out = vqa_arena_take(a, rows * H);
	e->keep = vqa_arena_take_keep(a, rows * H, dropout);
}

void
vqa_text_embeddings_forward(const VqaBlockContext *ctx, float *sum,
							const VqaTextEmbeddingWeights *w, const VqaTextEmbeddingSpec *spec,
							const int32_t *input_ids, const int32_t *token_type_ids, int T,
							int stride)
{
	int			H = ctx->H;

	for (int b = 0; b < ctx->B; b++)
		for (int t = 0; t < T; t++)
		{
			size_t		row = (size_t) b * T + t;
			int			type = token_type_ids ? token_type_ids[row] : 0;
			const float *we = w->word + (size_t) input_ids[row] * H;
			const float *pe = w->position + (size_t) t * H;
			const float *te = w->token_type + (size_t) type * H;
			float	   *out = sum + ((size_t) b * stride + t) * H;

			if (spec->type_before_position)
				for (int j = 0; j < H; j++)
					out[j] = we[j] + te[j] + pe[j];
			else
				for (int j = 0; j < H; j++)
					out[j] = we[j] + pe[j] + te[j];
		}
}

/* g[idx] += d, a row of H, unless idx is the table's padding_idx */
static void
embedding_row_backward(float *g, int idx, int padding_idx, const float *d, int H)
{
	float	   *row = g + (size_t) idx * H;

	if (idx == padding_idx)
		return;
	for (int j = 0; j < H; j++)
		row[j] += d[j];
}

void
vqa_text_embeddings_backward(const VqaBlockContext *ctx, VqaTextEmbeddingWeights *g,
							 const VqaTextEmbeddingSpec *spec, const float *dsum,
							 const int32_t *input_ids, const int32_t *token_type_ids, int T,
							 int stride)
{
	int			H = ctx->H;

	for (int b = 0; b < ctx->B; b++)
		for (int t = 0; t < T; t++)
		{
			size_t		row = (size_t) b * T + t;
			int			type = token_type_ids ? token_type_ids[row] : 0;
			const float *d = dsum + ((size_t) b * stride + t) * H;

			embedding_row_backward(g->word, input_ids[row], spec->word_padding_idx, d, H);
			embedding_row_backward(g->position, t, spec->position_padding_idx, d, H);
			embedding_row_backward(g->token_type, type, spec->type_padding_idx, d, H);
		}
}

void
vqa_embedding_norm_forward(VqaBlockContext *ctx, VqaEmbeddingActs *e,
						   const VqaTextEmbeddingWeights *w, size_t rows)
{
	vqa_layernorm_forward(e->out, e->mean, e->rstd, e->sum, w->ln_w, w->ln_b, (int) rows, ctx->H,
						  ctx->eps);
	if (e->keep && ctx->p_hidden > 0)
		vqa_dropout_forward(e->out, e->keep, rows * ctx->H, ctx->p_hidden, &ctx->rng);
}

void
vqa_embedding_norm_backward(const VqaBlockContext *ctx, const VqaEmbeddingActs *e,
							const VqaTextEmbeddingWeights *w, VqaTextEmbeddingWeights *g,
							float *dout, float *dsum, size_t rows)
{
	if (e->keep && ctx->p_hidden > 0)
		vqa_dropout_backward(dout, e->keep, rows * ctx->H, ctx->p_hidden);
	memset(dsum, 0, sizeof(float) * rows * ctx->H);
	vqa_layernorm_backward(dsum, g->ln_w, g->ln_b, dout, e->sum, w->ln_w, e->mean, e->rstd,
						   (int) rows, ctx->H);
}
