/*
 * model_type.c: the parameter layout walk and the config key readers that
 * the model types share (model_type.h).
 */
#include "vqaprune/model_type.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

/* ---------------------------------------------------------------------- */
/* Layout of the parameters                                               */
/* ---------------------------------------------------------------------- */

float *
vqa_layout_slot(VqaLayout *L, const char *name, int rows, int cols, VqaModule module, int prunable)
{
	size_t		numel = (size_t) rows * (cols > 0 ? cols : 1);
	float	   *p = L->base ? L->base + L->offset : NULL;

	if (L->base == NULL)
	{
		VqaTensor  *t = &L->model->tensors[L->model->n_tensors++];

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

void
vqa_layout_linear(VqaLayout *L, const char *prefix, int out, int in, VqaModule module,
				  int prunable, float **w, float **b)
{
	char		name[96];

	snprintf(name, sizeof(name), "%s.weight", prefix);
	*w = vqa_layout_slot(L, name, out, in, module, prunable);
	snprintf(name, sizeof(name), "%s.bias", prefix);
	*b = vqa_layout_slot(L, name, out, 0, module, 0);
}

void
vqa_layout_weight_norm(VqaLayout *L, const char *prefix, int out, int in, VqaModule module,
					   float **g, float **v, float **b)
{
	char		name[96];

	snprintf(name, sizeof(name), "%s.weight_g", prefix);
	*g = vqa_layout_slot(L, name, 1, 0, module, 0);
	if (L->base == NULL)
		L->model->tensors[L->model->n_tensors - 1].ndim = 0;
	snprintf(name, sizeof(name), "%s.weight_v", prefix);
	*v = vqa_layout_slot(L, name, out, in, module, 0);
	snprintf(name, sizeof(name), "%s.bias", prefix);
	*b = vqa_layout_slot(L, name, out, 0, module, 0);
}

void
vqa_layout_layernorm(VqaLayout *L, const char *prefix, int size, VqaModule module, float **w,
					 float **b)
{
	char		name[96];

	snprintf(name, sizeof(name), "%s.weight", prefix);
	*w = vqa_layout_slot(L, name, size, 0, module, 0);
	snprintf(name, sizeof(name), "%s.bias", prefix);
	*b = vqa_layout_slot(L, name, size, 0, module, 0);
}

void
vqa_layout_attention(VqaLayout *L, const char *qkv_prefix, const char *out_prefix, int H,
					 VqaModule module, VqaAttentionWeights *a)
{
	char		name[80];

	snprintf(name, sizeof(name), "%s.query", qkv_prefix);
	vqa_layout_linear(L, name, H, H, module, 1, &a->q_w, &a->q_b);
	snprintf(name, sizeof(name), "%s.key", qkv_prefix);
	vqa_layout_linear(L, name, H, H, module, 1, &a->k_w, &a->k_b);
	snprintf(name, sizeof(name), "%s.value", qkv_prefix);
	vqa_layout_linear(L, name, H, H, module, 1, &a->v_w, &a->v_b);
	snprintf(name, sizeof(name), "%s.dense", out_prefix);
	vqa_layout_linear(L, name, H, H, module, 1, &a->o_w, &a->o_b);
	snprintf(name, sizeof(name), "%s.LayerNorm", out_prefix);
	vqa_layout_layernorm(L, name, H, module, &a->ln_w, &a->ln_b);
}

void
vqa_layout_ffn(VqaLayout *L, const char *inter, const char *out, int H, int I, VqaModule module,
			   VqaFfnWeights *f)
{
	char		name[80];

	snprintf(name, sizeof(name), "%s.dense", inter);
	vqa_layout_linear(L, name, I, H, module, 1, &f->i_w, &f->i_b);
	snprintf(name, sizeof(name), "%s.dense", out);
	vqa_layout_linear(L, name, H, I, module, 1, &f->o_w, &f->o_b);
	snprintf(name, sizeof(name), "%s.LayerNorm", out);
	vqa_layout_layernorm(L, name, H, module, &f->ln_w, &f->ln_b);
}

void
vqa_layout_bert_layer(VqaLayout *L, const char *prefix, int H, int I, VqaModule module,
					  VqaBertLayerWeights *w)
{
	char		qkv[64],
				out[64],
				inter[64],
				ffn_out[64];

	snprintf(qkv, sizeof(qkv), "%s.attention.self", prefix);
	snprintf(out, sizeof(out), "%s.attention.output", prefix);
	snprintf(inter, sizeof(inter), "%s.intermediate", prefix);
	snprintf(ffn_out, sizeof(ffn_out), "%s.output", prefix);
	vqa_layout_attention(L, qkv, out, H, module, &w->att);
	vqa_layout_ffn(L, inter, ffn_out, H, I, module, &w->ffn);
}

void
vqa_layout_text_embeddings(VqaLayout *L, VqaModule word_module, VqaTextEmbeddingWeights *w)
{
	const VqaModelConfig *c = &L->model->config;
	int			H = c->hidden_size;

	w->word = vqa_layout_slot(L, "embeddings.word_embeddings.weight", c->vocab_size, H,
							  word_module, 1);
	w->position = vqa_layout_slot(L, "embeddings.position_embeddings.weight",
								  c->max_position_embeddings, H, LXMERT_EMBEDDINGS_OTHER, 0);
	w->token_type = vqa_layout_slot(L, "embeddings.token_type_embeddings.weight",
									c->type_vocab_size, H, LXMERT_EMBEDDINGS_OTHER, 0);
	vqa_layout_layernorm(L, "embeddings.LayerNorm", H, LXMERT_EMBEDDINGS_OTHER, &w->ln_w,
						 &w->ln_b);
}

/* ---------------------------------------------------------------------- */
/* A stack of BERT layers                                                 */
/* ---------------------------------------------------------------------- */

void
vqa_bert_layers_acts_take(VqaArena *a, VqaBertLayerActs *acts, int n, int B, int T, int H, int I,
						  int nh, int att_dropout, int hid_dropout, int forward_only)
{
	for (int i = 0; i < n; i++)
	{
		if (forward_only && i >= 2)
			acts[i] = acts[i % 2];
		else
			vqa_bert_layer_acts_take(a, &acts[i], B, T, H, I, nh, att_dropout, hid_dropout);
	}
}

const float *
vqa_bert_layers_forward(VqaModel *model, VqaBlockContext *ctx, VqaBertLayerActs *acts,
						const VqaBertLayerWeights *w, int n, const float *x, const float *bias,
						int T)
{
	for (int i = 0; i < n; i++)
	{
		vqa_model_between_layers(model);
		vqa_bert_layer_forward(ctx, &acts[i], &w[i], x, bias, T);
		x = acts[i].ffn.out;
	}
	return x;
}

void
vqa_bert_layers_backward(VqaModel *model, VqaBlockContext *ctx, const VqaBertLayerActs *acts,
						 const VqaBertLayerWeights *w, VqaBertLayerWeights *g, int n,
						 const float *x, float **dx, float **dx_in, float *datt, int T)
{
	for (int i = n - 1; i >= 0; i--)
	{
		float	   *tmp;

		vqa_model_between_layers(model);
		vqa_bert_layer_backward(ctx, &acts[i], &w[i], &g[i], *dx, i > 0 ? acts[i - 1].ffn.out : x,
								datt, *dx_in, T);
		tmp = *dx, *dx = *dx_in, *dx_in = tmp;
	}
}

/* ---------------------------------------------------------------------- */
/* Config keys                                                            */
/* ---------------------------------------------------------------------- */

yajl_val
vqa_config_get(yajl_val root, const char *name)
{
	const char *path[] = {name, NULL};
	yajl_val	v = yajl_tree_get(root, path, yajl_t_any);

	return v == NULL || YAJL_IS_NULL(v) ? NULL : v;
}

/* Stores v in field if it is of the reader's kind; else the message's tail. */
typedef const char *(*KeyReader) (yajl_val v, void *field);

static const char *
read_int(yajl_val v, void *field)
{
	if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < -1000000000 ||
		YAJL_GET_INTEGER(v) > 1000000000)
		return "must be an integer";
	*(int *) field = (int) YAJL_GET_INTEGER(v);
	return NULL;
}

static const char *
read_bool(yajl_val v, void *field)
{
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return "must be true or false";
	*(int *) field = YAJL_IS_TRUE(v);
	return NULL;
}

static const char *
read_float(yajl_val v, void *field)
{
	if (!YAJL_IS_NUMBER(v) || !isfinite(YAJL_GET_DOUBLE(v)))
		return "must be a number";
	*(float *) field = (float) YAJL_GET_DOUBLE(v);
	return NULL;
}

static int
read_keys(yajl_val root, const VqaConfigKey *keys, size_t n, KeyReader reader, VqaModelConfig *c,
		  char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
	{
		yajl_val	v = vqa_config_get(root, keys[i].name);
		const char *problem;

		if (v == NULL)
			continue;
		problem = reader(v, (char *) c + keys[i].offset);
		if (problem)
		{
			snprintf(errbuf, errlen, "config key \"%s\" %s", keys[i].name, problem);
			return -1;
		}
	}
	return 0;
}

int
vqa_config_read_ints(yajl_val root, const VqaConfigKey *keys, size_t n, VqaModelConfig *c,
					 char *errbuf, size_t errlen)
{
	return read_keys(root, keys, n, read_int, c, errbuf, errlen);
}

#define LENGTHOF(a) (sizeof(a) / sizeof((a)[0]))

/* The keys both model types read alike; vqaprune's question encoding is written only when not the default. */
static const VqaConfigKey ENCODING_INT_KEYS[] = {
	{"question_tokens", offsetof(VqaModelConfig, question_tokens)},
};

static const VqaConfigKey BOOL_KEYS[] = {
	{"special_tokens", offsetof(VqaModelConfig, special_tokens)},
	{"attention_mask", offsetof(VqaModelConfig, ignore_padding)},
};

static const VqaConfigKey FLOAT_KEYS[] = {
	{"layer_norm_eps", offsetof(VqaModelConfig, layer_norm_eps)},
	{"hidden_dropout_prob", offsetof(VqaModelConfig, hidden_dropout_prob)},
	{"attention_probs_dropout_prob", offsetof(VqaModelConfig, attention_probs_dropout_prob)},
};

void
vqa_config_bert_defaults(VqaModelConfig *c, VqaModelType type, int question_tokens)
{
	memset(c, 0, sizeof(*c));
	c->model_type = type;
	c->vocab_size = 30522;
	c->hidden_size = 768;
	c->num_attention_heads = 12;
	c->intermediate_size = 3072;
	c->max_position_embeddings = 512;
	c->type_vocab_size = 2;
	c->layer_norm_eps = 1e-12f;
	c->hidden_dropout_prob = 0.1f;
	c->attention_probs_dropout_prob = 0.1f;
	c->answer_head = VQA_HEAD_HUGGINGFACE;
	c->question_tokens = question_tokens;
	c->special_tokens = 1;
	c->ignore_padding = 1;
}

/* "answer_head": one of names (index = VqaAnswerHead); absent keeps the config's. */
static int
read_answer_head(yajl_val root, const char *const names[2], VqaModelConfig *c, char *errbuf,
				 size_t errlen)
{
	yajl_val	v = vqa_config_get(root, "answer_head");
	const char *head = v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;

	if (v == NULL)
		return 0;
	for (int i = 0; head && i < 2; i++)
		if (strcmp(head, names[i]) == 0)
		{
			c->answer_head = (VqaAnswerHead) i;
			return 0;
		}
	snprintf(errbuf, errlen, "config key \"answer_head\" must be \"%s\" or \"%s\"", names[0],
			 names[1]);
	return -1;
}

int
vqa_config_read_shared(yajl_val root, const char *const answer_heads[2], VqaModelConfig *c,
					   char *errbuf, size_t errlen)
{
	if (read_keys(root, ENCODING_INT_KEYS, LENGTHOF(ENCODING_INT_KEYS), read_int, c, errbuf,
				  errlen) != 0 ||
		read_keys(root, BOOL_KEYS, LENGTHOF(BOOL_KEYS), read_bool, c, errbuf, errlen) != 0 ||
		read_keys(root, FLOAT_KEYS, LENGTHOF(FLOAT_KEYS), read_float, c, errbuf, errlen) != 0)
		return -1;
	return read_answer_head(root, answer_heads, c, errbuf, errlen);
}

/*
 * The question encoding's defaults fitted and checked: an absent
 * question_tokens shrinks to max_position_embeddings; NULL if valid.
 */
static const char *
fit_question_tokens(yajl_val root, VqaModelConfig *c)
{
	/* the default fits a model with fewer positions */
	if (vqa_config_get(root, "question_tokens") == NULL && c->max_position_embeddings > 0 &&
		c->max_position_embeddings < c->question_tokens)
		c->question_tokens = c->max_position_embeddings;
	/* the encoding is the hosts' business, not the model's: checked where it is read */
	if (c->question_tokens < (c->special_tokens ? 2 : 1) ||
		c->question_tokens > c->max_position_embeddings)
		return "question_tokens must be at least 1 (2 with special tokens) and at most "
			"max_position_embeddings";
	return NULL;
}

/*
 * "padding": "batch" or "fixed" (absent: "batch" with the attention mask,
 * "fixed" without); NULL if valid.
 */
static const char *
read_padding(yajl_val root, VqaModelConfig *c)
{
	yajl_val	v = vqa_config_get(root, "padding");
	const char *padding = v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;

	c->fixed_padding = !c->ignore_padding;
	if (v == NULL)
		return NULL;
	if (padding && strcmp(padding, "fixed") == 0)
		c->fixed_padding = 1;
	else if (padding && strcmp(padding, "batch") == 0)
	{
		/* attended padding is part of the input: its length changes the outputs */
		if (!c->ignore_padding)
			return "\"padding\": \"batch\" needs the attention mask: without it the padding "
				"is attended and its length changes the results";
	}
	else
		return "config key \"padding\" must be \"batch\" or \"fixed\"";
	return NULL;
}

int
vqa_config_finish(yajl_val root, VqaModelConfig *c, const char *model_name, char *errbuf,
				  size_t errlen)
{
	const char *problem = vqa_model_config_check(c);

	if (problem == NULL)
		problem = fit_question_tokens(root, c);
	if (problem == NULL)
		problem = read_padding(root, c);
	if (problem)
	{
		snprintf(errbuf, errlen, "invalid %s config: %s", model_name, problem);
		return -1;
	}
	return 0;
}

size_t
vqa_config_json_ints(char *out, size_t size, size_t n, const VqaConfigKey *keys, size_t count,
					 const VqaModelConfig *c)
{
	for (size_t i = 0; i < count; i++)
		n += snprintf(out + n, size - n, ", \"%s\": %d", keys[i].name,
					  *(const int *) ((const char *) c + keys[i].offset));
	return n;
}

/* The shortest decimal that reads back as the same float, into text (32 bytes). */
static void
format_float(char *text, size_t size, float value)
{
	for (int digits = 1; digits <= 9; digits++)
	{
		snprintf(text, size, "%.*g", digits, value);
		if (strtof(text, NULL) == value)
			break;
	}
}

size_t
vqa_config_json_shared(char *out, size_t size, size_t n, const VqaModelConfig *c,
					   const char *const answer_heads[2], int default_question_tokens)
{
	for (size_t i = 0; i < LENGTHOF(FLOAT_KEYS); i++)
	{
		char		text[32];

		format_float(text, sizeof(text), *(const float *) ((const char *) c + FLOAT_KEYS[i].offset));
		n += snprintf(out + n, size - n, ", \"%s\": %s", FLOAT_KEYS[i].name, text);
	}
	/* HuggingFace's head is the default, and a HuggingFace config has no such key */
	if (c->answer_head != VQA_HEAD_HUGGINGFACE)
		n += snprintf(out + n, size - n, ", \"answer_head\": \"%s\"", answer_heads[c->answer_head]);
	if (c->question_tokens != default_question_tokens)
		n += snprintf(out + n, size - n, ", \"question_tokens\": %d", c->question_tokens);
	for (size_t i = 0; i < LENGTHOF(BOOL_KEYS); i++)
		if (!*(const int *) ((const char *) c + BOOL_KEYS[i].offset))
			n += snprintf(out + n, size - n, ", \"%s\": false", BOOL_KEYS[i].name);
	/* "batch" is the default with the attention mask, "fixed" the only choice without */
	if (c->fixed_padding && c->ignore_padding)
		n += snprintf(out + n, size - n, ", \"padding\": \"fixed\"");
	n += snprintf(out + n, size - n, "}");
	return n;
}
