/*
 * synthetic.h: the embedded benchmark, VQA-CP-style or VQA-VS-style.
 *
 * A seeded generator of scenes, region features and questions that needs no
 * download. Each image holds objects with a category, colour, material and
 * position; each box feature is a noisy embedding of what the box holds.
 * Questions come from templates per VQA question type ("what color is the",
 * "how many", "is there a", "is the", "what is the", ...) with the three VQA
 * answer types and ten annotator answers that disagree as people do. Splits
 * follow VQA-CP: per question type, answers are grouped so that the train and
 * test answer distributions differ strongly, and "val" is drawn like train
 * (in-distribution). doc/synthetic.md describes the generator.
 *
 * In the VQA-VS mode the same scenes and questions are split at random into
 * train, val and test (in distribution, as VQA-VS's Training, Val and
 * IID-Test), and each test question is marked with the OOD sets it belongs
 * to: for each of VQA-VS's nine shortcuts (question type, key word, key
 * object and their combinations), a question whose answer is a rare one for
 * its shortcut concept in train. The train statistics come from a first
 * pass over the questions, so memory stays bounded.
 *
 * The generator streams one image (with its questions) at a time, so any
 * size can be generated in bounded memory. Same config, same output, on every
 * platform.
 */
#ifndef VQAPRUNE_SYNTHETIC_H
#define VQAPRUNE_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

#define VQA_SYNTHETIC_ANSWERS 10

/* VQA-VS's nine OOD sets, in its order: QT, KW, KWP, QT+KW, KO, KOP, QT+KO, KW+KO, QT+KW+KO */
#define VQA_VS_OOD_SETS 9
extern const char *const vqa_vs_ood_set_names[VQA_VS_OOD_SETS];

typedef enum VqaSyntheticBenchmark
{
	VQA_SYNTHETIC_VQA_CP = 0,	/* per question type, train and test answers differ */
	VQA_SYNTHETIC_VQA_VS		/* random splits, nine shortcut-specific OOD sets */
} VqaSyntheticBenchmark;

typedef struct VqaSyntheticConfig
{
	int			images;			/* number of images, >= 1 */
	uint64_t	seed;
	int			boxes;			/* boxes per image, 1 .. 100 */
	int			feature_dim;	/* feature dimension, 8 .. 4096 */
	int			questions_per_image;	/* 1 .. 50 */
	VqaSyntheticBenchmark benchmark;
} VqaSyntheticConfig;

typedef struct VqaSyntheticQuestion
{
	int64_t		question_id;
	int64_t		image_id;
	const char *split;			/* "train", "val" or "test" */
	const char *coco_split;		/* "train2014" or "val2014" */
	const char *question;
	const char *question_type;	/* a VQA question type string */
	const char *answer_type;	/* "yes/no", "number" or "other" */
	const char *multiple_choice_answer; /* the most frequent raw answer */
	const char *answer;			/* the true answer, as the canonical raw answer writes it */
	const char *answers[VQA_SYNTHETIC_ANSWERS]; /* raw annotator answers */
	/* VQA-VS mode: the question's concept for each shortcut, e.g. "kw=dog" */
	const char *concepts[VQA_VS_OOD_SETS];
	unsigned	ood_sets;		/* VQA-VS mode, test questions: bit s, in OOD set s */
} VqaSyntheticQuestion;

typedef struct VqaSyntheticImage
{
	int64_t		image_id;
	int			image_w;
	int			image_h;
	int			num_boxes;
	int			feature_dim;
	const float *boxes;			/* num_boxes x 4, normalised to [0, 1] */
	const float *features;		/* num_boxes x feature_dim */
	int			n_questions;
	const VqaSyntheticQuestion *questions;
} VqaSyntheticImage;

typedef struct VqaSynthetic VqaSynthetic;

/* NULL with a message in errbuf if the config is out of range. */
VqaSynthetic *vqa_synthetic_new(const VqaSyntheticConfig *config,
								char *errbuf, size_t errlen);

/* 1: *out holds the next image and its questions; 0: all images made. */
int			vqa_synthetic_next(VqaSynthetic *gen, VqaSyntheticImage *out);

void		vqa_synthetic_free(VqaSynthetic *gen);

#endif
