/*
 * bench_lxmert.c: the vqaprune side of the LXMERT training-step benchmark.
 *
 * Times full training steps (forward, BCE loss, backward, Adam) of the C
 * model at the LXMERT-base shape or the demo's tiny shape, on random weights
 * and inputs, and prints one line in the same format as the PyTorch
 * reference (test/bench/lxmert_ref.py), which the driver
 * (test/scripts/run-bench.sh) puts side by side:
 *
 *   vqaprune shape=base batch=32 threads=2 samples_per_s=... step_ms=...
 *            peak_rss_mb=... gflops=... flops_per_step=...
 *
 * With --lengths, questions have real lengths instead of all 20 tokens:
 * "synthetic" draws them from the embedded benchmark's tokenised train
 * questions (vqa_synthetic's generator at its SQL defaults, a vocabulary
 * built from those questions as vqa_create_model builds it, [CLS] and
 * [SEP] included), "mean9" from a fixed distribution of 3 to 20 tokens
 * with mean 9. --buckets K sorts runs of K batches by length and shuffles
 * the batches, as the "length_buckets" training option does (0: batches at
 * random). Each step is padded to its longest question (--padding batch)
 * or to 20 (fixed), the padding masked. --plan FILE writes every step's
 * question lengths, one line per step (warm-up first), for the reference
 * (lxmert_ref.py --plan FILE), which then computes the same batches.
 *
 * Usage: bench_lxmert --shape base|tiny [--batch N] [--threads T]
 *                     [--steps S] [--warmup W]
 *                     [--lengths synthetic|mean9 [--buckets K]
 *                      [--padding batch|fixed] [--plan FILE]]
 *        bench_lxmert --sgemm N [--threads T]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "vqaprune/losses.h"
#include "vqaprune/lxmert.h"
#include "vqaprune/optimizer.h"
#include "vqaprune/gemm.h"
#include "vqaprune/parallel.h"
#include "vqaprune/rng.h"
#include "vqaprune/synthetic.h"
#include "vqaprune/tokenizer.h"

#include "bench_shapes.h"

static double
peak_rss_mb(void)
{
	struct rusage usage;

	getrusage(RUSAGE_SELF, &usage);
	return usage.ru_maxrss / 1024.0;
}

static int
bench_sgemm(int n, int threads)
{
	float	   *a = malloc(sizeof(float) * n * n);
	float	   *b = malloc(sizeof(float) * n * n);
	float	   *c = malloc(sizeof(float) * n * n);
	double		best = 1e30;

	for (int i = 0; i < n * n; i++)
	{
		a[i] = (float) (i % 7) * 0.1f;
		b[i] = (float) (i % 5) * 0.1f;
	}
	for (int r = 0; r < 6; r++)
	{
		double		t0 = bench_now();

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
					0.0f, c, n);
		if (r > 0 && bench_now() - t0 < best)
			best = bench_now() - t0;
	}
	printf("vqaprune sgemm n=%d threads=%d gflops=%.2f\n", n, threads,
		   2.0 * n * n * n / best / 1e9);
	free(a);
	free(b);
	free(c);
	return 0;
}

#define MAX_TOKENS 20

/*
 * Token counts of the embedded benchmark's train questions, at vqa_synthetic's
 * SQL defaults (1000 images, seed 0, 6 questions per image), tokenised with a
 * vocabulary of their words as vqa_create_model builds it. NULL on failure.
 */
static int *
synthetic_lengths(int *count)
{
	VqaSyntheticConfig config = {1000, 0, 10, 64, 6, VQA_SYNTHETIC_VQA_CP};
	char		err[256];
	VqaSynthetic *gen = vqa_synthetic_new(&config, err, sizeof(err));
	VqaSyntheticImage image;
	char	  **texts = malloc(sizeof(char *) * config.images * config.questions_per_image);
	int		   *lengths = malloc(sizeof(int) * config.images * config.questions_per_image);
	int32_t		ids[MAX_TOKENS];
	VqaVocab   *vocab;
	int			n = 0;

	if (gen == NULL || texts == NULL || lengths == NULL)
	{
		fprintf(stderr, "%s\n", gen ? "out of memory" : err);
		return NULL;
	}
	while (vqa_synthetic_next(gen, &image))
		for (int q = 0; q < image.n_questions; q++)
			if (strcmp(image.questions[q].split, "train") == 0)
				texts[n++] = strdup(image.questions[q].question);
	vqa_synthetic_free(gen);
	vocab = vqa_vocab_build((const char *const *) texts, n, 1, 0, err, sizeof(err));
	if (vocab == NULL)
	{
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	for (int i = 0; i < n; i++)
	{
		lengths[i] = vqa_tokenize(vocab, texts[i], MAX_TOKENS, ids, NULL);
		free(texts[i]);
	}
	free(texts);
	vqa_vocab_free(vocab);
	*count = n;
	return lengths;
}

/* Percent of questions with 3 .. 20 tokens: mean 9.00, like VQA v2's 6.2 words plus specials */
static const int MEAN9_PERCENT[MAX_TOKENS + 1] = {
	0, 0, 0, 2, 4, 7, 12, 14, 15, 11, 8, 7, 5, 4, 2, 2, 1, 2, 1, 1, 2
};

static int
mean9_length(VqaRng *rng)
{
	int			draw = (int) vqa_rng_below(rng, 100);

	for (int len = 0; len <= MAX_TOKENS; len++)
	{
		if (draw < MEAN9_PERCENT[len])
			return len;
		draw -= MEAN9_PERCENT[len];
	}
	return MAX_TOKENS;
}

static int
compare_ints(const void *a, const void *b)
{
	return *(const int *) a - *(const int *) b;
}

/*
 * The question lengths of n_steps batches (n_steps x batch ints), drawn from
 * the named distribution; with buckets, drawn in runs of buckets batches,
 * each run sorted, and the batches shuffled. NULL on failure.
 */
static int *
length_plan(const char *name, int batch, int buckets, int n_steps, VqaRng *rng)
{
	int			run = buckets > 0 ? buckets : 1;
	int			runs = (n_steps + run - 1) / run;
	size_t		n = (size_t) runs * run * batch;
	int		   *drawn = malloc(sizeof(int) * n);
	int		   *order = malloc(sizeof(int) * runs * run);
	int		   *plan = malloc(sizeof(int) * (size_t) n_steps * batch);
	int		   *pool = NULL;
	int			pool_size = 0;

	if (strcmp(name, "synthetic") == 0 && (pool = synthetic_lengths(&pool_size)) == NULL)
		return NULL;
	if (strcmp(name, "synthetic") != 0 && strcmp(name, "mean9") != 0)
	{
		fprintf(stderr, "--lengths must be synthetic or mean9\n");
		return NULL;
	}
	if (drawn == NULL || order == NULL || plan == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		drawn[i] = pool ? pool[vqa_rng_below(rng, pool_size)] : mean9_length(rng);
	for (int r = 0; buckets > 0 && r < runs; r++)
		qsort(drawn + (size_t) r * run * batch, (size_t) run * batch, sizeof(int), compare_ints);
	for (int b = 0; b < runs * run; b++)
		order[b] = b;
	if (buckets > 0)
		vqa_rng_shuffle_int(rng, order, runs * run);
	for (int s = 0; s < n_steps; s++)
		memcpy(plan + (size_t) s * batch, drawn + (size_t) order[s] * batch, sizeof(int) * batch);
	free(drawn);
	free(order);
	free(pool);
	return plan;
}

int
main(int argc, char **argv)
{
	const char *shape = "tiny";
	int			batch = -1,
				threads = 1,
				steps = -1,
				warmup = -1,
				sgemm = 0;
	int			tokens,
				boxes,
				default_steps,
				default_warmup;
	VqaModelConfig config;
	VqaModel *model;
	VqaAdam    *adam;
	VqaAdamConfig adam_config = {1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 0};
	VqaBatch in;
	char		err[256];
	VqaRng		rng;
	int32_t    *ids,
			   *attended;
	float	   *feats,
			   *pos,
			   *targets,
			   *logits,
			   *dlogits;
	float		loss = 0.0f;
	double		t0 = 0.0,
				step_s;
	const char *lengths = NULL,
			   *padding = "batch",
			   *plan_file = NULL;
	int			buckets = 0;
	int		   *plan = NULL;
	double		flops = 0.0,
				question_tokens = 0.0,
				batch_tokens = 0.0;

	for (int i = 1; i + 1 < argc; i += 2)
	{
		if (strcmp(argv[i], "--shape") == 0)
			shape = argv[i + 1];
		else if (strcmp(argv[i], "--batch") == 0)
			batch = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--threads") == 0)
			threads = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--steps") == 0)
			steps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--warmup") == 0)
			warmup = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--sgemm") == 0)
			sgemm = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--lengths") == 0)
			lengths = argv[i + 1];
		else if (strcmp(argv[i], "--buckets") == 0)
			buckets = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--padding") == 0)
			padding = argv[i + 1];
		else if (strcmp(argv[i], "--plan") == 0)
			plan_file = argv[i + 1];
	}
	if (sgemm > 0)
		return bench_sgemm(sgemm, threads);
	vqa_compute_set_threads(threads);

	bench_shape(shape, &config, &tokens, &boxes);
	/* base steps take seconds, tiny ones milliseconds */
	default_steps = strcmp(shape, "base") == 0 ? (lengths ? 6 : 3) : 20;
	default_warmup = strcmp(shape, "base") == 0 ? 1 : 3;
	if (batch < 1)
		batch = strcmp(shape, "base") == 0 ? 32 : 64;
	steps = steps > 0 ? steps : default_steps;
	warmup = warmup >= 0 ? warmup : default_warmup;

	model = vqa_model_new(&config, err, sizeof(err));
	if (model == NULL)
	{
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	adam = vqa_adam_new(model->n_params);
	if (adam == NULL)
	{
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	vqa_model_init_random(model, 1, 0.02f);
	vqa_rng_seed(&rng, 2);
	ids = malloc(sizeof(int32_t) * batch * tokens);
	attended = malloc(sizeof(int32_t) * batch * tokens);
	feats = malloc(sizeof(float) * batch * boxes * config.visual_feat_dim);
	pos = malloc(sizeof(float) * batch * boxes * 4);
	targets = malloc(sizeof(float) * batch * config.num_qa_labels);
	logits = malloc(sizeof(float) * batch * config.num_qa_labels);
	dlogits = malloc(sizeof(float) * batch * config.num_qa_labels);
	for (int i = 0; i < batch * tokens; i++)
	{
		ids[i] = (int32_t) vqa_rng_below(&rng, config.vocab_size);
		attended[i] = 1;
	}
	for (int i = 0; i < batch * boxes * config.visual_feat_dim; i++)
		feats[i] = (float) vqa_rng_normal(&rng);
	for (int i = 0; i < batch * boxes * 4; i++)
		pos[i] = (float) vqa_rng_uniform(&rng);
	for (int i = 0; i < batch * config.num_qa_labels; i++)
		targets[i] = vqa_rng_uniform(&rng) < 0.01 ? 1.0f : 0.0f;
	if (lengths)
	{
		plan = length_plan(lengths, batch, buckets, warmup + steps, &rng);
		if (plan == NULL)
			return 1;
	}
	if (plan && plan_file)
	{
		FILE	   *f = fopen(plan_file, "w");

		for (int s = 0; f && s < warmup + steps; s++)
			for (int b = 0; b < batch; b++)
				fprintf(f, "%d%c", plan[s * batch + b], b + 1 < batch ? ' ' : '\n');
		if (f == NULL || fclose(f) != 0)
		{
			fprintf(stderr, "could not write %s\n", plan_file);
			return 1;
		}
	}
	in.batch = batch;
	in.seq_len = tokens;
	in.num_boxes = boxes;
	in.input_ids = ids;
	in.attended = attended;
	in.token_type_ids = NULL;
	in.visual_feats = feats;
	in.visual_pos = pos;

	/* as the trainer does: one arena, for the longest batch */
	if (vqa_model_reserve(model, batch, tokens, boxes) != 0)
		return 1;
	for (int step = 0; step < warmup + steps; step++)
	{
		if (plan)
		{
			const int  *len = plan + (size_t) step * batch;
			int			T = 1;

			for (int b = 0; b < batch; b++)
				T = len[b] > T ? len[b] : T;
			if (strcmp(padding, "fixed") == 0)
				T = tokens;
			/* the same random ids, cut to this step's length; padding masked */
			for (int b = 0; b < batch; b++)
				for (int t = 0; t < T; t++)
					attended[b * T + t] = t < len[b];
			in.seq_len = T;
			if (step >= warmup)
			{
				for (int b = 0; b < batch; b++)
					question_tokens += len[b];
				batch_tokens += T;
			}
		}
		if (step == warmup)
			t0 = bench_now();
		if (step >= warmup)
			flops += vqa_model_train_flops(&config, batch, in.seq_len, boxes);
		if (vqa_model_zero_grad(model) != 0 || vqa_model_forward(model, &in, logits, targets, &loss) != 0)
		{
			fprintf(stderr, "forward failed\n");
			return 1;
		}
		vqa_bce_grad(logits, targets, batch, config.num_qa_labels, dlogits);
		if (vqa_model_backward(model, dlogits, NULL) != 0)
		{
			fprintf(stderr, "backward failed\n");
			return 1;
		}
		vqa_adam_step(adam, model->params, model->grads, &adam_config, step + 1);
	}
	step_s = (bench_now() - t0) / steps;
	if (plan)
		printf("vqaprune shape=%s batch=%d threads=%d lengths=%s buckets=%d padding=%s "
			   "mean_length=%.2f mean_T=%.2f samples_per_s=%.2f step_ms=%.1f peak_rss_mb=%.0f "
			   "gflops=%.2f loss=%.4f\n",
			   shape, batch, threads, lengths, buckets, padding,
			   question_tokens / steps / batch, batch_tokens / steps, batch / step_s,
			   step_s * 1e3, peak_rss_mb(), flops / steps / step_s / 1e9, loss);
	else
		printf("vqaprune shape=%s batch=%d threads=%d samples_per_s=%.2f step_ms=%.1f "
			   "peak_rss_mb=%.0f gflops=%.2f flops_per_step=%.0f loss=%.4f\n",
			   shape, batch, threads, batch / step_s, step_s * 1e3, peak_rss_mb(),
			   flops / steps / step_s / 1e9, flops / steps, loss);
	free(plan);
	free(ids);
	free(attended);
	free(feats);
	free(pos);
	free(targets);
	free(logits);
	free(dlogits);
	vqa_adam_free(adam);
	vqa_model_free(model);
	return 0;
}
