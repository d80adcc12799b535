/*
 * test_padding.c: batches padded to their longest question give the
 * logits, the pooled vector and the gradients of the same questions padded
 * to the fixed length, for LXMERT and VisualBERT with either answer head;
 * the fixed length stays where the padding is attended; bucketing by length
 * is a permutation that depends on the seed alone, keeps a batch's lengths
 * close, and a trainer that buckets resumes from a saved state as if never
 * stopped; its activation arena is sized once, for the longest batch.
 */
#include "unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/examples.h"
#include "vqaprune/rng.h"
#include "vqaprune/train.h"
#include "vqaprune/visual_bert.h"

#define TOKENS 20
#define QUESTIONS 10
#define IMAGES 4
#define BOXES 5
#define DIM 12
#define ANSWERS 7
#define VOCAB 40

/* [CLS] ... [SEP] of each question; 20 is a question with no padding */
static const int LENGTHS[QUESTIONS] = {9, 5, 14, 7, 20, 3, 11, 6, 8, 12};

/* QUESTIONS questions of LENGTHS, with [CLS] 2, [SEP] 3 and padding 0, or every position attended. */
static VqaExamples *
length_examples(int attend_padding)
{
	VqaExamples *ex = vqa_examples_new(QUESTIONS, TOKENS, IMAGES, BOXES, DIM, ANSWERS, 2,
									   (size_t) QUESTIONS, 0);
	VqaRng		rng;

	assert_non_null(ex);
	vqa_rng_seed(&rng, 31);
	for (int q = 0; q < QUESTIONS; q++)
	{
		int32_t    *ids = ex->input_ids + q * TOKENS;

		ex->question_ids[q] = q;
		ex->image_of[q] = q % IMAGES;
		ex->type_of[q] = q % 2;
		for (int t = 0; t < TOKENS; t++)
		{
			ids[t] = t == 0 ? 2 : t == LENGTHS[q] - 1 ? 3 : t < LENGTHS[q]
				? (int32_t) (5 + vqa_rng_below(&rng, VOCAB - 5)) : 0;
			ex->attended[q * TOKENS + t] = attend_padding || t < LENGTHS[q];
		}
		ex->target_start[q] = q;
		ex->target_ids[q] = q % ANSWERS;
		ex->target_scores[q] = 1.0f;
	}
	ex->target_start[QUESTIONS] = QUESTIONS;
	for (size_t i = 0; i < (size_t) IMAGES * BOXES * DIM; i++)
		ex->features[i] = (float) vqa_rng_normal(&rng);
	for (size_t i = 0; i < (size_t) IMAGES * BOXES * 4; i++)
		ex->boxes[i] = (float) vqa_rng_uniform(&rng);
	for (size_t i = 0; i < (size_t) 2 * ANSWERS; i++)
		ex->priors[i] = (float) vqa_rng_uniform(&rng);
	return ex;
}

static VqaModel *
random_model(VqaModelType type, VqaAnswerHead head)
{
	VqaModelConfig c;
	char		err[256];
	VqaModel   *model;

	if (type == VQA_MODEL_VISUAL_BERT)
	{
		visual_bert_config_default(&c);
		c.num_hidden_layers = 2;
	}
	else
	{
		vqa_model_config_default(&c);
		c.l_layers = 2;
		c.r_layers = 1;
		c.x_layers = 2;
	}
	c.vocab_size = VOCAB;
	c.hidden_size = 32;
	c.num_attention_heads = 4;
	c.intermediate_size = 48;
	c.visual_feat_dim = DIM;
	c.num_qa_labels = ANSWERS;
	c.max_position_embeddings = 24;
	c.question_tokens = TOKENS;
	c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0.0f;
	c.answer_head = head;
	model = vqa_model_new(&c, err, sizeof(err));
	assert_non_null(model);
	vqa_model_init_random(model, 7, 0.1f);
	return model;
}

typedef struct PassResult
{
	int			seq_len;
	float		logits[QUESTIONS * ANSWERS];
	float		pooled[QUESTIONS * 32];
	float	   *grads;
} PassResult;

/* Forward (with training on, dropout 0 but the simple classifier's) and backward of questions idx, padded as ex says. */
static void
pass(VqaModel *model, const VqaExamples *ex, const int *idx, int count, PassResult *r)
{
	VqaBatchBuffers *buf = vqa_batch_buffers_new(ex, count);
	VqaBatch	batch;
	float		dlogits[QUESTIONS * ANSWERS];

	assert_non_null(buf);
	assert_int_equal(vqa_examples_batch(ex, idx, count, buf, &batch), 0);
	r->seq_len = batch.seq_len;
	/* the simple classifier's dropout: the same draws in both passes */
	model->training = 1;
	model->dropout_step = 0;
	assert_int_equal(vqa_model_zero_grad(model), 0);
	assert_int_equal(vqa_model_forward(model, &batch, r->logits, NULL, NULL), 0);
	memcpy(r->pooled, vqa_model_pooled(model), sizeof(float) * count * 32);
	for (int i = 0; i < count * ANSWERS; i++)
		dlogits[i] = (float) ((i % 5) - 2) * 0.25f;
	assert_int_equal(vqa_model_backward(model, dlogits, r->pooled), 0);
	r->grads = malloc(sizeof(float) * model->n_params);
	assert_non_null(r->grads);
	memcpy(r->grads, model->grads, sizeof(float) * model->n_params);
	vqa_batch_buffers_free(buf);
}

static double
max_abs_diff(const float *a, const float *b, size_t n)
{
	double		worst = 0.0;

	for (size_t i = 0; i < n; i++)
		worst = fmax(worst, fabs((double) a[i] - b[i]));
	return worst;
}

static double
max_abs(const float *a, size_t n)
{
	double		worst = 0.0;

	for (size_t i = 0; i < n; i++)
		worst = fmax(worst, fabs((double) a[i]));
	return worst;
}

/*
 * Logits and the head's input vector within 1e-6, gradients within 1e-5 of
 * their largest: only the summation order may differ.
 */
static void
check_trimmed_equals_padded(VqaModelType type, VqaAnswerHead head)
{
	VqaExamples *ex = length_examples(0);
	VqaModel   *model = random_model(type, head);
	static const int all[QUESTIONS] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	static const int short_ones[4] = {1, 5, 7, 3};	/* at most 7 tokens */
	const int  *batches[2] = {all, short_ones};
	int			counts[2] = {QUESTIONS, 4};
	int			expected_T[2] = {20, 7};

	for (int k = 0; k < 2; k++)
	{
		PassResult	padded,
					trimmed;

		ex->batch_padding = 0;
		pass(model, ex, batches[k], counts[k], &padded);
		ex->batch_padding = 1;
		pass(model, ex, batches[k], counts[k], &trimmed);
		assert_int_equal(padded.seq_len, TOKENS);
		assert_int_equal(trimmed.seq_len, expected_T[k]);
		assert_true(max_abs(padded.logits, (size_t) counts[k] * ANSWERS) > 1e-3);
		assert_true(max_abs_diff(padded.logits, trimmed.logits, (size_t) counts[k] * ANSWERS) <= 1e-6);
		assert_true(max_abs_diff(padded.pooled, trimmed.pooled, (size_t) counts[k] * 32) <= 1e-6);
		assert_true(max_abs_diff(padded.grads, trimmed.grads, model->n_params)
					<= 1e-5 * max_abs(padded.grads, model->n_params));
		free(padded.grads);
		free(trimmed.grads);
	}
	vqa_model_free(model);
	vqa_examples_free(ex);
}

static void
lxmert_trimmed_batches_are_the_padded_ones(void **state)
{
	check_trimmed_equals_padded(VQA_MODEL_LXMERT, VQA_HEAD_HUGGINGFACE);
	check_trimmed_equals_padded(VQA_MODEL_LXMERT, VQA_HEAD_SIMPLE_CLASSIFIER);
}

static void
visual_bert_trimmed_batches_are_the_padded_ones(void **state)
{
	check_trimmed_equals_padded(VQA_MODEL_VISUAL_BERT, VQA_HEAD_HUGGINGFACE);
	check_trimmed_equals_padded(VQA_MODEL_VISUAL_BERT, VQA_HEAD_SIMPLE_CLASSIFIER);
}

/*
 * A batch's ids and mask are the stored rows cut to its longest question;
 * with fixed padding, or with the padding attended, they are the rows
 * whole; a question attending nothing keeps its full length.
 */
static void
batches_are_as_long_as_their_longest_question(void **state)
{
	VqaExamples *ex = length_examples(0);
	VqaExamples *attended = length_examples(1);
	VqaBatchBuffers *buf = vqa_batch_buffers_new(ex, 3);
	VqaBatch	batch;
	int			idx[3] = {0, 2, 5};

	assert_non_null(buf);
	for (int q = 0; q < QUESTIONS; q++)
	{
		assert_int_equal(vqa_examples_length(ex, q), LENGTHS[q]);
		assert_int_equal(vqa_examples_length(attended, q), TOKENS);
	}
	ex->batch_padding = 1;
	assert_int_equal(vqa_examples_batch(ex, idx, 3, buf, &batch), 0);
	assert_int_equal(batch.seq_len, 14);
	for (int b = 0; b < 3; b++)
	{
		assert_memory_equal(buf->input_ids + b * 14, ex->input_ids + idx[b] * TOKENS,
							sizeof(int32_t) * 14);
		assert_memory_equal(buf->attended + b * 14, ex->attended + idx[b] * TOKENS,
							sizeof(int32_t) * 14);
	}
	ex->batch_padding = 0;
	assert_int_equal(vqa_examples_batch(ex, idx, 3, buf, &batch), 0);
	assert_int_equal(batch.seq_len, TOKENS);
	for (int b = 0; b < 3; b++)
		assert_memory_equal(buf->input_ids + b * TOKENS, ex->input_ids + idx[b] * TOKENS,
							sizeof(int32_t) * TOKENS);
	attended->batch_padding = 1;
	assert_int_equal(vqa_examples_batch(attended, idx, 3, buf, &batch), 0);
	assert_int_equal(batch.seq_len, TOKENS);
	memset(ex->attended + 5 * TOKENS, 0, sizeof(int32_t) * TOKENS);
	assert_int_equal(vqa_examples_length(ex, 5), TOKENS);
	vqa_batch_buffers_free(buf);
	vqa_examples_free(ex);
	vqa_examples_free(attended);
}

/* The encoding keys: "padding" defaults to "batch" with the mask, and must be "fixed" without. */
static void
padding_follows_the_attention_mask(void **state)
{
	VqaModelConfig c;
	char		err[256];
	char	   *json;

	assert_int_equal(vqa_model_config_parse("{}", &c, err, sizeof(err)), 0);
	assert_false(c.fixed_padding);
	json = vqa_model_config_to_json(&c);
	assert_null(strstr(json, "padding"));
	free(json);
	assert_int_equal(vqa_model_config_parse("{\"padding\": \"fixed\"}", &c, err, sizeof(err)), 0);
	assert_true(c.fixed_padding);
	json = vqa_model_config_to_json(&c);
	assert_non_null(strstr(json, "\"padding\": \"fixed\""));
	assert_int_equal(vqa_model_config_parse(json, &c, err, sizeof(err)), 0);
	assert_true(c.fixed_padding);
	free(json);
	/* the authors' recipe: 14 tokens, no specials, padding attended */
	assert_int_equal(vqa_model_config_parse("{\"model_type\": \"visual_bert\", \"question_tokens\": 14, "
											"\"special_tokens\": false, \"attention_mask\": false}",
											&c, err, sizeof(err)), 0);
	assert_true(c.fixed_padding);
	json = vqa_model_config_to_json(&c);
	assert_null(strstr(json, "padding"));
	free(json);
	assert_int_equal(vqa_model_config_parse("{\"attention_mask\": false, \"padding\": \"batch\"}",
											&c, err, sizeof(err)), -1);
	assert_string_equal(err, "invalid LXMERT config: \"padding\": \"batch\" needs the attention "
						"mask: without it the padding is attended and its length changes the results");
	assert_int_equal(vqa_model_config_parse("{\"padding\": 20}", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "invalid LXMERT config: config key \"padding\" must be \"batch\" or "
						"\"fixed\"");
}

/* Longest minus shortest question of each full batch of order. */
static int
widest_batch(const VqaExamples *ex, const int *order, int batch_size)
{
	int			widest = 0;

	for (int from = 0; from + batch_size <= ex->n; from += batch_size)
	{
		int			lo = TOKENS,
					hi = 0;

		for (int k = from; k < from + batch_size; k++)
		{
			int			len = vqa_examples_length(ex, order[k]);

			lo = len < lo ? len : lo;
			hi = len > hi ? len : hi;
		}
		widest = hi - lo > widest ? hi - lo : widest;
	}
	return widest;
}

/*
 * One chunk of all the batches: each batch holds neighbours in length;
 * the same seed gives the same order, another seed another; the partial
 * batch stays last.
 */
static void
bucketing_is_reproducible_from_the_seed(void **state)
{
	VqaExamples *ex = length_examples(0);
	int		   *scratch = malloc(sizeof(int) * VQA_BUCKET_SCRATCH(ex));
	int			a[QUESTIONS],
				b[QUESTIONS],
				c[QUESTIONS],
				seen[QUESTIONS] = {0};
	VqaRng		rng;

	assert_non_null(scratch);
	for (int i = 0; i < QUESTIONS; i++)
		a[i] = b[i] = c[i] = i;
	vqa_rng_seed(&rng, 4);
	vqa_rng_shuffle_int(&rng, a, QUESTIONS);
	vqa_examples_bucket_order(ex, a, 3, 4, &rng, scratch);
	vqa_rng_seed(&rng, 4);
	vqa_rng_shuffle_int(&rng, b, QUESTIONS);
	vqa_examples_bucket_order(ex, b, 3, 4, &rng, scratch);
	vqa_rng_seed(&rng, 5);
	vqa_rng_shuffle_int(&rng, c, QUESTIONS);
	vqa_examples_bucket_order(ex, c, 3, 4, &rng, scratch);
	assert_memory_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, c, sizeof(a));
	for (int i = 0; i < QUESTIONS; i++)
		seen[a[i]]++;
	for (int i = 0; i < QUESTIONS; i++)
		assert_int_equal(seen[i], 1);
	/* sorted lengths 3 5 6 7 8 9 11 12 14 20: batches of 3 are at most 3 apart */
	assert_true(widest_batch(ex, a, 3) <= 3);
	assert_int_equal(vqa_examples_length(ex, a[9]), 20);
	free(scratch);
	vqa_examples_free(ex);
}

/* Every step of a bucketing trainer, the same after a state saved and restored midway. */
static void
a_bucketing_trainer_resumes_where_it_stopped(void **state)
{
	VqaExamples *ex = length_examples(0);
	VqaModel   *a = random_model(VQA_MODEL_LXMERT, VQA_HEAD_HUGGINGFACE);
	VqaModel   *b = random_model(VQA_MODEL_LXMERT, VQA_HEAD_HUGGINGFACE);
	VqaTrainConfig config = {0};
	char		err[256];
	VqaTrainer *ta,
			   *tb;
	double		loss,
				score;
	int			count,
				steps;
	void	   *saved;
	size_t		bytes;

	ex->batch_padding = 1;
	config.epochs = 3;
	config.batch_size = 3;
	config.lr = 1e-3f;
	config.max_grad_norm = 1.0f;
	config.seed = 9;
	config.loss = VQA_LOSS_BCE;
	config.length_buckets = 2;
	vqa_loss_default_options(&config.loss_options);
	ta = vqa_trainer_new(a, ex, &config, err, sizeof(err));
	tb = vqa_trainer_new(b, ex, &config, err, sizeof(err));
	assert_non_null(ta);
	assert_non_null(tb);
	steps = vqa_trainer_total_steps(ta);
	for (int s = 0; s < steps; s++)
		assert_int_equal(vqa_trainer_step(ta, &loss, &score, &count), 1);
	/* stop b in its second epoch, and go on in a new trainer from its state */
	for (int s = 0; s < 6; s++)
		assert_int_equal(vqa_trainer_step(tb, &loss, &score, &count), 1);
	bytes = vqa_trainer_state_bytes(tb);
	saved = malloc(bytes);
	assert_non_null(saved);
	vqa_trainer_save_state(tb, saved);
	vqa_trainer_free(tb);
	tb = vqa_trainer_new(b, ex, &config, err, sizeof(err));
	assert_non_null(tb);
	assert_int_equal(vqa_trainer_load_state(tb, saved, bytes, err, sizeof(err)), 0);
	for (int s = 6; s < steps; s++)
		assert_int_equal(vqa_trainer_step(tb, &loss, &score, &count), 1);
	assert_memory_equal(a->params, b->params, sizeof(float) * a->n_params);
	free(saved);
	vqa_trainer_free(ta);
	vqa_trainer_free(tb);
	vqa_model_free(a);
	vqa_model_free(b);
	vqa_examples_free(ex);
}

/*
 * A trainer sizes the activation arena for its longest batch at the start:
 * the batches of per-batch padding, shorter or not, never grow it. Shapes
 * the model cannot take are refused.
 */
static void
the_arena_is_sized_once_for_the_longest_batch(void **state)
{
	VqaExamples *ex = length_examples(0);
	VqaModel   *model = random_model(VQA_MODEL_LXMERT, VQA_HEAD_HUGGINGFACE);
	VqaTrainConfig config = {0};
	char		err[256];
	VqaTrainer *t;
	double		loss,
				score;
	int			count;
	size_t		reserved;

	ex->batch_padding = 1;
	config.epochs = 2;
	config.batch_size = 2;
	config.lr = 1e-3f;
	config.seed = 5;
	config.loss = VQA_LOSS_BCE;
	vqa_loss_default_options(&config.loss_options);
	t = vqa_trainer_new(model, ex, &config, err, sizeof(err));
	assert_non_null(t);
	reserved = vqa_model_activation_bytes(model);
	assert_int_equal(reserved, vqa_model_activation_bytes_for(&model->config, 2, TOKENS, BOXES, 0));
	for (int s = 0; s < vqa_trainer_total_steps(t); s++)
	{
		assert_int_equal(vqa_trainer_step(t, &loss, &score, &count), 1);
		assert_int_equal(vqa_model_activation_bytes(model), reserved);
	}
	assert_int_equal(vqa_model_reserve(model, 2, 25, BOXES), -1);
	assert_int_equal(vqa_model_reserve(model, 0, TOKENS, BOXES), -1);
	vqa_trainer_free(t);
	vqa_model_free(model);
	vqa_examples_free(ex);
}

int
run_padding_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lxmert_trimmed_batches_are_the_padded_ones),
		cmocka_unit_test(visual_bert_trimmed_batches_are_the_padded_ones),
		cmocka_unit_test(batches_are_as_long_as_their_longest_question),
		cmocka_unit_test(padding_follows_the_attention_mask),
		cmocka_unit_test(bucketing_is_reproducible_from_the_seed),
		cmocka_unit_test(a_bucketing_trainer_resumes_where_it_stopped),
		cmocka_unit_test(the_arena_is_sized_once_for_the_longest_batch),
	};

	return UNIT_GROUP(padding, tests, n_tests);
}
