/*
 * synthetic_helpers.h: the embedded benchmark's generator as the unit tests
 * of both its modes (test_synthetic.c, test_synthetic_vqavs.c) build it.
 */
#ifndef VQAPRUNE_UNIT_SYNTHETIC_HELPERS_H
#define VQAPRUNE_UNIT_SYNTHETIC_HELPERS_H

#include <stdint.h>

#include "vqaprune/synthetic.h"

/* images scenes of boxes regions with feature_dim features, questions per image, of benchmark. */
VqaSyntheticConfig unit_synthetic_config(int images, uint64_t seed, int boxes, int feature_dim,
										 int questions, VqaSyntheticBenchmark benchmark);

/* The generator of config; the test fails with the generator's message if it refuses it. */
VqaSynthetic *unit_synthetic_new(VqaSyntheticConfig config);

#endif
