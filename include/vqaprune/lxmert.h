/*
 * lxmert.h: LXMERT for visual question answering, wired from the blocks
 * (blocks.h) behind the model API (model.h).
 *
 * The architecture of HuggingFace's LxmertForQuestionAnswering: word,
 * position and token-type embeddings; a visual feature encoder
 * ((LN(visn_fc(f)) + LN(box_fc(b))) / 2); L BERT layers on language, R on
 * vision; X cross-modality layers (one cross-attention shared by both
 * directions, then language and vision self-attention, then two FFNs); a
 * pooler tanh(W h_[CLS]); and the VQA answer head (Linear 2H, GeLU,
 * LayerNorm, Linear A) or the SimpleClassifier.
 */
#ifndef VQAPRUNE_LXMERT_H
#define VQAPRUNE_LXMERT_H

#include "vqaprune/model.h"

/* The std of HuggingFace's initialisation of weights (initializer_range). */
#define LXMERT_INITIALIZER_RANGE 0.02f

/* Ids per question unless the config says otherwise: LXMERT's fine-tuning length. */
#define LXMERT_DEFAULT_QUESTION_TOKENS 20

typedef struct LxmertXLayerWeights
{
	VqaAttentionWeights cross;	/* visual_attention, both directions */
	VqaAttentionWeights lang_self;
	VqaAttentionWeights visn_self;
	VqaFfnWeights lang_ffn;
	VqaFfnWeights visn_ffn;
} LxmertXLayerWeights;

/* Pointers into one buffer of the parameter layout (weights or gradients). */
typedef struct LxmertWeights
{
	VqaTextEmbeddingWeights emb;
	float	   *visn_fc_w,
			   *visn_fc_b,
			   *visn_ln_w,
			   *visn_ln_b;
	float	   *box_fc_w,
			   *box_fc_b,
			   *box_ln_w,
			   *box_ln_b;
	VqaBertLayerWeights *l_layers;
	VqaBertLayerWeights *r_layers;
	LxmertXLayerWeights *x_layers;
	float	   *pooler_w,
			   *pooler_b;
	/* the answer head: HuggingFace's (logit_fc), or the SimpleClassifier */
	float	   *head_fc0_w,
			   *head_fc0_b,
			   *head_ln_w,
			   *head_ln_b,
			   *head_fc3_w,
			   *head_fc3_b;
	VqaSimpleClassifierWeights classifier;
} LxmertWeights;

/* LXMERT's implementation of the model API (lxmert.c, lxmert_config.c). */
extern const VqaModelOps vqa_lxmert_ops;

/*
 * LxmertConfig's keys of a parsed JSON object over LXMERT base's defaults,
 * then vqa_model_config_check; 0, or -1 with a message.
 */
int			lxmert_config_parse(struct yajl_val_s *root, VqaModelConfig *config, char *errbuf,
								size_t errlen);
char	   *lxmert_config_to_json(const VqaModelConfig *config);

/*
 * Hidden states of the last forward pass, as HuggingFace returns them:
 * language index 0 .. l_layers + x_layers - 1, vision 0 .. r_layers +
 * x_layers - 1. NULL if out of range.
 */
const float *lxmert_language_state(const VqaModel *model, int index);
const float *lxmert_vision_state(const VqaModel *model, int index);

#endif
