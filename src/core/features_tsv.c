/*
 * features_tsv.c: streaming reader of Faster R-CNN region feature TSV files.
 *
 * Each line describes one image; two layouts exist, told apart by the number
 * of tab-separated fields (every line of a file must use the same one):
 *
 *   LXMERT obj36 (10): img_id img_h img_w objects_id objects_conf attrs_id
 *                      attrs_conf num_boxes boxes features
 *   bottom-up    (6):  image_id image_w image_h num_boxes boxes features
 *
 * Note that LXMERT puts the height first and bottom-up the width. Arrays are
 * base64 of little-endian float32 (int64 for objects_id and attrs_id). The
 * object and attribute arrays are decoded only to check their lengths.
 *
 * Lines are large (36 boxes x 2048 floats is ~400 KB of base64), so input is
 * read in 4 MB freads into a growable buffer and lines are found with memchr;
 * arrays are decoded straight into the float buffers handed out, which are
 * reused from one image to the next. Boxes come out normalised by the image
 * size, as LXMERT feeds them to its model, and a coordinate outside the image
 * is an error, as LXMERT asserts. Features must be finite and of the same
 * dimension for every image of the file; an image id may appear only once.
 */
#include "vqaprune/error.h"
#include "vqaprune/features_tsv.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_SIZE (4 * 1024 * 1024)
#define ERROR_LEN 512
#define MAX_FIELDS 10
#define BOX_SLACK 1e-5f


#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VQA_BIG_ENDIAN 1
#endif

/* Open-addressing set of the image ids seen (ids are >= 0; -1 is empty). */
typedef struct IdSet
{
	int64_t    *slots;
	size_t		cap;			/* a power of two */
	size_t		count;
} IdSet;

struct VqaTsvReader
{
	/* input: a file read into buf, or a caller's buffer used in place */
	FILE	   *file;
	unsigned char *buf;
	const char *base;			/* buf, or the caller's data */
	size_t		cap;
	size_t		start;			/* first byte not yet consumed */
	size_t		end;			/* end of the bytes read */
	size_t		scanned;		/* bytes after start known to hold no \n */
	bool		eof;

	size_t		bytes;
	long		line_no;
	bool		layout_known;
	VqaTsvLayout layout;
	int			feature_dim;	/* 0 until the first image */
	bool		failed;

	/* decoded arrays, reused from line to line (float32 once decoded) */
	unsigned char *boxes;
	size_t		boxes_cap;
	unsigned char *features;
	size_t		features_cap;
	unsigned char *scratch;		/* object and attribute arrays */
	size_t		scratch_cap;

	IdSet		seen;
	char		error[ERROR_LEN];
};

/* The fields of one line, and the names the current layout gives them. */
typedef struct Line
{
	const char *f[MAX_FIELDS];
	size_t		len[MAX_FIELDS];
	int64_t		image_id;
	bool		has_id;
} Line;

static int	tsv_error(VqaTsvReader *r, const Line *line, const char *fmt,...) CHECK_FORMAT(3, 4);

static int
tsv_error(VqaTsvReader *r, const Line *line, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (line != NULL && line->has_id)
		n = snprintf(r->error, sizeof(r->error), "line %ld (image %lld): ",
					 r->line_no, (long long) line->image_id);
	else
		n = snprintf(r->error, sizeof(r->error), "line %ld: ", r->line_no);
	va_start(ap, fmt);
	vsnprintf(r->error + n, sizeof(r->error) - n, fmt, ap);
	va_end(ap);
	r->failed = true;
	return -1;
}

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Adds id; 1 if added, 0 if already there, -1 out of memory. */
static int
idset_add(IdSet *set, int64_t id)
{
	size_t		i;

	if ((set->count + 1) * 2 > set->cap)
	{
		size_t		cap = set->cap ? set->cap * 2 : 1024;
		int64_t    *slots = malloc(cap * sizeof(*slots));
		size_t		j;

		if (slots == NULL)
			return -1;
		memset(slots, 0xFF, cap * sizeof(*slots));	/* all -1 */
		for (j = 0; j < set->cap; j++)
		{
			if (set->slots[j] < 0)
				continue;
			i = mix64((uint64_t) set->slots[j]) & (cap - 1);
			while (slots[i] >= 0)
				i = (i + 1) & (cap - 1);
			slots[i] = set->slots[j];
		}
		free(set->slots);
		set->slots = slots;
		set->cap = cap;
	}
	i = mix64((uint64_t) id) & (set->cap - 1);
	while (set->slots[i] >= 0)
	{
		if (set->slots[i] == id)
			return 0;
		i = (i + 1) & (set->cap - 1);
	}
	set->slots[i] = id;
	set->count++;
	return 1;
}

static bool
all_digits(const char *s, size_t len)
{
	size_t		i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Decimal digits to int64; false on overflow. */
static bool
digits_to_int64(const char *s, size_t len, int64_t *out)
{
	int64_t		v = 0;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		int			d = s[i] - '0';

		if (v > (INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* "COCO_val2014_000000012345" -> 12345, "12345" -> 12345. */
static bool
parse_image_id(const char *s, size_t len, int64_t *out)
{
	const char *digits = s;
	size_t		i;

	for (i = len; i > 0; i--)
	{
		if (s[i - 1] == '_')
		{
			digits = s + i;
			break;
		}
	}
	len -= (size_t) (digits - s);
	return all_digits(digits, len) && digits_to_int64(digits, len, out);
}

static int
parse_positive(VqaTsvReader *r, const Line *line, int idx, const char *name, int *out)
{
	int64_t		v;

	if (!all_digits(line->f[idx], line->len[idx]) ||
		!digits_to_int64(line->f[idx], line->len[idx], &v) ||
		v <= 0 || v > INT_MAX)
		return tsv_error(r, line, "field \"%s\" must be a positive integer, found \"%.*s\"",
						 name, (int) (line->len[idx] > 40 ? 40 : line->len[idx]),
						 line->f[idx]);
	*out = (int) v;
	return 0;
}

/* Makes sure *buf holds at least need bytes. */
static bool
reserve(unsigned char **buf, size_t *cap, size_t need)
{
	unsigned char *grown;

	if (*cap >= need)
		return true;
	grown = realloc(*buf, need);
	if (grown == NULL)
		return false;
	*buf = grown;
	*cap = need;
	return true;
}

/*
 * Decodes array field idx into *buf (grown as needed); returns the number of
 * bytes, or -1 with the error set.
 */
static long
decode_field(VqaTsvReader *r, const Line *line, int idx, const char *name,
			 unsigned char **buf, size_t *cap)
{
	size_t		len = line->len[idx];
	long		n;

	if (!reserve(buf, cap, len / 4 * 3 + 8))
		return tsv_error(r, line, "out of memory");
	n = vqa_base64_decode(line->f[idx], len, *buf);
	if (n < 0)
		return tsv_error(r, line, "field \"%s\" is not valid base64", name);
	return n;
}

/* Checks the length of an objects/attributes array; its values are unused. */
static int
check_side_array(VqaTsvReader *r, const Line *line, int idx, const char *name,
				 int elem_size, int num_boxes)
{
	long		n = decode_field(r, line, idx, name, &r->scratch, &r->scratch_cap);

	if (n < 0)
		return -1;
	if (n % elem_size != 0)
		return tsv_error(r, line, "\"%s\" holds %ld bytes, not a whole number of %s values",
						 name, n, elem_size == 8 ? "int64" : "float32");
	if (n / elem_size != num_boxes)
		return tsv_error(r, line, "\"%s\" holds %ld %s, expected num_boxes = %d",
						 name, n / elem_size, elem_size == 8 ? "int64 values" : "floats",
						 num_boxes);
	return 0;
}

/* Little-endian float32 in place to the host's order (nothing to do on x86). */
static void
floats_from_le(float *a, size_t n)
{
#ifdef VQA_BIG_ENDIAN
	size_t		i;

	for (i = 0; i < n; i++)
	{
		uint32_t	u;

		memcpy(&u, &a[i], 4);
		u = __builtin_bswap32(u);
		memcpy(&a[i], &u, 4);
	}
#else
	(void) a;
	(void) n;
#endif
}

/* Index of the first NaN or infinite value, or -1; a branch-free scan first. */
static long
first_non_finite(const float *a, size_t n)
{
	uint32_t	bad = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		uint32_t	u;

		memcpy(&u, &a[i], 4);
		bad |= (u & 0x7f800000u) == 0x7f800000u;
	}
	if (!bad)
		return -1;
	for (i = 0; i < n; i++)
	{
		uint32_t	u;

		memcpy(&u, &a[i], 4);
		if ((u & 0x7f800000u) == 0x7f800000u)
			return (long) i;
	}
	return -1;
}

/* Parses, decodes and checks one non-empty line into out. */
static int
parse_line(VqaTsvReader *r, const char *text, size_t len, VqaImageFeatures *out)
{
	static const char *const coord_names[4] = {"x1", "y1", "x2", "y2"};
	Line		line;
	int			n_fields = 0;
	const char *p = text;
	const char *stop = text + len;
	bool		lxmert;
	const char *id_name;
	int			i_boxes,
				i_features;
	int			w,
				h,
				num_boxes;
	long		n;
	size_t		n_floats;
	long		k;
	int			b;
	float	   *boxes;
	float	   *features;

	/* split on tabs, counting them all for the error message */
	for (;;)
	{
		const char *tab = memchr(p, '\t', (size_t) (stop - p));
		const char *fend = tab ? tab : stop;

		if (n_fields < MAX_FIELDS)
		{
			line.f[n_fields] = p;
			line.len[n_fields] = (size_t) (fend - p);
		}
		n_fields++;
		if (tab == NULL)
			break;
		p = tab + 1;
	}
	line.has_id = false;

	if (n_fields != 10 && n_fields != 6)
		return tsv_error(r, NULL, "expected 10 fields (LXMERT) or 6 fields (bottom-up), found %d",
						 n_fields);
	lxmert = n_fields == 10;
	if (!r->layout_known)
	{
		r->layout = lxmert ? VQA_TSV_LXMERT : VQA_TSV_BOTTOM_UP;
		r->layout_known = true;
	}
	else if ((r->layout == VQA_TSV_LXMERT) != lxmert)
		return tsv_error(r, NULL, "found %d fields, but the first line has %d (%s)",
						 n_fields, lxmert ? 6 : 10, lxmert ? "bottom-up" : "LXMERT");

	id_name = lxmert ? "img_id" : "image_id";
	if (!parse_image_id(line.f[0], line.len[0], &line.image_id))
		return tsv_error(r, NULL, "field \"%s\" is not an image id: \"%.*s\"", id_name,
						 (int) (line.len[0] > 40 ? 40 : line.len[0]), line.f[0]);
	line.has_id = true;
	switch (idset_add(&r->seen, line.image_id))
	{
		case 0:
			return tsv_error(r, &line, "image %lld appears twice in the file",
							 (long long) line.image_id);
		case -1:
			return tsv_error(r, &line, "out of memory");
	}

	if (lxmert)
	{
		if (parse_positive(r, &line, 1, "img_h", &h) < 0 ||
			parse_positive(r, &line, 2, "img_w", &w) < 0 ||
			parse_positive(r, &line, 7, "num_boxes", &num_boxes) < 0)
			return -1;
		if (check_side_array(r, &line, 3, "objects_id", 8, num_boxes) < 0 ||
			check_side_array(r, &line, 4, "objects_conf", 4, num_boxes) < 0 ||
			check_side_array(r, &line, 5, "attrs_id", 8, num_boxes) < 0 ||
			check_side_array(r, &line, 6, "attrs_conf", 4, num_boxes) < 0)
			return -1;
		i_boxes = 8;
		i_features = 9;
	}
	else
	{
		if (parse_positive(r, &line, 1, "image_w", &w) < 0 ||
			parse_positive(r, &line, 2, "image_h", &h) < 0 ||
			parse_positive(r, &line, 3, "num_boxes", &num_boxes) < 0)
			return -1;
		i_boxes = 4;
		i_features = 5;
	}

	/* boxes: x1 y1 x2 y2 in pixels -> fractions of the image */
	n = decode_field(r, &line, i_boxes, "boxes", &r->boxes, &r->boxes_cap);
	if (n < 0)
		return -1;
	if (n % 4 != 0)
		return tsv_error(r, &line, "\"boxes\" holds %ld bytes, not a whole number of float32 values", n);
	if (n / 4 != 4L * num_boxes)
		return tsv_error(r, &line, "\"boxes\" holds %ld floats, expected 4 x num_boxes = %ld",
						 n / 4, 4L * num_boxes);
	boxes = (float *) r->boxes;
	floats_from_le(boxes, (size_t) n / 4);
	for (b = 0; b < num_boxes; b++)
	{
		float	   *box = boxes + 4 * b;
		int			c;

		for (c = 0; c < 4; c++)
		{
			float		pixels = box[c];
			int			size = (c % 2 == 0) ? w : h;
			float		v = pixels / (float) size;

			/* written so that NaN fails too */
			if (!(v >= -BOX_SLACK && v <= 1.0f + BOX_SLACK))
				return tsv_error(r, &line, "box %d has %s = %g, outside the %d x %d image",
								 b, coord_names[c], (double) pixels, w, h);
			box[c] = v;
		}
	}

	/* features: num_boxes x dim */
	n = decode_field(r, &line, i_features, "features", &r->features, &r->features_cap);
	if (n < 0)
		return -1;
	if (n % 4 != 0)
		return tsv_error(r, &line, "\"features\" holds %ld bytes, not a whole number of float32 values", n);
	n_floats = (size_t) n / 4;
	if (n_floats == 0 || n_floats % (size_t) num_boxes != 0)
		return tsv_error(r, &line, "\"features\" holds %zu floats, not a multiple of num_boxes = %d",
						 n_floats, num_boxes);
	if (n_floats / (size_t) num_boxes > INT_MAX)
		return tsv_error(r, &line, "feature dimension too large");
	if (r->feature_dim != 0 && (int) (n_floats / (size_t) num_boxes) != r->feature_dim)
		return tsv_error(r, &line, "feature dimension %zu differs from %d of the first image",
						 n_floats / (size_t) num_boxes, r->feature_dim);
	features = (float *) r->features;
	floats_from_le(features, n_floats);
	k = first_non_finite(features, n_floats);
	if (k >= 0)
		return tsv_error(r, &line, "\"features\" value %ld is %s", k,
						 features[k] != features[k] ? "NaN" : "infinite");
	r->feature_dim = (int) (n_floats / (size_t) num_boxes);

	out->image_id = line.image_id;
	out->image_w = w;
	out->image_h = h;
	out->num_boxes = num_boxes;
	out->feature_dim = r->feature_dim;
	out->boxes = boxes;
	out->features = features;
	return 1;
}

/*
 * The next line, without its \n; 1, 0 at the end of the input, -1 on a read
 * error. The line stays valid until the next call.
 */
static int
next_line(VqaTsvReader *r, const char **line, size_t *len)
{
	for (;;)
	{
		const char *from = r->base + r->start;
		const char *nl = memchr(from + r->scanned, '\n', r->end - r->start - r->scanned);
		size_t		n;

		if (nl != NULL)
		{
			*line = from;
			*len = (size_t) (nl - from);
			r->start += *len + 1;
			r->bytes += *len + 1;
			r->scanned = 0;
			return 1;
		}
		r->scanned = r->end - r->start;
		if (r->eof)
		{
			if (r->end == r->start)
				return 0;
			*line = from;
			*len = r->end - r->start;
			r->bytes += *len;
			r->start = r->end;
			r->scanned = 0;
			return 1;
		}

		/* keep the partial line, then read more after it */
		if (r->start > 0)
		{
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->cap - r->end < READ_SIZE / 2)
		{
			if (!reserve(&r->buf, &r->cap, r->cap * 2))
			{
				tsv_error(r, NULL, "out of memory");
				return -1;
			}
			r->base = (const char *) r->buf;
		}
		n = fread(r->buf + r->end, 1, r->cap - r->end, r->file);
		if (n == 0)
		{
			if (ferror(r->file))
			{
				tsv_error(r, NULL, "could not read the file: %s", strerror(errno));
				return -1;
			}
			r->eof = true;
		}
		r->end += n;
	}
}

int
vqa_tsv_next(VqaTsvReader *reader, VqaImageFeatures *out)
{
	VqaTsvReader *r = reader;
	const char *line;
	size_t		len;
	int			rc;

	if (r->failed)
		return -1;
	for (;;)
	{
		rc = next_line(r, &line, &len);
		if (rc <= 0)
			return rc;
		r->line_no++;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len > 0)
			break;
	}
	return parse_line(r, line, len, out);
}

VqaTsvReader *
vqa_tsv_open(const char *path, char *errbuf, size_t errlen)
{
	VqaTsvReader *r = calloc(1, sizeof(*r));

	if (r == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory");
		return NULL;
	}
	r->file = fopen(path, "rb");
	if (r->file == NULL)
	{
		vqa_set_error(errbuf, errlen, "could not open \"%s\": %s", path, strerror(errno));
		vqa_tsv_close(r);
		return NULL;
	}
	r->cap = READ_SIZE;
	r->buf = malloc(r->cap);
	if (r->buf == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory");
		vqa_tsv_close(r);
		return NULL;
	}
	r->base = (const char *) r->buf;
	return r;
}

VqaTsvReader *
vqa_tsv_open_buffer(const char *data, size_t len, char *errbuf, size_t errlen)
{
	VqaTsvReader *r = calloc(1, sizeof(*r));

	if (r == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory");
		return NULL;
	}
	r->base = data;
	r->end = len;
	r->eof = true;
	return r;
}

const char *
vqa_tsv_error(const VqaTsvReader *reader)
{
	return reader->error;
}

VqaTsvLayout
vqa_tsv_layout(const VqaTsvReader *reader)
{
	return reader->layout;
}

size_t
vqa_tsv_bytes(const VqaTsvReader *reader)
{
	return reader->bytes;
}

void
vqa_tsv_close(VqaTsvReader *reader)
{
	if (reader == NULL)
		return;
	if (reader->file)
		fclose(reader->file);
	free(reader->buf);
	free(reader->boxes);
	free(reader->features);
	free(reader->scratch);
	free(reader->seen.slots);
	free(reader);
}
