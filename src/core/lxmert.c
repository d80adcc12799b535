/*
 * lxmert.c: LXMERT's layout and its wiring of the blocks (blocks.h): the
 * embeddings, the visual feature encoder, the L, R and X layers, the pooler
 * and the answer heads, forward and backward; model.c does the rest.
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
 * Masks for pruning multiply the weights before the forward pass, so the
 * gradients computed are dL/d(W*M), from which the straight-through score
 * gradient is dL/d(W*M) * W.
 */
#include "vqaprune/lxmert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/model_type.h"

/* ---------------------------------------------------------------------- */
/* Layout of the parameters                                               */
/* ---------------------------------------------------------------------- */

static void
x_layer_slots(VqaLayout *L, const char *prefix, int H, int I, LxmertXLayerWeights *w)
{
	char		a[64],
				b[64];

	snprintf(a, sizeof(a), "%s.visual_attention.att", prefix);
	snprintf(b, sizeof(b), "%s.visual_attention.output", prefix);
	vqa_layout_attention(L, a, b, H, LXMERT_CROSS, &w->cross);
	snprintf(a, sizeof(a), "%s.lang_self_att.self", prefix);
	snprintf(b, sizeof(b), "%s.lang_self_att.output", prefix);
	vqa_layout_attention(L, a, b, H, LXMERT_CROSS, &w->lang_self);
	snprintf(a, sizeof(a), "%s.visn_self_att.self", prefix);
	snprintf(b, sizeof(b), "%s.visn_self_att.output", prefix);
	vqa_layout_attention(L, a, b, H, LXMERT_CROSS, &w->visn_self);
	snprintf(a, sizeof(a), "%s.lang_inter", prefix);
	snprintf(b, sizeof(b), "%s.lang_output", prefix);
	vqa_layout_ffn(L, a, b, H, I, LXMERT_CROSS, &w->lang_ffn);
	snprintf(a, sizeof(a), "%s.visn_inter", prefix);
	snprintf(b, sizeof(b), "%s.visn_output", prefix);
	vqa_layout_ffn(L, a, b, H, I, LXMERT_CROSS, &w->visn_ffn);
}

/*
 * Walks the architecture in HuggingFace's order. With base NULL it records
 * the tensor table and returns the parameter count; otherwise it points w
 * into base.
 */
static size_t
lxmert_layout(VqaModel *model, float *base, void *weights)
{
	LxmertWeights *w = weights;
	const VqaModelConfig *c = &model->config;
	int			H = c->hidden_size;
	int			I = c->intermediate_size;
	VqaLayout	L = {model, base, 0};
	char		prefix[32];

	vqa_layout_text_embeddings(&L, LXMERT_LANGUAGE, &w->emb);
	vqa_layout_linear(&L, "encoder.visn_fc.visn_fc", H, c->visual_feat_dim, LXMERT_VISUAL, 1,
				 &w->visn_fc_w, &w->visn_fc_b);
	vqa_layout_layernorm(&L, "encoder.visn_fc.visn_layer_norm", H, LXMERT_VISUAL, &w->visn_ln_w, &w->visn_ln_b);
	vqa_layout_linear(&L, "encoder.visn_fc.box_fc", H, c->visual_pos_dim, LXMERT_VISUAL, 1,
				 &w->box_fc_w, &w->box_fc_b);
	vqa_layout_layernorm(&L, "encoder.visn_fc.box_layer_norm", H, LXMERT_VISUAL, &w->box_ln_w, &w->box_ln_b);
	for (int i = 0; i < c->l_layers; i++)
	{
		snprintf(prefix, sizeof(prefix), "encoder.layer.%d", i);
		vqa_layout_bert_layer(&L, prefix, H, I, LXMERT_LANGUAGE, &w->l_layers[i]);
	}
	for (int i = 0; i < c->x_layers; i++)
	{
		snprintf(prefix, sizeof(prefix), "encoder.x_layers.%d", i);
		x_layer_slots(&L, prefix, H, I, &w->x_layers[i]);
	}
	for (int i = 0; i < c->r_layers; i++)
	{
		snprintf(prefix, sizeof(prefix), "encoder.r_layers.%d", i);
		vqa_layout_bert_layer(&L, prefix, H, I, LXMERT_VISUAL, &w->r_layers[i]);
	}
	vqa_layout_linear(&L, "pooler.dense", H, H, LXMERT_POOLER, 1, &w->pooler_w, &w->pooler_b);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
	{
		vqa_layout_weight_norm(&L, "classifier.main.0", 2 * H, H, LXMERT_HEAD, &w->classifier.fc0_g,
						  &w->classifier.fc0_v, &w->classifier.fc0_b);
		vqa_layout_weight_norm(&L, "classifier.main.3", c->num_qa_labels, 2 * H, LXMERT_HEAD,
						  &w->classifier.fc3_g, &w->classifier.fc3_v, &w->classifier.fc3_b);
		return L.offset;
	}
	vqa_layout_linear(&L, "answer_head.logit_fc.0", 2 * H, H, LXMERT_HEAD, 0, &w->head_fc0_w, &w->head_fc0_b);
	vqa_layout_layernorm(&L, "answer_head.logit_fc.2", 2 * H, LXMERT_HEAD, &w->head_ln_w, &w->head_ln_b);
	vqa_layout_linear(&L, "answer_head.logit_fc.3", c->num_qa_labels, 2 * H, LXMERT_HEAD, 0,
				 &w->head_fc3_w, &w->head_fc3_b);
	return L.offset;
}


static void
weights_free(void *weights)
{
	LxmertWeights *w = weights;

	if (w == NULL)
		return;
	free(w->l_layers);
	free(w->r_layers);
	free(w->x_layers);
	free(w);
}

static void *
weights_new(const VqaModelConfig *c)
{
	LxmertWeights *w = calloc(1, sizeof(LxmertWeights));

	if (w == NULL)
		return NULL;
	w->l_layers = calloc(c->l_layers > 0 ? c->l_layers : 1, sizeof(VqaBertLayerWeights));
	w->r_layers = calloc(c->r_layers > 0 ? c->r_layers : 1, sizeof(VqaBertLayerWeights));
	w->x_layers = calloc(c->x_layers > 0 ? c->x_layers : 1, sizeof(LxmertXLayerWeights));
	if (w->l_layers && w->r_layers && w->x_layers)
		return w;
	weights_free(w);
	return NULL;
}

/* Tensors in the layout: fixed ones plus 16 per BERT layer, 52 per X layer. */
static int
tensor_count(const VqaModelConfig *c)
{
	return 13 + 16 * (c->l_layers + c->r_layers) + 52 * c->x_layers + 2 + 6;	/* either head has 6 */
}

/* LayerNorms, and the HuggingFace head's one, named by its index */
static int
is_norm_tensor(const char *name)
{
	return strstr(name, "LayerNorm") != NULL || strstr(name, "layer_norm") != NULL ||
		strncmp(name, "answer_head.logit_fc.2.", 23) == 0;
}

/* ---------------------------------------------------------------------- */
/* Activations                                                            */
/* ---------------------------------------------------------------------- */

typedef struct XLayerActs
{
	VqaAttentionActs lang_cross,
				visn_cross,
				lang_self,
				visn_self;
	VqaFfnActs	lang_ffn,
				visn_ffn;
} XLayerActs;

/* LXMERT's pointers into the activation arena (VqaActivations.layout). */
typedef struct LxmertActivations
{
	float	   *lang_bias,
			   *visn_bias;		/* B x T, B x N: the keys' additive padding biases */
	VqaEmbeddingActs emb;		/* B*T rows */
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
	VqaBertLayerActs *l,
			   *r;
	XLayerActs *x;
	float	   *cls;			/* B x H: first language token */
	float	   *pooled;			/* B x H, after tanh */
	float	   *head_pre,
			   *head_act,
			   *head_mean,
			   *head_rstd,
			   *head_norm;		/* B x 2H */
	VqaSimpleClassifierActs classifier;	/* its pre and act are head_pre and head_act */
	/* backward scratch */
	float	   *dl[4],
			   *dv[4];			/* rows x H gradients of the two streams */
	VqaBlockScratch scratch;	/* of the blocks; zeroed when laid out for the forward pass alone */
	float	   *dhead,
			   *dhead2,
			   *dpool;			/* B x 2H, B x 2H, B x H */
} LxmertActivations;

/* Points every activation into the arena; returns the floats needed. */
static size_t
activations_layout(void *layout, const VqaModelConfig *c, int B, int T, int N, int threads,
				   int forward_only, float *base)
{
	LxmertActivations *acts = layout;
	VqaArena	a = {base, 0};
	int			H = c->hidden_size;
	int			I = c->intermediate_size;
	int			nh = c->num_attention_heads;
	int			fo = forward_only;
	int			hd = c->hidden_dropout_prob > 0 && !fo;
	int			ad = c->attention_probs_dropout_prob > 0 && !fo;
	size_t		Ml = (size_t) B * T;
	size_t		Mv = (size_t) B * N;
	size_t		Mmax = Ml > Mv ? Ml : Mv;
	int			Tmax = T > N ? T : N;

	acts->lang_bias = vqa_arena_take(&a, Ml);
	acts->visn_bias = vqa_arena_take(&a, Mv);
	vqa_embedding_acts_take(&a, &acts->emb, Ml, H, hd);
	acts->visn_pre = vqa_arena_take(&a, Mv * H);
	acts->visn_mean = vqa_arena_take(&a, Mv);
	acts->visn_rstd = vqa_arena_take(&a, Mv);
	acts->visn_norm = vqa_arena_take(&a, Mv * H);
	acts->box_pre = vqa_arena_take(&a, Mv * H);
	acts->box_mean = vqa_arena_take(&a, Mv);
	acts->box_rstd = vqa_arena_take(&a, Mv);
	acts->box_norm = vqa_arena_take(&a, Mv * H);
	acts->visn_out = vqa_arena_take(&a, Mv * H);
	acts->visn_keep = vqa_arena_take_keep(&a, Mv * H, hd);
	vqa_bert_layers_acts_take(&a, acts->l, c->l_layers, B, T, H, I, nh, ad, hd, fo);
	vqa_bert_layers_acts_take(&a, acts->r, c->r_layers, B, N, H, I, nh, ad, hd, fo);
	/* forward only: as in the L and R layers, two buffers take turns */
	for (int i = 0; i < c->x_layers; i++)
	{
		XLayerActs *x = &acts->x[i];

		if (fo && i >= 2)
		{
			*x = acts->x[i % 2];
			continue;
		}

		vqa_attention_acts_take(&a, &x->lang_cross, B, T, N, H, nh, ad, hd);
		vqa_attention_acts_take(&a, &x->visn_cross, B, N, T, H, nh, ad, hd);
		vqa_attention_acts_take(&a, &x->lang_self, B, T, T, H, nh, ad, hd);
		vqa_attention_acts_take(&a, &x->visn_self, B, N, N, H, nh, ad, hd);
		vqa_ffn_acts_take(&a, &x->lang_ffn, Ml, H, I, hd);
		vqa_ffn_acts_take(&a, &x->visn_ffn, Mv, H, I, hd);
	}
	acts->cls = vqa_arena_take(&a, (size_t) B * H);
	acts->pooled = vqa_arena_take(&a, (size_t) B * H);
	acts->head_pre = vqa_arena_take(&a, (size_t) B * 2 * H);
	acts->head_act = vqa_arena_take(&a, (size_t) B * 2 * H);
	acts->head_mean = vqa_arena_take(&a, B);
	acts->head_rstd = vqa_arena_take(&a, B);
	acts->head_norm = vqa_arena_take(&a, (size_t) B * 2 * H);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
		vqa_simple_classifier_acts_take(&a, &acts->classifier, acts->head_pre, acts->head_act, B,
										H, 2 * H, c->num_qa_labels, fo);
	memset(&acts->scratch, 0, sizeof(acts->scratch));
	if (fo)
		return a.used;
	for (int i = 0; i < 4; i++)
	{
		acts->dl[i] = vqa_arena_take(&a, Ml * H);
		acts->dv[i] = vqa_arena_take(&a, Mv * H);
	}
	vqa_block_scratch_take(&a, &acts->scratch, Mmax, H, I, Tmax, threads);
	acts->dhead = vqa_arena_take(&a, (size_t) B * 2 * H);
	acts->dhead2 = vqa_arena_take(&a, (size_t) B * 2 * H);
	acts->dpool = vqa_arena_take(&a, (size_t) B * H);
	return a.used;
}

static void
activations_free(void *layout)
{
	LxmertActivations *acts = layout;

	if (acts == NULL)
		return;
	free(acts->l);
	free(acts->r);
	free(acts->x);
	free(acts);
}

static void *
activations_new(const VqaModelConfig *c)
{
	LxmertActivations *acts = calloc(1, sizeof(LxmertActivations));

	if (acts == NULL)
		return NULL;
	acts->l = calloc(c->l_layers > 0 ? c->l_layers : 1, sizeof(VqaBertLayerActs));
	acts->r = calloc(c->r_layers > 0 ? c->r_layers : 1, sizeof(VqaBertLayerActs));
	acts->x = calloc(c->x_layers > 0 ? c->x_layers : 1, sizeof(XLayerActs));
	if (acts->l && acts->r && acts->x)
		return acts;
	activations_free(acts);
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Passes                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * HuggingFace's LxmertEmbeddings: all three tables have padding_idx 0, and
 * the sum is word + position + token type.
 */
static const VqaTextEmbeddingSpec TEXT_EMBEDDINGS = {0, 0, 0, 0};

/* The cross-modality layer of HuggingFace's LxmertXLayer. */
static void
x_layer_forward(VqaBlockContext *P, XLayerActs *a, const LxmertXLayerWeights *w,
				const float *lang, const float *visn, const float *lang_bias,
				const float *visn_bias, int T, int N)
{
	vqa_attention_forward(P, &a->lang_cross, &w->cross, lang, visn, visn_bias, T, N);
	vqa_attention_forward(P, &a->visn_cross, &w->cross, visn, lang, lang_bias, N, T);
	vqa_attention_forward(P, &a->lang_self, &w->lang_self, a->lang_cross.out, a->lang_cross.out,
						  lang_bias, T, T);
	vqa_attention_forward(P, &a->visn_self, &w->visn_self, a->visn_cross.out, a->visn_cross.out,
						  visn_bias, N, N);
	vqa_ffn_forward(P, &a->lang_ffn, &w->lang_ffn, a->lang_self.out, (size_t) P->B * T);
	vqa_ffn_forward(P, &a->visn_ffn, &w->visn_ffn, a->visn_self.out, (size_t) P->B * N);
}

/*
 * dl/dv: gradients of the language and vision outputs; dl_in/dv_in receive
 * the inputs' (zeroed here); t1/t2 and u1/u2 are scratch of the two streams.
 * With dv known to be zero (the last layer: only the language side reaches
 * the pooler), the vision side's backward is skipped: it would add zeros.
 */
static void
x_layer_backward(VqaBlockContext *P, const XLayerActs *a, const LxmertXLayerWeights *w,
				 LxmertXLayerWeights *g, const float *dl, const float *dv, int dv_is_zero,
				 const float *lang, const float *visn, float *dl_in, float *dv_in,
				 float *t1, float *t2, float *u1, float *u2, int T, int N)
{
	size_t		nl = (size_t) P->B * T * P->H;
	size_t		nv = (size_t) P->B * N * P->H;

	memset(t1, 0, sizeof(float) * nl);
	vqa_ffn_backward(P, &a->lang_ffn, &w->lang_ffn, &g->lang_ffn, dl, a->lang_self.out, t1,
				 (size_t) P->B * T);
	memset(t2, 0, sizeof(float) * nl);
	vqa_attention_backward(P, &a->lang_self, &w->lang_self, &g->lang_self, t1,
					   a->lang_cross.out, a->lang_cross.out, t2, t2, T, T);
	memset(dl_in, 0, sizeof(float) * nl);
	memset(dv_in, 0, sizeof(float) * nv);
	vqa_attention_backward(P, &a->lang_cross, &w->cross, &g->cross, t2, lang, visn,
					   dl_in, dv_in, T, N);
	if (dv_is_zero)
		return;
	memset(u1, 0, sizeof(float) * nv);
	vqa_ffn_backward(P, &a->visn_ffn, &w->visn_ffn, &g->visn_ffn, dv, a->visn_self.out, u1,
				 (size_t) P->B * N);
	memset(u2, 0, sizeof(float) * nv);
	vqa_attention_backward(P, &a->visn_self, &w->visn_self, &g->visn_self, u1,
					   a->visn_cross.out, a->visn_cross.out, u2, u2, N, N);
	vqa_attention_backward(P, &a->visn_cross, &w->cross, &g->cross, u2, visn, lang,
					   dv_in, dl_in, N, T);
}

static void
lxmert_forward(VqaModel *model, const VqaBatch *batch, float *logits)
{
	const VqaModelConfig *c = &model->config;
	const LxmertWeights *w = model->weights;
	LxmertActivations *s;
	VqaBlockContext P;
	int			B = batch->batch,
				T = batch->seq_len,
				N = batch->num_boxes,
				H = c->hidden_size,
				A = c->num_qa_labels;
	size_t		Ml = (size_t) B * T,
				Mv = (size_t) B * N;
	const float *lang;
	const float *visn;

	s = model->acts->layout;
	vqa_model_block_context(model, &P, &s->scratch, B);
	vqa_key_padding_bias(s->lang_bias, batch->attended, Ml);
	vqa_key_padding_bias(s->visn_bias, NULL, Mv);

	/* embeddings: LN(word + position + token type) */
	vqa_text_embeddings_forward(&P, s->emb.sum, &w->emb, &TEXT_EMBEDDINGS, batch->input_ids,
								batch->token_type_ids, T, T);
	vqa_embedding_norm_forward(&P, &s->emb, &w->emb, Ml);

	/* visual features: (LN(visn_fc(f)) + LN(box_fc(b))) / 2 */
	vqa_linear_forward(&P, s->visn_pre, batch->visual_feats, w->visn_fc_w, w->visn_fc_b,
				   (int) Mv, c->visual_feat_dim, H);
	vqa_layernorm_forward(s->visn_norm, s->visn_mean, s->visn_rstd, s->visn_pre, w->visn_ln_w,
					  w->visn_ln_b, (int) Mv, H, P.eps);
	vqa_linear_forward(&P, s->box_pre, batch->visual_pos, w->box_fc_w, w->box_fc_b,
				   (int) Mv, c->visual_pos_dim, H);
	vqa_layernorm_forward(s->box_norm, s->box_mean, s->box_rstd, s->box_pre, w->box_ln_w,
					  w->box_ln_b, (int) Mv, H, P.eps);
	for (size_t i = 0; i < Mv * H; i++)
		s->visn_out[i] = 0.5f * (s->visn_norm[i] + s->box_norm[i]);
	if (s->visn_keep && P.p_hidden > 0)
		vqa_dropout_forward(s->visn_out, s->visn_keep, Mv * H, P.p_hidden, &P.rng);

	lang = vqa_bert_layers_forward(model, &P, s->l, w->l_layers, c->l_layers, s->emb.out,
								   s->lang_bias, T);
	visn = vqa_bert_layers_forward(model, &P, s->r, w->r_layers, c->r_layers, s->visn_out,
								   s->visn_bias, N);
	for (int i = 0; i < c->x_layers; i++)
	{
		vqa_model_between_layers(model);
		x_layer_forward(&P, &s->x[i], &w->x_layers[i], lang, visn, s->lang_bias, s->visn_bias, T, N);
		lang = s->x[i].lang_ffn.out;
		visn = s->x[i].visn_ffn.out;
	}

	/* pooler and answer head */
	vqa_pooler_forward(&P, s->cls, s->pooled, lang, w->pooler_w, w->pooler_b, T);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
		vqa_simple_classifier_forward(&P, &s->classifier, &w->classifier, s->pooled, logits, H,
									  2 * H, A);
	else
	{
		vqa_linear_forward(&P, s->head_pre, s->pooled, w->head_fc0_w, w->head_fc0_b, B, H, 2 * H);
		vqa_gelu_forward(s->head_act, s->head_pre, (size_t) B * 2 * H);
		vqa_layernorm_forward(s->head_norm, s->head_mean, s->head_rstd, s->head_act, w->head_ln_w,
						  w->head_ln_b, B, 2 * H, P.eps);
		vqa_linear_forward(&P, logits, s->head_norm, w->head_fc3_w, w->head_fc3_b, B, 2 * H, A);
	}
}

/* The dropout keep flags of the forward pass are reused, not drawn again. */
static void
lxmert_backward(VqaModel *model, const float *dlogits, const float *dpooled)
{
	const VqaModelConfig *c = &model->config;
	const LxmertWeights *w = model->weights;
	LxmertWeights *g = model->grad_weights;
	const VqaBatch *batch = &model->acts->batch;
	LxmertActivations *s = model->acts->layout;
	VqaBlockContext P;
	int			B = model->acts->B,
				T = model->acts->T,
				N = model->acts->N,
				H = c->hidden_size,
				A = c->num_qa_labels;
	size_t		Ml = (size_t) B * T,
				Mv = (size_t) B * N;
	float	   *dl = s->dl[0],
			   *dl_in = s->dl[1];
	float	   *dv = s->dv[0],
			   *dv_in = s->dv[1];
	float	   *tmp;

	vqa_model_block_context(model, &P, &s->scratch, B);

	/* answer head and pooler */
	memset(s->dpool, 0, sizeof(float) * B * H);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
		vqa_simple_classifier_backward(&P, &s->classifier, &w->classifier, &g->classifier, dlogits,
									   s->pooled, s->dpool, s->dhead, H, 2 * H, A);
	else
	{
		memset(s->dhead, 0, sizeof(float) * B * 2 * H);
		vqa_linear_backward(&P, s->dhead, g->head_fc3_w, g->head_fc3_b, dlogits, s->head_norm,
						w->head_fc3_w, B, 2 * H, A);
		memset(s->dhead2, 0, sizeof(float) * B * 2 * H);
		vqa_layernorm_backward(s->dhead2, g->head_ln_w, g->head_ln_b, s->dhead, s->head_act,
						   w->head_ln_w, s->head_mean, s->head_rstd, B, 2 * H);
		vqa_gelu_backward(s->dhead2, s->dhead2, s->head_pre, (size_t) B * 2 * H);
		vqa_linear_backward(&P, s->dpool, g->head_fc0_w, g->head_fc0_b, s->dhead2, s->pooled,
						w->head_fc0_w, B, H, 2 * H);
	}
	if (dpooled)
		vqa_add_inplace(s->dpool, dpooled, (size_t) B * H);
	vqa_pooler_backward(&P, dl, s->dhead, s->dpool, s->cls, s->pooled, w->pooler_w, g->pooler_w,
						g->pooler_b, T);
	memset(dv, 0, sizeof(float) * Mv * H);

	/* cross layers, then each stream's own layers, last first */
	for (int i = c->x_layers - 1; i >= 0; i--)
	{
		const float *lang = i > 0 ? s->x[i - 1].lang_ffn.out
			: (c->l_layers > 0 ? s->l[c->l_layers - 1].ffn.out : s->emb.out);
		const float *visn = i > 0 ? s->x[i - 1].visn_ffn.out
			: (c->r_layers > 0 ? s->r[c->r_layers - 1].ffn.out : s->visn_out);

		vqa_model_between_layers(model);
		x_layer_backward(&P, &s->x[i], &w->x_layers[i], &g->x_layers[i], dl, dv,
						 i == c->x_layers - 1, lang, visn, dl_in, dv_in,
						 s->dl[2], s->dl[3], s->dv[2], s->dv[3], T, N);
		tmp = dl, dl = dl_in, dl_in = tmp;
		tmp = dv, dv = dv_in, dv_in = tmp;
	}
	vqa_bert_layers_backward(model, &P, s->l, w->l_layers, g->l_layers, c->l_layers, s->emb.out,
							 &dl, &dl_in, s->dl[2], T);
	vqa_bert_layers_backward(model, &P, s->r, w->r_layers, g->r_layers, c->r_layers, s->visn_out,
							 &dv, &dv_in, s->dv[2], N);

	/* visual feature encoder */
	if (s->visn_keep && P.p_hidden > 0)
		vqa_dropout_backward(dv, s->visn_keep, Mv * H, P.p_hidden);
	for (size_t i = 0; i < Mv * H; i++)
		dv[i] *= 0.5f;
	memset(dv_in, 0, sizeof(float) * Mv * H);
	vqa_layernorm_backward(dv_in, g->visn_ln_w, g->visn_ln_b, dv, s->visn_pre, w->visn_ln_w,
					   s->visn_mean, s->visn_rstd, (int) Mv, H);
	vqa_linear_backward(&P, NULL, g->visn_fc_w, g->visn_fc_b, dv_in, batch->visual_feats, w->visn_fc_w,
					(int) Mv, c->visual_feat_dim, H);
	memset(dv_in, 0, sizeof(float) * Mv * H);
	vqa_layernorm_backward(dv_in, g->box_ln_w, g->box_ln_b, dv, s->box_pre, w->box_ln_w,
					   s->box_mean, s->box_rstd, (int) Mv, H);
	vqa_linear_backward(&P, NULL, g->box_fc_w, g->box_fc_b, dv_in, batch->visual_pos, w->box_fc_w,
					(int) Mv, c->visual_pos_dim, H);

	/* embeddings */
	vqa_embedding_norm_backward(&P, &s->emb, &w->emb, &g->emb, dl, dl_in, Ml);
	vqa_text_embeddings_backward(&P, &g->emb, &TEXT_EMBEDDINGS, dl_in, batch->input_ids,
								 batch->token_type_ids, T, T);
}

const float *
lxmert_language_state(const VqaModel *model, int index)
{
	const VqaModelConfig *c = &model->config;
	const LxmertActivations *s = model->acts ? model->acts->layout : NULL;

	if (s == NULL || index < 0 || index >= c->l_layers + c->x_layers)
		return NULL;
	return index < c->l_layers ? s->l[index].ffn.out
		: s->x[index - c->l_layers].lang_ffn.out;
}

const float *
lxmert_vision_state(const VqaModel *model, int index)
{
	const VqaModelConfig *c = &model->config;
	const LxmertActivations *s = model->acts ? model->acts->layout : NULL;

	if (s == NULL || index < 0 || index >= c->r_layers + c->x_layers)
		return NULL;
	return index < c->r_layers ? s->r[index].ffn.out
		: s->x[index - c->r_layers].visn_ffn.out;
}

/* 2 M N K per forward GEMM, three GEMMs' worth per training step. */
static double
train_flops(const VqaModelConfig *c, int B, int T, int N)
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


static const float *
pooled_output(const VqaModel *model)
{
	return ((const LxmertActivations *) model->acts->layout)->pooled;
}

static const char *
lxmert_config_check(const VqaModelConfig *c)
{
	if (c->visual_pos_dim < 1)
		return "sizes must be positive";
	if (c->l_layers < 0 || c->r_layers < 0 || c->x_layers < 0)
		return "layer counts must not be negative";
	if (c->visual_pos_dim > 64 || c->l_layers + c->r_layers + c->x_layers > 1000)
		return "a size is out of range";
	if (c->num_hidden_layers != 0)
		return "num_hidden_layers is VisualBERT's: LXMERT's layer counts are l_layers, r_layers "
			"and x_layers";
	return NULL;
}

const VqaModelOps vqa_lxmert_ops = {
	.type = VQA_MODEL_LXMERT,
	.type_name = "lxmert",
	.name = "LXMERT",
	.tensor_prefix = "lxmert.",
	.answer_output = "answer_head.logit_fc.3",
	.signature_tensor = "encoder.visn_fc.visn_fc.weight",
	.config_parse = lxmert_config_parse,
	.config_to_json = lxmert_config_to_json,
	.config_check = lxmert_config_check,
	.tensor_count = tensor_count,
	.weights_new = weights_new,
	.weights_free = weights_free,
	.layout = lxmert_layout,
	.is_norm_tensor = is_norm_tensor,
	.acts_new = activations_new,
	.acts_free = activations_free,
	.acts_layout = activations_layout,
	.forward = lxmert_forward,
	.backward = lxmert_backward,
	.pooled = pooled_output,
	.train_flops = train_flops,
};
