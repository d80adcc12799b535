/*
 * model.c: what every model type shares (model.h): the config's common
 * checks and its JSON dispatch on "model_type", the model's life cycle over
 * the type's tensor table, masks and sparse forms, the activation arena,
 * the checks and loss around the type's passes, and gradients.
 */
#include "vqaprune/model.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "vqaprune/floats.h"
#include "vqaprune/lxmert.h"
#include "vqaprune/parallel.h"
#include "vqaprune/rng.h"
#include "vqaprune/sparse.h"
#include "vqaprune/visual_bert.h"

/* The implemented types, by VqaModelType. */
static const VqaModelOps *const MODEL_OPS[] = {
	[VQA_MODEL_LXMERT] = &vqa_lxmert_ops,
	[VQA_MODEL_VISUAL_BERT] = &vqa_visual_bert_ops,
};

#define LENGTHOF(a) (sizeof(a) / sizeof((a)[0]))

const VqaModelOps *
vqa_model_ops(VqaModelType type)
{
	return (unsigned) type < LENGTHOF(MODEL_OPS) ? MODEL_OPS[type] : NULL;
}

/* ---------------------------------------------------------------------- */
/* Config                                                                 */
/* ---------------------------------------------------------------------- */

const char *
vqa_model_config_check(const VqaModelConfig *c)
{
	const VqaModelOps *ops = vqa_model_ops(c->model_type);

	if (ops == NULL)
		return "unknown model_type";
	if (c->vocab_size < 1 || c->hidden_size < 1 || c->intermediate_size < 1 ||
		c->visual_feat_dim < 1 || c->num_qa_labels < 1 || c->max_position_embeddings < 1 ||
		c->type_vocab_size < 1)
		return "sizes must be positive";
	if (c->num_attention_heads < 1 || c->hidden_size % c->num_attention_heads != 0)
		return "hidden_size must be a multiple of num_attention_heads";
	if (c->hidden_size > 65536 || c->intermediate_size > 262144 || c->vocab_size > 10000000 ||
		c->num_qa_labels > 10000000 || c->visual_feat_dim > 65536 ||
		c->max_position_embeddings > 65536 || c->type_vocab_size > 1024)
		return "a size is out of range";
	if (!(c->layer_norm_eps > 0))
		return "layer_norm_eps must be positive";
	if (!(c->hidden_dropout_prob >= 0 && c->hidden_dropout_prob < 1) ||
		!(c->attention_probs_dropout_prob >= 0 && c->attention_probs_dropout_prob < 1))
		return "dropout probabilities must be in [0, 1)";
	if (c->answer_head != VQA_HEAD_HUGGINGFACE && c->answer_head != VQA_HEAD_SIMPLE_CLASSIFIER)
		return "unknown answer head";
	return ops->config_check(c);
}

int
vqa_model_config_parse(const char *json, VqaModelConfig *c, char *errbuf, size_t errlen)
{
	char		yajl_err[256];
	yajl_val	root = yajl_tree_parse(json, yajl_err, sizeof(yajl_err));
	const char *path[] = {"model_type", NULL};
	yajl_val	type;
	const VqaModelOps *ops = &vqa_lxmert_ops;	/* HuggingFace's LXMERT configs may omit it */
	int			rc;

	if (root == NULL || !YAJL_IS_OBJECT(root))
	{
		snprintf(errbuf, errlen, "the model config must be a JSON object");
		yajl_tree_free(root);
		return -1;
	}
	type = yajl_tree_get(root, path, yajl_t_any);
	if (type && !YAJL_IS_NULL(type))
	{
		const char *name = YAJL_IS_STRING(type) ? YAJL_GET_STRING(type) : NULL;

		ops = NULL;
		for (size_t i = 0; name && i < LENGTHOF(MODEL_OPS); i++)
			if (MODEL_OPS[i] && strcmp(name, MODEL_OPS[i]->type_name) == 0)
				ops = MODEL_OPS[i];
		if (ops == NULL)
		{
			size_t		n = snprintf(errbuf, errlen, "config key \"model_type\" must be");

			for (size_t i = 0; i < LENGTHOF(MODEL_OPS) && n < errlen; i++)
				if (MODEL_OPS[i])
					n += snprintf(errbuf + n, errlen - n, "%s \"%s\"", i > 0 ? " or" : "",
								  MODEL_OPS[i]->type_name);
			yajl_tree_free(root);
			return -1;
		}
	}
	rc = ops->config_parse(root, c, errbuf, errlen);
	yajl_tree_free(root);
	return rc;
}

char *
vqa_model_config_to_json(const VqaModelConfig *c)
{
	const VqaModelOps *ops = vqa_model_ops(c->model_type);

	return ops ? ops->config_to_json(c) : NULL;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                             */
/* ---------------------------------------------------------------------- */

VqaModel *
vqa_model_new(const VqaModelConfig *config, char *errbuf, size_t errlen)
{
	const char *problem = vqa_model_config_check(config);
	const VqaModelOps *ops = vqa_model_ops(config->model_type);
	VqaModel   *model;

	if (problem)
	{
		snprintf(errbuf, errlen, "invalid %s config: %s", ops ? ops->name : "model", problem);
		return NULL;
	}
	model = calloc(1, sizeof(VqaModel));
	if (model == NULL)
		goto oom;
	model->config = *config;
	model->ops = ops;
	model->tensors = calloc(ops->tensor_count(config), sizeof(VqaTensor));
	model->weights = ops->weights_new(config);
	model->grad_weights = ops->weights_new(config);
	if (model->tensors == NULL || model->weights == NULL || model->grad_weights == NULL)
		goto oom;
	model->n_params = ops->layout(model, NULL, model->weights);
	model->params = vqa_zeroed_floats(model->n_params);
	if (model->params == NULL)
		goto oom;
	ops->layout(model, model->params, model->weights);
	return model;

oom:
	snprintf(errbuf, errlen, "out of memory for an %s model", ops->name);
	vqa_model_free(model);
	return NULL;
}

/*
 * The authors' head as their code leaves it: HuggingFace's _init_weights
 * zeroes the biases but writes its N(0, 0.02) into the weight that
 * weight_norm recomputes from g and v, so v keeps nn.Linear's own init,
 * uniform in +-1/sqrt(fan_in), and the gain is v's norm (W = v).
 */
static void
init_weight_norm_linear(VqaModel *model, const VqaTensor *v, VqaRng *rng)
{
	char		name[96];
	const VqaTensor *g;
	float	   *pv;
	double		bound,
				sq = 0.0;

	snprintf(name, sizeof(name), "%.*s_g", (int) (strlen(v->name) - 2), v->name);
	g = vqa_model_find_tensor(model, name);
	pv = model->params + v->offset;
	bound = 1.0 / sqrt((double) v->shape[1]);
	for (size_t i = 0; i < v->numel; i++)
	{
		pv[i] = (float) (bound * (2.0 * vqa_rng_uniform(rng) - 1.0));
		sq += (double) pv[i] * pv[i];
	}
	model->params[g->offset] = (float) sqrt(sq);
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t		n = strlen(s),
				k = strlen(suffix);

	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* HuggingFace's initialisation, of every tensor or of the answer head's only. */
static void
init_tensors(VqaModel *model, uint64_t seed, float std, int head_only)
{
	VqaRng		rng;

	vqa_rng_seed(&rng, seed);
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];
		float	   *p = model->params + t->offset;
		int			is_bias = ends_with(t->name, ".bias");
		int			is_norm = model->ops->is_norm_tensor(t->name);

		if (head_only && t->module != LXMERT_HEAD)
			continue;
		for (size_t j = 0; j < t->numel; j++)
			p[j] = is_bias ? 0.0f
				: is_norm ? 1.0f
				: (float) (std * vqa_rng_normal(&rng));
	}
	/* then the weight-normalised layers, in the layout's order */
	for (int i = 0; i < model->n_tensors; i++)
		if (ends_with(model->tensors[i].name, ".weight_v") &&
			(!head_only || model->tensors[i].module == LXMERT_HEAD))
			init_weight_norm_linear(model, &model->tensors[i], &rng);
	if (!head_only && model->ops->zero_padding_rows)
		model->ops->zero_padding_rows(model);
	vqa_model_refresh_mask(model);
}

void
vqa_model_init_random(VqaModel *model, uint64_t seed, float std)
{
	init_tensors(model, seed, std, 0);
}

void
vqa_model_init_head(VqaModel *model, uint64_t seed, float std)
{
	init_tensors(model, seed, std, 1);
}

const VqaTensor *
vqa_model_find_tensor(const VqaModel *model, const char *name)
{
	size_t		prefix = strlen(model->ops->tensor_prefix);

	if (strncmp(name, model->ops->tensor_prefix, prefix) == 0)
		name += prefix;
	for (int i = 0; i < model->n_tensors; i++)
		if (strcmp(model->tensors[i].name, name) == 0)
			return &model->tensors[i];
	return NULL;
}

int
vqa_model_set_mask(VqaModel *model, const float *mask)
{
	if (mask == NULL)
	{
		free(model->mask);
		free(model->masked);
		model->mask = model->masked = NULL;
		model->ops->layout(model, model->params, model->weights);
		return 0;
	}
	if (model->mask == NULL)
	{
		model->mask = vqa_zeroed_floats(model->n_params);
		model->masked = vqa_zeroed_floats(model->n_params);
		if (model->mask == NULL || model->masked == NULL)
		{
			vqa_model_set_mask(model, NULL);
			return -1;
		}
	}
	memcpy(model->mask, mask, sizeof(float) * model->n_params);
	model->ops->layout(model, model->masked, model->weights);
	vqa_model_refresh_mask(model);
	return 0;
}

/*
 * Stage 3 on sparse weights: tensor i trains in its sparse form, whose
 * values and gradient are the only ones read and written. Its dense
 * gradient stays zero and its masked copy unread (the products find the
 * sparse form by the weight's address), so the passes over the dense
 * buffers skip it: at 90% sparsity they were most of a step's memory
 * traffic.
 */
static bool
trains_sparse(const VqaModel *model, int i)
{
	return model->sparse_training && model->sparse[i] != NULL;
}

void
vqa_model_refresh_mask(VqaModel *model)
{
	for (int i = 0; model->mask && i < model->n_tensors; i++)
		if (!trains_sparse(model, i))
		{
			const VqaTensor *t = &model->tensors[i];

			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				model->masked[j] = model->params[j] * model->mask[j];
		}
}

void
vqa_model_free(VqaModel *model)
{
	if (model == NULL)
		return;
	if (model->acts)
	{
		free(model->acts->arena);
		model->ops->acts_free(model->acts->layout);
		free(model->acts);
	}
	vqa_model_drop_sparse(model);
	if (model->ops)
	{
		model->ops->weights_free(model->weights);
		model->ops->weights_free(model->grad_weights);
	}
	free(model->tensors);
	free(model->params);
	free(model->grads);
	free(model->mask);
	free(model->masked);
	free(model);
}

/* ---------------------------------------------------------------------- */
/* Passes                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * The sparse form of a weight matrix of the model, if evaluation should use
 * it (in training only trainable forms: the dense backward pass needs W
 * dense).
 */
static VqaCsr *
sparse_weight(const void *owner, const float *w)
{
	const VqaModel *m = owner;
	const float *base = m->mask ? m->masked : m->params;

	for (int i = 0; i < m->n_tensors; i++)
		if (m->sparse[i] && base + m->tensors[i].offset == w)
			return m->sparse[i];
	return NULL;
}

void
vqa_model_block_context(VqaModel *model, VqaBlockContext *ctx, VqaBlockScratch *scratch, int B)
{
	const VqaModelConfig *c = &model->config;

	ctx->B = B;
	ctx->H = c->hidden_size;
	ctx->intermediate = c->intermediate_size;
	ctx->nh = c->num_attention_heads;
	ctx->eps = c->layer_norm_eps;
	ctx->p_hidden = model->training ? c->hidden_dropout_prob : 0.0f;
	ctx->p_att = model->training ? c->attention_probs_dropout_prob : 0.0f;
	ctx->training = model->training;
	vqa_rng_seed_stream(&ctx->rng, model->dropout_seed, model->dropout_step);
	ctx->scratch = scratch;
	ctx->sparse = model->sparse && (!model->training || model->sparse_training) ? sparse_weight : NULL;
	ctx->sparse_owner = model;
}

void
vqa_model_between_layers(const VqaModel *model)
{
	if (model->between_layers)
		model->between_layers();
}

/* Makes the arena fit a batch of this shape. */
static int
activations_reserve(VqaModel *model, int B, int T, int N)
{
	const VqaModelConfig *c = &model->config;
	VqaActivations *acts = model->acts;
	size_t		need;

	if (acts == NULL)
	{
		acts = calloc(1, sizeof(VqaActivations));
		if (acts == NULL)
			return -1;
		acts->layout = model->ops->acts_new(c);
		if (acts->layout == NULL)
		{
			free(acts);
			return -1;
		}
		model->acts = acts;
	}
	acts->threads = vqa_parallel_threads();
	acts->forward_only = model->forward_only;
	need = model->ops->acts_layout(acts->layout, c, B, T, N, acts->threads, acts->forward_only,
								   NULL);
	if (need > acts->capacity)
	{
		void	   *arena = NULL;

		free(acts->arena);
		acts->arena = NULL;
		acts->capacity = 0;
		if (posix_memalign(&arena, 64, need * sizeof(float)) != 0)
			return -1;
		acts->arena = arena;
		acts->capacity = need;
	}
	model->ops->acts_layout(acts->layout, c, B, T, N, acts->threads, acts->forward_only,
							acts->arena);
	acts->B = B;
	acts->T = T;
	acts->N = N;
	return 0;
}

int
vqa_model_reserve(VqaModel *model, int B, int T, int N)
{
	if (B < 1 || T < 1 || N < 1 || T > model->config.max_position_embeddings)
		return -1;
	return activations_reserve(model, B, T, N);
}

int
vqa_model_forward(VqaModel *model, const VqaBatch *batch, float *logits,
				  const float *targets, float *loss)
{
	const VqaModelConfig *c = &model->config;
	int			B = batch->batch,
				T = batch->seq_len,
				N = batch->num_boxes,
				A = c->num_qa_labels;
	size_t		Ml = (size_t) B * T;

	if (B < 1 || T < 1 || N < 1 || T > c->max_position_embeddings ||
		(model->forward_only && model->training))
		return -1;
	for (size_t i = 0; i < Ml; i++)
		if (batch->input_ids[i] < 0 || batch->input_ids[i] >= c->vocab_size ||
			(batch->token_type_ids &&
			 (batch->token_type_ids[i] < 0 || batch->token_type_ids[i] >= c->type_vocab_size)))
			return -1;
	if (activations_reserve(model, B, T, N) != 0)
		return -1;
	model->acts->batch = *batch;
	model->ops->forward(model, batch, logits);
	if (targets && loss)
	{
		double		total = 0.0;

		/* BCE with logits, the numerically stable form */
		for (size_t i = 0; i < (size_t) B * A; i++)
		{
			double		z = logits[i];

			total += (z > 0 ? z : 0) - z * targets[i] + log1p(exp(-fabs(z)));
		}
		*loss = (float) (total / ((double) B * A) * A);
	}
	model->dropout_step++;
	return 0;
}

int
vqa_model_backward(VqaModel *model, const float *dlogits, const float *dpooled)
{
	if (model->acts == NULL || model->acts->forward_only || model->grads == NULL)
		return -1;
	model->ops->backward(model, dlogits, dpooled);
	return 0;
}

const float *
vqa_model_pooled(const VqaModel *model)
{
	return model->acts ? model->ops->pooled(model) : NULL;
}

size_t
vqa_model_activation_bytes(const VqaModel *model)
{
	return model->acts ? model->acts->capacity * sizeof(float) : 0;
}

size_t
vqa_model_activation_bytes_for(const VqaModelConfig *config, int B, int T, int N, int forward_only)
{
	const VqaModelOps *ops = vqa_model_ops(config->model_type);
	void	   *layout = ops ? ops->acts_new(config) : NULL;
	size_t		floats = 0;

	if (layout)
		floats = ops->acts_layout(layout, config, B, T, N, vqa_parallel_threads(), forward_only,
								  NULL);
	if (ops)
		ops->acts_free(layout);
	return floats * sizeof(float);
}

double
vqa_model_train_flops(const VqaModelConfig *config, int B, int T, int N)
{
	const VqaModelOps *ops = vqa_model_ops(config->model_type);

	return ops ? ops->train_flops(config, B, T, N) : 0.0;
}

/* ---------------------------------------------------------------------- */
/* Gradients                                                              */
/* ---------------------------------------------------------------------- */

int
vqa_model_zero_grad(VqaModel *model)
{
	if (model->grads == NULL)
	{
		/* evaluation never needs them: a base model's are 0.85 GB */
		model->grads = vqa_zeroed_floats(model->n_params);
		if (model->grads == NULL)
			return -1;
		model->ops->layout(model, model->grads, model->grad_weights);
		memset(model->grads, 0, sizeof(float) * model->n_params);
		return 0;
	}
	for (int i = 0; i < model->n_tensors; i++)
		if (!trains_sparse(model, i))
			memset(model->grads + model->tensors[i].offset, 0,
				   sizeof(float) * model->tensors[i].numel);
	return 0;
}

double
vqa_model_grad_norm(const VqaModel *model)
{
	double		sum = 0.0;

	for (int i = 0; i < model->n_tensors; i++)
		if (!trains_sparse(model, i))
		{
			const VqaTensor *t = &model->tensors[i];

			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				sum += (double) model->grads[j] * model->grads[j];
		}
	return sqrt(sum);
}

void
vqa_model_scale_grads(VqaModel *model, float scale)
{
	for (int i = 0; i < model->n_tensors; i++)
		if (!trains_sparse(model, i))
		{
			const VqaTensor *t = &model->tensors[i];

			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				model->grads[j] *= scale;
		}
}

void
vqa_model_mask_grads(VqaModel *model)
{
	for (int i = 0; model->mask && i < model->n_tensors; i++)
		if (!trains_sparse(model, i))
		{
			const VqaTensor *t = &model->tensors[i];

			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				model->grads[j] *= model->mask[j];
		}
}

void
vqa_model_score_grad(VqaModel *model)
{
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (t->prunable)
			for (size_t j = t->offset; j < t->offset + t->numel; j++)
				model->grads[j] *= model->params[j];
	}
}

/* ---------------------------------------------------------------------- */
/* Sparse forms                                                           */
/* ---------------------------------------------------------------------- */

int
vqa_model_use_sparse(VqaModel *model, double max_density)
{
	const float *base = model->mask ? model->masked : model->params;

	vqa_model_drop_sparse(model);
	model->sparse = calloc(model->n_tensors, sizeof(VqaCsr *));
	if (model->sparse == NULL)
		return -1;
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];
		size_t		kept = 0;

		/* the word embeddings are a lookup, not a product */
		if (!t->prunable || strstr(t->name, "word_embeddings"))
			continue;
		for (size_t j = t->offset; j < t->offset + t->numel; j++)
			kept += model->mask == NULL || model->mask[j] != 0.0f;
		if ((double) kept > max_density * (double) t->numel)
			continue;
		model->sparse[i] = vqa_csr_from_dense(base + t->offset, model->mask ? model->mask + t->offset : NULL,
											  t->shape[0], t->shape[1]);
		if (model->sparse[i] == NULL)
		{
			vqa_model_drop_sparse(model);
			return -1;
		}
	}
	return 0;
}

int
vqa_model_train_sparse(VqaModel *model, double max_density)
{
	if (vqa_model_use_sparse(model, max_density) != 0)
		return -1;
	for (int i = 0; i < model->n_tensors; i++)
		if (model->sparse[i] && vqa_csr_make_trainable(model->sparse[i]) != 0)
		{
			vqa_model_drop_sparse(model);
			return -1;
		}
	model->sparse_training = 1;
	return 0;
}

void
vqa_model_sparse_to_params(VqaModel *model)
{
	for (int i = 0; model->sparse && i < model->n_tensors; i++)
		if (model->sparse[i])
		{
			vqa_csr_to_dense(model->sparse[i], model->params + model->tensors[i].offset);
			vqa_csr_sync_transpose(model->sparse[i]);
		}
	vqa_model_refresh_mask(model);
}

void
vqa_model_params_to_sparse(VqaModel *model)
{
	for (int i = 0; model->sparse && i < model->n_tensors; i++)
		if (model->sparse[i])
		{
			vqa_csr_load_values(model->sparse[i], model->params + model->tensors[i].offset);
			if (model->sparse[i]->t)
				vqa_csr_sync_transpose(model->sparse[i]);
		}
}

void
vqa_model_drop_sparse(VqaModel *model)
{
	int			trained = model->sparse_training;

	model->sparse_training = 0;
	if (model->sparse == NULL)
		return;
	/* trained sparse forms leave their weights in params and the masked copy */
	if (trained)
	{
		for (int i = 0; i < model->n_tensors; i++)
			if (model->sparse[i])
				vqa_csr_to_dense(model->sparse[i], model->params + model->tensors[i].offset);
		vqa_model_refresh_mask(model);
	}
	for (int i = 0; i < model->n_tensors; i++)
		vqa_csr_free(model->sparse[i]);
	free(model->sparse);
	model->sparse = NULL;
}
