/*
 * lxmert.c: LXMERT forward and backward passes, hand-written per layer as
 * llm.c does, with the matrix products on CBLAS (OpenBLAS).
 *
 * Layout. All parameters sit in one float buffer; lxmert_layout walks the
 * architecture once, in HuggingFace's order, and either records the tensor
 * table or points an LxmertWeights at a buffer of that layout (weights,
 * gradients or masked weights).
 *
 * Activations. Everything the backward pass needs is kept in one arena sized
 * for the largest batch seen (activations_layout counts, then points).
 * Shapes: B batch, T tokens, N boxes, H hidden, I intermediate, nh heads,
 * hs = H / nh, A answers; rows of language tensors are B*T, of vision B*N.
 *
 * Numerics follow HuggingFace: exact erf GeLU, LayerNorm with biased
 * variance, attention masks added as the most negative float, dropout as
 * inverted dropout. Masks for pruning multiply the weights before the
 * forward pass, so the gradients computed are dL/d(W*M), from which the
 * straight-through score gradient is dL/d(W*M) * W.
 */
#include "vqaprune/lxmert.h"

#include <cblas.h>
#undef I						/* complex.h, which OpenBLAS pulls in, defines I */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/parallel.h"
#include "vqaprune/rng.h"
#include "vqaprune/sparse.h"
#include "vqaprune/train.h"

typedef struct Pass Pass;

#define MASKED_SCORE (-FLT_MAX)

/* ---------------------------------------------------------------------- */
/* Layout of the parameters                                               */
/* ---------------------------------------------------------------------- */

typedef struct Layout
{
	VqaModel *model;
	float	   *base;			/* NULL: record the tensor table */
	size_t		offset;
} Layout;

static float *
slot(Layout *L, const char *name, int rows, int cols, VqaModule module, int prunable)
{
	size_t		numel = (size_t) rows * (cols > 0 ? cols : 1);
	float	   *p = L->base ? L->base + L->offset : NULL;

	if (L->base == NULL)
	{
		VqaTensor *t = &L->model->tensors[L->model->n_tensors++];

		snprintf(t->name, sizeof(t->name), "%s", name);
		t->ndim = cols > 0 ? 2 : 1;
		t->shape[0] = rows;
		t->shape[1] = cols > 0 ? cols : 0;
		t->offset = L->offset;
		t->numel = numel;
		t->module = module;
		t->prunable = prunable;
	}
	L->offset += numel;
	return p;
}

/* A linear layer "prefix.weight" [out, in] and "prefix.bias" [out]. */
static void
linear_slots(Layout *L, const char *prefix, int out, int in, VqaModule module,
			 int prunable, float **w, float **b)
{
	char		name[96];

	snprintf(name, sizeof(name), "%s.weight", prefix);
	*w = slot(L, name, out, in, module, prunable);
	snprintf(name, sizeof(name), "%s.bias", prefix);
	*b = slot(L, name, out, 0, module, 0);
}

/*
 * A weight-normalised linear layer as PyTorch's weight_norm(dim=None) names
 * it: "prefix.weight_g" (a scalar gain), "prefix.weight_v" [out, in] (the
 * direction), "prefix.bias" [out].
 */
static void
weight_norm_slots(Layout *L, const char *prefix, int out, int in, VqaModule module,
				  float **g, float **v, float **b)
{
	char		name[96];

	snprintf(name, sizeof(name), "%s.weight_g", prefix);
	*g = slot(L, name, 1, 0, module, 0);
	if (L->base == NULL)
		L->model->tensors[L->model->n_tensors - 1].ndim = 0;
	snprintf(name, sizeof(name), "%s.weight_v", prefix);
	*v = slot(L, name, out, in, module, 0);
	snprintf(name, sizeof(name), "%s.bias", prefix);
	*b = slot(L, name, out, 0, module, 0);
}

static void
layernorm_slots(Layout *L, const char *prefix, int size, VqaModule module,
				float **w, float **b)
{
	char		name[96];

	snprintf(name, sizeof(name), "%s.weight", prefix);
	*w = slot(L, name, size, 0, module, 0);
	snprintf(name, sizeof(name), "%s.bias", prefix);
	*b = slot(L, name, size, 0, module, 0);
}

/* Q, K, V under qkv_prefix; output dense and LayerNorm under out_prefix. */
static void
attention_slots(Layout *L, const char *qkv_prefix, const char *out_prefix, int H,
				VqaModule module, LxmertAttentionWeights *a)
{
	char		name[80];

	snprintf(name, sizeof(name), "%s.query", qkv_prefix);
	linear_slots(L, name, H, H, module, 1, &a->q_w, &a->q_b);
	snprintf(name, sizeof(name), "%s.key", qkv_prefix);
	linear_slots(L, name, H, H, module, 1, &a->k_w, &a->k_b);
	snprintf(name, sizeof(name), "%s.value", qkv_prefix);
	linear_slots(L, name, H, H, module, 1, &a->v_w, &a->v_b);
	snprintf(name, sizeof(name), "%s.dense", out_prefix);
	linear_slots(L, name, H, H, module, 1, &a->o_w, &a->o_b);
	snprintf(name, sizeof(name), "%s.LayerNorm", out_prefix);
	layernorm_slots(L, name, H, module, &a->ln_w, &a->ln_b);
}

/* FFN: intermediate dense under inter, output dense and LayerNorm under out. */
static void
ffn_slots(Layout *L, const char *inter, const char *out, int H, int I,
		  VqaModule module, LxmertFfnWeights *f)
{
	char		name[80];

	snprintf(name, sizeof(name), "%s.dense", inter);
	linear_slots(L, name, I, H, module, 1, &f->i_w, &f->i_b);
	snprintf(name, sizeof(name), "%s.dense", out);
	linear_slots(L, name, H, I, module, 1, &f->o_w, &f->o_b);
	snprintf(name, sizeof(name), "%s.LayerNorm", out);
	layernorm_slots(L, name, H, module, &f->ln_w, &f->ln_b);
}

static void
bert_layer_slots(Layout *L, const char *prefix, int H, int I, VqaModule module,
				 LxmertBertLayerWeights *w)
{
	char		qkv[64],
				out[64],
				inter[64],
				ffn_out[64];

	snprintf(qkv, sizeof(qkv), "%s.attention.self", prefix);
	snprintf(out, sizeof(out), "%s.attention.output", prefix);
	snprintf(inter, sizeof(inter), "%s.intermediate", prefix);
	snprintf(ffn_out, sizeof(ffn_out), "%s.output", prefix);
	attention_slots(L, qkv, out, H, module, &w->att);
	ffn_slots(L, inter, ffn_out, H, I, module, &w->ffn);
}

static void
x_layer_slots(Layout *L, const char *prefix, int H, int I, LxmertXLayerWeights *w)
{
	char		a[64],
				b[64];

	snprintf(a, sizeof(a), "%s.visual_attention.att", prefix);
	snprintf(b, sizeof(b), "%s.visual_attention.output", prefix);
	attention_slots(L, a, b, H, LXMERT_CROSS, &w->cross);
	snprintf(a, sizeof(a), "%s.lang_self_att.self", prefix);
	snprintf(b, sizeof(b), "%s.lang_self_att.output", prefix);
	attention_slots(L, a, b, H, LXMERT_CROSS, &w->lang_self);
	snprintf(a, sizeof(a), "%s.visn_self_att.self", prefix);
	snprintf(b, sizeof(b), "%s.visn_self_att.output", prefix);
	attention_slots(L, a, b, H, LXMERT_CROSS, &w->visn_self);
	snprintf(a, sizeof(a), "%s.lang_inter", prefix);
	snprintf(b, sizeof(b), "%s.lang_output", prefix);
	ffn_slots(L, a, b, H, I, LXMERT_CROSS, &w->lang_ffn);
	snprintf(a, sizeof(a), "%s.visn_inter", prefix);
	snprintf(b, sizeof(b), "%s.visn_output", prefix);
	ffn_slots(L, a, b, H, I, LXMERT_CROSS, &w->visn_ffn);
}

/*
 * Walks the architecture in HuggingFace's order. With base NULL it records
 * the tensor table and returns the parameter count; otherwise it points w
 * into base.
 */
static size_t
lxmert_layout(VqaModel *model, float *base, LxmertWeights *w)
{
	const VqaModelConfig *c = &model->config;
	int			H = c->hidden_size;
	int			I = c->intermediate_size;
	Layout		L = {model, base, 0};
	char		prefix[32];

	w->word_emb = slot(&L, "embeddings.word_embeddings.weight", c->vocab_size, H, LXMERT_LANGUAGE, 1);
	w->pos_emb = slot(&L, "embeddings.position_embeddings.weight", c->max_position_embeddings, H,
					  LXMERT_EMBEDDINGS_OTHER, 0);
	w->type_emb = slot(&L, "embeddings.token_type_embeddings.weight", c->type_vocab_size, H,
					   LXMERT_EMBEDDINGS_OTHER, 0);
	layernorm_slots(&L, "embeddings.LayerNorm", H, LXMERT_EMBEDDINGS_OTHER, &w->emb_ln_w, &w->emb_ln_b);
	linear_slots(&L, "encoder.visn_fc.visn_fc", H, c->visual_feat_dim, LXMERT_VISUAL, 1,
				 &w->visn_fc_w, &w->visn_fc_b);
	layernorm_slots(&L, "encoder.visn_fc.visn_layer_norm", H, LXMERT_VISUAL, &w->visn_ln_w, &w->visn_ln_b);
	linear_slots(&L, "encoder.visn_fc.box_fc", H, c->visual_pos_dim, LXMERT_VISUAL, 1,
				 &w->box_fc_w, &w->box_fc_b);
	layernorm_slots(&L, "encoder.visn_fc.box_layer_norm", H, LXMERT_VISUAL, &w->box_ln_w, &w->box_ln_b);
	for (int i = 0; i < c->l_layers; i++)
	{
		snprintf(prefix, sizeof(prefix), "encoder.layer.%d", i);
		bert_layer_slots(&L, prefix, H, I, LXMERT_LANGUAGE, &w->l_layers[i]);
	}
	for (int i = 0; i < c->x_layers; i++)
	{
		snprintf(prefix, sizeof(prefix), "encoder.x_layers.%d", i);
		x_layer_slots(&L, prefix, H, I, &w->x_layers[i]);
	}
	for (int i = 0; i < c->r_layers; i++)
	{
		snprintf(prefix, sizeof(prefix), "encoder.r_layers.%d", i);
		bert_layer_slots(&L, prefix, H, I, LXMERT_VISUAL, &w->r_layers[i]);
	}
	linear_slots(&L, "pooler.dense", H, H, LXMERT_POOLER, 1, &w->pooler_w, &w->pooler_b);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
	{
		weight_norm_slots(&L, "classifier.main.0", 2 * H, H, LXMERT_HEAD, &w->head_fc0_g,
						  &w->head_fc0_w, &w->head_fc0_b);
		weight_norm_slots(&L, "classifier.main.3", c->num_qa_labels, 2 * H, LXMERT_HEAD,
						  &w->head_fc3_g, &w->head_fc3_w, &w->head_fc3_b);
		return L.offset;
	}
	linear_slots(&L, "answer_head.logit_fc.0", 2 * H, H, LXMERT_HEAD, 0, &w->head_fc0_w, &w->head_fc0_b);
	layernorm_slots(&L, "answer_head.logit_fc.2", 2 * H, LXMERT_HEAD, &w->head_ln_w, &w->head_ln_b);
	linear_slots(&L, "answer_head.logit_fc.3", c->num_qa_labels, 2 * H, LXMERT_HEAD, 0,
				 &w->head_fc3_w, &w->head_fc3_b);
	return L.offset;
}

static int
weights_alloc(LxmertWeights *w, const VqaModelConfig *c)
{
	w->l_layers = calloc(c->l_layers > 0 ? c->l_layers : 1, sizeof(LxmertBertLayerWeights));
	w->r_layers = calloc(c->r_layers > 0 ? c->r_layers : 1, sizeof(LxmertBertLayerWeights));
	w->x_layers = calloc(c->x_layers > 0 ? c->x_layers : 1, sizeof(LxmertXLayerWeights));
	return w->l_layers && w->r_layers && w->x_layers ? 0 : -1;
}

static void
weights_free(LxmertWeights *w)
{
	free(w->l_layers);
	free(w->r_layers);
	free(w->x_layers);
}

/* Repoints w (layer arrays kept) at another buffer of the layout. */
static void
weights_point(VqaModel *model, LxmertWeights *w, float *base)
{
	LxmertBertLayerWeights *l = w->l_layers;
	LxmertBertLayerWeights *r = w->r_layers;
	LxmertXLayerWeights *x = w->x_layers;

	memset(w, 0, sizeof(*w));
	w->l_layers = l;
	w->r_layers = r;
	w->x_layers = x;
	lxmert_layout(model, base, w);
}

/* ---------------------------------------------------------------------- */
/* Activations                                                            */
/* ---------------------------------------------------------------------- */

typedef struct AttentionActs
{
	float	   *q,
			   *k,
			   *v;				/* rows x H of the queries / the context */
	float	   *probs;			/* B x nh x Tq x Tk, softmax before dropout */
	unsigned char *probs_keep;	/* dropout masks, NULL without dropout */
	float	   *ctx;			/* Tq rows x H: attention output */
	unsigned char *out_keep;
	float	   *sum;			/* dense(ctx) + input: the LayerNorm input */
	float	   *mean,
			   *rstd;
	float	   *out;
} AttentionActs;

typedef struct FfnActs
{
	float	   *pre;			/* rows x I, before GeLU */
	float	   *act;			/* after GeLU */
	unsigned char *keep;
	float	   *sum,
			   *mean,
			   *rstd,
			   *out;
} FfnActs;

typedef struct BertLayerActs
{
	AttentionActs att;
	FfnActs		ffn;
} BertLayerActs;

typedef struct XLayerActs
{
	AttentionActs lang_cross,
				visn_cross,
				lang_self,
				visn_self;
	FfnActs		lang_ffn,
				visn_ffn;
} XLayerActs;

struct LxmertActivations
{
	int			B,
				T,
				N;				/* the shape of the last forward pass */
	size_t		capacity;		/* floats in the arena */
	float	   *arena;
	const int32_t *input_ids;	/* of the last forward pass, for backward */
	const int32_t *token_type_ids;
	const float *visual_feats;
	const float *visual_pos;
	float	   *lang_mask,
			   *visn_mask;		/* B x T, B x N additive masks */
	float	   *emb_sum,
			   *emb_mean,
			   *emb_rstd,
			   *emb_out;
	unsigned char *emb_keep;
	float	   *visn_pre,
			   *visn_mean,
			   *visn_rstd,
			   *visn_norm;
	float	   *box_pre,
			   *box_mean,
			   *box_rstd,
			   *box_norm;
	float	   *visn_out;
	unsigned char *visn_keep;
	BertLayerActs *l,
			   *r;
	XLayerActs *x;
	float	   *cls;			/* B x H: first language token */
	float	   *pooled;			/* B x H, after tanh */
	float	   *head_pre,
			   *head_act,
			   *head_mean,
			   *head_rstd,
			   *head_norm;		/* B x 2H */
	/* SimpleClassifier: the effective weights g v/|v| and |v| of both layers */
	float	   *head_w0,		/* 2H x H */
			   *head_w3;		/* A x 2H */
	double		head_vnorm[2];
	unsigned char *head_keep;	/* its dropout mask, B x 2H */
	/* backward scratch */
	float	   *dl[4],
			   *dv[4];			/* rows x H gradients of the two streams */
	float	   *dq,
			   *dk,
			   *dvv,
			   *dctx,
			   *dsum;			/* rows x H, rows = max(B*T, B*N) */
	float	   *dinter;			/* rows x I */
	float	   *dprobs,
			   *pdrop;			/* Tmax x Tmax per worker thread */
	int			threads;		/* worker threads the scratch is sized for */
	int			forward_only;	/* laid out for the forward pass alone */
	float	   *dhead,
			   *dhead2,
			   *dpool;			/* B x 2H, B x 2H, B x H */
	float	   *head_dw;		/* SimpleClassifier: dL/dW of one layer */
};

typedef struct Arena
{
	float	   *base;
	size_t		used;
} Arena;

/* Floats from the arena (counting only, when base is NULL). */
static float *
take(Arena *a, size_t n)
{
	float	   *p = a->base ? a->base + a->used : NULL;

	a->used += (n + 15) & ~(size_t) 15;	/* 64-byte aligned blocks */
	return p;
}

/* Dropout masks: one byte per value, stored in float-sized blocks. */
static unsigned char *
take_mask(Arena *a, size_t n, int dropout)
{
	return dropout ? (unsigned char *) take(a, (n + 3) / 4) : NULL;
}

static void
attention_acts(Arena *a, AttentionActs *x, int B, int Tq, int Tk, int H, int nh,
			   int att_dropout, int hid_dropout)
{
	size_t		rows = (size_t) B * Tq;

	x->q = take(a, rows * H);
	x->k = take(a, (size_t) B * Tk * H);
	x->v = take(a, (size_t) B * Tk * H);
	x->probs = take(a, (size_t) B * nh * Tq * Tk);
	x->probs_keep = take_mask(a, (size_t) B * nh * Tq * Tk, att_dropout);
	x->ctx = take(a, rows * H);
	x->out_keep = take_mask(a, rows * H, hid_dropout);
	x->sum = take(a, rows * H);
	x->mean = take(a, rows);
	x->rstd = take(a, rows);
	x->out = take(a, rows * H);
}

static void
ffn_acts(Arena *a, FfnActs *f, size_t rows, int H, int I, int dropout)
{
	f->pre = take(a, rows * I);
	f->act = take(a, rows * I);
	f->keep = take_mask(a, rows * H, dropout);
	f->sum = take(a, rows * H);
	f->mean = take(a, rows);
	f->rstd = take(a, rows);
	f->out = take(a, rows * H);
}

/* Points every activation into the arena; returns the floats needed. */
static size_t
activations_layout(LxmertActivations *acts, const VqaModelConfig *c, int B, int T, int N,
				   float *base)
{
	Arena		a = {base, 0};
	int			H = c->hidden_size;
	int			I = c->intermediate_size;
	int			nh = c->num_attention_heads;
	int			fo = acts->forward_only;
	int			hd = c->hidden_dropout_prob > 0 && !fo;
	int			ad = c->attention_probs_dropout_prob > 0 && !fo;
	size_t		Ml = (size_t) B * T;
	size_t		Mv = (size_t) B * N;
	size_t		Mmax = Ml > Mv ? Ml : Mv;
	int			Tmax = T > N ? T : N;

	acts->lang_mask = take(&a, Ml);
	acts->visn_mask = take(&a, Mv);
	acts->emb_sum = take(&a, Ml * H);
	acts->emb_mean = take(&a, Ml);
	acts->emb_rstd = take(&a, Ml);
	acts->emb_out = take(&a, Ml * H);
	acts->emb_keep = take_mask(&a, Ml * H, hd);
	acts->visn_pre = take(&a, Mv * H);
	acts->visn_mean = take(&a, Mv);
	acts->visn_rstd = take(&a, Mv);
	acts->visn_norm = take(&a, Mv * H);
	acts->box_pre = take(&a, Mv * H);
	acts->box_mean = take(&a, Mv);
	acts->box_rstd = take(&a, Mv);
	acts->box_norm = take(&a, Mv * H);
	acts->visn_out = take(&a, Mv * H);
	acts->visn_keep = take_mask(&a, Mv * H, hd);
	/* forward only: layer i reads layer i - 1 alone, so two buffers take turns */
	for (int i = 0; i < c->l_layers; i++)
	{
		if (fo && i >= 2)
		{
			acts->l[i] = acts->l[i % 2];
			continue;
		}
		attention_acts(&a, &acts->l[i].att, B, T, T, H, nh, ad, hd);
		ffn_acts(&a, &acts->l[i].ffn, Ml, H, I, hd);
	}
	for (int i = 0; i < c->r_layers; i++)
	{
		if (fo && i >= 2)
		{
			acts->r[i] = acts->r[i % 2];
			continue;
		}
		attention_acts(&a, &acts->r[i].att, B, N, N, H, nh, ad, hd);
		ffn_acts(&a, &acts->r[i].ffn, Mv, H, I, hd);
	}
	for (int i = 0; i < c->x_layers; i++)
	{
		XLayerActs *x = &acts->x[i];

		if (fo && i >= 2)
		{
			*x = acts->x[i % 2];
			continue;
		}

		attention_acts(&a, &x->lang_cross, B, T, N, H, nh, ad, hd);
		attention_acts(&a, &x->visn_cross, B, N, T, H, nh, ad, hd);
		attention_acts(&a, &x->lang_self, B, T, T, H, nh, ad, hd);
		attention_acts(&a, &x->visn_self, B, N, N, H, nh, ad, hd);
		ffn_acts(&a, &x->lang_ffn, Ml, H, I, hd);
		ffn_acts(&a, &x->visn_ffn, Mv, H, I, hd);
	}
	acts->cls = take(&a, (size_t) B * H);
	acts->pooled = take(&a, (size_t) B * H);
	acts->head_pre = take(&a, (size_t) B * 2 * H);
	acts->head_act = take(&a, (size_t) B * 2 * H);
	acts->head_mean = take(&a, B);
	acts->head_rstd = take(&a, B);
	acts->head_norm = take(&a, (size_t) B * 2 * H);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
	{
		size_t		w3 = (size_t) c->num_qa_labels * 2 * H;
		size_t		w0 = (size_t) 2 * H * H;

		acts->head_w0 = take(&a, w0);
		acts->head_w3 = take(&a, w3);
		acts->head_keep = take_mask(&a, (size_t) B * 2 * H, !fo);
		acts->head_dw = fo ? NULL : take(&a, w3 > w0 ? w3 : w0);
	}
	if (fo)
		return a.used;
	for (int i = 0; i < 4; i++)
	{
		acts->dl[i] = take(&a, Ml * H);
		acts->dv[i] = take(&a, Mv * H);
	}
	acts->dq = take(&a, Mmax * H);
	acts->dk = take(&a, Mmax * H);
	acts->dvv = take(&a, Mmax * H);
	acts->dctx = take(&a, Mmax * H);
	acts->dsum = take(&a, Mmax * H);
	acts->dinter = take(&a, Mmax * I);
	acts->dprobs = take(&a, (size_t) Tmax * Tmax * acts->threads);
	acts->pdrop = take(&a, (size_t) Tmax * Tmax * acts->threads);
	acts->dhead = take(&a, (size_t) B * 2 * H);
	acts->dhead2 = take(&a, (size_t) B * 2 * H);
	acts->dpool = take(&a, (size_t) B * H);
	return a.used;
}

/* Makes the arena fit a batch of this shape. */
static int
activations_reserve(VqaModel *model, int B, int T, int N)
{
	const VqaModelConfig *c = &model->config;
	LxmertActivations *acts = model->acts;
	size_t		need;

	if (acts == NULL)
	{
		acts = calloc(1, sizeof(LxmertActivations));
		if (acts == NULL)
			return -1;
		acts->l = calloc(c->l_layers > 0 ? c->l_layers : 1, sizeof(BertLayerActs));
		acts->r = calloc(c->r_layers > 0 ? c->r_layers : 1, sizeof(BertLayerActs));
		acts->x = calloc(c->x_layers > 0 ? c->x_layers : 1, sizeof(XLayerActs));
		model->acts = acts;
		if (!acts->l || !acts->r || !acts->x)
			return -1;
	}
	acts->threads = vqa_parallel_threads();
	acts->forward_only = model->forward_only;
	need = activations_layout(acts, c, B, T, N, NULL);
	if (need > acts->capacity)
	{
		void	   *arena = NULL;

		free(acts->arena);
		acts->arena = NULL;
		acts->capacity = 0;
		if (posix_memalign(&arena, 64, need * sizeof(float)) != 0)
			return -1;
		acts->arena = arena;
		acts->capacity = need;
	}
	activations_layout(acts, c, B, T, N, acts->arena);
	acts->B = B;
	acts->T = T;
	acts->N = N;
	return 0;
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

static void
add_bias_rows(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;

	for (size_t i = begin; i < end; i++)
	{
		float	   *row = j->out + i * j->C;

		for (int o = 0; o < j->C; o++)
			row[o] += j->b[o];
	}
}

/* State of one forward pass shared by the layer functions. */
struct Pass
{
	VqaModel *model;
	LxmertActivations *acts;
	int			B;
	int			H;
	int			I;
	int			nh;
	float		eps;
	float		p_hidden;		/* dropout probabilities, 0 when not training */
	float		p_att;
	VqaRng		rng;
};

/*
 * The sparse form of a weight matrix of the pass's model, if evaluation
 * should use it: only without training (the backward pass needs W dense).
 */
static const VqaCsr *
sparse_weight(const Pass *P, const float *w)
{
	const VqaModel *m = P->model;
	const float *base = m->mask ? m->masked : m->params;

	if (m->sparse == NULL || m->training)
		return NULL;
	for (int i = 0; i < m->n_tensors; i++)
		if (m->sparse[i] && base + m->tensors[i].offset == w)
			return m->sparse[i];
	return NULL;
}

/* out[M, OC] = inp[M, IC] W[OC, IC]^T + b */
static void
linear_forward(const Pass *P, float *out, const float *inp, const float *w, const float *b,
			   int M, int IC, int OC)
{
	const VqaCsr *csr = sparse_weight(P, w);

	if (csr && vqa_csr_linear(csr, inp, b, out, M) == 0)
		return;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, IC,
				1.0f, inp, IC, w, IC, 0.0f, out, OC);
	if (b)
	{
		RowsJob		j = {.out = out, .b = b, .C = OC};

		vqa_parallel_for(M, MIN_ROWS, add_bias_rows, &j);
	}
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

/* Accumulates dinp (if not NULL) += dout W, dw += dout^T inp, db += sum dout. */
static void
linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
				const float *w, int M, int IC, int OC)
{
	if (dinp)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, IC, OC,
					1.0f, dout, OC, w, IC, 1.0f, dinp, IC);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, M,
				1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
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

/* LayerNorm over rows of C, keeping mean and 1/std for the backward pass. */
static void
layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
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

/* Accumulates dinp, dw, db of a LayerNorm. */
static void
layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
				   const float *w, const float *mean, const float *rstd, int M, int C)
{
	RowsJob		rows = {.out = dinp, .mean = (float *) mean, .rstd = (float *) rstd,
	.in = inp, .in2 = dout, .w = w, .C = C};
	RowsJob		columns = {.out = dw, .out2 = db, .mean = (float *) mean, .rstd = (float *) rstd,
	.in = inp, .in2 = dout, .M = M, .C = C};

	vqa_parallel_for(M, MIN_ROWS, layernorm_backward_rows, &rows);
	vqa_parallel_for(C, 64, layernorm_backward_columns, &columns);
}

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

static void
gelu_range(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;

	for (size_t i = begin; i < end; i++)
		j->out[i] = 0.5f * j->in[i] * (1.0f + erff(j->in[i] * INV_SQRT2));
}

/* Exact GeLU, x Phi(x), as HuggingFace's "gelu". */
static void
gelu_forward(float *out, const float *inp, size_t n)
{
	RowsJob		j = {.out = out, .in = inp};

	vqa_parallel_for(n, MIN_ELEMENTS, gelu_range, &j);
}

static void
gelu_backward_range(void *arg, size_t begin, size_t end, int worker)
{
	RowsJob    *j = arg;

	for (size_t i = begin; i < end; i++)
	{
		float		x = j->in[i];
		float		cdf = 0.5f * (1.0f + erff(x * INV_SQRT2));
		float		pdf = INV_SQRT_2PI * expf(-0.5f * x * x);

		j->out[i] = j->in2[i] * (cdf + x * pdf);
	}
}

/* dinp = dout * (Phi(x) + x phi(x)); dinp may be dout */
static void
gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
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

/* out += in, element-wise */
static void
add_inplace(float *out, const float *in, size_t n)
{
	RowsJob		j = {.out = out, .in = in};

	vqa_parallel_for(n, MIN_ELEMENTS, add_range, &j);
}

/* Inverted dropout in place; keep records the surviving positions. */
static void
dropout_forward(float *x, unsigned char *keep, size_t n, float p, VqaRng *rng)
{
	float		scale = 1.0f / (1.0f - p);

	for (size_t i = 0; i < n; i++)
	{
		keep[i] = vqa_rng_uniform(rng) >= p;
		x[i] = keep[i] ? x[i] * scale : 0.0f;
	}
}

static void
dropout_backward(float *dx, const unsigned char *keep, size_t n, float p)
{
	float		scale = 1.0f / (1.0f - p);

	for (size_t i = 0; i < n; i++)
		dx[i] = keep[i] ? dx[i] * scale : 0.0f;
}

/* Additive attention masks: 0 where attended, the most negative float elsewhere. */
static void
mask_forward(float *mask_add, const int32_t *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mask_add[i] = (mask == NULL || mask[i] != 0) ? 0.0f : MASKED_SCORE;
}


/* The per-head work of one attention block, split over (batch, head) pairs. */
typedef struct HeadsJob
{
	const AttentionActs *a;
	LxmertActivations *s;
	const float *ctx_mask;		/* B x Tk additive */
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

/* scores = scale Q K^T + mask, softmax over keys, into a->probs */
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
				row[k] += j->ctx_mask[(size_t) b * Tk + k];
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
	LxmertActivations *s = j->s;
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
					1.0f, used_probs(j, bh, worker), Tk, j->dctx + qo, H, 1.0f, s->dvv + ko, H);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, hs,
					1.0f, j->dctx + qo, H, j->a->v + ko, H, 0.0f, dp, Tk);
		if (j->a->probs_keep && j->p_att > 0)
			dropout_backward(dp, j->a->probs_keep + bh * Tq * Tk, (size_t) Tq * Tk, j->p_att);
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
heads_job_init(HeadsJob *j, Pass *P, const AttentionActs *a, int Tq, int Tk)
{
	int			Tmax = P->acts->T > P->acts->N ? P->acts->T : P->acts->N;

	j->a = a;
	j->s = P->acts;
	j->nh = P->nh;
	j->hs = P->H / P->nh;
	j->H = P->H;
	j->Tq = Tq;
	j->Tk = Tk;
	j->scratch = Tmax * Tmax;
	j->scale = 1.0f / sqrtf((float) j->hs);
	j->p_att = P->p_att;
}

/*
 * One attention block: queries from x (B x Tq rows), keys and values from
 * ctx (B x Tk rows, the same as x for self-attention), ctx_mask (B x Tk
 * additive), then output dense, dropout, residual and LayerNorm.
 */
static void
attention_forward(Pass *P, AttentionActs *a, const LxmertAttentionWeights *w,
				  const float *x, const float *ctx, const float *ctx_mask, int Tq, int Tk)
{
	int			B = P->B,
				H = P->H;
	size_t		rows = (size_t) B * Tq;
	size_t		heads = (size_t) B * P->nh;
	HeadsJob	j;

	heads_job_init(&j, P, a, Tq, Tk);
	j.ctx_mask = ctx_mask;
	linear_forward(P, a->q, x, w->q_w, w->q_b, (int) rows, H, H);
	linear_forward(P, a->k, ctx, w->k_w, w->k_b, B * Tk, H, H);
	linear_forward(P, a->v, ctx, w->v_w, w->v_b, B * Tk, H, H);
	vqa_parallel_for(heads, 1, heads_softmax, &j);
	/* dropout masks are drawn in order, on one thread: reproducible */
	if (a->probs_keep && P->p_att > 0)
		for (size_t i = 0; i < heads * Tq * Tk; i++)
			a->probs_keep[i] = vqa_rng_uniform(&P->rng) >= P->p_att;
	vqa_parallel_for(heads, 1, heads_context, &j);
	linear_forward(P, a->sum, a->ctx, w->o_w, w->o_b, (int) rows, H, H);
	if (a->out_keep && P->p_hidden > 0)
		dropout_forward(a->sum, a->out_keep, rows * H, P->p_hidden, &P->rng);
	add_inplace(a->sum, x, rows * H);
	layernorm_forward(a->out, a->mean, a->rstd, a->sum, w->ln_w, w->ln_b, (int) rows, H, P->eps);
}

/*
 * Backward of attention_forward: dout is the gradient of a->out; adds to dx
 * (queries' input) and dctx_in (context's input; the same buffer for
 * self-attention).
 */
static void
attention_backward(Pass *P, const AttentionActs *a, const LxmertAttentionWeights *w,
				   LxmertAttentionWeights *g, const float *dout, const float *x,
				   const float *ctx, float *dx, float *dctx_in, int Tq, int Tk)
{
	LxmertActivations *s = P->acts;
	int			B = P->B,
				H = P->H;
	size_t		rows = (size_t) B * Tq;
	size_t		ctx_rows = (size_t) B * Tk;
	HeadsJob	j;

	/* LayerNorm, residual, dropout, output dense */
	memset(s->dsum, 0, sizeof(float) * rows * H);
	layernorm_backward(s->dsum, g->ln_w, g->ln_b, dout, a->sum, w->ln_w, a->mean, a->rstd,
					   (int) rows, H);
	add_inplace(dx, s->dsum, rows * H);
	if (a->out_keep && P->p_hidden > 0)
		dropout_backward(s->dsum, a->out_keep, rows * H, P->p_hidden);
	memset(s->dctx, 0, sizeof(float) * rows * H);
	linear_backward(s->dctx, g->o_w, g->o_b, s->dsum, a->ctx, w->o_w, (int) rows, H, H);

	/* per batch and head: softmax(QK^T / sqrt(hs)) V */
	memset(s->dq, 0, sizeof(float) * rows * H);
	memset(s->dk, 0, sizeof(float) * ctx_rows * H);
	memset(s->dvv, 0, sizeof(float) * ctx_rows * H);
	heads_job_init(&j, P, a, Tq, Tk);
	j.dctx = s->dctx;
	vqa_parallel_for((size_t) B * P->nh, 1, heads_backward, &j);
	linear_backward(dx, g->q_w, g->q_b, s->dq, x, w->q_w, (int) rows, H, H);
	linear_backward(dctx_in, g->k_w, g->k_b, s->dk, ctx, w->k_w, (int) ctx_rows, H, H);
	linear_backward(dctx_in, g->v_w, g->v_b, s->dvv, ctx, w->v_w, (int) ctx_rows, H, H);
}

/* FFN: GeLU(x W_i) W_o, dropout, residual, LayerNorm. */
static void
ffn_forward(Pass *P, FfnActs *f, const LxmertFfnWeights *w, const float *x, size_t rows)
{
	int			H = P->H,
				I = P->I;

	linear_forward(P, f->pre, x, w->i_w, w->i_b, (int) rows, H, I);
	gelu_forward(f->act, f->pre, rows * I);
	linear_forward(P, f->sum, f->act, w->o_w, w->o_b, (int) rows, I, H);
	if (f->keep && P->p_hidden > 0)
		dropout_forward(f->sum, f->keep, rows * H, P->p_hidden, &P->rng);
	add_inplace(f->sum, x, rows * H);
	layernorm_forward(f->out, f->mean, f->rstd, f->sum, w->ln_w, w->ln_b, (int) rows, H, P->eps);
}

/* Backward of ffn_forward: adds the gradient of x into dx. */
static void
ffn_backward(Pass *P, const FfnActs *f, const LxmertFfnWeights *w, LxmertFfnWeights *g,
			 const float *dout, const float *x, float *dx, size_t rows)
{
	LxmertActivations *s = P->acts;
	int			H = P->H,
				I = P->I;

	memset(s->dsum, 0, sizeof(float) * rows * H);
	layernorm_backward(s->dsum, g->ln_w, g->ln_b, dout, f->sum, w->ln_w, f->mean, f->rstd,
					   (int) rows, H);
	add_inplace(dx, s->dsum, rows * H);
	if (f->keep && P->p_hidden > 0)
		dropout_backward(s->dsum, f->keep, rows * H, P->p_hidden);
	memset(s->dinter, 0, sizeof(float) * rows * I);
	linear_backward(s->dinter, g->o_w, g->o_b, s->dsum, f->act, w->o_w, (int) rows, I, H);
	gelu_backward(s->dinter, s->dinter, f->pre, rows * I);
	linear_backward(dx, g->i_w, g->i_b, s->dinter, x, w->i_w, (int) rows, H, I);
}

/* ---------------------------------------------------------------------- */
/* Layers and the whole model                                             */
/* ---------------------------------------------------------------------- */

static void
bert_layer_forward(Pass *P, BertLayerActs *a, const LxmertBertLayerWeights *w,
				   const float *x, const float *mask, int T)
{
	attention_forward(P, &a->att, &w->att, x, x, mask, T, T);
	ffn_forward(P, &a->ffn, &w->ffn, a->att.out, (size_t) P->B * T);
}

/* dout: gradient of the layer's output; dx receives the input's (zeroed here). */
static void
bert_layer_backward(Pass *P, const BertLayerActs *a, const LxmertBertLayerWeights *w,
					LxmertBertLayerWeights *g, const float *dout, const float *x,
					float *datt, float *dx, int T)
{
	size_t		n = (size_t) P->B * T * P->H;

	memset(datt, 0, sizeof(float) * n);
	ffn_backward(P, &a->ffn, &w->ffn, &g->ffn, dout, a->att.out, datt, (size_t) P->B * T);
	memset(dx, 0, sizeof(float) * n);
	attention_backward(P, &a->att, &w->att, &g->att, datt, x, x, dx, dx, T, T);
}

/* The cross-modality layer of HuggingFace's LxmertXLayer. */
static void
x_layer_forward(Pass *P, XLayerActs *a, const LxmertXLayerWeights *w,
				const float *lang, const float *visn, int T, int N)
{
	LxmertActivations *s = P->acts;

	attention_forward(P, &a->lang_cross, &w->cross, lang, visn, s->visn_mask, T, N);
	attention_forward(P, &a->visn_cross, &w->cross, visn, lang, s->lang_mask, N, T);
	attention_forward(P, &a->lang_self, &w->lang_self, a->lang_cross.out, a->lang_cross.out,
					  s->lang_mask, T, T);
	attention_forward(P, &a->visn_self, &w->visn_self, a->visn_cross.out, a->visn_cross.out,
					  s->visn_mask, N, N);
	ffn_forward(P, &a->lang_ffn, &w->lang_ffn, a->lang_self.out, (size_t) P->B * T);
	ffn_forward(P, &a->visn_ffn, &w->visn_ffn, a->visn_self.out, (size_t) P->B * N);
}

/*
 * dl/dv: gradients of the language and vision outputs; dl_in/dv_in receive
 * the inputs' (zeroed here); t1/t2 and u1/u2 are scratch of the two streams.
 * With dv known to be zero (the last layer: only the language side reaches
 * the pooler), the vision side's backward is skipped: it would add zeros.
 */
static void
x_layer_backward(Pass *P, const XLayerActs *a, const LxmertXLayerWeights *w,
				 LxmertXLayerWeights *g, const float *dl, const float *dv, int dv_is_zero,
				 const float *lang, const float *visn, float *dl_in, float *dv_in,
				 float *t1, float *t2, float *u1, float *u2, int T, int N)
{
	size_t		nl = (size_t) P->B * T * P->H;
	size_t		nv = (size_t) P->B * N * P->H;

	memset(t1, 0, sizeof(float) * nl);
	ffn_backward(P, &a->lang_ffn, &w->lang_ffn, &g->lang_ffn, dl, a->lang_self.out, t1,
				 (size_t) P->B * T);
	memset(t2, 0, sizeof(float) * nl);
	attention_backward(P, &a->lang_self, &w->lang_self, &g->lang_self, t1,
					   a->lang_cross.out, a->lang_cross.out, t2, t2, T, T);
	memset(dl_in, 0, sizeof(float) * nl);
	memset(dv_in, 0, sizeof(float) * nv);
	attention_backward(P, &a->lang_cross, &w->cross, &g->cross, t2, lang, visn,
					   dl_in, dv_in, T, N);
	if (dv_is_zero)
		return;
	memset(u1, 0, sizeof(float) * nv);
	ffn_backward(P, &a->visn_ffn, &w->visn_ffn, &g->visn_ffn, dv, a->visn_self.out, u1,
				 (size_t) P->B * N);
	memset(u2, 0, sizeof(float) * nv);
	attention_backward(P, &a->visn_self, &w->visn_self, &g->visn_self, u1,
					   a->visn_cross.out, a->visn_cross.out, u2, u2, N, N);
	attention_backward(P, &a->visn_cross, &w->cross, &g->cross, u2, visn, lang,
					   dv_in, dl_in, N, T);
}

static void
between_layers(const VqaModel *model)
{
	if (model->between_layers)
		model->between_layers();
}

static void
pass_init(Pass *P, VqaModel *model, int B)
{
	const VqaModelConfig *c = &model->config;

	P->model = model;
	P->acts = model->acts;
	P->B = B;
	P->H = c->hidden_size;
	P->I = c->intermediate_size;
	P->nh = c->num_attention_heads;
	P->eps = c->layer_norm_eps;
	P->p_hidden = model->training ? c->hidden_dropout_prob : 0.0f;
	P->p_att = model->training ? c->attention_probs_dropout_prob : 0.0f;
	vqa_rng_seed_stream(&P->rng, model->dropout_seed, model->dropout_step);
}

/* W = g v / |v| into w; returns |v|. */
static double
weight_norm_apply(float *w, float g, const float *v, size_t n)
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

/*
 * From dL/dW of W = g v/|v|: dL/dg = <dW, v>/|v| and
 * dL/dv = g/|v| (dW - <dW, v> v/|v|^2), accumulated.
 */
static void
weight_norm_backward(float *dg, float *dv, const float *dw, float g, const float *v,
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

/* The authors' SimpleClassifier on the pooled output. */
static void
simple_classifier_forward(Pass *P, VqaModel *model, float *logits)
{
	const LxmertWeights *w = &model->weights;
	LxmertActivations *s = model->acts;
	int			B = s->B,
				H = model->config.hidden_size,
				A = model->config.num_qa_labels;
	size_t		n = (size_t) B * 2 * H;

	s->head_vnorm[0] = weight_norm_apply(s->head_w0, *w->head_fc0_g, w->head_fc0_w,
										 (size_t) 2 * H * H);
	s->head_vnorm[1] = weight_norm_apply(s->head_w3, *w->head_fc3_g, w->head_fc3_w,
										 (size_t) A * 2 * H);
	linear_forward(P, s->head_pre, s->pooled, s->head_w0, w->head_fc0_b, B, H, 2 * H);
	for (size_t i = 0; i < n; i++)
		s->head_act[i] = s->head_pre[i] > 0 ? s->head_pre[i] : 0.0f;
	if (model->training)
		dropout_forward(s->head_act, s->head_keep, n, LXMERT_SIMPLE_CLASSIFIER_DROPOUT, &P->rng);
	linear_forward(P, logits, s->head_act, s->head_w3, w->head_fc3_b, B, 2 * H, A);
}

/* Its backward pass, from dlogits into the head's gradients and s->dpool. */
static void
simple_classifier_backward(VqaModel *model, const float *dlogits)
{
	const LxmertWeights *w = &model->weights;
	LxmertWeights *g = &model->grad_weights;
	LxmertActivations *s = model->acts;
	int			B = s->B,
				H = model->config.hidden_size,
				A = model->config.num_qa_labels;
	size_t		n = (size_t) B * 2 * H;

	memset(s->dhead, 0, sizeof(float) * n);
	memset(s->head_dw, 0, sizeof(float) * A * 2 * H);
	linear_backward(s->dhead, s->head_dw, g->head_fc3_b, dlogits, s->head_act, s->head_w3,
					B, 2 * H, A);
	weight_norm_backward(g->head_fc3_g, g->head_fc3_w, s->head_dw, *w->head_fc3_g, w->head_fc3_w,
						 s->head_vnorm[1], (size_t) A * 2 * H);
	if (model->training)
		dropout_backward(s->dhead, s->head_keep, n, LXMERT_SIMPLE_CLASSIFIER_DROPOUT);
	for (size_t i = 0; i < n; i++)
		if (s->head_pre[i] <= 0)
			s->dhead[i] = 0.0f;
	memset(s->head_dw, 0, sizeof(float) * 2 * H * H);
	linear_backward(s->dpool, s->head_dw, g->head_fc0_b, s->dhead, s->pooled, s->head_w0,
					B, H, 2 * H);
	weight_norm_backward(g->head_fc0_g, g->head_fc0_w, s->head_dw, *w->head_fc0_g, w->head_fc0_w,
						 s->head_vnorm[0], (size_t) 2 * H * H);
}

int
vqa_model_forward(VqaModel *model, const VqaBatch *batch, float *logits,
			   const float *targets, float *loss)
{
	const VqaModelConfig *c = &model->config;
	const LxmertWeights *w = &model->weights;
	LxmertActivations *s;
	Pass		P;
	int			B = batch->batch,
				T = batch->seq_len,
				N = batch->num_boxes,
				H = c->hidden_size,
				A = c->num_qa_labels;
	size_t		Ml = (size_t) B * T,
				Mv = (size_t) B * N;
	const float *lang;
	const float *visn;

	if (B < 1 || T < 1 || N < 1 || T > c->max_position_embeddings ||
		(model->forward_only && model->training))
		return -1;
	for (size_t i = 0; i < Ml; i++)
		if (batch->input_ids[i] < 0 || batch->input_ids[i] >= c->vocab_size ||
			(batch->token_type_ids &&
			 (batch->token_type_ids[i] < 0 || batch->token_type_ids[i] >= c->type_vocab_size)))
			return -1;
	if (activations_reserve(model, B, T, N) != 0)
		return -1;
	s = model->acts;
	s->input_ids = batch->input_ids;
	s->token_type_ids = batch->token_type_ids;
	s->visual_feats = batch->visual_feats;
	s->visual_pos = batch->visual_pos;
	pass_init(&P, model, B);
	mask_forward(s->lang_mask, batch->attention_mask, Ml);
	mask_forward(s->visn_mask, NULL, Mv);

	/* embeddings: LN(word + position + token type) */
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
		{
			size_t		row = (size_t) b * T + t;
			int			type = batch->token_type_ids ? batch->token_type_ids[row] : 0;
			const float *we = w->word_emb + (size_t) batch->input_ids[row] * H;
			const float *pe = w->pos_emb + (size_t) t * H;
			const float *te = w->type_emb + (size_t) type * H;
			float	   *out = s->emb_sum + row * H;

			for (int j = 0; j < H; j++)
				out[j] = we[j] + pe[j] + te[j];
		}
	layernorm_forward(s->emb_out, s->emb_mean, s->emb_rstd, s->emb_sum, w->emb_ln_w, w->emb_ln_b,
					  (int) Ml, H, P.eps);
	if (s->emb_keep && P.p_hidden > 0)
		dropout_forward(s->emb_out, s->emb_keep, Ml * H, P.p_hidden, &P.rng);

	/* visual features: (LN(visn_fc(f)) + LN(box_fc(b))) / 2 */
	linear_forward(&P, s->visn_pre, batch->visual_feats, w->visn_fc_w, w->visn_fc_b,
				   (int) Mv, c->visual_feat_dim, H);
	layernorm_forward(s->visn_norm, s->visn_mean, s->visn_rstd, s->visn_pre, w->visn_ln_w,
					  w->visn_ln_b, (int) Mv, H, P.eps);
	linear_forward(&P, s->box_pre, batch->visual_pos, w->box_fc_w, w->box_fc_b,
				   (int) Mv, c->visual_pos_dim, H);
	layernorm_forward(s->box_norm, s->box_mean, s->box_rstd, s->box_pre, w->box_ln_w,
					  w->box_ln_b, (int) Mv, H, P.eps);
	for (size_t i = 0; i < Mv * H; i++)
		s->visn_out[i] = 0.5f * (s->visn_norm[i] + s->box_norm[i]);
	if (s->visn_keep && P.p_hidden > 0)
		dropout_forward(s->visn_out, s->visn_keep, Mv * H, P.p_hidden, &P.rng);

	lang = s->emb_out;
	for (int i = 0; i < c->l_layers; i++)
	{
		between_layers(model);
		bert_layer_forward(&P, &s->l[i], &w->l_layers[i], lang, s->lang_mask, T);
		lang = s->l[i].ffn.out;
	}
	visn = s->visn_out;
	for (int i = 0; i < c->r_layers; i++)
	{
		between_layers(model);
		bert_layer_forward(&P, &s->r[i], &w->r_layers[i], visn, s->visn_mask, N);
		visn = s->r[i].ffn.out;
	}
	for (int i = 0; i < c->x_layers; i++)
	{
		between_layers(model);
		x_layer_forward(&P, &s->x[i], &w->x_layers[i], lang, visn, T, N);
		lang = s->x[i].lang_ffn.out;
		visn = s->x[i].visn_ffn.out;
	}

	/* pooler and answer head */
	for (int b = 0; b < B; b++)
		memcpy(s->cls + (size_t) b * H, lang + (size_t) b * T * H, sizeof(float) * H);
	linear_forward(&P, s->pooled, s->cls, w->pooler_w, w->pooler_b, B, H, H);
	for (size_t i = 0; i < (size_t) B * H; i++)
		s->pooled[i] = tanhf(s->pooled[i]);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
		simple_classifier_forward(&P, model, logits);
	else
	{
		linear_forward(&P, s->head_pre, s->pooled, w->head_fc0_w, w->head_fc0_b, B, H, 2 * H);
		gelu_forward(s->head_act, s->head_pre, (size_t) B * 2 * H);
		layernorm_forward(s->head_norm, s->head_mean, s->head_rstd, s->head_act, w->head_ln_w,
						  w->head_ln_b, B, 2 * H, P.eps);
		linear_forward(&P, logits, s->head_norm, w->head_fc3_w, w->head_fc3_b, B, 2 * H, A);
	}

	if (targets && loss)
	{
		double		total = 0.0;

		/* BCE with logits, the numerically stable form */
		for (size_t i = 0; i < (size_t) B * A; i++)
		{
			double		z = logits[i];

			total += (z > 0 ? z : 0) - z * targets[i] + log1p(exp(-fabs(z)));
		}
		*loss = (float) (total / ((double) B * A) * A);
	}
	model->dropout_step++;
	return 0;
}

void
lxmert_bce_grad(const float *logits, const float *targets, int batch, int num_labels,
				float *dlogits)
{
	/* d(mean BCE * A)/dz = (sigmoid(z) - t) / B */
	for (size_t i = 0; i < (size_t) batch * num_labels; i++)
		dlogits[i] = (1.0f / (1.0f + expf(-logits[i])) - targets[i]) / batch;
}

/* The dropout masks of the forward pass are reused, not drawn again. */
static void
backward_pass(VqaModel *model, const float *dlogits, const float *dpooled)
{
	const VqaModelConfig *c = &model->config;
	const LxmertWeights *w = &model->weights;
	LxmertWeights *g = &model->grad_weights;
	LxmertActivations *s = model->acts;
	Pass		P;
	int			B = s->B,
				T = s->T,
				N = s->N,
				H = c->hidden_size,
				A = c->num_qa_labels;
	size_t		Ml = (size_t) B * T,
				Mv = (size_t) B * N;
	float	   *dl = s->dl[0],
			   *dl_in = s->dl[1];
	float	   *dv = s->dv[0],
			   *dv_in = s->dv[1];
	float	   *tmp;

	pass_init(&P, model, B);

	/* answer head and pooler */
	memset(s->dpool, 0, sizeof(float) * B * H);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
		simple_classifier_backward(model, dlogits);
	else
	{
		memset(s->dhead, 0, sizeof(float) * B * 2 * H);
		linear_backward(s->dhead, g->head_fc3_w, g->head_fc3_b, dlogits, s->head_norm,
						w->head_fc3_w, B, 2 * H, A);
		memset(s->dhead2, 0, sizeof(float) * B * 2 * H);
		layernorm_backward(s->dhead2, g->head_ln_w, g->head_ln_b, s->dhead, s->head_act,
						   w->head_ln_w, s->head_mean, s->head_rstd, B, 2 * H);
		gelu_backward(s->dhead2, s->dhead2, s->head_pre, (size_t) B * 2 * H);
		linear_backward(s->dpool, g->head_fc0_w, g->head_fc0_b, s->dhead2, s->pooled,
						w->head_fc0_w, B, H, 2 * H);
	}
	if (dpooled)
		add_inplace(s->dpool, dpooled, (size_t) B * H);
	for (size_t i = 0; i < (size_t) B * H; i++)
		s->dpool[i] *= 1.0f - s->pooled[i] * s->pooled[i];
	memset(s->dhead, 0, sizeof(float) * B * H);
	linear_backward(s->dhead, g->pooler_w, g->pooler_b, s->dpool, s->cls, w->pooler_w, B, H, H);
	memset(dl, 0, sizeof(float) * Ml * H);
	memset(dv, 0, sizeof(float) * Mv * H);
	for (int b = 0; b < B; b++)
		memcpy(dl + (size_t) b * T * H, s->dhead + (size_t) b * H, sizeof(float) * H);

	/* cross layers, then each stream's own layers, last first */
	for (int i = c->x_layers - 1; i >= 0; i--)
	{
		const float *lang = i > 0 ? s->x[i - 1].lang_ffn.out
			: (c->l_layers > 0 ? s->l[c->l_layers - 1].ffn.out : s->emb_out);
		const float *visn = i > 0 ? s->x[i - 1].visn_ffn.out
			: (c->r_layers > 0 ? s->r[c->r_layers - 1].ffn.out : s->visn_out);

		between_layers(model);
		x_layer_backward(&P, &s->x[i], &w->x_layers[i], &g->x_layers[i], dl, dv,
						 i == c->x_layers - 1, lang, visn, dl_in, dv_in,
						 s->dl[2], s->dl[3], s->dv[2], s->dv[3], T, N);
		tmp = dl, dl = dl_in, dl_in = tmp;
		tmp = dv, dv = dv_in, dv_in = tmp;
	}
	for (int i = c->l_layers - 1; i >= 0; i--)
	{
		const float *x = i > 0 ? s->l[i - 1].ffn.out : s->emb_out;

		between_layers(model);
		bert_layer_backward(&P, &s->l[i], &w->l_layers[i], &g->l_layers[i], dl, x,
							s->dl[2], dl_in, T);
		tmp = dl, dl = dl_in, dl_in = tmp;
	}
	for (int i = c->r_layers - 1; i >= 0; i--)
	{
		const float *x = i > 0 ? s->r[i - 1].ffn.out : s->visn_out;

		between_layers(model);
		bert_layer_backward(&P, &s->r[i], &w->r_layers[i], &g->r_layers[i], dv, x,
							s->dv[2], dv_in, N);
		tmp = dv, dv = dv_in, dv_in = tmp;
	}

	/* visual feature encoder */
	if (s->visn_keep && P.p_hidden > 0)
		dropout_backward(dv, s->visn_keep, Mv * H, P.p_hidden);
	for (size_t i = 0; i < Mv * H; i++)
		dv[i] *= 0.5f;
	memset(dv_in, 0, sizeof(float) * Mv * H);
	layernorm_backward(dv_in, g->visn_ln_w, g->visn_ln_b, dv, s->visn_pre, w->visn_ln_w,
					   s->visn_mean, s->visn_rstd, (int) Mv, H);
	linear_backward(NULL, g->visn_fc_w, g->visn_fc_b, dv_in, s->visual_feats, w->visn_fc_w,
					(int) Mv, c->visual_feat_dim, H);
	memset(dv_in, 0, sizeof(float) * Mv * H);
	layernorm_backward(dv_in, g->box_ln_w, g->box_ln_b, dv, s->box_pre, w->box_ln_w,
					   s->box_mean, s->box_rstd, (int) Mv, H);
	linear_backward(NULL, g->box_fc_w, g->box_fc_b, dv_in, s->visual_pos, w->box_fc_w,
					(int) Mv, c->visual_pos_dim, H);

	/* embeddings */
	if (s->emb_keep && P.p_hidden > 0)
		dropout_backward(dl, s->emb_keep, Ml * H, P.p_hidden);
	memset(dl_in, 0, sizeof(float) * Ml * H);
	layernorm_backward(dl_in, g->emb_ln_w, g->emb_ln_b, dl, s->emb_sum, w->emb_ln_w,
					   s->emb_mean, s->emb_rstd, (int) Ml, H);
	/*
	 * HuggingFace's three embeddings have padding_idx 0: row 0 of each is
	 * used in the forward pass but never receives a gradient.
	 */
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
		{
			size_t		row = (size_t) b * T + t;
			int			type = s->token_type_ids ? s->token_type_ids[row] : 0;
			int			word = s->input_ids[row];
			const float *d = dl_in + row * H;

			for (int j = 0; j < H; j++)
			{
				if (word != 0)
					g->word_emb[(size_t) word * H + j] += d[j];
				if (t != 0)
					g->pos_emb[(size_t) t * H + j] += d[j];
				if (type != 0)
					g->type_emb[(size_t) type * H + j] += d[j];
			}
		}
}

int
vqa_model_backward(VqaModel *model, const float *dlogits, const float *dpooled)
{
	if (model->acts == NULL || model->acts->forward_only || model->grads == NULL)
		return -1;
	backward_pass(model, dlogits, dpooled);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Model life cycle                                                       */
/* ---------------------------------------------------------------------- */

const char *
vqa_model_config_check(const VqaModelConfig *c)
{
	if (c->vocab_size < 1 || c->hidden_size < 1 || c->intermediate_size < 1 ||
		c->visual_feat_dim < 1 || c->visual_pos_dim < 1 || c->num_qa_labels < 1 ||
		c->max_position_embeddings < 1 || c->type_vocab_size < 1)
		return "sizes must be positive";
	if (c->num_attention_heads < 1 || c->hidden_size % c->num_attention_heads != 0)
		return "hidden_size must be a multiple of num_attention_heads";
	if (c->l_layers < 0 || c->r_layers < 0 || c->x_layers < 0)
		return "layer counts must not be negative";
	if (c->hidden_size > 65536 || c->intermediate_size > 262144 || c->vocab_size > 10000000 ||
		c->num_qa_labels > 10000000 || c->visual_feat_dim > 65536 || c->visual_pos_dim > 64 ||
		c->max_position_embeddings > 65536 || c->type_vocab_size > 1024 ||
		c->l_layers + c->r_layers + c->x_layers > 1000)
		return "a size is out of range";
	if (!(c->layer_norm_eps > 0))
		return "layer_norm_eps must be positive";
	if (!(c->hidden_dropout_prob >= 0 && c->hidden_dropout_prob < 1) ||
		!(c->attention_probs_dropout_prob >= 0 && c->attention_probs_dropout_prob < 1))
		return "dropout probabilities must be in [0, 1)";
	if (c->answer_head != VQA_HEAD_HUGGINGFACE && c->answer_head != VQA_HEAD_SIMPLE_CLASSIFIER)
		return "unknown answer head";
	return NULL;
}

/* Tensors in the layout: fixed ones plus 16 per BERT layer, 52 per X layer. */
static int
tensor_count(const VqaModelConfig *c)
{
	return 13 + 16 * (c->l_layers + c->r_layers) + 52 * c->x_layers + 2 + 6;	/* either head has 6 */
}

static void *
alloc_floats(size_t n)
{
	void	   *p = NULL;

	if (posix_memalign(&p, 64, (n > 0 ? n : 1) * sizeof(float)) != 0)
		return NULL;
	memset(p, 0, (n > 0 ? n : 1) * sizeof(float));
	return p;
}

VqaModel *
vqa_model_new(const VqaModelConfig *config, char *errbuf, size_t errlen)
{
	const char *problem = vqa_model_config_check(config);
	VqaModel *model;
	LxmertWeights table_pass = {0};

	if (problem)
	{
		snprintf(errbuf, errlen, "invalid LXMERT config: %s", problem);
		return NULL;
	}
	model = calloc(1, sizeof(VqaModel));
	if (model == NULL)
		goto oom;
	model->config = *config;
	model->tensors = calloc(tensor_count(config), sizeof(VqaTensor));
	if (model->tensors == NULL || weights_alloc(&table_pass, config) != 0 ||
		weights_alloc(&model->weights, config) != 0 ||
		weights_alloc(&model->grad_weights, config) != 0)
	{
		weights_free(&table_pass);
		goto oom;
	}
	model->n_params = lxmert_layout(model, NULL, &table_pass);
	weights_free(&table_pass);
	model->params = alloc_floats(model->n_params);
	if (model->params == NULL)
		goto oom;
	weights_point(model, &model->weights, model->params);
	return model;

oom:
	snprintf(errbuf, errlen, "out of memory for an LXMERT model");
	vqa_model_free(model);
	return NULL;
}

/*
 * The authors' head as their code leaves it: HuggingFace's _init_weights
 * zeroes the biases but writes its N(0, 0.02) into the weight that
 * weight_norm recomputes from g and v, so v keeps nn.Linear's own init,
 * uniform in +-1/sqrt(fan_in), and the gain is v's norm (W = v).
 */
static void
init_weight_norm_linear(VqaModel *model, const char *prefix, VqaRng *rng)
{
	char		name[96];
	const VqaTensor *g,
			   *v;
	float	   *pv;
	double		bound,
				sq = 0.0;

	snprintf(name, sizeof(name), "%s.weight_g", prefix);
	g = vqa_model_find_tensor(model, name);
	snprintf(name, sizeof(name), "%s.weight_v", prefix);
	v = vqa_model_find_tensor(model, name);
	pv = model->params + v->offset;
	bound = 1.0 / sqrt((double) v->shape[1]);
	for (size_t i = 0; i < v->numel; i++)
	{
		pv[i] = (float) (bound * (2.0 * vqa_rng_uniform(rng) - 1.0));
		sq += (double) pv[i] * pv[i];
	}
	model->params[g->offset] = (float) sqrt(sq);
}

/* HuggingFace's initialisation, of every tensor or of the answer head's only. */
static void
init_tensors(VqaModel *model, uint64_t seed, float std, int head_only)
{
	VqaRng		rng;

	vqa_rng_seed(&rng, seed);
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];
		float	   *p = model->params + t->offset;
		size_t		len = strlen(t->name);
		int			is_bias = len > 5 && strcmp(t->name + len - 5, ".bias") == 0;
		int			is_norm = strstr(t->name, "LayerNorm") != NULL ||
			strstr(t->name, "layer_norm") != NULL ||
			strncmp(t->name, "answer_head.logit_fc.2.", 23) == 0;

		if (head_only && t->module != LXMERT_HEAD)
			continue;
		for (size_t j = 0; j < t->numel; j++)
			p[j] = is_bias ? 0.0f
				: is_norm ? 1.0f
				: (float) (std * vqa_rng_normal(&rng));
	}
	if (model->config.answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
	{
		init_weight_norm_linear(model, "classifier.main.0", &rng);
		init_weight_norm_linear(model, "classifier.main.3", &rng);
	}
	vqa_model_refresh_mask(model);
}

void
vqa_model_init_random(VqaModel *model, uint64_t seed, float std)
{
	init_tensors(model, seed, std, 0);
}

void
vqa_model_init_head(VqaModel *model, uint64_t seed, float std)
{
	init_tensors(model, seed, std, 1);
}

const VqaTensor *
vqa_model_find_tensor(const VqaModel *model, const char *name)
{
	if (strncmp(name, "lxmert.", 7) == 0)
		name += 7;
	for (int i = 0; i < model->n_tensors; i++)
		if (strcmp(model->tensors[i].name, name) == 0)
			return &model->tensors[i];
	return NULL;
}

int
vqa_model_set_mask(VqaModel *model, const float *mask)
{
	if (mask == NULL)
	{
		free(model->mask);
		free(model->masked);
		model->mask = model->masked = NULL;
		weights_point(model, &model->weights, model->params);
		return 0;
	}
	if (model->mask == NULL)
	{
		model->mask = alloc_floats(model->n_params);
		model->masked = alloc_floats(model->n_params);
		if (model->mask == NULL || model->masked == NULL)
		{
			vqa_model_set_mask(model, NULL);
			return -1;
		}
	}
	memcpy(model->mask, mask, sizeof(float) * model->n_params);
	weights_point(model, &model->weights, model->masked);
	vqa_model_refresh_mask(model);
	return 0;
}

void
vqa_model_refresh_mask(VqaModel *model)
{
	if (model->mask)
		for (size_t i = 0; i < model->n_params; i++)
			model->masked[i] = model->params[i] * model->mask[i];
}

const float *
lxmert_language_state(const VqaModel *model, int index)
{
	const VqaModelConfig *c = &model->config;

	if (model->acts == NULL || index < 0 || index >= c->l_layers + c->x_layers)
		return NULL;
	return index < c->l_layers ? model->acts->l[index].ffn.out
		: model->acts->x[index - c->l_layers].lang_ffn.out;
}

const float *
lxmert_vision_state(const VqaModel *model, int index)
{
	const VqaModelConfig *c = &model->config;

	if (model->acts == NULL || index < 0 || index >= c->r_layers + c->x_layers)
		return NULL;
	return index < c->r_layers ? model->acts->r[index].ffn.out
		: model->acts->x[index - c->r_layers].visn_ffn.out;
}

size_t
vqa_model_activation_bytes(const VqaModel *model)
{
	return model->acts ? model->acts->capacity * sizeof(float) : 0;
}

size_t
vqa_model_activation_bytes_for(const VqaModelConfig *config, int B, int T, int N, int forward_only)
{
	LxmertActivations acts = {0};
	size_t		floats = 0;

	acts.threads = vqa_parallel_threads();
	acts.forward_only = forward_only;
	acts.l = calloc(config->l_layers > 0 ? config->l_layers : 1, sizeof(BertLayerActs));
	acts.r = calloc(config->r_layers > 0 ? config->r_layers : 1, sizeof(BertLayerActs));
	acts.x = calloc(config->x_layers > 0 ? config->x_layers : 1, sizeof(XLayerActs));
	if (acts.l && acts.r && acts.x)
		floats = activations_layout(&acts, config, B, T, N, NULL);
	free(acts.l);
	free(acts.r);
	free(acts.x);
	return floats * sizeof(float);
}

const float *
vqa_model_pooled(const VqaModel *model)
{
	return model->acts ? model->acts->pooled : NULL;
}

double
vqa_model_grad_norm(const VqaModel *model)
{
	double		sum = 0.0;

	for (size_t i = 0; i < model->n_params; i++)
		sum += (double) model->grads[i] * model->grads[i];
	return sqrt(sum);
}

void
vqa_model_scale_grads(VqaModel *model, float scale)
{
	for (size_t i = 0; i < model->n_params; i++)
		model->grads[i] *= scale;
}

int
vqa_model_zero_grad(VqaModel *model)
{
	if (model->grads == NULL)
	{
		/* evaluation never needs them: a base model's are 0.85 GB */
		model->grads = alloc_floats(model->n_params);
		if (model->grads == NULL)
			return -1;
		weights_point(model, &model->grad_weights, model->grads);
	}
	memset(model->grads, 0, sizeof(float) * model->n_params);
	return 0;
}

void
vqa_model_score_grad(VqaModel *model)
{
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (t->prunable)
			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				model->grads[j] *= model->params[j];
	}
}

typedef struct AdamJob
{
	VqaModel *model;
	float		lr,
				beta1,
				beta2,
				eps,
				weight_decay;
	int			t;
} AdamJob;

static void
adam_range(void *arg, size_t begin, size_t end, int worker)
{
	const AdamJob *j = arg;
	VqaModel *m = j->model;

	vqa_adam_step(m->params + begin, m->grads + begin, m->adam_m + begin, m->adam_v + begin,
				  end - begin, j->lr, j->beta1, j->beta2, j->eps, j->weight_decay, j->t);
}

int
lxmert_reserve_adam(VqaModel *model)
{
	if (model->adam_m == NULL)
		model->adam_m = alloc_floats(model->n_params);
	if (model->adam_v == NULL)
		model->adam_v = alloc_floats(model->n_params);
	return model->adam_m && model->adam_v ? 0 : -1;
}

int
lxmert_adam_update(VqaModel *model, float lr, float beta1, float beta2, float eps,
				   float weight_decay, int t)
{
	AdamJob		j = {model, lr, beta1, beta2, eps, weight_decay, t};

	if (lxmert_reserve_adam(model) != 0)
		return -1;
	vqa_parallel_for(model->n_params, 1 << 16, adam_range, &j);
	vqa_model_refresh_mask(model);
	return 0;
}

int
vqa_model_use_sparse(VqaModel *model, double max_density)
{
	const float *base = model->mask ? model->masked : model->params;

	vqa_model_drop_sparse(model);
	model->sparse = calloc(model->n_tensors, sizeof(VqaCsr *));
	if (model->sparse == NULL)
		return -1;
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];
		size_t		kept = 0;

		/* the word embeddings are a lookup, not a product */
		if (!t->prunable || strstr(t->name, "word_embeddings"))
			continue;
		for (size_t j = t->offset; j < t->offset + t->numel; j++)
			kept += model->mask == NULL || model->mask[j] != 0.0f;
		if ((double) kept > max_density * (double) t->numel)
			continue;
		model->sparse[i] = vqa_csr_from_dense(base + t->offset, model->mask ? model->mask + t->offset : NULL,
											  t->shape[0], t->shape[1]);
		if (model->sparse[i] == NULL)
		{
			vqa_model_drop_sparse(model);
			return -1;
		}
	}
	return 0;
}

void
vqa_model_drop_sparse(VqaModel *model)
{
	if (model->sparse == NULL)
		return;
	for (int i = 0; i < model->n_tensors; i++)
		vqa_csr_free(model->sparse[i]);
	free(model->sparse);
	model->sparse = NULL;
}

/* 2 M N K per forward GEMM, three GEMMs' worth per training step. */
double
vqa_model_train_flops(const VqaModelConfig *c, int B, int T, int N)
{
	double		H = c->hidden_size,
				I = c->intermediate_size,
				Ml = (double) B * T,
				Mv = (double) B * N;
	double		f = 0.0;

	/* attention block: Q from rows_q, K V from rows_k, scores and context, output */
#define ATTENTION(rq, rk, tq, tk) (2 * (rq) * H * H + 4 * (rk) * H * H + \
	4 * (double) B * (tq) * (tk) * H + 2 * (rq) * H * H)
#define FFN(rows) (4 * (rows) * H * I)
	f += 2 * Mv * c->visual_feat_dim * H + 2 * Mv * c->visual_pos_dim * H;
	f += c->l_layers * (ATTENTION(Ml, Ml, T, T) + FFN(Ml));
	f += c->r_layers * (ATTENTION(Mv, Mv, N, N) + FFN(Mv));
	f += c->x_layers * (ATTENTION(Ml, Mv, T, N) + ATTENTION(Mv, Ml, N, T) +
						ATTENTION(Ml, Ml, T, T) + ATTENTION(Mv, Mv, N, N) +
						FFN(Ml) + FFN(Mv));
	f += 2 * (double) B * H * H + 2 * (double) B * H * 2 * H +
		2 * (double) B * 2 * H * c->num_qa_labels;
#undef ATTENTION
#undef FFN
	return 3 * f;
}

void
vqa_model_free(VqaModel *model)
{
	if (model == NULL)
		return;
	if (model->acts)
	{
		free(model->acts->arena);
		free(model->acts->l);
		free(model->acts->r);
		free(model->acts->x);
		free(model->acts);
	}
	vqa_model_drop_sparse(model);
	weights_free(&model->weights);
	weights_free(&model->grad_weights);
	free(model->tensors);
	free(model->params);
	free(model->grads);
	free(model->mask);
	free(model->masked);
	free(model->adam_m);
	free(model->adam_v);
	free(model);
}
