/*
 * examples.h: a dataset split in memory, ready to be cut into batches for
 * LXMERT: tokenised questions, each question's image features, soft targets,
 * the question-type prior p_b and the argmax label of each question.
 */
#ifndef VQAPRUNE_EXAMPLES_H
#define VQAPRUNE_EXAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "vqaprune/lxmert.h"

typedef struct VqaExamples
{
	int			n;				/* questions */
	int			seq_len;		/* tokens per question: [CLS] ... [SEP] and padding */
	int			n_images;
	int			num_boxes;		/* the same for every image */
	int			feature_dim;
	int			pos_dim;		/* 4: normalised boxes */
	int			answers;		/* answer vocabulary size */
	int			n_types;		/* question types */
	int64_t    *question_ids;	/* n */
	int32_t    *input_ids;		/* n x seq_len */
	int32_t    *attention_mask; /* n x seq_len */
	int32_t    *image_of;		/* n: row of the question's image */
	float	   *features;		/* n_images x num_boxes x feature_dim, or NULL */
	uint16_t   *features_half;	/* the same as IEEE half, for features stored so */
	float	   *boxes;			/* n_images x num_boxes x pos_dim */
	int32_t    *type_of;		/* n: question type */
	float	   *priors;			/* n_types x answers */
	int32_t    *target_start;	/* n + 1: targets of question i are target_start[i] .. [i+1] */
	int32_t    *target_ids;
	float	   *target_scores;
} VqaExamples;

/*
 * Allocates every array (zeroed), the features as float32 or, with
 * half_features, as IEEE half (batches convert them); NULL when memory runs
 * out.
 */
VqaExamples *vqa_examples_new(int n, int seq_len, int n_images, int num_boxes, int feature_dim,
							  int answers, int n_types, size_t n_targets, int half_features);
void		vqa_examples_free(VqaExamples *ex);

/* Buffers of one batch of at most `capacity` examples. */
typedef struct VqaBatchBuffers
{
	int			capacity;
	int32_t    *input_ids;
	int32_t    *attention_mask;
	float	   *features;
	float	   *boxes;
	float	   *targets;		/* capacity x answers, dense */
	float	   *prior;			/* capacity x answers, dense */
	int32_t    *max_label;		/* capacity: argmax of the targets, -1 if none */
} VqaBatchBuffers;

VqaBatchBuffers *vqa_batch_buffers_new(const VqaExamples *ex, int capacity);
void		vqa_batch_buffers_free(VqaBatchBuffers *buf);

/*
 * Gathers examples idx[0 .. count-1] into buf and points batch at it.
 * count must not exceed buf->capacity.
 */
void		vqa_examples_batch(const VqaExamples *ex, const int *idx, int count,
							   VqaBatchBuffers *buf, LxmertBatch *batch);

/* Index of the largest of n values (the first of ties). */
int			vqa_argmax(const float *values, int n);

#endif
