/*
 * visual_bert.c: VisualBERT's layout and its wiring of the blocks
 * (blocks.h): the text and visual embeddings, the single-stream encoder,
 * the pooler and the two answer heads, forward and backward; model.c does
 * the rest (visual_bert.h describes the model).
 *
 * Shapes: B batch, T text tokens, N regions, S = T + N positions per
 * example (text first), H hidden, I intermediate, D = visual_embedding_dim
 * (config.visual_feat_dim), A answers. Rows of the encoder are B*S.
 */
#include "vqaprune/visual_bert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/model_type.h"

/* ---------------------------------------------------------------------- */
/* Layout of the parameters                                               */
/* ---------------------------------------------------------------------- */

/* HuggingFace's order: embeddings, encoder layers, pooler, then the head. */
static size_t
visual_bert_layout(VqaModel *model, float *base, void *weights)
{
	VisualBertWeights *w = weights;
	const VqaModelConfig *c = &model->config;
	int			H = c->hidden_size;
	VqaLayout	L = {model, base, 0};
	char		prefix[32];

	vqa_layout_text_embeddings(&L, VQA_MODULE_ENCODER, &w->emb);
	w->visual_type_emb = vqa_layout_slot(&L, "embeddings.visual_token_type_embeddings.weight",
										 c->type_vocab_size, H, LXMERT_EMBEDDINGS_OTHER, 0);
	w->visual_pos_emb = vqa_layout_slot(&L, "embeddings.visual_position_embeddings.weight",
										c->max_position_embeddings, H, LXMERT_EMBEDDINGS_OTHER, 0);
	vqa_layout_linear(&L, "embeddings.visual_projection", H, c->visual_feat_dim,
					  LXMERT_EMBEDDINGS_OTHER, 0, &w->visual_proj_w, &w->visual_proj_b);
	for (int i = 0; i < c->num_hidden_layers; i++)
	{
		snprintf(prefix, sizeof(prefix), "encoder.layer.%d", i);
		vqa_layout_bert_layer(&L, prefix, H, c->intermediate_size, VQA_MODULE_ENCODER,
							  &w->layers[i]);
	}
	vqa_layout_linear(&L, "pooler.dense", H, H, LXMERT_POOLER, 1, &w->pooler_w, &w->pooler_b);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
	{
		vqa_layout_weight_norm(&L, "cls.main.0", 2 * H, H, LXMERT_HEAD, &w->classifier.fc0_g,
							   &w->classifier.fc0_v, &w->classifier.fc0_b);
		vqa_layout_weight_norm(&L, "cls.main.3", c->num_qa_labels, 2 * H, LXMERT_HEAD,
							   &w->classifier.fc3_g, &w->classifier.fc3_v, &w->classifier.fc3_b);
	}
	else
		vqa_layout_linear(&L, "cls", c->num_qa_labels, H, LXMERT_HEAD, 0, &w->cls_w, &w->cls_b);
	return L.offset;
}

static void
weights_free(void *weights)
{
	VisualBertWeights *w = weights;

	if (w == NULL)
		return;
	free(w->layers);
	free(w);
}

static void *
weights_new(const VqaModelConfig *c)
{
	VisualBertWeights *w = calloc(1, sizeof(VisualBertWeights));

	if (w == NULL)
		return NULL;
	w->layers = calloc(c->num_hidden_layers > 0 ? c->num_hidden_layers : 1,
					   sizeof(VqaBertLayerWeights));
	if (w->layers)
		return w;
	weights_free(w);
	return NULL;
}

/* 9 embedding tensors, 16 per layer, the pooler's 2, then 2 or 6 in the head. */
static int
tensor_count(const VqaModelConfig *c)
{
	return 9 + 16 * c->num_hidden_layers + 2 +
		(c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER ? 6 : 2);
}

static int
is_norm_tensor(const char *name)
{
	return strstr(name, "LayerNorm") != NULL;
}

/* HuggingFace's _init_weights zeroes the padding_idx row of the word embeddings. */
static void
zero_padding_rows(VqaModel *model)
{
	const VqaTensor *t = vqa_model_find_tensor(model, "embeddings.word_embeddings.weight");
	int			H = model->config.hidden_size;

	memset(model->params + t->offset + (size_t) model->config.pad_token_id * H, 0,
		   sizeof(float) * H);
}

/* ---------------------------------------------------------------------- */
/* Activations                                                            */
/* ---------------------------------------------------------------------- */

/* VisualBERT's pointers into the activation arena (VqaActivations.layout). */
typedef struct VisualBertActivations
{
	float	   *bias;			/* B x S additive attention bias over the keys */
	float	   *proj;			/* B*N x H: visual_projection of the features */
	VqaEmbeddingActs emb;		/* B*S rows: the text's and the regions' */
	VqaBertLayerActs *layers;
	float	   *cls,			/* B x H: position 0 of each example */
			   *pooled;			/* B x H, after tanh */
	float	   *gathered;		/* B x H: HuggingFace's head, the state it reads */
	float	   *head_in;		/* B x H: the head's input, after its dropout */
	unsigned char *head_keep;
	float	   *head_pre,
			   *head_act;		/* B x 2H: the SimpleClassifier's */
	VqaSimpleClassifierActs classifier;
	/* backward scratch */
	float	   *d[3];			/* B*S x H */
	float	   *dvec,			/* B x H */
			   *dcls,			/* B x H */
			   *dhead;			/* B x 2H */
	VqaBlockScratch scratch;	/* zeroed when laid out for the forward pass alone */
} VisualBertActivations;

static size_t
activations_layout(void *layout, const VqaModelConfig *c, int B, int T, int N, int threads,
				   int forward_only, float *base)
{
	VisualBertActivations *acts = layout;
	VqaArena	a = {base, 0};
	int			H = c->hidden_size;
	int			I = c->intermediate_size;
	int			fo = forward_only;
	int			hd = c->hidden_dropout_prob > 0 && !fo;
	int			ad = c->attention_probs_dropout_prob > 0 && !fo;
	int			S = T + N;
	size_t		M = (size_t) B * S;

	acts->bias = vqa_arena_take(&a, M);
	acts->proj = vqa_arena_take(&a, (size_t) B * N * H);
	vqa_embedding_acts_take(&a, &acts->emb, M, H, hd);
	vqa_bert_layers_acts_take(&a, acts->layers, c->num_hidden_layers, B, S, H, I,
							  c->num_attention_heads, ad, hd, fo);
	acts->cls = vqa_arena_take(&a, (size_t) B * H);
	acts->pooled = vqa_arena_take(&a, (size_t) B * H);
	acts->gathered = vqa_arena_take(&a, (size_t) B * H);
	acts->head_in = vqa_arena_take(&a, (size_t) B * H);
	acts->head_keep = vqa_arena_take_keep(&a, (size_t) B * H, hd);
	acts->head_pre = acts->head_act = NULL;
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
	{
		acts->head_pre = vqa_arena_take(&a, (size_t) B * 2 * H);
		acts->head_act = vqa_arena_take(&a, (size_t) B * 2 * H);
		vqa_simple_classifier_acts_take(&a, &acts->classifier, acts->head_pre, acts->head_act, B,
										H, 2 * H, c->num_qa_labels, fo);
	}
	memset(&acts->scratch, 0, sizeof(acts->scratch));
	if (fo)
		return a.used;
	for (int i = 0; i < 3; i++)
		acts->d[i] = vqa_arena_take(&a, M * H);
	acts->dvec = vqa_arena_take(&a, (size_t) B * H);
	acts->dcls = vqa_arena_take(&a, (size_t) B * H);
	acts->dhead = vqa_arena_take(&a, (size_t) B * 2 * H);
	vqa_block_scratch_take(&a, &acts->scratch, M, H, I, S, threads);
	return a.used;
}

static void
activations_free(void *layout)
{
	VisualBertActivations *acts = layout;

	if (acts == NULL)
		return;
	free(acts->layers);
	free(acts);
}

static void *
activations_new(const VqaModelConfig *c)
{
	VisualBertActivations *acts = calloc(1, sizeof(VisualBertActivations));

	if (acts == NULL)
		return NULL;
	acts->layers = calloc(c->num_hidden_layers > 0 ? c->num_hidden_layers : 1,
						  sizeof(VqaBertLayerActs));
	if (acts->layers)
		return acts;
	activations_free(acts);
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Passes                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * The text position HuggingFace's head reads in example b: the attended
 * tokens (HuggingFace's attention_mask summed; all without it), minus 2; 0
 * below that.
 */
static int
gather_index(const VqaBatch *batch, int b)
{
	int			T = batch->seq_len;
	int			n = T;

	if (batch->attended)
	{
		n = 0;
		for (int t = 0; t < T; t++)
			n += batch->attended[(size_t) b * T + t] != 0;
	}
	return n >= 2 ? n - 2 : 0;
}

/*
 * HuggingFace's VisualBertEmbeddings: only the word table has a padding_idx
 * (pad_token_id), and the sum is word + token type + position.
 */
static VqaTextEmbeddingSpec
text_embedding_spec(const VqaModelConfig *c)
{
	VqaTextEmbeddingSpec spec = {c->pad_token_id, -1, -1, 1};

	return spec;
}

static void
visual_bert_forward(VqaModel *model, const VqaBatch *batch, float *logits)
{
	const VqaModelConfig *c = &model->config;
	const VisualBertWeights *w = model->weights;
	VisualBertActivations *s = model->acts->layout;
	VqaBlockContext P;
	int			B = batch->batch,
				T = batch->seq_len,
				N = batch->num_boxes,
				S = T + N,
				H = c->hidden_size,
				A = c->num_qa_labels;
	size_t		M = (size_t) B * S;
	VqaTextEmbeddingSpec spec = text_embedding_spec(c);
	const float *x;
	const float *vec;

	vqa_model_block_context(model, &P, &s->scratch, B);

	/* the text's padding bias, then every region attended */
	for (int b = 0; b < B; b++)
	{
		vqa_key_padding_bias(s->bias + (size_t) b * S,
							 batch->attended ? batch->attended + (size_t) b * T : NULL,
							 T);
		vqa_key_padding_bias(s->bias + (size_t) b * S + T, NULL, N);
	}

	/*
	 * embeddings: word + token type + position for the text; visual
	 * projection + visual token type 1 + visual position 0 for the regions
	 */
	vqa_linear_forward(&P, s->proj, batch->visual_feats, w->visual_proj_w, w->visual_proj_b,
					   B * N, c->visual_feat_dim, H);
	vqa_text_embeddings_forward(&P, s->emb.sum, &w->emb, &spec, batch->input_ids,
								batch->token_type_ids, T, S);
	for (int b = 0; b < B; b++)
		for (int n = 0; n < N; n++)
		{
			const float *pr = s->proj + ((size_t) b * N + n) * H;
			const float *te = w->visual_type_emb + H;
			const float *pe = w->visual_pos_emb;
			float	   *out = s->emb.sum + ((size_t) b * S + T + n) * H;

			for (int j = 0; j < H; j++)
				out[j] = pr[j] + pe[j] + te[j];
		}
	vqa_embedding_norm_forward(&P, &s->emb, &w->emb, M);

	x = vqa_bert_layers_forward(model, &P, s->layers, w->layers, c->num_hidden_layers, s->emb.out,
								s->bias, S);

	/* the pooler, which HuggingFace's head computes too but does not read */
	vqa_pooler_forward(&P, s->cls, s->pooled, x, w->pooler_w, w->pooler_b, S);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
		vec = s->pooled;
	else
	{
		for (int b = 0; b < B; b++)
			memcpy(s->gathered + (size_t) b * H,
				   x + ((size_t) b * S + gather_index(batch, b)) * H, sizeof(float) * H);
		vec = s->gathered;
	}
	memcpy(s->head_in, vec, sizeof(float) * B * H);
	if (s->head_keep && P.p_hidden > 0)
		vqa_dropout_forward(s->head_in, s->head_keep, (size_t) B * H, P.p_hidden, &P.rng);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
		vqa_simple_classifier_forward(&P, &s->classifier, &w->classifier, s->head_in, logits, H,
									  2 * H, A);
	else
		vqa_linear_forward(&P, logits, s->head_in, w->cls_w, w->cls_b, B, H, A);
}

/* The dropout keep flags of the forward pass are reused, not drawn again. */
static void
visual_bert_backward(VqaModel *model, const float *dlogits, const float *dpooled)
{
	const VqaModelConfig *c = &model->config;
	const VisualBertWeights *w = model->weights;
	VisualBertWeights *g = model->grad_weights;
	const VqaBatch *batch = &model->acts->batch;
	VisualBertActivations *s = model->acts->layout;
	VqaBlockContext P;
	int			B = model->acts->B,
				T = model->acts->T,
				N = model->acts->N,
				S = T + N,
				H = c->hidden_size,
				D = c->visual_feat_dim,
				A = c->num_qa_labels;
	size_t		M = (size_t) B * S;
	VqaTextEmbeddingSpec spec = text_embedding_spec(c);
	float	   *dx = s->d[0],
			   *dx_in = s->d[1];

	vqa_model_block_context(model, &P, &s->scratch, B);

	/* the head, its dropout, then the vector it read */
	memset(s->dvec, 0, sizeof(float) * B * H);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
		vqa_simple_classifier_backward(&P, &s->classifier, &w->classifier, &g->classifier, dlogits,
									   s->head_in, s->dvec, s->dhead, H, 2 * H, A);
	else
		vqa_linear_backward(&P, s->dvec, g->cls_w, g->cls_b, dlogits, s->head_in, w->cls_w, B, H, A);
	if (s->head_keep && P.p_hidden > 0)
		vqa_dropout_backward(s->dvec, s->head_keep, (size_t) B * H, P.p_hidden);
	if (dpooled)
		vqa_add_inplace(s->dvec, dpooled, (size_t) B * H);
	if (c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER)
		vqa_pooler_backward(&P, dx, s->dcls, s->dvec, s->cls, s->pooled, w->pooler_w, g->pooler_w,
							g->pooler_b, S);
	else
	{
		memset(dx, 0, sizeof(float) * M * H);
		for (int b = 0; b < B; b++)
			memcpy(dx + ((size_t) b * S + gather_index(batch, b)) * H, s->dvec + (size_t) b * H,
				   sizeof(float) * H);
	}

	/* the encoder, last layer first */
	vqa_bert_layers_backward(model, &P, s->layers, w->layers, g->layers, c->num_hidden_layers,
							 s->emb.out, &dx, &dx_in, s->d[2], S);

	/* embeddings: dropout, LayerNorm, then each sum's terms */
	vqa_embedding_norm_backward(&P, &s->emb, &w->emb, &g->emb, dx, dx_in, M);
	vqa_text_embeddings_backward(&P, &g->emb, &spec, dx_in, batch->input_ids,
								 batch->token_type_ids, T, S);
	/* the regions' rows, gathered into dx for the projection's backward */
	for (int b = 0; b < B; b++)
		for (int n = 0; n < N; n++)
		{
			const float *d = dx_in + ((size_t) b * S + T + n) * H;

			memcpy(dx + ((size_t) b * N + n) * H, d, sizeof(float) * H);
			for (int j = 0; j < H; j++)
			{
				g->visual_type_emb[H + j] += d[j];
				g->visual_pos_emb[j] += d[j];
			}
		}
	vqa_linear_backward(&P, NULL, g->visual_proj_w, g->visual_proj_b, dx, batch->visual_feats,
						w->visual_proj_w, B * N, D, H);
}

const float *
visual_bert_hidden_state(const VqaModel *model, int index)
{
	const VisualBertActivations *s;

	if (model->ops != &vqa_visual_bert_ops || model->acts == NULL || index < 0 ||
		index > model->config.num_hidden_layers)
		return NULL;
	s = model->acts->layout;
	return index == 0 ? s->emb.out : s->layers[index - 1].ffn.out;
}

const float *
visual_bert_pooler_output(const VqaModel *model)
{
	if (model->ops != &vqa_visual_bert_ops || model->acts == NULL)
		return NULL;
	return ((const VisualBertActivations *) model->acts->layout)->pooled;
}

/*
 * What the answer head reads, and so a debiasing gate too: the pooled
 * output for the SimpleClassifier, the gathered hidden state for
 * HuggingFace's head (before the head's dropout, both).
 */
static const float *
head_vector(const VqaModel *model)
{
	const VisualBertActivations *s = model->acts->layout;

	return model->config.answer_head == VQA_HEAD_SIMPLE_CLASSIFIER ? s->pooled : s->gathered;
}

/* 2 M N K per forward GEMM, three GEMMs' worth per training step. */
static double
train_flops(const VqaModelConfig *c, int B, int T, int N)
{
	double		H = c->hidden_size,
				I = c->intermediate_size,
				S = (double) T + N,
				M = (double) B * S,
				A = c->num_qa_labels;
	double		layer = 8 * M * H * H + 4 * (double) B * S * S * H + 4 * M * H * I;
	double		f;

	f = 2 * (double) B * N * c->visual_feat_dim * H + c->num_hidden_layers * layer +
		2 * (double) B * H * H;
	f += c->answer_head == VQA_HEAD_SIMPLE_CLASSIFIER
		? 2 * (double) B * H * 2 * H + 2 * (double) B * 2 * H * A
		: 2 * (double) B * H * A;
	return 3 * f;
}

const VqaModelOps vqa_visual_bert_ops = {
	.type = VQA_MODEL_VISUAL_BERT,
	.type_name = "visual_bert",
	.name = "VisualBERT",
	.tensor_prefix = "visual_bert.",
	.answer_output = "cls",
	.signature_tensor = "embeddings.visual_projection.weight",
	.config_parse = visual_bert_config_parse,
	.config_to_json = visual_bert_config_to_json,
	.config_check = visual_bert_config_check,
	.tensor_count = tensor_count,
	.weights_new = weights_new,
	.weights_free = weights_free,
	.layout = visual_bert_layout,
	.is_norm_tensor = is_norm_tensor,
	.zero_padding_rows = zero_padding_rows,
	.acts_new = activations_new,
	.acts_free = activations_free,
	.acts_layout = activations_layout,
	.forward = visual_bert_forward,
	.backward = visual_bert_backward,
	.pooled = head_vector,
	.train_flops = train_flops,
};
