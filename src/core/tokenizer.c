/*
 * tokenizer.c: BERT WordPiece tokenisation and its vocabulary.
 *
 * LXMERT reads a question as bert-base-uncased word pieces, so a question
 * must be cut exactly as HuggingFace's BertTokenizer(do_lower_case=True)
 * cuts it, or the embeddings the model learnt are looked up for the wrong
 * ids. This file redoes that tokenizer's steps, in its order:
 *
 *  1. Special tokens written verbatim in the text ([PAD] [UNK] [CLS] [SEP]
 *     [MASK], case-sensitive) are cut out first and map straight to their
 *     ids (PreTrainedTokenizer.tokenize's trie split).
 *  2. Basic tokenisation of the rest: drop U+0000, U+FFFD and every other
 *     character of a category C*, except \t \n \r which are white space;
 *     white space (those, ' ' and category Zs) becomes ' '; CJK ideographs get
 *     a space on each side; split on white space (Python's str.split() also
 *     splits on U+2028 and U+2029, categories Zl and Zp). A piece equal to a
 *     special token's name is kept whole; any other is lower-cased, put in
 *     NFD with its nonspacing marks (Mn) dropped, and split around each
 *     punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, or a
 *     Unicode category P*).
 *  3. WordPiece: a word of more than 100 characters is [UNK]; otherwise take
 *     the longest prefix found in the vocabulary, then the longest "##"-
 *     prefixed piece of what follows, and so on; if some position matches
 *     nothing, the whole word is [UNK].
 *
 * Lower-casing. BertTokenizer lower-cases the text one character at a time
 * with Python's str.lower() (full Unicode mapping) before the basic
 * tokenizer lower-cases each word again. We use utf8proc_tolower, the simple
 * one-to-one mapping. The two differ only where SpecialCasing.txt has an
 * unconditional lower-case mapping, i.e. U+0130 (capital I with dot) which
 * Python maps to "i" + U+0307 and utf8proc to "i": the dot is a nonspacing
 * mark that accent stripping drops, so the words agree. Python's final-sigma
 * rule never fires, since the first pass sees each character alone.
 *
 * Newer transformers also apply NFC before splitting on white space; NFD
 * comes after, so NFC changes nothing we can see and is not done here.
 *
 * Categories and decompositions come from utf8proc's tables (Unicode 15.0
 * for utf8proc 2.8); Python's unicodedata follows its own Unicode version,
 * so characters assigned between the two versions may be classed apart.
 *
 * The vocabulary keeps its tokens in one arena and finds them through an
 * open-addressing hash table keyed on byte spans, so WordPiece can look up
 * substrings of a word without copying them out first.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "vqaprune/error.h"
#include "vqaprune/tokenizer.h"


/* BertTokenizer's special tokens, in the order vqa_vocab_build puts them. */
static const char *const special_names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

#define N_SPECIALS ((int) (sizeof(special_names) / sizeof(special_names[0])))

/* Longest UTF-8 encoding of one character. */
#define MAX_UTF8_BYTES 4

struct VqaVocab
{
	int			size;			/* number of ids */
	int			capacity;		/* allocated entries of offsets and lengths */
	size_t	   *offsets;		/* id -> start of its token in arena */
	uint32_t   *lengths;		/* id -> byte length of its token */
	char	   *arena;			/* the tokens, each NUL-terminated */
	size_t		arena_len;
	size_t		arena_cap;
	int32_t    *slots;			/* hash table: an id, or -1 when empty */
	size_t		n_slots;		/* a power of two */
	int			n_keys;			/* distinct tokens in slots */
	int			special_ids[N_SPECIALS];	/* -1 where absent */
};


/* ---------------------------------------------------------------- */
/* Vocabulary: arena of tokens plus a hash table on byte spans        */
/* ---------------------------------------------------------------- */

/* FNV-1a: short keys, good enough spread, no state. */
static uint64_t
hash_bytes(const char *s, size_t len)
{
	uint64_t	h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static const char *
token_text(const VqaVocab *v, int id)
{
	return v->arena + v->offsets[id];
}

static bool
token_equals(const VqaVocab *v, int id, const char *s, size_t len)
{
	return v->lengths[id] == len && memcmp(token_text(v, id), s, len) == 0;
}

/* Slot holding the token s, or the empty slot where it would go. */
static size_t
find_slot(const VqaVocab *v, const char *s, size_t len)
{
	size_t		mask = v->n_slots - 1;
	size_t		i = (size_t) hash_bytes(s, len) & mask;

	while (v->slots[i] >= 0 && !token_equals(v, v->slots[i], s, len))
		i = (i + 1) & mask;
	return i;
}

/* Id of the byte span s, -1 if absent. */
static int
vocab_find(const VqaVocab *v, const char *s, size_t len)
{
	if (v->n_slots == 0)
		return -1;
	return v->slots[find_slot(v, s, len)];
}

static bool
grow_slots(VqaVocab *v)
{
	size_t		new_n = v->n_slots ? v->n_slots * 2 : 64;
	int32_t    *old = v->slots;
	size_t		old_n = v->n_slots;

	v->slots = malloc(new_n * sizeof(int32_t));
	if (v->slots == NULL)
	{
		v->slots = old;
		return false;
	}
	v->n_slots = new_n;
	for (size_t i = 0; i < new_n; i++)
		v->slots[i] = -1;
	for (size_t i = 0; i < old_n; i++)
	{
		int			id = old[i];

		if (id >= 0)
			v->slots[find_slot(v, token_text(v, id), v->lengths[id])] = id;
	}
	free(old);
	return true;
}

/*
 * Gives the byte span s the next id and returns it (-1 when out of memory).
 * A token already present is looked up under its new id from now on, as a
 * Python dict filled line by line would do.
 */
static int
vocab_append(VqaVocab *v, const char *s, size_t len)
{
	size_t		slot;
	int			id;

	if (v->size == INT_MAX || len > UINT32_MAX)
		return -1;
	if (v->size == v->capacity)
	{
		int			new_cap = v->capacity ? (v->capacity < INT_MAX / 2 ? v->capacity * 2 : INT_MAX) : 256;
		size_t	   *offsets = realloc(v->offsets, (size_t) new_cap * sizeof(size_t));
		uint32_t   *lengths;

		if (offsets == NULL)
			return -1;
		v->offsets = offsets;
		lengths = realloc(v->lengths, (size_t) new_cap * sizeof(uint32_t));
		if (lengths == NULL)
			return -1;
		v->lengths = lengths;
		v->capacity = new_cap;
	}
	if (v->arena_len + len + 1 > v->arena_cap)
	{
		size_t		new_cap = v->arena_cap ? v->arena_cap : 4096;
		char	   *arena;

		while (v->arena_len + len + 1 > new_cap)
			new_cap *= 2;
		arena = realloc(v->arena, new_cap);
		if (arena == NULL)
			return -1;
		v->arena = arena;
		v->arena_cap = new_cap;
	}
	/* Keep the table at most half full. */
	if ((size_t) v->n_keys * 2 >= v->n_slots && !grow_slots(v))
		return -1;

	id = v->size;
	memcpy(v->arena + v->arena_len, s, len);
	v->arena[v->arena_len + len] = '\0';
	v->offsets[id] = v->arena_len;
	v->lengths[id] = (uint32_t) len;
	v->arena_len += len + 1;
	v->size++;

	slot = find_slot(v, s, len);
	if (v->slots[slot] < 0)
		v->n_keys++;
	v->slots[slot] = id;
	return id;
}

static VqaVocab *
vocab_new(void)
{
	VqaVocab   *v = calloc(1, sizeof(VqaVocab));

	if (v != NULL)
	{
		for (int i = 0; i < N_SPECIALS; i++)
			v->special_ids[i] = -1;
	}
	return v;
}

void
vqa_vocab_free(VqaVocab *v)
{
	if (v == NULL)
		return;
	free(v->offsets);
	free(v->lengths);
	free(v->arena);
	free(v->slots);
	free(v);
}

/* Looks the special tokens up by name; all but [MASK] are required. */
static bool
resolve_specials(VqaVocab *v, char *errbuf, size_t errlen)
{
	for (int i = 0; i < N_SPECIALS; i++)
		v->special_ids[i] = vocab_find(v, special_names[i], strlen(special_names[i]));
	for (int i = 0; i < N_SPECIALS; i++)
	{
		if (v->special_ids[i] < 0 && strcmp(special_names[i], "[MASK]") != 0)
		{
			vqa_set_error(errbuf, errlen, "vocabulary has no %s token", special_names[i]);
			return false;
		}
	}
	return true;
}

enum
{
	SPECIAL_PAD, SPECIAL_UNK, SPECIAL_CLS, SPECIAL_SEP, SPECIAL_MASK
};

int
vqa_vocab_size(const VqaVocab *v)
{
	return v ? v->size : 0;
}

const char *
vqa_vocab_token(const VqaVocab *v, int id)
{
	if (v == NULL || id < 0 || id >= v->size)
		return NULL;
	return token_text(v, id);
}

int
vqa_vocab_id(const VqaVocab *v, const char *token)
{
	if (v == NULL || token == NULL)
		return -1;
	return vocab_find(v, token, strlen(token));
}

int
vqa_vocab_pad_id(const VqaVocab *v)
{
	if (v == NULL)
		return -1;
	return v->special_ids[SPECIAL_PAD];
}

int
vqa_vocab_unk_id(const VqaVocab *v)
{
	if (v == NULL)
		return -1;
	return v->special_ids[SPECIAL_UNK];
}

int
vqa_vocab_cls_id(const VqaVocab *v)
{
	if (v == NULL)
		return -1;
	return v->special_ids[SPECIAL_CLS];
}

int
vqa_vocab_sep_id(const VqaVocab *v)
{
	if (v == NULL)
		return -1;
	return v->special_ids[SPECIAL_SEP];
}

int
vqa_vocab_mask_id(const VqaVocab *v)
{
	if (v == NULL)
		return -1;
	return v->special_ids[SPECIAL_MASK];
}

/*
 * Lines end with \n, \r\n or \r, as Python's universal newlines read them
 * (BertTokenizer opens vocab.txt in text mode); a last line without an end
 * still counts, an empty one after the last end does not.
 */
VqaVocab *
vqa_vocab_from_buffer(const char *data, size_t len, char *errbuf, size_t errlen)
{
	VqaVocab   *v = vocab_new();
	size_t		pos = 0;
	int			line = 0;

	if (v == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory");
		return NULL;
	}
	while (pos < len)
	{
		size_t		start = pos;
		size_t		end;

		while (pos < len && data[pos] != '\n' && data[pos] != '\r')
			pos++;
		end = pos;
		if (pos < len && data[pos] == '\r' && pos + 1 < len && data[pos + 1] == '\n')
			pos += 2;
		else if (pos < len)
			pos++;
		line++;

		if (memchr(data + start, '\0', end - start) != NULL)
		{
			vqa_set_error(errbuf, errlen, "vocabulary line %d contains a NUL byte", line);
			vqa_vocab_free(v);
			return NULL;
		}
		if (utf8proc_decompose((const utf8proc_uint8_t *) data + start,
							   (utf8proc_ssize_t) (end - start), NULL, 0, 0) < 0)
		{
			vqa_set_error(errbuf, errlen, "vocabulary line %d is not valid UTF-8", line);
			vqa_vocab_free(v);
			return NULL;
		}
		if (vocab_append(v, data + start, end - start) < 0)
		{
			vqa_set_error(errbuf, errlen, "out of memory");
			vqa_vocab_free(v);
			return NULL;
		}
	}
	if (!resolve_specials(v, errbuf, errlen))
	{
		vqa_vocab_free(v);
		return NULL;
	}
	return v;
}

VqaVocab *
vqa_vocab_load(const char *path, char *errbuf, size_t errlen)
{
	FILE	   *f = fopen(path, "rb");
	char	   *data = NULL;
	size_t		len = 0;
	size_t		cap = 0;
	VqaVocab   *v;

	if (f == NULL)
	{
		vqa_set_error(errbuf, errlen, "could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	for (;;)
	{
		size_t		got;

		if (len == cap)
		{
			size_t		new_cap = cap ? cap * 2 : 65536;
			char	   *p = realloc(data, new_cap);

			if (p == NULL)
			{
				free(data);
				fclose(f);
				vqa_set_error(errbuf, errlen, "out of memory");
				return NULL;
			}
			data = p;
			cap = new_cap;
		}
		got = fread(data + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
	{
		vqa_set_error(errbuf, errlen, "could not read \"%s\"", path);
		free(data);
		fclose(f);
		return NULL;
	}
	fclose(f);
	v = vqa_vocab_from_buffer(data, len, errbuf, errlen);
	free(data);
	return v;
}

char *
vqa_vocab_serialize(const VqaVocab *v, size_t *len)
{
	size_t		total = 0;
	char	   *out;
	char	   *p;

	if (v == NULL)
		return NULL;
	for (int id = 0; id < v->size; id++)
		total += v->lengths[id] + 1;
	out = malloc(total + 1);
	if (out == NULL)
		return NULL;
	p = out;
	for (int id = 0; id < v->size; id++)
	{
		memcpy(p, token_text(v, id), v->lengths[id]);
		p += v->lengths[id];
		*p++ = '\n';
	}
	*p = '\0';
	if (len)
		*len = total;
	return out;
}

/* ---------------------------------------------------------------- */
/* Character classes, as BERT's _is_control/_is_whitespace/...        */
/* ---------------------------------------------------------------- */

/* Dropped by _clean_text: category C*, but \t \n \r are white space. */
static bool
is_control(int32_t cp)
{
	if (cp == '\t' || cp == '\n' || cp == '\r')
		return false;
	if (cp < 0x80)
		return cp < 0x20 || cp == 0x7F;
	switch (utf8proc_category(cp))
	{
		case UTF8PROC_CATEGORY_CC:
		case UTF8PROC_CATEGORY_CF:
		case UTF8PROC_CATEGORY_CS:
		case UTF8PROC_CATEGORY_CO:
		case UTF8PROC_CATEGORY_CN:
			return true;
		default:
			return false;
	}
}

/*
 * White space for _clean_text (' ', \t, \n, \r, Zs) plus what str.split()
 * still splits on after cleaning (the line and paragraph separators).
 */
static bool
is_whitespace(int32_t cp)
{
	utf8proc_category_t cat;

	if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r')
		return true;
	if (cp < 0x80)
		return false;
	cat = utf8proc_category(cp);
	return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
		cat == UTF8PROC_CATEGORY_ZP;
}

/* The CJK Unified Ideographs blocks BERT spaces out (not Hangul or kana). */
static bool
is_cjk(int32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) ||
		(cp >= 0x3400 && cp <= 0x4DBF) ||
		(cp >= 0x20000 && cp <= 0x2A6DF) ||
		(cp >= 0x2A700 && cp <= 0x2B73F) ||
		(cp >= 0x2B740 && cp <= 0x2B81F) ||
		(cp >= 0x2B820 && cp <= 0x2CEAF) ||
		(cp >= 0xF900 && cp <= 0xFAFF) ||
		(cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* ASCII symbols count even where Unicode says S* ("$", "^", "`"). */
static bool
is_punctuation(int32_t cp)
{
	if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) ||
		(cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
		return true;
	if (cp < 0x80)
		return false;
	switch (utf8proc_category(cp))
	{
		case UTF8PROC_CATEGORY_PC:
		case UTF8PROC_CATEGORY_PD:
		case UTF8PROC_CATEGORY_PS:
		case UTF8PROC_CATEGORY_PE:
		case UTF8PROC_CATEGORY_PI:
		case UTF8PROC_CATEGORY_PF:
		case UTF8PROC_CATEGORY_PO:
			return true;
		default:
			return false;
	}
}

/* ---------------------------------------------------------------- */
/* Basic tokenisation                                                 */
/* ---------------------------------------------------------------- */

/*
 * Receives each word (UTF-8, never empty). special is true for a special
 * token cut out of the raw text, which is not word-pieced. Returns false to
 * stop the tokenisation early.
 */
typedef bool (*WordSink) (void *ctx, const char *word, size_t len, bool special);

/* Growable scratch buffers, reused for every piece of one text. */
typedef struct
{
	int32_t    *cleaned;		/* the segment's characters after cleaning */
	size_t		cleaned_cap;
	int32_t    *norm;			/* one white-space piece, lower-cased NFD */
	size_t		norm_cap;
	char	   *word;			/* one word, UTF-8 */
	size_t		word_cap;
} Scratch;

static bool
reserve_int32(int32_t **buf, size_t *cap, size_t need)
{
	int32_t    *p;
	size_t		new_cap;

	if (need <= *cap)
		return true;
	new_cap = *cap ? *cap : 64;
	while (new_cap < need)
		new_cap *= 2;
	p = realloc(*buf, new_cap * sizeof(int32_t));
	if (p == NULL)
		return false;
	*buf = p;
	*cap = new_cap;
	return true;
}

static bool
reserve_bytes(char **buf, size_t *cap, size_t need)
{
	char	   *p;
	size_t		new_cap;

	if (need <= *cap)
		return true;
	new_cap = *cap ? *cap : 256;
	while (new_cap < need)
		new_cap *= 2;
	p = realloc(*buf, new_cap);
	if (p == NULL)
		return false;
	*buf = p;
	*cap = new_cap;
	return true;
}

/* Encodes cps[0..n) as UTF-8 into scratch->word and hands it to the sink. */
static int
emit_word(Scratch *scratch, const int32_t *cps, size_t n,
		  WordSink sink, void *ctx)
{
	size_t		len = 0;

	if (n == 0)
		return 1;
	if (!reserve_bytes(&scratch->word, &scratch->word_cap, n * MAX_UTF8_BYTES))
		return -1;
	for (size_t i = 0; i < n; i++)
		len += (size_t) utf8proc_encode_char(cps[i], (utf8proc_uint8_t *) scratch->word + len);
	return sink(ctx, scratch->word, len, false) ? 1 : 0;
}

/* Is the piece exactly a special token's name? Those are never split. */
static bool
is_special_name(const int32_t *cps, size_t n)
{
	/* Quick exit for ordinary words: every name is "[" + 3 or 4 + "]". */
	if (n < 5 || n > 6 || cps[0] != '[' || cps[n - 1] != ']')
		return false;
	for (int s = 0; s < N_SPECIALS; s++)
	{
		const char *name = special_names[s];
		size_t		k;

		if (strlen(name) != n)
			continue;
		for (k = 0; k < n && cps[k] == (unsigned char) name[k]; k++)
			;
		if (k == n)
			return true;
	}
	return false;
}

/*
 * NFD order: a run of combining characters is sorted by combining class,
 * stably (as utf8proc and Python do).
 */
static void
canonical_reorder(int32_t *cps, size_t n)
{
	size_t		i = 0;

	while (i + 1 < n)
	{
		int			c1 = utf8proc_get_property(cps[i])->combining_class;
		int			c2 = utf8proc_get_property(cps[i + 1])->combining_class;

		if (c1 > c2 && c2 > 0)
		{
			int32_t		t = cps[i];

			cps[i] = cps[i + 1];
			cps[i + 1] = t;
			if (i > 0)
				i--;
		}
		else
			i++;
	}
}

/*
 * One white-space-separated piece: lower-case, NFD, drop Mn, split on
 * punctuation. Returns 1 to go on, 0 if the sink asked to stop, -1 when out
 * of memory.
 */
static int
tokenize_piece(Scratch *scratch, const int32_t *cps, size_t n,
			   WordSink sink, void *ctx)
{
	size_t		len = 0;
	size_t		kept = 0;
	size_t		word_start = 0;
	bool		needs_reorder = false;
	int			rc;

	if (is_special_name(cps, n))
		return emit_word(scratch, cps, n, sink, ctx);

	for (size_t i = 0; i < n; i++)
	{
		int32_t		lower;
		utf8proc_ssize_t got;

		if (!reserve_int32(&scratch->norm, &scratch->norm_cap, len + 8))
			return -1;
		/* ASCII needs no tables: it only lower-cases. */
		if (cps[i] < 0x80)
		{
			scratch->norm[len++] = (cps[i] >= 'A' && cps[i] <= 'Z') ? cps[i] + ('a' - 'A') : cps[i];
			continue;
		}
		lower = utf8proc_tolower(cps[i]);
		got = utf8proc_decompose_char(lower, scratch->norm + len,
									  (utf8proc_ssize_t) (scratch->norm_cap - len),
									  UTF8PROC_DECOMPOSE, NULL);
		if (got < 0)
			return -1;
		if ((size_t) got > scratch->norm_cap - len)
		{
			/* Longer than we made room for: make room and redo. */
			if (!reserve_int32(&scratch->norm, &scratch->norm_cap, len + (size_t) got))
				return -1;
			got = utf8proc_decompose_char(lower, scratch->norm + len,
										  (utf8proc_ssize_t) (scratch->norm_cap - len),
										  UTF8PROC_DECOMPOSE, NULL);
		}
		len += (size_t) got;
		needs_reorder = true;
	}
	if (needs_reorder)
		canonical_reorder(scratch->norm, len);

	/* Drop the accents (Mn), then cut around punctuation. */
	for (size_t i = 0; i < len; i++)
	{
		int32_t		cp = scratch->norm[i];

		if (cp >= 0x80 && utf8proc_category(cp) == UTF8PROC_CATEGORY_MN)
			continue;
		scratch->norm[kept++] = cp;
	}
	for (size_t i = 0; i < kept; i++)
	{
		if (!is_punctuation(scratch->norm[i]))
			continue;
		if ((rc = emit_word(scratch, scratch->norm + word_start, i - word_start, sink, ctx)) <= 0)
			return rc;
		if ((rc = emit_word(scratch, scratch->norm + i, 1, sink, ctx)) <= 0)
			return rc;
		word_start = i + 1;
	}
	return emit_word(scratch, scratch->norm + word_start, kept - word_start, sink, ctx);
}

/* BERT's BasicTokenizer over text[0..len), which has no special token. */
static int
basic_tokenize(Scratch *scratch, const char *text, size_t len,
			   WordSink sink, void *ctx)
{
	size_t		n = 0;
	size_t		pos = 0;
	size_t		i;

	/* Each byte gives at most one character, plus two spaces if CJK. */
	if (!reserve_int32(&scratch->cleaned, &scratch->cleaned_cap, 3 * len + 1))
		return -1;
	while (pos < len)
	{
		int32_t		cp;
		utf8proc_ssize_t got;

		if ((unsigned char) text[pos] < 0x80)
		{
			cp = (unsigned char) text[pos];
			got = 1;
		}
		else
			got = utf8proc_iterate((const utf8proc_uint8_t *) text + pos,
								   (utf8proc_ssize_t) (len - pos), &cp);
		if (got <= 0)
		{
			/* Not UTF-8: skip the byte, as U+FFFD would be dropped. */
			pos++;
			continue;
		}
		pos += (size_t) got;
		if (cp == 0 || cp == 0xFFFD || is_control(cp))
			continue;
		if (is_whitespace(cp))
			scratch->cleaned[n++] = ' ';
		else if (is_cjk(cp))
		{
			scratch->cleaned[n++] = ' ';
			scratch->cleaned[n++] = cp;
			scratch->cleaned[n++] = ' ';
		}
		else
			scratch->cleaned[n++] = cp;
	}

	i = 0;
	while (i < n)
	{
		size_t		start;
		int			rc;

		while (i < n && scratch->cleaned[i] == ' ')
			i++;
		start = i;
		while (i < n && scratch->cleaned[i] != ' ')
			i++;
		if (i > start)
		{
			rc = tokenize_piece(scratch, scratch->cleaned + start, i - start, sink, ctx);
			if (rc <= 0)
				return rc;
		}
	}
	return 1;
}

/* Length of the special token's name text starts with, 0 if none. */
static size_t
special_at(const char *text)
{
	if (text[0] != '[')
		return 0;
	for (int s = 0; s < N_SPECIALS; s++)
	{
		size_t		n = strlen(special_names[s]);

		if (strncmp(text, special_names[s], n) == 0)
			return n;
	}
	return 0;
}

/*
 * The whole text: special tokens cut out, basic tokenisation of the rest.
 * Returns 0, or -1 when out of memory.
 */
static int
for_each_word(const char *text, WordSink sink, void *ctx)
{
	Scratch		scratch = {0};
	size_t		len = strlen(text);
	size_t		segment = 0;
	size_t		pos = 0;
	int			rc = 1;

	while (rc > 0 && pos < len)
	{
		size_t		special_len = special_at(text + pos);

		if (special_len == 0)
		{
			pos++;
			continue;
		}
		rc = basic_tokenize(&scratch, text + segment, pos - segment, sink, ctx);
		if (rc > 0)
			rc = sink(ctx, text + pos, special_len, true) ? 1 : 0;
		pos += special_len;
		segment = pos;
	}
	if (rc > 0)
		rc = basic_tokenize(&scratch, text + segment, len - segment, sink, ctx);
	free(scratch.cleaned);
	free(scratch.norm);
	free(scratch.word);
	return rc < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- */
/* WordPiece                                                          */
/* ---------------------------------------------------------------- */

/* Where the ids go: the first max are kept, all are counted. */
typedef struct
{
	const VqaVocab *vocab;
	int32_t    *ids;
	int			max;
	int			count;
	bool		stop_when_full; /* truncation: no need to go on */
} IdList;

/* Returns false when the list is full and should stop. */
static bool
push_id(IdList *list, int id)
{
	if (list->count < list->max)
		list->ids[list->count] = id;
	if (list->count < INT_MAX)
		list->count++;
	return !(list->stop_when_full && list->count >= list->max);
}

/* Greedy longest-match-first, as BERT's WordpieceTokenizer. */
static bool
wordpiece_word(const VqaVocab *v, const char *word, size_t len, IdList *out)
{
	size_t		char_start[VQA_WORDPIECE_MAX_CHARS + 1];
	int32_t		pieces[VQA_WORDPIECE_MAX_CHARS];
	char		continuation[2 + VQA_WORDPIECE_MAX_CHARS * MAX_UTF8_BYTES];
	int			n_chars = 0;
	int			n_pieces = 0;
	int			start = 0;

	/* Words are valid UTF-8 here: a character starts at each non-10xxxxxx. */
	for (size_t i = 0; i < len; i++)
	{
		if (((unsigned char) word[i] & 0xC0) == 0x80)
			continue;
		if (n_chars == VQA_WORDPIECE_MAX_CHARS)
			return push_id(out, v->special_ids[SPECIAL_UNK]);
		char_start[n_chars++] = i;
	}
	char_start[n_chars] = len;

	continuation[0] = '#';
	continuation[1] = '#';
	while (start < n_chars)
	{
		int			end = n_chars;
		int			found = -1;

		for (; end > start; end--)
		{
			const char *s = word + char_start[start];
			size_t		n = char_start[end] - char_start[start];

			if (start == 0)
				found = vocab_find(v, s, n);
			else
			{
				memcpy(continuation + 2, s, n);
				found = vocab_find(v, continuation, n + 2);
			}
			if (found >= 0)
				break;
		}
		if (found < 0)
			return push_id(out, v->special_ids[SPECIAL_UNK]);
		pieces[n_pieces++] = found;
		start = end;
	}
	for (int i = 0; i < n_pieces; i++)
	{
		if (!push_id(out, pieces[i]))
			return false;
	}
	return true;
}

static bool
word_to_pieces(void *ctx, const char *word, size_t len, bool special)
{
	IdList	   *out = ctx;
	const VqaVocab *v = out->vocab;

	if (special)
	{
		int			id = vocab_find(v, word, len);

		/* A special token missing from the vocabulary ([MASK]) is unknown. */
		return push_id(out, id >= 0 ? id : v->special_ids[SPECIAL_UNK]);
	}
	return wordpiece_word(v, word, len, out);
}

int
vqa_wordpiece(const VqaVocab *v, const char *text, int32_t *ids, int max)
{
	IdList		list;

	if (v == NULL)
		return -1;
	list.vocab = v;
	list.ids = ids;
	list.max = ids ? (max > 0 ? max : 0) : 0;
	list.count = 0;
	list.stop_when_full = false;
	if (for_each_word(text ? text : "", word_to_pieces, &list) < 0)
		return -1;
	return list.count;
}

int
vqa_tokenize(const VqaVocab *v, const char *text, int max_length,
			 int32_t *input_ids, int32_t *attended)
{
	IdList		list;
	int			n_real;

	if (v == NULL || input_ids == NULL || max_length < 2)
		return -1;
	/* Pieces go straight after [CLS]; room for [SEP] is kept. */
	list.vocab = v;
	list.ids = input_ids + 1;
	list.max = max_length - 2;
	list.count = 0;
	list.stop_when_full = true;
	if (list.max > 0 && for_each_word(text ? text : "", word_to_pieces, &list) < 0)
		return -1;

	n_real = (list.count < list.max ? list.count : list.max) + 2;
	input_ids[0] = v->special_ids[SPECIAL_CLS];
	input_ids[n_real - 1] = v->special_ids[SPECIAL_SEP];
	for (int i = n_real; i < max_length; i++)
		input_ids[i] = v->special_ids[SPECIAL_PAD];
	if (attended != NULL)
	{
		for (int i = 0; i < max_length; i++)
			attended[i] = i < n_real ? 1 : 0;
	}
	return n_real;
}

int
vqa_tokenize_plain(const VqaVocab *v, const char *text, int max_length,
				   int32_t *input_ids, int32_t *attended)
{
	IdList		list;
	int			n_real;

	if (v == NULL || input_ids == NULL || max_length < 1)
		return -1;
	list.vocab = v;
	list.ids = input_ids;
	list.max = max_length;
	list.count = 0;
	list.stop_when_full = true;
	if (for_each_word(text ? text : "", word_to_pieces, &list) < 0)
		return -1;
	n_real = list.count < list.max ? list.count : list.max;
	for (int i = n_real; i < max_length; i++)
		input_ids[i] = v->special_ids[SPECIAL_PAD];
	if (attended != NULL)
	{
		for (int i = 0; i < max_length; i++)
			attended[i] = i < n_real ? 1 : 0;
	}
	return n_real;
}

/* ---------------------------------------------------------------- */
/* Building a vocabulary from texts                                   */
/* ---------------------------------------------------------------- */

typedef struct
{
	VqaVocab   *words;			/* distinct words, in order of first sight */
	int64_t    *counts;			/* id in words -> occurrences */
	size_t		counts_cap;
	bool		out_of_memory;
} WordCounter;

static bool
count_word(void *ctx, const char *word, size_t len, bool special)
{
	WordCounter *wc = ctx;
	int			id;

	/* Verbatim special tokens are in the vocabulary already. */
	if (special)
		return true;
	id = vocab_find(wc->words, word, len);
	if (id < 0)
	{
		id = vocab_append(wc->words, word, len);
		if (id < 0)
		{
			wc->out_of_memory = true;
			return false;
		}
		if ((size_t) id >= wc->counts_cap)
		{
			size_t		new_cap = wc->counts_cap ? wc->counts_cap * 2 : 1024;
			int64_t    *p = realloc(wc->counts, new_cap * sizeof(int64_t));

			if (p == NULL)
			{
				wc->out_of_memory = true;
				return false;
			}
			wc->counts = p;
			wc->counts_cap = new_cap;
		}
		wc->counts[id] = 0;
	}
	wc->counts[id]++;
	return true;
}

typedef struct
{
	const char *text;
	int64_t		count;
	int			n_chars;
} WordEntry;

/* Most frequent first, then byte order. */
static int
compare_words(const void *a, const void *b)
{
	const WordEntry *x = a;
	const WordEntry *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->text, y->text);
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Number of characters of a valid UTF-8 string. */
static int
count_chars(const char *s)
{
	int			n = 0;

	for (; *s; s++)
	{
		if (((unsigned char) *s & 0xC0) != 0x80)
			n++;
	}
	return n;
}

/* Appends s unless present; false when out of memory. */
static bool
append_unique(VqaVocab *v, const char *s, size_t len)
{
	return vocab_find(v, s, len) >= 0 || vocab_append(v, s, len) >= 0;
}

VqaVocab *
vqa_vocab_build(const char *const *texts, size_t n, int min_count,
				int max_size, char *errbuf, size_t errlen)
{
	WordCounter wc = {0};
	VqaVocab   *chars = NULL;	/* distinct characters seen */
	VqaVocab   *out = NULL;
	WordEntry  *entries = NULL;
	const char **char_list = NULL;
	int64_t		word_budget;
	char		piece[2 + MAX_UTF8_BYTES];

	if (min_count < 1)
		min_count = 1;
	wc.words = vocab_new();
	chars = vocab_new();
	out = vocab_new();
	if (wc.words == NULL || chars == NULL || out == NULL)
		goto out_of_memory;

	for (size_t t = 0; t < n; t++)
	{
		if (texts[t] == NULL)
			continue;
		if (for_each_word(texts[t], count_word, &wc) < 0 || wc.out_of_memory)
			goto out_of_memory;
	}

	/* Every character of every word, so that all of them can be spelt. */
	for (int id = 0; id < wc.words->size; id++)
	{
		const char *s = token_text(wc.words, id);
		size_t		len = wc.words->lengths[id];
		size_t		pos = 0;

		while (pos < len)
		{
			size_t		next = pos + 1;

			while (next < len && ((unsigned char) s[next] & 0xC0) == 0x80)
				next++;
			if (!append_unique(chars, s + pos, next - pos))
				goto out_of_memory;
			pos = next;
		}
	}

	word_budget = max_size > 0 ? (int64_t) max_size - N_SPECIALS - 2 * (int64_t) chars->size : INT64_MAX;
	if (word_budget < 0)
	{
		vqa_set_error(errbuf, errlen,
				  "max_size %d is too small for the %d special tokens and %d characters with their ## forms",
				  max_size, N_SPECIALS, chars->size);
		goto fail;
	}

	for (int s = 0; s < N_SPECIALS; s++)
	{
		if (vocab_append(out, special_names[s], strlen(special_names[s])) < 0)
			goto out_of_memory;
	}

	entries = malloc(((size_t) wc.words->size + 1) * sizeof(WordEntry));
	char_list = malloc(((size_t) chars->size + 1) * sizeof(char *));
	if (entries == NULL || char_list == NULL)
		goto out_of_memory;
	for (int id = 0; id < wc.words->size; id++)
	{
		entries[id].text = token_text(wc.words, id);
		entries[id].count = wc.counts[id];
		entries[id].n_chars = count_chars(entries[id].text);
	}
	qsort(entries, (size_t) wc.words->size, sizeof(WordEntry), compare_words);

	for (int i = 0; i < wc.words->size && entries[i].count >= min_count; i++)
	{
		const char *w = entries[i].text;

		/* Never matchable: WordPiece makes such a word [UNK] whole. */
		if (entries[i].n_chars > VQA_WORDPIECE_MAX_CHARS)
			continue;
		if (vocab_find(out, w, strlen(w)) >= 0)
			continue;
		/* A single character goes in anyway, so it costs no budget. */
		if (entries[i].n_chars > 1)
		{
			if (word_budget == 0)
				continue;
			word_budget--;
		}
		if (vocab_append(out, w, strlen(w)) < 0)
			goto out_of_memory;
	}

	for (int id = 0; id < chars->size; id++)
		char_list[id] = token_text(chars, id);
	qsort(char_list, (size_t) chars->size, sizeof(char *), compare_strings);
	piece[0] = '#';
	piece[1] = '#';
	for (int i = 0; i < chars->size; i++)
	{
		size_t		len = strlen(char_list[i]);

		memcpy(piece + 2, char_list[i], len);
		if (!append_unique(out, char_list[i], len) ||
			!append_unique(out, piece, len + 2))
			goto out_of_memory;
	}

	if (!resolve_specials(out, errbuf, errlen))
		goto fail;
	free(entries);
	free(char_list);
	free(wc.counts);
	vqa_vocab_free(wc.words);
	vqa_vocab_free(chars);
	return out;

out_of_memory:
	vqa_set_error(errbuf, errlen, "out of memory");
fail:
	free(entries);
	free(char_list);
	free(wc.counts);
	vqa_vocab_free(wc.words);
	vqa_vocab_free(chars);
	vqa_vocab_free(out);
	return NULL;
}
