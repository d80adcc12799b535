/*
 * bench_shapes.h: what the LXMERT benchmarks share: a monotonic clock and
 * the two model shapes they time (LXMERT base, and the demo's tiny model).
 */
#ifndef VQAPRUNE_BENCH_SHAPES_H
#define VQAPRUNE_BENCH_SHAPES_H

#include <string.h>
#include <time.h>

#include "vqaprune/lxmert.h"

/* OpenBLAS's thread control, declared by its cblas.h */
extern void openblas_set_num_threads(int num_threads);

static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * base: hidden 768, 12 heads, 3072, L 9 / R 5 / X 5, 20 tokens, 36 boxes x
 * 2048, 3129 answers; tiny: the demo's model, 20 tokens, 10 boxes x 64.
 * Dropout off.
 */
static inline void
bench_shape(const char *shape, VqaModelConfig *c, int *tokens, int *boxes)
{
	vqa_model_config_default(c);
	c->hidden_dropout_prob = 0.0f;
	c->attention_probs_dropout_prob = 0.0f;
	*tokens = 20;
	if (strcmp(shape, "base") == 0)
	{
		c->num_qa_labels = 3129;
		*boxes = 36;
		return;
	}
	c->vocab_size = 200;
	c->hidden_size = 64;
	c->num_attention_heads = 4;
	c->intermediate_size = 128;
	c->l_layers = 2;
	c->r_layers = 1;
	c->x_layers = 2;
	c->visual_feat_dim = 64;
	c->num_qa_labels = 30;
	c->max_position_embeddings = 32;
	*boxes = 10;
}

#endif
