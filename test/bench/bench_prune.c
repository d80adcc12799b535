/*
 * bench_prune.c: the costs of Stage 2, side by side in one run.
 *
 *   --train: a mask-training step against a fine-tuning step of the same
 *     model on the same batches (both through the core's trainer, LMH loss,
 *     dropout on): ms per step and the ratio.
 *   --eval: evaluation (forward, training off) of a model pruned to a
 *     sparsity by magnitude, dense against the sparse kernels of a compacted
 *     model (the matrices sparse enough for them by the measured crossover,
 *     as vqa_compact's models are evaluated): ms per batch (the best of
 *     alternated passes of each), the speed-up, the matrices chosen, and the
 *     largest logit difference.
 *   --forward: evaluation of the dense model, the training forward pass
 *     (activations kept for backward) against the forward pass alone
 *     (forward_only: buffers reused layer by layer): ms per batch, the
 *     activation arena of each, and the largest logit difference.
 *   --kernel: the sparse linear layer alone against the dense product
 *     (the core's sgemm plus the bias) on the base shape's matrices (768 x 768,
 *     3072 x 768, 768 x 3072) at 640 input rows (32 questions of 20 tokens),
 *     at the sparsity: ms of each, the speed-up, GFLOP/s of useful work;
 *     Stage 3's backward products (input and weight gradients) dense against
 *     sparse (backward_*); and the crossover kept fraction the core measures
 *     (sparse.h).
 *   --stage3: a Stage 3 step (fine-tuning a model pruned by magnitude to the
 *     sparsity, Adam) with dense masked products against the same step in
 *     sparse form (every pruned matrix sparse: sparse forward, input and
 *     weight gradients, moments for kept weights only), on the same model and
 *     batches; each in a child process, so that its peak resident memory is
 *     its own: ms per step, the speed-up, peak MB of each.
 *   --scaling: every step kind at one thread and at --threads (2 if not
 *     given), same model and batches: fine-tuning, mask training (0.7),
 *     Stage 3 dense masked and sparse, evaluation dense and compacted (the
 *     last three at the sparsity): ms of each and the scaling.
 *   --storage: the bytes vqa_compact stores for the shape at a sparsity
 *     against dense float32, by the same layout: the kept values packed in
 *     chunks of a million (float_pack.h), one mask bit per prunable weight,
 *     dense tensors outside theta_pr. Random normal weights: trained ones
 *     pack about as well (the high bytes, sign and exponent, do).
 *
 * Usage: bench_prune --shape base|tiny --train|--eval|--forward|--kernel|--stage3|--scaling|--storage
 *                    [--sparsity S] [--batch N] [--threads T] [--steps K]
 *
 * Every line names the sparse kernels' instruction set (isa=) and OpenBLAS's
 * kernels (blas=). VQAPRUNE_SPARSE_ISA=avx2 or baseline and OpenBLAS's
 * OPENBLAS_CORETYPE=Haswell or Prescott run both on a lesser path, as on a
 * CPU without AVX-512 or AVX2.
 */
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/examples.h"
#include "vqaprune/float_pack.h"
#include "vqaprune/lxmert.h"
#include "vqaprune/gemm.h"
#include "vqaprune/parallel.h"
#include "vqaprune/prune.h"
#include "vqaprune/rng.h"
#include "vqaprune/sparse.h"
#include "vqaprune/train.h"

#include "bench_shapes.h"

static VqaModel *
new_model(const VqaModelConfig *config)
{
	char		err[256];
	VqaModel *model = vqa_model_new(config, err, sizeof(err));

	if (model == NULL)
	{
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	vqa_model_init_random(model, 1, 0.02f);
	return model;
}

/* n random questions over n / 4 images, one answer each, a uniform prior. */
static VqaExamples *
random_examples(const VqaModelConfig *c, int n, int tokens, int boxes)
{
	int			images = n / 4 > 0 ? n / 4 : 1;
	VqaExamples *ex = vqa_examples_new(n, tokens, images, boxes, c->visual_feat_dim,
									   c->num_qa_labels, 1, (size_t) n, 0);
	VqaRng		rng;

	vqa_rng_seed(&rng, 3);
	for (int q = 0; q < n; q++)
	{
		ex->question_ids[q] = q;
		ex->image_of[q] = q % images;
		for (int t = 0; t < tokens; t++)
		{
			ex->input_ids[q * tokens + t] = (int32_t) vqa_rng_below(&rng, c->vocab_size);
			ex->attended[q * tokens + t] = 1;
		}
		ex->target_start[q] = q;
		ex->target_ids[q] = (int32_t) vqa_rng_below(&rng, c->num_qa_labels);
		ex->target_scores[q] = 1.0f;
	}
	ex->target_start[n] = n;
	for (size_t i = 0; i < (size_t) images * boxes * c->visual_feat_dim; i++)
		ex->features[i] = (float) vqa_rng_normal(&rng);
	for (size_t i = 0; i < (size_t) images * boxes * 4; i++)
		ex->boxes[i] = (float) vqa_rng_uniform(&rng);
	for (int a = 0; a < c->num_qa_labels; a++)
		ex->priors[a] = 1.0f / c->num_qa_labels;
	return ex;
}

/* ms per training step, after one untimed step; masker NULL: fine-tuning */
/* ms per training step over steps steps after one warm-up step; -1 if a step fails */
static double
timed_steps(VqaTrainer *trainer, int steps)
{
	double		t0 = 0.0;

	for (int s = 0; s <= steps; s++)
	{
		double		loss,
					score;
		int			count;

		if (s == 1)
			t0 = bench_now();
		if (vqa_trainer_step(trainer, &loss, &score, &count) != 1)
			return -1.0;
	}
	return (bench_now() - t0) / steps * 1e3;
}

static double
train_step_ms(const VqaModelConfig *config, const VqaExamples *ex, int batch, int steps,
			  double sparsity)
{
	VqaModel *model = new_model(config);
	VqaTrainConfig tc = {0};
	VqaTrainer *trainer;
	char		err[256];
	double		t0;

	tc.epochs = 1000;
	tc.batch_size = batch;
	tc.lr = 5e-5f;
	tc.adamw = 1;
	tc.max_grad_norm = 1.0f;
	tc.loss = VQA_LOSS_LMH;
	vqa_loss_default_options(&tc.loss_options);
	if (sparsity >= 0)
	{
		size_t		counts[4];
		double		none[3] = {NAN, NAN, NAN};
		VqaSparsityPlan plan;

		vqa_prunable_counts(model, counts);
		vqa_plan_sparsity(counts, sparsity, none, &plan, err, sizeof(err));
		tc.masker = vqa_masker_new(model, &plan, 0.01f);
		if (tc.masker == NULL || vqa_masker_init_magnitude(tc.masker, 0.02f) != 0)
			exit(1);
		tc.reset_steps = 100;
	}
	trainer = vqa_trainer_new(model, ex, &tc, err, sizeof(err));
	if (trainer == NULL)
	{
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	t0 = timed_steps(trainer, steps);
	if (t0 < 0)
		exit(1);
	vqa_trainer_free(trainer);
	vqa_masker_free(tc.masker);
	vqa_model_free(model);
	return t0;
}

/* OpenBLAS's kernel family, declared by its cblas.h */
extern char *openblas_get_corename(void);

/* best ms over reps of the dense product plus bias, and of the sparse one */
static void
kernel_bench(int rows, int cols, int M, double sparsity, int threads)
{
	float	   *w = malloc(sizeof(float) * rows * cols);
	float	   *mask = malloc(sizeof(float) * rows * cols);
	float	   *b = malloc(sizeof(float) * rows);
	float	   *inp = malloc(sizeof(float) * M * cols);
	float	   *out = malloc(sizeof(float) * M * rows);
	float	   *dinp = calloc((size_t) M * cols, sizeof(float));
	float	   *dw = calloc((size_t) rows * cols, sizeof(float));
	double		dense = 1e30,
				sparse = 1e30,
				dense_back = 1e30,
				sparse_back = 1e30;
	VqaCsr	   *csr;
	VqaRng		rng;

	vqa_rng_seed(&rng, 9);
	for (int i = 0; i < rows * cols; i++)
	{
		w[i] = (float) vqa_rng_normal(&rng);
		mask[i] = vqa_rng_uniform(&rng) >= sparsity ? 1.0f : 0.0f;
	}
	for (int i = 0; i < rows; i++)
		b[i] = (float) vqa_rng_normal(&rng);
	for (int i = 0; i < M * cols; i++)
		inp[i] = (float) vqa_rng_normal(&rng);
	csr = vqa_csr_from_dense(w, mask, rows, cols);
	if (csr == NULL || vqa_csr_make_trainable(csr) != 0)
		exit(1);
	/*
	 * Alternating, best of 15 (the machine is shared): the forward product,
	 * then Stage 3's backward ones, the input and weight gradients, with the
	 * forward output as the output gradient.
	 */
	for (int rep = 0; rep < 15; rep++)
	{
		double		t0 = bench_now();

		vqa_sgemm(false, true, M, rows, cols, 1.0f, inp, cols, w, cols, 0.0f, out, rows, b);
		dense = fmin(dense, bench_now() - t0);
		t0 = bench_now();
		if (vqa_csr_linear(csr, inp, b, out, M) != 0)
			exit(1);
		sparse = fmin(sparse, bench_now() - t0);
		t0 = bench_now();
		vqa_sgemm(false, false, M, cols, rows, 1.0f, out, rows, w, cols, 1.0f, dinp, cols, NULL);
		vqa_sgemm(true, false, rows, cols, M, 1.0f, out, rows, inp, cols, 1.0f, dw, cols, NULL);
		dense_back = fmin(dense_back, bench_now() - t0);
		t0 = bench_now();
		if (vqa_csr_backward(csr, dinp, out, inp, M) != 0)
			exit(1);
		sparse_back = fmin(sparse_back, bench_now() - t0);
	}
	printf("vqaprune kernel isa=%s blas=%s rows=%d cols=%d M=%d sparsity=%.2f threads=%d "
		   "dense_ms=%.3f sparse_ms=%.3f speedup=%.2f dense_gflops=%.1f sparse_gflops=%.1f "
		   "backward_dense_ms=%.3f backward_sparse_ms=%.3f backward_speedup=%.2f\n",
		   vqa_sparse_isa(), openblas_get_corename(), rows, cols, M, sparsity, threads,
		   dense * 1e3, sparse * 1e3, dense / sparse, 2.0 * M * rows * cols / dense / 1e9,
		   2.0 * M * csr->nnz / sparse / 1e9, dense_back * 1e3, sparse_back * 1e3,
		   dense_back / sparse_back);
	vqa_csr_free(csr);
	free(dinp);
	free(dw);
	free(w);
	free(mask);
	free(b);
	free(inp);
	free(out);
}

/* a random model pruned by magnitude to the sparsity, its mask set */
static VqaModel *
pruned_model(const VqaModelConfig *config, double sparsity)
{
	VqaModel *model = new_model(config);
	size_t		counts[4];
	double		none[3] = {NAN, NAN, NAN};
	VqaSparsityPlan plan;
	char		err[256];
	float	   *mask = malloc(sizeof(float) * model->n_params);

	vqa_prunable_counts(model, counts);
	vqa_plan_sparsity(counts, sparsity, none, &plan, err, sizeof(err));
	if (mask == NULL || vqa_magnitude_mask(model, &plan, mask) != 0 ||
		vqa_model_set_mask(model, mask) != 0)
		exit(1);
	free(mask);
	return model;
}

/*
 * ms per Stage 3 step (after one untimed step) of a model pruned by
 * magnitude, dense masked or sparse, and the peak resident MB: run in a
 * child process.
 */
static void
stage3_child(const VqaModelConfig *config, const VqaExamples *ex, int batch, int steps,
			 double sparsity, int sparse, double *ms, double *peak_mb)
{
	int			fds[2];
	pid_t		pid;
	double		result[2] = {0, 0};

	if (pipe(fds) != 0 || (pid = fork()) < 0)
		exit(1);
	if (pid == 0)
	{
		VqaModel *model = pruned_model(config, sparsity);
		VqaTrainConfig tc = {0};
		VqaTrainer *trainer;
		char		err[256];
		struct rusage ru;

		tc.epochs = 1000;
		tc.batch_size = batch;
		tc.lr = 5e-5f;
		tc.adamw = 1;
		tc.max_grad_norm = 1.0f;
		tc.loss = VQA_LOSS_LMH;
		vqa_loss_default_options(&tc.loss_options);
		tc.sparse_density = sparse ? 1.0 : 0.0;
		trainer = vqa_trainer_new(model, ex, &tc, err, sizeof(err));
		if (trainer == NULL)
			_exit(1);
		result[0] = timed_steps(trainer, steps);
		if (result[0] < 0)
			_exit(1);
		getrusage(RUSAGE_SELF, &ru);
		result[1] = ru.ru_maxrss / 1024.0;
		if (write(fds[1], result, sizeof(result)) != sizeof(result))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], result, sizeof(result)) != sizeof(result))
	{
		fprintf(stderr, "the Stage 3 step failed\n");
		exit(1);
	}
	close(fds[0]);
	waitpid(pid, NULL, 0);
	*ms = result[0];
	*peak_mb = result[1];
}

/* a batch of random questions of full length and random image features */
static VqaBatch
random_batch(const VqaModelConfig *config, int batch, int tokens, int boxes)
{
	int32_t    *ids = malloc(sizeof(int32_t) * batch * tokens);
	int32_t    *att = malloc(sizeof(int32_t) * batch * tokens);
	float	   *feats = malloc(sizeof(float) * batch * boxes * config->visual_feat_dim);
	float	   *pos = malloc(sizeof(float) * batch * boxes * 4);
	VqaBatch	in = {batch, tokens, boxes, ids, att, NULL, feats, pos};
	VqaRng		rng;

	if (ids == NULL || att == NULL || feats == NULL || pos == NULL)
		exit(1);
	vqa_rng_seed(&rng, 4);
	for (int i = 0; i < batch * tokens; i++)
	{
		ids[i] = (int32_t) vqa_rng_below(&rng, config->vocab_size);
		att[i] = 1;
	}
	for (int i = 0; i < batch * boxes * config->visual_feat_dim; i++)
		feats[i] = (float) vqa_rng_normal(&rng);
	for (int i = 0; i < batch * boxes * 4; i++)
		pos[i] = (float) vqa_rng_uniform(&rng);
	return in;
}

static void
free_batch(VqaBatch *in)
{
	free((void *) in->input_ids);
	free((void *) in->attended);
	free((void *) in->visual_feats);
	free((void *) in->visual_pos);
}

/* best ms of a forward pass over reps */
static double
forward_ms(VqaModel *model, const VqaBatch *in, float *logits, int reps)
{
	double		best = 1e30;

	for (int r = 0; r <= reps; r++)
	{
		double		t0 = bench_now();

		if (vqa_model_forward(model, in, logits, NULL, NULL) != 0)
			exit(1);
		if (r > 0 && bench_now() - t0 < best)
			best = bench_now() - t0;
	}
	return best * 1e3;
}

/*
 * best ms of a forward pass of each model over reps, the two alternated so
 * that a machine's drift during the run falls on both alike
 */
static void
alternated_forward_ms(VqaModel *a, VqaModel *b, const VqaBatch *in, float *logits_a,
					  float *logits_b, int reps, double *ms_a, double *ms_b)
{
	*ms_a = *ms_b = 1e30;
	for (int r = 0; r <= reps; r++)
		for (int side = 0; side < 2; side++)
		{
			double		t0 = bench_now(),
						ms;

			if (vqa_model_forward(side ? b : a, in, side ? logits_b : logits_a, NULL, NULL) != 0)
				exit(1);
			ms = (bench_now() - t0) * 1e3;
			if (r > 0 && ms < (side ? *ms_b : *ms_a))
				*(side ? ms_b : ms_a) = ms;
		}
}

/* matrices in sparse form, and the prunable matrices that could be (not the word embeddings) */
static int
sparse_count(const VqaModel *model)
{
	int			n = 0;

	for (int i = 0; model->sparse && i < model->n_tensors; i++)
		n += model->sparse[i] != NULL;
	return n;
}

static int
prunable_matrices(const VqaModel *model)
{
	int			n = 0;

	for (int i = 0; i < model->n_tensors; i++)
		n += model->tensors[i].prunable && !strstr(model->tensors[i].name, "word_embeddings");
	return n;
}

static void
scaling_line(const char *shape, const char *step, double sparsity, int threads, double one_ms,
			 double many_ms)
{
	printf("vqaprune scaling isa=%s shape=%s step=%s sparsity=%.2f threads=%d one_thread_ms=%.1f "
		   "ms=%.1f scaling=%.2f\n", vqa_sparse_isa(), shape, step, sparsity, threads, one_ms,
		   many_ms, one_ms / many_ms);
}

/*
 * Every step kind at one thread and at `threads`, on the same model and
 * batches: fine-tuning, mask training (0.7), Stage 3 dense masked and
 * sparse, evaluation of the dense model and of its compacted form. The
 * Stage 3 children are forked first, before this process starts the pool.
 */
static void
thread_scaling(const char *shape, const VqaModelConfig *config, int batch, int steps,
			   int tokens, int boxes, double sparsity, int threads)
{
	VqaExamples *ex = random_examples(config, batch * (steps + 1), tokens, boxes);
	double		ms[2][2],
				peak_mb;
	VqaModel   *model;
	VqaBatch	in;
	float	   *logits;
	int			reps = strcmp(shape, "base") == 0 ? 3 : 20;

	for (int sparse = 0; sparse < 2; sparse++)
	{
		for (int t = 0; t < 2; t++)
		{
			vqa_compute_set_threads(t ? threads : 1);
			stage3_child(config, ex, batch, steps, sparsity, sparse, &ms[sparse][t], &peak_mb);
		}
		scaling_line(shape, sparse ? "stage3_sparse" : "stage3_dense_masked", sparsity, threads,
					 ms[sparse][0], ms[sparse][1]);
	}
	for (int mask = 0; mask < 2; mask++)
	{
		for (int t = 0; t < 2; t++)
		{
			vqa_compute_set_threads(t ? threads : 1);
			ms[mask][t] = train_step_ms(config, ex, batch, steps, mask ? 0.7 : -1.0);
		}
		scaling_line(shape, mask ? "mask_training" : "finetune", mask ? 0.7 : 0.0, threads,
					 ms[mask][0], ms[mask][1]);
	}
	model = pruned_model(config, sparsity);
	model->training = 0;
	model->forward_only = 1;
	in = random_batch(config, batch, tokens, boxes);
	logits = malloc(sizeof(float) * batch * config->num_qa_labels);
	for (int sparse = 0; sparse < 2; sparse++)
	{
		if (sparse && vqa_model_use_sparse(model, vqa_sparse_crossover_density()) != 0)
			exit(1);
		for (int t = 0; t < 2; t++)
		{
			vqa_compute_set_threads(t ? threads : 1);
			ms[sparse][t] = forward_ms(model, &in, logits, reps);
		}
		scaling_line(shape, sparse ? "eval_sparse" : "eval_dense", sparsity, threads,
					 ms[sparse][0], ms[sparse][1]);
	}
	free(logits);
	free_batch(&in);
	vqa_model_free(model);
	vqa_examples_free(ex);
}

int
main(int argc, char **argv)
{
	const char *shape = "tiny";
	const char *what = NULL;
	double		sparsity = -1.0;
	int			batch = -1,
				threads = 1,
				steps = -1,
				tokens,
				boxes;
	VqaModelConfig config;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--train") == 0 || strcmp(argv[i], "--eval") == 0 ||
			strcmp(argv[i], "--forward") == 0 || strcmp(argv[i], "--storage") == 0 ||
			strcmp(argv[i], "--kernel") == 0 || strcmp(argv[i], "--stage3") == 0 ||
			strcmp(argv[i], "--scaling") == 0)
			what = argv[i] + 2;
		else if (i + 1 < argc && strcmp(argv[i], "--shape") == 0)
			shape = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--sparsity") == 0)
			sparsity = atof(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--batch") == 0)
			batch = atoi(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
			threads = atoi(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--steps") == 0)
			steps = atoi(argv[++i]);
	}
	if (what == NULL)
	{
		fprintf(stderr, "usage: bench_prune --shape base|tiny --train|--eval|--forward|--kernel|--stage3|--scaling|--storage [options]\n");
		return 2;
	}
	vqa_compute_set_threads(threads);
	bench_shape(shape, &config, &tokens, &boxes);
	config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.1f;
	if (batch < 1)
		batch = strcmp(shape, "base") == 0 ? 32 : 64;
	if (steps < 1)
		steps = strcmp(shape, "base") == 0 ? 3 : 30;

	if (strcmp(what, "kernel") == 0)
	{
		int			H = config.hidden_size,
					inter = config.intermediate_size;

		sparsity = sparsity >= 0 ? sparsity : 0.9;
		kernel_bench(H, H, batch * tokens, sparsity, threads);
		kernel_bench(inter, H, batch * tokens, sparsity, threads);
		kernel_bench(H, inter, batch * tokens, sparsity, threads);
		printf("vqaprune crossover isa=%s blas=%s threads=%d kept_fraction=%.3f\n",
			   vqa_sparse_isa(), openblas_get_corename(), threads, vqa_sparse_crossover_density());
		return 0;
	}
	if (strcmp(what, "scaling") == 0)
	{
		thread_scaling(shape, &config, batch, steps, tokens, boxes,
					   sparsity >= 0 ? sparsity : 0.9, threads > 1 ? threads : 2);
		return 0;
	}
	if (strcmp(what, "stage3") == 0)
	{
		VqaExamples *ex = random_examples(&config, batch * (steps + 1), tokens, boxes);
		double		dense_ms,
					dense_mb,
					sparse_ms,
					sparse_mb;

		sparsity = sparsity >= 0 ? sparsity : 0.9;
		stage3_child(&config, ex, batch, steps, sparsity, 0, &dense_ms, &dense_mb);
		stage3_child(&config, ex, batch, steps, sparsity, 1, &sparse_ms, &sparse_mb);
		printf("vqaprune stage3 isa=%s blas=%s shape=%s sparsity=%.2f batch=%d threads=%d "
			   "dense_step_ms=%.1f sparse_step_ms=%.1f speedup=%.2f dense_peak_mb=%.0f "
			   "sparse_peak_mb=%.0f memory_ratio=%.3f\n", vqa_sparse_isa(), openblas_get_corename(),
			   shape, sparsity, batch, threads, dense_ms, sparse_ms, dense_ms / sparse_ms,
			   dense_mb, sparse_mb, sparse_mb / dense_mb);
		vqa_examples_free(ex);
		return 0;
	}
	if (strcmp(what, "train") == 0)
	{
		VqaExamples *ex = random_examples(&config, batch * (steps + 1), tokens, boxes);
		double		finetune = train_step_ms(&config, ex, batch, steps, -1.0);
		double		mask = train_step_ms(&config, ex, batch, steps, sparsity >= 0 ? sparsity : 0.7);

		printf("vqaprune train shape=%s batch=%d threads=%d finetune_step_ms=%.1f "
			   "mask_step_ms=%.1f ratio=%.3f\n", shape, batch, threads, finetune, mask,
			   mask / finetune);
		vqa_examples_free(ex);
		return 0;
	}

	{
		VqaModel   *model;
		const float *mask;
		size_t		prunable = 0;

		sparsity = sparsity >= 0 ? sparsity : (strcmp(what, "eval") == 0 ? 0.9 : 0.7);
		model = strcmp(what, "forward") == 0 ? new_model(&config) : pruned_model(&config, sparsity);
		mask = model->mask;
		for (int i = 0; i < model->n_tensors; i++)
			if (model->tensors[i].prunable)
				prunable += model->tensors[i].numel;
		if (strcmp(what, "storage") == 0)
		{
			const size_t chunk = 1024 * 1024;
			double		dense = 4.0 * model->n_params;
			double		stored = 4.0 * (model->n_params - prunable) + prunable / 8.0;
			float	   *values = malloc(sizeof(float) * chunk);
			uint8_t    *packed = malloc(vqa_float_pack_bound(chunk));
			uint8_t    *work = malloc(4 * chunk);
			size_t		n = 0;

			/* the kept values in storage order, packed a chunk at a time per tensor */
			for (int i = 0; i < model->n_tensors; i++)
			{
				const VqaTensor *t = &model->tensors[i];

				if (!t->prunable)
					continue;
				for (size_t j = 0; j < t->numel; j++)
				{
					if (mask[t->offset + j] != 0.0f)
						values[n++] = model->params[t->offset + j];
					if (n == chunk)
					{
						stored += vqa_float_pack(values, n, packed, work);
						n = 0;
					}
				}
				stored += vqa_float_pack(values, n, packed, work);
				n = 0;
			}
			free(values);
			free(packed);
			free(work);

			printf("vqaprune storage shape=%s sparsity=%.2f dense_mb=%.1f compact_mb=%.1f ratio=%.3f\n",
				   shape, sparsity, dense / 1e6, stored / 1e6, stored / dense);
		}
		else
		{
			float	   *dense = malloc(sizeof(float) * batch * config.num_qa_labels);
			float	   *sparse = malloc(sizeof(float) * batch * config.num_qa_labels);
			VqaBatch	in = random_batch(&config, batch, tokens, boxes);
			double		dense_ms,
						sparse_ms,
						diff = 0.0;
			int			reps = strcmp(shape, "base") == 0 ? 5 : 20;

			model->training = 0;
			if (strcmp(what, "forward") == 0)
			{
				VqaModel *alone = new_model(&config);
				double		alone_ms;

				dense_ms = forward_ms(model, &in, dense, reps);
				memcpy(alone->params, model->params, sizeof(float) * model->n_params);
				alone->forward_only = 1;
				alone_ms = forward_ms(alone, &in, sparse, reps);
				for (int i = 0; i < batch * config.num_qa_labels; i++)
					diff = fmax(diff, fabs(dense[i] - sparse[i]));
				printf("vqaprune forward shape=%s batch=%d threads=%d training_forward_ms=%.1f "
					   "forward_only_ms=%.1f speedup=%.2f training_acts_mb=%.1f "
					   "forward_only_acts_mb=%.1f memory_ratio=%.3f max_logit_diff=%.2g\n",
					   shape, batch, threads, dense_ms, alone_ms, dense_ms / alone_ms,
					   vqa_model_activation_bytes(model) / 1e6, vqa_model_activation_bytes(alone) / 1e6,
					   (double) vqa_model_activation_bytes(alone) / vqa_model_activation_bytes(model), diff);
				vqa_model_free(alone);
				free_batch(&in);
				vqa_model_free(model);
				return 0;
			}
			{
				/* the same pruned model, compacted; both evaluated as vqa_evaluate does */
				VqaModel   *compacted = pruned_model(&config, sparsity);

				model->forward_only = 1;
				compacted->training = 0;
				compacted->forward_only = 1;
				if (vqa_model_use_sparse(compacted, vqa_sparse_crossover_density()) != 0)
					return 1;
				alternated_forward_ms(model, compacted, &in, dense, sparse, reps, &dense_ms, &sparse_ms);
				vqa_model_free(model);
				model = compacted;
			}
			for (int i = 0; i < batch * config.num_qa_labels; i++)
				diff = fmax(diff, fabs(dense[i] - sparse[i]));
			printf("vqaprune eval isa=%s blas=%s shape=%s sparsity=%.2f batch=%d threads=%d "
				   "crossover=%.3f sparse_matrices=%d/%d dense_ms=%.1f sparse_ms=%.1f speedup=%.2f "
				   "max_logit_diff=%.2g\n", vqa_sparse_isa(), openblas_get_corename(), shape,
				   sparsity, batch, threads, vqa_sparse_crossover_density(), sparse_count(model),
				   prunable_matrices(model), dense_ms, sparse_ms, dense_ms / sparse_ms, diff);
			free_batch(&in);
		}
		vqa_model_free(model);
	}
	return 0;
}
