/*
 * examples.h: a dataset split, ready to be cut into batches for LXMERT:
 * tokenised questions, each question's image features, soft targets, the
 * question-type prior p_b and the argmax label of each question. Everything
 * is in memory, except the features of a split too large for that: those
 * come from a feature source, one image at a time.
 */
#ifndef VQAPRUNE_EXAMPLES_H
#define VQAPRUNE_EXAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "vqaprune/model.h"
#include "vqaprune/rng.h"

/*
 * Where the features of a split not held in memory come from (in the server,
 * a temporary file). read copies the num_boxes x feature_dim values of image
 * row `image` as they are stored (float32, or IEEE half) into dest: 0, or -1
 * with a message in errbuf. prefetch says an image will be read soon; close
 * releases the context.
 */
typedef struct VqaFeatureSource
{
	void	   *context;
	int			(*read) (void *context, int image, void *dest, char *errbuf, size_t errlen);
	void		(*prefetch) (void *context, int image);
	void		(*close) (void *context);
	char		error[256];		/* why the last read failed */
} VqaFeatureSource;

typedef struct VqaExamples
{
	int			n;				/* questions */
	int			seq_len;		/* tokens per question: [CLS] ... [SEP] and padding */
	/*
	 * 1: a batch is as long as its longest question (up to its last
	 * attended token), for a model whose attention ignores the padding; 0:
	 * every batch is seq_len long.
	 */
	int			batch_padding;
	int			n_images;
	int			num_boxes;		/* the same for every image */
	int			feature_dim;
	int			pos_dim;		/* 4: normalised boxes */
	int			answers;		/* answer vocabulary size */
	int			n_types;		/* question types */
	int64_t    *question_ids;	/* n */
	int32_t    *input_ids;		/* n x seq_len */
	int32_t    *attended;		/* n x seq_len: 1 a token, 0 padding */
	int32_t    *image_of;		/* n: row of the question's image */
	int			half_features;	/* features stored as IEEE half, in memory or in the source */
	float	   *features;		/* n_images x num_boxes x feature_dim, or NULL */
	uint16_t   *features_half;	/* the same as IEEE half, for features stored so */
	VqaFeatureSource *source;	/* features not in memory (both arrays NULL), or NULL */
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

/*
 * The same without features in memory: batches read them from a copy of
 * source, which the examples then own (vqa_examples_free closes it). On
 * NULL the caller still owns source's context.
 */
VqaExamples *vqa_examples_new_sourced(int n, int seq_len, int n_images, int num_boxes,
									  int feature_dim, int answers, int n_types, size_t n_targets,
									  int half_features, const VqaFeatureSource *source);
void		vqa_examples_free(VqaExamples *ex);

/* Bytes of the float32 features of a batch of `rows` examples. */
size_t		vqa_examples_batch_feature_bytes(const VqaExamples *ex, int rows);

/* Buffers of one batch of at most `capacity` examples. */
typedef struct VqaBatchBuffers
{
	int			capacity;
	int32_t    *input_ids;
	int32_t    *attended;
	float	   *features;
	uint16_t   *half_image;		/* one image as read from a half source, or NULL */
	float	   *boxes;
	float	   *targets;		/* capacity x answers, dense */
	float	   *prior;			/* capacity x answers, dense */
	int32_t    *max_label;		/* capacity: argmax of the targets, -1 if none */
} VqaBatchBuffers;

VqaBatchBuffers *vqa_batch_buffers_new(const VqaExamples *ex, int capacity);
void		vqa_batch_buffers_free(VqaBatchBuffers *buf);

/*
 * Gathers examples idx[0 .. count-1] into buf and points batch at it:
 * seq_len tokens per question, or with batch_padding the longest
 * question's. count must not exceed buf->capacity. 0, or -1 if the feature
 * source failed (ex->source->error says why).
 */
int			vqa_examples_batch(const VqaExamples *ex, const int *idx, int count,
							   VqaBatchBuffers *buf, VqaBatch *batch);

/*
 * Asks the feature source for the images of examples idx[0 .. count-1],
 * which a later batch will read; nothing for features in memory.
 */
void		vqa_examples_prefetch(const VqaExamples *ex, const int *idx, int count);

/*
 * Tokens of question i up to its last attended one: seq_len when the
 * padding is attended, or when no token is.
 */
int			vqa_examples_length(const VqaExamples *ex, int i);

/*
 * Buckets a shuffled order by length: each run of chunk_batches x
 * batch_size examples is sorted by vqa_examples_length (stably, so equal
 * lengths keep their shuffled order), then the order's full batches are
 * shuffled with rng (a last, partial batch stays last). A batch's questions
 * are then close in length, and the batches' order is random. scratch
 * holds VQA_BUCKET_SCRATCH(ex) ints.
 */
#define VQA_BUCKET_SCRATCH(ex) (2 * (size_t) (ex)->n + (size_t) (ex)->seq_len + 2)
void		vqa_examples_bucket_order(const VqaExamples *ex, int *order, int batch_size,
									  int chunk_batches, VqaRng *rng, int *scratch);

/* Index of the largest of n values (the first of ties). */
int			vqa_argmax(const float *values, int n);

#endif
