/*
 * visual_bert.h: VisualBERT for visual question answering, wired from the
 * blocks (blocks.h) behind the model API (model.h).
 *
 * The architecture of HuggingFace's VisualBertModel: text embeddings
 * (word + token type + position) and visual embeddings (visual_projection
 * of the region features + visual token type 1 + visual position 0),
 * concatenated text first, through one LayerNorm and dropout; a
 * single-stream BERT encoder of num_hidden_layers layers over the T + N
 * positions, the text's padding masked and every region attended; the
 * pooler tanh(W h_0). Boxes (visual_pos) are not read.
 *
 * Two answer heads:
 *  - HuggingFace's VisualBertForQuestionAnswering: the last hidden state at
 *    text position attended.sum - 2 (the token before the final
 *    [SEP]; position 0 if a question has fewer than two attended tokens,
 *    where HuggingFace fails), dropout, cls = Linear(H, A);
 *  - the paper authors': dropout on the pooled output, then cls =
 *    SimpleClassifier (cls.main.0 / cls.main.3).
 *
 * Tensors have HuggingFace's names without "visual_bert." for the body; the
 * heads are "cls.*". Modules: the word embeddings and the encoder layers are
 * VQA_MODULE_ENCODER, the pooler LXMERT_POOLER, the other embeddings,
 * visual_projection and LayerNorms LXMERT_EMBEDDINGS_OTHER, the head
 * LXMERT_HEAD. theta_pr is the authors' weight_types K, Q, V, AO, I, O, P,
 * E: every layer's query, key, value, attention output, intermediate and
 * output weights, the pooler's and the word embeddings.
 */
#ifndef VQAPRUNE_VISUAL_BERT_H
#define VQAPRUNE_VISUAL_BERT_H

#include "vqaprune/model.h"

/* Ids per question unless the config says otherwise, as LXMERT's. */
#define VISUAL_BERT_DEFAULT_QUESTION_TOKENS 20

/* Pointers into one buffer of the parameter layout (weights or gradients). */
typedef struct VisualBertWeights
{
	VqaTextEmbeddingWeights emb;
	float	   *visual_type_emb,
			   *visual_pos_emb,
			   *visual_proj_w,
			   *visual_proj_b;
	VqaBertLayerWeights *layers;
	float	   *pooler_w,
			   *pooler_b;
	/* the answer head: HuggingFace's (cls), or the SimpleClassifier (cls.main) */
	float	   *cls_w,
			   *cls_b;
	VqaSimpleClassifierWeights classifier;
} VisualBertWeights;

/* VisualBERT's implementation of the model API (visual_bert.c, visual_bert_config.c). */
extern const VqaModelOps vqa_visual_bert_ops;

/* HuggingFace's VisualBertConfig defaults (VisualBERT base, 2 answers). */
void		visual_bert_config_default(VqaModelConfig *config);

/*
 * VisualBertConfig's keys of a parsed JSON object over its defaults, then
 * vqa_model_config_check; 0, or -1 with a message.
 */
int			visual_bert_config_parse(struct yajl_val_s *root, VqaModelConfig *config,
									 char *errbuf, size_t errlen);
char	   *visual_bert_config_to_json(const VqaModelConfig *config);
const char *visual_bert_config_check(const VqaModelConfig *config);

/*
 * Hidden states of the last forward pass as HuggingFace's
 * output_hidden_states gives them, B x (T + N) x H: index 0 the embedding
 * output, i the output of layer i. NULL if out of range.
 */
const float *visual_bert_hidden_state(const VqaModel *model, int index);

/* The pooler's output (B x H) of the last forward pass, whichever the head. */
const float *visual_bert_pooler_output(const VqaModel *model);

#endif
