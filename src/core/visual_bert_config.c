/*
 * visual_bert_config.c: VisualBERT configs as JSON with HuggingFace's
 * VisualBertConfig keys (vqa_model_config_parse, model.c, comes here for
 * "model_type": "visual_bert"). Absent keys take HuggingFace's defaults;
 * keys vqaprune does not use (architectures, bos_token_id, ...) are
 * ignored; LXMERT's structural keys, and options vqaprune does not
 * implement, are refused by name.
 */
#include "vqaprune/visual_bert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "vqaprune/model_type.h"

/*
 * visual_embedding_dim is the region feature size, the field hosts know as
 * visual_feat_dim; the number of answers, num_labels, is read apart
 * (read_num_labels).
 */
static const VqaConfigKey INT_KEYS[] = {
	{"vocab_size", offsetof(VqaModelConfig, vocab_size)},
	{"hidden_size", offsetof(VqaModelConfig, hidden_size)},
	{"num_hidden_layers", offsetof(VqaModelConfig, num_hidden_layers)},
	{"num_attention_heads", offsetof(VqaModelConfig, num_attention_heads)},
	{"intermediate_size", offsetof(VqaModelConfig, intermediate_size)},
	{"visual_embedding_dim", offsetof(VqaModelConfig, visual_feat_dim)},
	{"max_position_embeddings", offsetof(VqaModelConfig, max_position_embeddings)},
	{"type_vocab_size", offsetof(VqaModelConfig, type_vocab_size)},
	{"pad_token_id", offsetof(VqaModelConfig, pad_token_id)},
};

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

/* LXMERT's structural keys, and what a VisualBERT config says instead */
static const char *const LXMERT_KEYS[][2] = {
	{"l_layers", "num_hidden_layers"},
	{"r_layers", "num_hidden_layers"},
	{"x_layers", "num_hidden_layers"},
	{"visual_feat_dim", "visual_embedding_dim"},
	{"visual_pos_dim", NULL},
};

/* answer_head: HuggingFace's VisualBertForQuestionAnswering head, or the authors' */
static const char *const ANSWER_HEADS[] = {"visual_bert", "simple_classifier"};

#define LENGTHOF(a) (sizeof(a) / sizeof((a)[0]))

void
visual_bert_config_default(VqaModelConfig *c)
{
	memset(c, 0, sizeof(*c));
	c->model_type = VQA_MODEL_VISUAL_BERT;
	c->vocab_size = 30522;
	c->hidden_size = 768;
	c->num_hidden_layers = 12;
	c->num_attention_heads = 12;
	c->intermediate_size = 3072;
	c->visual_feat_dim = 512;
	c->num_qa_labels = 2;		/* PretrainedConfig's num_labels */
	c->max_position_embeddings = 512;
	c->type_vocab_size = 2;
	c->pad_token_id = 1;
	c->layer_norm_eps = 1e-12f;
	c->hidden_dropout_prob = 0.1f;
	c->attention_probs_dropout_prob = 0.1f;
	c->answer_head = VQA_HEAD_HUGGINGFACE;
	c->question_tokens = VISUAL_BERT_DEFAULT_QUESTION_TOKENS;
	c->special_tokens = 1;
	c->ignore_padding = 1;
	/* boxes are not read, but hosts pass them as for LXMERT */
	c->visual_pos_dim = 4;
}

/*
 * The number of answers: num_labels, num_qa_labels, the length of id2label
 * (HuggingFace's) or ans_num (the authors'), whichever are given, all equal.
 */
static int
read_num_labels(yajl_val root, VqaModelConfig *c, char *errbuf, size_t errlen)
{
	static const char *const KEYS[] = {"num_labels", "num_qa_labels", "id2label", "ans_num"};
	const char *first = NULL;

	for (size_t i = 0; i < LENGTHOF(KEYS); i++)
	{
		yajl_val	v = vqa_config_get(root, KEYS[i]);
		long long	n;

		if (v == NULL)
			continue;
		if (strcmp(KEYS[i], "id2label") == 0)
		{
			if (!YAJL_IS_OBJECT(v))
			{
				snprintf(errbuf, errlen, "config key \"id2label\" must be an object");
				return -1;
			}
			n = (long long) YAJL_GET_OBJECT(v)->len;
		}
		else if (YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) >= -1000000000 &&
				 YAJL_GET_INTEGER(v) <= 1000000000)
			n = YAJL_GET_INTEGER(v);
		else
		{
			snprintf(errbuf, errlen, "config key \"%s\" must be an integer", KEYS[i]);
			return -1;
		}
		if (first && n != c->num_qa_labels)
		{
			snprintf(errbuf, errlen, "config keys \"%s\" and \"%s\" give different numbers of "
					 "answers (%d and %lld)", first, KEYS[i], c->num_qa_labels, n);
			return -1;
		}
		first = KEYS[i];
		c->num_qa_labels = (int) n;
	}
	return 0;
}

/* Keys that describe another model, or a path vqaprune does not implement. */
static int
refuse_keys(yajl_val root, char *errbuf, size_t errlen)
{
	yajl_val	v;
	const char *act;

	for (size_t i = 0; i < LENGTHOF(LXMERT_KEYS); i++)
		if (vqa_config_get(root, LXMERT_KEYS[i][0]))
		{
			size_t		n = snprintf(errbuf, errlen, "config key \"%s\" is LXMERT's, not "
									 "VisualBERT's", LXMERT_KEYS[i][0]);

			if (LXMERT_KEYS[i][1] && n < errlen)
				snprintf(errbuf + n, errlen - n, ": VisualBERT's is \"%s\"", LXMERT_KEYS[i][1]);
			else if (n < errlen)
				snprintf(errbuf + n, errlen - n, ": VisualBERT does not read boxes");
			return -1;
		}
	v = vqa_config_get(root, "hidden_act");
	act = v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
	if (v && !(act && strcmp(act, "gelu") == 0))
	{
		snprintf(errbuf, errlen, "config key \"hidden_act\" must be \"gelu\": the exact erf GeLU "
				 "is the only activation implemented");
		return -1;
	}
	v = vqa_config_get(root, "bypass_transformer");
	if (v && !YAJL_IS_FALSE(v))
	{
		snprintf(errbuf, errlen, "config key \"bypass_transformer\" must be false: the bypass "
				 "is not implemented");
		return -1;
	}
	return 0;
}

int
visual_bert_config_parse(yajl_val root, VqaModelConfig *c, char *errbuf, size_t errlen)
{
	const char *problem;

	visual_bert_config_default(c);
	if (refuse_keys(root, errbuf, errlen) != 0 ||
		vqa_config_read_ints(root, INT_KEYS, LENGTHOF(INT_KEYS), c, errbuf, errlen) != 0 ||
		read_num_labels(root, c, errbuf, errlen) != 0 ||
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
		snprintf(errbuf, errlen, "invalid VisualBERT config: %s", problem);
		return -1;
	}
	return 0;
}

const char *
visual_bert_config_check(const VqaModelConfig *c)
{
	if (c->num_hidden_layers < 0)
		return "num_hidden_layers must not be negative";
	if (c->num_hidden_layers > 1000)
		return "a size is out of range";
	if (c->type_vocab_size < 2)
		return "type_vocab_size must be at least 2: the regions have token type 1";
	if (c->pad_token_id < 0 || c->pad_token_id >= c->vocab_size)
		return "pad_token_id must be a token id below vocab_size";
	if (c->l_layers != 0 || c->r_layers != 0 || c->x_layers != 0)
		return "LXMERT's layer counts must be 0: VisualBERT's is num_hidden_layers";
	return NULL;
}

char *
visual_bert_config_to_json(const VqaModelConfig *c)
{
	size_t		size = 1024;
	char	   *out = malloc(size);
	size_t		n = 0;

	if (out == NULL)
		return NULL;
	n += snprintf(out + n, size - n, "{\"model_type\": \"visual_bert\", \"hidden_act\": \"gelu\"");
	for (size_t i = 0; i < LENGTHOF(INT_KEYS); i++)
		n += snprintf(out + n, size - n, ", \"%s\": %d", INT_KEYS[i].name,
					  *(const int *) ((const char *) c + INT_KEYS[i].offset));
	n += snprintf(out + n, size - n, ", \"num_labels\": %d", c->num_qa_labels);
	for (size_t i = 0; i < LENGTHOF(FLOAT_KEYS); i++)
	{
		char		text[32];

		vqa_config_format_float(text, sizeof(text),
								*(const float *) ((const char *) c + FLOAT_KEYS[i].offset));
		n += snprintf(out + n, size - n, ", \"%s\": %s", FLOAT_KEYS[i].name, text);
	}
	/* HuggingFace's head is the default, and a HuggingFace config has no such key */
	if (c->answer_head != VQA_HEAD_HUGGINGFACE)
		n += snprintf(out + n, size - n, ", \"answer_head\": \"%s\"", ANSWER_HEADS[c->answer_head]);
	if (c->question_tokens != VISUAL_BERT_DEFAULT_QUESTION_TOKENS)
		n += snprintf(out + n, size - n, ", \"question_tokens\": %d", c->question_tokens);
	for (size_t i = 0; i < LENGTHOF(BOOL_KEYS); i++)
		if (!*(const int *) ((const char *) c + BOOL_KEYS[i].offset))
			n += snprintf(out + n, size - n, ", \"%s\": false", BOOL_KEYS[i].name);
	snprintf(out + n, size - n, "%s}", vqa_config_padding_json(c));
	return out;
}
