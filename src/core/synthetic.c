/*
 * synthetic.c: the embedded VQA-CP-style benchmark.
 *
 * A stand-in for VQA-CP v2 (Agrawal et al., CVPR 2018) that needs no
 * download, so the whole pipeline (training a small LXMERT with or without a
 * debiasing loss such as LMH, pruning it, evaluating out of distribution)
 * runs anywhere. doc/synthetic.md is the long description; in short:
 *
 * Scenes. Each image holds config->boxes objects, each a category (12), a
 * colour (8) and a material (5) at a box with integer pixel corners. Scene
 * statistics are skewed on purpose (some categories, colours and materials
 * are far more common, and each category has a usual colour and material),
 * so a question's wording alone predicts its answer better than chance: the
 * language prior a biased model learns.
 *
 * Features. A box's feature is the sum of fixed random embeddings of its
 * category, colour and material (unit variance per dimension, drawn from the
 * seed) plus Gaussian noise, then scaled back to unit variance; the last few
 * dimensions give the box position. A nearest-centroid classifier recovers
 * the category, so the visual evidence is there for a model that looks.
 *
 * Questions. Seven VQA question types ("what color is the", "how many", ...)
 * over the three answer types, a few wordings each, ten annotator answers
 * with the confusions and surface variants real annotators produce, and
 * multiple_choice_answer as VQA's consensus.
 *
 * Splits. Per question type, the answer values are split at random (from the
 * seed) into a train-heavy and a test-heavy half of about equal question
 * mass; a question goes to the train side with probability 0.9 if its
 * answer is train-heavy and 0.1 otherwise, and the train side is cut 85/15
 * into "train" and an in-distribution "val". The answer prior of a question
 * type learnt on train is then right on val and wrong on test.
 *
 * The VQA-VS mode. The same scenes and questions, split at random 60/10/30
 * into train, val and test, as VQA-VS's Training, Val and IID-Test. Each
 * question has a concept for each of VQA-VS's nine shortcuts: its question
 * type (QT), key word (KW: the object or colour it names), key word pair
 * (KWP: with the attribute it names or asks for), the image's key object
 * (KO: its most numerous category) and key object pair (KOP: the two most
 * numerous), and the combinations QT+KW, QT+KO, KW+KO and QT+KW+KO. A test
 * question is in the OOD set of a shortcut when, among the train questions
 * of its concept, its answer is rare: fewer than half as frequent as the
 * concept's most frequent answer, or the concept is absent from train. A
 * model that answers from the shortcut is then wrong on that set. The train
 * counts come from a first pass over every image's scene and questions
 * (features skipped), so the output still streams.
 *
 * Reproducibility and memory. Each image draws from its own random streams
 * (scene, features, questions) keyed by seed and image id, so the output is
 * the same on every run, a larger data set starts with the smaller one (all
 * but the cosmetic coco_split), and memory holds one image. Every discrete
 * choice uses integer draws only, so scenes, questions, answers and splits
 * are identical on every platform.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/rng.h"
#include "vqaprune/synthetic.h"

#define N_CATEGORIES 12
#define N_COLOURS 8
#define N_MATERIALS 5
#define N_ANIMALS 4
#define MAX_COUNT 9				/* counting answers are "0" .. "9" */
#define N_VARIANTS 3			/* surface variants and confusions per answer */
#define QUESTION_LEN 96

#define FEATURE_NOISE 0.4		/* noise std per dimension, embeddings are 1 */
#define SIM_IMAGES 400			/* images simulated to balance the re-split */

#define IID_TRAIN_PERCENT 60	/* VQA-VS mode: percent of questions in train */
#define IID_VAL_PERCENT 10		/* and in val; the rest are test */
#define CONCEPT_LEN 64

#define TRAIN_HEAVY_TO_TRAIN 90 /* percent of train-heavy answers on the train side */
#define TEST_HEAVY_TO_TRAIN 10	/* percent of test-heavy answers on the train side */
#define VAL_OF_TRAIN_SIDE 15	/* percent of the train side that is "val" */

/* Streams of the seed; images use image_id * 4 + STREAM_* */
#define STREAM_TABLES 1
#define STREAM_SIMULATION 2
#define STREAM_SCENE 0
#define STREAM_FEATURES 1
#define STREAM_QUESTIONS 2
#define STREAM_IID_SPLITS 3		/* the VQA-VS mode's splits, so its questions are VQA-CP's */

static const char *const category_names[N_CATEGORIES] = {
	"cat", "dog", "car", "bus", "chair", "table",
	"cup", "ball", "bird", "horse", "kite", "boat"
};

static const char *const category_plurals[N_CATEGORIES] = {
	"cats", "dogs", "cars", "buses", "chairs", "tables",
	"cups", "balls", "birds", "horses", "kites", "boats"
};

/* The animals, by category index; "what animal is" answers are these. */
static const int animal_categories[N_ANIMALS] = {0, 1, 8, 9};

static const char *const colour_names[N_COLOURS] = {
	"red", "blue", "green", "yellow", "white", "black", "brown", "gray"
};

static const char *const material_names[N_MATERIALS] = {
	"metal", "wood", "plastic", "glass", "cloth"
};

/*
 * Surface variants map to the canonical answer under the official VQA
 * normalisation (case, trailing punctuation, articles, number words);
 * confusions are the different answers a careless or unsure annotator gives.
 * "grey" is a confusion, not a variant: VQA does not map it to "gray".
 */
static const char *const colour_variants[N_COLOURS][N_VARIANTS] = {
	{"Red", "red.", "Red."}, {"Blue", "blue.", "Blue."},
	{"Green", "green.", "Green."}, {"Yellow", "yellow.", "Yellow."},
	{"White", "white.", "White."}, {"Black", "black.", "Black."},
	{"Brown", "brown.", "Brown."}, {"Gray", "gray.", "Gray."}
};

static const char *const colour_confusions[N_COLOURS][N_VARIANTS] = {
	{"brown", "orange", "pink"}, {"gray", "black", "green"},
	{"blue", "yellow", "dark green"}, {"white", "orange", "green"},
	{"gray", "grey", "silver"}, {"brown", "gray", "blue"},
	{"black", "red", "tan"}, {"white", "grey", "silver"}
};

static const char *const material_variants[N_MATERIALS][N_VARIANTS] = {
	{"Metal", "metal.", "Metal."}, {"Wood", "wood.", "Wood."},
	{"Plastic", "plastic.", "Plastic."}, {"Glass", "glass.", "Glass."},
	{"Cloth", "cloth.", "Cloth."}
};

static const char *const material_confusions[N_MATERIALS][N_VARIANTS] = {
	{"plastic", "steel", "iron"}, {"wooden", "plastic", "metal"},
	{"metal", "rubber", "glass"}, {"plastic", "crystal", "metal"},
	{"fabric", "cotton", "plastic"}
};

static const char *const animal_variants[N_ANIMALS][N_VARIANTS] = {
	{"a cat", "the cat", "Cat"}, {"a dog", "the dog", "Dog"},
	{"a bird", "the bird", "Bird"}, {"a horse", "the horse", "Horse"}
};

static const char *const animal_confusions[N_ANIMALS][N_VARIANTS] = {
	{"dog", "kitten", "cats"}, {"cat", "puppy", "dogs"},
	{"kite", "seagull", "birds"}, {"dog", "pony", "horses"}
};

/* "10" and "11" only occur as confusions of 9. */
static const char *const count_names[MAX_COUNT + 3] = {
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"
};

static const char *const count_variants[MAX_COUNT + 1][N_VARIANTS] = {
	{"zero", "none", "0."}, {"one", "One", "1."}, {"two", "Two", "2."},
	{"three", "Three", "3."}, {"four", "Four", "4."}, {"five", "Five", "5."},
	{"six", "Six", "6."}, {"seven", "Seven", "7."}, {"eight", "Eight", "8."},
	{"nine", "Nine", "9."}
};

static const char *const yes_no_names[2] = {"yes", "no"};

static const char *const yes_no_variants[2][N_VARIANTS] = {
	{"Yes", "yes.", "yes!"}, {"No", "no.", "no!"}
};

/* Plausible pixel sizes of COCO images. */
static const int image_sizes[][2] = {
	{640, 480}, {480, 640}, {640, 427}, {427, 640}, {500, 375},
	{375, 500}, {640, 360}, {612, 612}, {640, 512}, {800, 600}
};

#define N_IMAGE_SIZES ((int) (sizeof(image_sizes) / sizeof(image_sizes[0])))

const char *const vqa_vs_ood_set_names[VQA_VS_OOD_SETS] = {
	"QT", "KW", "KWP", "QT+KW", "KO", "KOP", "QT+KO", "KW+KO", "QT+KW+KO"
};

typedef enum OodSet
{
	OOD_QT,
	OOD_KW,
	OOD_KWP,
	OOD_QT_KW,
	OOD_KO,
	OOD_KOP,
	OOD_QT_KO,
	OOD_KW_KO,
	OOD_QT_KW_KO
} OodSet;

/*
 * Key words, what a question names first: a category, a colour ("How many
 * red objects"), or "animal" ("What animal is this?"). Second key words:
 * the colour or material it names next, else what it asks for.
 */
#define KW_ANIMAL (N_CATEGORIES + N_COLOURS)
#define N_KEY_WORDS (KW_ANIMAL + 1)
#define N_SECOND_WORDS (N_COLOURS + N_MATERIALS + 5)

static const char *const asked_names[5] = {"color", "material", "kind", "number", "presence"};

static int
is_animal(int category)
{
	int			a;

	for (a = 0; a < N_ANIMALS; a++)
		if (animal_categories[a] == category)
			return 1;
	return 0;
}

typedef enum AnswerKind
{
	KIND_COLOUR,
	KIND_MATERIAL,
	KIND_ANIMAL,
	KIND_COUNT,
	KIND_YES_NO
} AnswerKind;

typedef enum QuestionTypeId
{
	QT_WHAT_COLOR,
	QT_WHAT_MATERIAL,
	QT_WHAT_ANIMAL,
	QT_HOW_MANY,
	QT_IS_THERE,
	QT_IS_THE,
	QT_ARE_THERE,
	N_QUESTION_TYPES
} QuestionTypeId;

typedef struct QuestionTypeInfo
{
	const char *type;			/* VQA's question type string */
	const char *answer_type;
	AnswerKind	kind;
	int			n_answers;		/* size of the answer set */
	int			weight;			/* how often the type is asked */
	int			agree_percent;	/* questions whose ten answers agree */
} QuestionTypeInfo;

/*
 * The weights favour "other" because scenes often cannot support those types
 * (no category occurs once, several kinds of animal) and a question is not
 * asked twice about an image; with the default config the result is about
 * 45% yes/no, 17% number and 38% other (VQA v2: 38, 12, 50).
 */
static const QuestionTypeInfo question_types[N_QUESTION_TYPES] = {
	{"what color is the", "other", KIND_COLOUR, N_COLOURS, 30, 40},
	{"what is the", "other", KIND_MATERIAL, N_MATERIALS, 18, 40},
	{"what animal is", "other", KIND_ANIMAL, N_ANIMALS, 16, 50},
	{"how many", "number", KIND_COUNT, MAX_COUNT + 1, 9, 35},
	{"is there a", "yes/no", KIND_YES_NO, 2, 9, 60},
	{"is the", "yes/no", KIND_YES_NO, 2, 10, 55},
	{"are there", "yes/no", KIND_YES_NO, 2, 8, 55}
};

#define MAX_ANSWERS (MAX_COUNT + 1)		/* the largest answer set */

/* What a question asks, before it is worded and answered. */
typedef struct QuestionPlan
{
	int			type;			/* QuestionTypeId */
	int			wording;		/* which template of the type */
	int			category;		/* -1 when not asked about */
	int			colour;
	int			material;
	int			truth;			/* index into the type's answer set */
} QuestionPlan;

struct VqaSynthetic
{
	VqaSyntheticConfig config;
	int64_t		next_image_id;
	int			semantic_dims;	/* feature dims carrying the embeddings */
	int			position_dims;	/* trailing dims carrying the box position */
	float		feature_scale;	/* brings the summed embeddings to unit variance */

	/* from the seed, fixed for the whole data set */
	float	   *category_embedding; /* N_CATEGORIES x semantic_dims */
	float	   *colour_embedding;
	float	   *material_embedding;
	int			category_weight[N_CATEGORIES];
	int			colour_weight[N_COLOURS];
	int			material_weight[N_MATERIALS];
	int			usual_colour[N_CATEGORIES];
	int			usual_material[N_CATEGORIES];
	unsigned char train_heavy[N_QUESTION_TYPES][MAX_ANSWERS];
	/* VQA-VS mode: train questions per (shortcut concept, answer), per OOD set */
	int64_t    *concept_counts;
	size_t		concept_offset[VQA_VS_OOD_SETS];

	/* the current image */
	int			image_w;
	int			image_h;
	int		   *box_category;
	int		   *box_colour;
	int		   *box_material;
	int		   *box_pixels;		/* num_boxes x 4: x1, y1, x2, y2 */
	int			category_count[N_CATEGORIES];
	int			colour_count[N_COLOURS];
	int			category_colour_count[N_CATEGORIES][N_COLOURS];
	int			key_object;		/* the most numerous category */
	int			second_object;	/* the next, or -1 */
	float	   *boxes;
	float	   *features;
	QuestionPlan *plans;
	VqaSyntheticQuestion *questions;
	char	   *question_text;	/* questions_per_image x QUESTION_LEN */
	char	   *concept_text;	/* questions_per_image x VQA_VS_OOD_SETS x CONCEPT_LEN */
};

static void
set_error(char *errbuf, size_t errlen, const char *message)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s", message);
}

static int
check_range(int value, int low, int high, const char *name,
			char *errbuf, size_t errlen)
{
	char		message[128];

	if (value >= low && value <= high)
		return 1;
	snprintf(message, sizeof(message), "%s must be between %d and %d",
			 name, low, high);
	set_error(errbuf, errlen, message);
	return 0;
}

/*
 * Skewed weights in a random order: the value at rank r gets scale / (r + 1)
 * + floor, so a few values are common and none is absent.
 */
static void
skewed_weights(VqaRng *rng, int *weights, int n, int scale, int floor)
{
	int			order[16];
	int			rank;

	for (rank = 0; rank < n; rank++)
		order[rank] = rank;
	vqa_rng_shuffle_int(rng, order, n);
	for (rank = 0; rank < n; rank++)
		weights[order[rank]] = scale / (rank + 1) + floor;
}

static void
random_embeddings(VqaRng *rng, float *embedding, int rows, int dims)
{
	int			i;

	for (i = 0; i < rows * dims; i++)
		embedding[i] = (float) vqa_rng_normal(rng);
}

/*
 * Draws the current image's scene: size, the objects' categories, colours,
 * materials and pixel boxes, and the counts questions are answered from.
 */
static void
make_scene(VqaSynthetic *gen, VqaRng *rng)
{
	int			n_boxes = gen->config.boxes;
	int			weights[N_CATEGORIES];
	int			chosen[N_CATEGORIES];
	int			chosen_weight[N_CATEGORIES];
	int			n_chosen;
	int			size;
	int			b;
	int			i;

	size = (int) vqa_rng_below(rng, N_IMAGE_SIZES);
	gen->image_w = image_sizes[size][0];
	gen->image_h = image_sizes[size][1];

	/* a few distinct categories, common ones more often */
	n_chosen = 2 + (int) vqa_rng_below(rng, 5);	/* never all 12 */
	if (n_chosen > n_boxes)
		n_chosen = n_boxes;
	memcpy(weights, gen->category_weight, sizeof(weights));
	for (i = 0; i < n_chosen; i++)
	{
		chosen[i] = vqa_rng_weighted(rng, weights, N_CATEGORIES);
		weights[chosen[i]] = 0;
		/* the first is the image's main subject and takes most extra boxes */
		chosen_weight[i] = i == 0 ? 10 : 1 + (int) vqa_rng_below(rng, 2);
	}

	/* each chosen category once, the remaining boxes by weight */
	for (b = 0; b < n_boxes; b++)
		gen->box_category[b] = b < n_chosen ? chosen[b] :
			chosen[vqa_rng_weighted(rng, chosen_weight, n_chosen)];
	vqa_rng_shuffle_int(rng, gen->box_category, n_boxes);

	memset(gen->category_count, 0, sizeof(gen->category_count));
	memset(gen->colour_count, 0, sizeof(gen->colour_count));
	memset(gen->category_colour_count, 0, sizeof(gen->category_colour_count));
	for (b = 0; b < n_boxes; b++)
	{
		int			category = gen->box_category[b];
		int			w = gen->image_w;
		int			h = gen->image_h;
		int			box_w = w / 10 + (int) vqa_rng_below(rng, (uint64_t) (w * 2 / 5 + 1));
		int			box_h = h / 10 + (int) vqa_rng_below(rng, (uint64_t) (h * 2 / 5 + 1));
		int			x1 = (int) vqa_rng_below(rng, (uint64_t) (w - box_w + 1));
		int			y1 = (int) vqa_rng_below(rng, (uint64_t) (h - box_h + 1));

		/* things mostly have their usual colour and material */
		gen->box_colour[b] = vqa_rng_below(rng, 100) < 55 ?
			gen->usual_colour[category] :
			vqa_rng_weighted(rng, gen->colour_weight, N_COLOURS);
		gen->box_material[b] = vqa_rng_below(rng, 100) < 55 ?
			gen->usual_material[category] :
			vqa_rng_weighted(rng, gen->material_weight, N_MATERIALS);
		gen->box_pixels[b * 4 + 0] = x1;
		gen->box_pixels[b * 4 + 1] = y1;
		gen->box_pixels[b * 4 + 2] = x1 + box_w;
		gen->box_pixels[b * 4 + 3] = y1 + box_h;

		gen->category_count[category]++;
		gen->colour_count[gen->box_colour[b]]++;
		gen->category_colour_count[category][gen->box_colour[b]]++;
	}

	/* the key objects: most boxes first, ties to the lower category */
	gen->key_object = 0;
	for (i = 1; i < N_CATEGORIES; i++)
		if (gen->category_count[i] > gen->category_count[gen->key_object])
			gen->key_object = i;
	gen->second_object = -1;
	for (i = 0; i < N_CATEGORIES; i++)
		if (i != gen->key_object && gen->category_count[i] > 0 &&
			(gen->second_object < 0 ||
			 gen->category_count[i] > gen->category_count[gen->second_object]))
			gen->second_object = i;
}

/* Normalised boxes and noisy embedding features of the current scene. */
static void
make_features(VqaSynthetic *gen, VqaRng *rng)
{
	int			dims = gen->config.feature_dim;
	int			sem = gen->semantic_dims;
	int			b;
	int			j;

	for (b = 0; b < gen->config.boxes; b++)
	{
		const int  *px = gen->box_pixels + b * 4;
		const float *cat = gen->category_embedding + gen->box_category[b] * sem;
		const float *col = gen->colour_embedding + gen->box_colour[b] * sem;
		const float *mat = gen->material_embedding + gen->box_material[b] * sem;
		float	   *box = gen->boxes + b * 4;
		float	   *feature = gen->features + (size_t) b * dims;

		/* integer pixels divided once: the same floats on every platform */
		box[0] = (float) px[0] / (float) gen->image_w;
		box[1] = (float) px[1] / (float) gen->image_h;
		box[2] = (float) px[2] / (float) gen->image_w;
		box[3] = (float) px[3] / (float) gen->image_h;

		for (j = 0; j < sem; j++)
		{
			double		noise = FEATURE_NOISE * vqa_rng_normal(rng);

			feature[j] = (float) (((double) cat[j] + col[j] + mat[j] + noise) *
								  gen->feature_scale);
		}
		/* position in [-1, 1]: corners, or the centre when dims are few */
		if (gen->position_dims == 4)
		{
			for (j = 0; j < 4; j++)
				feature[sem + j] = 2.0f * box[j] - 1.0f;
		}
		else
		{
			feature[sem + 0] = box[0] + box[2] - 1.0f;
			feature[sem + 1] = box[1] + box[3] - 1.0f;
		}
	}
}

/* A random category whose count satisfies the filter, or -1 if none does. */
static int
pick_category(const VqaSynthetic *gen, VqaRng *rng, int min_count,
			  int max_count, int animals_only, int no_animals)
{
	int			candidates[N_CATEGORIES];
	int			n = 0;
	int			c;

	for (c = 0; c < N_CATEGORIES; c++)
	{
		if (gen->category_count[c] < min_count ||
			gen->category_count[c] > max_count)
			continue;
		if ((animals_only && !is_animal(c)) || (no_animals && is_animal(c)))
			continue;
		candidates[n++] = c;
	}
	if (n == 0)
		return -1;
	return candidates[vqa_rng_below(rng, (uint64_t) n)];
}

/* A value in [0, n) other than avoid. */
static int
pick_other(VqaRng *rng, int n, int avoid)
{
	int			value = (int) vqa_rng_below(rng, (uint64_t) (n - 1));

	return value >= avoid ? value + 1 : value;
}

/* The box of a category that occurs once in the scene. */
static int
only_box_of(const VqaSynthetic *gen, int category)
{
	int			b;

	for (b = 0; b < gen->config.boxes; b++)
		if (gen->box_category[b] == category)
			return b;
	return 0;					/* not reached: the category is present */
}

/*
 * Plans a question of the given type about the current scene; 0 if the scene
 * cannot support it (e.g. no category occurs exactly once).
 */
static int
plan_question(const VqaSynthetic *gen, VqaRng *rng, int type, QuestionPlan *plan)
{
	int			category;
	int			b;

	plan->type = type;
	plan->category = -1;
	plan->colour = -1;
	plan->material = -1;

	switch (type)
	{
		case QT_WHAT_COLOR:
			if ((category = pick_category(gen, rng, 1, 1, 0, 0)) < 0)
				return 0;
			plan->category = category;
			plan->truth = gen->box_colour[only_box_of(gen, category)];
			plan->wording = (int) vqa_rng_below(rng, 3);
			return 1;

		case QT_WHAT_MATERIAL:
			if ((category = pick_category(gen, rng, 1, 1, 0, 1)) < 0)
				return 0;
			plan->category = category;
			plan->truth = gen->box_material[only_box_of(gen, category)];
			plan->wording = (int) vqa_rng_below(rng, 3);
			return 1;

		case QT_WHAT_ANIMAL:
			{
				int			present = 0;
				int			a;

				/* only when exactly one kind of animal is in the picture */
				for (a = 0; a < N_ANIMALS; a++)
					if (gen->category_count[animal_categories[a]] > 0)
					{
						present++;
						plan->truth = a;
					}
				if (present != 1)
					return 0;
				plan->category = animal_categories[plan->truth];
				plan->wording = (int) vqa_rng_below(rng, 3);
				return 1;
			}

		case QT_HOW_MANY:
			if (vqa_rng_below(rng, 100) < 65)
			{
				/* count a category; absent ones sometimes, for "0" */
				if (vqa_rng_below(rng, 100) < 15)
					category = pick_category(gen, rng, 0, 0, 0, 0);
				else
					category = pick_category(gen, rng, 1, MAX_COUNT, 0, 0);
				if (category < 0)
					return 0;
				plan->category = category;
				plan->truth = gen->category_count[category];
				plan->wording = (int) vqa_rng_below(rng, 2);
			}
			else
			{
				int			colour = (int) vqa_rng_below(rng, N_COLOURS);

				if (gen->colour_count[colour] > MAX_COUNT)
					return 0;
				plan->colour = colour;
				plan->truth = gen->colour_count[colour];
				plan->wording = 2 + (int) vqa_rng_below(rng, 2);
			}
			return 1;

		case QT_IS_THERE:
			plan->truth = (int) vqa_rng_below(rng, 2);	/* 0 yes, 1 no */
			category = plan->truth == 0 ?
				pick_category(gen, rng, 1, 1 << 30, 0, 0) :
				pick_category(gen, rng, 0, 0, 0, 0);
			if (category < 0)
				return 0;
			plan->category = category;
			plan->wording = (int) vqa_rng_below(rng, 3);
			return 1;

		case QT_IS_THE:
			if ((category = pick_category(gen, rng, 1, 1, 0, 0)) < 0)
				return 0;
			b = only_box_of(gen, category);
			plan->category = category;
			plan->truth = (int) vqa_rng_below(rng, 2);
			/* "Is the dog made of wood?" would be odd: materials of things only */
			if (!is_animal(category) && vqa_rng_below(rng, 3) == 0)
			{
				plan->material = plan->truth == 0 ? gen->box_material[b] :
					pick_other(rng, N_MATERIALS, gen->box_material[b]);
				plan->wording = 2;
			}
			else
			{
				plan->colour = plan->truth == 0 ? gen->box_colour[b] :
					pick_other(rng, N_COLOURS, gen->box_colour[b]);
				plan->wording = (int) vqa_rng_below(rng, 2);
			}
			return 1;

		case QT_ARE_THERE:
			plan->truth = (int) vqa_rng_below(rng, 2);
			if (plan->truth == 0)
			{
				b = (int) vqa_rng_below(rng, (uint64_t) gen->config.boxes);
				plan->category = gen->box_category[b];
				plan->colour = gen->box_colour[b];
			}
			else
			{
				int			absent[N_COLOURS];
				int			n_absent = 0;
				int			colour;

				category = (int) vqa_rng_below(rng, N_CATEGORIES);
				for (colour = 0; colour < N_COLOURS; colour++)
					if (gen->category_colour_count[category][colour] == 0)
						absent[n_absent++] = colour;
				if (n_absent == 0)
					return 0;
				plan->category = category;
				plan->colour = absent[vqa_rng_below(rng, (uint64_t) n_absent)];
			}
			plan->wording = (int) vqa_rng_below(rng, 2);
			return 1;
	}
	return 0;
}

/* Same question up to wording. */
static int
same_plan(const QuestionPlan *a, const QuestionPlan *b)
{
	return a->type == b->type && a->category == b->category &&
		a->colour == b->colour && a->material == b->material;
}

/*
 * Plans question k of the current image: a type by weight, the next type
 * that the scene supports if it does not, and a few retries to avoid asking
 * the same question twice about one image.
 */
static void
plan_image_question(VqaSynthetic *gen, VqaRng *rng, int k)
{
	int			weights[N_QUESTION_TYPES];
	QuestionPlan *plan = &gen->plans[k];
	int			attempt;
	int			t;

	for (t = 0; t < N_QUESTION_TYPES; t++)
		weights[t] = question_types[t].weight;

	for (attempt = 0; attempt < 8; attempt++)
	{
		int			remaining[N_QUESTION_TYPES];
		int			duplicate = 0;
		int			i;

		/*
		 * Types the scene cannot support drop out and the draw is repeated
		 * among the others; "is there a" always fits, since a scene holds at
		 * most 6 of the 12 categories.
		 */
		memcpy(remaining, weights, sizeof(remaining));
		for (;;)
		{
			t = vqa_rng_weighted(rng, remaining, N_QUESTION_TYPES);
			if (plan_question(gen, rng, t, plan))
				break;
			remaining[t] = 0;
		}
		for (i = 0; i < k; i++)
			if (same_plan(plan, &gen->plans[i]))
				duplicate = 1;
		if (!duplicate)
			return;
	}
}

static void
word_question(const QuestionPlan *plan, char *text)
{
	const char *cat = plan->category >= 0 ? category_names[plan->category] : "";
	const char *cats = plan->category >= 0 ? category_plurals[plan->category] : "";
	const char *colour = plan->colour >= 0 ? colour_names[plan->colour] : "";
	const char *material = plan->material >= 0 ? material_names[plan->material] : "";
	static const char *const templates[N_QUESTION_TYPES][4] = {
		{"What color is the %s?", "What color is the %s in the picture?",
		"What color is the %s in this image?", NULL},
		{"What is the %s made of?", "What is the %s made out of?",
		"What is the material of the %s?", NULL},
		{"What animal is in the picture?", "What animal is shown?",
		"What animal is this?", NULL},
		{"How many %s are there?", "How many %s are in the picture?",
		"How many %s objects are there?", "How many %s things can you see?"},
		{"Is there a %s in the picture?", "Is there a %s in this image?",
		"Is there a %s?", NULL},
		{"Is the %s %s?", "Is the %s in the picture %s?",
		"Is the %s made of %s?", NULL},
		{"Are there any %s %s?", "Are there %s %s in the picture?", NULL, NULL}
	};
	const char *format = templates[plan->type][plan->wording];

	switch (plan->type)
	{
		case QT_WHAT_COLOR:
		case QT_WHAT_MATERIAL:
		case QT_IS_THERE:
			snprintf(text, QUESTION_LEN, format, cat);
			break;
		case QT_WHAT_ANIMAL:
			snprintf(text, QUESTION_LEN, "%s", format);
			break;
		case QT_HOW_MANY:
			snprintf(text, QUESTION_LEN, format, plan->wording < 2 ? cats : colour);
			break;
		case QT_IS_THE:
			snprintf(text, QUESTION_LEN, format, cat,
					 plan->wording == 2 ? material : colour);
			break;
		case QT_ARE_THERE:
			snprintf(text, QUESTION_LEN, format, colour, cats);
			break;
	}
}

static const char *
canonical_answer(AnswerKind kind, int truth)
{
	switch (kind)
	{
		case KIND_COLOUR:
			return colour_names[truth];
		case KIND_MATERIAL:
			return material_names[truth];
		case KIND_ANIMAL:
			return category_names[animal_categories[truth]];
		case KIND_COUNT:
			return count_names[truth];
		case KIND_YES_NO:
			return yes_no_names[truth];
	}
	return "";
}

static const char *
variant_answer(VqaRng *rng, AnswerKind kind, int truth)
{
	int			v = (int) vqa_rng_below(rng, N_VARIANTS);

	switch (kind)
	{
		case KIND_COLOUR:
			return colour_variants[truth][v];
		case KIND_MATERIAL:
			return material_variants[truth][v];
		case KIND_ANIMAL:
			return animal_variants[truth][v];
		case KIND_COUNT:
			return count_variants[truth][v];
		case KIND_YES_NO:
			return yes_no_variants[truth][v];
	}
	return "";
}

static const char *
confused_answer(VqaRng *rng, AnswerKind kind, int truth)
{
	int			v = (int) vqa_rng_below(rng, N_VARIANTS);

	switch (kind)
	{
		case KIND_COLOUR:
			return colour_confusions[truth][v];
		case KIND_MATERIAL:
			return material_confusions[truth][v];
		case KIND_ANIMAL:
			return animal_confusions[truth][v];
		case KIND_COUNT:
			/* off by one, now and then by two */
			{
				int			step = v == 2 ? 2 : 1;

				if (truth < step || vqa_rng_below(rng, 2) == 0)
					return count_names[truth + step];
				return count_names[truth - step];
			}
		case KIND_YES_NO:
			return yes_no_names[1 - truth];
	}
	return "";
}

static int
equal_ignoring_case(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
	{
		char		ca = (*a >= 'A' && *a <= 'Z') ? (char) (*a - 'A' + 'a') : *a;
		char		cb = (*b >= 'A' && *b <= 'Z') ? (char) (*b - 'A' + 'a') : *b;

		if (ca != cb)
			return 0;
	}
	return *a == *b;
}

static int
has_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return 1;
	return 0;
}

/*
 * VQA's consensus: the most frequent raw answer after lower-casing, the true
 * answer on ties. Returns one of the raw strings, a lower-case one if the
 * winning group has any.
 */
static const char *
consensus_answer(const char *const *answers, const char *truth)
{
	int			count[VQA_SYNTHETIC_ANSWERS];
	int			best = -1;
	int			truth_index = -1;
	int			winner;
	int			i;
	int			j;

	for (i = 0; i < VQA_SYNTHETIC_ANSWERS; i++)
	{
		count[i] = 0;
		for (j = 0; j < VQA_SYNTHETIC_ANSWERS; j++)
			count[i] += equal_ignoring_case(answers[i], answers[j]);
		if (best < 0 || count[i] > count[best])
			best = i;
		if (truth_index < 0 && equal_ignoring_case(answers[i], truth))
			truth_index = i;
	}
	winner = truth_index >= 0 && count[truth_index] == count[best] ?
		truth_index : best;
	for (j = 0; j < VQA_SYNTHETIC_ANSWERS; j++)
		if (equal_ignoring_case(answers[j], answers[winner]) &&
			!has_upper(answers[j]))
			return answers[j];
	return answers[winner];
}

/*
 * Ten annotators: on many questions all give the canonical answer; on the
 * others each one, independently, gives a confusion (at a rate that varies
 * between questions, as question difficulty does), a surface variant, or the
 * canonical answer.
 */
static void
annotate(VqaRng *rng, const QuestionTypeInfo *info, int truth,
		 VqaSyntheticQuestion *q)
{
	static const int confusion_percent[4] = {5, 10, 20, 30};
	const char *canonical = canonical_answer(info->kind, truth);
	int			i;

	if ((int) vqa_rng_below(rng, 100) < info->agree_percent)
	{
		for (i = 0; i < VQA_SYNTHETIC_ANSWERS; i++)
			q->answers[i] = canonical;
	}
	else
	{
		int			confusion = confusion_percent[vqa_rng_below(rng, 4)];

		for (i = 0; i < VQA_SYNTHETIC_ANSWERS; i++)
		{
			int			r = (int) vqa_rng_below(rng, 100);

			if (r < confusion)
				q->answers[i] = confused_answer(rng, info->kind, truth);
			else if (r < confusion + 15)
				q->answers[i] = variant_answer(rng, info->kind, truth);
			else
				q->answers[i] = canonical;
		}
	}
	q->multiple_choice_answer = consensus_answer(q->answers, canonical);
	q->answer = canonical;
}

/*
 * The VQA-CP re-split: the side depends on how the answer was grouped. The
 * VQA-VS mode draws it too, from the question stream, so that every later
 * question is the VQA-CP mode's, and returns a random in-distribution split
 * drawn from its own stream instead.
 */
static const char *
draw_split(const VqaSynthetic *gen, VqaRng *rng, VqaRng *iid_rng, const QuestionPlan *plan)
{
	int			to_train = gen->train_heavy[plan->type][plan->truth] ?
		TRAIN_HEAVY_TO_TRAIN : TEST_HEAVY_TO_TRAIN;
	const char *split = "test";
	int			r;

	if ((int) vqa_rng_below(rng, 100) < to_train)
		split = (int) vqa_rng_below(rng, 100) < VAL_OF_TRAIN_SIDE ? "val" : "train";
	if (gen->config.benchmark != VQA_SYNTHETIC_VQA_VS)
		return split;
	r = (int) vqa_rng_below(iid_rng, 100);
	return r < IID_TRAIN_PERCENT ? "train" :
		r < IID_TRAIN_PERCENT + IID_VAL_PERCENT ? "val" : "test";
}

/*
 * Plans, words, annotates and splits the questions of the current scene,
 * from the image's question stream (its own for the VQA-VS mode's splits).
 */
static void
ask_questions(VqaSynthetic *gen, VqaRng *rng, int64_t image_id)
{
	VqaRng		iid_rng;
	int			k;

	vqa_rng_seed_stream(&iid_rng, gen->config.seed, (uint64_t) image_id * 4 + STREAM_IID_SPLITS);

	for (k = 0; k < gen->config.questions_per_image; k++)
	{
		VqaSyntheticQuestion *q = &gen->questions[k];
		char	   *text = gen->question_text + (size_t) k * QUESTION_LEN;
		const QuestionPlan *plan = &gen->plans[k];
		const QuestionTypeInfo *info;

		plan_image_question(gen, rng, k);
		info = &question_types[plan->type];
		word_question(plan, text);

		q->question_id = image_id * 100 + k + 1;
		q->image_id = image_id;
		q->question = text;
		q->question_type = info->type;
		q->answer_type = info->answer_type;
		/* COCO's split is cosmetic: the first two thirds are train2014 */
		q->coco_split = image_id * 3 <= (int64_t) gen->config.images * 2 ?
			"train2014" : "val2014";
		annotate(rng, info, plan->truth, q);
		q->split = draw_split(gen, rng, &iid_rng, plan);
		q->ood_sets = 0;
	}
}

/* ---- the VQA-VS mode: shortcut concepts and OOD sets ---- */

/* The number of concepts of each shortcut. */
static const int concept_space[VQA_VS_OOD_SETS] = {
	N_QUESTION_TYPES, N_KEY_WORDS, N_KEY_WORDS * N_SECOND_WORDS,
	N_QUESTION_TYPES * N_KEY_WORDS, N_CATEGORIES, N_CATEGORIES * N_CATEGORIES,
	N_QUESTION_TYPES * N_CATEGORIES, N_KEY_WORDS * N_CATEGORIES,
	N_QUESTION_TYPES * N_KEY_WORDS * N_CATEGORIES
};

/* Answers over all types, by their canonical string: colours, materials, animals, counts, yes/no. */
#define N_ALL_ANSWERS (N_COLOURS + N_MATERIALS + N_ANIMALS + MAX_COUNT + 1 + 2)

static int
answer_index(const QuestionPlan *plan)
{
	switch (question_types[plan->type].kind)
	{
		case KIND_COLOUR:
			return plan->truth;
		case KIND_MATERIAL:
			return N_COLOURS + plan->truth;
		case KIND_ANIMAL:
			return N_COLOURS + N_MATERIALS + plan->truth;
		case KIND_COUNT:
			return N_COLOURS + N_MATERIALS + N_ANIMALS + plan->truth;
		case KIND_YES_NO:
			return N_COLOURS + N_MATERIALS + N_ANIMALS + MAX_COUNT + 1 + plan->truth;
	}
	return 0;
}

/* What a question names first: its category, else its colour, else "animal". */
static int
key_word(const QuestionPlan *plan)
{
	if (plan->type == QT_WHAT_ANIMAL)
		return KW_ANIMAL;		/* the category is the answer, not in the words */
	if (plan->category >= 0)
		return plan->category;
	return N_CATEGORIES + plan->colour;
}

/* What it names next, else what it asks for. */
static int
second_word(const QuestionPlan *plan)
{
	switch (plan->type)
	{
		case QT_IS_THE:
		case QT_ARE_THERE:
			return plan->material >= 0 ? N_COLOURS + plan->material : plan->colour;
		case QT_WHAT_COLOR:
			return N_COLOURS + N_MATERIALS + 0;
		case QT_WHAT_MATERIAL:
			return N_COLOURS + N_MATERIALS + 1;
		case QT_WHAT_ANIMAL:
			return N_COLOURS + N_MATERIALS + 2;
		case QT_HOW_MANY:
			return N_COLOURS + N_MATERIALS + 3;
		default:
			return N_COLOURS + N_MATERIALS + 4;
	}
}

static const char *
key_word_name(int kw)
{
	if (kw < N_CATEGORIES)
		return category_names[kw];
	if (kw < KW_ANIMAL)
		return colour_names[kw - N_CATEGORIES];
	return "animal";
}

static const char *
second_word_name(int w)
{
	if (w < N_COLOURS)
		return colour_names[w];
	if (w < N_COLOURS + N_MATERIALS)
		return material_names[w - N_COLOURS];
	return asked_names[w - N_COLOURS - N_MATERIALS];
}

/* The concept of a question of the current scene, for each shortcut. */
static void
question_concepts(const VqaSynthetic *gen, const QuestionPlan *plan, int *concept)
{
	int			qt = plan->type;
	int			kw = key_word(plan);
	int			ko = gen->key_object;
	int			other = gen->second_object >= 0 ? gen->second_object : ko;
	int			low = ko < other ? ko : other;
	int			high = ko < other ? other : ko;

	concept[OOD_QT] = qt;
	concept[OOD_KW] = kw;
	concept[OOD_KWP] = kw * N_SECOND_WORDS + second_word(plan);
	concept[OOD_QT_KW] = qt * N_KEY_WORDS + kw;
	concept[OOD_KO] = ko;
	concept[OOD_KOP] = low * N_CATEGORIES + high;
	concept[OOD_QT_KO] = qt * N_CATEGORIES + ko;
	concept[OOD_KW_KO] = kw * N_CATEGORIES + ko;
	concept[OOD_QT_KW_KO] = (qt * N_KEY_WORDS + kw) * N_CATEGORIES + ko;
}

/* The concepts as text, "qt=how many", "kop=cat+dog", ... into the question. */
static void
describe_concepts(VqaSynthetic *gen, int k)
{
	const QuestionPlan *plan = &gen->plans[k];
	VqaSyntheticQuestion *q = &gen->questions[k];
	char	   *text = gen->concept_text + (size_t) k * VQA_VS_OOD_SETS * CONCEPT_LEN;
	const char *qt = question_types[plan->type].type;
	const char *kw = key_word_name(key_word(plan));
	const char *ko = category_names[gen->key_object];
	int			other = gen->second_object >= 0 ? gen->second_object : gen->key_object;
	int			s;

	snprintf(text + OOD_QT * CONCEPT_LEN, CONCEPT_LEN, "qt=%s", qt);
	snprintf(text + OOD_KW * CONCEPT_LEN, CONCEPT_LEN, "kw=%s", kw);
	snprintf(text + OOD_KWP * CONCEPT_LEN, CONCEPT_LEN, "kwp=%s %s", kw,
			 second_word_name(second_word(plan)));
	snprintf(text + OOD_QT_KW * CONCEPT_LEN, CONCEPT_LEN, "qt+kw=%s|%s", qt, kw);
	snprintf(text + OOD_KO * CONCEPT_LEN, CONCEPT_LEN, "ko=%s", ko);
	snprintf(text + OOD_KOP * CONCEPT_LEN, CONCEPT_LEN, "kop=%s+%s",
			 category_names[gen->key_object < other ? gen->key_object : other],
			 category_names[gen->key_object < other ? other : gen->key_object]);
	snprintf(text + OOD_QT_KO * CONCEPT_LEN, CONCEPT_LEN, "qt+ko=%s|%s", qt, ko);
	snprintf(text + OOD_KW_KO * CONCEPT_LEN, CONCEPT_LEN, "kw+ko=%s|%s", kw, ko);
	snprintf(text + OOD_QT_KW_KO * CONCEPT_LEN, CONCEPT_LEN, "qt+kw+ko=%s|%s|%s", qt, kw, ko);
	for (s = 0; s < VQA_VS_OOD_SETS; s++)
		q->concepts[s] = text + s * CONCEPT_LEN;
}

/*
 * The OOD sets of a test question: those of the shortcuts whose concept
 * gives its answer, in train, fewer than half as often as its most frequent
 * answer, or never occurs in train.
 */
static unsigned
ood_sets_of(const VqaSynthetic *gen, const QuestionPlan *plan)
{
	int			concept[VQA_VS_OOD_SETS];
	int			answer = answer_index(plan);
	unsigned	sets = 0;
	int			s;

	question_concepts(gen, plan, concept);
	for (s = 0; s < VQA_VS_OOD_SETS; s++)
	{
		const int64_t *counts = gen->concept_counts + gen->concept_offset[s] +
			(size_t) concept[s] * N_ALL_ANSWERS;
		int64_t		most = 0;
		int			a;

		for (a = 0; a < N_ALL_ANSWERS; a++)
			if (counts[a] > most)
				most = counts[a];
		if (most == 0 || 2 * counts[answer] < most)
			sets |= 1u << s;
	}
	return sets;
}

/*
 * The first pass of the VQA-VS mode: every image's scene and questions, as
 * vqa_synthetic_next makes them (features have their own stream and are
 * skipped), counting the train questions per concept and answer.
 */
static void
count_train_concepts(VqaSynthetic *gen)
{
	int64_t		image_id;

	for (image_id = 1; image_id <= gen->config.images; image_id++)
	{
		uint64_t	stream = (uint64_t) image_id * 4;
		VqaRng		rng;
		int			k;

		vqa_rng_seed_stream(&rng, gen->config.seed, stream + STREAM_SCENE);
		make_scene(gen, &rng);
		vqa_rng_seed_stream(&rng, gen->config.seed, stream + STREAM_QUESTIONS);
		ask_questions(gen, &rng, image_id);
		for (k = 0; k < gen->config.questions_per_image; k++)
		{
			int			concept[VQA_VS_OOD_SETS];
			int			answer = answer_index(&gen->plans[k]);
			int			s;

			if (strcmp(gen->questions[k].split, "train") != 0)
				continue;
			question_concepts(gen, &gen->plans[k], concept);
			for (s = 0; s < VQA_VS_OOD_SETS; s++)
				gen->concept_counts[gen->concept_offset[s] +
									(size_t) concept[s] * N_ALL_ANSWERS + answer]++;
		}
	}
}

/*
 * Splits each question type's answer values into a train-heavy and a
 * test-heavy half. The masses come from simulated scenes with their own
 * stream: values in random order, each to the half with less mass so far,
 * so both halves hold about half the questions whatever the skew.
 */
static void
split_answer_values(VqaSynthetic *gen)
{
	int			mass[N_QUESTION_TYPES][MAX_ANSWERS];
	VqaRng		rng;
	int			image;
	int			t;

	memset(mass, 0, sizeof(mass));
	vqa_rng_seed_stream(&rng, gen->config.seed, STREAM_SIMULATION);
	for (image = 0; image < SIM_IMAGES; image++)
	{
		int			k;

		make_scene(gen, &rng);
		for (k = 0; k < gen->config.questions_per_image; k++)
		{
			plan_image_question(gen, &rng, k);
			mass[gen->plans[k].type][gen->plans[k].truth]++;
		}
	}

	for (t = 0; t < N_QUESTION_TYPES; t++)
	{
		int			order[MAX_ANSWERS];
		int			n = question_types[t].n_answers;
		int			side_mass[2] = {0, 0};
		int			first_side = (int) vqa_rng_below(&rng, 2);
		int			i;

		for (i = 0; i < n; i++)
			order[i] = i;
		vqa_rng_shuffle_int(&rng, order, n);
		for (i = 0; i < n; i++)
		{
			int			side = side_mass[0] == side_mass[1] ?
				(i == 0 ? first_side : 1 - first_side) :
				(side_mass[0] < side_mass[1] ? 0 : 1);

			/* side 1 is train-heavy */
			gen->train_heavy[t][order[i]] = (unsigned char) side;
			side_mass[side] += mass[t][order[i]] + 1;
		}
	}
}

VqaSynthetic *
vqa_synthetic_new(const VqaSyntheticConfig *config, char *errbuf, size_t errlen)
{
	VqaSynthetic *gen;
	VqaRng		rng;
	int			sem;
	int			c;
	size_t		n_boxes;
	size_t		n_questions;

	if (config == NULL)
	{
		set_error(errbuf, errlen, "config must not be NULL");
		return NULL;
	}
	if (!check_range(config->images, 1, 10000000, "images", errbuf, errlen) ||
		!check_range(config->boxes, 1, 100, "boxes", errbuf, errlen) ||
		!check_range(config->feature_dim, 8, 4096, "feature_dim", errbuf, errlen) ||
		!check_range(config->questions_per_image, 1, 50, "questions_per_image",
					 errbuf, errlen))
		return NULL;
	if (config->benchmark != VQA_SYNTHETIC_VQA_CP && config->benchmark != VQA_SYNTHETIC_VQA_VS)
	{
		set_error(errbuf, errlen, "benchmark must be VQA-CP or VQA-VS");
		return NULL;
	}

	gen = calloc(1, sizeof(VqaSynthetic));
	if (gen == NULL)
	{
		set_error(errbuf, errlen, "out of memory");
		return NULL;
	}
	gen->config = *config;
	gen->next_image_id = 1;
	gen->position_dims = config->feature_dim >= 16 ? 4 : 2;
	gen->semantic_dims = sem = config->feature_dim - gen->position_dims;
	/* three unit-variance embeddings plus the noise, back to unit variance */
	gen->feature_scale = (float) (1.0 / sqrt(3.0 + FEATURE_NOISE * FEATURE_NOISE));

	n_boxes = (size_t) config->boxes;
	n_questions = (size_t) config->questions_per_image;
	gen->category_embedding = malloc(sizeof(float) * N_CATEGORIES * sem);
	gen->colour_embedding = malloc(sizeof(float) * N_COLOURS * sem);
	gen->material_embedding = malloc(sizeof(float) * N_MATERIALS * sem);
	gen->box_category = malloc(sizeof(int) * n_boxes);
	gen->box_colour = malloc(sizeof(int) * n_boxes);
	gen->box_material = malloc(sizeof(int) * n_boxes);
	gen->box_pixels = malloc(sizeof(int) * 4 * n_boxes);
	gen->boxes = malloc(sizeof(float) * 4 * n_boxes);
	gen->features = malloc(sizeof(float) * n_boxes * (size_t) config->feature_dim);
	gen->plans = malloc(sizeof(QuestionPlan) * n_questions);
	gen->questions = calloc(n_questions, sizeof(VqaSyntheticQuestion));
	gen->question_text = malloc(QUESTION_LEN * n_questions);
	if (config->benchmark == VQA_SYNTHETIC_VQA_VS)
	{
		size_t		n_counts = 0;
		int			s;

		for (s = 0; s < VQA_VS_OOD_SETS; s++)
		{
			gen->concept_offset[s] = n_counts;
			n_counts += (size_t) concept_space[s] * N_ALL_ANSWERS;
		}
		gen->concept_counts = calloc(n_counts, sizeof(int64_t));
		gen->concept_text = malloc((size_t) VQA_VS_OOD_SETS * CONCEPT_LEN * n_questions);
		if (gen->concept_counts == NULL || gen->concept_text == NULL)
		{
			vqa_synthetic_free(gen);
			set_error(errbuf, errlen, "out of memory");
			return NULL;
		}
	}
	if (!gen->category_embedding || !gen->colour_embedding ||
		!gen->material_embedding || !gen->box_category || !gen->box_colour ||
		!gen->box_material || !gen->box_pixels || !gen->boxes ||
		!gen->features || !gen->plans || !gen->questions || !gen->question_text)
	{
		vqa_synthetic_free(gen);
		set_error(errbuf, errlen, "out of memory");
		return NULL;
	}

	/* everything fixed for the data set comes from one stream of the seed */
	vqa_rng_seed_stream(&rng, config->seed, STREAM_TABLES);
	random_embeddings(&rng, gen->category_embedding, N_CATEGORIES, sem);
	random_embeddings(&rng, gen->colour_embedding, N_COLOURS, sem);
	random_embeddings(&rng, gen->material_embedding, N_MATERIALS, sem);
	skewed_weights(&rng, gen->category_weight, N_CATEGORIES, 100, 10);
	skewed_weights(&rng, gen->colour_weight, N_COLOURS, 100, 2);
	skewed_weights(&rng, gen->material_weight, N_MATERIALS, 100, 20);
	for (c = 0; c < N_CATEGORIES; c++)
	{
		gen->usual_colour[c] = vqa_rng_weighted(&rng, gen->colour_weight, N_COLOURS);
		gen->usual_material[c] = vqa_rng_weighted(&rng, gen->material_weight,
												  N_MATERIALS);
	}

	split_answer_values(gen);
	if (config->benchmark == VQA_SYNTHETIC_VQA_VS)
		count_train_concepts(gen);
	return gen;
}

int
vqa_synthetic_next(VqaSynthetic *gen, VqaSyntheticImage *out)
{
	int64_t		image_id;
	uint64_t	stream;
	VqaRng		rng;
	int			k;

	if (gen == NULL || out == NULL || gen->next_image_id > gen->config.images)
		return 0;
	image_id = gen->next_image_id++;
	stream = (uint64_t) image_id * 4;

	vqa_rng_seed_stream(&rng, gen->config.seed, stream + STREAM_SCENE);
	make_scene(gen, &rng);
	vqa_rng_seed_stream(&rng, gen->config.seed, stream + STREAM_FEATURES);
	make_features(gen, &rng);

	vqa_rng_seed_stream(&rng, gen->config.seed, stream + STREAM_QUESTIONS);
	ask_questions(gen, &rng, image_id);
	for (k = 0; k < gen->config.questions_per_image; k++)
	{
		VqaSyntheticQuestion *q = &gen->questions[k];

		if (gen->config.benchmark != VQA_SYNTHETIC_VQA_VS)
			continue;
		describe_concepts(gen, k);
		if (strcmp(q->split, "test") == 0)
			q->ood_sets = ood_sets_of(gen, &gen->plans[k]);
	}

	out->image_id = image_id;
	out->image_w = gen->image_w;
	out->image_h = gen->image_h;
	out->num_boxes = gen->config.boxes;
	out->feature_dim = gen->config.feature_dim;
	out->boxes = gen->boxes;
	out->features = gen->features;
	out->n_questions = gen->config.questions_per_image;
	out->questions = gen->questions;
	return 1;
}

void
vqa_synthetic_free(VqaSynthetic *gen)
{
	if (gen == NULL)
		return;
	free(gen->category_embedding);
	free(gen->colour_embedding);
	free(gen->material_embedding);
	free(gen->box_category);
	free(gen->box_colour);
	free(gen->box_material);
	free(gen->box_pixels);
	free(gen->boxes);
	free(gen->features);
	free(gen->plans);
	free(gen->questions);
	free(gen->question_text);
	free(gen->concept_counts);
	free(gen->concept_text);
	free(gen);
}
