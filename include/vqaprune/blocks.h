/*
 * blocks.h: the transformer building blocks every backbone is wired from,
 * each a forward and a backward kernel in plain C on CBLAS: linear (dense,
 * or a sparse CSR form of its weight), LayerNorm, GeLU, dropout, softmax
 * attention with a key-padding bias, the attention layer (self or cross:
 * attention, output dense, residual, LayerNorm), the feed-forward block, the
 * BERT layer, the pooler, weight norm and the SimpleClassifier head.
 *
 * Shapes: B batch, T (Tq, Tk) rows per example, H hidden, I intermediate,
 * nh heads, hs = H / nh. Tensors are row-major, B*T rows of H.
 *
 * A forward kernel keeps, in its activation struct, what its backward kernel
 * needs; backward kernels accumulate (+=) into the weight gradients and into
 * the input gradient unless they say otherwise. Activation structs point
 * into one arena (VqaArena): a backbone lays them out twice, counting with a
 * NULL base, then pointing.
 *
 * Numerics follow HuggingFace: exact erf GeLU, LayerNorm with biased
 * variance, padding keys biased by the most negative float, inverted
 * dropout whose keep flags are drawn in order on the calling thread.
 */
#ifndef VQAPRUNE_BLOCKS_H
#define VQAPRUNE_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "vqaprune/rng.h"

struct VqaCsr;

/* The dropout of the SimpleClassifier head while training, as the paper's authors use it. */
#define VQA_SIMPLE_CLASSIFIER_DROPOUT 0.5f

/* ---------------------------------------------------------------------- */
/* Weights (or gradients: the same structs over the gradient buffer)      */
/* ---------------------------------------------------------------------- */

/* One attention layer: Q, K, V, output dense, LayerNorm. */
typedef struct VqaAttentionWeights
{
	float	   *q_w,
			   *q_b,
			   *k_w,
			   *k_b,
			   *v_w,
			   *v_b,
			   *o_w,
			   *o_b,
			   *ln_w,
			   *ln_b;
} VqaAttentionWeights;

/* One feed-forward block: intermediate, output dense, LayerNorm. */
typedef struct VqaFfnWeights
{
	float	   *i_w,
			   *i_b,
			   *o_w,
			   *o_b,
			   *ln_w,
			   *ln_b;
} VqaFfnWeights;

typedef struct VqaBertLayerWeights
{
	VqaAttentionWeights att;
	VqaFfnWeights ffn;
} VqaBertLayerWeights;

/*
 * The paper authors' SimpleClassifier: weight-normalised Linear(in, hid),
 * ReLU, dropout, weight-normalised Linear(hid, out); W = g v / |v| with one
 * scalar gain per matrix.
 */
typedef struct VqaSimpleClassifierWeights
{
	float	   *fc0_g,
			   *fc0_v,
			   *fc0_b,
			   *fc3_g,
			   *fc3_v,
			   *fc3_b;
} VqaSimpleClassifierWeights;

/* ---------------------------------------------------------------------- */
/* Activations                                                            */
/* ---------------------------------------------------------------------- */

typedef struct VqaAttentionActs
{
	float	   *q,
			   *k,
			   *v;				/* B*Tq rows x H of the queries, B*Tk of the keys and values */
	float	   *probs;			/* B x nh x Tq x Tk, softmax before dropout */
	unsigned char *probs_keep;	/* dropout's keep flags, NULL without dropout */
	float	   *ctx;			/* B*Tq x H: the heads' output */
	unsigned char *out_keep;
	float	   *sum;			/* dense(ctx) + input: the LayerNorm's input */
	float	   *mean,
			   *rstd;
	float	   *out;
} VqaAttentionActs;

typedef struct VqaFfnActs
{
	float	   *pre;			/* rows x I, before GeLU */
	float	   *act;			/* after GeLU */
	unsigned char *keep;
	float	   *sum,
			   *mean,
			   *rstd,
			   *out;
} VqaFfnActs;

typedef struct VqaBertLayerActs
{
	VqaAttentionActs att;
	VqaFfnActs	ffn;
} VqaBertLayerActs;

typedef struct VqaSimpleClassifierActs
{
	float	   *pre,			/* B x hid, before ReLU */
			   *act;			/* after ReLU and dropout */
	float	   *w0,				/* the effective weights g v/|v|: hid x in */
			   *w3;				/* out x hid */
	double		vnorm[2];		/* |v| of both layers */
	unsigned char *keep;		/* dropout's keep flags, NULL when only evaluating */
	float	   *dw;				/* backward: dL/dW of one layer */
} VqaSimpleClassifierActs;

/* Backward scratch the blocks of one pass share (only one block runs at a time). */
typedef struct VqaBlockScratch
{
	float	   *dq,
			   *dk,
			   *dv,
			   *dctx,
			   *dsum;			/* rows x H, rows the most any block has */
	float	   *dinter;			/* rows x I */
	float	   *dprobs,
			   *pdrop;			/* stride floats per worker thread */
	int			stride;			/* Tmax x Tmax, Tmax the longest row count per example */
} VqaBlockScratch;

/* Counts (base NULL) or takes 64-byte aligned blocks of floats from one buffer. */
typedef struct VqaArena
{
	float	   *base;
	size_t		used;			/* floats */
} VqaArena;

float	   *vqa_arena_take(VqaArena *arena, size_t n);

/* Dropout's keep flags, n bytes, or NULL (and nothing taken) without dropout. */
unsigned char *vqa_arena_take_keep(VqaArena *arena, size_t n, int dropout);

/* B*Tq queries against B*Tk keys; the dropout flags say which keep flags to take. */
void		vqa_attention_acts_take(VqaArena *arena, VqaAttentionActs *acts, int B, int Tq, int Tk,
									int H, int nh, int att_dropout, int hid_dropout);
void		vqa_ffn_acts_take(VqaArena *arena, VqaFfnActs *acts, size_t rows, int H, int intermediate,
							  int dropout);
void		vqa_bert_layer_acts_take(VqaArena *arena, VqaBertLayerActs *acts, int B, int T,
									 int H, int intermediate, int nh, int att_dropout, int hid_dropout);

/*
 * The SimpleClassifier's own buffers; pre and act (B x hid each) are the
 * caller's, which may share them with another head.
 */
void		vqa_simple_classifier_acts_take(VqaArena *arena, VqaSimpleClassifierActs *acts,
											float *pre, float *act, int B, int in, int hid,
											int out, int forward_only);

/* For blocks of at most rows rows (all examples) and Tmax per example, with threads workers. */
void		vqa_block_scratch_take(VqaArena *arena, VqaBlockScratch *scratch, size_t rows,
								   int H, int intermediate, int Tmax, int threads);

/* ---------------------------------------------------------------------- */
/* The context of one pass                                                */
/* ---------------------------------------------------------------------- */

/*
 * What the blocks of one forward or backward pass share. Element-wise work
 * and attention heads run on the core's worker pool (parallel.h).
 */
typedef struct VqaBlockContext
{
	int			B;
	int			H;
	int			intermediate;	/* I (not a field named I: complex.h defines it) */
	int			nh;
	float		eps;			/* LayerNorm */
	float		p_hidden;		/* dropout probabilities, 0 when not training */
	float		p_att;
	int			training;		/* the SimpleClassifier's dropout on */
	VqaRng		rng;			/* dropout's keep flags, drawn in the forward pass */
	VqaBlockScratch *scratch;
	/*
	 * The sparse form of a weight matrix, if the linear layer should use it,
	 * else NULL; sparse NULL: always dense.
	 */
	struct VqaCsr *(*sparse) (const void *owner, const float *w);
	const void *sparse_owner;
} VqaBlockContext;

/* ---------------------------------------------------------------------- */
/* Kernels                                                                */
/* ---------------------------------------------------------------------- */

/* out[M, OC] = inp[M, IC] W[OC, IC]^T + b (b may be NULL); sparse when the context says so. */
void		vqa_linear_forward(const VqaBlockContext *ctx, float *out, const float *inp,
							   const float *w, const float *b, int M, int IC, int OC);

/*
 * dinp (if not NULL) += dout W, dw += dout^T inp, db (if not NULL) += sum of
 * dout's rows. A weight with a trainable sparse form (Stage 3 on sparse
 * weights) takes its gradient there, at the kept weights only, not in dw.
 */
void		vqa_linear_backward(const VqaBlockContext *ctx, float *dinp, float *dw, float *db,
								const float *dout, const float *inp, const float *w, int M,
								int IC, int OC);

/* LayerNorm over rows of C, keeping mean and 1/std for the backward pass. */
void		vqa_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
								  const float *w, const float *b, int M, int C, float eps);
void		vqa_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
								   const float *inp, const float *w, const float *mean,
								   const float *rstd, int M, int C);

/* Exact GeLU, x Phi(x), as HuggingFace's "gelu"; its backward may write dinp over dout. */
void		vqa_gelu_forward(float *out, const float *inp, size_t n);
void		vqa_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* out += in, element-wise */
void		vqa_add_inplace(float *out, const float *in, size_t n);

/* Inverted dropout in place; keep records the surviving positions. */
void		vqa_dropout_forward(float *x, unsigned char *keep, size_t n, float p, VqaRng *rng);
void		vqa_dropout_backward(float *dx, const unsigned char *keep, size_t n, float p);

/*
 * The additive bias of attention keys: 0 where attended (attended NULL:
 * everywhere), the most negative float on padding.
 */
void		vqa_key_padding_bias(float *bias, const int32_t *attended, size_t n);

/* ---------------------------------------------------------------------- */
/* Layers                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * One attention layer: queries from x (B x Tq rows), keys and values from kv
 * (B x Tk rows; x itself for self-attention), kv_bias (B x Tk additive),
 * then output dense, dropout, residual and LayerNorm into acts->out.
 */
void		vqa_attention_forward(VqaBlockContext *ctx, VqaAttentionActs *acts,
								  const VqaAttentionWeights *w, const float *x, const float *kv,
								  const float *kv_bias, int Tq, int Tk);

/*
 * From dout, the gradient of acts->out: adds to dx (x's gradient) and dkv
 * (kv's; the same buffer for self-attention).
 */
void		vqa_attention_backward(VqaBlockContext *ctx, const VqaAttentionActs *acts,
								   const VqaAttentionWeights *w, VqaAttentionWeights *g,
								   const float *dout, const float *x, const float *kv, float *dx,
								   float *dkv, int Tq, int Tk);

/* FFN: GeLU(x W_i) W_o, dropout, residual, LayerNorm, over rows rows of x. */
void		vqa_ffn_forward(VqaBlockContext *ctx, VqaFfnActs *acts, const VqaFfnWeights *w,
							const float *x, size_t rows);
void		vqa_ffn_backward(VqaBlockContext *ctx, const VqaFfnActs *acts, const VqaFfnWeights *w,
							 VqaFfnWeights *g, const float *dout, const float *x, float *dx,
							 size_t rows);

/* A BERT layer: self-attention over x (B x T rows, bias B x T), then the FFN (acts->ffn.out). */
void		vqa_bert_layer_forward(VqaBlockContext *ctx, VqaBertLayerActs *acts,
								   const VqaBertLayerWeights *w, const float *x, const float *bias,
								   int T);

/* dx receives (zeroed first) the gradient of x; datt is B x T x H scratch. */
void		vqa_bert_layer_backward(VqaBlockContext *ctx, const VqaBertLayerActs *acts,
									const VqaBertLayerWeights *w, VqaBertLayerWeights *g,
									const float *dout, const float *x, float *datt, float *dx,
									int T);

/* The pooler: cls (B x H) = row 0 of each example of x (B x T x H), pooled = tanh(cls W^T + b). */
void		vqa_pooler_forward(const VqaBlockContext *ctx, float *cls, float *pooled,
							   const float *x, const float *w, const float *b, int T);

/*
 * From dpooled (B x H; turned in place into the gradient before tanh):
 * dx (B x T x H) is zeroed and receives the gradient of x's row 0 of each
 * example; dcls is B x H scratch.
 */
void		vqa_pooler_backward(const VqaBlockContext *ctx, float *dx, float *dcls, float *dpooled,
								const float *cls, const float *pooled, const float *w, float *dw,
								float *db, int T);

/* W = g v / |v| into w (n values); returns |v|. */
double		vqa_weight_norm_forward(float *w, float g, const float *v, size_t n);

/* From dw of W = g v/|v|: dg += <dw, v>/|v|, dv += g/|v| (dw - <dw, v> v/|v|^2). */
void		vqa_weight_norm_backward(float *dg, float *dv, const float *dw, float g, const float *v,
									 double norm, size_t n);

/* The SimpleClassifier on x (B x in) into logits (B x out), dropout while training. */
void		vqa_simple_classifier_forward(VqaBlockContext *ctx, VqaSimpleClassifierActs *acts,
										  const VqaSimpleClassifierWeights *w, const float *x,
										  float *logits, int in, int hid, int out);

/* From dlogits: the head's gradients, and dx += the gradient of x; dhid is B x hid scratch. */
void		vqa_simple_classifier_backward(VqaBlockContext *ctx, VqaSimpleClassifierActs *acts,
										   const VqaSimpleClassifierWeights *w,
										   VqaSimpleClassifierWeights *g, const float *dlogits,
										   const float *x, float *dx, float *dhid, int in, int hid,
										   int out);

/* ---------------------------------------------------------------------- */
/* Text embeddings                                                        */
/* ---------------------------------------------------------------------- */

/* BERT's text embeddings: the word, position and token-type tables, and the LayerNorm after their sum. */
typedef struct VqaTextEmbeddingWeights
{
	float	   *word,
			   *position,
			   *token_type,
			   *ln_w,
			   *ln_b;
} VqaTextEmbeddingWeights;

/*
 * Where HuggingFace's text embeddings differ between models: each table's
 * padding_idx (the row the forward pass reads and the backward pass never
 * updates; -1 for none), and the order of the sum (word + position + type,
 * or word + type + position), kept so that the floats are the reference's.
 */
typedef struct VqaTextEmbeddingSpec
{
	int			word_padding_idx;
	int			position_padding_idx;
	int			type_padding_idx;
	int			type_before_position;
} VqaTextEmbeddingSpec;

/* The embeddings' LayerNorm and dropout: sum is its input, out its output (rows x H). */
typedef struct VqaEmbeddingActs
{
	float	   *sum,
			   *mean,
			   *rstd,
			   *out;
	unsigned char *keep;
} VqaEmbeddingActs;

void		vqa_embedding_acts_take(VqaArena *arena, VqaEmbeddingActs *acts, size_t rows, int H,
									int dropout);

/*
 * Into rows b * stride + t (t < T) of sum: the lookups of input_ids (B x T),
 * positions t and token_type_ids (NULL: all 0), summed. The other rows of an
 * example (stride > T) are the caller's.
 */
void		vqa_text_embeddings_forward(const VqaBlockContext *ctx, float *sum,
										const VqaTextEmbeddingWeights *w,
										const VqaTextEmbeddingSpec *spec,
										const int32_t *input_ids, const int32_t *token_type_ids,
										int T, int stride);

/* From dsum, laid out as the forward's sum: adds to the three tables' gradients but the padding rows. */
void		vqa_text_embeddings_backward(const VqaBlockContext *ctx, VqaTextEmbeddingWeights *g,
										 const VqaTextEmbeddingSpec *spec, const float *dsum,
										 const int32_t *input_ids, const int32_t *token_type_ids,
										 int T, int stride);

/* acts->out = dropout(LayerNorm(acts->sum)) over rows rows, with the LayerNorm of w. */
void		vqa_embedding_norm_forward(VqaBlockContext *ctx, VqaEmbeddingActs *acts,
									   const VqaTextEmbeddingWeights *w, size_t rows);

/*
 * From dout, the gradient of acts->out (turned in place by the dropout's
 * backward): dsum is zeroed and receives the gradient of acts->sum.
 */
void		vqa_embedding_norm_backward(const VqaBlockContext *ctx, const VqaEmbeddingActs *acts,
										const VqaTextEmbeddingWeights *w,
										VqaTextEmbeddingWeights *g, float *dout, float *dsum,
										size_t rows);

#endif
