/*
 * safetensors_fuzz.c: libFuzzer harness for the safetensors reader.
 *
 * Every input goes to vqa_st_parse. A refused input must come with a
 * message. An accepted one must keep its promises: each tensor lies inside
 * the input, is found by its name, and converts to float32 without touching
 * memory it should not (AddressSanitizer watches). Then every tensor is
 * written back with the writer and the file parsed again, and the floats
 * must come back bit for bit: a differential check of writer and reader.
 * Any broken promise aborts, which libFuzzer reports as a crash.
 *
 * Built and run by test/fuzz/run-fuzz.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/safetensors.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok, const char *what)
{
	if (!ok)
	{
		fprintf(stderr, "safetensors_fuzz: %s\n", what);
		abort();
	}
}

/* Writes every tensor as F32, parses the result, compares the floats. */
static void
check_round_trip(const VqaSafetensors *st, float **values)
{
	VqaStWriter *w = vqa_st_writer_new();
	VqaSafetensors *again;
	unsigned char *image;
	size_t		len;
	char		errbuf[512];
	int			i;

	check(w != NULL, "writer_new failed");
	for (i = 0; i < vqa_st_count(st); i++)
	{
		const VqaStTensor *t = vqa_st_tensor(st, i);

		check(vqa_st_writer_add_f32(w, t->name, t->ndim, t->shape, values[i]) == 0,
			  "the writer refused a tensor the reader accepted");
	}
	if (vqa_st_metadata(st, "format") != NULL)
		check(vqa_st_writer_set_metadata(w, "format", vqa_st_metadata(st, "format")) == 0,
			  "the writer refused metadata the reader accepted");
	image = vqa_st_writer_serialize(w, &len);
	check(image != NULL, "serialize failed");
	again = vqa_st_parse(image, len, errbuf, sizeof(errbuf));
	check(again != NULL, "the reader refused the writer's file");
	check(vqa_st_count(again) == vqa_st_count(st), "tensor count changed");
	for (i = 0; i < vqa_st_count(st); i++)
	{
		const VqaStTensor *t = vqa_st_tensor(st, i);
		const VqaStTensor *u = vqa_st_find(again, t->name);

		check(u != NULL && u->numel == t->numel && u->ndim == t->ndim,
			  "a tensor changed through the writer");
		check(memcmp(vqa_st_data(again, u), values[i], (size_t) t->numel * sizeof(float)) == 0,
			  "floats changed through the writer");
	}
	vqa_st_free(again);
	free(image);
	vqa_st_writer_free(w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		errbuf[512];
	VqaSafetensors *st;
	float	  **values;
	int			count;
	int			i;

	errbuf[0] = '\0';
	st = vqa_st_parse(data, size, errbuf, sizeof(errbuf));
	if (st == NULL)
	{
		check(errbuf[0] != '\0', "refused without a message");
		return 0;
	}

	count = vqa_st_count(st);
	values = calloc((size_t) count + 1, sizeof(float *));
	check(values != NULL, "out of memory");
	for (i = 0; i < count; i++)
	{
		const VqaStTensor *t = vqa_st_tensor(st, i);
		const unsigned char *bytes = vqa_st_data(st, t);

		check(t->begin <= t->end, "begin after end");
		check(bytes >= data && bytes + (t->end - t->begin) <= data + size,
			  "tensor outside the input");
		check(t->end - t->begin == (size_t) t->numel * vqa_st_dtype_size(t->dtype),
			  "size does not match shape");
		check(vqa_st_find(st, t->name) == t, "find does not return the tensor");
		values[i] = malloc((size_t) t->numel * sizeof(float) + 1);
		check(values[i] != NULL, "out of memory");
		vqa_st_read_f32(st, t, values[i]);
	}
	(void) vqa_st_metadata(st, "format");

	check_round_trip(st, values);

	for (i = 0; i < count; i++)
		free(values[i]);
	free(values);
	vqa_st_free(st);
	return 0;
}
