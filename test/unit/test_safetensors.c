/*
 * test_safetensors.c: the safetensors reader and writer.
 *
 * Against the reference fixtures in hf-lxmert/tiny, written by
 * HuggingFace/PyTorch: all four safetensors files parse, model.safetensors has exactly
 * the tensors and shapes of shapes.txt, the I64 input_ids read back as the
 * token ids, and writing every tensor of the model back out gives the same
 * bytes. Then crafted buffers for each validation error, F16 and BF16
 * widening checked exhaustively against ldexp, integer conversion, metadata,
 * and the writer's own errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "vqaprune/safetensors.h"

#define ERRLEN 512

/* ---------------------------------------------------------------- helpers */

static void
fixture_path(char *path, size_t size, const char *file)
{
	snprintf(path, size, "%s/hf-lxmert/tiny/%s", unit_fixtures_dir(), file);
}

static VqaSafetensors *
open_fixture(const char *file)
{
	char		path[1024];
	char		errbuf[ERRLEN];
	VqaSafetensors *st;

	fixture_path(path, sizeof(path), file);
	st = vqa_st_open(path, errbuf, sizeof(errbuf));
	if (st == NULL)
		print_error("%s\n", errbuf);
	assert_non_null(st);
	return st;
}

/* A file image: the length, the header as given, then data (zeros if NULL). */
static unsigned char *
make_file(const char *header, size_t header_len, const void *data,
		  size_t data_len, size_t *len)
{
	unsigned char *buf = calloc(1, 8 + header_len + data_len + 1);
	int			i;

	assert_non_null(buf);
	for (i = 0; i < 8; i++)
		buf[i] = (unsigned char) ((uint64_t) header_len >> (8 * i));
	memcpy(buf + 8, header, header_len);
	if (data != NULL && data_len > 0)
		memcpy(buf + 8 + header_len, data, data_len);
	*len = 8 + header_len + data_len;
	return buf;
}

static VqaSafetensors *
parse_header(const char *header, size_t data_len, unsigned char **buf,
			 char *errbuf)
{
	size_t		len;

	*buf = make_file(header, strlen(header), NULL, data_len, &len);
	return vqa_st_parse(*buf, len, errbuf, ERRLEN);
}

/* The header must be refused with a message containing expected. */
static void
expect_error_n(const char *header, size_t header_len, size_t data_len,
			   const char *expected)
{
	char		errbuf[ERRLEN];
	size_t		len;
	unsigned char *buf = make_file(header, header_len, NULL, data_len, &len);
	VqaSafetensors *st = vqa_st_parse(buf, len, errbuf, sizeof(errbuf));

	if (st != NULL || strstr(errbuf, expected) == NULL)
		print_error("header %.*s\n  gave \"%s\", expected \"%s\"\n",
					(int) header_len, header, st ? "(accepted)" : errbuf, expected);
	assert_null(st);
	assert_non_null(strstr(errbuf, expected));
	free(buf);
}

static void
expect_error(const char *header, size_t data_len, const char *expected)
{
	expect_error_n(header, strlen(header), data_len, expected);
}

static uint32_t
float_bits(float f)
{
	uint32_t	bits;

	memcpy(&bits, &f, sizeof(bits));
	return bits;
}

/* ---------------------------------------------------------------- fixtures */

static void
fixtures_parse(void **state)
{
	static const struct
	{
		const char *file;
		int			count;
	}			files[] = {
		{"model.safetensors", 153},
		{"inputs.safetensors", 6},
		{"outputs.safetensors", 9},
		{"grads.safetensors", 137},
	};
	VqaSafetensors *st;
	const VqaStTensor *t;
	size_t		i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
	{
		int			k;
		size_t		previous_end = 0;

		st = open_fixture(files[i].file);
		assert_int_equal(vqa_st_count(st), files[i].count);
		/* file order: ascending offsets, and every tensor found by name */
		for (k = 0; k < vqa_st_count(st); k++)
		{
			t = vqa_st_tensor(st, k);
			assert_true(t->begin >= previous_end);
			previous_end = t->end;
			assert_ptr_equal(vqa_st_find(st, t->name), t);
		}
		assert_null(vqa_st_tensor(st, vqa_st_count(st)));
		assert_null(vqa_st_tensor(st, -1));
		assert_null(vqa_st_find(st, "no.such.tensor"));
		vqa_st_free(st);
	}

	st = open_fixture("model.safetensors");
	assert_string_equal(vqa_st_metadata(st, "format"), "pt");
	assert_null(vqa_st_metadata(st, "absent"));
	t = vqa_st_find(st, "answer_head.logit_fc.0.weight");
	assert_non_null(t);
	assert_int_equal(t->dtype, VQA_ST_F32);
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[0], 64);
	assert_int_equal(t->shape[1], 32);
	assert_int_equal(t->numel, 64 * 32);
	assert_int_equal(t->begin, 256);
	assert_int_equal(t->end, 8448);
	vqa_st_free(st);

	st = open_fixture("outputs.safetensors");
	assert_null(vqa_st_metadata(st, "format"));
	t = vqa_st_find(st, "language_hidden_states.3");
	assert_non_null(t);
	assert_int_equal(t->ndim, 3);
	assert_int_equal(t->shape[0], 3);
	assert_int_equal(t->shape[1], 9);
	assert_int_equal(t->shape[2], 32);
	t = vqa_st_find(st, "bce_loss");
	assert_non_null(t);
	assert_int_equal(t->ndim, 1);
	assert_int_equal(t->numel, 1);
	vqa_st_free(st);

	st = open_fixture("grads.safetensors");
	t = vqa_st_tensor(st, vqa_st_count(st) - 1);
	assert_string_equal(t->name, "lxmert.pooler.dense.weight");
	assert_int_equal(t->end, 271792);
	vqa_st_free(st);
}

/* Every line of shapes.txt, "name<TAB>[d0, d1, ...]", against model.safetensors. */
static void
model_matches_shapes_txt(void **state)
{
	char		path[1024];
	char	   *text;
	char	   *line;
	char	   *next;
	int			lines = 0;
	VqaSafetensors *st = open_fixture("model.safetensors");

	fixture_path(path, sizeof(path), "shapes.txt");
	text = unit_read_file(path, NULL);
	assert_non_null(text);
	for (line = text; *line; line = next)
	{
		char	   *tab;
		char	   *p;
		const VqaStTensor *t;
		int			ndim = 0;
		int64_t		shape[VQA_ST_MAX_DIMS];

		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		if (*line == '\0')
			continue;
		tab = strchr(line, '\t');
		assert_non_null(tab);
		*tab = '\0';
		p = tab + 1;
		assert_int_equal(*p, '[');
		p++;
		while (*p != ']')
		{
			char	   *end;

			assert_true(ndim < VQA_ST_MAX_DIMS);
			shape[ndim++] = strtoll(p, &end, 10);
			assert_true(end > p);
			p = end;
			while (*p == ',' || *p == ' ')
				p++;
		}

		t = vqa_st_find(st, line);
		if (t == NULL)
			print_error("%s of shapes.txt is not in model.safetensors\n", line);
		assert_non_null(t);
		assert_int_equal(t->ndim, ndim);
		assert_memory_equal(t->shape, shape, (size_t) ndim * sizeof(int64_t));
		lines++;
	}
	assert_int_equal(lines, 153);
	assert_int_equal(vqa_st_count(st), lines);	/* so no tensor is left out */
	free(text);
	vqa_st_free(st);
}

static void
inputs_read_as_numbers(void **state)
{
	static const float first_ids[] = {2, 21, 17, 50, 19, 51, 5, 35, 49};
	static const float mask[27] = {1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 0, 0, 0,
	1, 1, 1, 1, 0, 0, 0, 0, 0};
	VqaSafetensors *st = open_fixture("inputs.safetensors");
	const VqaStTensor *t = vqa_st_find(st, "input_ids");
	float		values[27];
	int			i;

	assert_non_null(t);
	assert_int_equal(t->dtype, VQA_ST_I64);
	assert_int_equal(t->numel, 27);
	vqa_st_read_f32(st, t, values);
	assert_memory_equal(values, first_ids, sizeof(first_ids));
	for (i = 0; i < 27; i++)
		assert_true(values[i] >= 0 && values[i] < 64);	/* the tiny vocabulary */

	t = vqa_st_find(st, "attention_mask");
	assert_int_equal(t->dtype, VQA_ST_I64);
	vqa_st_read_f32(st, t, values);
	assert_memory_equal(values, mask, sizeof(mask));

	t = vqa_st_find(st, "visual_pos");
	assert_int_equal(t->dtype, VQA_ST_F32);
	assert_int_equal(t->ndim, 3);
	vqa_st_free(st);
}

/* Read the model, write every tensor back, and compare the bytes. */
static void
model_round_trip(void **state)
{
	char		path[1024];
	char		errbuf[ERRLEN];
	size_t		original_len;
	unsigned char *original;
	VqaSafetensors *st;
	VqaSafetensors *again;
	VqaStWriter *w = vqa_st_writer_new();
	unsigned char *image;
	size_t		image_len;
	int			i;

	fixture_path(path, sizeof(path), "model.safetensors");
	original = (unsigned char *) unit_read_file(path, &original_len);
	assert_non_null(original);
	st = vqa_st_parse(original, original_len, errbuf, sizeof(errbuf));
	assert_non_null(st);

	assert_int_equal(vqa_st_writer_set_metadata(w, "format", vqa_st_metadata(st, "format")), 0);
	for (i = 0; i < vqa_st_count(st); i++)
	{
		const VqaStTensor *t = vqa_st_tensor(st, i);
		float	   *values = malloc((size_t) t->numel * sizeof(float) + 1);

		assert_non_null(values);
		vqa_st_read_f32(st, t, values);
		assert_int_equal(vqa_st_writer_add_f32(w, t->name, t->ndim, t->shape, values), 0);
		free(values);			/* the writer copied them */
	}
	image = vqa_st_writer_serialize(w, &image_len);
	assert_non_null(image);
	again = vqa_st_parse(image, image_len, errbuf, sizeof(errbuf));
	assert_non_null(again);
	assert_int_equal(vqa_st_count(again), vqa_st_count(st));
	for (i = 0; i < vqa_st_count(st); i++)
	{
		const VqaStTensor *a = vqa_st_tensor(st, i);
		const VqaStTensor *b = vqa_st_find(again, a->name);

		assert_non_null(b);
		assert_int_equal(b->dtype, VQA_ST_F32);
		assert_int_equal(b->ndim, a->ndim);
		assert_memory_equal(b->shape, a->shape, (size_t) a->ndim * sizeof(int64_t));
		assert_int_equal(b->end - b->begin, a->end - a->begin);
		assert_memory_equal(vqa_st_data(again, b), vqa_st_data(st, a), a->end - a->begin);
	}
	/* The layout is the reference one, so the whole file comes out the same. */
	assert_int_equal(image_len, original_len);
	assert_memory_equal(image, original, original_len);

	vqa_st_free(again);
	free(image);
	vqa_st_writer_free(w);
	vqa_st_free(st);
	free(original);
}

/* ---------------------------------------------------------------- validation */

static void
rejects_bad_framing(void **state)
{
	unsigned char small[5] = {0};
	unsigned char *big;
	unsigned char *buf;
	size_t		len;
	char		errbuf[ERRLEN];

	assert_null(vqa_st_parse(small, sizeof(small), errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "too short"));
	assert_null(vqa_st_parse(small, 0, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "too short"));

	/* header length 10, but only 2 bytes follow */
	buf = make_file("{}", 2, NULL, 0, &len);
	buf[0] = 10;
	assert_null(vqa_st_parse(buf, len, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "larger than the file"));
	buf[7] = 0x80;				/* a huge length, no overflow in the check */
	assert_null(vqa_st_parse(buf, len, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "larger than the file"));
	free(buf);

	/* a length over 100 MB in a file big enough for it; calloc'd pages stay untouched */
	len = (size_t) VQA_ST_MAX_HEADER + 16;
	big = calloc(1, len);
	assert_non_null(big);
	len = 8 + (size_t) VQA_ST_MAX_HEADER + 1;
	big[0] = (unsigned char) (VQA_ST_MAX_HEADER + 1);
	big[1] = (unsigned char) ((VQA_ST_MAX_HEADER + 1) >> 8);
	big[2] = (unsigned char) ((VQA_ST_MAX_HEADER + 1) >> 16);
	big[3] = (unsigned char) ((VQA_ST_MAX_HEADER + 1) >> 24);
	assert_null(vqa_st_parse(big, len, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "100 MB"));
	free(big);
}

static void
rejects_bad_json(void **state)
{
	expect_error("", 0, "not valid JSON");
	expect_error("   ", 0, "not valid JSON");
	expect_error("{\"a\":", 0, "not valid JSON");
	expect_error("{} x", 0, "not valid JSON");
	expect_error("{} /* comment */", 0, "comment");
	expect_error("{\"a\xff\":{}}", 0, "not valid UTF-8 at offset 3");
	expect_error("{\"\xc0\xaf\":{}}", 0, "not valid UTF-8");	/* overlong '/' */
	expect_error("{\"\xed\xa0\x80\":{}}", 0, "not valid UTF-8");	/* surrogate */
	expect_error("{\"\xe2\x82\":{}}", 0, "not valid UTF-8");	/* truncated */
	expect_error_n("{\"a\0b\":{}}", 9, 0, "NUL byte at offset 3");
	expect_error("{\"a\\u0000b\":{}}", 0, "\\u0000");
	expect_error("{\"__metadata__\":{\"k\":\"\\u0000\"}}", 0, "\\u0000");
	expect_error("{\"a\\ud800\":{}}", 0, "lone surrogate");
	expect_error("{\"a\\ud800\\u0041\":{}}", 0, "lone surrogate");
	expect_error("{\"a\\uDBFF\":{}}", 0, "lone surrogate");
	expect_error("{\"__metadata__\":{\"k\":\"\\udc00\"}}", 0, "lone surrogate \\u escape at offset 22");
	expect_error("[1, 2]", 0, "not a JSON object");
	expect_error("\"text\"", 0, "not a JSON object");
	expect_error("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
				 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
				 0, "nests deeper");
	expect_error("{\"__metadata__\":[]}", 0, "\"__metadata__\" is not an object");
	expect_error("{\"__metadata__\":{\"k\":1}}", 0, "\"__metadata__\" entry \"k\" is not a string");
	expect_error("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate \"__metadata__\"");
}

static void
rejects_bad_entries(void **state)
{
	expect_error("{\"w\":[1]}", 0, "tensor \"w\": entry is not an object");
	expect_error("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor \"w\": no \"dtype\"");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor \"w\": no \"shape\"");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor \"w\": no \"data_offsets\"");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
				 "\"dtype\" appears twice");

	/* dtype */
	expect_error("{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
				 "tensor \"w\": unsupported dtype \"F64\"");
	expect_error("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
				 "unsupported dtype \"f32\"");
	expect_error("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
				 "\"dtype\" is not a string");

	/* shape */
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16,
				 "tensor \"w\": \"shape\" is not an array");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}", 16,
				 "tensor \"w\": shape[1] is negative (-2)");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
				 "tensor \"w\": shape has 9 dimensions, more than 8");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
				 "shape[0] is not an integer");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
				 "shape[0] is not an integer");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e400],\"data_offsets\":[0,4]}}", 4,
				 "shape[0] is not an integer");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4,
				 "shape[0] is not an integer");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
				 "tensor \"w\": number of elements overflows");
	expect_error("{\"w\":{\"dtype\":\"I64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}}", 8,
				 "tensor \"w\": size in bytes overflows");

	/* data_offsets */
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":4}}", 4,
				 "tensor \"w\": \"data_offsets\" is not an array of two integers");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4,
				 "not an array of two integers");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
				 "not an array of two integers");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4,
				 "not an array of two integers");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
				 "tensor \"w\": data_offsets [-4, 0] are negative");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
				 "tensor \"w\": data_offsets begin 8 is after end 4");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
				 "tensor \"w\": data_offsets end 8 is beyond the data buffer (4 bytes)");
	expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8,
				 "tensor \"w\": data_offsets span 4 bytes but 2 F32 elements need 8");
	expect_error("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24,
				 "span 24 bytes but 6 BF16 elements need 12");

	/* between tensors */
	expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
				 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
				 "tensors \"a\" [0, 8) and \"b\" [4, 12) overlap");
	expect_error("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
				 "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
				 "tensors \"a\" [0, 16) and \"b\" [8, 12) overlap");
	expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
				 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
				 "duplicate tensor name \"a\"");
}

static void
accepts_edge_cases(void **state)
{
	char		errbuf[ERRLEN];
	unsigned char *buf;
	VqaSafetensors *st;
	const VqaStTensor *t;

	/* empty header, trailing spaces, nothing else */
	st = parse_header("{}      ", 0, &buf, errbuf);
	assert_non_null(st);
	assert_int_equal(vqa_st_count(st), 0);
	assert_null(vqa_st_find(st, "a"));
	assert_null(vqa_st_metadata(st, "a"));
	vqa_st_free(st);
	free(buf);

	/*
	 * Offsets out of order in the header, a gap of uncovered bytes, an empty
	 * tensor sitting inside another's range, a scalar, an extra field, and a
	 * name with escapes and non-ASCII letters.
	 */
	st = parse_header("{\"z\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[20,24]},"
					  "\"empty\":{\"dtype\":\"F16\",\"shape\":[3,0],\"data_offsets\":[2,2]},"
					  "\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":[1]},"
					  "\"__metadata__\":{\"k\":\"v\"}}   ",
					  32, &buf, errbuf);
	if (st == NULL)
		print_error("%s\n", errbuf);
	assert_non_null(st);
	assert_int_equal(vqa_st_count(st), 3);
	assert_string_equal(vqa_st_tensor(st, 0)->name, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80");
	assert_string_equal(vqa_st_tensor(st, 1)->name, "empty");
	assert_string_equal(vqa_st_tensor(st, 2)->name, "z");
	t = vqa_st_find(st, "empty");
	assert_int_equal(t->numel, 0);
	assert_int_equal(t->ndim, 2);
	t = vqa_st_find(st, "z");
	assert_int_equal(t->ndim, 0);
	assert_int_equal(t->numel, 1);
	assert_string_equal(vqa_st_metadata(st, "k"), "v");
	vqa_st_free(st);
	free(buf);

	/* a name that is the prefix of another, and a 0-dim empty at the end */
	st = parse_header("{\"ab\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
					  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
					  "\"e\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[8,8]}}",
					  8, &buf, errbuf);
	assert_non_null(st);
	assert_string_equal(vqa_st_find(st, "a")->name, "a");
	assert_string_equal(vqa_st_find(st, "ab")->name, "ab");
	assert_null(vqa_st_find(st, "b"));
	vqa_st_free(st);
	free(buf);

	vqa_st_free(NULL);
}

/* ---------------------------------------------------------------- conversions */

/* A one-tensor file whose data is given. */
static VqaSafetensors *
single_tensor(const char *dtype, int64_t numel, const void *data, size_t bytes,
			  unsigned char **buf)
{
	char		header[256];
	char		errbuf[ERRLEN];
	size_t		len;
	VqaSafetensors *st;

	snprintf(header, sizeof(header),
			 "{\"t\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[0,%zu]}}",
			 dtype, (long long) numel, bytes);
	*buf = make_file(header, strlen(header), data, bytes, &len);
	st = vqa_st_parse(*buf, len, errbuf, sizeof(errbuf));
	if (st == NULL)
		print_error("%s\n", errbuf);
	assert_non_null(st);
	return st;
}

static void
f16_widens_exactly(void **state)
{
	static const struct
	{
		uint16_t	half;
		uint32_t	bits;
	}			cases[] = {
		{0x0000, 0x00000000},	/* +0 */
		{0x8000, 0x80000000},	/* -0 */
		{0x3c00, 0x3f800000},	/* 1 */
		{0xc000, 0xc0000000},	/* -2 */
		{0x7bff, 0x477fe000},	/* 65504, the largest half */
		{0x0400, 0x38800000},	/* 2^-14, the smallest normal */
		{0x03ff, 0x387fc000},	/* the largest subnormal */
		{0x0001, 0x33800000},	/* 2^-24, the smallest subnormal */
		{0x8001, 0xb3800000},
		{0x7c00, 0x7f800000},	/* +inf */
		{0xfc00, 0xff800000},	/* -inf */
		{0x7e00, 0x7fc00000},	/* quiet NaN */
		{0x7c01, 0x7f802000},	/* signalling NaN, payload kept */
		{0xfe01, 0xffc02000},
	};
	unsigned char data[65536 * 2];
	float	   *out = malloc(65536 * sizeof(float));
	unsigned char *buf;
	VqaSafetensors *st;
	size_t		i;

	assert_non_null(out);
	for (i = 0; i < 65536; i++)
	{
		data[2 * i] = (unsigned char) i;
		data[2 * i + 1] = (unsigned char) (i >> 8);
	}
	st = single_tensor("F16", 65536, data, sizeof(data), &buf);
	vqa_st_read_f32(st, vqa_st_find(st, "t"), out);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		if (float_bits(out[cases[i].half]) != cases[i].bits)
			print_error("half %04x: got %08x, want %08x\n", cases[i].half,
						float_bits(out[cases[i].half]), cases[i].bits);
		assert_int_equal(float_bits(out[cases[i].half]), cases[i].bits);
	}

	/* every finite half against its value computed another way */
	for (i = 0; i < 65536; i++)
	{
		int			exponent = (int) ((i >> 10) & 0x1f);
		int			mantissa = (int) (i & 0x3ff);
		double		expected;

		if (exponent == 0x1f)
		{
			assert_true(mantissa == 0 ? isinf(out[i]) : isnan(out[i]));
			continue;
		}
		expected = exponent == 0 ? ldexp(mantissa, -24) : ldexp(1024 + mantissa, exponent - 25);
		if (i & 0x8000)
			expected = -expected;
		if ((double) out[i] != expected || !signbit(out[i]) != !signbit(expected))
			print_error("half %04zx: got %.9g, want %.9g\n", i, out[i], expected);
		assert_true((double) out[i] == expected);
		assert_true(!signbit(out[i]) == !signbit(expected));
	}
	vqa_st_free(st);
	free(buf);
	free(out);
}

static void
bf16_widens_exactly(void **state)
{
	unsigned char data[65536 * 2];
	float	   *out = malloc(65536 * sizeof(float));
	unsigned char *buf;
	VqaSafetensors *st;
	size_t		i;

	assert_non_null(out);
	for (i = 0; i < 65536; i++)
	{
		data[2 * i] = (unsigned char) i;
		data[2 * i + 1] = (unsigned char) (i >> 8);
	}
	st = single_tensor("BF16", 65536, data, sizeof(data), &buf);
	vqa_st_read_f32(st, vqa_st_find(st, "t"), out);

	assert_int_equal(float_bits(out[0x3f80]), float_bits(1.0f));
	assert_true(isinf(out[0x7f80]) && out[0x7f80] > 0);
	assert_true(isinf(out[0xff80]) && out[0xff80] < 0);
	assert_int_equal(float_bits(out[0x7fc0]), 0x7fc00000);
	assert_int_equal(float_bits(out[0x7f81]), 0x7f810000);	/* signalling NaN kept */
	assert_int_equal(float_bits(out[0x8000]), 0x80000000);
	assert_true(out[0x0001] == ldexpf(1.0f, -133));	/* smallest subnormal */

	for (i = 0; i < 65536; i++)
	{
		int			exponent = (int) ((i >> 7) & 0xff);
		int			mantissa = (int) (i & 0x7f);
		double		expected;

		if (exponent == 0xff)
		{
			assert_true(mantissa == 0 ? isinf(out[i]) : isnan(out[i]));
			continue;
		}
		expected = exponent == 0 ? ldexp(mantissa, -133) : ldexp(128 + mantissa, exponent - 134);
		if (i & 0x8000)
			expected = -expected;
		assert_true((double) out[i] == expected);
		assert_true(!signbit(out[i]) == !signbit(expected));
	}
	vqa_st_free(st);
	free(buf);
	free(out);
}

static void
integers_convert(void **state)
{
	static const int32_t i32[] = {0, -1, 7, INT32_MAX, INT32_MIN, 16777217};
	static const int64_t i64[] = {0, -1, 42, INT64_MAX, INT64_MIN, ((int64_t) 1 << 53) + 1};
	unsigned char data[sizeof(i64)];
	unsigned char *buf;
	VqaSafetensors *st;
	float		out[6];
	size_t		i;
	int			b;

	/* little-endian bytes, whatever the host */
	for (i = 0; i < 6; i++)
		for (b = 0; b < 4; b++)
			data[4 * i + b] = (unsigned char) ((uint32_t) i32[i] >> (8 * b));
	st = single_tensor("I32", 6, data, sizeof(i32), &buf);
	vqa_st_read_f32(st, vqa_st_find(st, "t"), out);
	for (i = 0; i < 6; i++)
		assert_true(out[i] == (float) i32[i]);
	assert_true(out[1] == -1.0f);
	assert_true(out[5] == 16777216.0f);
	vqa_st_free(st);
	free(buf);

	for (i = 0; i < 6; i++)
		for (b = 0; b < 8; b++)
			data[8 * i + b] = (unsigned char) ((uint64_t) i64[i] >> (8 * b));
	st = single_tensor("I64", 6, data, sizeof(i64), &buf);
	vqa_st_read_f32(st, vqa_st_find(st, "t"), out);
	for (i = 0; i < 6; i++)
		assert_true(out[i] == (float) i64[i]);
	assert_true(out[2] == 42.0f);
	assert_true(out[4] == -9223372036854775808.0f);
	vqa_st_free(st);
	free(buf);

	/* F32 is little-endian too */
	data[0] = 0x00;
	data[1] = 0x00;
	data[2] = 0xc0;
	data[3] = 0x3f;
	st = single_tensor("F32", 1, data, 4, &buf);
	vqa_st_read_f32(st, vqa_st_find(st, "t"), out);
	assert_true(out[0] == 1.5f);
	vqa_st_free(st);
	free(buf);
}

/* ---------------------------------------------------------------- writer */

static void
writer_layout_and_metadata(void **state)
{
	static const float values[6] = {1, -2, 3.5f, 0, -0.0f, 1e-40f};
	static const int64_t shape[2] = {2, 3};
	static const int64_t empty_shape[1] = {0};
	VqaStWriter *w = vqa_st_writer_new();
	unsigned char *image;
	size_t		len;
	uint64_t	header_len = 0;
	char		errbuf[ERRLEN];
	VqaSafetensors *st;
	const VqaStTensor *t;
	float		out[6];
	const char *text;
	int			i;

	assert_int_equal(vqa_st_writer_set_metadata(w, "format", "np"), 0);
	assert_int_equal(vqa_st_writer_set_metadata(w, "quote\"back\\slash", "line\nbreak\ttab \x01 caf\xc3\xa9"), 0);
	assert_int_equal(vqa_st_writer_set_metadata(w, "format", "pt"), 0);	/* replaces */
	assert_int_equal(vqa_st_writer_set_metadata(w, "empty", ""), 0);
	assert_int_equal(vqa_st_writer_add_f32(w, "w", 2, shape, values), 0);
	assert_int_equal(vqa_st_writer_add_f32(w, "scalar", 0, NULL, values + 2), 0);
	assert_int_equal(vqa_st_writer_add_f32(w, "none", 1, empty_shape, NULL), 0);
	assert_int_equal(vqa_st_writer_add_f32(w, "a\"b", 1, shape, values + 4), 0);
	assert_null(vqa_st_writer_error(w));

	image = vqa_st_writer_serialize(w, &len);
	assert_non_null(image);
	for (i = 0; i < 8; i++)
		header_len |= (uint64_t) image[i] << (8 * i);
	assert_int_equal(header_len % 8, 0);	/* data 8-byte aligned */
	assert_int_equal(len, 8 + header_len + 4 * (6 + 1 + 0 + 2));
	text = (const char *) image + 8;
	assert_memory_equal(text, "{\"__metadata__\":{\"format\":\"pt\",", 31);

	st = vqa_st_parse(image, len, errbuf, sizeof(errbuf));
	if (st == NULL)
		print_error("%s\n", errbuf);
	assert_non_null(st);
	assert_string_equal(vqa_st_metadata(st, "format"), "pt");
	assert_string_equal(vqa_st_metadata(st, "quote\"back\\slash"), "line\nbreak\ttab \x01 caf\xc3\xa9");
	assert_string_equal(vqa_st_metadata(st, "empty"), "");
	assert_null(vqa_st_metadata(st, "absent"));
	assert_int_equal(vqa_st_count(st), 4);
	/* file order is the order added */
	assert_string_equal(vqa_st_tensor(st, 0)->name, "w");
	assert_string_equal(vqa_st_tensor(st, 1)->name, "scalar");
	assert_string_equal(vqa_st_tensor(st, 2)->name, "none");
	assert_string_equal(vqa_st_tensor(st, 3)->name, "a\"b");
	t = vqa_st_find(st, "w");
	assert_int_equal(t->begin, 0);
	assert_int_equal(t->ndim, 2);
	vqa_st_read_f32(st, t, out);
	assert_memory_equal(out, values, sizeof(values));	/* bit for bit, -0 and subnormal too */
	t = vqa_st_find(st, "scalar");
	assert_int_equal(t->ndim, 0);
	assert_int_equal(t->begin, 24);
	t = vqa_st_find(st, "none");
	assert_int_equal(t->numel, 0);
	assert_int_equal(t->begin, t->end);
	t = vqa_st_find(st, "a\"b");
	vqa_st_read_f32(st, t, out);
	assert_memory_equal(out, values + 4, 2 * sizeof(float));
	vqa_st_free(st);
	free(image);
	vqa_st_writer_free(w);

	/* no metadata and no tensor: "{}" padded to 8 */
	w = vqa_st_writer_new();
	image = vqa_st_writer_serialize(w, &len);
	assert_int_equal(len, 16);
	assert_memory_equal(image + 8, "{}      ", 8);
	free(image);
	vqa_st_writer_free(w);
	vqa_st_writer_free(NULL);
}

static void
writer_errors(void **state)
{
	static const float values[4] = {0};
	static const int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	static const int64_t negative[2] = {2, -1};
	static const int64_t huge[2] = {(int64_t) 1 << 40, (int64_t) 1 << 40};
	static const struct
	{
		const char *name;
		int			ndim;
		const int64_t *shape;
		const char *expected;
	}			cases[] = {
		{"a", 1, shape, "duplicate tensor name \"a\""},
		{"__metadata__", 1, shape, "cannot name a tensor"},
		{"bad\xff", 1, shape, "not valid UTF-8"},
		{"deep", 9, shape, "9 dimensions"},
		{"neg", 2, negative, "shape[1] is negative"},
		{"huge", 2, huge, "overflows"},
	};
	char		errbuf[ERRLEN];
	size_t		len;
	size_t		i;
	VqaStWriter *w;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		w = vqa_st_writer_new();
		assert_int_equal(vqa_st_writer_add_f32(w, "a", 1, shape, values), 0);
		assert_int_equal(vqa_st_writer_add_f32(w, cases[i].name, cases[i].ndim, cases[i].shape, values), -1);
		assert_non_null(strstr(vqa_st_writer_error(w), cases[i].expected));
		/* sticky: later calls fail, and so do serialize and save */
		assert_int_equal(vqa_st_writer_add_f32(w, "b", 1, shape, values), -1);
		assert_int_equal(vqa_st_writer_set_metadata(w, "k", "v"), -1);
		assert_null(vqa_st_writer_serialize(w, &len));
		assert_int_equal(vqa_st_writer_save(w, "never-written.safetensors", errbuf, sizeof(errbuf)), -1);
		assert_non_null(strstr(errbuf, cases[i].expected));
		assert_int_equal(access("never-written.safetensors", F_OK), -1);
		vqa_st_writer_free(w);
	}

	w = vqa_st_writer_new();
	assert_int_equal(vqa_st_writer_set_metadata(w, "k", "\xc3"), -1);
	assert_non_null(strstr(vqa_st_writer_error(w), "not valid UTF-8"));
	vqa_st_writer_free(w);

	w = vqa_st_writer_new();
	assert_int_equal(vqa_st_writer_save(w, "no/such/directory/x.safetensors", errbuf, sizeof(errbuf)), -1);
	assert_non_null(strstr(errbuf, "could not create"));
	vqa_st_writer_free(w);
}

/* save then open, and the errors of open */
static void
save_and_open(void **state)
{
	static const float values[3] = {1, 2, 3};
	static const int64_t shape[1] = {3};
	char		path[256];
	char		errbuf[ERRLEN];
	const char *tmpdir = getenv("TMPDIR");
	VqaStWriter *w = vqa_st_writer_new();
	VqaSafetensors *st;
	float		out[3];
	FILE	   *f;
	int			fd;

	snprintf(path, sizeof(path), "%s/test_safetensors_XXXXXX", tmpdir ? tmpdir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(vqa_st_writer_add_f32(w, "v", 1, shape, values), 0);
	assert_int_equal(vqa_st_writer_set_metadata(w, "format", "pt"), 0);
	assert_int_equal(vqa_st_writer_save(w, path, errbuf, sizeof(errbuf)), 0);
	vqa_st_writer_free(w);

	st = vqa_st_open(path, errbuf, sizeof(errbuf));
	assert_non_null(st);
	vqa_st_read_f32(st, vqa_st_find(st, "v"), out);
	assert_memory_equal(out, values, sizeof(values));
	assert_string_equal(vqa_st_metadata(st, "format"), "pt");
	vqa_st_free(st);

	/* a broken file: the message names the path */
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs("abc", f);
	fclose(f);
	assert_null(vqa_st_open(path, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, path));
	assert_non_null(strstr(errbuf, "too short"));
	remove(path);

	assert_null(vqa_st_open(path, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "could not open"));
	assert_null(vqa_st_open(tmpdir ? tmpdir : "/tmp", errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "not a regular file"));
}

int
run_safetensors_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixtures_parse),
		cmocka_unit_test(model_matches_shapes_txt),
		cmocka_unit_test(inputs_read_as_numbers),
		cmocka_unit_test(model_round_trip),
		cmocka_unit_test(rejects_bad_framing),
		cmocka_unit_test(rejects_bad_json),
		cmocka_unit_test(rejects_bad_entries),
		cmocka_unit_test(accepts_edge_cases),
		cmocka_unit_test(f16_widens_exactly),
		cmocka_unit_test(bf16_widens_exactly),
		cmocka_unit_test(integers_convert),
		cmocka_unit_test(writer_layout_and_metadata),
		cmocka_unit_test(writer_errors),
		cmocka_unit_test(save_and_open),
	};

	return UNIT_GROUP(safetensors, tests, n_tests);
}
