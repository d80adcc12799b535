/*
 * features_tsv_fuzz.c: libFuzzer harness for the region feature TSV reader
 * and its base64 decoder.
 *
 * The whole input is a TSV file, read to the end or to the first error. A
 * refused file must say why. Every image returned must keep the reader's
 * promises: positive sizes, one feature dimension for the whole file, and
 * box and feature arrays of exactly num_boxes x 4 and num_boxes x
 * feature_dim floats (every float is read, so AddressSanitizer catches a
 * short array). The input is also decoded as one base64 field, which must
 * either be refused or decode to at most 3/4 of its length.
 *
 * Built and run by test/fuzz/run-fuzz.sh.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/features_tsv.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok, const char *what)
{
	if (!ok)
	{
		fprintf(stderr, "features_tsv_fuzz: %s\n", what);
		abort();
	}
}

static void
check_base64(const uint8_t *data, size_t size)
{
	unsigned char *out = malloc(3 * (size / 4) + 1);
	long		n;

	check(out != NULL, "out of memory");
	n = vqa_base64_decode((const char *) data, size, out);
	check(n >= -1 && n <= (long) (3 * (size / 4)), "base64 wrote past its bound");
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		errbuf[512] = "";
	VqaTsvReader *reader;
	VqaImageFeatures image;
	int			feature_dim = 0;
	double		sum = 0.0;
	int			rc;

	check_base64(data, size);
	reader = vqa_tsv_open_buffer((const char *) data, size, errbuf, sizeof(errbuf));
	if (reader == NULL)
	{
		check(errbuf[0] != '\0', "refused without a message");
		return 0;
	}
	while ((rc = vqa_tsv_next(reader, &image)) == 1)
	{
		check(image.num_boxes > 0 && image.feature_dim > 0, "an image with no boxes or features");
		check(image.image_w > 0 && image.image_h > 0, "an image without a size");
		if (feature_dim == 0)
			feature_dim = image.feature_dim;
		check(image.feature_dim == feature_dim, "feature dimension changed within a file");
		for (size_t i = 0; i < (size_t) image.num_boxes * 4; i++)
			sum += image.boxes[i];
		for (size_t i = 0; i < (size_t) image.num_boxes * image.feature_dim; i++)
			sum += image.features[i];
		check(vqa_tsv_bytes(reader) <= size, "consumed more bytes than there are");
	}
	if (rc < 0)
		check(vqa_tsv_error(reader) != NULL && vqa_tsv_error(reader)[0] != '\0',
			  "an error without a message");
	vqa_tsv_close(reader);
	return isnan(sum) && sum == 0.0;	/* keeps the reads */
}
