/*
 * test_visual_bert.c: the C VisualBERT against the PyTorch reference
 * (test/bench/visualbert_ref.py, written from HuggingFace's
 * modeling_visual_bert.py and the paper authors' code), and its gradients
 * against finite differences; its config keys and the prunable set.
 *
 * The fixture visualbert/tiny holds both answer heads (qa/: HuggingFace's
 * VisualBertForQuestionAnswering; simple-classifier/: the authors'), their
 * inputs, outputs, hidden states and the gradient of every parameter.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "unit.h"
#include "vqaprune/losses.h"
#include "vqaprune/rng.h"
#include "vqaprune/safetensors.h"
#include "vqaprune/visual_bert.h"

static char *
fixture_config_json(void)
{
	char		path[1024];
	char	   *json;

	snprintf(path, sizeof(path), "%s/visualbert/tiny/config.json", unit_fixtures_dir());
	json = unit_read_file(path, NULL);
	assert_non_null(json);
	return json;
}

/* parse must fail with exactly this message */
static void
assert_config_error(const char *json, const char *message)
{
	VqaModelConfig c;
	char		err[256] = "";

	if (vqa_model_config_parse(json, &c, err, sizeof(err)) != -1 || strcmp(err, message) != 0)
		print_error("%s: got \"%s\", expected \"%s\"\n", json, err, message);
	assert_int_equal(vqa_model_config_parse(json, &c, err, sizeof(err)), -1);
	assert_string_equal(err, message);
}

static void
assert_round_trip(const VqaModelConfig *c)
{
	char	   *json = vqa_model_config_to_json(c);
	VqaModelConfig back;
	char		err[256];

	assert_non_null(json);
	if (vqa_model_config_parse(json, &back, err, sizeof(err)) != 0)
		print_error("%s: %s\n", json, err);
	assert_int_equal(vqa_model_config_parse(json, &back, err, sizeof(err)), 0);
	assert_memory_equal(c, &back, sizeof(back));
	free(json);
}

static void
config_from_json(void **state)
{
	VqaModelConfig c;
	char		err[256];
	char	   *json = fixture_config_json();

	/* the fixture's HuggingFace config.json, as it is */
	assert_int_equal(vqa_model_config_parse(json, &c, err, sizeof(err)), 0);
	free(json);
	assert_int_equal(c.model_type, VQA_MODEL_VISUAL_BERT);
	assert_int_equal(c.hidden_size, 32);
	assert_int_equal(c.num_hidden_layers, 2);
	assert_int_equal(c.num_attention_heads, 4);
	assert_int_equal(c.intermediate_size, 64);
	assert_int_equal(c.visual_feat_dim, 24);
	assert_int_equal(c.num_qa_labels, 12);
	assert_int_equal(c.vocab_size, 64);
	assert_int_equal(c.max_position_embeddings, 24);
	assert_int_equal(c.pad_token_id, 1);
	assert_int_equal(c.l_layers + c.r_layers + c.x_layers, 0);
	assert_true(c.layer_norm_eps == 1e-12f && c.hidden_dropout_prob == 0.0f);
	assert_int_equal(c.answer_head, VQA_HEAD_HUGGINGFACE);
	assert_round_trip(&c);

	/* HuggingFace's VisualBertConfig defaults */
	assert_int_equal(vqa_model_config_parse("{\"model_type\": \"visual_bert\"}", &c, err,
											sizeof(err)), 0);
	assert_int_equal(c.hidden_size, 768);
	assert_int_equal(c.num_hidden_layers, 12);
	assert_int_equal(c.num_attention_heads, 12);
	assert_int_equal(c.intermediate_size, 3072);
	assert_int_equal(c.visual_feat_dim, 512);
	assert_int_equal(c.vocab_size, 30522);
	assert_int_equal(c.max_position_embeddings, 512);
	assert_int_equal(c.type_vocab_size, 2);
	assert_int_equal(c.pad_token_id, 1);
	assert_int_equal(c.num_qa_labels, 2);
	assert_true(c.hidden_dropout_prob == 0.1f && c.attention_probs_dropout_prob == 0.1f);
	assert_int_equal(c.question_tokens, 20);
	assert_true(c.special_tokens && c.ignore_padding);
	assert_round_trip(&c);

	/* the authors' model: their head and question encoding, their ans_num */
	assert_int_equal(vqa_model_config_parse("{\"model_type\": \"visual_bert\", \"ans_num\": 7, "
											"\"answer_head\": \"simple_classifier\", "
											"\"question_tokens\": 14, \"special_tokens\": false, "
											"\"attention_mask\": false, \"hidden_size\": 64, "
											"\"num_attention_heads\": 4, \"num_hidden_layers\": 0}",
											&c, err, sizeof(err)), 0);
	assert_int_equal(c.answer_head, VQA_HEAD_SIMPLE_CLASSIFIER);
	assert_int_equal(c.num_qa_labels, 7);
	assert_int_equal(c.num_hidden_layers, 0);
	assert_int_equal(c.question_tokens, 14);
	assert_false(c.special_tokens || c.ignore_padding);
	assert_round_trip(&c);

	/* the answer count from any of its keys, when they agree */
	assert_int_equal(vqa_model_config_parse("{\"model_type\": \"visual_bert\", \"num_labels\": 3, "
											"\"num_qa_labels\": 3, \"id2label\": {\"0\": \"a\", "
											"\"1\": \"b\", \"2\": \"c\"}}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.num_qa_labels, 3);
	/* a small max_position_embeddings shrinks the default question length */
	assert_int_equal(vqa_model_config_parse("{\"model_type\": \"visual_bert\", "
											"\"max_position_embeddings\": 12}", &c, err,
											sizeof(err)), 0);
	assert_int_equal(c.question_tokens, 12);
}

static void
config_errors(void **state)
{
	assert_config_error("{\"model_type\": \"bert\"}",
						"config key \"model_type\" must be \"lxmert\" or \"visual_bert\"");
	assert_config_error("{\"model_type\": 3}",
						"config key \"model_type\" must be \"lxmert\" or \"visual_bert\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"hidden_size\": 30, "
						"\"num_attention_heads\": 4}",
						"invalid VisualBERT config: hidden_size must be a multiple of "
						"num_attention_heads");
	assert_config_error("{\"model_type\": \"visual_bert\", \"hidden_size\": 0}",
						"invalid VisualBERT config: sizes must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"intermediate_size\": -4}",
						"invalid VisualBERT config: sizes must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"visual_embedding_dim\": 0}",
						"invalid VisualBERT config: sizes must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_labels\": 0}",
						"invalid VisualBERT config: sizes must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_hidden_layers\": -1}",
						"invalid VisualBERT config: num_hidden_layers must not be negative");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_hidden_layers\": \"two\"}",
						"config key \"num_hidden_layers\" must be an integer");
	assert_config_error("{\"model_type\": \"visual_bert\", \"vocab_size\": 64, \"pad_token_id\": 64}",
						"invalid VisualBERT config: pad_token_id must be a token id below vocab_size");
	assert_config_error("{\"model_type\": \"visual_bert\", \"pad_token_id\": -1}",
						"invalid VisualBERT config: pad_token_id must be a token id below vocab_size");
	assert_config_error("{\"model_type\": \"visual_bert\", \"type_vocab_size\": 1}",
						"invalid VisualBERT config: type_vocab_size must be at least 2: the regions "
						"have token type 1");
	assert_config_error("{\"model_type\": \"visual_bert\", \"layer_norm_eps\": 0}",
						"invalid VisualBERT config: layer_norm_eps must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"hidden_dropout_prob\": 1}",
						"invalid VisualBERT config: dropout probabilities must be in [0, 1)");
	assert_config_error("{\"model_type\": \"visual_bert\", \"answer_head\": \"lxmert\"}",
						"config key \"answer_head\" must be \"visual_bert\" or \"simple_classifier\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"hidden_act\": \"relu\"}",
						"config key \"hidden_act\" must be \"gelu\": the exact erf GeLU is the only "
						"activation implemented");
	assert_config_error("{\"model_type\": \"visual_bert\", \"bypass_transformer\": true}",
						"config key \"bypass_transformer\" must be false: the bypass is not "
						"implemented");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_labels\": 12, \"num_qa_labels\": 13}",
						"config keys \"num_labels\" and \"num_qa_labels\" give different numbers of "
						"answers (12 and 13)");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_labels\": 2, \"id2label\": {\"0\": \"a\"}}",
						"config keys \"num_labels\" and \"id2label\" give different numbers of "
						"answers (2 and 1)");
	assert_config_error("{\"model_type\": \"visual_bert\", \"question_tokens\": 600}",
						"invalid VisualBERT config: question_tokens must be at least 1 (2 with "
						"special tokens) and at most max_position_embeddings");
	assert_config_error("{\"model_type\": \"visual_bert\", \"special_tokens\": 1}",
						"config key \"special_tokens\" must be true or false");

	/* LXMERT's structural keys in a VisualBERT config, and the reverse */
	assert_config_error("{\"model_type\": \"visual_bert\", \"l_layers\": 2}",
						"config key \"l_layers\" is LXMERT's, not VisualBERT's: VisualBERT's is "
						"\"num_hidden_layers\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"r_layers\": 2}",
						"config key \"r_layers\" is LXMERT's, not VisualBERT's: VisualBERT's is "
						"\"num_hidden_layers\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"x_layers\": 2}",
						"config key \"x_layers\" is LXMERT's, not VisualBERT's: VisualBERT's is "
						"\"num_hidden_layers\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"visual_feat_dim\": 2048}",
						"config key \"visual_feat_dim\" is LXMERT's, not VisualBERT's: VisualBERT's "
						"is \"visual_embedding_dim\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"visual_pos_dim\": 4}",
						"config key \"visual_pos_dim\" is LXMERT's, not VisualBERT's: VisualBERT "
						"does not read boxes");
	assert_config_error("{\"visual_embedding_dim\": 2048}",
						"config key \"visual_embedding_dim\" is VisualBERT's, not LXMERT's: a "
						"VisualBERT config needs \"model_type\": \"visual_bert\"");
	assert_config_error("{\"model_type\": \"lxmert\", \"num_hidden_layers\": 12}",
						"config key \"num_hidden_layers\" is VisualBERT's, not LXMERT's: a "
						"VisualBERT config needs \"model_type\": \"visual_bert\"");
}

/* A config built in C is checked as one parsed from JSON. */
static void
config_check_catches_foreign_fields(void **state)
{
	VqaModelConfig c;
	char		err[256];
	VqaModel   *m;

	visual_bert_config_default(&c);
	c.l_layers = 1;
	assert_string_equal(vqa_model_config_check(&c),
						"LXMERT's layer counts must be 0: VisualBERT's is num_hidden_layers");
	m = vqa_model_new(&c, err, sizeof(err));
	assert_null(m);
	assert_string_equal(err, "invalid VisualBERT config: LXMERT's layer counts must be 0: "
						"VisualBERT's is num_hidden_layers");
	vqa_model_config_default(&c);
	c.num_hidden_layers = 2;
	assert_string_equal(vqa_model_config_check(&c), "num_hidden_layers is VisualBERT's: LXMERT's "
						"layer counts are l_layers, r_layers and x_layers");
}

/* ---------------------------------------------------------------------- */
/* The fixture                                                            */
/* ---------------------------------------------------------------------- */

/*
 * The tolerance of every comparison with the reference: an element passes
 * within 1e-5 absolute or 1e-5 relative to the reference value.
 */
#define REF_ABS 1e-5
#define REF_REL 1e-5

/* dir/file of visualbert/tiny ("" for dir: the top) */
static VqaSafetensors *
open_fixture(const char *dir, const char *file)
{
	char		path[64];

	snprintf(path, sizeof(path), "visualbert/tiny%s%s", *dir ? "/" : "", dir);
	return unit_open_fixture(path, file);
}

/* Checks mine against the reference tensor name of st; returns the maxdiff. */
static double
check_tensor(const float *mine, const VqaSafetensors *st, const char *name, int64_t expect_numel)
{
	int64_t		n;
	float	   *expected = unit_read_floats(st, name, &n);
	double		maxdiff;
	int			ok;

	assert_non_null(mine);
	assert_int_equal(n, expect_numel);
	ok = unit_close_enough(mine, expected, n, REF_ABS, REF_REL, &maxdiff);
	if (!ok)
		print_error("%s: maxdiff %.3g\n", name, maxdiff);
	assert_true(ok);
	free(expected);
	return maxdiff;
}

/* The fixture model with the weights of dir/model.safetensors (dir: qa or simple-classifier). */
static VqaModel *
load_model(const char *dir)
{
	char		path[64];

	snprintf(path, sizeof(path), "visualbert/tiny/%s", dir);
	return unit_fixture_model("visualbert/tiny", strcmp(dir, "qa") == 0 ? VQA_HEAD_HUGGINGFACE
							  : VQA_HEAD_SIMPLE_CLASSIFIER, path);
}

typedef struct FixtureInputs
{
	VqaBatch	batch;
	int32_t    *ids,
			   *attended,
			   *types;
	float	   *feats,
			   *target;
} FixtureInputs;

/* The batch; with_mask 0: the authors' call, no attention mask and no token types. */
static void
load_inputs(FixtureInputs *in, int with_mask)
{
	VqaSafetensors *st = open_fixture("", "inputs.safetensors");
	const VqaStTensor *ids = vqa_st_find(st, "input_ids");
	const VqaStTensor *feats = vqa_st_find(st, "visual_embeds");

	in->ids = unit_read_ints(st, "input_ids");
	in->attended = unit_read_ints(st, "attention_mask");
	in->types = unit_read_ints(st, "token_type_ids");
	in->feats = unit_read_floats(st, "visual_embeds", NULL);
	in->target = unit_read_floats(st, "target", NULL);
	memset(&in->batch, 0, sizeof(in->batch));
	in->batch.batch = (int) ids->shape[0];
	in->batch.seq_len = (int) ids->shape[1];
	in->batch.num_boxes = (int) feats->shape[1];
	in->batch.input_ids = in->ids;
	in->batch.attended = with_mask ? in->attended : NULL;
	in->batch.token_type_ids = with_mask ? in->types : NULL;
	in->batch.visual_feats = in->feats;
	in->batch.visual_pos = NULL;	/* VisualBERT reads no boxes */
	vqa_st_free(st);
}

static void
free_inputs(FixtureInputs *in)
{
	free(in->ids);
	free(in->attended);
	free(in->types);
	free(in->feats);
	free(in->target);
}

/* log sum_a exp(z[a]) of one row of A logits, shifted by their max */
static double
log_sum_exp(const float *z, int A)
{
	double		max = -INFINITY,
				sum = 0.0;

	for (int a = 0; a < A; a++)
		max = fmax(max, z[a]);
	for (int a = 0; a < A; a++)
		sum += exp(z[a] - max);
	return max + log(sum);
}

/* The reference's losses from logits z (B x A) and targets t. */
static double
kl_loss(const float *z, const float *t, int B, int A)
{
	double		total = 0.0;

	for (int b = 0; b < B; b++)
	{
		double		lse = log_sum_exp(z + (size_t) b * A, A);

		for (int a = 0; a < A; a++)
			if (t[b * A + a] > 0)
				total += t[b * A + a] * (log(t[b * A + a]) - (z[b * A + a] - lse));
	}
	return total / B;
}

static double
soft_ce_loss(const float *z, const float *t, int B, int A)
{
	double		total = 0.0;

	for (int b = 0; b < B; b++)
	{
		double		lse = log_sum_exp(z + (size_t) b * A, A);

		for (int a = 0; a < A; a++)
			total -= t[b * A + a] * (z[b * A + a] - lse);
	}
	return total / B;
}

/* d kl_loss / dz = (softmax(z) sum_a t - t) / B */
static void
kl_grad(const float *z, const float *t, int B, int A, float *dz)
{
	for (int b = 0; b < B; b++)
	{
		double		max = -INFINITY,
					sum = 0.0,
					tsum = 0.0;

		for (int a = 0; a < A; a++)
		{
			max = fmax(max, z[b * A + a]);
			tsum += t[b * A + a];
		}
		for (int a = 0; a < A; a++)
			sum += exp(z[b * A + a] - max);
		for (int a = 0; a < A; a++)
			dz[b * A + a] = (float) ((exp(z[b * A + a] - max) / sum * tsum - t[b * A + a]) / B);
	}
}

static void
assert_loss(double mine, const VqaSafetensors *out, const char *name)
{
	float	   *expected = unit_read_floats(out, name, NULL);

	if (!(fabs(mine - expected[0]) <= REF_ABS || fabs(mine - expected[0]) <= REF_REL * fabs(expected[0])))
		print_error("%s: %.8g, reference %.8g\n", name, mine, expected[0]);
	assert_true(fabs(mine - expected[0]) <= REF_ABS ||
				fabs(mine - expected[0]) <= REF_REL * fabs(expected[0]));
	printf("%s OK, %.8g vs %.8g\n", name, mine, expected[0]);
	free(expected);
}

/*
 * One forward pass against the outputs stored under prefix ("" or
 * "no_mask."): logits, every hidden state, the pooled output and the
 * losses; logits receives B x A. Returns the BCE loss.
 */
static float
check_forward(VqaModel *model, const FixtureInputs *in, const VqaSafetensors *out,
			  const char *prefix, float *logits)
{
	const VqaModelConfig *c = &model->config;
	int			B = in->batch.batch,
				S = in->batch.seq_len + in->batch.num_boxes,
				A = c->num_qa_labels,
				H = c->hidden_size;
	float		loss;
	double		maxdiff,
				worst = 0.0;
	char		name[64];

	assert_int_equal(vqa_model_forward(model, &in->batch, logits, in->target, &loss), 0);
	snprintf(name, sizeof(name), "%slogits", prefix);
	worst = fmax(worst, maxdiff = check_tensor(logits, out, name, (int64_t) B * A));
	printf("%s OK, maxdiff = %.3g\n", name, maxdiff);
	for (int i = 0; i <= c->num_hidden_layers; i++)
	{
		snprintf(name, sizeof(name), "%shidden_states.%d", prefix, i);
		maxdiff = check_tensor(visual_bert_hidden_state(model, i), out, name, (int64_t) B * S * H);
		printf("%s OK, maxdiff = %.3g\n", name, maxdiff);
	}
	assert_null(visual_bert_hidden_state(model, c->num_hidden_layers + 1));
	snprintf(name, sizeof(name), "%spooled_output", prefix);
	maxdiff = check_tensor(visual_bert_pooler_output(model), out, name, (int64_t) B * H);
	printf("%s OK, maxdiff = %.3g\n", name, maxdiff);
	snprintf(name, sizeof(name), "%sbce_loss", prefix);
	assert_loss(loss, out, name);
	return loss;
}

/* ---------------------------------------------------------------------- */
/* Forward                                                                */
/* ---------------------------------------------------------------------- */

/*
 * HuggingFace's head: the logits, hidden states and pooled output, both
 * losses; the vector it reads (vqa_model_pooled) is the last hidden state
 * at the gather index the reference stored.
 */
static void
qa_forward_matches_reference(void **state)
{
	VqaModel   *model = load_model("qa");
	VqaSafetensors *out = open_fixture("qa", "outputs.safetensors");
	FixtureInputs in;
	int			A = model->config.num_qa_labels,
				H = model->config.hidden_size;
	float	   *logits;
	int32_t    *index;
	const float *last;
	const float *vec;

	load_inputs(&in, 1);
	logits = malloc(sizeof(float) * in.batch.batch * A);
	check_forward(model, &in, out, "", logits);
	assert_loss(kl_loss(logits, in.target, in.batch.batch, A), out, "kl_loss");

	index = unit_read_ints(out, "gather_index");
	last = visual_bert_hidden_state(model, model->config.num_hidden_layers);
	vec = vqa_model_pooled(model);
	for (int b = 0; b < in.batch.batch; b++)
		assert_memory_equal(vec + (size_t) b * H,
							last + ((size_t) b * (in.batch.seq_len + in.batch.num_boxes) + index[b]) * H,
							sizeof(float) * H);
	free(index);
	free(logits);
	free_inputs(&in);
	vqa_st_free(out);
	vqa_model_free(model);
}

/* The authors' head, with the mask and token types, and as the authors call it (neither). */
static void
simple_classifier_forward_matches_reference(void **state)
{
	VqaModel   *model = load_model("simple-classifier");
	VqaSafetensors *out = open_fixture("simple-classifier", "outputs.safetensors");
	int			A = model->config.num_qa_labels;

	for (int with_mask = 1; with_mask >= 0; with_mask--)
	{
		FixtureInputs in;
		float	   *logits;
		const char *prefix = with_mask ? "" : "no_mask.";
		char		name[64];

		load_inputs(&in, with_mask);
		logits = malloc(sizeof(float) * in.batch.batch * A);
		check_forward(model, &in, out, prefix, logits);
		snprintf(name, sizeof(name), "%ssoft_ce_loss", prefix);
		assert_loss(soft_ce_loss(logits, in.target, in.batch.batch, A), out, name);
		/* the vector the head reads is the pooled output */
		assert_ptr_equal(vqa_model_pooled(model), visual_bert_pooler_output(model));
		free(logits);
		free_inputs(&in);
	}
	vqa_st_free(out);
	vqa_model_free(model);
}

/* ---------------------------------------------------------------------- */
/* Backward                                                               */
/* ---------------------------------------------------------------------- */

/*
 * Every parameter's gradient against the reference file, which has one for
 * every parameter (the body under "visual_bert."), element by element
 * within REF_ABS or REF_REL; returns the largest absolute difference. The
 * padding row of the word embeddings must be exactly zero.
 */
static double
compare_gradients(const VqaModel *model, const VqaSafetensors *grads, double *worst_scaled)
{
	double		worst = 0.0;

	*worst_scaled = 0.0;
	assert_int_equal(vqa_st_count(grads), model->n_tensors);
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];
		const float *mine = model->grads + t->offset;
		char		name[128];
		float	   *expected;
		double		scale = 0.0,
					maxdiff;
		int			ok;

		snprintf(name, sizeof(name), "%s%s", t->module == LXMERT_HEAD ? "" : "visual_bert.",
				 t->name);
		expected = unit_read_floats(grads, name, NULL);
		for (size_t j = 0; j < t->numel; j++)
			scale = fmax(scale, fabs(expected[j]));
		ok = unit_close_enough(mine, expected, t->numel, REF_ABS, REF_REL, &maxdiff);
		if (!ok)
			print_error("%s: maxdiff %.3g, max|grad| %.3g\n", name, maxdiff, scale);
		assert_true(ok);
		worst = fmax(worst, maxdiff);
		if (scale > 1e-4)
			*worst_scaled = fmax(*worst_scaled, maxdiff / scale);
		free(expected);
	}
	{
		const VqaTensor *w = vqa_model_find_tensor(model, "embeddings.word_embeddings.weight");
		int			H = model->config.hidden_size;

		for (int j = 0; j < H; j++)
			assert_true(model->grads[w->offset + (size_t) model->config.pad_token_id * H + j] == 0.0f);
	}
	return worst;
}

/* The gradient of a loss with respect to the logits z (B x A), targets t. */
typedef void (*LossGrad) (const float *z, const float *t, int B, int A, float *dz);

/*
 * Forward on the fixture's inputs (with_mask as load_inputs), backward from
 * loss_grad's dlogits, then every gradient against dir/grads_file; prints
 * one line under label.
 */
static void
check_backward(VqaModel *model, const char *dir, const char *grads_file, int with_mask,
			   LossGrad loss_grad, const char *label)
{
	VqaSafetensors *grads = open_fixture(dir, grads_file);
	FixtureInputs in;
	int			A = model->config.num_qa_labels;
	float	   *logits,
			   *dlogits;
	double		worst,
				scaled;

	load_inputs(&in, with_mask);
	logits = malloc(sizeof(float) * in.batch.batch * A);
	dlogits = malloc(sizeof(float) * in.batch.batch * A);
	assert_int_equal(vqa_model_forward(model, &in.batch, logits, NULL, NULL), 0);
	loss_grad(logits, in.target, in.batch.batch, A, dlogits);
	assert_int_equal(vqa_model_zero_grad(model), 0);
	assert_int_equal(vqa_model_backward(model, dlogits, NULL), 0);
	worst = compare_gradients(model, grads, &scaled);
	printf("%s gradients OK: %d tensors, max abs diff %.3g, max diff / max|grad| %.3g\n", label,
		   model->n_tensors, worst, scaled);
	free(logits);
	free(dlogits);
	free_inputs(&in);
	vqa_st_free(grads);
}

/* HuggingFace's head: the gradient of kl_loss; the pooler's are zeros (it is not read). */
static void
qa_gradients_match_reference(void **state)
{
	VqaModel   *model = load_model("qa");

	check_backward(model, "qa", "grads.safetensors", 1, kl_grad, "qa kl_loss");
	vqa_model_free(model);
}

/* The authors' head: the gradient of bce_loss, with the mask and without. */
static void
simple_classifier_gradients_match_reference(void **state)
{
	VqaModel   *model = load_model("simple-classifier");

	check_backward(model, "simple-classifier", "grads.safetensors", 1, vqa_bce_grad,
				   "simple_classifier bce_loss");
	check_backward(model, "simple-classifier", "grads_no_mask.safetensors", 0, vqa_bce_grad,
				   "simple_classifier no_mask bce_loss");
	vqa_model_free(model);
}

/* A small random VisualBERT unlike the fixture: 2 heads, 3 layers, padded questions. */
typedef struct RandomSetup
{
	VqaModel   *model;
	VqaBatch	batch;
	int32_t		ids[3 * 6],
				attended[3 * 6],
				types[3 * 6];
	float		feats[3 * 4 * 5];
	float	   *weights;		/* L = sum(logits * weights) + sum(head vector * vec_weights) */
	float	   *vec_weights;
	float	   *logits;
} RandomSetup;

#define RANDOM_B 3
#define RANDOM_T 6
#define RANDOM_N 4
#define RANDOM_H 8
#define RANDOM_A 7

static void
random_setup(RandomSetup *r, uint64_t seed, VqaAnswerHead head)
{
	VqaModelConfig c;
	char		err[256];
	VqaRng		rng;

	visual_bert_config_default(&c);
	c.vocab_size = 11;
	c.hidden_size = RANDOM_H;
	c.num_attention_heads = 2;
	c.intermediate_size = 12;
	c.num_hidden_layers = 3;
	c.visual_feat_dim = 5;
	c.num_qa_labels = RANDOM_A;
	c.max_position_embeddings = 9;
	c.question_tokens = RANDOM_T;
	c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0.0f;
	c.answer_head = head;
	vqa_rng_seed(&rng, seed);
	r->model = vqa_model_new(&c, err, sizeof(err));
	assert_non_null(r->model);
	vqa_model_init_random(r->model, seed, 0.5f);
	/* LayerNorm weights away from 1 and biases away from 0 */
	for (size_t i = 0; i < r->model->n_params; i++)
		r->model->params[i] += (float) (0.1 * vqa_rng_normal(&rng));
	r->batch.batch = RANDOM_B;
	r->batch.seq_len = RANDOM_T;
	r->batch.num_boxes = RANDOM_N;
	for (int i = 0; i < RANDOM_B * RANDOM_T; i++)
	{
		/* the padding id 1 among the words: it must get no gradient */
		r->ids[i] = i % 5 == 2 ? c.pad_token_id : (int32_t) vqa_rng_below(&rng, 11);
		r->types[i] = (int32_t) vqa_rng_below(&rng, 2);
		r->attended[i] = (i % RANDOM_T) < RANDOM_T - (i / RANDOM_T);	/* 6, 5, 4 attended */
	}
	for (int i = 0; i < RANDOM_B * RANDOM_N * 5; i++)
		r->feats[i] = (float) vqa_rng_normal(&rng);
	r->batch.input_ids = r->ids;
	r->batch.attended = r->attended;
	r->batch.token_type_ids = r->types;
	r->batch.visual_feats = r->feats;
	r->batch.visual_pos = NULL;
	r->weights = malloc(sizeof(float) * RANDOM_B * RANDOM_A);
	r->vec_weights = malloc(sizeof(float) * RANDOM_B * RANDOM_H);
	r->logits = malloc(sizeof(float) * RANDOM_B * RANDOM_A);
	for (int i = 0; i < RANDOM_B * RANDOM_A; i++)
		r->weights[i] = (float) vqa_rng_normal(&rng);
	for (int i = 0; i < RANDOM_B * RANDOM_H; i++)
		r->vec_weights[i] = (float) vqa_rng_normal(&rng);
}

static double
random_loss(void *arg)
{
	RandomSetup *r = arg;
	double		loss = 0.0;
	const float *vec;

	assert_int_equal(vqa_model_forward(r->model, &r->batch, r->logits, NULL, NULL), 0);
	vec = vqa_model_pooled(r->model);
	for (int i = 0; i < RANDOM_B * RANDOM_A; i++)
		loss += (double) r->logits[i] * r->weights[i];
	for (int i = 0; i < RANDOM_B * RANDOM_H; i++)
		loss += (double) vec[i] * r->vec_weights[i];
	return loss;
}

static void
random_free(RandomSetup *r)
{
	free(r->weights);
	free(r->vec_weights);
	free(r->logits);
	vqa_model_free(r->model);
}

/*
 * Central differences in float32 are noisy: every check within 5% (plus
 * 2e-3 absolute) of the analytic gradient, nine in ten within 1% (plus
 * 1e-3), as LXMERT's test does. Three random entries of every tensor (the
 * embeddings, visual_projection, Q/K/V and attention output, the FFN, the
 * LayerNorms, the pooler, the head), through the logits and the vector a
 * debiasing gate reads (vqa_model_backward's dpooled).
 */
static void
check_finite_differences(VqaAnswerHead head)
{
	RandomSetup r;
	VqaRng		rng;
	int			checked = 0,
				close = 0;
	const float eps = 1e-2f;
	const VqaTensor *word;

	random_setup(&r, 42, head);
	vqa_rng_seed(&rng, 7);
	random_loss(&r);
	assert_int_equal(vqa_model_zero_grad(r.model), 0);
	assert_int_equal(vqa_model_backward(r.model, r.weights, r.vec_weights), 0);
	word = vqa_model_find_tensor(r.model, "embeddings.word_embeddings.weight");
	for (int j = 0; j < RANDOM_H; j++)
		assert_true(r.model->grads[word->offset + (size_t) r.model->config.pad_token_id * RANDOM_H + j] == 0.0f);

	for (int i = 0; i < r.model->n_tensors; i++)
	{
		const VqaTensor *t = &r.model->tensors[i];

		for (int k = 0; k < 3; k++)
		{
			size_t		j = t->offset + vqa_rng_below(&rng, t->numel);

			/* the padding row is used but, by design, not trained */
			if (t == word && (j - t->offset) / RANDOM_H == (size_t) r.model->config.pad_token_id)
				j += RANDOM_H;
			close += unit_check_central_difference(r.model, t, j, eps, random_loss, &r);
			checked++;
		}
	}
	printf("finite differences (%s head): %d checks, %d within 1%%\n",
		   head == VQA_HEAD_SIMPLE_CLASSIFIER ? "simple_classifier" : "visual_bert", checked, close);
	assert_true(close >= checked * 9 / 10);
	random_free(&r);
}

static void
qa_gradients_match_finite_differences(void **state)
{
	check_finite_differences(VQA_HEAD_HUGGINGFACE);
}

static void
simple_classifier_gradients_match_finite_differences(void **state)
{
	check_finite_differences(VQA_HEAD_SIMPLE_CLASSIFIER);
}

/* ---------------------------------------------------------------------- */
/* Layout, initialisation, evaluation forms                               */
/* ---------------------------------------------------------------------- */

/*
 * theta_pr is exactly the authors' weight_types K, Q, V, AO, I, O, P, E:
 * never visual_projection, position or token-type embeddings, LayerNorms,
 * biases or the head; and VisualBERT base's sizes per module.
 */
static void
prunable_set_is_the_authors_weight_types(void **state)
{
	static const char *const LAYER_WEIGHTS[] = {
		"attention.self.query", "attention.self.key", "attention.self.value",
		"attention.output.dense", "intermediate.dense", "output.dense",
	};

	for (int head = 0; head < 2; head++)
	{
		VqaModelConfig c;
		char		err[256];
		VqaModel   *m;
		int			expected = 0,
					prunable = 0;
		size_t		by_module[VQA_MODULE_ENCODER + 1] = {0};

		visual_bert_config_default(&c);
		c.num_qa_labels = 3129;
		c.answer_head = (VqaAnswerHead) head;
		m = vqa_model_new(&c, err, sizeof(err));
		assert_non_null(m);
		assert_int_equal(m->n_tensors, 9 + 16 * 12 + 2 + (head ? 6 : 2));
		for (int l = 0; l < c.num_hidden_layers; l++)
			for (size_t k = 0; k < sizeof(LAYER_WEIGHTS) / sizeof(LAYER_WEIGHTS[0]); k++)
			{
				char		name[96];
				const VqaTensor *t;

				snprintf(name, sizeof(name), "visual_bert.encoder.layer.%d.%s.weight", l,
						 LAYER_WEIGHTS[k]);
				t = vqa_model_find_tensor(m, name);
				assert_non_null(t);
				assert_true(t->prunable);
				assert_int_equal(t->module, VQA_MODULE_ENCODER);
				expected++;
			}
		assert_true(vqa_model_find_tensor(m, "pooler.dense.weight")->prunable);
		assert_int_equal(vqa_model_find_tensor(m, "pooler.dense.weight")->module, LXMERT_POOLER);
		assert_true(vqa_model_find_tensor(m, "embeddings.word_embeddings.weight")->prunable);
		assert_int_equal(vqa_model_find_tensor(m, "embeddings.word_embeddings.weight")->module,
						 VQA_MODULE_ENCODER);
		assert_false(vqa_model_find_tensor(m, "embeddings.visual_projection.weight")->prunable);
		assert_int_equal(vqa_model_find_tensor(m, "embeddings.visual_projection.weight")->module,
						 LXMERT_EMBEDDINGS_OTHER);
		expected += 2;
		for (int i = 0; i < m->n_tensors; i++)
		{
			const VqaTensor *t = &m->tensors[i];

			prunable += t->prunable;
			if (t->prunable)
				by_module[t->module] += t->numel;
			if (t->module == LXMERT_HEAD)
				assert_true(strncmp(t->name, "cls.", 4) == 0 && !t->prunable);
		}
		assert_int_equal(prunable, expected);
		/* 30522 x 768 word embeddings + 12 x (4 x 768^2 + 2 x 768 x 3072); the pooler 768^2 */
		assert_int_equal(by_module[VQA_MODULE_ENCODER], 23440896 + 84934656);
		assert_int_equal(by_module[LXMERT_POOLER], 589824);
		assert_int_equal(by_module[LXMERT_HEAD] + by_module[LXMERT_EMBEDDINGS_OTHER], 0);
		if (head)
		{
			assert_int_equal(vqa_model_find_tensor(m, "cls.main.0.weight_g")->ndim, 0);
			assert_int_equal(vqa_model_find_tensor(m, "cls.main.3.weight_v")->shape[0], 3129);
		}
		else
			assert_int_equal(vqa_model_find_tensor(m, "cls.weight")->shape[1], 768);
		vqa_model_free(m);
	}
}

/*
 * HuggingFace's _init_weights: N(0, std) weights with the padding row of
 * the word embeddings zeroed, zero biases, LayerNorm 1 and 0; the authors'
 * head with gains the norms of their directions.
 */
static void
init_random_is_huggingfaces(void **state)
{
	RandomSetup r;

	random_setup(&r, 5, VQA_HEAD_SIMPLE_CLASSIFIER);
	vqa_model_init_random(r.model, 9, 0.02f);
	for (int i = 0; i < r.model->n_tensors; i++)
	{
		const VqaTensor *t = &r.model->tensors[i];
		const float *p = r.model->params + t->offset;
		size_t		n = strlen(t->name);

		if (strstr(t->name, "LayerNorm.weight"))
			for (size_t j = 0; j < t->numel; j++)
				assert_true(p[j] == 1.0f);
		else if (n > 5 && strcmp(t->name + n - 5, ".bias") == 0)
			for (size_t j = 0; j < t->numel; j++)
				assert_true(p[j] == 0.0f);
		else if (strcmp(t->name, "cls.main.0.weight_g") == 0 || strcmp(t->name, "cls.main.3.weight_g") == 0)
		{
			const VqaTensor *v = t + 1;
			double		sq = 0.0;

			for (size_t j = 0; j < v->numel; j++)
				sq += (double) r.model->params[v->offset + j] * r.model->params[v->offset + j];
			assert_true(fabs(p[0] - sqrt(sq)) <= 1e-5 * sqrt(sq));
		}
		else if (strcmp(t->name, "embeddings.word_embeddings.weight") == 0)
			for (int row = 0; row < t->shape[0]; row++)
				for (int j = 0; j < t->shape[1]; j++)
					assert_true((p[row * t->shape[1] + j] == 0.0f) ==
								(row == r.model->config.pad_token_id));
	}
	random_free(&r);
}

/* Same seed and step, same dropout masks; training differs from evaluation. */
static void
dropout_is_seeded(void **state)
{
	for (int head = 0; head < 2; head++)
	{
		RandomSetup r;

		random_setup(&r, 44, (VqaAnswerHead) head);
		unit_check_dropout_is_seeded(r.model, &r.batch);
		random_free(&r);
	}
}

/*
 * Forward only: the same logits, bit for bit, from less activation memory,
 * and no backward; sparse forms of a half-pruned model give the masked
 * dense model's logits.
 */
static void
forward_only_and_sparse_forms(void **state)
{
	for (int head = 0; head < 2; head++)
	{
		RandomSetup r;
		VqaModel   *fo;
		char		err[256];
		float		dense[RANDOM_B * RANDOM_A],
					d[RANDOM_B * RANDOM_A] = {0};
		float	   *mask;
		double		maxdiff = 0.0;
		VqaRng		rng;
		int			sparse = 0;

		random_setup(&r, 45, (VqaAnswerHead) head);
		fo = vqa_model_new(&r.model->config, err, sizeof(err));
		assert_non_null(fo);
		memcpy(fo->params, r.model->params, sizeof(float) * r.model->n_params);
		fo->forward_only = 1;
		random_loss(&r);
		assert_int_equal(vqa_model_forward(fo, &r.batch, dense, NULL, NULL), 0);
		assert_memory_equal(dense, r.logits, sizeof(dense));
		assert_true(vqa_model_activation_bytes(fo) < vqa_model_activation_bytes(r.model));
		assert_int_equal(vqa_model_zero_grad(fo), 0);
		assert_int_equal(vqa_model_backward(fo, d, NULL), -1);
		vqa_model_free(fo);

		vqa_rng_seed(&rng, 3);
		mask = malloc(sizeof(float) * r.model->n_params);
		for (size_t i = 0; i < r.model->n_params; i++)
			mask[i] = 1.0f;
		for (int i = 0; i < r.model->n_tensors; i++)
			if (r.model->tensors[i].prunable)
				for (size_t j = 0; j < r.model->tensors[i].numel; j++)
					mask[r.model->tensors[i].offset + j] = vqa_rng_uniform(&rng) < 0.5 ? 0.0f : 1.0f;
		assert_int_equal(vqa_model_set_mask(r.model, mask), 0);
		assert_int_equal(vqa_model_forward(r.model, &r.batch, dense, NULL, NULL), 0);
		assert_int_equal(vqa_model_use_sparse(r.model, 0.9), 0);
		for (int i = 0; i < r.model->n_tensors; i++)
			sparse += r.model->sparse[i] != NULL;
		/* every prunable matrix but the word embeddings (a lookup) */
		assert_int_equal(sparse, 6 * r.model->config.num_hidden_layers + 1);
		assert_int_equal(vqa_model_forward(r.model, &r.batch, r.logits, NULL, NULL), 0);
		for (int i = 0; i < RANDOM_B * RANDOM_A; i++)
			maxdiff = fmax(maxdiff, fabs(r.logits[i] - dense[i]));
		assert_true(maxdiff <= 1e-5);
		printf("sparse forms (%s head): %d matrices, logits maxdiff %.3g\n",
			   head ? "simple_classifier" : "visual_bert", sparse, maxdiff);
		free(mask);
		random_free(&r);
	}
}

int
run_visual_bert_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_from_json),
		cmocka_unit_test(config_errors),
		cmocka_unit_test(config_check_catches_foreign_fields),
		cmocka_unit_test(qa_forward_matches_reference),
		cmocka_unit_test(simple_classifier_forward_matches_reference),
		cmocka_unit_test(qa_gradients_match_reference),
		cmocka_unit_test(simple_classifier_gradients_match_reference),
		cmocka_unit_test(qa_gradients_match_finite_differences),
		cmocka_unit_test(simple_classifier_gradients_match_finite_differences),
		cmocka_unit_test(prunable_set_is_the_authors_weight_types),
		cmocka_unit_test(init_random_is_huggingfaces),
		cmocka_unit_test(dropout_is_seeded),
		cmocka_unit_test(forward_only_and_sparse_forms),
	};

	return UNIT_GROUP(visual_bert, tests, n_tests);
}
