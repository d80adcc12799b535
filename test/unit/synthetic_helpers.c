/*
 * synthetic_helpers.c: building the embedded benchmark's generator in the
 * unit tests (synthetic_helpers.h).
 */
#include "synthetic_helpers.h"

#include "unit.h"

VqaSyntheticConfig
unit_synthetic_config(int images, uint64_t seed, int boxes, int feature_dim, int questions,
					  VqaSyntheticBenchmark benchmark)
{
	VqaSyntheticConfig config;

	config.images = images;
	config.seed = seed;
	config.boxes = boxes;
	config.feature_dim = feature_dim;
	config.questions_per_image = questions;
	config.benchmark = benchmark;
	return config;
}

VqaSynthetic *
unit_synthetic_new(VqaSyntheticConfig config)
{
	char		errbuf[256] = "";
	VqaSynthetic *gen = vqa_synthetic_new(&config, errbuf, sizeof(errbuf));

	if (gen == NULL)
		fail_msg("vqa_synthetic_new: %s", errbuf);
	return gen;
}
