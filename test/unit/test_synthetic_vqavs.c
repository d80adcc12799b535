/*
 * test_synthetic_vqavs.c: the VQA-VS mode of the embedded benchmark.
 *
 * The mode must keep the VQA-CP mode's scenes and questions (only the
 * splits differ), split at random 60/10/30, give every question its nine
 * shortcut concepts, and mark exactly the test questions whose answer is
 * rare for their concept in train: checked against a count of its own over
 * the generator's output, by concept and answer strings. A model answering
 * from a shortcut (the concept's most frequent train answer) is then right
 * on much of IID test and wrong on every question of that shortcut's set.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synthetic_helpers.h"
#include "unit.h"
#include "vqaprune/synthetic.h"

#define IMAGES 2000
#define PER_IMAGE 6
#define N_QUESTIONS (IMAGES * PER_IMAGE)

static VqaSyntheticConfig
vs_config(int images, uint64_t seed, VqaSyntheticBenchmark benchmark)
{
	return unit_synthetic_config(images, seed, 10, 64, PER_IMAGE, benchmark);
}

/* What the tests keep of a question. */
typedef struct Kept
{
	char		split[8];
	char		answer[16];
	char		concept[VQA_VS_OOD_SETS][64];
	unsigned	ood_sets;
	char		text[96];
	char		answers[VQA_SYNTHETIC_ANSWERS][16];
} Kept;

static Kept *
generate(VqaSyntheticConfig config, int *n)
{
	VqaSynthetic *gen = unit_synthetic_new(config);
	VqaSyntheticImage image;
	Kept	   *kept = calloc((size_t) config.images * config.questions_per_image, sizeof(Kept));

	assert_non_null(kept);
	*n = 0;
	while (vqa_synthetic_next(gen, &image))
		for (int k = 0; k < image.n_questions; k++)
		{
			const VqaSyntheticQuestion *q = &image.questions[k];
			Kept	   *c = &kept[(*n)++];

			snprintf(c->split, sizeof(c->split), "%s", q->split);
			snprintf(c->answer, sizeof(c->answer), "%s", q->answer);
			snprintf(c->text, sizeof(c->text), "%s", q->question);
			for (int i = 0; i < VQA_SYNTHETIC_ANSWERS; i++)
				snprintf(c->answers[i], sizeof(c->answers[i]), "%s", q->answers[i]);
			c->ood_sets = q->ood_sets;
			for (int s = 0; s < VQA_VS_OOD_SETS; s++)
				if (q->concepts[s] != NULL)
					snprintf(c->concept[s], sizeof(c->concept[s]), "%s", q->concepts[s]);
		}
	vqa_synthetic_free(gen);
	return kept;
}

/* The same scenes and questions as the VQA-CP mode; only the splits differ. */
static void
test_vqavs_same_questions(void **state)
{
	int			n_cp;
	int			n_vs;
	Kept	   *cp = generate(vs_config(300, 4, VQA_SYNTHETIC_VQA_CP), &n_cp);
	Kept	   *vs = generate(vs_config(300, 4, VQA_SYNTHETIC_VQA_VS), &n_vs);
	int			other_split = 0;

	(void) state;
	assert_int_equal(n_cp, n_vs);
	for (int i = 0; i < n_cp; i++)
	{
		assert_string_equal(cp[i].text, vs[i].text);
		assert_string_equal(cp[i].answer, vs[i].answer);
		for (int a = 0; a < VQA_SYNTHETIC_ANSWERS; a++)
			assert_string_equal(cp[i].answers[a], vs[i].answers[a]);
		other_split += strcmp(cp[i].split, vs[i].split) != 0;
		/* concepts and OOD sets are the VQA-VS mode's alone */
		assert_int_equal(cp[i].ood_sets, 0);
		assert_string_equal(cp[i].concept[0], "");
		for (int s = 0; s < VQA_VS_OOD_SETS; s++)
			assert_true(vs[i].concept[s][0] != '\0');
		if (strcmp(vs[i].split, "test") != 0)
			assert_int_equal(vs[i].ood_sets, 0);
	}
	assert_true(other_split > n_cp / 4);
	/* the first question's concepts, as doc/synthetic.md shows them */
	print_message("question 1: \"%s\" (%s): %s, %s, %s, %s, %s, %s, %s, %s, %s\n", vs[0].text,
				  vs[0].answer, vs[0].concept[0], vs[0].concept[1], vs[0].concept[2],
				  vs[0].concept[3], vs[0].concept[4], vs[0].concept[5], vs[0].concept[6],
				  vs[0].concept[7], vs[0].concept[8]);
	free(cp);
	free(vs);
}

static void
test_vqavs_deterministic(void **state)
{
	int			n_a;
	int			n_b;
	int			n_c;
	Kept	   *a = generate(vs_config(400, 9, VQA_SYNTHETIC_VQA_VS), &n_a);
	Kept	   *b = generate(vs_config(400, 9, VQA_SYNTHETIC_VQA_VS), &n_b);
	Kept	   *c = generate(vs_config(400, 10, VQA_SYNTHETIC_VQA_VS), &n_c);

	(void) state;
	assert_int_equal(n_a, n_b);
	assert_memory_equal(a, b, sizeof(Kept) * n_a);
	assert_true(memcmp(a, c, sizeof(Kept) * n_a) != 0);
	free(a);
	free(b);
	free(c);
}

static void
test_vqavs_splits(void **state)
{
	int			n;
	Kept	   *kept = generate(vs_config(IMAGES, 0, VQA_SYNTHETIC_VQA_VS), &n);
	int			count[3] = {0};

	(void) state;
	assert_int_equal(n, N_QUESTIONS);
	for (int i = 0; i < n; i++)
		count[strcmp(kept[i].split, "train") == 0 ? 0 : strcmp(kept[i].split, "val") == 0 ? 1 : 2]++;
	print_message("splits: train %d, val %d, test %d\n", count[0], count[1], count[2]);
	assert_true(fabs((double) count[0] / n - 0.6) < 0.02);
	assert_true(fabs((double) count[1] / n - 0.1) < 0.02);
	assert_true(fabs((double) count[2] / n - 0.3) < 0.02);
	free(kept);
}

/* Train questions per (set, concept, answer): sorted keys, counted. */
typedef struct CountKey
{
	char		key[96];			/* "set|concept|answer" */
	int			count;
} CountKey;

static int
compare_keys(const void *a, const void *b)
{
	return strcmp(((const CountKey *) a)->key, ((const CountKey *) b)->key);
}

static int
train_count(const CountKey *keys, int n_keys, int set, const char *concept, const char *answer)
{
	CountKey	probe;
	const CountKey *found;

	snprintf(probe.key, sizeof(probe.key), "%d|%s|%s", set, concept, answer);
	found = bsearch(&probe, keys, n_keys, sizeof(CountKey), compare_keys);
	return found ? found->count : 0;
}

/*
 * Every OOD bit against its own count: a test question is in set s exactly
 * when its answer is fewer than half as frequent as the top answer of its
 * concept in train, or the concept is not in train. The shortcut's answer
 * (the concept's top train answer) is wrong on the whole set.
 */
static void
test_vqavs_ood_sets_follow_train(void **state)
{
	int			n;
	Kept	   *kept = generate(vs_config(IMAGES, 0, VQA_SYNTHETIC_VQA_VS), &n);
	CountKey   *keys = calloc((size_t) n * VQA_VS_OOD_SETS, sizeof(CountKey));
	static const char *const all_answers[] = {
		"red", "blue", "green", "yellow", "white", "black", "brown", "gray",
		"metal", "wood", "plastic", "glass", "cloth", "cat", "dog", "bird", "horse",
		"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "yes", "no"
	};
	const int	n_all = (int) (sizeof(all_answers) / sizeof(all_answers[0]));
	int			n_keys = 0;
	int			test = 0;
	int			members[VQA_VS_OOD_SETS] = {0};
	int			shortcut_right[VQA_VS_OOD_SETS] = {0};
	int			shortcut_right_ood[VQA_VS_OOD_SETS] = {0};

	(void) state;
	assert_non_null(keys);
	for (int i = 0; i < n; i++)
		if (strcmp(kept[i].split, "train") == 0)
			for (int s = 0; s < VQA_VS_OOD_SETS; s++)
				snprintf(keys[n_keys++].key, sizeof(keys[0].key), "%d|%s|%s", s,
						 kept[i].concept[s], kept[i].answer);
	qsort(keys, n_keys, sizeof(CountKey), compare_keys);
	{
		int			unique = 0;

		for (int i = 0; i < n_keys; i++)
		{
			if (unique > 0 && strcmp(keys[unique - 1].key, keys[i].key) == 0)
				keys[unique - 1].count++;
			else
			{
				keys[unique] = keys[i];
				keys[unique++].count = 1;
			}
		}
		n_keys = unique;
	}

	for (int i = 0; i < n; i++)
	{
		if (strcmp(kept[i].split, "test") != 0)
			continue;
		test++;
		for (int s = 0; s < VQA_VS_OOD_SETS; s++)
		{
			int			most = 0;
			const char *shortcut = "";
			int			own = train_count(keys, n_keys, s, kept[i].concept[s], kept[i].answer);
			int			expected;

			for (int a = 0; a < n_all; a++)
			{
				int			c = train_count(keys, n_keys, s, kept[i].concept[s], all_answers[a]);

				if (c > most)
				{
					most = c;
					shortcut = all_answers[a];
				}
			}
			expected = most == 0 || 2 * own < most;
			assert_int_equal((kept[i].ood_sets >> s) & 1, expected);
			members[s] += expected;
			shortcut_right[s] += strcmp(shortcut, kept[i].answer) == 0;
			if (expected)
				shortcut_right_ood[s] += strcmp(shortcut, kept[i].answer) == 0;
		}
	}
	for (int s = 0; s < VQA_VS_OOD_SETS; s++)
	{
		print_message("OOD %-8s %4d of %d test questions; the shortcut answers %.1f%% of IID test\n",
					  vqa_vs_ood_set_names[s], members[s], test, 100.0 * shortcut_right[s] / test);
		/* a proper, non-trivial subset that the shortcut gets wrong throughout */
		assert_true(members[s] >= test / 20 && members[s] <= test * 3 / 4);
		assert_int_equal(shortcut_right_ood[s], 0);
		assert_true(shortcut_right[s] >= test / 6);
	}
	free(keys);
	free(kept);
}

static void
test_vqavs_config(void **state)
{
	VqaSyntheticConfig config = vs_config(10, 0, VQA_SYNTHETIC_VQA_VS);
	char		errbuf[256] = "";

	(void) state;
	config.benchmark = (VqaSyntheticBenchmark) 7;
	assert_null(vqa_synthetic_new(&config, errbuf, sizeof(errbuf)));
	assert_string_equal(errbuf, "benchmark must be VQA-CP or VQA-VS");
	assert_string_equal(vqa_vs_ood_set_names[0], "QT");
	assert_string_equal(vqa_vs_ood_set_names[VQA_VS_OOD_SETS - 1], "QT+KW+KO");
}

int
run_synthetic_vqavs_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vqavs_same_questions),
		cmocka_unit_test(test_vqavs_deterministic),
		cmocka_unit_test(test_vqavs_splits),
		cmocka_unit_test(test_vqavs_ood_sets_follow_train),
		cmocka_unit_test(test_vqavs_config),
	};

	return UNIT_GROUP(synthetic_vqavs, tests, n_tests);
}
