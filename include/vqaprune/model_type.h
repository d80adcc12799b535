/*
 * model_type.h: what the implementations of the model types (lxmert.c,
 * visual_bert.c and their configs) share, and hosts do not need: walking a
 * parameter layout in HuggingFace's order, and reading and writing config
 * keys with HuggingFace's names.
 */
#ifndef VQAPRUNE_MODEL_TYPE_H
#define VQAPRUNE_MODEL_TYPE_H

#include <stddef.h>

#include "vqaprune/model.h"

/* ---------------------------------------------------------------------- */
/* Layout of the parameters                                               */
/* ---------------------------------------------------------------------- */

/*
 * One walk over the architecture: with base NULL it records the tensor
 * table of model (and counts), else it points at base (weights, gradients
 * or masked weights) in the same order.
 */
typedef struct VqaLayout
{
	VqaModel   *model;
	float	   *base;			/* NULL: record the tensor table */
	size_t		offset;			/* floats so far */
} VqaLayout;

/* A tensor [rows, cols] (cols 0: a vector of rows). */
float	   *vqa_layout_slot(VqaLayout *L, const char *name, int rows, int cols, VqaModule module,
							int prunable);

/* A linear layer "prefix.weight" [out, in] and "prefix.bias" [out], the bias never prunable. */
void		vqa_layout_linear(VqaLayout *L, const char *prefix, int out, int in, VqaModule module,
							  int prunable, float **w, float **b);

/*
 * A weight-normalised linear layer as PyTorch's weight_norm(dim=None) names
 * it: "prefix.weight_g" (a 0-dimensional gain), "prefix.weight_v" [out, in]
 * (the direction), "prefix.bias" [out].
 */
void		vqa_layout_weight_norm(VqaLayout *L, const char *prefix, int out, int in,
								   VqaModule module, float **g, float **v, float **b);

void		vqa_layout_layernorm(VqaLayout *L, const char *prefix, int size, VqaModule module,
								 float **w, float **b);

/* Q, K, V (prunable) under qkv_prefix; output dense (prunable) and LayerNorm under out_prefix. */
void		vqa_layout_attention(VqaLayout *L, const char *qkv_prefix, const char *out_prefix, int H,
								 VqaModule module, VqaAttentionWeights *a);

/* FFN: intermediate dense under inter, output dense and LayerNorm under out; both dense prunable. */
void		vqa_layout_ffn(VqaLayout *L, const char *inter, const char *out, int H, int I,
						   VqaModule module, VqaFfnWeights *f);

/* A BERT layer under prefix: attention.self, attention.output, intermediate, output. */
void		vqa_layout_bert_layer(VqaLayout *L, const char *prefix, int H, int I, VqaModule module,
								  VqaBertLayerWeights *w);

/*
 * The text embeddings under "embeddings.": word_embeddings (prunable, in
 * word_module), position_embeddings, token_type_embeddings and LayerNorm,
 * sized by the model's config.
 */
void		vqa_layout_text_embeddings(VqaLayout *L, VqaModule word_module,
									   VqaTextEmbeddingWeights *w);

/* ---------------------------------------------------------------------- */
/* A stack of BERT layers                                                 */
/* ---------------------------------------------------------------------- */

/*
 * The activations of n layers over B x T rows. Forward only, layer i reads
 * layer i - 1 alone, so two sets take turns.
 */
void		vqa_bert_layers_acts_take(VqaArena *arena, VqaBertLayerActs *acts, int n, int B, int T,
									  int H, int intermediate, int nh, int att_dropout,
									  int hid_dropout, int forward_only);

/*
 * n layers over x (B x T rows, bias B x T), the host's between_layers
 * before each; returns the last one's output (x when n is 0).
 */
const float *vqa_bert_layers_forward(VqaModel *model, VqaBlockContext *ctx, VqaBertLayerActs *acts,
									 const VqaBertLayerWeights *w, int n, const float *x,
									 const float *bias, int T);

/*
 * Their backward, last layer first, from the gradient in *dx of the last
 * output; x is the first layer's input and datt B x T x H scratch. The two
 * buffers *dx and *dx_in take turns, so at the end *dx holds x's gradient.
 */
void		vqa_bert_layers_backward(VqaModel *model, VqaBlockContext *ctx,
									 const VqaBertLayerActs *acts, const VqaBertLayerWeights *w,
									 VqaBertLayerWeights *g, int n, const float *x, float **dx,
									 float **dx_in, float *datt, int T);

/* ---------------------------------------------------------------------- */
/* Config keys                                                            */
/* ---------------------------------------------------------------------- */

struct yajl_val_s;

/* A key of a config JSON object and the VqaModelConfig field it sets. */
typedef struct VqaConfigKey
{
	const char *name;
	size_t		offset;			/* of an int (integers, booleans) or a float field */
} VqaConfigKey;

/* The value of a key, NULL if absent or null. */
struct yajl_val_s *vqa_config_get(struct yajl_val_s *root, const char *name);

/* Reads the integer keys present into config; 0, or -1 with a message naming the key. */
int			vqa_config_read_ints(struct yajl_val_s *root, const VqaConfigKey *keys, size_t n,
								 VqaModelConfig *config, char *errbuf, size_t errlen);

/*
 * A zeroed config of type with the defaults of HuggingFace's BERT-base
 * configs (sizes, LayerNorm epsilon, dropouts, HuggingFace's head) and
 * vqaprune's question encoding (question_tokens ids, special tokens,
 * padding ignored): what LxmertConfig and VisualBertConfig share.
 */
void		vqa_config_bert_defaults(VqaModelConfig *config, VqaModelType type,
									 int question_tokens);

/*
 * The keys every model type reads alike: layer_norm_eps, the dropouts,
 * question_tokens, special_tokens, attention_mask, and answer_head, one of
 * answer_heads (index = VqaAnswerHead). 0, or -1 with a message.
 */
int			vqa_config_read_shared(struct yajl_val_s *root, const char *const answer_heads[2],
								   VqaModelConfig *config, char *errbuf, size_t errlen);

/*
 * vqa_model_config_check, then the question encoding fitted (an absent
 * question_tokens shrinks to max_position_embeddings) and checked. 0, or -1
 * with "invalid MODEL_NAME config: ...".
 */
int			vqa_config_finish(struct yajl_val_s *root, VqaModelConfig *config,
							  const char *model_name, char *errbuf, size_t errlen);

/*
 * JSON writers: they append ", \"key\": value" pairs at out + n (out has
 * size bytes) and return the new length. The shared keys' writer closes
 * the object; it writes answer_head, question_tokens and the booleans only
 * when they are not the defaults, which HuggingFace's configs leave out.
 */
size_t		vqa_config_json_ints(char *out, size_t size, size_t n, const VqaConfigKey *keys,
								 size_t count, const VqaModelConfig *config);
size_t		vqa_config_json_shared(char *out, size_t size, size_t n, const VqaModelConfig *config,
								   const char *const answer_heads[2], int default_question_tokens);

#endif
