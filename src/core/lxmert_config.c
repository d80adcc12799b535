/*
 * lxmert_config.c: LXMERT configs as JSON with HuggingFace's LxmertConfig
 * keys, so a config.json of a HuggingFace checkpoint can be used as it is
 * (vqa_model_config_parse, model.c, comes here for "model_type": "lxmert").
 * Keys that are absent take HuggingFace's defaults (LXMERT base); keys that
 * vqaprune does not use (architectures, task flags, ...) are ignored.
 */
#include "vqaprune/lxmert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "vqaprune/model_type.h"

static const VqaConfigKey INT_KEYS[] = {
	{"vocab_size", offsetof(VqaModelConfig, vocab_size)},
	{"hidden_size", offsetof(VqaModelConfig, hidden_size)},
	{"num_attention_heads", offsetof(VqaModelConfig, num_attention_heads)},
	{"intermediate_size", offsetof(VqaModelConfig, intermediate_size)},
	{"l_layers", offsetof(VqaModelConfig, l_layers)},
	{"r_layers", offsetof(VqaModelConfig, r_layers)},
	{"x_layers", offsetof(VqaModelConfig, x_layers)},
	{"visual_feat_dim", offsetof(VqaModelConfig, visual_feat_dim)},
	{"visual_pos_dim", offsetof(VqaModelConfig, visual_pos_dim)},
	{"num_qa_labels", offsetof(VqaModelConfig, num_qa_labels)},
	{"max_position_embeddings", offsetof(VqaModelConfig, max_position_embeddings)},
	{"type_vocab_size", offsetof(VqaModelConfig, type_vocab_size)},
};

/* vqaprune's keys of the question encoding: written only when not the default */
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

#define LENGTHOF(a) (sizeof(a) / sizeof((a)[0]))

void
vqa_model_config_default(VqaModelConfig *c)
{
	memset(c, 0, sizeof(*c));
	c->model_type = VQA_MODEL_LXMERT;
	c->vocab_size = 30522;
	c->hidden_size = 768;
	c->num_attention_heads = 12;
	c->intermediate_size = 3072;
	c->l_layers = 9;
	c->r_layers = 5;
	c->x_layers = 5;
	c->visual_feat_dim = 2048;
	c->visual_pos_dim = 4;
	c->num_qa_labels = 9500;
	c->max_position_embeddings = 512;
	c->type_vocab_size = 2;
	c->layer_norm_eps = 1e-12f;
	c->hidden_dropout_prob = 0.1f;
	c->attention_probs_dropout_prob = 0.1f;
	c->answer_head = VQA_HEAD_HUGGINGFACE;
	c->question_tokens = LXMERT_DEFAULT_QUESTION_TOKENS;
	c->special_tokens = 1;
	c->ignore_padding = 1;
}

static const char *const ANSWER_HEADS[] = {"lxmert", "simple_classifier"};

/*
 * VisualBERT's structural keys: in an LXMERT config they mean the wrong
 * model type. (HuggingFace's LxmertConfig writes num_hidden_layers too, as
 * an object of the three layer counts: that one is LXMERT's and ignored.)
 */
static const char *const VISUAL_BERT_KEYS[] = {"visual_embedding_dim", "num_hidden_layers"};

int
lxmert_config_parse(yajl_val root, VqaModelConfig *c, char *errbuf, size_t errlen)
{
	const char *problem;

	vqa_model_config_default(c);
	for (size_t i = 0; i < LENGTHOF(VISUAL_BERT_KEYS); i++)
	{
		yajl_val	v = vqa_config_get(root, VISUAL_BERT_KEYS[i]);

		if (v && !YAJL_IS_OBJECT(v))
		{
			snprintf(errbuf, errlen, "config key \"%s\" is VisualBERT's, not LXMERT's: "
					 "a VisualBERT config needs \"model_type\": \"visual_bert\"",
					 VISUAL_BERT_KEYS[i]);
			return -1;
		}
	}
	if (vqa_config_read_ints(root, INT_KEYS, LENGTHOF(INT_KEYS), c, errbuf, errlen) != 0 ||
		vqa_config_read_ints(root, ENCODING_INT_KEYS, LENGTHOF(ENCODING_INT_KEYS), c, errbuf,
							 errlen) != 0 ||
		vqa_config_read_bools(root, BOOL_KEYS, LENGTHOF(BOOL_KEYS), c, errbuf, errlen) != 0 ||
		vqa_config_read_floats(root, FLOAT_KEYS, LENGTHOF(FLOAT_KEYS), c, errbuf, errlen) != 0 ||
		vqa_config_read_answer_head(root, ANSWER_HEADS, c, errbuf, errlen) != 0)
		return -1;
	problem = vqa_model_config_check(c);
	if (problem == NULL)
		problem = vqa_config_fit_question_tokens(root, c);
	if (problem == NULL)
		problem = vqa_config_read_padding(root, c);
	if (problem)
	{
		snprintf(errbuf, errlen, "invalid LXMERT config: %s", problem);
		return -1;
	}
	return 0;
}

char *
lxmert_config_to_json(const VqaModelConfig *c)
{
	size_t		size = 1024;
	char	   *out = malloc(size);
	size_t		n = 0;

	if (out == NULL)
		return NULL;
	n += snprintf(out + n, size - n, "{\"model_type\": \"lxmert\"");
	for (size_t i = 0; i < LENGTHOF(INT_KEYS); i++)
		n += snprintf(out + n, size - n, ", \"%s\": %d", INT_KEYS[i].name,
					  *(const int *) ((const char *) c + INT_KEYS[i].offset));
	for (size_t i = 0; i < LENGTHOF(FLOAT_KEYS); i++)
	{
		float		value = *(const float *) ((const char *) c + FLOAT_KEYS[i].offset);
		char		text[32];

		vqa_config_format_float(text, sizeof(text), value);
		n += snprintf(out + n, size - n, ", \"%s\": %s", FLOAT_KEYS[i].name, text);
	}
	/* HuggingFace's head is the default, and a HuggingFace config has no such key */
	if (c->answer_head != VQA_HEAD_HUGGINGFACE)
		n += snprintf(out + n, size - n, ", \"answer_head\": \"%s\"", ANSWER_HEADS[c->answer_head]);
	if (c->question_tokens != LXMERT_DEFAULT_QUESTION_TOKENS)
		n += snprintf(out + n, size - n, ", \"question_tokens\": %d", c->question_tokens);
	for (size_t i = 0; i < LENGTHOF(BOOL_KEYS); i++)
		if (!*(const int *) ((const char *) c + BOOL_KEYS[i].offset))
			n += snprintf(out + n, size - n, ", \"%s\": false", BOOL_KEYS[i].name);
	snprintf(out + n, size - n, "%s}", vqa_config_padding_json(c));
	return out;
}
