/*
 * test_features_tsv.c: unit tests of the base64 decoder and the region
 * feature TSV reader.
 *
 * Lines are built here with a small base64 encoder of our own, so each test
 * states exactly which boxes and features a line holds and what must come out.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "vqaprune/features_tsv.h"

/* A growable string. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_append(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		b->cap = (b->len + n + 1) * 2;
		b->data = realloc(b->data, b->cap);
		assert_non_null(b->data);
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_str(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void
buf_int(Buf *b, long v)
{
	char		tmp[32];

	snprintf(tmp, sizeof(tmp), "%ld", v);
	buf_str(b, tmp);
}

static void
buf_base64(Buf *b, const void *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t		i;

	for (i = 0; i < len; i += 3)
	{
		unsigned	v = (unsigned) p[i] << 16;
		char		q[4];

		if (i + 1 < len)
			v |= (unsigned) p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = alphabet[(v >> 18) & 63];
		q[1] = alphabet[(v >> 12) & 63];
		q[2] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? alphabet[v & 63] : '=';
		buf_append(b, q, 4);
	}
}

/* One image line; test machines are little-endian, as the files are. */
typedef struct Spec
{
	const char *id;
	int			w;
	int			h;
	int			num_boxes;
	int			n_side;			/* length of objects/attrs arrays; -1: num_boxes */
	const float *boxes;
	int			n_box_floats;
	const float *features;
	int			n_features;
	const char *override_field; /* replaces field override_index */
	int			override_index;
} Spec;

static void
add_line(Buf *b, const Spec *s, int lxmert, const char *eol)
{
	int			n_side = s->n_side < 0 ? s->num_boxes : s->n_side;
	int64_t    *ids = calloc((size_t) n_side + 1, sizeof(int64_t));
	float	   *conf = calloc((size_t) n_side + 1, sizeof(float));
	int			field = 0;
	int			i;

#define FIELD_BEGIN() \
	do { if (field > 0) buf_str(b, "\t"); } while (0)
#define OVERRIDDEN() \
	(s->override_field != NULL && s->override_index == field)

	for (i = 0; i < n_side; i++)
	{
		ids[i] = 1000 + i;
		conf[i] = 0.5f;
	}
	for (i = 0; i < (lxmert ? 10 : 6); i++, field++)
	{
		FIELD_BEGIN();
		if (OVERRIDDEN())
		{
			buf_str(b, s->override_field);
			continue;
		}
		if (lxmert)
		{
			switch (i)
			{
				case 0: buf_str(b, s->id); break;
				case 1: buf_int(b, s->h); break;
				case 2: buf_int(b, s->w); break;
				case 3: case 5: buf_base64(b, ids, (size_t) n_side * 8); break;
				case 4: case 6: buf_base64(b, conf, (size_t) n_side * 4); break;
				case 7: buf_int(b, s->num_boxes); break;
				case 8: buf_base64(b, s->boxes, (size_t) s->n_box_floats * 4); break;
				case 9: buf_base64(b, s->features, (size_t) s->n_features * 4); break;
			}
		}
		else
		{
			switch (i)
			{
				case 0: buf_str(b, s->id); break;
				case 1: buf_int(b, s->w); break;
				case 2: buf_int(b, s->h); break;
				case 3: buf_int(b, s->num_boxes); break;
				case 4: buf_base64(b, s->boxes, (size_t) s->n_box_floats * 4); break;
				case 5: buf_base64(b, s->features, (size_t) s->n_features * 4); break;
			}
		}
	}
	buf_str(b, eol);
	free(ids);
	free(conf);
#undef FIELD_BEGIN
#undef OVERRIDDEN
}

/* Two boxes on a 640 x 480 image, features of dimension 3. */
static const float boxes2[8] = {64, 48, 320, 240, 0, 0, 640, 480};
static const float feats2x3[6] = {1.5f, -2, 0, 3.25f, 1e-3f, 100};

static Spec
spec2(const char *id)
{
	Spec		s = {id, 640, 480, 2, -1, boxes2, 8, feats2x3, 6, NULL, 0};

	return s;
}

/* Reads a TSV held in b to its end; returns the number of images. */
static int
read_all(const Buf *b, int expect_rc, const char *message)
{
	char		err[256];
	VqaTsvReader *r = vqa_tsv_open_buffer(b->data, b->len, err, sizeof(err));
	VqaImageFeatures img;
	int			n = 0;
	int			rc;

	assert_non_null(r);
	while ((rc = vqa_tsv_next(r, &img)) == 1)
		n++;
	if (rc != expect_rc)
		fail_msg("rc %d: %s", rc, vqa_tsv_error(r));
	if (message)
		assert_string_equal(vqa_tsv_error(r), message);
	if (rc < 0)
		assert_int_equal(vqa_tsv_next(r, &img), -1);
	vqa_tsv_close(r);
	return n;
}

static void
expect_tsv_error(const Spec *s, int lxmert, const char *message)
{
	Buf			b = {0};
	Spec		ok = spec2("7");

	add_line(&b, &ok, lxmert, "\n");
	add_line(&b, s, lxmert, "\n");
	assert_int_equal(read_all(&b, -1, message), 1);
	free(b.data);
}

static void
test_base64_vectors(void **state)
{
	static const char *const in[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	static const char *const want[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	unsigned char out[16];
	size_t		i;

	(void) state;
	for (i = 0; i < 7; i++)
	{
		long		n = vqa_base64_decode(in[i], strlen(in[i]), out);

		assert_int_equal(n, strlen(want[i]));
		assert_memory_equal(out, want[i], (size_t) n);
	}
	/* the whole alphabet, and the top and bottom bit patterns */
	assert_int_equal(vqa_base64_decode("////", 4, out), 3);
	assert_memory_equal(out, "\xff\xff\xff", 3);
	assert_int_equal(vqa_base64_decode("AAAA", 4, out), 3);
	assert_memory_equal(out, "\0\0\0", 3);
	assert_int_equal(vqa_base64_decode("+/+/", 4, out), 3);
	assert_memory_equal(out, "\xfb\xff\xbf", 3);
}

static void
test_base64_invalid(void **state)
{
	static const char *const bad[] = {
		"Z", "Zg", "Zg=", "Zm9vY", "====", "Z===", "=Zg=", "Zg=a", "Zg==Zg==",
		"Zm9v!mFy", "Zm9vYmF\n", "Zm 9", "-_-_", "Zm9v\xc3\xa9mFy", "Zm9vYmFy====",
		"Zm9vYg=\0", "ZmA=\0\0\0\0",
	};
	unsigned char out[32];
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		size_t		len = strlen(bad[i]);

		if (i >= 15)
			len = 8;			/* these two hold NULs */
		if (vqa_base64_decode(bad[i], len, out) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

/* Every length from 0 to 300, with every byte value, round-trips. */
static void
test_base64_round_trip(void **state)
{
	unsigned char data[300];
	unsigned char out[300];
	size_t		len;
	size_t		i;

	(void) state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char) (i * 37 + 11);
	for (len = 0; len <= sizeof(data); len++)
	{
		Buf			b = {0};

		buf_append(&b, "", 0);
		buf_base64(&b, data, len);
		assert_int_equal(vqa_base64_decode(b.data, b.len, out), len);
		assert_memory_equal(out, data, len);
		free(b.data);
	}
}

static void
check_image2(const VqaImageFeatures *img, int64_t id)
{
	int			i;

	assert_int_equal(img->image_id, id);
	assert_int_equal(img->image_w, 640);
	assert_int_equal(img->image_h, 480);
	assert_int_equal(img->num_boxes, 2);
	assert_int_equal(img->feature_dim, 3);
	assert_true(img->boxes[0] == 0.1f);
	assert_true(img->boxes[1] == 0.1f);
	assert_true(img->boxes[2] == 0.5f);
	assert_true(img->boxes[3] == 0.5f);
	assert_true(img->boxes[4] == 0.0f);
	assert_true(img->boxes[5] == 0.0f);
	assert_true(img->boxes[6] == 1.0f);
	assert_true(img->boxes[7] == 1.0f);
	for (i = 0; i < 6; i++)
		assert_true(img->features[i] == feats2x3[i]);
}

static void
test_layouts(void **state)
{
	int			lxmert;

	(void) state;
	for (lxmert = 0; lxmert <= 1; lxmert++)
	{
		Buf			b = {0};
		Spec		s1 = spec2(lxmert ? "COCO_val2014_000000012345" : "12345");
		Spec		s2 = spec2(lxmert ? "COCO_train2014_000000000042" : "42");
		VqaTsvReader *r;
		VqaImageFeatures img;

		add_line(&b, &s1, lxmert, "\n");
		add_line(&b, &s2, lxmert, "\n");
		r = vqa_tsv_open_buffer(b.data, b.len, NULL, 0);
		assert_int_equal(vqa_tsv_next(r, &img), 1);
		assert_int_equal(vqa_tsv_layout(r), lxmert ? VQA_TSV_LXMERT : VQA_TSV_BOTTOM_UP);
		check_image2(&img, 12345);
		assert_int_equal(vqa_tsv_next(r, &img), 1);
		check_image2(&img, 42);
		assert_int_equal(vqa_tsv_next(r, &img), 0);
		assert_int_equal(vqa_tsv_next(r, &img), 0);
		assert_int_equal(vqa_tsv_bytes(r), b.len);
		vqa_tsv_close(r);
		free(b.data);
	}
}

/* LXMERT gives height then width, bottom-up width then height. */
static void
test_width_height_order(void **state)
{
	static const float box[4] = {100, 100, 200, 50};
	static const float feat[2] = {1, 2};
	int			lxmert;

	(void) state;
	for (lxmert = 0; lxmert <= 1; lxmert++)
	{
		Buf			b = {0};
		Spec		s = {"5", 400, 100, 1, -1, box, 4, feat, 2, NULL, 0};
		VqaTsvReader *r;
		VqaImageFeatures img;

		add_line(&b, &s, lxmert, "");
		r = vqa_tsv_open_buffer(b.data, b.len, NULL, 0);
		assert_int_equal(vqa_tsv_next(r, &img), 1);
		assert_int_equal(img.image_w, 400);
		assert_int_equal(img.image_h, 100);
		assert_true(img.boxes[0] == 0.25f);
		assert_true(img.boxes[1] == 1.0f);
		assert_true(img.boxes[2] == 0.5f);
		assert_true(img.boxes[3] == 0.5f);
		assert_int_equal(img.feature_dim, 2);
		vqa_tsv_close(r);
		free(b.data);
	}
}

static void
test_line_endings(void **state)
{
	Buf			b = {0};
	Spec		s1 = spec2("1");
	Spec		s2 = spec2("2");
	Spec		s3 = spec2("3");

	(void) state;
	buf_str(&b, "\n\r\n");
	add_line(&b, &s1, 1, "\r\n");
	buf_str(&b, "\n");
	add_line(&b, &s2, 1, "\n\n");
	add_line(&b, &s3, 1, "");	/* no newline at the end */
	assert_int_equal(read_all(&b, 0, NULL), 3);
	free(b.data);

	/* an empty input has no images */
	memset(&b, 0, sizeof(b));
	buf_str(&b, "");
	assert_int_equal(read_all(&b, 0, NULL), 0);
	free(b.data);
}

static void
test_image_ids(void **state)
{
	static const char *const good[] = {"COCO_val2014_000000012345", "12345", "x_y_12345",
	"0000012345"};
	int			lxmert = 1;
	size_t		i;

	(void) state;
	for (i = 0; i < 4; i++)
	{
		Buf			b = {0};
		Spec		s = spec2(good[i]);
		VqaTsvReader *r;
		VqaImageFeatures img;

		add_line(&b, &s, lxmert, "\n");
		r = vqa_tsv_open_buffer(b.data, b.len, NULL, 0);
		assert_int_equal(vqa_tsv_next(r, &img), 1);
		assert_int_equal(img.image_id, 12345);
		vqa_tsv_close(r);
		free(b.data);
	}

	{
		Spec		s = spec2("COCO_val2014_");

		expect_tsv_error(&s, 1, "line 2: field \"img_id\" is not an image id: \"COCO_val2014_\"");
		s.id = "abc";
		expect_tsv_error(&s, 0, "line 2: field \"image_id\" is not an image id: \"abc\"");
		s.id = "12a";
		expect_tsv_error(&s, 0, "line 2: field \"image_id\" is not an image id: \"12a\"");
		s.id = "-3";
		expect_tsv_error(&s, 0, "line 2: field \"image_id\" is not an image id: \"-3\"");
		s.id = "99999999999999999999";
		expect_tsv_error(&s, 0, "line 2: field \"image_id\" is not an image id: \"99999999999999999999\"");
	}
}

static void
test_field_errors(void **state)
{
	Buf			b = {0};
	Spec		s = spec2("42");

	(void) state;
	buf_str(&b, "1\t2\t3\t4\n");
	assert_int_equal(read_all(&b, -1, "line 1: expected 10 fields (LXMERT) or 6 fields (bottom-up), found 4"), 0);
	free(b.data);

	/* 6 fields after a 10-field line */
	memset(&b, 0, sizeof(b));
	add_line(&b, &s, 1, "\n");
	s.id = "43";
	add_line(&b, &s, 0, "\n");
	assert_int_equal(read_all(&b, -1, "line 2: found 6 fields, but the first line has 10 (LXMERT)"), 1);
	free(b.data);

	s = spec2("42");
	s.w = 0;
	expect_tsv_error(&s, 1, "line 2 (image 42): field \"img_w\" must be a positive integer, found \"0\"");
	s = spec2("42");
	s.h = -5;
	expect_tsv_error(&s, 0, "line 2 (image 42): field \"image_h\" must be a positive integer, found \"-5\"");
	s = spec2("42");
	s.override_field = "2.5";
	s.override_index = 3;
	expect_tsv_error(&s, 0, "line 2 (image 42): field \"num_boxes\" must be a positive integer, found \"2.5\"");
	s.override_field = "0";
	s.override_index = 7;
	expect_tsv_error(&s, 1, "line 2 (image 42): field \"num_boxes\" must be a positive integer, found \"0\"");
	s.override_field = "";
	s.override_index = 1;
	expect_tsv_error(&s, 1, "line 2 (image 42): field \"img_h\" must be a positive integer, found \"\"");
}

static void
test_base64_errors(void **state)
{
	Spec		s = spec2("42");

	(void) state;
	s.override_field = "AAAA*AAA";
	s.override_index = 9;
	expect_tsv_error(&s, 1, "line 2 (image 42): field \"features\" is not valid base64");
	s.override_index = 8;
	expect_tsv_error(&s, 1, "line 2 (image 42): field \"boxes\" is not valid base64");
	s.override_index = 4;
	expect_tsv_error(&s, 0, "line 2 (image 42): field \"boxes\" is not valid base64");
	s.override_index = 3;
	expect_tsv_error(&s, 1, "line 2 (image 42): field \"objects_id\" is not valid base64");
	s.override_field = "AAA";
	s.override_index = 6;
	expect_tsv_error(&s, 1, "line 2 (image 42): field \"attrs_conf\" is not valid base64");
}

static void
test_length_errors(void **state)
{
	static const float seven[7] = {0, 0, 1, 1, 0, 0, 1};
	static const float hundred[100] = {0};
	static const float one_box[4] = {0, 0, 10, 10};
	Spec		s = spec2("42");

	(void) state;
	s.n_box_floats = 7;
	s.boxes = seven;
	expect_tsv_error(&s, 1, "line 2 (image 42): \"boxes\" holds 7 floats, expected 4 x num_boxes = 8");

	s = spec2("42");
	s.num_boxes = 36;
	s.n_side = 36;
	s.boxes = NULL;
	s.n_box_floats = 0;
	s.features = hundred;
	s.n_features = 100;
	{
		float	   *boxes = calloc(36 * 4, sizeof(float));

		s.boxes = boxes;
		s.n_box_floats = 36 * 4;
		expect_tsv_error(&s, 1, "line 2 (image 42): \"features\" holds 100 floats, not a multiple of num_boxes = 36");
		free(boxes);
	}

	s = spec2("42");
	s.n_side = 3;
	expect_tsv_error(&s, 1, "line 2 (image 42): \"objects_id\" holds 3 int64 values, expected num_boxes = 2");
	s.override_field = "AAAAAAAA";	/* 6 bytes */
	s.override_index = 4;
	s.n_side = -1;
	expect_tsv_error(&s, 1, "line 2 (image 42): \"objects_conf\" holds 6 bytes, not a whole number of float32 values");

	/* dimension 4 after dimension 3 */
	s = spec2("42");
	s.num_boxes = 1;
	s.boxes = one_box;
	s.n_box_floats = 4;
	s.n_features = 4;
	expect_tsv_error(&s, 0, "line 2 (image 42): feature dimension 4 differs from 3 of the first image");

	s = spec2("42");
	s.n_features = 0;
	expect_tsv_error(&s, 0, "line 2 (image 42): \"features\" holds 0 floats, not a multiple of num_boxes = 2");
}

static void
test_value_errors(void **state)
{
	float		feats[6];
	float		boxes[8];
	Spec		s = spec2("42");

	(void) state;
	memcpy(feats, feats2x3, sizeof(feats));
	feats[4] = NAN;
	s.features = feats;
	expect_tsv_error(&s, 1, "line 2 (image 42): \"features\" value 4 is NaN");
	feats[4] = 1;
	feats[5] = -INFINITY;
	expect_tsv_error(&s, 0, "line 2 (image 42): \"features\" value 5 is infinite");

	s = spec2("42");
	memcpy(boxes, boxes2, sizeof(boxes));
	boxes[6] = 641;
	s.boxes = boxes;
	expect_tsv_error(&s, 1, "line 2 (image 42): box 1 has x2 = 641, outside the 640 x 480 image");
	boxes[6] = 640;
	boxes[1] = -1;
	expect_tsv_error(&s, 0, "line 2 (image 42): box 0 has y1 = -1, outside the 640 x 480 image");
	boxes[1] = NAN;
	expect_tsv_error(&s, 0, "line 2 (image 42): box 0 has y1 = nan, outside the 640 x 480 image");
	/* within the slack LXMERT allows */
	boxes[1] = -0.001f;
	boxes[6] = 640.005f;
	{
		Buf			b = {0};

		add_line(&b, &s, 1, "\n");
		assert_int_equal(read_all(&b, 0, NULL), 1);
		free(b.data);
	}
}

static void
test_duplicate_image(void **state)
{
	Buf			b = {0};
	Spec		s = spec2("COCO_val2014_000000000042");
	int			i;

	(void) state;
	add_line(&b, &s, 1, "\n");
	/* enough other ids to make the set grow */
	for (i = 0; i < 3000; i++)
	{
		char		id[32];

		snprintf(id, sizeof(id), "COCO_train2014_%012d", 100 + i);
		s.id = id;
		add_line(&b, &s, 1, "\n");
	}
	s.id = "COCO_train2014_000000000042";
	add_line(&b, &s, 1, "\n");
	assert_int_equal(read_all(&b, -1, "line 3002 (image 42): image 42 appears twice in the file"), 3001);
	free(b.data);
}

/* Full-size lines (36 x 2048 floats) through a file, across read buffers. */
static void
test_big_lines_file(void **state)
{
	const int	n_images = 24,
				nb = 36,
				dim = 2048;
	float	   *feat = malloc((size_t) nb * dim * sizeof(float));
	float		boxes[36 * 4];
	char		path[64] = "/tmp/vqa_tsv_test_XXXXXX";
	Buf			b = {0};
	FILE	   *f;
	int			fd;
	int			i,
				k;
	char		err[256];
	VqaTsvReader *r;
	VqaImageFeatures img;

	(void) state;
	for (k = 0; k < nb; k++)
	{
		boxes[4 * k] = (float) k;
		boxes[4 * k + 1] = (float) k * 2;
		boxes[4 * k + 2] = (float) k + 100;
		boxes[4 * k + 3] = (float) k * 2 + 50;
	}
	for (i = 0; i < n_images; i++)
	{
		Spec		s = {NULL, 800, 600, nb, -1, boxes, nb * 4, feat, nb * dim, NULL, 0};
		char		id[32];

		for (k = 0; k < nb * dim; k++)
			feat[k] = (float) (i * 1000 + k % 997) * 0.25f;
		snprintf(id, sizeof(id), "COCO_val2014_%012d", i + 1);
		s.id = id;
		add_line(&b, &s, 1, i % 2 ? "\r\n" : "\n");
	}
	assert_true(b.len > 8 * 1024 * 1024);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
	fclose(f);

	r = vqa_tsv_open(path, err, sizeof(err));
	assert_non_null(r);
	for (i = 0; i < n_images; i++)
	{
		assert_int_equal(vqa_tsv_next(r, &img), 1);
		assert_int_equal(img.image_id, i + 1);
		assert_int_equal(img.num_boxes, nb);
		assert_int_equal(img.feature_dim, dim);
		assert_true(img.boxes[4 * 35 + 2] == 135.0f / 800.0f);
		assert_true(img.boxes[4 * 35 + 3] == 120.0f / 600.0f);
		assert_true(img.features[0] == (float) (i * 1000) * 0.25f);
		assert_true(img.features[nb * dim - 1] == (float) (i * 1000 + (nb * dim - 1) % 997) * 0.25f);
	}
	assert_int_equal(vqa_tsv_next(r, &img), 0);
	assert_int_equal(vqa_tsv_bytes(r), b.len);
	vqa_tsv_close(r);
	unlink(path);
	free(b.data);
	free(feat);
}

static void
test_open_errors(void **state)
{
	char		err[256] = "";

	(void) state;
	assert_null(vqa_tsv_open("/nonexistent/dir/f.tsv", err, sizeof(err)));
	assert_string_equal(err, "could not open \"/nonexistent/dir/f.tsv\": No such file or directory");
	vqa_tsv_close(NULL);
}

/* The project's own test data (test/data). */
static VqaTsvReader *
open_data(const char *name)
{
	char		path[1024];
	char		err[256] = "";
	VqaTsvReader *r;

	snprintf(path, sizeof(path), "%s/%s", unit_data_dir(), name);
	r = vqa_tsv_open(path, err, sizeof(err));
	if (r == NULL)
		fail_msg("%s", err);
	return r;
}

static void
expect_data_error(const char *name, int n_ok, const char *message)
{
	VqaTsvReader *r = open_data(name);
	VqaImageFeatures img;
	int			n = 0;
	int			rc;

	while ((rc = vqa_tsv_next(r, &img)) == 1)
		n++;
	assert_int_equal(rc, -1);
	assert_string_equal(vqa_tsv_error(r), message);
	assert_int_equal(n, n_ok);
	vqa_tsv_close(r);
}

static void
test_data_files(void **state)
{
	VqaTsvReader *lx = open_data("features_lxmert.tsv");
	VqaTsvReader *bu = open_data("features_bottomup.tsv");
	VqaImageFeatures a,
				b;
	int			n = 0;

	(void) state;
	while (vqa_tsv_next(lx, &a) == 1)
	{
		assert_int_equal(vqa_tsv_next(bu, &b), 1);
		assert_int_equal(a.image_id, n + 1);
		assert_int_equal(a.image_id, b.image_id);
		assert_int_equal(a.image_w, b.image_w);
		assert_int_equal(a.image_h, b.image_h);
		assert_int_equal(a.num_boxes, 4);
		assert_int_equal(a.feature_dim, 8);
		assert_int_equal(b.feature_dim, 8);
		assert_memory_equal(a.boxes, b.boxes, 4 * 4 * sizeof(float));
		assert_memory_equal(a.features, b.features, 4 * 8 * sizeof(float));
		if (n == 0)
		{
			/* image 1 is 640 x 480, its first box (64, 48, 320, 240) */
			assert_int_equal(a.image_w, 640);
			assert_int_equal(a.image_h, 480);
			assert_true(a.boxes[0] == 0.1f);
			assert_true(a.boxes[1] == 0.1f);
			assert_true(a.boxes[2] == 0.5f);
			assert_true(a.boxes[3] == 0.5f);
		}
		n++;
	}
	assert_int_equal(n, 6);
	assert_int_equal(vqa_tsv_next(bu, &b), 0);
	assert_int_equal(vqa_tsv_layout(lx), VQA_TSV_LXMERT);
	assert_int_equal(vqa_tsv_layout(bu), VQA_TSV_BOTTOM_UP);
	vqa_tsv_close(lx);
	vqa_tsv_close(bu);

	expect_data_error("bad_base64.tsv", 2, "line 3 (image 3): field \"features\" is not valid base64");
	expect_data_error("box_count_mismatch.tsv", 1,
					  "line 2 (image 2): \"boxes\" holds 12 floats, expected 4 x num_boxes = 16");
	expect_data_error("nan_features.tsv", 3, "line 4 (image 4): \"features\" value 17 is NaN");
	expect_data_error("inf_features.tsv", 4, "line 5 (image 5): \"features\" value 30 is infinite");
	expect_data_error("duplicate_images.tsv", 6, "line 7 (image 2): image 2 appears twice in the file");
}

int
run_features_tsv_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_invalid),
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_width_height_order),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_image_ids),
		cmocka_unit_test(test_field_errors),
		cmocka_unit_test(test_base64_errors),
		cmocka_unit_test(test_length_errors),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_duplicate_image),
		cmocka_unit_test(test_big_lines_file),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_data_files),
	};

	return UNIT_GROUP(features_tsv, tests, n_tests);
}
