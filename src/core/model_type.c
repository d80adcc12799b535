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

int
vqa_config_read_ints(yajl_val root, const VqaConfigKey *keys, size_t n, VqaModelConfig *c,
					 char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
	{
		yajl_val	v = vqa_config_get(root, keys[i].name);

		if (v == NULL)
			continue;
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < -1000000000 ||
			YAJL_GET_INTEGER(v) > 1000000000)
		{
			snprintf(errbuf, errlen, "config key \"%s\" must be an integer", keys[i].name);
			return -1;
		}
		*(int *) ((char *) c + keys[i].offset) = (int) YAJL_GET_INTEGER(v);
	}
	return 0;
}

int
vqa_config_read_bools(yajl_val root, const VqaConfigKey *keys, size_t n, VqaModelConfig *c,
					  char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
	{
		yajl_val	v = vqa_config_get(root, keys[i].name);

		if (v == NULL)
			continue;
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		{
			snprintf(errbuf, errlen, "config key \"%s\" must be true or false", keys[i].name);
			return -1;
		}
		*(int *) ((char *) c + keys[i].offset) = YAJL_IS_TRUE(v);
	}
	return 0;
}

int
vqa_config_read_floats(yajl_val root, const VqaConfigKey *keys, size_t n, VqaModelConfig *c,
					   char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
	{
		yajl_val	v = vqa_config_get(root, keys[i].name);

		if (v == NULL)
			continue;
		if (!YAJL_IS_NUMBER(v) || !isfinite(YAJL_GET_DOUBLE(v)))
		{
			snprintf(errbuf, errlen, "config key \"%s\" must be a number", keys[i].name);
			return -1;
		}
		*(float *) ((char *) c + keys[i].offset) = (float) YAJL_GET_DOUBLE(v);
	}
	return 0;
}

int
vqa_config_read_answer_head(yajl_val root, const char *const names[2], VqaModelConfig *c,
							char *errbuf, size_t errlen)
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

const char *
vqa_config_fit_question_tokens(yajl_val root, VqaModelConfig *c)
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

const char *
vqa_config_read_padding(yajl_val root, VqaModelConfig *c)
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

const char *
vqa_config_padding_json(const VqaModelConfig *c)
{
	return c->fixed_padding && c->ignore_padding ? ", \"padding\": \"fixed\"" : "";
}

void
vqa_config_format_float(char *text, size_t size, float value)
{
	for (int digits = 1; digits <= 9; digits++)
	{
		snprintf(text, size, "%.*g", digits, value);
		if (strtof(text, NULL) == value)
			break;
	}
}
