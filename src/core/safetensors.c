/*
 * safetensors.c: reader and writer of HuggingFace safetensors files.
 *
 * Reading. The whole file is in memory (vqa_st_open reads it; vqa_st_parse
 * borrows the caller's buffer). The JSON header is parsed with yajl's tree
 * API and the tree is kept: tensor names and metadata point into it, so no
 * string is copied. Everything is validated before the object is returned,
 * so readers never see an offset or size they cannot trust; the checks are
 * listed in safetensors.h and each failure names the tensor at fault.
 *
 * yajl's tree parser is lenient where safetensors is not, and it works on
 * NUL-terminated text, so the header is first scanned by prescan_header:
 * strict UTF-8 (no overlong forms or surrogates), no raw NUL and no \u0000
 * escape (either would silently cut a name short), no lone surrogate escape
 * (yajl turns \ud800 into '?'), no comments (yajl_tree allows them), and a
 * small nesting limit (yajl_tree_free recurses; a valid header nests three
 * deep).
 *
 * Tensors are kept sorted by data offsets (file order) for vqa_st_tensor and
 * the overlap check, and through a second index sorted by name for
 * vqa_st_find and the duplicate check.
 *
 * Conversions. F16 and BF16 are widened to float32 by bit manipulation: every
 * half and bfloat value is exactly representable as a float, so the result
 * is exact, and NaN payloads are kept. Bytes are assembled as little-endian
 * whatever the host; on hosts known at compile time to be little-endian, F32
 * is a plain memcpy.
 *
 * Writing. The writer copies each tensor's floats, then lays the file out as
 * the reference implementation does: "__metadata__" first, tensors in the
 * order added with contiguous offsets, the header padded with spaces to a
 * multiple of 8 bytes so the data starts 8-byte aligned.
 */
#include "vqaprune/error.h"
#include "vqaprune/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yajl/yajl_tree.h>


#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
	__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_IS_LITTLE_ENDIAN 1
#else
#define HOST_IS_LITTLE_ENDIAN 0
#endif

/* Deeper JSON than this is refused; a valid header nests 3 deep. */
#define MAX_HEADER_DEPTH 64

#define METADATA_KEY "__metadata__"
#define ERROR_LEN 512

struct VqaSafetensors
{
	const unsigned char *data;	/* the data buffer, after the header */
	size_t		data_len;
	unsigned char *owned;		/* the file, when vqa_st_open read it */
	yajl_val	header;			/* parse tree; names point into it */
	yajl_val	metadata;		/* the "__metadata__" object, or NULL */
	int			count;
	VqaStTensor *tensors;		/* sorted by data offsets */
	const VqaStTensor **by_name;	/* sorted by name */
};

typedef struct WriterTensor
{
	char	   *name;
	int			ndim;
	int64_t		shape[VQA_ST_MAX_DIMS];
	int64_t		numel;
	float	   *data;
} WriterTensor;

struct VqaStWriter
{
	WriterTensor *tensors;
	int			count;
	int			capacity;
	char	  **meta_keys;
	char	  **meta_values;
	int			meta_count;
	int			meta_capacity;
	bool		failed;
	char		error[ERROR_LEN];
};

/* A growable string for building the header. */
typedef struct StrBuf
{
	char	   *data;
	size_t		len;
	size_t		capacity;
	bool		oom;
} StrBuf;

static const char *const dtype_names[] = {"F32", "F16", "BF16", "I64", "I32"};
static const size_t dtype_sizes[] = {4, 2, 2, 8, 4};

#define N_DTYPES ((int) (sizeof(dtype_names) / sizeof(dtype_names[0])))

static int	writer_fail(VqaStWriter *w, const char *fmt,...) CHECK_FORMAT(2, 3);
static void strbuf_printf(StrBuf *sb, const char *fmt,...) CHECK_FORMAT(2, 3);

size_t
vqa_st_dtype_size(VqaStDtype dtype)
{
	return (int) dtype >= 0 && (int) dtype < N_DTYPES ? dtype_sizes[dtype] : 0;
}

const char *
vqa_st_dtype_name(VqaStDtype dtype)
{
	return (int) dtype >= 0 && (int) dtype < N_DTYPES ? dtype_names[dtype] : "?";
}

/* ---------------------------------------------------------------- bytes */

static uint16_t
load_le16(const unsigned char *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
load_le32(const unsigned char *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static uint64_t
load_le64(const unsigned char *p)
{
	return (uint64_t) load_le32(p) | ((uint64_t) load_le32(p + 4) << 32);
}

static void
store_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) v;
	p[1] = (unsigned char) (v >> 8);
	p[2] = (unsigned char) (v >> 16);
	p[3] = (unsigned char) (v >> 24);
}

static void
store_le64(unsigned char *p, uint64_t v)
{
	store_le32(p, (uint32_t) v);
	store_le32(p + 4, (uint32_t) (v >> 32));
}

/* Writes n floats as little-endian bytes. */
static void
store_le_f32(unsigned char *dst, const float *src, size_t n)
{
#if HOST_IS_LITTLE_ENDIAN
	memcpy(dst, src, n * sizeof(float));
#else
	size_t		i;

	for (i = 0; i < n; i++)
	{
		uint32_t	bits;

		memcpy(&bits, &src[i], sizeof(bits));
		store_le32(dst + 4 * i, bits);
	}
#endif
}

/*
 * IEEE half to float bits. Normal numbers rebias the exponent (127 - 15);
 * subnormals (mant * 2^-24) are normalised by shifting the leading 1 up to
 * the implicit bit; infinities and NaNs keep their payload.
 */
static uint32_t
f16_to_f32_bits(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exponent = (h >> 10) & 0x1f;
	uint32_t	mantissa = h & 0x3ff;

	if (exponent == 0x1f)
		return sign | 0x7f800000 | (mantissa << 13);
	if (exponent != 0)
		return sign | ((exponent + 112) << 23) | (mantissa << 13);
	if (mantissa == 0)
		return sign;
	exponent = 113;				/* biased exponent of 2^-14 */
	while ((mantissa & 0x400) == 0)
	{
		mantissa <<= 1;
		exponent--;
	}
	return sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
}

/* bfloat16 is the top half of a float32. */
static uint32_t
bf16_to_f32_bits(uint16_t h)
{
	return (uint32_t) h << 16;
}

/* ---------------------------------------------------------------- header scan */

/* Length of the strict UTF-8 character at s, or 0 if it is not one. */
static size_t
utf8_char_length(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80;
	unsigned char hi = 0xbf;
	size_t		len;
	size_t		i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
	{
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;			/* overlong */
		else if (c == 0xed)
			hi = 0x9f;			/* surrogates */
	}
	else if (c >= 0xf0 && c <= 0xf4)
	{
		len = 4;
		if (c == 0xf0)
			lo = 0x90;			/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;			/* above U+10FFFF */
	}
	else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static bool
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		n = strlen(s);

	while (n > 0)
	{
		size_t		len = utf8_char_length(p, n);

		if (len == 0)
			return false;
		p += len;
		n -= len;
	}
	return true;
}

/* The value of 4 hex digits at s, or -1 if there are not 4 of them. */
static long
hex4(const unsigned char *s, size_t n)
{
	long		value = 0;
	size_t		i;

	if (n < 4)
		return -1;
	for (i = 0; i < 4; i++)
	{
		int			c = s[i];

		if (c >= '0' && c <= '9')
			value = value * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			value = value * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			value = value * 16 + (c - 'A' + 10);
		else
			return -1;
	}
	return value;
}

static bool
is_surrogate(long codepoint)
{
	return codepoint >= 0xd800 && codepoint <= 0xdfff;
}

/*
 * What yajl_tree would let through or mishandle: see the file comment.
 * Anything else wrong with the JSON is left to yajl to report.
 */
static bool
prescan_header(const unsigned char *h, size_t n, char *errbuf, size_t errlen)
{
	bool		in_string = false;
	int			depth = 0;
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = h[i];

		if (c == 0)
		{
			vqa_set_error(errbuf, errlen, "header has a NUL byte at offset %zu", i);
			return false;
		}
		if (c >= 0x80)
		{
			size_t		len = utf8_char_length(h + i, n - i);

			if (len == 0)
			{
				vqa_set_error(errbuf, errlen, "header is not valid UTF-8 at offset %zu", i);
				return false;
			}
			i += len;
			continue;
		}
		if (in_string)
		{
			if (c == '\\' && i + 1 < n)
			{
				if (h[i + 1] == '\\' || h[i + 1] == '"')
				{
					i += 2;		/* an escaped quote does not end the string */
					continue;
				}
				if (h[i + 1] == 'u' && hex4(h + i + 2, n - i - 2) == 0)
				{
					vqa_set_error(errbuf, errlen,
							  "header has a \\u0000 escape at offset %zu: names and metadata must be NUL-free", i);
					return false;
				}
				if (h[i + 1] == 'u' && is_surrogate(hex4(h + i + 2, n - i - 2)))
				{
					long		high = hex4(h + i + 2, n - i - 2);
					long		low = n - i >= 8 && h[i + 6] == '\\' && h[i + 7] == 'u' ?
						hex4(h + i + 8, n - i - 8) : -1;

					if (high >= 0xdc00 || low < 0xdc00 || low > 0xdfff)
					{
						vqa_set_error(errbuf, errlen, "header has a lone surrogate \\u escape at offset %zu", i);
						return false;
					}
					i += 12;
					continue;
				}
			}
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > MAX_HEADER_DEPTH)
			{
				vqa_set_error(errbuf, errlen, "header JSON nests deeper than %d levels", MAX_HEADER_DEPTH);
				return false;
			}
		}
		else if (c == '}' || c == ']')
			depth--;
		else if (c == '/')
		{
			vqa_set_error(errbuf, errlen, "header is not valid JSON: comment or stray '/' at offset %zu", i);
			return false;
		}
		i++;
	}
	return true;
}

/* ---------------------------------------------------------------- header entries */

static bool
parse_metadata(yajl_val v, char *errbuf, size_t errlen)
{
	size_t		i;

	if (!YAJL_IS_OBJECT(v))
	{
		vqa_set_error(errbuf, errlen, "\"%s\" is not an object", METADATA_KEY);
		return false;
	}
	for (i = 0; i < v->u.object.len; i++)
	{
		if (!YAJL_IS_STRING(v->u.object.values[i]))
		{
			vqa_set_error(errbuf, errlen, "\"%s\" entry \"%s\" is not a string",
					  METADATA_KEY, v->u.object.keys[i]);
			return false;
		}
		if (!utf8_valid(v->u.object.keys[i]) || !utf8_valid(v->u.object.values[i]->u.string))
		{
			vqa_set_error(errbuf, errlen, "\"%s\" has a string that is not valid UTF-8",
					  METADATA_KEY);
			return false;
		}
	}
	return true;
}

/* The field of an entry; *twice is set if it appears more than once. */
static yajl_val
entry_field(yajl_val entry, const char *field, bool *twice)
{
	yajl_val	found = NULL;
	size_t		i;

	for (i = 0; i < entry->u.object.len; i++)
	{
		if (strcmp(entry->u.object.keys[i], field) == 0)
		{
			if (found != NULL)
				*twice = true;
			found = entry->u.object.values[i];
		}
	}
	return found;
}

static bool
parse_dtype(yajl_val v, const char *name, VqaStDtype *dtype,
			char *errbuf, size_t errlen)
{
	int			i;

	if (!YAJL_IS_STRING(v))
	{
		vqa_set_error(errbuf, errlen, "tensor \"%s\": \"dtype\" is not a string", name);
		return false;
	}
	for (i = 0; i < N_DTYPES; i++)
	{
		if (strcmp(v->u.string, dtype_names[i]) == 0)
		{
			*dtype = (VqaStDtype) i;
			return true;
		}
	}
	vqa_set_error(errbuf, errlen,
			  "tensor \"%s\": unsupported dtype \"%s\" (supported: F32, F16, BF16, I64, I32)",
			  name, v->u.string);
	return false;
}

static bool
parse_shape(yajl_val v, const char *name, VqaStTensor *t,
			char *errbuf, size_t errlen)
{
	bool		has_zero = false;
	size_t		i;

	if (!YAJL_IS_ARRAY(v))
	{
		vqa_set_error(errbuf, errlen, "tensor \"%s\": \"shape\" is not an array", name);
		return false;
	}
	if (v->u.array.len > VQA_ST_MAX_DIMS)
	{
		vqa_set_error(errbuf, errlen, "tensor \"%s\": shape has %zu dimensions, more than %d",
				  name, v->u.array.len, VQA_ST_MAX_DIMS);
		return false;
	}
	t->ndim = (int) v->u.array.len;
	for (i = 0; i < v->u.array.len; i++)
	{
		yajl_val	dim = v->u.array.values[i];

		if (!YAJL_IS_INTEGER(dim))
		{
			vqa_set_error(errbuf, errlen, "tensor \"%s\": shape[%zu] is not an integer", name, i);
			return false;
		}
		if (YAJL_GET_INTEGER(dim) < 0)
		{
			vqa_set_error(errbuf, errlen, "tensor \"%s\": shape[%zu] is negative (%lld)",
					  name, i, YAJL_GET_INTEGER(dim));
			return false;
		}
		t->shape[i] = YAJL_GET_INTEGER(dim);
		if (t->shape[i] == 0)
			has_zero = true;
	}

	/* A zero dimension makes the product 0 whatever the others are. */
	t->numel = has_zero ? 0 : 1;
	for (i = 0; i < v->u.array.len && !has_zero; i++)
	{
		if (t->numel > INT64_MAX / t->shape[i])
		{
			vqa_set_error(errbuf, errlen, "tensor \"%s\": number of elements overflows int64", name);
			return false;
		}
		t->numel *= t->shape[i];
	}
	return true;
}

static bool
parse_offsets(yajl_val v, const char *name, size_t data_len, VqaStTensor *t,
			  char *errbuf, size_t errlen)
{
	long long	begin;
	long long	end;
	int64_t		element_size = (int64_t) dtype_sizes[t->dtype];

	if (!YAJL_IS_ARRAY(v) || v->u.array.len != 2 ||
		!YAJL_IS_INTEGER(v->u.array.values[0]) ||
		!YAJL_IS_INTEGER(v->u.array.values[1]))
	{
		vqa_set_error(errbuf, errlen, "tensor \"%s\": \"data_offsets\" is not an array of two integers", name);
		return false;
	}
	begin = YAJL_GET_INTEGER(v->u.array.values[0]);
	end = YAJL_GET_INTEGER(v->u.array.values[1]);
	if (begin < 0 || end < 0)
	{
		vqa_set_error(errbuf, errlen, "tensor \"%s\": data_offsets [%lld, %lld] are negative",
				  name, begin, end);
		return false;
	}
	if (begin > end)
	{
		vqa_set_error(errbuf, errlen, "tensor \"%s\": data_offsets begin %lld is after end %lld",
				  name, begin, end);
		return false;
	}
	if ((unsigned long long) end > data_len)
	{
		vqa_set_error(errbuf, errlen, "tensor \"%s\": data_offsets end %lld is beyond the data buffer (%zu bytes)",
				  name, end, data_len);
		return false;
	}
	if (t->numel > INT64_MAX / element_size)
	{
		vqa_set_error(errbuf, errlen, "tensor \"%s\": size in bytes overflows int64", name);
		return false;
	}
	if (end - begin != t->numel * element_size)
	{
		vqa_set_error(errbuf, errlen,
				  "tensor \"%s\": data_offsets span %lld bytes but %lld %s elements need %lld",
				  name, end - begin, (long long) t->numel, dtype_names[t->dtype],
				  (long long) (t->numel * element_size));
		return false;
	}
	t->begin = (size_t) begin;
	t->end = (size_t) end;
	return true;
}

static bool
parse_entry(yajl_val entry, const char *name, size_t data_len, VqaStTensor *t,
			char *errbuf, size_t errlen)
{
	static const char *const fields[] = {"dtype", "shape", "data_offsets"};
	yajl_val	values[3];
	int			i;

	if (!YAJL_IS_OBJECT(entry))
	{
		vqa_set_error(errbuf, errlen, "tensor \"%s\": entry is not an object", name);
		return false;
	}
	for (i = 0; i < 3; i++)
	{
		bool		twice = false;

		values[i] = entry_field(entry, fields[i], &twice);
		if (values[i] == NULL)
		{
			vqa_set_error(errbuf, errlen, "tensor \"%s\": no \"%s\"", name, fields[i]);
			return false;
		}
		if (twice)
		{
			vqa_set_error(errbuf, errlen, "tensor \"%s\": \"%s\" appears twice", name, fields[i]);
			return false;
		}
	}
	t->name = name;
	return parse_dtype(values[0], name, &t->dtype, errbuf, errlen) &&
		parse_shape(values[1], name, t, errbuf, errlen) &&
		parse_offsets(values[2], name, data_len, t, errbuf, errlen);
}

static int
compare_by_offsets(const void *a, const void *b)
{
	const VqaStTensor *x = a;
	const VqaStTensor *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
compare_by_name(const void *a, const void *b)
{
	const VqaStTensor *x = *(const VqaStTensor *const *) a;
	const VqaStTensor *y = *(const VqaStTensor *const *) b;

	return strcmp(x->name, y->name);
}

static int
compare_name_key(const void *key, const void *element)
{
	const VqaStTensor *t = *(const VqaStTensor *const *) element;

	return strcmp((const char *) key, t->name);
}

/* Sorts the tensors and checks names are unique and byte ranges disjoint. */
static bool
index_tensors(VqaSafetensors *st, char *errbuf, size_t errlen)
{
	const VqaStTensor *previous = NULL;
	int			i;

	qsort(st->tensors, (size_t) st->count, sizeof(VqaStTensor), compare_by_offsets);
	for (i = 0; i < st->count; i++)
		st->by_name[i] = &st->tensors[i];
	qsort(st->by_name, (size_t) st->count, sizeof(VqaStTensor *), compare_by_name);

	for (i = 1; i < st->count; i++)
	{
		if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0)
		{
			vqa_set_error(errbuf, errlen, "duplicate tensor name \"%s\"", st->by_name[i]->name);
			return false;
		}
	}

	/* Empty tensors own no byte, so they cannot overlap anything. */
	for (i = 0; i < st->count; i++)
	{
		const VqaStTensor *t = &st->tensors[i];

		if (t->begin == t->end)
			continue;
		if (previous != NULL && t->begin < previous->end)
		{
			vqa_set_error(errbuf, errlen, "tensors \"%s\" [%zu, %zu) and \"%s\" [%zu, %zu) overlap",
					  previous->name, previous->begin, previous->end,
					  t->name, t->begin, t->end);
			return false;
		}
		previous = t;
	}
	return true;
}

/* ---------------------------------------------------------------- reader API */

VqaSafetensors *
vqa_st_parse(const unsigned char *buf, size_t len, char *errbuf, size_t errlen)
{
	VqaSafetensors *st;
	uint64_t	header_len;
	char	   *text;
	char		yajl_error[256];
	yajl_val	root;
	size_t		i;
	int			n;

	vqa_set_error(errbuf, errlen, "%s", "");
	if (len < 8)
	{
		vqa_set_error(errbuf, errlen, "file is %zu bytes, too short for the 8-byte header length", len);
		return NULL;
	}
	header_len = load_le64(buf);
	if (header_len > len - 8)
	{
		vqa_set_error(errbuf, errlen, "header length %llu is larger than the file (%zu bytes after the length)",
				  (unsigned long long) header_len, len - 8);
		return NULL;
	}
	if (header_len > VQA_ST_MAX_HEADER)
	{
		vqa_set_error(errbuf, errlen, "header length %llu is over the 100 MB limit",
				  (unsigned long long) header_len);
		return NULL;
	}
	if (!prescan_header(buf + 8, (size_t) header_len, errbuf, errlen))
		return NULL;

	/* yajl_tree wants NUL-terminated text. */
	text = malloc((size_t) header_len + 1);
	if (text == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory for a header of %llu bytes",
				  (unsigned long long) header_len);
		return NULL;
	}
	memcpy(text, buf + 8, (size_t) header_len);
	text[header_len] = '\0';
	yajl_error[0] = '\0';
	root = yajl_tree_parse(text, yajl_error, sizeof(yajl_error));
	free(text);
	if (root == NULL)
	{
		/* yajl's message goes on with a picture of the context: keep line 1 */
		yajl_error[strcspn(yajl_error, "\n")] = '\0';
		vqa_set_error(errbuf, errlen, "header is not valid JSON: %s",
				  yajl_error[0] ? yajl_error : "parse error");
		return NULL;
	}
	if (!YAJL_IS_OBJECT(root))
	{
		vqa_set_error(errbuf, errlen, "header is not a JSON object");
		yajl_tree_free(root);
		return NULL;
	}

	st = calloc(1, sizeof(VqaSafetensors));
	if (st != NULL)
	{
		st->tensors = malloc((root->u.object.len + 1) * sizeof(VqaStTensor));
		st->by_name = malloc((root->u.object.len + 1) * sizeof(VqaStTensor *));
	}
	if (st == NULL || st->tensors == NULL || st->by_name == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory for %zu tensors", root->u.object.len);
		yajl_tree_free(root);
		vqa_st_free(st);
		return NULL;
	}
	st->header = root;
	st->data = buf + 8 + header_len;
	st->data_len = len - 8 - (size_t) header_len;

	n = 0;
	for (i = 0; i < root->u.object.len; i++)
	{
		const char *name = root->u.object.keys[i];
		yajl_val	value = root->u.object.values[i];

		/* prescan_header should make this impossible; cheap to be sure */
		if (!utf8_valid(name))
		{
			vqa_set_error(errbuf, errlen, "header has a tensor name that is not valid UTF-8");
			goto fail;
		}
		if (strcmp(name, METADATA_KEY) == 0)
		{
			if (st->metadata != NULL)
			{
				vqa_set_error(errbuf, errlen, "duplicate \"%s\"", METADATA_KEY);
				goto fail;
			}
			if (!parse_metadata(value, errbuf, errlen))
				goto fail;
			st->metadata = value;
			continue;
		}
		memset(&st->tensors[n], 0, sizeof(VqaStTensor));
		if (!parse_entry(value, name, st->data_len, &st->tensors[n], errbuf, errlen))
			goto fail;
		n++;
	}
	st->count = n;
	if (!index_tensors(st, errbuf, errlen))
		goto fail;
	return st;

fail:
	vqa_st_free(st);
	return NULL;
}

VqaSafetensors *
vqa_st_open(const char *path, char *errbuf, size_t errlen)
{
	FILE	   *f;
	struct stat sb;
	unsigned char *buf;
	size_t		size;
	VqaSafetensors *st;
	char		message[ERROR_LEN];

	f = fopen(path, "rb");
	if (f == NULL)
	{
		vqa_set_error(errbuf, errlen, "could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
	{
		vqa_set_error(errbuf, errlen, "\"%s\" is not a regular file", path);
		fclose(f);
		return NULL;
	}
	size = (size_t) sb.st_size;
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory reading \"%s\" (%zu bytes)", path, size);
		fclose(f);
		return NULL;
	}
	if (fread(buf, 1, size, f) != size)
	{
		vqa_set_error(errbuf, errlen, "could not read \"%s\"", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);

	st = vqa_st_parse(buf, size, message, sizeof(message));
	if (st == NULL)
	{
		vqa_set_error(errbuf, errlen, "%s: %s", path, message);
		free(buf);
		return NULL;
	}
	st->owned = buf;
	return st;
}

int
vqa_st_count(const VqaSafetensors *st)
{
	return st->count;
}

const VqaStTensor *
vqa_st_tensor(const VqaSafetensors *st, int i)
{
	return i >= 0 && i < st->count ? &st->tensors[i] : NULL;
}

const VqaStTensor *
vqa_st_find(const VqaSafetensors *st, const char *name)
{
	const VqaStTensor **found;

	if (st->count == 0)
		return NULL;
	found = bsearch(name, st->by_name, (size_t) st->count,
					sizeof(VqaStTensor *), compare_name_key);
	return found ? *found : NULL;
}

const unsigned char *
vqa_st_data(const VqaSafetensors *st, const VqaStTensor *t)
{
	return st->data + t->begin;
}

void
vqa_st_read_f32(const VqaSafetensors *st, const VqaStTensor *t, float *out)
{
	const unsigned char *p = st->data + t->begin;
	size_t		n = (size_t) t->numel;
	size_t		i;
	uint32_t	bits;
	int32_t		i32;
	int64_t		i64;

	switch (t->dtype)
	{
		case VQA_ST_F32:
#if HOST_IS_LITTLE_ENDIAN
			if (n > 0)
				memcpy(out, p, n * sizeof(float));
#else
			for (i = 0; i < n; i++)
			{
				bits = load_le32(p + 4 * i);
				memcpy(&out[i], &bits, sizeof(bits));
			}
#endif
			break;
		case VQA_ST_F16:
			/* copied as bits, so a signalling NaN stays as it was */
			for (i = 0; i < n; i++)
			{
				bits = f16_to_f32_bits(load_le16(p + 2 * i));
				memcpy(&out[i], &bits, sizeof(bits));
			}
			break;
		case VQA_ST_BF16:
			for (i = 0; i < n; i++)
			{
				bits = bf16_to_f32_bits(load_le16(p + 2 * i));
				memcpy(&out[i], &bits, sizeof(bits));
			}
			break;
		case VQA_ST_I32:
			for (i = 0; i < n; i++)
			{
				bits = load_le32(p + 4 * i);
				memcpy(&i32, &bits, sizeof(i32));
				out[i] = (float) i32;
			}
			break;
		case VQA_ST_I64:
			for (i = 0; i < n; i++)
			{
				uint64_t	u = load_le64(p + 8 * i);

				memcpy(&i64, &u, sizeof(i64));
				out[i] = (float) i64;
			}
			break;
	}
}

const char *
vqa_st_metadata(const VqaSafetensors *st, const char *key)
{
	size_t		i;

	if (st->metadata == NULL)
		return NULL;
	for (i = 0; i < st->metadata->u.object.len; i++)
		if (strcmp(st->metadata->u.object.keys[i], key) == 0)
			return st->metadata->u.object.values[i]->u.string;
	return NULL;
}

void
vqa_st_free(VqaSafetensors *st)
{
	if (st == NULL)
		return;
	yajl_tree_free(st->header);
	free(st->tensors);
	free(st->by_name);
	free(st->owned);
	free(st);
}

/* ---------------------------------------------------------------- writer */

static int
writer_fail(VqaStWriter *w, const char *fmt,...)
{
	va_list		args;

	if (!w->failed)
	{
		va_start(args, fmt);
		vsnprintf(w->error, sizeof(w->error), fmt, args);
		va_end(args);
		w->failed = true;
	}
	return -1;
}

static char *
copy_string(const char *s)
{
	size_t		len = strlen(s) + 1;
	char	   *copy = malloc(len);

	if (copy != NULL)
		memcpy(copy, s, len);
	return copy;
}

VqaStWriter *
vqa_st_writer_new(void)
{
	return calloc(1, sizeof(VqaStWriter));
}

int
vqa_st_writer_add_f32(VqaStWriter *w, const char *name, int ndim,
					  const int64_t *shape, const float *data)
{
	WriterTensor *t;
	int64_t		numel = 1;
	int			i;

	if (w->failed)
		return -1;
	if (name == NULL)
		return writer_fail(w, "a tensor has no name");
	if (!utf8_valid(name))
		return writer_fail(w, "tensor name \"%s\" is not valid UTF-8", name);
	if (strcmp(name, METADATA_KEY) == 0)
		return writer_fail(w, "\"%s\" cannot name a tensor", METADATA_KEY);
	if (ndim < 0 || ndim > VQA_ST_MAX_DIMS)
		return writer_fail(w, "tensor \"%s\": %d dimensions, not 0 to %d", name, ndim, VQA_ST_MAX_DIMS);
	for (i = 0; i < ndim; i++)
		if (shape[i] < 0)
			return writer_fail(w, "tensor \"%s\": shape[%d] is negative", name, i);
	for (i = 0; i < ndim; i++)
		if (shape[i] == 0)
			numel = 0;
	for (i = 0; i < ndim && numel != 0; i++)
	{
		if (numel > INT64_MAX / 4 / shape[i])
			return writer_fail(w, "tensor \"%s\": size in bytes overflows int64", name);
		numel *= shape[i];
	}
	if ((uint64_t) numel > SIZE_MAX / sizeof(float))
		return writer_fail(w, "tensor \"%s\": too large for memory", name);
	for (i = 0; i < w->count; i++)
		if (strcmp(w->tensors[i].name, name) == 0)
			return writer_fail(w, "duplicate tensor name \"%s\"", name);

	if (w->count == w->capacity)
	{
		int			capacity = w->capacity ? 2 * w->capacity : 16;
		WriterTensor *grown = realloc(w->tensors, (size_t) capacity * sizeof(WriterTensor));

		if (grown == NULL)
			return writer_fail(w, "out of memory adding tensor \"%s\"", name);
		w->tensors = grown;
		w->capacity = capacity;
	}
	t = &w->tensors[w->count];
	memset(t, 0, sizeof(WriterTensor));
	t->name = copy_string(name);
	t->data = malloc(numel > 0 ? (size_t) numel * sizeof(float) : 1);
	if (t->name == NULL || t->data == NULL)
	{
		free(t->name);
		free(t->data);
		return writer_fail(w, "out of memory adding tensor \"%s\"", name);
	}
	if (numel > 0)
		memcpy(t->data, data, (size_t) numel * sizeof(float));
	t->ndim = ndim;
	for (i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->numel = numel;
	w->count++;
	return 0;
}

int
vqa_st_writer_set_metadata(VqaStWriter *w, const char *key, const char *value)
{
	char	   *value_copy;
	int			i;

	if (w->failed)
		return -1;
	if (!utf8_valid(key) || !utf8_valid(value))
		return writer_fail(w, "metadata \"%s\" is not valid UTF-8", key);
	value_copy = copy_string(value);
	if (value_copy == NULL)
		return writer_fail(w, "out of memory setting metadata \"%s\"", key);
	for (i = 0; i < w->meta_count; i++)
	{
		if (strcmp(w->meta_keys[i], key) == 0)
		{
			free(w->meta_values[i]);
			w->meta_values[i] = value_copy;
			return 0;
		}
	}
	if (w->meta_count == w->meta_capacity)
	{
		int			capacity = w->meta_capacity ? 2 * w->meta_capacity : 4;
		char	  **keys = realloc(w->meta_keys, (size_t) capacity * sizeof(char *));
		char	  **values;

		if (keys != NULL)
			w->meta_keys = keys;
		values = keys ? realloc(w->meta_values, (size_t) capacity * sizeof(char *)) : NULL;
		if (values == NULL)
		{
			free(value_copy);
			return writer_fail(w, "out of memory setting metadata \"%s\"", key);
		}
		w->meta_values = values;
		w->meta_capacity = capacity;
	}
	w->meta_keys[w->meta_count] = copy_string(key);
	if (w->meta_keys[w->meta_count] == NULL)
	{
		free(value_copy);
		return writer_fail(w, "out of memory setting metadata \"%s\"", key);
	}
	w->meta_values[w->meta_count] = value_copy;
	w->meta_count++;
	return 0;
}

static void
strbuf_append(StrBuf *sb, const char *s, size_t len)
{
	if (sb->oom)
		return;
	if (sb->len + len + 1 > sb->capacity)
	{
		size_t		capacity = sb->capacity ? sb->capacity : 1024;
		char	   *grown;

		while (sb->len + len + 1 > capacity)
			capacity *= 2;
		grown = realloc(sb->data, capacity);
		if (grown == NULL)
		{
			sb->oom = true;
			return;
		}
		sb->data = grown;
		sb->capacity = capacity;
	}
	memcpy(sb->data + sb->len, s, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

static void
strbuf_puts(StrBuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

static void
strbuf_printf(StrBuf *sb, const char *fmt,...)
{
	char		piece[64];
	va_list		args;
	int			len;

	va_start(args, fmt);
	len = vsnprintf(piece, sizeof(piece), fmt, args);
	va_end(args);
	if (len > 0 && (size_t) len < sizeof(piece))
		strbuf_append(sb, piece, (size_t) len);
	else if (len > 0)
		sb->oom = true;			/* only used for short numeric pieces */
}

/* A JSON string literal; the input is valid UTF-8, so only ASCII is escaped. */
static void
strbuf_json_string(StrBuf *sb, const char *s)
{
	const char *run = s;

	strbuf_puts(sb, "\"");
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		strbuf_append(sb, run, (size_t) (s - run));
		if (c == '"' || c == '\\')
			strbuf_printf(sb, "\\%c", c);
		else
			strbuf_printf(sb, "\\u%04x", c);
		run = s + 1;
	}
	strbuf_append(sb, run, (size_t) (s - run));
	strbuf_puts(sb, "\"");
}

/*
 * The header, padded with spaces to a multiple of 8 bytes; *data_len gets the
 * size of the data buffer. NULL (with the writer's error set) on failure.
 */
static char *
build_header(VqaStWriter *w, size_t *header_len, uint64_t *data_len)
{
	StrBuf		sb = {0};
	uint64_t	offset = 0;
	int			i;
	int			d;

	strbuf_puts(&sb, "{");
	if (w->meta_count > 0)
	{
		strbuf_json_string(&sb, METADATA_KEY);
		strbuf_puts(&sb, ":{");
		for (i = 0; i < w->meta_count; i++)
		{
			if (i > 0)
				strbuf_puts(&sb, ",");
			strbuf_json_string(&sb, w->meta_keys[i]);
			strbuf_puts(&sb, ":");
			strbuf_json_string(&sb, w->meta_values[i]);
		}
		strbuf_puts(&sb, "}");
	}
	for (i = 0; i < w->count; i++)
	{
		const WriterTensor *t = &w->tensors[i];
		uint64_t	bytes = (uint64_t) t->numel * sizeof(float);

		if (i > 0 || w->meta_count > 0)
			strbuf_puts(&sb, ",");
		strbuf_json_string(&sb, t->name);
		strbuf_puts(&sb, ":{\"dtype\":\"F32\",\"shape\":[");
		for (d = 0; d < t->ndim; d++)
			strbuf_printf(&sb, d > 0 ? ",%lld" : "%lld", (long long) t->shape[d]);
		if (offset + bytes > (uint64_t) INT64_MAX)
		{
			free(sb.data);
			writer_fail(w, "data buffer overflows int64 at tensor \"%s\"", t->name);
			return NULL;
		}
		strbuf_printf(&sb, "],\"data_offsets\":[%llu,%llu]}",
					  (unsigned long long) offset, (unsigned long long) (offset + bytes));
		offset += bytes;
	}
	strbuf_puts(&sb, "}");
	while (!sb.oom && sb.len % 8 != 0)
		strbuf_puts(&sb, " ");
	if (sb.oom)
	{
		free(sb.data);
		writer_fail(w, "out of memory building the header");
		return NULL;
	}
	if (sb.len > VQA_ST_MAX_HEADER)
	{
		free(sb.data);
		writer_fail(w, "header of %zu bytes is over the 100 MB limit", sb.len);
		return NULL;
	}
	*header_len = sb.len;
	*data_len = offset;
	return sb.data;
}

unsigned char *
vqa_st_writer_serialize(VqaStWriter *w, size_t *len)
{
	char	   *header;
	size_t		header_len;
	uint64_t	data_len;
	unsigned char *image;
	unsigned char *p;
	int			i;

	if (w->failed)
		return NULL;
	header = build_header(w, &header_len, &data_len);
	if (header == NULL)
		return NULL;
	if (data_len > SIZE_MAX - 8 - header_len)
	{
		free(header);
		writer_fail(w, "file of %llu data bytes is too large for memory",
					(unsigned long long) data_len);
		return NULL;
	}
	image = malloc(8 + header_len + (size_t) data_len);
	if (image == NULL)
	{
		free(header);
		writer_fail(w, "out of memory for a file of %llu data bytes",
					(unsigned long long) data_len);
		return NULL;
	}
	store_le64(image, header_len);
	memcpy(image + 8, header, header_len);
	free(header);
	p = image + 8 + header_len;
	for (i = 0; i < w->count; i++)
	{
		store_le_f32(p, w->tensors[i].data, (size_t) w->tensors[i].numel);
		p += (size_t) w->tensors[i].numel * sizeof(float);
	}
	*len = 8 + header_len + (size_t) data_len;
	return image;
}

/* Writes one tensor's data, in chunks on big-endian hosts. */
static bool
write_tensor_data(FILE *f, const WriterTensor *t)
{
	size_t		n = (size_t) t->numel;

#if HOST_IS_LITTLE_ENDIAN
	return fwrite(t->data, sizeof(float), n, f) == n;
#else
	unsigned char chunk[4096];
	size_t		done = 0;

	while (done < n)
	{
		size_t		k = n - done < sizeof(chunk) / 4 ? n - done : sizeof(chunk) / 4;

		store_le_f32(chunk, t->data + done, k);
		if (fwrite(chunk, 4, k, f) != k)
			return false;
		done += k;
	}
	return true;
#endif
}

int
vqa_st_writer_save(VqaStWriter *w, const char *path, char *errbuf, size_t errlen)
{
	char	   *header;
	size_t		header_len;
	uint64_t	data_len;
	unsigned char length_bytes[8];
	FILE	   *f;
	bool		ok;
	int			i;

	header = w->failed ? NULL : build_header(w, &header_len, &data_len);
	if (header == NULL)
	{
		vqa_set_error(errbuf, errlen, "%s", w->error);
		return -1;
	}
	f = fopen(path, "wb");
	if (f == NULL)
	{
		vqa_set_error(errbuf, errlen, "could not create \"%s\": %s", path, strerror(errno));
		free(header);
		return -1;
	}
	store_le64(length_bytes, header_len);
	ok = fwrite(length_bytes, 1, 8, f) == 8 &&
		fwrite(header, 1, header_len, f) == header_len;
	free(header);
	for (i = 0; ok && i < w->count; i++)
		ok = write_tensor_data(f, &w->tensors[i]);
	if (fclose(f) != 0)
		ok = false;
	if (!ok)
	{
		vqa_set_error(errbuf, errlen, "could not write \"%s\": %s", path, strerror(errno));
		remove(path);			/* no half-written file left behind */
		return -1;
	}
	return 0;
}

const char *
vqa_st_writer_error(const VqaStWriter *w)
{
	return w->failed ? w->error : NULL;
}

void
vqa_st_writer_free(VqaStWriter *w)
{
	int			i;

	if (w == NULL)
		return;
	for (i = 0; i < w->count; i++)
	{
		free(w->tensors[i].name);
		free(w->tensors[i].data);
	}
	for (i = 0; i < w->meta_count; i++)
	{
		free(w->meta_keys[i]);
		free(w->meta_values[i]);
	}
	free(w->tensors);
	free(w->meta_keys);
	free(w->meta_values);
	free(w);
}
