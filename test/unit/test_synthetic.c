/*
 * test_synthetic.c: the seeded PRNG and the VQA-CP-style benchmark generator.
 *
 * The PRNG must give a fixed sequence for a seed (pinned values: the same on
 * every platform) with the right moments. The generator must validate its
 * config, be deterministic, produce well-formed VQA records, encode the
 * scene in its features (nearest-centroid category accuracy), and above all
 * show the VQA-CP property: the per-question-type answer prior learnt on
 * train is right on val and misleading on test.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synthetic_helpers.h"
#include "unit.h"
#include "vqaprune/rng.h"
#include "vqaprune/synthetic.h"

/* ---- rng ---- */

static void
test_rng_reproducible(void **state)
{
	VqaRng		a;
	VqaRng		b;
	int			i;
	int			differ = 0;

	(void) state;
	/* xoshiro256** seeded by splitmix64(0): pinned, so no platform drifts */
	vqa_rng_seed(&a, 0);
	assert_true(vqa_rng_next(&a) == UINT64_C(11091344671253066420));
	assert_true(vqa_rng_next(&a) == UINT64_C(13793997310169335082));
	assert_true(vqa_rng_next(&a) == UINT64_C(1900383378846508768));
	vqa_rng_seed_stream(&a, 42, 7);
	assert_true(vqa_rng_next(&a) == UINT64_C(6031495715826198704));

	vqa_rng_seed(&a, 42);
	vqa_rng_seed(&b, 42);
	for (i = 0; i < 1000; i++)
	{
		assert_true(vqa_rng_next(&a) == vqa_rng_next(&b));
		assert_true(vqa_rng_normal(&a) == vqa_rng_normal(&b));
	}

	vqa_rng_seed(&a, 42);
	vqa_rng_seed(&b, 43);
	for (i = 0; i < 100; i++)
		differ += vqa_rng_next(&a) != vqa_rng_next(&b);
	assert_int_equal(differ, 100);

	vqa_rng_seed_stream(&a, 42, 1);
	vqa_rng_seed_stream(&b, 42, 2);
	assert_true(vqa_rng_next(&a) != vqa_rng_next(&b));
}

static void
test_rng_distributions(void **state)
{
	VqaRng		rng;
	const int	n = 100000;
	double		sum = 0.0;
	double		sum2 = 0.0;
	int			bins[10] = {0};
	int			weights[3] = {1, 0, 3};
	int			picked[3] = {0};
	int			items[20];
	int			seen[20] = {0};
	int			i;

	(void) state;
	vqa_rng_seed(&rng, 2023);
	for (i = 0; i < n; i++)
	{
		double		u = vqa_rng_uniform(&rng);

		assert_true(u >= 0.0 && u < 1.0);
		sum += u;
	}
	assert_true(fabs(sum / n - 0.5) < 0.01);

	for (i = 0; i < n; i++)
	{
		uint64_t	k = vqa_rng_below(&rng, 10);

		assert_true(k < 10);
		bins[k]++;
	}
	for (i = 0; i < 10; i++)
		assert_true(abs(bins[i] - n / 10) < n / 100);
	assert_true(vqa_rng_below(&rng, 1) == 0);

	sum = 0.0;
	for (i = 0; i < n; i++)
	{
		double		z = vqa_rng_normal(&rng);

		sum += z;
		sum2 += z * z;
	}
	assert_true(fabs(sum / n) < 0.02);
	assert_true(fabs(sqrt(sum2 / n - (sum / n) * (sum / n)) - 1.0) < 0.02);

	for (i = 0; i < n; i++)
		picked[vqa_rng_weighted(&rng, weights, 3)]++;
	assert_int_equal(picked[1], 0);
	assert_true(fabs((double) picked[2] / n - 0.75) < 0.01);

	for (i = 0; i < 20; i++)
		items[i] = i;
	vqa_rng_shuffle_int(&rng, items, 20);
	for (i = 0; i < 20; i++)
		seen[items[i]]++;
	for (i = 0; i < 20; i++)
		assert_int_equal(seen[i], 1);
}

/* ---- generator helpers ---- */

/* The VQA-CP mode's config */
static VqaSyntheticConfig
config_of(int images, uint64_t seed, int boxes, int feature_dim, int questions)
{
	return unit_synthetic_config(images, seed, boxes, feature_dim, questions,
								 VQA_SYNTHETIC_VQA_CP);
}

static const char *const question_types[] = {
	"what color is the", "what is the", "what animal is", "how many",
	"is there a", "is the", "are there"
};

static const char *const answer_types[] = {
	"other", "other", "other", "number", "yes/no", "yes/no", "yes/no"
};

#define N_TYPES 7
#define MAX_VALUES 64

static int
type_index(const char *question_type)
{
	int			t;

	for (t = 0; t < N_TYPES; t++)
		if (strcmp(question_type, question_types[t]) == 0)
			return t;
	return -1;
}

static int
split_index(const char *split)
{
	if (strcmp(split, "train") == 0)
		return 0;
	if (strcmp(split, "val") == 0)
		return 1;
	if (strcmp(split, "test") == 0)
		return 2;
	return -1;
}

/* Answer counts per question type and split, answers as static strings. */
typedef struct AnswerTable
{
	const char *value[N_TYPES][MAX_VALUES];
	int			count[N_TYPES][MAX_VALUES][3];
	int			n_values[N_TYPES];
	int			total[N_TYPES][3];
} AnswerTable;

static void
table_add(AnswerTable *table, int type, int split, const char *answer)
{
	int			v;

	for (v = 0; v < table->n_values[type]; v++)
		if (strcmp(table->value[type][v], answer) == 0)
			break;
	if (v == table->n_values[type])
	{
		assert_true(v < MAX_VALUES);
		table->value[type][v] = answer;
		table->n_values[type]++;
	}
	table->count[type][v][split]++;
	table->total[type][split]++;
}

/* Consensus answers of a whole data set, by type and split. */
static void
collect_answers(VqaSyntheticConfig config, AnswerTable *table)
{
	VqaSynthetic *gen = unit_synthetic_new(config);
	VqaSyntheticImage image;

	memset(table, 0, sizeof(*table));
	while (vqa_synthetic_next(gen, &image))
	{
		int			k;

		for (k = 0; k < image.n_questions; k++)
		{
			const VqaSyntheticQuestion *q = &image.questions[k];

			table_add(table, type_index(q->question_type), split_index(q->split),
					  q->multiple_choice_answer);
		}
	}
	vqa_synthetic_free(gen);
}

/* ---- generator tests ---- */

static void
expect_error(VqaSyntheticConfig config, const char *message)
{
	char		errbuf[256] = "";

	assert_null(vqa_synthetic_new(&config, errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, message);
}

static void
test_config_validation(void **state)
{
	char		errbuf[256] = "";
	VqaSyntheticConfig good = config_of(10, 0, 10, 64, 6);
	VqaSynthetic *gen;

	(void) state;
	expect_error(config_of(0, 0, 10, 64, 6), "images must be between 1 and 10000000");
	expect_error(config_of(10000001, 0, 10, 64, 6), "images must be between 1 and 10000000");
	expect_error(config_of(10, 0, 0, 64, 6), "boxes must be between 1 and 100");
	expect_error(config_of(10, 0, 101, 64, 6), "boxes must be between 1 and 100");
	expect_error(config_of(10, 0, 10, 7, 6), "feature_dim must be between 8 and 4096");
	expect_error(config_of(10, 0, 10, 4097, 6), "feature_dim must be between 8 and 4096");
	expect_error(config_of(10, 0, 10, 64, 0), "questions_per_image must be between 1 and 50");
	expect_error(config_of(10, 0, 10, 64, 51), "questions_per_image must be between 1 and 50");
	assert_null(vqa_synthetic_new(NULL, errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, "config must not be NULL");

	/* a short or absent errbuf is fine */
	good.images = -1;
	assert_null(vqa_synthetic_new(&good, errbuf, 8));
	assert_string_equal(errbuf, "images ");
	assert_null(vqa_synthetic_new(&good, NULL, 0));

	good.images = 10;
	gen = vqa_synthetic_new(&good, errbuf, sizeof(errbuf));
	assert_non_null(gen);
	vqa_synthetic_free(gen);
	vqa_synthetic_free(NULL);
}

/* Compares two images field by field; returns 1 if identical. */
static int
same_image(const VqaSyntheticImage *a, const VqaSyntheticImage *b)
{
	int			k;
	int			i;

	if (a->image_id != b->image_id || a->image_w != b->image_w ||
		a->image_h != b->image_h || a->num_boxes != b->num_boxes ||
		a->feature_dim != b->feature_dim || a->n_questions != b->n_questions)
		return 0;
	if (memcmp(a->boxes, b->boxes, sizeof(float) * 4 * a->num_boxes) != 0 ||
		memcmp(a->features, b->features,
			   sizeof(float) * a->num_boxes * a->feature_dim) != 0)
		return 0;
	for (k = 0; k < a->n_questions; k++)
	{
		const VqaSyntheticQuestion *qa = &a->questions[k];
		const VqaSyntheticQuestion *qb = &b->questions[k];

		if (qa->question_id != qb->question_id ||
			strcmp(qa->question, qb->question) != 0 ||
			strcmp(qa->split, qb->split) != 0 ||
			strcmp(qa->multiple_choice_answer, qb->multiple_choice_answer) != 0)
			return 0;
		for (i = 0; i < VQA_SYNTHETIC_ANSWERS; i++)
			if (strcmp(qa->answers[i], qb->answers[i]) != 0)
				return 0;
	}
	return 1;
}

static void
test_determinism(void **state)
{
	VqaSynthetic *a = unit_synthetic_new(config_of(60, 7, 10, 64, 6));
	VqaSynthetic *b = unit_synthetic_new(config_of(60, 7, 10, 64, 6));
	VqaSynthetic *c = unit_synthetic_new(config_of(60, 8, 10, 64, 6));
	VqaSynthetic *shorter = unit_synthetic_new(config_of(20, 7, 10, 64, 6));
	VqaSyntheticImage ia;
	VqaSyntheticImage ib;
	VqaSyntheticImage ic;
	VqaSyntheticImage is;
	int			n_images = 0;
	int			features_differ = 0;
	int			questions_differ = 0;

	(void) state;
	while (vqa_synthetic_next(a, &ia))
	{
		int			k;

		assert_int_equal(vqa_synthetic_next(b, &ib), 1);
		assert_int_equal(vqa_synthetic_next(c, &ic), 1);
		assert_true(same_image(&ia, &ib));
		features_differ += memcmp(ia.features, ic.features,
								  sizeof(float) * ia.num_boxes * ia.feature_dim) != 0;
		for (k = 0; k < ia.n_questions; k++)
			questions_differ += strcmp(ia.questions[k].question,
									   ic.questions[k].question) != 0;

		/* a smaller data set of the same seed is a prefix of this one */
		if (vqa_synthetic_next(shorter, &is))
			assert_true(same_image(&ia, &is));
		n_images++;
	}
	assert_int_equal(n_images, 60);
	assert_int_equal(vqa_synthetic_next(b, &ib), 0);
	assert_int_equal(vqa_synthetic_next(c, &ic), 0);
	assert_int_equal(vqa_synthetic_next(a, &ia), 0);
	assert_int_equal(features_differ, 60);
	assert_true(questions_differ > 60 * 6 / 2);
	vqa_synthetic_free(a);
	vqa_synthetic_free(b);
	vqa_synthetic_free(c);
	vqa_synthetic_free(shorter);
}

static int
ends_with_question_mark(const char *s)
{
	size_t		len = strlen(s);

	return len > 1 && s[len - 1] == '?';
}

static int
starts_with_ignoring_case(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
	{
		char		c = (*s >= 'A' && *s <= 'Z') ? (char) (*s - 'A' + 'a') : *s;

		if (c != *prefix)
			return 0;
	}
	return 1;
}

static int
is_lower_case_key(const char *a, const char *b)
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
is_number_answer(const char *answer)
{
	static const char *const words[] = {
		"zero", "none", "one", "two", "three", "four", "five", "six",
		"seven", "eight", "nine"
	};
	int			i;

	if (answer[0] >= '0' && answer[0] <= '9')
		return 1;
	for (i = 0; i < (int) (sizeof(words) / sizeof(words[0])); i++)
		if (starts_with_ignoring_case(answer, words[i]))
			return 1;
	return 0;
}

/* Checks every record of a data set; returns the number of questions. */
static int
check_well_formed(VqaSyntheticConfig config, int *all_agree, int *types_seen)
{
	VqaSynthetic *gen = unit_synthetic_new(config);
	VqaSyntheticImage image;
	int64_t		last_question_id = 0;
	int64_t		expected_image_id = 1;
	int			n_questions = 0;

	while (vqa_synthetic_next(gen, &image))
	{
		int			b;
		int			k;
		int			j;

		assert_true(image.image_id == expected_image_id);
		expected_image_id++;
		assert_true(image.image_w >= 300 && image.image_w <= 1000);
		assert_true(image.image_h >= 300 && image.image_h <= 1000);
		assert_int_equal(image.num_boxes, config.boxes);
		assert_int_equal(image.feature_dim, config.feature_dim);
		assert_int_equal(image.n_questions, config.questions_per_image);
		for (b = 0; b < image.num_boxes; b++)
		{
			const float *box = image.boxes + b * 4;

			assert_true(box[0] >= 0.0f && box[0] < box[2] && box[2] <= 1.0f);
			assert_true(box[1] >= 0.0f && box[1] < box[3] && box[3] <= 1.0f);
		}
		for (j = 0; j < image.num_boxes * image.feature_dim; j++)
			assert_true(isfinite(image.features[j]) && fabsf(image.features[j]) < 20.0f);

		for (k = 0; k < image.n_questions; k++)
		{
			const VqaSyntheticQuestion *q = &image.questions[k];
			int			t = type_index(q->question_type);
			int			mc_found = 0;
			int			mc_count = 0;
			int			agree = 1;
			int			i;

			/* ids positive and increasing, so unique */
			assert_true(q->question_id > last_question_id);
			last_question_id = q->question_id;
			assert_true(q->image_id == image.image_id);
			assert_true(q->question_id / 100 == image.image_id);

			assert_true(ends_with_question_mark(q->question));
			assert_true(t >= 0);
			types_seen[t]++;
			assert_true(starts_with_ignoring_case(q->question, q->question_type));
			assert_string_equal(q->answer_type, answer_types[t]);
			assert_true(split_index(q->split) >= 0);
			assert_string_equal(q->coco_split,
								image.image_id * 3 <= (int64_t) config.images * 2 ?
								"train2014" : "val2014");

			for (i = 0; i < VQA_SYNTHETIC_ANSWERS; i++)
			{
				assert_non_null(q->answers[i]);
				assert_true(q->answers[i][0] != '\0');
				mc_found |= strcmp(q->answers[i], q->multiple_choice_answer) == 0;
				mc_count += is_lower_case_key(q->answers[i], q->multiple_choice_answer);
				agree &= strcmp(q->answers[i], q->answers[0]) == 0;
			}
			assert_true(mc_found);
			/* the consensus is a most frequent answer after lower-casing */
			for (i = 0; i < VQA_SYNTHETIC_ANSWERS; i++)
			{
				int			count = 0;
				int			j2;

				for (j2 = 0; j2 < VQA_SYNTHETIC_ANSWERS; j2++)
					count += is_lower_case_key(q->answers[i], q->answers[j2]);
				assert_true(count <= mc_count);
			}
			/* surface variants ("no.", "two") can rarely win the vote */
			if (strcmp(q->answer_type, "yes/no") == 0)
				assert_true(starts_with_ignoring_case(q->multiple_choice_answer, "yes") ||
							starts_with_ignoring_case(q->multiple_choice_answer, "no"));
			if (strcmp(q->answer_type, "number") == 0)
				assert_true(is_number_answer(q->multiple_choice_answer));
			*all_agree += agree;
			n_questions++;
		}
	}
	assert_true(expected_image_id == config.images + 1);
	vqa_synthetic_free(gen);
	return n_questions;
}

static void
test_well_formed(void **state)
{
	int			types_seen[N_TYPES] = {0};
	int			all_agree = 0;
	int			n;
	int			t;

	(void) state;
	n = check_well_formed(config_of(400, 11, 10, 64, 6), &all_agree, types_seen);
	assert_int_equal(n, 400 * 6);
	for (t = 0; t < N_TYPES; t++)
		assert_true(types_seen[t] > n / 50);
	/* complete agreement is common, as in VQA, but not universal */
	assert_true(all_agree > n * 3 / 10 && all_agree < n * 7 / 10);

	/* the edges of the config ranges */
	check_well_formed(config_of(30, 1, 1, 8, 1), &all_agree, types_seen);
	check_well_formed(config_of(30, 2, 1, 9, 50), &all_agree, types_seen);
	check_well_formed(config_of(5, 3, 100, 4096, 50), &all_agree, types_seen);
	check_well_formed(config_of(1, 4, 2, 16, 3), &all_agree, types_seen);
}

static void
test_streaming(void **state)
{
	/* ten million images cost nothing until they are asked for */
	VqaSynthetic *gen = unit_synthetic_new(config_of(10000000, 5, 10, 64, 6));
	VqaSyntheticImage image;

	(void) state;
	assert_int_equal(vqa_synthetic_next(gen, &image), 1);
	assert_true(image.image_id == 1);
	assert_int_equal(vqa_synthetic_next(gen, &image), 1);
	assert_true(image.image_id == 2);
	assert_true(image.questions[0].question_id == 201);
	vqa_synthetic_free(gen);
}

static const char *const category_names[] = {
	"cat", "dog", "car", "bus", "chair", "table",
	"cup", "ball", "bird", "horse", "kite", "boat"
};

#define N_CATEGORIES 12

/* The category named in a question, as a whole word; -1 if none. */
static int
category_in(const char *question)
{
	int			c;

	for (c = 0; c < N_CATEGORIES; c++)
	{
		size_t		len = strlen(category_names[c]);
		const char *p;

		for (p = strstr(question, category_names[c]); p; p = strstr(p + 1, category_names[c]))
			if ((p == question || p[-1] == ' ') && (p[len] == ' ' || p[len] == '?'))
				return c;
	}
	return -1;
}

/*
 * With one box per image, every question about "the X" (a category that
 * occurs once) names the box's category: the public records give labels.
 * Centroids from the first half of the images classify the second half.
 */
static void
test_category_from_features(void **state)
{
	enum
	{
		DIM = 64, IMAGES = 3000
	};
	VqaSynthetic *gen = unit_synthetic_new(config_of(IMAGES, 3, 1, DIM, 10));
	VqaSyntheticImage image;
	static double centroid[N_CATEGORIES][DIM];
	int			n_centroid[N_CATEGORIES] = {0};
	float	   *features = malloc(sizeof(float) * IMAGES * DIM);
	int		   *labels = malloc(sizeof(int) * IMAGES);
	int			n = 0;
	int			correct = 0;
	int			tested = 0;
	int			i;
	int			c;
	int			j;

	(void) state;
	assert_non_null(features);
	assert_non_null(labels);
	while (vqa_synthetic_next(gen, &image))
	{
		int			label = -1;
		int			k;

		for (k = 0; k < image.n_questions && label < 0; k++)
		{
			const char *type = image.questions[k].question_type;

			if (strcmp(type, "what color is the") == 0 ||
				strcmp(type, "what is the") == 0 || strcmp(type, "is the") == 0)
				label = category_in(image.questions[k].question);
		}
		if (label < 0)
			continue;
		memcpy(features + n * DIM, image.features, sizeof(float) * DIM);
		labels[n++] = label;
	}
	vqa_synthetic_free(gen);
	assert_true(n > IMAGES * 9 / 10);

	memset(centroid, 0, sizeof(centroid));
	for (i = 0; i < n / 2; i++)
	{
		for (j = 0; j < DIM; j++)
			centroid[labels[i]][j] += features[i * DIM + j];
		n_centroid[labels[i]]++;
	}
	for (c = 0; c < N_CATEGORIES; c++)
	{
		assert_true(n_centroid[c] > 0);
		for (j = 0; j < DIM; j++)
			centroid[c][j] /= n_centroid[c];
	}
	for (i = n / 2; i < n; i++)
	{
		int			best = -1;
		double		best_distance = 0.0;

		for (c = 0; c < N_CATEGORIES; c++)
		{
			double		distance = 0.0;

			for (j = 0; j < DIM; j++)
			{
				double		d = features[i * DIM + j] - centroid[c][j];

				distance += d * d;
			}
			if (best < 0 || distance < best_distance)
			{
				best = c;
				best_distance = distance;
			}
		}
		correct += best == labels[i];
		tested++;
	}
	print_message("category accuracy from features (nearest centroid, dim %d): %.4f over %d boxes\n",
				  DIM, (double) correct / tested, tested);
	assert_true((double) correct / tested >= 0.9);
	free(features);
	free(labels);
}

static void
test_split_proportions(void **state)
{
	static AnswerTable table;
	int			split_total[3] = {0};
	int			all = 0;
	int			t;
	int			s;
	double		val_share;
	double		train_side_share;

	(void) state;
	collect_answers(config_of(2000, 0, 10, 64, 6), &table);
	for (t = 0; t < N_TYPES; t++)
		for (s = 0; s < 3; s++)
		{
			/* every type has questions in every split */
			assert_true(table.total[t][s] > 0);
			split_total[s] += table.total[t][s];
			all += table.total[t][s];
		}
	assert_int_equal(all, 2000 * 6);
	val_share = (double) split_total[1] / (split_total[0] + split_total[1]);
	train_side_share = (double) (split_total[0] + split_total[1]) / all;
	print_message("splits: train %d, val %d, test %d (val %.3f of the train side, train side %.3f)\n",
				  split_total[0], split_total[1], split_total[2], val_share, train_side_share);
	assert_true(fabs(val_share - 0.15) < 0.02);
	assert_true(train_side_share > 0.4 && train_side_share < 0.6);
}

/*
 * The VQA-CP property. The prior baseline answers every question with the
 * most frequent train answer of its question type; it must do far better on
 * val (drawn like train) than on test. Also the train and test answer
 * distributions of each type must be far apart, and train and val close.
 */
static void
test_prior_misleads_on_test(void **state)
{
	static AnswerTable table;
	int			correct[3] = {0};
	int			total[3] = {0};
	double		tv_train_test = 0.0;
	double		tv_train_val = 0.0;
	double		val_accuracy;
	double		test_accuracy;
	int			t;
	int			v;

	(void) state;
	collect_answers(config_of(2000, 0, 10, 64, 6), &table);
	for (t = 0; t < N_TYPES; t++)
	{
		int			mode = 0;
		double		tv_test = 0.0;
		double		tv_val = 0.0;

		for (v = 0; v < table.n_values[t]; v++)
		{
			double		p_train = (double) table.count[t][v][0] / table.total[t][0];
			double		p_val = (double) table.count[t][v][1] / table.total[t][1];
			double		p_test = (double) table.count[t][v][2] / table.total[t][2];

			if (table.count[t][v][0] > table.count[t][mode][0])
				mode = v;
			tv_test += fabs(p_train - p_test) / 2.0;
			tv_val += fabs(p_train - p_val) / 2.0;
		}
		print_message("%-18s prior \"%s\": val %.3f, test %.3f; TV(train, test) %.3f, TV(train, val) %.3f\n",
					  question_types[t], table.value[t][mode],
					  (double) table.count[t][mode][1] / table.total[t][1],
					  (double) table.count[t][mode][2] / table.total[t][2],
					  tv_test, tv_val);
		/* per type too: the prior is worse on test than on val */
		assert_true(table.count[t][mode][1] * table.total[t][2] >
					table.count[t][mode][2] * table.total[t][1]);
		correct[1] += table.count[t][mode][1];
		correct[2] += table.count[t][mode][2];
		total[1] += table.total[t][1];
		total[2] += table.total[t][2];
		tv_train_test += tv_test / N_TYPES;
		tv_train_val += tv_val / N_TYPES;
	}
	val_accuracy = 100.0 * correct[1] / total[1];
	test_accuracy = 100.0 * correct[2] / total[2];
	print_message("prior baseline: val %.1f, test %.1f; mean TV(train, test) %.3f, mean TV(train, val) %.3f\n",
				  val_accuracy, test_accuracy, tv_train_test, tv_train_val);
	assert_true(val_accuracy >= test_accuracy + 25.0);
	assert_true(tv_train_test >= 0.5);
	assert_true(tv_train_val < 0.15);
}

int
run_synthetic_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_reproducible),
		cmocka_unit_test(test_rng_distributions),
		cmocka_unit_test(test_config_validation),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_well_formed),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_category_from_features),
		cmocka_unit_test(test_split_proportions),
		cmocka_unit_test(test_prior_misleads_on_test),
	};

	return UNIT_GROUP(synthetic, tests, n_tests);
}
