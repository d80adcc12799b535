/*
 * model.h: a vision-language model for visual question answering, whatever
 * its type (LXMERT, lxmert.h; VisualBERT), as the hosts see it: config,
 * tensor table, parameters, masks, forward and backward passes, gradients.
 *
 * As in llm.c, all parameters live in one contiguous float buffer, described
 * by a table of tensors (HuggingFace names and shapes, module, prunable);
 * gradients, masks, mask scores and an optimizer's moments are parallel
 * buffers with the same layout. The paper's prunable set theta_pr is the set of tensors
 * flagged prunable. Each type provides its layout, its wiring of the blocks
 * (blocks.h) and its config keys through a VqaModelOps; model.c dispatches
 * on config.model_type.
 */
#ifndef VQAPRUNE_MODEL_H
#define VQAPRUNE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "vqaprune/blocks.h"

/*
 * The answer head: HuggingFace's of the model type (LXMERT's: Linear 2H,
 * GeLU, LayerNorm, Linear A), or the paper authors' SimpleClassifier
 * (weight-normalised Linear 2H, ReLU, dropout 0.5, weight-normalised Linear
 * A; one gain per matrix).
 */
typedef enum VqaAnswerHead
{
	VQA_HEAD_HUGGINGFACE,
	VQA_HEAD_SIMPLE_CLASSIFIER
} VqaAnswerHead;

typedef enum VqaModelType
{
	VQA_MODEL_LXMERT,			/* "model_type": "lxmert", the default */
	VQA_MODEL_VISUAL_BERT		/* "visual_bert" */
} VqaModelType;

typedef struct VqaModelConfig
{
	VqaModelType model_type;

	/* every type's, with HuggingFace's names */
	int			vocab_size;
	int			hidden_size;
	int			num_attention_heads;
	int			intermediate_size;
	int			visual_feat_dim;
	int			num_qa_labels;
	int			max_position_embeddings;
	int			type_vocab_size;
	float		layer_norm_eps;
	float		hidden_dropout_prob;
	float		attention_probs_dropout_prob;
	VqaAnswerHead answer_head;

	/*
	 * How questions are encoded for this model (it is trained and evaluated
	 * with one encoding): question_tokens ids per question; [CLS] and [SEP]
	 * around the word pieces or not; padded positions ignored by attention
	 * (the JSON key "attention_mask"), or every position attended. The
	 * authors' model: 14, no specials, padding attended.
	 */
	int			question_tokens;
	int			special_tokens;
	int			ignore_padding;

	/*
	 * 1: every batch is question_tokens long ("padding": "fixed"); 0: a
	 * batch is as long as its longest question ("batch", the default with
	 * the attention mask: masked padding changes no real token's output).
	 * Without the mask the padding is attended, so only "fixed" is allowed.
	 */
	int			fixed_padding;

	/* LXMERT's own: its layer counts and box coordinates */
	int			l_layers;
	int			r_layers;
	int			x_layers;
	int			visual_pos_dim;

	/* VisualBERT's own: its layer count, and the word embeddings' padding_idx */
	int			num_hidden_layers;
	int			pad_token_id;
} VqaModelConfig;

/* Which part of the model a tensor belongs to (the paper's modules). */
typedef enum VqaModule
{
	LXMERT_LANGUAGE,			/* word embeddings and the L layers */
	LXMERT_VISUAL,				/* visn_fc, box_fc and the R layers */
	LXMERT_CROSS,				/* the X layers */
	LXMERT_POOLER,
	LXMERT_EMBEDDINGS_OTHER,	/* position / token type embeddings, LNs; VisualBERT's
								 * visual_projection too */
	LXMERT_HEAD,				/* the answer head */
	VQA_MODULE_ENCODER			/* VisualBERT's single stream: word embeddings and the
								 * encoder layers (its pooler is LXMERT_POOLER) */
} VqaModule;

typedef struct VqaTensor
{
	char		name[96];		/* HuggingFace name, without the type's prefix ("lxmert.") */
	int			ndim;			/* 0 (a scalar), 1 or 2 */
	int			shape[2];
	size_t		offset;			/* in floats, into the parameter buffer */
	size_t		numel;
	VqaModule module;
	int			prunable;		/* in theta_pr: a weight matrix of the model */
} VqaTensor;

/* One batch of inputs. token_type_ids may be NULL (all 0). */
typedef struct VqaBatch
{
	int			batch;			/* B */
	int			seq_len;		/* T, at most max_position_embeddings */
	int			num_boxes;		/* N */
	const int32_t *input_ids;	/* B x T */
	const int32_t *attended;	/* B x T, 1 = attended, 0 = padding; NULL: all attended */
	const int32_t *token_type_ids;	/* B x T, or NULL */
	const float *visual_feats;	/* B x N x visual_feat_dim */
	const float *visual_pos;	/* B x N x visual_pos_dim */
} VqaBatch;

/*
 * The activation arena of the last forward pass: what the backward pass
 * needs, in one buffer sized for the largest batch seen; layout holds the
 * type's pointers into it.
 */
typedef struct VqaActivations
{
	int			B,
				T,
				N;				/* the shape of the last forward pass */
	int			threads;		/* worker threads the scratch is sized for */
	int			forward_only;	/* laid out for the forward pass alone */
	size_t		capacity;		/* floats in the arena */
	float	   *arena;
	VqaBatch	batch;			/* the last forward pass's inputs (not copied), for backward */
	void	   *layout;
} VqaActivations;

struct VqaCsr;
struct VqaModelOps;

typedef struct VqaModel
{
	VqaModelConfig config;
	int			n_tensors;
	VqaTensor *tensors;
	size_t		n_params;
	float	   *params;			/* the weights */
	float	   *grads;			/* dL/d(weights used in the forward pass); made by the
								 * first vqa_model_zero_grad */
	float	   *mask;			/* NULL, or 1/0 per parameter: forward uses params * mask */
	float	   *masked;			/* params * mask, when mask is set */
	const struct VqaModelOps *ops;	/* of config.model_type */
	void	   *weights;		/* the type's weights struct: over params, or masked when a
								 * mask is set */
	void	   *grad_weights;	/* the same over grads */
	VqaActivations *acts;		/* sized for the largest batch seen */
	struct VqaCsr **sparse;		/* NULL, or per tensor: a sparse form for evaluation */
	/*
	 * 1: the sparse forms are trainable and used in training too (Stage 3
	 * on sparse weights, vqa_model_train_sparse); their values are the
	 * weights, copied to params by vqa_model_sparse_to_params.
	 */
	int			sparse_training;
	uint64_t	dropout_seed;
	uint64_t	dropout_step;
	int			training;		/* dropout on */
	/*
	 * Set by a host that only evaluates: the forward pass keeps nothing for
	 * a backward pass (two buffers per kind of layer, reused layer by layer;
	 * no dropout masks, no backward scratch), so vqa_model_backward and the
	 * per-layer hidden states are not available. Not with training.
	 */
	int			forward_only;
	/*
	 * Called on the calling thread between layers, forward and backward, with
	 * no worker busy: a host may stop a long pass there (a PostgreSQL backend
	 * checks for interrupts). NULL: none.
	 */
	void		(*between_layers) (void);
} VqaModel;

/* HuggingFace's defaults of LXMERT base (lxmert_config.c). */
void		vqa_model_config_default(VqaModelConfig *config);

/*
 * A config from JSON with HuggingFace's keys of its "model_type" (absent:
 * "lxmert"; or "visual_bert"); absent keys keep the type's defaults,
 * unknown keys are ignored, the other type's structural keys are refused.
 * 0, or -1 with a message.
 */
int			vqa_model_config_parse(const char *json, VqaModelConfig *config,
								char *errbuf, size_t errlen);

/* The config as a JSON object (malloc'd), HuggingFace's keys. */
char	   *vqa_model_config_to_json(const VqaModelConfig *config);

/* Checks a config; NULL if valid, else a static message. */
const char *vqa_model_config_check(const VqaModelConfig *config);

/* Allocates a model with zeroed parameters; NULL with errbuf on failure. */
VqaModel *vqa_model_new(const VqaModelConfig *config, char *errbuf, size_t errlen);

/*
 * Normal(0, std) weights, zero biases, LayerNorm 1 / 0, from seed; a
 * simple_classifier head as the authors' code leaves it: directions uniform
 * in +-1/sqrt(fan_in), gains their norms, biases 0.
 */
void		vqa_model_init_random(VqaModel *model, uint64_t seed, float std);

/* The same for the answer head's tensors only: a fresh head on a given body. */
void		vqa_model_init_head(VqaModel *model, uint64_t seed, float std);

/* The tensor of a HuggingFace name, with or without the type's prefix ("lxmert."); NULL if none. */
const VqaTensor *vqa_model_find_tensor(const VqaModel *model, const char *name);

/*
 * Sets a pruning mask (n_params values, 1 keep / 0 prune; copied) or clears
 * it with NULL. Until the next call with new weights, vqa_model_refresh_mask
 * must follow every change of params.
 */
int			vqa_model_set_mask(VqaModel *model, const float *mask);
void		vqa_model_refresh_mask(VqaModel *model);

/*
 * Forward pass: logits (B x num_qa_labels). Keeps what the backward pass
 * needs. Returns 0, or -1 when the batch does not fit the config or memory
 * runs out. With targets (B x A soft scores), *loss receives LXMERT's VQA
 * loss, mean BCE with logits times A.
 */
int			vqa_model_forward(VqaModel *model, const VqaBatch *batch,
						   float *logits, const float *targets, float *loss);

/* Zeroes the gradients, allocating them the first time; -1 if out of memory. */
int			vqa_model_zero_grad(VqaModel *model);

/*
 * Backward pass of the last forward from dlogits (B x A) and, if not NULL,
 * dpooled (B x H, a loss's gradient of the pooled output, as LMH's gate
 * has), accumulated into grads. vqa_bce_grad (losses.h) gives dlogits of
 * the VQA loss. Returns -1 (doing nothing) without vqa_model_zero_grad's gradients or
 * after a forward_only pass.
 */
int			vqa_model_backward(VqaModel *model, const float *dlogits, const float *dpooled);

/*
 * Sizes the activation arena for batches of up to B questions of T tokens
 * and N boxes, so that the shorter batches of per-batch padding reuse it:
 * grown batch by batch instead, each growth is a new arena whose pages the
 * kernel zeroes on first touch, seconds at base shape. 0, or -1 if the
 * shape is out of range or memory runs out.
 */
int			vqa_model_reserve(VqaModel *model, int B, int T, int N);

/* Bytes of the activation arena, as large as the largest batch made it. */
size_t		vqa_model_activation_bytes(const VqaModel *model);

/*
 * Bytes the activation arena needs for a batch of B questions of T tokens
 * and N boxes, with the worker threads of now; 0 if out of memory.
 */
size_t		vqa_model_activation_bytes_for(const VqaModelConfig *config, int B, int T, int N,
										int forward_only);

/*
 * The B x H vector of the last forward pass that the answer head reads, as
 * a debiasing loss's gate reads it (vqa_model_backward's dpooled is its
 * gradient): the pooled output (after tanh), or for VisualBERT's
 * HuggingFace head the gathered hidden state (visual_bert.h).
 */
const float *vqa_model_pooled(const VqaModel *model);

/* L2 norm of all gradients, and scaling them (gradient clipping). */
double		vqa_model_grad_norm(const VqaModel *model);
void		vqa_model_scale_grads(VqaModel *model, float scale);

/* Stage 3: the pruned weights' gradients zeroed (grads *= mask), if a mask is set. */
void		vqa_model_mask_grads(VqaModel *model);

/*
 * Turns the gradients of the prunable tensors, in place, into the
 * straight-through gradient of mask scores: d score = dL/d(W*M) * W. Other
 * tensors' gradients are left as they are.
 */
void		vqa_model_score_grad(VqaModel *model);

/*
 * Sparse forms (sparse.h) of the prunable linear weights that keep at most
 * max_density of their weights under the current mask: forward passes with
 * training off use them. Call again after the weights or the mask change.
 * 0, or -1 when memory runs out (then none are used).
 */
int			vqa_model_use_sparse(VqaModel *model, double max_density);

/*
 * The same for Stage 3 on a masked model: trainable sparse forms
 * (vqa_csr_make_trainable), used by the forward and backward passes in
 * training. Until they are dropped, a tensor with one keeps its gradient in
 * the sparse form (its dense gradient stays as vqa_model_zero_grad left it,
 * zero) and its masked copy is not kept up to date: the gradient and mask
 * functions skip it. 0, or -1 when memory runs out (no sparse forms then).
 */
int			vqa_model_train_sparse(VqaModel *model, double max_density);

/* The sparse forms' values into params and their transposes, and the masked weights refreshed. */
void		vqa_model_sparse_to_params(VqaModel *model);

/* params' values into the sparse forms (after params were loaded). */
void		vqa_model_params_to_sparse(VqaModel *model);

/* Frees the sparse forms; trained ones first leave their values in params and the masked copy. */
void		vqa_model_drop_sparse(VqaModel *model);

/* Floating-point operations of one training step (forward + backward). */
double		vqa_model_train_flops(const VqaModelConfig *config, int batch, int seq_len, int num_boxes);

void		vqa_model_free(VqaModel *model);


/* ---------------------------------------------------------------------- */
/* For the model types: what each provides, and what model.c gives them   */
/* ---------------------------------------------------------------------- */

struct yajl_val_s;

typedef struct VqaModelOps
{
	VqaModelType type;
	const char *type_name;		/* "model_type" in a config: "lxmert" */
	const char *name;			/* in messages: "LXMERT" */
	const char *tensor_prefix;	/* HuggingFace's prefix of the body's names: "lxmert." */
	/* the output layer of HuggingFace's answer head, one row per answer: "answer_head.logit_fc.3" */
	const char *answer_output;
	/* a body tensor only this type has, to tell its checkpoints apart (without the prefix) */
	const char *signature_tensor;

	/* the type's config keys over its defaults; checks with vqa_model_config_check */
	int			(*config_parse) (struct yajl_val_s *root, VqaModelConfig *config,
								 char *errbuf, size_t errlen);
	char	   *(*config_to_json) (const VqaModelConfig *config);
	/* the type's own fields; NULL if valid (the common ones are checked first) */
	const char *(*config_check) (const VqaModelConfig *config);

	/* parameters: tensors in the layout, and the weights struct over one buffer */
	int			(*tensor_count) (const VqaModelConfig *config);
	void	   *(*weights_new) (const VqaModelConfig *config);
	void		(*weights_free) (void *weights);
	/* base NULL: records the tensor table; else points weights into base. Returns floats. */
	size_t		(*layout) (VqaModel *model, float *base, void *weights);
	int			(*is_norm_tensor) (const char *name);	/* initialised to 1, not drawn */
	/* after a random initialisation of every tensor: rows HuggingFace zeroes; NULL: none */
	void		(*zero_padding_rows) (VqaModel *model);

	/* activations: counts (base NULL) or points layout into base; returns floats */
	void	   *(*acts_new) (const VqaModelConfig *config);
	void		(*acts_free) (void *layout);
	size_t		(*acts_layout) (void *layout, const VqaModelConfig *config, int B, int T, int N,
								int threads, int forward_only, float *base);

	/* passes over a checked batch and a reserved arena */
	void		(*forward) (VqaModel *model, const VqaBatch *batch, float *logits);
	void		(*backward) (VqaModel *model, const float *dlogits, const float *dpooled);
	const float *(*pooled) (const VqaModel *model);
	double		(*train_flops) (const VqaModelConfig *config, int B, int T, int N);
} VqaModelOps;

/* The implementation of a model type; NULL if vqaprune has none. */
const VqaModelOps *vqa_model_ops(VqaModelType type);

/* The context of the blocks (blocks.h) of one pass of B examples over the model. */
void		vqa_model_block_context(VqaModel *model, VqaBlockContext *ctx, VqaBlockScratch *scratch,
									int B);

/* Calls the host's between_layers, if any. */
void		vqa_model_between_layers(const VqaModel *model);

#endif
