/*
 * test_examples.c: batches of a split whose features come from a feature
 * source (as the server's temporary file gives them) are the same bits as
 * batches of the split in memory, float32 and half; a failed read is
 * reported; a trainer over a source asks for every image before it reads
 * it and trains the same weights.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/examples.h"
#include "vqaprune/half.h"
#include "vqaprune/rng.h"
#include "vqaprune/train.h"

#define IMAGES 5
#define BOXES 3
#define DIM 12
#define ANSWERS 6
#define TOKENS 6

/* A feature source over rows in memory that counts what it is asked. */
typedef struct MemorySource
{
	const unsigned char *rows;	/* IMAGES rows as stored */
	size_t		row_bytes;
	int			fail_image;		/* a read of it fails; -1: none, IMAGES: any */
	int			reads;
	int			pending[IMAGES];	/* prefetches not yet followed by a read */
	int			unasked_reads;	/* reads of an image with none pending */
	int			closed;
} MemorySource;

static int
memory_read(void *context, int image, void *dest, char *errbuf, size_t errlen)
{
	MemorySource *ms = context;

	if (image == ms->fail_image || ms->fail_image == IMAGES)
	{
		snprintf(errbuf, errlen, "image row %d is unreadable", image);
		return -1;
	}
	if (ms->pending[image] > 0)
		ms->pending[image]--;
	else
		ms->unasked_reads++;
	ms->reads++;
	memcpy(dest, ms->rows + (size_t) image * ms->row_bytes, ms->row_bytes);
	return 0;
}

static void
memory_prefetch(void *context, int image)
{
	((MemorySource *) context)->pending[image]++;
}

static void
memory_close(void *context)
{
	((MemorySource *) context)->closed++;
}

/* n questions on IMAGES images, random features (float32 or half), targets and priors. */
static VqaExamples *
random_examples(int n, int half)
{
	VqaExamples *ex = vqa_examples_new(n, TOKENS, IMAGES, BOXES, DIM, ANSWERS, 2, (size_t) 2 * n,
									   half);
	size_t		values = (size_t) IMAGES * BOXES * DIM;
	float	   *features = malloc(sizeof(float) * values);
	VqaRng		rng;

	assert_non_null(ex);
	assert_non_null(features);
	vqa_rng_seed(&rng, 17);
	for (int q = 0; q < n; q++)
	{
		ex->question_ids[q] = 100 + q;
		ex->image_of[q] = (q * 3) % IMAGES;
		ex->type_of[q] = q % 2;
		for (int t = 0; t < TOKENS; t++)
		{
			ex->input_ids[q * TOKENS + t] = (int32_t) (1 + vqa_rng_below(&rng, 39));
			ex->attended[q * TOKENS + t] = t < 4;
		}
		ex->target_start[q] = 2 * q;
		ex->target_ids[2 * q] = (int32_t) vqa_rng_below(&rng, 3);
		ex->target_ids[2 * q + 1] = (int32_t) (3 + vqa_rng_below(&rng, 3));
		ex->target_scores[2 * q] = 1.0f;
		ex->target_scores[2 * q + 1] = 0.3f;
	}
	ex->target_start[n] = 2 * n;
	for (size_t i = 0; i < values; i++)
		features[i] = (float) vqa_rng_normal(&rng);
	if (half)
		vqa_half_from_float(features, ex->features_half, values);
	else
		memcpy(ex->features, features, sizeof(float) * values);
	for (size_t i = 0; i < (size_t) IMAGES * BOXES * 4; i++)
		ex->boxes[i] = (float) vqa_rng_uniform(&rng);
	for (size_t i = 0; i < (size_t) 2 * ANSWERS; i++)
		ex->priors[i] = (float) vqa_rng_uniform(&rng);
	free(features);
	return ex;
}

/* The same examples with their features behind a MemorySource over the in-memory rows. */
static VqaExamples *
sourced_copy(const VqaExamples *ex, MemorySource *ms)
{
	size_t		n_targets = (size_t) ex->target_start[ex->n];
	VqaFeatureSource source = {0};
	VqaExamples *copy;

	memset(ms, 0, sizeof(*ms));
	ms->rows = ex->half_features ? (const unsigned char *) ex->features_half
		: (const unsigned char *) ex->features;
	ms->row_bytes = (size_t) BOXES * DIM * (ex->half_features ? sizeof(uint16_t) : sizeof(float));
	ms->fail_image = -1;
	source.context = ms;
	source.read = memory_read;
	source.prefetch = memory_prefetch;
	source.close = memory_close;
	copy = vqa_examples_new_sourced(ex->n, ex->seq_len, ex->n_images, ex->num_boxes,
									ex->feature_dim, ex->answers, ex->n_types, n_targets,
									ex->half_features, &source);
	assert_non_null(copy);
	assert_null(copy->features);
	assert_null(copy->features_half);
	memcpy(copy->question_ids, ex->question_ids, sizeof(int64_t) * ex->n);
	memcpy(copy->input_ids, ex->input_ids, sizeof(int32_t) * ex->n * ex->seq_len);
	memcpy(copy->attended, ex->attended, sizeof(int32_t) * ex->n * ex->seq_len);
	memcpy(copy->image_of, ex->image_of, sizeof(int32_t) * ex->n);
	memcpy(copy->boxes, ex->boxes, sizeof(float) * ex->n_images * ex->num_boxes * 4);
	memcpy(copy->type_of, ex->type_of, sizeof(int32_t) * ex->n);
	memcpy(copy->priors, ex->priors, sizeof(float) * ex->n_types * ex->answers);
	memcpy(copy->target_start, ex->target_start, sizeof(int32_t) * (ex->n + 1));
	memcpy(copy->target_ids, ex->target_ids, sizeof(int32_t) * n_targets);
	memcpy(copy->target_scores, ex->target_scores, sizeof(float) * n_targets);
	return copy;
}

/* Batches of idx from both are identical, buffer by buffer. */
static void
check_same_batches(const VqaExamples *a, const VqaExamples *b, const int *idx, int count)
{
	VqaBatchBuffers *ba = vqa_batch_buffers_new(a, count);
	VqaBatchBuffers *bb = vqa_batch_buffers_new(b, count);
	VqaBatch x,
				y;

	assert_non_null(ba);
	assert_non_null(bb);
	assert_int_equal(vqa_examples_batch(a, idx, count, ba, &x), 0);
	assert_int_equal(vqa_examples_batch(b, idx, count, bb, &y), 0);
	assert_int_equal(x.batch, y.batch);
	assert_int_equal(x.num_boxes, y.num_boxes);
	assert_memory_equal(ba->input_ids, bb->input_ids, sizeof(int32_t) * count * TOKENS);
	assert_memory_equal(ba->attended, bb->attended, sizeof(int32_t) * count * TOKENS);
	assert_memory_equal(ba->features, bb->features, sizeof(float) * count * BOXES * DIM);
	assert_memory_equal(ba->boxes, bb->boxes, sizeof(float) * count * BOXES * 4);
	assert_memory_equal(ba->targets, bb->targets, sizeof(float) * count * ANSWERS);
	assert_memory_equal(ba->prior, bb->prior, sizeof(float) * count * ANSWERS);
	assert_memory_equal(ba->max_label, bb->max_label, sizeof(int32_t) * count);
	vqa_batch_buffers_free(ba);
	vqa_batch_buffers_free(bb);
}

static void
check_sourced_batches(int half)
{
	VqaExamples *ex = random_examples(9, half);
	MemorySource ms;
	VqaExamples *sourced = sourced_copy(ex, &ms);
	int			idx[] = {4, 0, 8, 4, 1, 7};

	check_same_batches(ex, sourced, idx, 6);
	check_same_batches(ex, sourced, idx + 2, 1);
	assert_int_equal(ms.reads, 7);
	/* half features become the floats they stand for */
	if (half)
	{
		VqaBatchBuffers *buf = vqa_batch_buffers_new(sourced, 1);
		VqaBatch batch;
		float		expected[BOXES * DIM];

		assert_int_equal(vqa_examples_batch(sourced, idx, 1, buf, &batch), 0);
		vqa_float_from_half(ex->features_half + (size_t) ex->image_of[idx[0]] * BOXES * DIM,
							expected, BOXES * DIM);
		assert_memory_equal(buf->features, expected, sizeof(expected));
		vqa_batch_buffers_free(buf);
	}
	/* prefetch asks for each example's image; nothing for features in memory */
	vqa_examples_prefetch(sourced, idx, 6);
	vqa_examples_prefetch(ex, idx, 6);
	assert_int_equal(ms.pending[ex->image_of[4]], 2);
	assert_int_equal(ms.pending[ex->image_of[0]] + ms.pending[ex->image_of[8]] +
					 ms.pending[ex->image_of[1]] + ms.pending[ex->image_of[7]], 4);
	assert_int_equal(vqa_examples_batch_feature_bytes(sourced, 64),
					 (size_t) 64 * BOXES * DIM * sizeof(float));
	vqa_examples_free(sourced);
	assert_int_equal(ms.closed, 1);
	vqa_examples_free(ex);
}

static void
sourced_float32_batches_are_the_in_memory_ones(void **state)
{
	check_sourced_batches(0);
}

static void
sourced_half_batches_are_the_in_memory_ones(void **state)
{
	check_sourced_batches(1);
}

static void
a_failed_read_is_reported(void **state)
{
	VqaExamples *ex = random_examples(9, 1);
	MemorySource ms;
	VqaExamples *sourced = sourced_copy(ex, &ms);
	VqaBatchBuffers *buf = vqa_batch_buffers_new(sourced, 3);
	VqaBatch batch;
	int			idx[] = {0, 2, 5};

	assert_non_null(buf);
	ms.fail_image = ex->image_of[2];
	assert_int_equal(vqa_examples_batch(sourced, idx, 3, buf, &batch), -1);
	assert_string_equal(sourced->source->error, "image row 1 is unreadable");
	vqa_batch_buffers_free(buf);
	vqa_examples_free(sourced);
	vqa_examples_free(ex);
}

static VqaModel *
small_model(void)
{
	VqaModelConfig c = {
		.vocab_size = 40, .hidden_size = 16, .num_attention_heads = 2,
		.intermediate_size = 24, .l_layers = 1, .r_layers = 1, .x_layers = 1,
		.visual_feat_dim = DIM, .visual_pos_dim = 4, .num_qa_labels = ANSWERS,
		.max_position_embeddings = 12, .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
		.hidden_dropout_prob = 0.1f, .attention_probs_dropout_prob = 0.1f,
	};
	char		err[256];
	VqaModel *model = vqa_model_new(&c, err, sizeof(err));

	assert_non_null(model);
	vqa_model_init_random(model, 3, 0.5f);
	return model;
}

/* Runs every step of a training; returns the examples the steps took. */
static int
train(VqaModel *model, const VqaExamples *ex, const VqaTrainConfig *config)
{
	char		err[256];
	VqaTrainer *trainer = vqa_trainer_new(model, ex, config, err, sizeof(err));
	int			examples = 0;

	assert_non_null(trainer);
	for (int s = 0; s < vqa_trainer_total_steps(trainer); s++)
	{
		double		loss,
					score;
		int			count;

		assert_int_equal(vqa_trainer_step(trainer, &loss, &score, &count), 1);
		examples += count;
	}
	vqa_trainer_free(trainer);
	return examples;
}

/*
 * Training over a source gives the weights of training in memory, with
 * micro-batches too; each image is asked for before each of its reads, and
 * a failed read fails the step with nothing updated.
 */
static void
a_trainer_prefetches_what_it_reads(void **state)
{
	VqaExamples *ex = random_examples(11, 1);
	MemorySource ms;
	VqaExamples *sourced = sourced_copy(ex, &ms);
	VqaModel *a = small_model();
	VqaModel *b = small_model();
	VqaTrainConfig config = {0};
	int			examples;

	config.epochs = 3;
	config.batch_size = 4;
	config.micro_batch_size = 2;
	config.lr = 1e-2f;
	config.max_grad_norm = 1.0f;
	config.seed = 5;
	config.loss = VQA_LOSS_BCE;
	vqa_loss_default_options(&config.loss_options);
	train(a, ex, &config);
	examples = train(b, sourced, &config);
	assert_int_equal(ms.reads, examples);
	assert_memory_equal(a->params, b->params, sizeof(float) * a->n_params);
	assert_int_equal(ms.unasked_reads, 0);
	for (int i = 0; i < IMAGES; i++)
		assert_int_equal(ms.pending[i], 0);

	{
		char		err[256];
		VqaTrainer *trainer = vqa_trainer_new(b, sourced, &config, err, sizeof(err));
		float	   *before = malloc(sizeof(float) * b->n_params);
		double		loss,
					score;
		int			count;

		assert_non_null(trainer);
		assert_non_null(before);
		memcpy(before, b->params, sizeof(float) * b->n_params);
		ms.fail_image = IMAGES;
		for (int s = 0; s < 3; s++)
			assert_int_equal(vqa_trainer_step(trainer, &loss, &score, &count), VQA_STEP_READ_FAILED);
		assert_memory_equal(before, b->params, sizeof(float) * b->n_params);
		free(before);
		vqa_trainer_free(trainer);
	}
	vqa_model_free(a);
	vqa_model_free(b);
	vqa_examples_free(sourced);
	vqa_examples_free(ex);
}

int
run_examples_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sourced_float32_batches_are_the_in_memory_ones),
		cmocka_unit_test(sourced_half_batches_are_the_in_memory_ones),
		cmocka_unit_test(a_failed_read_is_reported),
		cmocka_unit_test(a_trainer_prefetches_what_it_reads),
	};

	return UNIT_GROUP(examples, tests, n_tests);
}
