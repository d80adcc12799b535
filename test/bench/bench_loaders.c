/*
 * bench_loaders.c: speed of the streaming file readers of the core.
 *
 * Writes, in a fresh temporary directory, files the size of the real ones: a
 * VQA-CP v2-like questions file of 438,183 questions (the size of VQA-CP v2
 * train) and its annotations file (10 answers each, with the
 * answer_confidence and answer_id fields of the real files), and an LXMERT
 * obj36 TSV of 2,000 images x 36 boxes x 2048 features. Each file is then
 * read through its reader three times, and the best time is reported, so the
 * files are in the page cache and the figures measure parsing, not the disk.
 *
 * Prints one line per file and a PASS/FAIL line per target; always exits 0:
 * it is a measurement, not a test. The temporary directory is removed.
 */
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vqaprune/features_tsv.h"
#include "vqaprune/vqa_json.h"

#define N_QUESTIONS 438183
#define N_IMAGES 2000
#define N_BOXES 36
#define FEATURE_DIM 2048
#define RUNS 3

#define TARGET_QUESTIONS_PER_S 100000.0
#define TARGET_TSV_MB_PER_S 150.0

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* A small xorshift generator: the content only has to look varied. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t
next_random(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static const char *const words[] = {
	"What", "color", "is", "the", "man", "wearing", "How", "many", "people",
	"are", "in", "picture", "Is", "there", "a", "dog", "on", "table", "kind",
	"of", "animal", "this", "room", "sign", "say", "Does", "woman", "have",
};

static const char *const answers[] = {
	"yes", "no", "2", "red", "white", "1", "blue", "black", "3", "tennis",
	"green", "nothing", "frisbee", "4", "kitchen", "baseball",
};

static int
write_questions(const char *path)
{
	FILE	   *f = fopen(path, "w");
	long		i;

	if (f == NULL)
		return -1;
	fputc('[', f);
	for (i = 0; i < N_QUESTIONS; i++)
	{
		int			n_words = 5 + (int) (next_random() % 5);
		int			w;

		fprintf(f, "%s{\"image_id\": %ld, \"question\": \"", i ? ", " : "", 9 + i / 5 * 7);
		for (w = 0; w < n_words; w++)
			fprintf(f, "%s%s", w ? " " : "",
					words[next_random() % (sizeof(words) / sizeof(words[0]))]);
		fprintf(f, "?\", \"question_id\": %ld, \"coco_split\": \"%s\"}",
				(9 + i / 5 * 7) * 1000 + i % 5, i % 3 ? "train2014" : "val2014");
	}
	fputs("]\n", f);
	return fclose(f);
}

static int
write_annotations(const char *path)
{
	FILE	   *f = fopen(path, "w");
	long		i;

	if (f == NULL)
		return -1;
	fputc('[', f);
	for (i = 0; i < N_QUESTIONS; i++)
	{
		const char *mc = answers[next_random() % 16];
		int			a;

		fprintf(f, "%s{\"question_type\": \"what color is the\", \"multiple_choice_answer\": \"%s\","
				" \"answers\": [", i ? ", " : "", mc);
		for (a = 0; a < 10; a++)
			fprintf(f, "%s{\"answer\": \"%s\", \"answer_confidence\": \"%s\", \"answer_id\": %d}",
					a ? ", " : "", a < 6 ? mc : answers[next_random() % 16],
					a % 3 ? "yes" : "maybe", a + 1);
		fprintf(f, "], \"image_id\": %ld, \"answer_type\": \"other\", \"question_id\": %ld}",
				9 + i / 5 * 7, (9 + i / 5 * 7) * 1000 + i % 5);
	}
	fputs("]\n", f);
	return fclose(f);
}

static size_t
base64_encode(const void *data, size_t len, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char	   *o = out;
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32_t	v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];

		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (i < len)
	{
		uint32_t	v = (uint32_t) p[i] << 16 | (i + 1 < len ? (uint32_t) p[i + 1] << 8 : 0);

		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	return (size_t) (o - out);
}

/* Writes the TSV; returns the number of base64 characters, or 0 on failure. */
static double
write_tsv(const char *path)
{
	FILE	   *f = fopen(path, "w");
	float	   *features = malloc(sizeof(float) * N_BOXES * FEATURE_DIM);
	char	   *text = malloc(sizeof(float) * N_BOXES * FEATURE_DIM / 3 * 4 + 8);
	double		n_base64 = 0;
	int			i,
				k;

	if (f == NULL || features == NULL || text == NULL)
	{
		if (f)
			fclose(f);
		free(features);
		free(text);
		return 0;
	}
	for (i = 0; i < N_IMAGES; i++)
	{
		int			w = 400 + (int) (next_random() % 240);
		int			h = 300 + (int) (next_random() % 180);
		int64_t		ids[N_BOXES];
		float		conf[N_BOXES];
		float		boxes[N_BOXES * 4];
		size_t		n;

		for (k = 0; k < N_BOXES; k++)
		{
			ids[k] = (int64_t) (next_random() % 1600);
			conf[k] = (float) (next_random() % 1000) / 1000.0f;
			boxes[4 * k] = (float) (next_random() % (uint64_t) (w / 2));
			boxes[4 * k + 1] = (float) (next_random() % (uint64_t) (h / 2));
			boxes[4 * k + 2] = boxes[4 * k] + (float) (next_random() % (uint64_t) (w / 2));
			boxes[4 * k + 3] = boxes[4 * k + 1] + (float) (next_random() % (uint64_t) (h / 2));
		}
		/* ReLU-like features: many zeros, the rest small positive values */
		for (k = 0; k < N_BOXES * FEATURE_DIM; k++)
		{
			uint64_t	r = next_random();

			features[k] = (r & 3) == 0 ? 0.0f : (float) (r >> 40) / (float) (1 << 20);
		}
		fprintf(f, "COCO_train2014_%012d\t%d\t%d\t", 9 + i * 7, h, w);
		n = base64_encode(ids, sizeof(ids), text);
		fwrite(text, 1, n, f);
		n_base64 += (double) n;
		fputc('\t', f);
		n = base64_encode(conf, sizeof(conf), text);
		fwrite(text, 1, n, f);
		n_base64 += (double) n;
		fputc('\t', f);
		n = base64_encode(ids, sizeof(ids), text);
		fwrite(text, 1, n, f);
		n_base64 += (double) n;
		fputc('\t', f);
		n = base64_encode(conf, sizeof(conf), text);
		fwrite(text, 1, n, f);
		n_base64 += (double) n;
		fprintf(f, "\t%d\t", N_BOXES);
		n = base64_encode(boxes, sizeof(boxes), text);
		fwrite(text, 1, n, f);
		n_base64 += (double) n;
		fputc('\t', f);
		n = base64_encode(features, sizeof(float) * N_BOXES * FEATURE_DIM, text);
		fwrite(text, 1, n, f);
		n_base64 += (double) n;
		fputc('\n', f);
	}
	free(features);
	free(text);
	return fclose(f) == 0 ? n_base64 : 0;
}

/* Best time of RUNS reads of a JSON file; -1 on error. */
static double
time_json(const char *path, VqaJsonKind kind, long *n_records)
{
	double		best = -1;
	int			run;

	for (run = 0; run < RUNS; run++)
	{
		char		err[256];
		double		t0 = now();
		VqaJsonReader *r = vqa_json_open(path, kind, err, sizeof(err));
		VqaJsonRecord rec;
		int64_t		checksum = 0;
		int			rc;
		double		t;

		if (r == NULL)
		{
			fprintf(stderr, "%s\n", err);
			return -1;
		}
		while ((rc = vqa_json_next(r, &rec)) == 1)
			checksum += rec.question_id + rec.n_answers;
		if (rc < 0)
		{
			fprintf(stderr, "%s\n", vqa_json_error(r));
			vqa_json_close(r);
			return -1;
		}
		*n_records = vqa_json_records(r);
		vqa_json_close(r);
		t = now() - t0;
		if (checksum == 42)		/* keeps the loop from being optimised away */
			fputc(' ', stderr);
		if (best < 0 || t < best)
			best = t;
	}
	return best;
}

static double
time_tsv(const char *path, long *n_images)
{
	double		best = -1;
	int			run;

	for (run = 0; run < RUNS; run++)
	{
		char		err[256];
		double		t0 = now();
		VqaTsvReader *r = vqa_tsv_open(path, err, sizeof(err));
		VqaImageFeatures img;
		double		checksum = 0;
		long		n = 0;
		int			rc;
		double		t;

		if (r == NULL)
		{
			fprintf(stderr, "%s\n", err);
			return -1;
		}
		while ((rc = vqa_tsv_next(r, &img)) == 1)
		{
			checksum += img.features[0] + img.boxes[3];
			n++;
		}
		if (rc < 0)
		{
			fprintf(stderr, "%s\n", vqa_tsv_error(r));
			vqa_tsv_close(r);
			return -1;
		}
		vqa_tsv_close(r);
		t = now() - t0;
		if (checksum == 42.0)
			fputc(' ', stderr);
		*n_images = n;
		if (best < 0 || t < best)
			best = t;
	}
	return best;
}

/*
 * bench_loaders [DIR]: with DIR, the generated files are written there and
 * kept, so that the SQL loaders can be timed on them too.
 */
int
main(int argc, char **argv)
{
	char		tmpdir[] = "/tmp/vqaprune_bench_XXXXXX";
	const char *dir = tmpdir;
	bool		keep = argc > 1;
	char		questions[1024],
				annotations[1024],
				tsv[1024];
	double		t_questions = -1,
				t_annotations = -1,
				t_tsv = -1,
				n_base64;
	long		n_questions = 0,
				n_annotations = 0,
				n_images = 0;

	if (keep)
		dir = argv[1];
	else if (mkdtemp(tmpdir) == NULL)
	{
		perror("mkdtemp");
		return 0;
	}
	snprintf(questions, sizeof(questions), "%s/questions.json", dir);
	snprintf(annotations, sizeof(annotations), "%s/annotations.json", dir);
	snprintf(tsv, sizeof(tsv), "%s/features.tsv", dir);

	printf("writing %d questions, their annotations and %d images x %d x %d features...\n",
		   N_QUESTIONS, N_IMAGES, N_BOXES, FEATURE_DIM);
	fflush(stdout);
	if (write_questions(questions) == 0)
		t_questions = time_json(questions, VQA_JSON_QUESTIONS, &n_questions);
	if (!keep)
		unlink(questions);
	if (write_annotations(annotations) == 0)
		t_annotations = time_json(annotations, VQA_JSON_ANNOTATIONS, &n_annotations);
	if (!keep)
		unlink(annotations);
	n_base64 = write_tsv(tsv);
	if (n_base64 > 0)
		t_tsv = time_tsv(tsv, &n_images);
	if (!keep)
	{
		unlink(tsv);
		rmdir(dir);
	}

	if (t_questions > 0)
		printf("json_questions    %ld records  %.2f s  %.0f records/s\n",
			   n_questions, t_questions, n_questions / t_questions);
	if (t_annotations > 0)
		printf("json_annotations  %ld records  %.2f s  %.0f records/s\n",
			   n_annotations, t_annotations, n_annotations / t_annotations);
	if (t_tsv > 0)
		printf("tsv_features      %ld images  %.1f MB base64  %.2f s  %.0f MB/s\n",
			   n_images, n_base64 / 1e6, t_tsv, n_base64 / 1e6 / t_tsv);
	printf("target json >= %.0f questions/s: %s\n", TARGET_QUESTIONS_PER_S,
		   t_questions > 0 && n_questions / t_questions >= TARGET_QUESTIONS_PER_S ? "PASS" : "FAIL");
	printf("target tsv >= %.0f MB/s: %s\n", TARGET_TSV_MB_PER_S,
		   t_tsv > 0 && n_base64 / 1e6 / t_tsv >= TARGET_TSV_MB_PER_S ? "PASS" : "FAIL");
	return 0;
}
