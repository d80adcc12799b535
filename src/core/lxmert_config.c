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

#define LENGTHOF(a) (sizeof(a) / sizeof((a)[0]))

void
vqa_model_config_default(VqaModelConfig *c)
{
	vqa_config_bert_defaults(c, VQA_MODEL_LXMERT, LXMERT_DEFAULT_QUESTION_TOKENS);
	c->l_layers = 9;
	c->r_layers = 5;
	c->x_layers = 5;
	c->visual_feat_dim = 2048;
	c->visual_pos_dim = 4;
	c->num_qa_labels = 9500;
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
		vqa_config_read_shared(root, ANSWER_HEADS, c, errbuf, errlen) != 0)
		return -1;
	return vqa_config_finish(root, c, "LXMERT", errbuf, errlen);
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
	n = vqa_config_json_ints(out, size, n, INT_KEYS, LENGTHOF(INT_KEYS), c);
	vqa_config_json_shared(out, size, n, c, ANSWER_HEADS, LXMERT_DEFAULT_QUESTION_TOKENS);
	return out;
}
