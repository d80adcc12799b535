/*
 * rng.h: a small seeded pseudo-random number generator for the core.
 *
 * xoshiro256** (Blackman and Vigna) with its state filled by splitmix64, so
 * any 64-bit seed, including 0, gives a good state. Everything the project
 * draws at random (synthetic data, weight init, dropout, shuffling) goes
 * through here, so a seed reproduces a run bit for bit on every platform:
 * the integer sequence is pure integer arithmetic, vqa_rng_uniform and
 * vqa_rng_below use no floating-point library, and only vqa_rng_normal calls
 * libm (log, sqrt), whose values may differ in the last bit between C
 * libraries but whose number of draws does not.
 */
#ifndef VQAPRUNE_RNG_H
#define VQAPRUNE_RNG_H

#include <stdint.h>

typedef struct VqaRng
{
	uint64_t	s[4];
	double		spare_normal;	/* second value of the last polar draw */
	int			has_spare;
} VqaRng;

/* Seeds the generator; every seed is valid. */
void		vqa_rng_seed(VqaRng *rng, uint64_t seed);

/*
 * Seeds an independent stream of a seed: (seed, 1), (seed, 2), ... give
 * unrelated sequences, e.g. one per image or per epoch.
 */
void		vqa_rng_seed_stream(VqaRng *rng, uint64_t seed, uint64_t stream);

/* Next 64 random bits. */
uint64_t	vqa_rng_next(VqaRng *rng);

/* Uniform double in [0, 1), with 53 random bits. */
double		vqa_rng_uniform(VqaRng *rng);

/* Uniform integer in [0, n), without modulo bias; 0 if n is 0. */
uint64_t	vqa_rng_below(VqaRng *rng, uint64_t n);

/* Index in [0, n) drawn with probability weights[i] / sum(weights). */
int			vqa_rng_weighted(VqaRng *rng, const int *weights, int n);

/* Standard normal draw (Marsaglia's polar method). */
double		vqa_rng_normal(VqaRng *rng);

/* Shuffles items[0..n) in place (Fisher-Yates). */
void		vqa_rng_shuffle_int(VqaRng *rng, int *items, int n);

#endif
