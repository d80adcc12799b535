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
 * Usage: bench_lxmert --shape base|tiny [--batch N] [--threads T]
 *                     [--steps S] [--warmup W]
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
#include "vqaprune/parallel.h"
#include "vqaprune/rng.h"

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
	}
	openblas_set_num_threads(threads);
	vqa_parallel_set_threads(threads);
	if (sgemm > 0)
		return bench_sgemm(sgemm, threads);

	bench_shape(shape, &config, &tokens, &boxes);
	/* base steps take seconds, tiny ones milliseconds */
	default_steps = strcmp(shape, "base") == 0 ? 3 : 20;
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
	in.batch = batch;
	in.seq_len = tokens;
	in.num_boxes = boxes;
	in.input_ids = ids;
	in.attended = attended;
	in.token_type_ids = NULL;
	in.visual_feats = feats;
	in.visual_pos = pos;

	for (int step = 0; step < warmup + steps; step++)
	{
		if (step == warmup)
			t0 = bench_now();
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
	printf("vqaprune shape=%s batch=%d threads=%d samples_per_s=%.2f step_ms=%.1f "
		   "peak_rss_mb=%.0f gflops=%.2f flops_per_step=%.0f loss=%.4f\n",
		   shape, batch, threads, batch / step_s, step_s * 1e3, peak_rss_mb(),
		   vqa_model_train_flops(&config, batch, tokens, boxes) / step_s / 1e9,
		   vqa_model_train_flops(&config, batch, tokens, boxes), loss);
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
