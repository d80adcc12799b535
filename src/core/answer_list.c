/*
 * answer_list.c: reader of answer-list files (answer_list.h).
 *
 * The bytes are checked first, in one pass: strict UTF-8 (no overlong form,
 * surrogate or code point above U+10FFFF, which yajl would let through) and
 * no NUL; in the JSON formats also no \u escape that would bring either
 * back: \u0000, or a surrogate not in a pair (yajl decodes a lone one to '?'
 * or to the wrong character without a word). So every answer read is valid.
 *
 * The JSON formats are read with yajl's event parser rather than its tree:
 * it gives strings with their lengths, needs no NUL-terminated copy, and the
 * reader stops at the first value it does not want, so nothing nests deeper
 * than the list or object itself.
 *
 * Answers are copied into one block allocated for the worst case, the
 * input's length plus one: an answer never takes more bytes than in the
 * input, and its NUL takes the place of its newline or closing quote (the
 * last line, which may have no newline, has the extra byte). Duplicates are
 * found, and vqa_answer_list_find looks answers up, through a hash table of
 * class numbers with open addressing, at most half full.
 */
#include "vqaprune/answer_list.h"
#include "vqaprune/error.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yajl/yajl_parse.h>

/* Answers and numbers quoted in messages are cut to this many bytes. */
#define SHOWN_BYTES 60
#define SHOWN_SIZE (SHOWN_BYTES + sizeof("..."))

struct VqaAnswerList
{
	int			count;
	char	   *text;			/* every answer, each NUL-terminated */
	size_t	   *offsets;		/* class i's answer is at text + offsets[i] */
	int		   *slots;			/* hash table of classes, -1 where empty */
	size_t		mask;			/* number of slots - 1 (a power of 2 - 1) */
};

typedef enum Format
{
	FORMAT_LINES,
	FORMAT_LIST,				/* ["net", "pitcher"] */
	FORMAT_OBJECT				/* {"net": 0, "pitcher": 1} */
} Format;

/* A list being read. */
typedef struct Reader
{
	VqaAnswerList *list;		/* offsets in file order until order_by_index */
	Format		format;
	size_t		text_len;		/* bytes of list->text used */
	int			cap;			/* room in list->offsets and indices */
	int		   *indices;		/* FORMAT_OBJECT: each answer's index, in file order */
	bool		opened;			/* the JSON list or object has begun */
	char	   *errbuf;
	size_t		errlen;
} Reader;

/* ---------------------------------------------------------------- bytes */

/* Length of the valid UTF-8 character at s (n bytes left), or 0. */
static size_t
utf8_char_length(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80,
				hi = 0xbf;		/* bounds of the second byte */
	size_t		len,
				i;

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

/* The value of the 4 hex digits at s (n bytes left), or -1. */
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

/*
 * The checks of the file comment, from byte start on. String boundaries are
 * tracked only to find escapes; anything else wrong with the JSON is left to
 * yajl, and where the JSON is wrong the tracking may be too, harmlessly:
 * yajl stops before the first string it misjudged.
 */
static bool
prescan(const unsigned char *d, size_t len, size_t start, bool json,
		char *errbuf, size_t errlen)
{
	bool		in_string = false;
	int			line = 1;
	size_t		i = start;

	while (i < len)
	{
		unsigned char c = d[i];

		if (c == 0)
		{
			vqa_set_error(errbuf, errlen, "NUL byte at byte %zu (line %d)", i, line);
			return false;
		}
		if (c >= 0x80)
		{
			size_t		n = utf8_char_length(d + i, len - i);

			if (n == 0)
			{
				vqa_set_error(errbuf, errlen, "invalid UTF-8 at byte %zu (line %d)", i, line);
				return false;
			}
			i += n;
			continue;
		}
		if (c == '\n')
			line++;
		else if (json && c == '"')
			in_string = !in_string;
		else if (json && in_string && c == '\\' && i + 1 < len)
		{
			long		cp = d[i + 1] == 'u' ? hex4(d + i + 2, len - i - 2) : -1;

			if (cp == 0)
			{
				vqa_set_error(errbuf, errlen, "\\u0000 escape at byte %zu (line %d): an answer cannot hold a NUL",
							  i, line);
				return false;
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
			{
				long		low = cp <= 0xdbff && len - i >= 12 && d[i + 6] == '\\' && d[i + 7] == 'u' ?
					hex4(d + i + 8, len - i - 8) : -1;

				if (low < 0xdc00 || low > 0xdfff)
				{
					vqa_set_error(errbuf, errlen, "lone surrogate escape at byte %zu (line %d)", i, line);
					return false;
				}
				i += 12;
				continue;
			}
			/* skip an escaped quote or backslash: it neither ends the string nor escapes */
			if (d[i + 1] == '"' || d[i + 1] == '\\')
				i++;
		}
		i++;
	}
	return true;
}

/*
 * Text of n bytes at s as quoted in a message, in buf (SHOWN_SIZE bytes):
 * cut to SHOWN_BYTES at a character boundary, with "..." if cut, so that a
 * long answer leaves room for the rest of the message.
 */
static const char *
shown(const char *s, size_t n, char *buf)
{
	size_t		keep = n;

	if (n > SHOWN_BYTES)
	{
		keep = SHOWN_BYTES;
		while (keep > 0 && ((unsigned char) s[keep] & 0xc0) == 0x80)
			keep--;
	}
	memcpy(buf, s, keep);
	strcpy(buf + keep, keep < n ? "..." : "");
	return buf;
}

/* ---------------------------------------------------------------- the list */

static const char *
answer_at(const Reader *r, int k)
{
	return r->list->text + r->list->offsets[k];
}

/*
 * Appends an answer of n bytes at s, the number-th line (where "line") or
 * element or key (where "element", "key") of the file.
 */
static bool
add_answer(Reader *r, const char *s, size_t n, const char *where, int number)
{
	VqaAnswerList *l = r->list;

	if (n == 0)
	{
		vqa_set_error(r->errbuf, r->errlen, "%s %d is the empty string", where, number);
		return false;
	}
	if (n > VQA_ANSWER_MAX_BYTES)
	{
		vqa_set_error(r->errbuf, r->errlen, "%s %d is %zu bytes long, over the limit of %d bytes for an answer",
					  where, number, n, VQA_ANSWER_MAX_BYTES);
		return false;
	}
	if (l->count == VQA_ANSWER_LIST_MAX)
	{
		vqa_set_error(r->errbuf, r->errlen, "more than %d answers", VQA_ANSWER_LIST_MAX);
		return false;
	}
	if (l->count == r->cap)
	{
		int			cap = r->cap ? r->cap * 2 : 256;
		size_t	   *offsets;

		if (cap > VQA_ANSWER_LIST_MAX)
			cap = VQA_ANSWER_LIST_MAX;
		offsets = realloc(l->offsets, (size_t) cap * sizeof(size_t));
		if (offsets == NULL)
			goto oom;
		l->offsets = offsets;
		if (r->format == FORMAT_OBJECT)
		{
			int		   *indices = realloc(r->indices, (size_t) cap * sizeof(int));

			if (indices == NULL)
				goto oom;
			r->indices = indices;
		}
		r->cap = cap;
	}
	memcpy(l->text + r->text_len, s, n);
	l->text[r->text_len + n] = '\0';
	l->offsets[l->count++] = r->text_len;
	r->text_len += n + 1;
	return true;

oom:
	vqa_set_error(r->errbuf, r->errlen, "out of memory");
	return false;
}

static size_t
hash_answer(const char *s)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	return h;
}

/* The slot that holds answer, or the empty slot where it would go. */
static size_t
probe(const VqaAnswerList *l, const char *answer)
{
	size_t		s = hash_answer(answer) & l->mask;

	while (l->slots[s] >= 0 && strcmp(l->text + l->offsets[l->slots[s]], answer) != 0)
		s = (s + 1) & l->mask;
	return s;
}

/* Fills the hash table, in class order; refuses an answer seen twice. */
static bool
build_index(Reader *r)
{
	VqaAnswerList *l = r->list;
	size_t		size = 2;
	size_t		i;
	int			k;

	while (size < 2 * (size_t) l->count)
		size *= 2;
	l->slots = malloc(size * sizeof(int));
	if (l->slots == NULL)
	{
		vqa_set_error(r->errbuf, r->errlen, "out of memory");
		return false;
	}
	for (i = 0; i < size; i++)
		l->slots[i] = -1;
	l->mask = size - 1;
	for (k = 0; k < l->count; k++)
	{
		const char *answer = answer_at(r, k);
		size_t		s = probe(l, answer);
		char		buf[SHOWN_SIZE];

		if (l->slots[s] >= 0)
		{
			/* class k is on line k + 1, as an empty line before it is an error */
			if (r->format == FORMAT_LINES)
				vqa_set_error(r->errbuf, r->errlen, "answer \"%s\" appears twice: at %d and %d (lines %d and %d)",
							  shown(answer, strlen(answer), buf), l->slots[s], k, l->slots[s] + 1, k + 1);
			else
				vqa_set_error(r->errbuf, r->errlen, "answer \"%s\" appears twice: at %d and %d",
							  shown(answer, strlen(answer), buf), l->slots[s], k);
			return false;
		}
		l->slots[s] = k;
	}
	return true;
}

/*
 * FORMAT_OBJECT: puts the answers in the order of their indices. Each index
 * is below VQA_ANSWER_LIST_MAX already; n distinct indices below n leave no
 * gap, so a gap shows as an index out of range.
 */
static bool
order_by_index(Reader *r)
{
	VqaAnswerList *l = r->list;
	size_t	   *by_class = malloc((size_t) l->count * sizeof(size_t));
	char		buf[SHOWN_SIZE],
				buf2[SHOWN_SIZE];
	int			k;

	if (by_class == NULL)
	{
		vqa_set_error(r->errbuf, r->errlen, "out of memory");
		return false;
	}
	for (k = 0; k < l->count; k++)
		by_class[k] = SIZE_MAX;
	for (k = 0; k < l->count; k++)
	{
		const char *answer = answer_at(r, k);
		int			index = r->indices[k];

		if (index >= l->count)
		{
			vqa_set_error(r->errbuf, r->errlen,
						  "answer \"%s\" has index %d: the indices must be 0..%d, one per answer, with no gaps",
						  shown(answer, strlen(answer), buf), index, l->count - 1);
			free(by_class);
			return false;
		}
		if (by_class[index] != SIZE_MAX)
		{
			const char *other = l->text + by_class[index];

			vqa_set_error(r->errbuf, r->errlen, "answers \"%s\" and \"%s\" both have index %d",
						  shown(other, strlen(other), buf), shown(answer, strlen(answer), buf2), index);
			free(by_class);
			return false;
		}
		by_class[index] = l->offsets[k];
	}
	free(l->offsets);
	l->offsets = by_class;
	return true;
}

/* ---------------------------------------------------------------- lines */

static bool
read_lines(Reader *r, const char *d, size_t len, size_t start)
{
	int			line = 0;
	int			first_empty = 0;	/* an empty line not yet followed by an answer */
	size_t		i = start;

	while (i < len)
	{
		const char *nl = memchr(d + i, '\n', len - i);
		size_t		end = nl ? (size_t) (nl - d) : len;
		size_t		n = end - i;

		line++;
		if (n > 0 && d[end - 1] == '\r')
			n--;
		if (n == 0)
		{
			if (first_empty == 0)
				first_empty = line;
		}
		else
		{
			if (first_empty != 0)
			{
				vqa_set_error(r->errbuf, r->errlen, "line %d is empty", first_empty);
				return false;
			}
			if (!add_answer(r, d + i, n, "line", line))
				return false;
		}
		i = end + 1;
	}
	return true;
}

/* ---------------------------------------------------------------- JSON */

/* A value where the reader wants none of its kind; stops the parse. */
static int
wrong_value(Reader *r)
{
	char		buf[SHOWN_SIZE];

	if (r->format == FORMAT_LIST)
		vqa_set_error(r->errbuf, r->errlen, "element %d is not a string", r->list->count);
	else
	{
		/* a value follows its key, whose answer was just added */
		const char *answer = answer_at(r, r->list->count - 1);

		vqa_set_error(r->errbuf, r->errlen, "answer \"%s\" has an index that is not a number",
					  shown(answer, strlen(answer), buf));
	}
	return 0;
}

/* FORMAT_OBJECT: the index of the answer just added, n bytes at s. */
static int
set_index(Reader *r, const char *s, size_t n)
{
	const char *answer = answer_at(r, r->list->count - 1);
	char		buf[SHOWN_SIZE],
				buf2[SHOWN_SIZE];
	long		value = 0;
	size_t		i;

	if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
	{
		vqa_set_error(r->errbuf, r->errlen, "answer \"%s\" has index %s, not an integer",
					  shown(answer, strlen(answer), buf), shown(s, n, buf2));
		return 0;
	}
	/* yajl has checked the syntax: an optional minus, then digits */
	for (i = s[0] == '-'; i < n; i++)
		if (value < VQA_ANSWER_LIST_MAX)	/* enough to know it is too large */
			value = value * 10 + (s[i] - '0');
	if (s[0] == '-' && value != 0)
	{
		vqa_set_error(r->errbuf, r->errlen, "answer \"%s\" has a negative index: %s",
					  shown(answer, strlen(answer), buf), shown(s, n, buf2));
		return 0;
	}
	if (value >= VQA_ANSWER_LIST_MAX)
	{
		vqa_set_error(r->errbuf, r->errlen, "answer \"%s\" has index %s, but there can be at most %d answers",
					  shown(answer, strlen(answer), buf), shown(s, n, buf2), VQA_ANSWER_LIST_MAX);
		return 0;
	}
	r->indices[r->list->count - 1] = (int) value;
	return 1;
}

static int
cb_null(void *ctx)
{
	return wrong_value(ctx);
}

static int
cb_boolean(void *ctx, int value)
{
	(void) value;
	return wrong_value(ctx);
}

static int
cb_number(void *ctx, const char *s, size_t n)
{
	Reader	   *r = ctx;

	return r->format == FORMAT_OBJECT ? set_index(r, s, n) : wrong_value(r);
}

static int
cb_string(void *ctx, const unsigned char *s, size_t n)
{
	Reader	   *r = ctx;

	if (r->format != FORMAT_LIST)
		return wrong_value(r);
	return add_answer(r, (const char *) s, n, "element", r->list->count);
}

static int
cb_map_key(void *ctx, const unsigned char *s, size_t n)
{
	Reader	   *r = ctx;

	/* only in FORMAT_OBJECT: an object in a list is refused as it starts */
	return add_answer(r, (const char *) s, n, "key", r->list->count);
}

static int
cb_start_map(void *ctx)
{
	Reader	   *r = ctx;

	if (r->format == FORMAT_OBJECT && !r->opened)
	{
		r->opened = true;
		return 1;
	}
	return wrong_value(r);
}

static int
cb_start_array(void *ctx)
{
	Reader	   *r = ctx;

	if (r->format == FORMAT_LIST && !r->opened)
	{
		r->opened = true;
		return 1;
	}
	return wrong_value(r);
}

static const yajl_callbacks callbacks = {
	.yajl_null = cb_null,
	.yajl_boolean = cb_boolean,
	.yajl_number = cb_number,	/* the text itself, so no float or overflow is hidden */
	.yajl_string = cb_string,
	.yajl_start_map = cb_start_map,
	.yajl_map_key = cb_map_key,
	.yajl_start_array = cb_start_array,
};

static bool
read_json(Reader *r, const char *d, size_t len, size_t start)
{
	/* yajl's defaults: no comments, nothing after the value, strings checked */
	yajl_handle h = yajl_alloc(&callbacks, NULL, r);
	yajl_status st;
	size_t		at;

	if (h == NULL)
	{
		vqa_set_error(r->errbuf, r->errlen, "out of memory");
		return false;
	}
	st = yajl_parse(h, (const unsigned char *) d + start, len - start);
	at = start + yajl_get_bytes_consumed(h);
	if (st == yajl_status_ok)
	{
		st = yajl_complete_parse(h);
		at = len;
	}
	if (st == yajl_status_error)
	{
		unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
		size_t		n = msg ? strlen((char *) msg) : 0;

		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			n--;
		vqa_set_error(r->errbuf, r->errlen, "invalid JSON at byte %zu: %.*s",
					  at, (int) n, msg ? (char *) msg : "");
		if (msg)
			yajl_free_error(h, msg);
	}
	/* yajl_status_client_canceled: a callback has written the message */
	yajl_free(h);
	return st == yajl_status_ok;
}

/* ---------------------------------------------------------------- API */

VqaAnswerList *
vqa_answer_list_parse(const char *data, size_t len, char *errbuf, size_t errlen)
{
	Reader		r = {.errbuf = errbuf, .errlen = errlen};
	char	   *text;
	size_t		start = len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	size_t		first = start;
	bool		ok;

	while (first < len && (data[first] == ' ' || data[first] == '\t' ||
						   data[first] == '\n' || data[first] == '\r'))
		first++;
	r.format = first < len && data[first] == '[' ? FORMAT_LIST :
		first < len && data[first] == '{' ? FORMAT_OBJECT : FORMAT_LINES;
	if (!prescan((const unsigned char *) data, len, start, r.format != FORMAT_LINES, errbuf, errlen))
		return NULL;

	r.list = calloc(1, sizeof(VqaAnswerList));
	if (r.list != NULL)
		r.list->text = malloc(len + 1); /* the worst case: see the file comment */
	if (r.list == NULL || r.list->text == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory");
		vqa_answer_list_free(r.list);
		return NULL;
	}
	ok = r.format == FORMAT_LINES ? read_lines(&r, data, len, start) : read_json(&r, data, len, start);
	if (ok && r.list->count == 0)
	{
		vqa_set_error(errbuf, errlen, "no answers");
		ok = false;
	}
	if (ok && r.format == FORMAT_OBJECT)
		ok = order_by_index(&r);
	ok = ok && build_index(&r);
	free(r.indices);
	if (!ok)
	{
		vqa_answer_list_free(r.list);
		return NULL;
	}
	/* give back what the worst case did not need (if that fails, keep it) */
	text = realloc(r.list->text, r.text_len);
	if (text != NULL)
		r.list->text = text;
	return r.list;
}

VqaAnswerList *
vqa_answer_list_load(const char *path, char *errbuf, size_t errlen)
{
	FILE	   *f = fopen(path, "rb");
	struct stat sb;
	char	   *data;
	size_t		size;
	VqaAnswerList *list;

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
	if (sb.st_size > VQA_ANSWER_LIST_MAX_FILE)
	{
		vqa_set_error(errbuf, errlen, "\"%s\" is %lld bytes, over the 64 MiB limit for an answer list",
					  path, (long long) sb.st_size);
		fclose(f);
		return NULL;
	}
	size = (size_t) sb.st_size;
	data = malloc(size > 0 ? size : 1);
	if (data == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory");
		fclose(f);
		return NULL;
	}
	if (fread(data, 1, size, f) != size)
	{
		vqa_set_error(errbuf, errlen, "could not read \"%s\"", path);
		free(data);
		fclose(f);
		return NULL;
	}
	fclose(f);
	list = vqa_answer_list_parse(data, size, errbuf, errlen);
	free(data);
	return list;
}

int
vqa_answer_list_count(const VqaAnswerList *list)
{
	return list->count;
}

const char *
vqa_answer_list_get(const VqaAnswerList *list, int i)
{
	return i >= 0 && i < list->count ? list->text + list->offsets[i] : NULL;
}

int
vqa_answer_list_find(const VqaAnswerList *list, const char *answer)
{
	return answer != NULL ? list->slots[probe(list, answer)] : -1;
}

void
vqa_answer_list_free(VqaAnswerList *list)
{
	if (list == NULL)
		return;
	free(list->text);
	free(list->offsets);
	free(list->slots);
	free(list);
}
