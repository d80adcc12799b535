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

/* Reads the keys present into config; 0, or -1 with a message naming the key. */
int			vqa_config_read_ints(struct yajl_val_s *root, const VqaConfigKey *keys, size_t n,
								 VqaModelConfig *config, char *errbuf, size_t errlen);
int			vqa_config_read_bools(struct yajl_val_s *root, const VqaConfigKey *keys, size_t n,
								  VqaModelConfig *config, char *errbuf, size_t errlen);
int			vqa_config_read_floats(struct yajl_val_s *root, const VqaConfigKey *keys, size_t n,
								   VqaModelConfig *config, char *errbuf, size_t errlen);

/*
 * "answer_head": one of names (index = VqaAnswerHead); absent keeps the
 * config's. 0, or -1 with a message listing the names.
 */
int			vqa_config_read_answer_head(struct yajl_val_s *root, const char *const names[2],
										VqaModelConfig *config, char *errbuf, size_t errlen);

/*
 * The question encoding's defaults fitted and checked: an absent
 * question_tokens shrinks to max_position_embeddings; NULL if valid, else a
 * static message.
 */
const char *vqa_config_fit_question_tokens(struct yajl_val_s *root, VqaModelConfig *config);

/*
 * "padding": "batch" or "fixed" (absent: "batch" with the attention mask,
 * "fixed" without); NULL if valid, else a static message.
 */
const char *vqa_config_read_padding(struct yajl_val_s *root, VqaModelConfig *config);

/* The config's "padding" key for its JSON, ", \"padding\": \"fixed\"", or "" when the default. */
const char *vqa_config_padding_json(const VqaModelConfig *config);

/* The shortest decimal that reads back as the same float, into text (32 bytes). */
void		vqa_config_format_float(char *text, size_t size, float value);

#endif
