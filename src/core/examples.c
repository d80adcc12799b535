/*
 * examples.c: batches of a dataset split.
 *
 * Images are stored once and gathered per batch, because several questions
 * share an image; targets are stored sparse (a handful of answers per
 * question out of thousands) and made dense per batch; the prior p_b is
 * stored once per question type. Features stored as IEEE half stay half in
 * memory and become float32 per batch. The features of a split too large
 * for memory stay with a feature source, and a batch reads only its own
 * images from it, as stored, converting them the same way: the batches are
 * the same bits either way.
 */
#include "vqaprune/examples.h"

#include <stdlib.h>
#include <string.h>

#include "vqaprune/half.h"

static void *
zalloc(size_t count, size_t size)
{
	return calloc(count > 0 ? count : 1, size);
}

/* in_memory 0: no feature arrays (the caller sets a source) */
static VqaExamples *
examples_alloc(int n, int seq_len, int n_images, int num_boxes, int feature_dim, int answers,
			   int n_types, size_t n_targets, int half_features, int in_memory)
{
	VqaExamples *ex = zalloc(1, sizeof(VqaExamples));
	size_t		feature_values = (size_t) n_images * num_boxes * feature_dim;

	if (ex == NULL)
		return NULL;
	ex->n = n;
	ex->seq_len = seq_len;
	ex->n_images = n_images;
	ex->num_boxes = num_boxes;
	ex->feature_dim = feature_dim;
	ex->pos_dim = 4;
	ex->answers = answers;
	ex->n_types = n_types;
	ex->half_features = half_features;
	ex->question_ids = zalloc(n, sizeof(int64_t));
	ex->input_ids = zalloc((size_t) n * seq_len, sizeof(int32_t));
	ex->attended = zalloc((size_t) n * seq_len, sizeof(int32_t));
	ex->image_of = zalloc(n, sizeof(int32_t));
	if (in_memory && half_features)
		ex->features_half = zalloc(feature_values, sizeof(uint16_t));
	else if (in_memory)
		ex->features = zalloc(feature_values, sizeof(float));
	ex->boxes = zalloc((size_t) n_images * num_boxes * 4, sizeof(float));
	ex->type_of = zalloc(n, sizeof(int32_t));
	ex->priors = zalloc((size_t) n_types * answers, sizeof(float));
	ex->target_start = zalloc((size_t) n + 1, sizeof(int32_t));
	ex->target_ids = zalloc(n_targets, sizeof(int32_t));
	ex->target_scores = zalloc(n_targets, sizeof(float));
	if (!ex->question_ids || !ex->input_ids || !ex->attended || !ex->image_of ||
		(in_memory && !(ex->features || ex->features_half)) || !ex->boxes || !ex->type_of ||
		!ex->priors || !ex->target_start || !ex->target_ids || !ex->target_scores)
	{
		vqa_examples_free(ex);
		return NULL;
	}
	return ex;
}

VqaExamples *
vqa_examples_new(int n, int seq_len, int n_images, int num_boxes, int feature_dim,
				 int answers, int n_types, size_t n_targets, int half_features)
{
	return examples_alloc(n, seq_len, n_images, num_boxes, feature_dim, answers, n_types,
						  n_targets, half_features, 1);
}

VqaExamples *
vqa_examples_new_sourced(int n, int seq_len, int n_images, int num_boxes, int feature_dim,
						 int answers, int n_types, size_t n_targets, int half_features,
						 const VqaFeatureSource *source)
{
	VqaExamples *ex = examples_alloc(n, seq_len, n_images, num_boxes, feature_dim, answers,
									 n_types, n_targets, half_features, 0);
	VqaFeatureSource *copy = malloc(sizeof(VqaFeatureSource));

	if (ex == NULL || copy == NULL)
	{
		vqa_examples_free(ex);
		free(copy);
		return NULL;
	}
	*copy = *source;
	copy->error[0] = '\0';
	ex->source = copy;
	return ex;
}

void
vqa_examples_free(VqaExamples *ex)
{
	if (ex == NULL)
		return;
	free(ex->question_ids);
	free(ex->input_ids);
	free(ex->attended);
	free(ex->image_of);
	free(ex->features);
	free(ex->features_half);
	free(ex->boxes);
	free(ex->type_of);
	free(ex->priors);
	free(ex->target_start);
	free(ex->target_ids);
	free(ex->target_scores);
	if (ex->source)
	{
		ex->source->close(ex->source->context);
		free(ex->source);
	}
	free(ex);
}

size_t
vqa_examples_batch_feature_bytes(const VqaExamples *ex, int rows)
{
	return (size_t) rows * ex->num_boxes * ex->feature_dim * sizeof(float);
}

VqaBatchBuffers *
vqa_batch_buffers_new(const VqaExamples *ex, int capacity)
{
	VqaBatchBuffers *buf = zalloc(1, sizeof(VqaBatchBuffers));

	if (buf == NULL)
		return NULL;
	buf->capacity = capacity;
	buf->input_ids = zalloc((size_t) capacity * ex->seq_len, sizeof(int32_t));
	buf->attended = zalloc((size_t) capacity * ex->seq_len, sizeof(int32_t));
	buf->features = zalloc((size_t) capacity * ex->num_boxes * ex->feature_dim, sizeof(float));
	if (ex->source && ex->half_features)
		buf->half_image = zalloc((size_t) ex->num_boxes * ex->feature_dim, sizeof(uint16_t));
	buf->boxes = zalloc((size_t) capacity * ex->num_boxes * ex->pos_dim, sizeof(float));
	buf->targets = zalloc((size_t) capacity * ex->answers, sizeof(float));
	buf->prior = zalloc((size_t) capacity * ex->answers, sizeof(float));
	buf->max_label = zalloc(capacity, sizeof(int32_t));
	if (!buf->input_ids || !buf->attended || !buf->features ||
		(ex->source && ex->half_features && !buf->half_image) || !buf->boxes ||
		!buf->targets || !buf->prior || !buf->max_label)
	{
		vqa_batch_buffers_free(buf);
		return NULL;
	}
	return buf;
}

void
vqa_batch_buffers_free(VqaBatchBuffers *buf)
{
	if (buf == NULL)
		return;
	free(buf->input_ids);
	free(buf->attended);
	free(buf->features);
	free(buf->half_image);
	free(buf->boxes);
	free(buf->targets);
	free(buf->prior);
	free(buf->max_label);
	free(buf);
}

int
vqa_argmax(const float *values, int n)
{
	int			best = 0;

	for (int i = 1; i < n; i++)
		if (values[i] > values[best])
			best = i;
	return best;
}

/* The float32 features of image row `image` into dest: 0, or -1 if the source failed. */
static int
image_features(const VqaExamples *ex, int image, VqaBatchBuffers *buf, float *dest)
{
	size_t		image_floats = (size_t) ex->num_boxes * ex->feature_dim;
	VqaFeatureSource *source = ex->source;

	if (source == NULL && ex->features_half)
		vqa_float_from_half(ex->features_half + image * image_floats, dest, image_floats);
	else if (source == NULL)
		memcpy(dest, ex->features + image * image_floats, sizeof(float) * image_floats);
	else if (ex->half_features)
	{
		if (source->read(source->context, image, buf->half_image, source->error,
						 sizeof(source->error)) != 0)
			return -1;
		vqa_float_from_half(buf->half_image, dest, image_floats);
	}
	else if (source->read(source->context, image, dest, source->error, sizeof(source->error)) != 0)
		return -1;
	return 0;
}

int
vqa_examples_length(const VqaExamples *ex, int i)
{
	const int32_t *attended = ex->attended + (size_t) i * ex->seq_len;
	int			length = ex->seq_len;

	while (length > 0 && !attended[length - 1])
		length--;
	/*
	 * a question with no attended token (empty, without specials) attends
	 * all its padding evenly: only its full length gives the same outputs
	 */
	return length > 0 ? length : ex->seq_len;
}

void
vqa_examples_bucket_order(const VqaExamples *ex, int *order, int batch_size, int chunk_batches,
						  VqaRng *rng, int *scratch)
{
	int			n = ex->n;
	int			chunk = (int64_t) chunk_batches * batch_size < n ? chunk_batches * batch_size : n;
	int			full_batches = n / batch_size;
	int		   *copy = scratch;		/* n */
	int		   *batches = scratch + n;	/* full_batches <= n */
	int		   *count = scratch + 2 * (size_t) n;	/* seq_len + 2 */

	/* a counting sort per chunk: stable, lengths are 1 .. seq_len */
	for (int from = 0; from < n; from += chunk)
	{
		int			size = n - from < chunk ? n - from : chunk;

		memset(count, 0, sizeof(int) * ((size_t) ex->seq_len + 2));
		for (int k = 0; k < size; k++)
			count[vqa_examples_length(ex, order[from + k]) + 1]++;
		for (int len = 1; len <= ex->seq_len + 1; len++)
			count[len] += count[len - 1];
		for (int k = 0; k < size; k++)
			copy[count[vqa_examples_length(ex, order[from + k])]++] = order[from + k];
		memcpy(order + from, copy, sizeof(int) * size);
	}
	for (int b = 0; b < full_batches; b++)
		batches[b] = b;
	vqa_rng_shuffle_int(rng, batches, full_batches);
	memcpy(copy, order, sizeof(int) * n);
	for (int b = 0; b < full_batches; b++)
		memcpy(order + (size_t) b * batch_size, copy + (size_t) batches[b] * batch_size,
			   sizeof(int) * batch_size);
}

int
vqa_examples_batch(const VqaExamples *ex, const int *idx, int count, VqaBatchBuffers *buf,
				   VqaBatch *batch)
{
	size_t		T = ex->seq_len;
	size_t		image_floats = (size_t) ex->num_boxes * ex->feature_dim;
	size_t		box_floats = (size_t) ex->num_boxes * ex->pos_dim;
	size_t		A = ex->answers;

	size_t		batch_T = T;

	/* past the longest question every position is masked padding: left out */
	if (ex->batch_padding)
	{
		batch_T = 1;
		for (int b = 0; b < count; b++)
		{
			size_t		length = (size_t) vqa_examples_length(ex, idx[b]);

			if (length > batch_T)
				batch_T = length;
		}
	}
	for (int b = 0; b < count; b++)
	{
		int			i = idx[b];
		int			image = ex->image_of[i];
		float	   *targets = buf->targets + b * A;
		float		best = 0.0f;

		memcpy(buf->input_ids + b * batch_T, ex->input_ids + i * T, sizeof(int32_t) * batch_T);
		memcpy(buf->attended + b * batch_T, ex->attended + i * T, sizeof(int32_t) * batch_T);
		if (image_features(ex, image, buf, buf->features + b * image_floats) != 0)
			return -1;
		memcpy(buf->boxes + b * box_floats, ex->boxes + image * box_floats,
			   sizeof(float) * box_floats);
		memcpy(buf->prior + b * A, ex->priors + (size_t) ex->type_of[i] * A, sizeof(float) * A);
		memset(targets, 0, sizeof(float) * A);
		buf->max_label[b] = -1;
		for (int k = ex->target_start[i]; k < ex->target_start[i + 1]; k++)
		{
			targets[ex->target_ids[k]] = ex->target_scores[k];
			if (ex->target_scores[k] > best)
			{
				best = ex->target_scores[k];
				buf->max_label[b] = ex->target_ids[k];
			}
		}
	}
	batch->batch = count;
	batch->seq_len = (int) batch_T;
	batch->num_boxes = ex->num_boxes;
	batch->input_ids = buf->input_ids;
	batch->attended = buf->attended;
	batch->token_type_ids = NULL;
	batch->visual_feats = buf->features;
	batch->visual_pos = buf->boxes;
	return 0;
}

void
vqa_examples_prefetch(const VqaExamples *ex, const int *idx, int count)
{
	for (int b = 0; ex->source && b < count; b++)
		ex->source->prefetch(ex->source->context, ex->image_of[idx[b]]);
}
