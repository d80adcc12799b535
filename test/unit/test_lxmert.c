/*
 * test_lxmert.c: the C LXMERT against HuggingFace's, and its gradients
 * against finite differences.
 *
 * The fixture hf-lxmert/tiny holds a HuggingFace LxmertForQuestionAnswering
 * (weights, inputs, logits, every hidden state, the BCE loss and the
 * gradient of every parameter). As llm.c's test does, each tensor is judged
 * by the reference with a stated tolerance and reported with its maxdiff.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "unit.h"
#include "vqaprune/losses.h"
#include "vqaprune/lxmert.h"
#include "vqaprune/rng.h"
#include "vqaprune/safetensors.h"

static VqaSafetensors *
open_fixture(const char *file)
{
	return unit_open_fixture("hf-lxmert/tiny", file);
}

static VqaModel *
load_fixture_model(void)
{
	return unit_fixture_model("hf-lxmert/tiny", VQA_HEAD_HUGGINGFACE, "hf-lxmert/tiny");
}

typedef struct FixtureInputs
{
	VqaBatch batch;
	int32_t    *ids,
			   *attended,
			   *types;
	float	   *feats,
			   *pos,
			   *target;
} FixtureInputs;

static void
load_fixture_inputs(FixtureInputs *in)
{
	VqaSafetensors *st = open_fixture("inputs.safetensors");
	const VqaStTensor *ids = vqa_st_find(st, "input_ids");
	const VqaStTensor *feats = vqa_st_find(st, "visual_feats");

	in->ids = unit_read_ints(st, "input_ids");
	in->attended = unit_read_ints(st, "attention_mask");
	in->types = unit_read_ints(st, "token_type_ids");
	in->feats = unit_read_floats(st, "visual_feats", NULL);
	in->pos = unit_read_floats(st, "visual_pos", NULL);
	in->target = unit_read_floats(st, "target", NULL);
	in->batch.batch = (int) ids->shape[0];
	in->batch.seq_len = (int) ids->shape[1];
	in->batch.num_boxes = (int) feats->shape[1];
	in->batch.input_ids = in->ids;
	in->batch.attended = in->attended;
	in->batch.token_type_ids = in->types;
	in->batch.visual_feats = in->feats;
	in->batch.visual_pos = in->pos;
	vqa_st_free(st);
}

static void
free_fixture_inputs(FixtureInputs *in)
{
	free(in->ids);
	free(in->attended);
	free(in->types);
	free(in->feats);
	free(in->pos);
	free(in->target);
}

static void
forward_matches_huggingface(void **state)
{
	VqaModel *model = load_fixture_model();
	VqaSafetensors *out = open_fixture("outputs.safetensors");
	FixtureInputs in;
	float	   *logits;
	float	   *expected;
	float		loss;
	double		maxdiff;
	int64_t		n;
	char		name[64];
	const VqaModelConfig *c = &model->config;

	load_fixture_inputs(&in);
	logits = malloc(sizeof(float) * in.batch.batch * c->num_qa_labels);
	assert_int_equal(vqa_model_forward(model, &in.batch, logits, in.target, &loss), 0);

	expected = unit_read_floats(out, "logits", &n);
	assert_int_equal(n, in.batch.batch * c->num_qa_labels);
	assert_true(unit_close_enough(logits, expected, n, 1e-4, 1e-4, &maxdiff));
	printf("logits OK, maxdiff = %.3g\n", maxdiff);
	free(expected);

	for (int i = 0; i < c->l_layers + c->x_layers; i++)
	{
		snprintf(name, sizeof(name), "language_hidden_states.%d", i);
		expected = unit_read_floats(out, name, &n);
		assert_true(unit_close_enough(lxmert_language_state(model, i), expected, n, 1e-4, 1e-4, &maxdiff));
		printf("%s OK, maxdiff = %.3g\n", name, maxdiff);
		free(expected);
	}
	for (int i = 0; i < c->r_layers + c->x_layers; i++)
	{
		snprintf(name, sizeof(name), "vision_hidden_states.%d", i);
		expected = unit_read_floats(out, name, &n);
		assert_true(unit_close_enough(lxmert_vision_state(model, i), expected, n, 1e-4, 1e-4, &maxdiff));
		printf("%s OK, maxdiff = %.3g\n", name, maxdiff);
		free(expected);
	}
	expected = unit_read_floats(out, "bce_loss", NULL);
	assert_true(fabs(loss - expected[0]) <= 1e-5 * fabs(expected[0]));
	printf("bce_loss OK, %.7g vs %.7g\n", loss, expected[0]);
	free(expected);

	free(logits);
	free_fixture_inputs(&in);
	vqa_st_free(out);
	vqa_model_free(model);
}

/* Forward with the VQA loss, then backward from it; logits receives B x A. */
static float
bce_step(VqaModel *model, const FixtureInputs *in, float *logits)
{
	int			A = model->config.num_qa_labels;
	float	   *dlogits = malloc(sizeof(float) * in->batch.batch * A);
	float		loss;

	assert_int_equal(vqa_model_forward(model, &in->batch, logits, in->target, &loss), 0);
	assert_int_equal(vqa_model_zero_grad(model), 0);
	vqa_bce_grad(logits, in->target, in->batch.batch, A, dlogits);
	assert_int_equal(vqa_model_backward(model, dlogits, NULL), 0);
	free(dlogits);
	return loss;
}

/*
 * Every parameter gradient against a reference file (the body under
 * "lxmert.", the head under its own name): within tol * max|reference|,
 * the scale floored at floor, since key biases get no gradient in exact
 * arithmetic (a constant added to every score of a row leaves the softmax
 * unchanged) and the reference holds rounding noise there. A tensor without
 * a reference gradient must be zero. Returns the worst maxdiff / scale over
 * tensors with a scale of at least floor.
 */
static double
compare_gradients(const VqaModel *model, const VqaSafetensors *grads, double tol, double floor,
				  int *checked, int *zero)
{
	double		worst = 0.0;

	*checked = *zero = 0;
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];
		const float *mine = model->grads + t->offset;
		char		name[128];
		const VqaStTensor *ref;
		float	   *expected;
		double		scale = 0.0,
					maxdiff;

		snprintf(name, sizeof(name), "%s%s", t->module == LXMERT_HEAD ? "" : "lxmert.", t->name);
		ref = vqa_st_find(grads, name);
		if (ref == NULL)
		{
			for (size_t j = 0; j < t->numel; j++)
				assert_true(mine[j] == 0.0f);
			(*zero)++;
			continue;
		}
		expected = malloc(sizeof(float) * t->numel);
		vqa_st_read_f32(grads, ref, expected);
		for (size_t j = 0; j < t->numel; j++)
			scale = fmax(scale, fabs(expected[j]));
		unit_close_enough(mine, expected, t->numel, 0, 0, &maxdiff);
		if (maxdiff > tol * fmax(scale, floor))
			print_error("%s: maxdiff %.3g, scale %.3g\n", t->name, maxdiff, scale);
		assert_true(maxdiff <= tol * fmax(scale, floor));
		if (scale >= floor && maxdiff / scale > worst)
			worst = maxdiff / scale;
		free(expected);
		(*checked)++;
	}
	return worst;
}

static void
gradients_match_huggingface(void **state)
{
	VqaModel *model = load_fixture_model();
	VqaSafetensors *grads = open_fixture("grads.safetensors");
	FixtureInputs in;
	float	   *logits;
	int			checked,
				zero;
	double		worst;

	load_fixture_inputs(&in);
	logits = malloc(sizeof(float) * in.batch.batch * model->config.num_qa_labels);
	bce_step(model, &in, logits);
	worst = compare_gradients(model, grads, 1e-4, 1e-5, &checked, &zero);
	printf("gradients OK: %d tensors, worst maxdiff / max|grad| = %.3g (key biases aside); %d without gradient are zero\n",
		   checked, worst, zero);
	assert_true(checked + zero == model->n_tensors);
	assert_true(zero > 0);

	free(logits);
	free_fixture_inputs(&in);
	vqa_st_free(grads);
	vqa_model_free(model);
}

/* A small random model unlike the fixture: 2 heads, 3 R layers, 1 L, 1 X. */
typedef struct RandomSetup
{
	VqaModel *model;
	VqaBatch batch;
	int32_t		ids[3 * 6],
				attended[3 * 6],
				types[3 * 6];
	float		feats[3 * 4 * 5],
				pos[3 * 4 * 4];
	float	   *weights;		/* random output weights: L = sum(logits * R) */
	float	   *logits;
} RandomSetup;

static void
random_setup_head(RandomSetup *r, uint64_t seed, VqaAnswerHead head)
{
	VqaModelConfig c = {
		.vocab_size = 11, .hidden_size = 8, .num_attention_heads = 2,
		.intermediate_size = 12, .l_layers = 1, .r_layers = 3, .x_layers = 1,
		.visual_feat_dim = 5, .visual_pos_dim = 4, .num_qa_labels = 7,
		.max_position_embeddings = 9, .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
		.answer_head = head,
	};
	char		err[256];
	VqaRng		rng;

	vqa_rng_seed(&rng, seed);
	r->model = vqa_model_new(&c, err, sizeof(err));
	assert_non_null(r->model);
	vqa_model_init_random(r->model, seed, 0.5f);
	/* LayerNorm weights away from 1 and biases away from 0 */
	for (size_t i = 0; i < r->model->n_params; i++)
		r->model->params[i] += (float) (0.1 * vqa_rng_normal(&rng));
	r->batch.batch = 3;
	r->batch.seq_len = 6;
	r->batch.num_boxes = 4;
	for (int i = 0; i < 18; i++)
	{
		r->ids[i] = (int32_t) vqa_rng_below(&rng, 11);
		r->types[i] = (int32_t) vqa_rng_below(&rng, 2);
		r->attended[i] = (i % 6) < 6 - (i / 6);	/* padded tails of different lengths */
	}
	for (int i = 0; i < 60; i++)
		r->feats[i] = (float) vqa_rng_normal(&rng);
	for (int i = 0; i < 48; i++)
		r->pos[i] = (float) vqa_rng_uniform(&rng);
	r->batch.input_ids = r->ids;
	r->batch.attended = r->attended;
	r->batch.token_type_ids = r->types;
	r->batch.visual_feats = r->feats;
	r->batch.visual_pos = r->pos;
	r->weights = malloc(sizeof(float) * 3 * 7);
	r->logits = malloc(sizeof(float) * 3 * 7);
	for (int i = 0; i < 21; i++)
		r->weights[i] = (float) vqa_rng_normal(&rng);
}

static void
random_setup(RandomSetup *r, uint64_t seed)
{
	random_setup_head(r, seed, VQA_HEAD_HUGGINGFACE);
}

static double
random_loss(void *arg)
{
	RandomSetup *r = arg;
	double		loss = 0.0;

	assert_int_equal(vqa_model_forward(r->model, &r->batch, r->logits, NULL, NULL), 0);
	for (int i = 0; i < 21; i++)
		loss += (double) r->logits[i] * r->weights[i];
	return loss;
}

static void
random_free(RandomSetup *r)
{
	free(r->weights);
	free(r->logits);
	vqa_model_free(r->model);
}

/*
 * Central differences in float32 are noisy: compare where the analytic
 * gradient is not tiny, with a tolerance of a few percent, and require the
 * bulk of the checks to be much closer than that.
 */
static void
check_finite_differences(VqaAnswerHead head)
{
	RandomSetup r;
	VqaRng		rng;
	int			checked = 0,
				close = 0;
	const float eps = 1e-2f;

	random_setup_head(&r, 42, head);
	vqa_rng_seed(&rng, 7);
	random_loss(&r);
	assert_int_equal(vqa_model_zero_grad(r.model), 0);
	assert_int_equal(vqa_model_backward(r.model, r.weights, NULL), 0);

	for (int i = 0; i < r.model->n_tensors; i++)
	{
		const VqaTensor *t = &r.model->tensors[i];

		/* row 0 of the embeddings is padding: no gradient by design */
		size_t		skip = strstr(t->name, "embeddings.") && !strstr(t->name, "LayerNorm")
			? (size_t) t->shape[1] : 0;

		for (int k = 0; k < 3; k++)
		{
			size_t		j = t->offset + skip + vqa_rng_below(&rng, t->numel - skip);

			close += unit_check_central_difference(r.model, t, j, eps, random_loss, &r);
			checked++;
		}
	}
	printf("finite differences: %d checks, %d within 1%%\n", checked, close);
	assert_true(close >= checked * 9 / 10);
	random_free(&r);
}

static void
gradients_match_finite_differences(void **state)
{
	check_finite_differences(VQA_HEAD_HUGGINGFACE);
}

/* The same with the authors' head: weight-norm gains and directions too. */
static void
simple_classifier_gradients_match_finite_differences(void **state)
{
	check_finite_differences(VQA_HEAD_SIMPLE_CLASSIFIER);
}

/*
 * LXMERT with the authors' SimpleClassifier head against the PyTorch
 * reference of test/fixtures/make_simple_classifier.py (eval mode): the
 * logits, the loss and the gradient of every parameter, including the
 * weight-norm gains and directions.
 */
static void
simple_classifier_matches_pytorch(void **state)
{
	VqaModel *model = unit_fixture_model("hf-lxmert/tiny", VQA_HEAD_SIMPLE_CLASSIFIER,
										 "simple-classifier");
	VqaSafetensors *out = unit_open_fixture("simple-classifier", "outputs.safetensors");
	VqaSafetensors *grads = unit_open_fixture("simple-classifier", "grads.safetensors");
	FixtureInputs in;
	float	   *logits,
			   *expected;
	float		loss;
	double		maxdiff,
				worst;
	int			checked,
				zero;
	int64_t		n;

	load_fixture_inputs(&in);
	logits = malloc(sizeof(float) * in.batch.batch * model->config.num_qa_labels);
	loss = bce_step(model, &in, logits);
	expected = unit_read_floats(out, "logits", &n);
	assert_int_equal(n, in.batch.batch * model->config.num_qa_labels);
	assert_true(unit_close_enough(logits, expected, n, 1e-5, 1e-5, &maxdiff));
	printf("simple_classifier logits OK, maxdiff = %.3g\n", maxdiff);
	free(expected);
	expected = unit_read_floats(out, "bce_loss", NULL);
	assert_true(fabs(loss - expected[0]) <= 1e-5 * fabs(expected[0]));
	free(expected);

	worst = compare_gradients(model, grads, 1e-5, 1e-4, &checked, &zero);
	printf("simple_classifier gradients OK: %d tensors, worst maxdiff / max|grad| = %.3g\n",
		   checked, worst);
	assert_true(checked > 0);
	assert_non_null(vqa_model_find_tensor(model, "classifier.main.0.weight_g"));
	assert_int_equal(vqa_model_find_tensor(model, "classifier.main.3.weight_g")->ndim, 0);

	free(logits);
	free_fixture_inputs(&in);
	vqa_st_free(out);
	vqa_st_free(grads);
	vqa_model_free(model);
}

/*
 * The straight-through score gradient dL/d(W*M) * W is the derivative of the
 * loss with respect to a continuous mask entry: check it by perturbing the
 * mask, with part of every prunable matrix pruned.
 */
static void
score_gradient_matches_finite_differences(void **state)
{
	RandomSetup r;
	VqaRng		rng;
	float	   *mask;
	float	   *dweight;
	int			checked = 0;
	const float eps = 1e-2f;

	random_setup(&r, 43);
	vqa_rng_seed(&rng, 8);
	mask = malloc(sizeof(float) * r.model->n_params);
	dweight = malloc(sizeof(float) * r.model->n_params);
	for (size_t i = 0; i < r.model->n_params; i++)
		mask[i] = 1.0f;
	for (int i = 0; i < r.model->n_tensors; i++)
		if (r.model->tensors[i].prunable)
			for (size_t j = 0; j < r.model->tensors[i].numel; j++)
				mask[r.model->tensors[i].offset + j] = vqa_rng_uniform(&rng) < 0.3 ? 0.0f : 1.0f;
	assert_int_equal(vqa_model_set_mask(r.model, mask), 0);
	random_loss(&r);
	assert_int_equal(vqa_model_zero_grad(r.model), 0);
	assert_int_equal(vqa_model_backward(r.model, r.weights, NULL), 0);
	memcpy(dweight, r.model->grads, sizeof(float) * r.model->n_params);
	vqa_model_score_grad(r.model);

	for (int i = 0; i < r.model->n_tensors; i++)
	{
		const VqaTensor *t = &r.model->tensors[i];

		if (!t->prunable)
		{
			/* gradients outside theta_pr are left as they are */
			for (size_t j = 0; j < t->numel; j++)
				assert_true(r.model->grads[t->offset + j] == dweight[t->offset + j]);
			continue;
		}
		for (int k = 0; k < 3; k++)
		{
			size_t		j = t->offset + vqa_rng_below(&rng, t->numel);
			float		saved = mask[j];
			double		up,
						down,
						numeric;

			mask[j] = saved + eps;
			vqa_model_set_mask(r.model, mask);
			up = random_loss(&r);
			mask[j] = saved - eps;
			vqa_model_set_mask(r.model, mask);
			down = random_loss(&r);
			mask[j] = saved;
			vqa_model_set_mask(r.model, mask);
			numeric = (up - down) / (2 * eps);
			if (fabs(numeric - r.model->grads[j]) > 0.05 * fabs(r.model->grads[j]) + 2e-3)
				print_error("%s[%zu] score: analytic %.6g, numeric %.6g\n", t->name,
							j - t->offset, r.model->grads[j], numeric);
			assert_true(fabs(numeric - r.model->grads[j]) <= 0.05 * fabs(r.model->grads[j]) + 2e-3);
			checked++;
		}
	}
	/* pruned weights are exactly zero in the forward pass */
	for (size_t i = 0; i < r.model->n_params; i++)
		if (mask[i] == 0.0f)
			assert_true(r.model->masked[i] == 0.0f);
	printf("straight-through score gradient: %d checks\n", checked);
	free(mask);
	free(dweight);
	random_free(&r);
}

/* Same seed and step, same dropout masks; training differs from evaluation. */
static void
dropout_is_seeded(void **state)
{
	RandomSetup r;

	random_setup(&r, 44);
	unit_check_dropout_is_seeded(r.model, &r.batch);
	random_free(&r);
}

/*
 * Forward only: the same logits, bit for bit, from a fraction of the
 * activation memory (two buffers per kind of layer), and no backward.
 */
static void
forward_only_keeps_nothing_for_backward(void **state)
{
	for (int head = 0; head < 2; head++)
	{
		VqaModelConfig c = {
			.vocab_size = 11, .hidden_size = 8, .num_attention_heads = 2,
			.intermediate_size = 12, .l_layers = 4, .r_layers = 3, .x_layers = 5,
			.visual_feat_dim = 5, .visual_pos_dim = 4, .num_qa_labels = 7,
			.max_position_embeddings = 9, .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
			.hidden_dropout_prob = 0.1f, .attention_probs_dropout_prob = 0.1f,
			.answer_head = (VqaAnswerHead) head,
		};
		char		err[256];
		VqaModel *full = vqa_model_new(&c, err, sizeof(err));
		VqaModel *fo = vqa_model_new(&c, err, sizeof(err));
		int32_t		ids[3 * 6],
					mask[3 * 6];
		float		feats[3 * 4 * 5],
					pos[3 * 4 * 4];
		float		a[3 * 7],
					b[3 * 7],
					d[3 * 7] = {0};
		VqaBatch batch = {3, 6, 4, ids, mask, NULL, feats, pos};
		VqaRng		rng;

		assert_non_null(full);
		assert_non_null(fo);
		vqa_rng_seed(&rng, 7);
		for (int i = 0; i < 18; i++)
		{
			ids[i] = (int32_t) (vqa_rng_uniform(&rng) * 11) % 11;
			mask[i] = i % 6 < 4 + i / 6 % 2;
		}
		for (int i = 0; i < 60; i++)
			feats[i] = (float) vqa_rng_normal(&rng);
		for (int i = 0; i < 48; i++)
			pos[i] = (float) vqa_rng_uniform(&rng);
		vqa_model_init_random(full, 3, 0.5f);
		memcpy(fo->params, full->params, sizeof(float) * full->n_params);
		fo->forward_only = 1;
		assert_int_equal(vqa_model_forward(full, &batch, a, NULL, NULL), 0);
		assert_int_equal(vqa_model_forward(fo, &batch, b, NULL, NULL), 0);
		assert_memory_equal(a, b, sizeof(a));
		assert_null(fo->grads);
		assert_true(vqa_model_activation_bytes(fo) * 2 < vqa_model_activation_bytes(full));
		assert_int_equal(vqa_model_zero_grad(fo), 0);
		assert_int_equal(vqa_model_backward(fo, d, NULL), -1);
		fo->training = 1;
		assert_int_equal(vqa_model_forward(fo, &batch, b, NULL, NULL), -1);
		vqa_model_free(full);
		vqa_model_free(fo);
	}
}

static void
config_from_json(void **state)
{
	VqaModelConfig c;
	char		err[256];
	char	   *json;
	VqaModelConfig back;

	assert_int_equal(vqa_model_config_parse("{}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.hidden_size, 768);
	assert_int_equal(c.l_layers, 9);
	assert_int_equal(vqa_model_config_parse("{\"hidden_size\": 30, \"num_attention_heads\": 4}",
										 &c, err, sizeof(err)), -1);
	assert_string_equal(err, "invalid LXMERT config: hidden_size must be a multiple of num_attention_heads");
	assert_int_equal(vqa_model_config_parse("{\"l_layers\": \"two\"}", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "config key \"l_layers\" must be an integer");
	assert_int_equal(vqa_model_config_parse("[1]", &c, err, sizeof(err)), -1);
	assert_int_equal(vqa_model_config_parse("{\"hidden_size\": 64, \"num_attention_heads\": 4, "
										 "\"hidden_dropout_prob\": 0.25}", &c, err, sizeof(err)), 0);
	json = vqa_model_config_to_json(&c);
	assert_int_equal(vqa_model_config_parse(json, &back, err, sizeof(err)), 0);
	assert_memory_equal(&c, &back, sizeof(c));
	free(json);

	/* the question encoding: defaults, the authors' values, a round trip, errors */
	assert_int_equal(c.question_tokens, 20);
	assert_true(c.special_tokens && c.ignore_padding);
	assert_int_equal(vqa_model_config_parse("{\"max_position_embeddings\": 12}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.question_tokens, 12);
	assert_int_equal(vqa_model_config_parse("{\"answer_head\": \"simple_classifier\", \"question_tokens\": 14, "
										 "\"special_tokens\": false, \"attention_mask\": false}",
										 &c, err, sizeof(err)), 0);
	assert_int_equal(c.question_tokens, 14);
	assert_false(c.special_tokens || c.ignore_padding);
	json = vqa_model_config_to_json(&c);
	assert_non_null(strstr(json, "\"question_tokens\": 14"));
	assert_non_null(strstr(json, "\"special_tokens\": false"));
	assert_int_equal(vqa_model_config_parse(json, &back, err, sizeof(err)), 0);
	assert_memory_equal(&c, &back, sizeof(c));
	free(json);
	assert_int_equal(vqa_model_config_parse("{\"special_tokens\": 0}", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "config key \"special_tokens\" must be true or false");
	assert_int_equal(vqa_model_config_parse("{\"question_tokens\": 600}", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "invalid LXMERT config: question_tokens must be at least 1 (2 with "
						"special tokens) and at most max_position_embeddings");
}

/* The layout: theta_pr is exactly the paper's prunable set. */
static void
prunable_set_is_theta_pr(void **state)
{
	VqaModelConfig c;
	char		err[256];
	VqaModel *m;
	size_t		by_module[6] = {0};

	vqa_model_config_default(&c);
	c.num_qa_labels = 3129;
	m = vqa_model_new(&c, err, sizeof(err));
	assert_non_null(m);
	for (int i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].prunable)
			by_module[m->tensors[i].module] += m->tensors[i].numel;
	/* figures from the paper's count: 83.1M / 35.3M / 78.8M / 0.56M (M = 2^20) */
	assert_int_equal(by_module[LXMERT_LANGUAGE], 87141888);
	assert_int_equal(by_module[LXMERT_VISUAL], 36965376);
	assert_int_equal(by_module[LXMERT_CROSS], 82575360);
	assert_int_equal(by_module[LXMERT_POOLER], 589824);
	assert_int_equal(by_module[LXMERT_HEAD], 0);
	vqa_model_free(m);
}

/*
 * A fresh authors' head as their code leaves it: directions uniform in
 * +-1/sqrt(fan_in) (mean 0, variance bound^2 / 3 within sampling error),
 * gains their norms (so W = v), biases 0.
 */
static void
simple_classifier_starts_as_the_authors_code(void **state)
{
	VqaModelConfig c = {
		.vocab_size = 11, .hidden_size = 32, .num_attention_heads = 2,
		.intermediate_size = 12, .l_layers = 1, .r_layers = 1, .x_layers = 1,
		.visual_feat_dim = 5, .visual_pos_dim = 4, .num_qa_labels = 50,
		.max_position_embeddings = 9, .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
		.answer_head = VQA_HEAD_SIMPLE_CLASSIFIER,
	};
	const char *const layers[] = {"classifier.main.0", "classifier.main.3"};
	char		err[256];
	VqaModel *model = vqa_model_new(&c, err, sizeof(err));

	assert_non_null(model);
	vqa_model_init_random(model, 7, 0.02f);
	for (int l = 0; l < 2; l++)
	{
		char		name[64];
		const VqaTensor *v,
				   *g,
				   *b;
		double		bound,
					sum = 0.0,
					sq = 0.0,
					mean,
					var;
		float		largest = 0.0f;

		snprintf(name, sizeof(name), "%s.weight_v", layers[l]);
		v = vqa_model_find_tensor(model, name);
		snprintf(name, sizeof(name), "%s.weight_g", layers[l]);
		g = vqa_model_find_tensor(model, name);
		snprintf(name, sizeof(name), "%s.bias", layers[l]);
		b = vqa_model_find_tensor(model, name);
		bound = 1.0 / sqrt((double) v->shape[1]);
		for (size_t i = 0; i < v->numel; i++)
		{
			float		x = model->params[v->offset + i];

			sum += x;
			sq += (double) x * x;
			largest = fmaxf(largest, fabsf(x));
		}
		mean = sum / v->numel;
		var = sq / v->numel - mean * mean;
		assert_true(largest <= bound);
		/* the sample mean's and variance's standard errors are bound/sqrt(3n) and about 0.9 bound^2/(3 sqrt(n)) */
		assert_true(fabs(mean) <= 5 * bound / sqrt(3.0 * v->numel));
		assert_true(fabs(var - bound * bound / 3) <= 5 * 0.9 * bound * bound / (3 * sqrt((double) v->numel)));
		assert_true(fabs(model->params[g->offset] - sqrt(sq)) <= 1e-5 * sqrt(sq));
		for (size_t i = 0; i < b->numel; i++)
			assert_true(model->params[b->offset + i] == 0.0f);
	}
	vqa_model_free(model);
}

int
run_lxmert_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forward_matches_huggingface),
		cmocka_unit_test(gradients_match_huggingface),
		cmocka_unit_test(gradients_match_finite_differences),
		cmocka_unit_test(simple_classifier_gradients_match_finite_differences),
		cmocka_unit_test(simple_classifier_matches_pytorch),
		cmocka_unit_test(simple_classifier_starts_as_the_authors_code),
		cmocka_unit_test(score_gradient_matches_finite_differences),
		cmocka_unit_test(dropout_is_seeded),
		cmocka_unit_test(forward_only_keeps_nothing_for_backward),
		cmocka_unit_test(config_from_json),
		cmocka_unit_test(prunable_set_is_theta_pr),
	};

	return UNIT_GROUP(lxmert, tests, n_tests);
}
