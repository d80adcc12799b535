/*
 * test_tokenizer.c: the BERT WordPiece tokenizer against transformers.
 *
 * The fixture tokenizer/ holds a small vocab.txt and tokenizer_cases.json,
 * what transformers' BertTokenizer(do_lower_case=True) made of a set of
 * texts: the word pieces, and input_ids / attention_mask at max_length 20.
 * Every case must match exactly. The other tests cover what the fixture does
 * not: truncation, over-long words, special tokens looked up by name,
 * vocabularies built from texts, serialisation, and Unicode corners.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "unit.h"
#include "vqaprune/tokenizer.h"

#define FIXTURE_MAX_LENGTH 20

static VqaVocab *
load_fixture_vocab(void)
{
	char		path[1024];
	char		errbuf[256] = "";
	VqaVocab   *v;

	snprintf(path, sizeof(path), "%s/tokenizer/vocab.txt", unit_fixtures_dir());
	v = vqa_vocab_load(path, errbuf, sizeof(errbuf));
	if (v == NULL)
		print_error("%s\n", errbuf);
	assert_non_null(v);
	return v;
}

/* A vocabulary from a list of tokens, one per line. */
static VqaVocab *
vocab_of(const char *const *tokens, int n, char *errbuf, size_t errlen)
{
	char		buf[8192];
	size_t		len = 0;

	for (int i = 0; i < n; i++)
	{
		size_t		k = strlen(tokens[i]);

		assert_true(len + k + 1 < sizeof(buf));
		memcpy(buf + len, tokens[i], k);
		len += k;
		buf[len++] = '\n';
	}
	return vqa_vocab_from_buffer(buf, len, errbuf, errlen);
}

/* The word pieces of text, joined by single spaces, into out. */
static const char *
pieces(const VqaVocab *v, const char *text, char *out, size_t outlen)
{
	int32_t		ids[256];
	int			n = vqa_wordpiece(v, text, ids, 256);
	size_t		len = 0;

	assert_true(n >= 0 && n <= 256);
	out[0] = '\0';
	for (int i = 0; i < n; i++)
	{
		const char *tok = vqa_vocab_token(v, ids[i]);

		assert_non_null(tok);
		len += (size_t) snprintf(out + len, outlen - len, "%s%s", i ? " " : "", tok);
		assert_true(len < outlen);
	}
	return out;
}

static yajl_val
field(yajl_val obj, const char *name)
{
	const char *path[] = {name, NULL};
	yajl_val	v = yajl_tree_get(obj, path, yajl_t_any);

	assert_non_null(v);
	return v;
}

static void
fixture_cases_match_transformers(void **state)
{
	VqaVocab   *v = load_fixture_vocab();
	char		path[1024];
	char		errbuf[256];
	char	   *text;
	yajl_val	root;
	size_t		n_cases;

	snprintf(path, sizeof(path), "%s/tokenizer/tokenizer_cases.json", unit_fixtures_dir());
	text = unit_read_file(path, NULL);
	assert_non_null(text);
	root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
	free(text);
	assert_non_null(root);
	assert_true(YAJL_IS_ARRAY(root));
	n_cases = YAJL_GET_ARRAY(root)->len;
	assert_true(n_cases >= 10);

	for (size_t c = 0; c < n_cases; c++)
	{
		yajl_val	kase = YAJL_GET_ARRAY(root)->values[c];
		const char *input = YAJL_GET_STRING(field(kase, "text"));
		yajl_val	tokens = field(kase, "tokens");
		yajl_val	want_ids = field(kase, "input_ids");
		yajl_val	want_attended = field(kase, "attention_mask");
		int32_t		ids[256];
		int32_t		input_ids[FIXTURE_MAX_LENGTH];
		int32_t		attended[FIXTURE_MAX_LENGTH];
		int			n = vqa_wordpiece(v, input, ids, 256);
		int			n_real;
		int			want_real = 0;

		if (n != (int) YAJL_GET_ARRAY(tokens)->len)
			print_error("case %zu \"%s\": %d pieces, transformers %zu\n",
						c, input, n, YAJL_GET_ARRAY(tokens)->len);
		assert_int_equal(n, YAJL_GET_ARRAY(tokens)->len);
		for (int i = 0; i < n; i++)
		{
			const char *want = YAJL_GET_STRING(YAJL_GET_ARRAY(tokens)->values[i]);

			if (strcmp(vqa_vocab_token(v, ids[i]), want) != 0)
				print_error("case %zu \"%s\" piece %d\n", c, input, i);
			assert_string_equal(vqa_vocab_token(v, ids[i]), want);
		}

		assert_int_equal(YAJL_GET_ARRAY(want_ids)->len, FIXTURE_MAX_LENGTH);
		n_real = vqa_tokenize(v, input, FIXTURE_MAX_LENGTH, input_ids, attended);
		for (int i = 0; i < FIXTURE_MAX_LENGTH; i++)
		{
			long long	want_id = YAJL_GET_INTEGER(YAJL_GET_ARRAY(want_ids)->values[i]);
			long long	want_att = YAJL_GET_INTEGER(YAJL_GET_ARRAY(want_attended)->values[i]);

			if (input_ids[i] != want_id || attended[i] != want_att)
				print_error("case %zu \"%s\" position %d\n", c, input, i);
			assert_int_equal(input_ids[i], want_id);
			assert_int_equal(attended[i], want_att);
			want_real += (int) want_att;
		}
		assert_int_equal(n_real, want_real);
	}
	yajl_tree_free(root);
	vqa_vocab_free(v);
}

/* Special tokens are found by name: bert-base-uncased has [CLS] at 101. */
static void
specials_are_looked_up_by_name(void **state)
{
	const char *tokens[110];
	char		names[100][16];
	char		errbuf[256];
	VqaVocab   *v;
	int32_t		ids[8];
	int32_t		mask[8];
	int			n = 0;

	tokens[n++] = "[PAD]";
	for (int i = 1; i < 100; i++)
	{
		snprintf(names[i], sizeof(names[i]), "[unused%d]", i - 1);
		tokens[n++] = names[i];
	}
	tokens[n++] = "[UNK]";
	tokens[n++] = "[CLS]";
	tokens[n++] = "[SEP]";
	tokens[n++] = "[MASK]";
	tokens[n++] = "hello";
	v = vocab_of(tokens, n, errbuf, sizeof(errbuf));
	assert_non_null(v);
	assert_int_equal(vqa_vocab_pad_id(v), 0);
	assert_int_equal(vqa_vocab_unk_id(v), 100);
	assert_int_equal(vqa_vocab_cls_id(v), 101);
	assert_int_equal(vqa_vocab_sep_id(v), 102);
	assert_int_equal(vqa_vocab_mask_id(v), 103);

	assert_int_equal(vqa_tokenize(v, "Hello world", 8, ids, mask), 4);
	assert_int_equal(ids[0], 101);
	assert_int_equal(ids[1], 104);
	assert_int_equal(ids[2], 100);
	assert_int_equal(ids[3], 102);
	for (int i = 4; i < 8; i++)
	{
		assert_int_equal(ids[i], 0);
		assert_int_equal(mask[i], 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(mask[i], 1);

	/* the paper authors' encoding: no specials, the pieces cut to the length */
	assert_int_equal(vqa_tokenize_plain(v, "Hello world", 8, ids, mask), 2);
	assert_int_equal(ids[0], 104);
	assert_int_equal(ids[1], 100);
	for (int i = 2; i < 8; i++)
	{
		assert_int_equal(ids[i], 0);
		assert_int_equal(mask[i], 0);
	}
	assert_int_equal(mask[0] + mask[1], 2);
	assert_int_equal(vqa_tokenize_plain(v, "hello hello hello", 2, ids, mask), 2);
	assert_int_equal(ids[0], 104);
	assert_int_equal(ids[1], 104);
	assert_int_equal(vqa_tokenize_plain(v, "", 3, ids, NULL), 0);
	assert_int_equal(ids[0], 0);
	assert_int_equal(vqa_tokenize_plain(v, "hello", 0, ids, mask), -1);
	vqa_vocab_free(v);
}

static void
missing_specials_are_errors(void **state)
{
	const char *no_unk[] = {"[PAD]", "[CLS]", "[SEP]", "[MASK]", "a"};
	const char *no_sep[] = {"[PAD]", "[UNK]", "[CLS]", "a"};
	const char *no_mask[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"};
	char		errbuf[256] = "";
	VqaVocab   *v;

	assert_null(vocab_of(no_unk, 5, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "[UNK]"));
	assert_null(vocab_of(no_sep, 4, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "[SEP]"));
	assert_null(vqa_vocab_from_buffer("", 0, NULL, 0));
	assert_null(vqa_vocab_load("no/such/vocab.txt", errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "no/such/vocab.txt"));
	assert_null(vqa_vocab_from_buffer("[PAD]\n[UNK]\n[CLS]\n[SEP]\n\xff\n", 26, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "UTF-8"));

	/* [MASK] is optional; written in a text it is then unknown. */
	v = vocab_of(no_mask, 5, errbuf, sizeof(errbuf));
	assert_non_null(v);
	assert_int_equal(vqa_vocab_mask_id(v), -1);
	{
		char		out[256];

		assert_string_equal(pieces(v, "a [MASK] a", out, sizeof(out)), "a [UNK] a");
	}
	vqa_vocab_free(v);
	vqa_vocab_free(NULL);
}

static void
long_texts_are_truncated(void **state)
{
	VqaVocab   *v = load_fixture_vocab();
	const char *text = "what color is the man's shirt? how many dogs are there? "
		"is this unbelievable playing? what color is the cat?";
	int32_t		all[256];
	int32_t		ids[FIXTURE_MAX_LENGTH];
	int32_t		mask[FIXTURE_MAX_LENGTH];
	int			n_all = vqa_wordpiece(v, text, all, 256);

	assert_true(n_all > 18);
	assert_int_equal(vqa_tokenize(v, text, FIXTURE_MAX_LENGTH, ids, mask), FIXTURE_MAX_LENGTH);
	assert_int_equal(ids[0], vqa_vocab_cls_id(v));
	for (int i = 0; i < 18; i++)
		assert_int_equal(ids[1 + i], all[i]);
	assert_int_equal(ids[19], vqa_vocab_sep_id(v));
	for (int i = 0; i < FIXTURE_MAX_LENGTH; i++)
		assert_int_equal(mask[i], 1);

	/* vqa_wordpiece counts every piece even past max. */
	assert_int_equal(vqa_wordpiece(v, text, all, 3), n_all);
	assert_int_equal(vqa_wordpiece(v, text, NULL, 0), n_all);

	/* The smallest length holds only the specials; smaller is an error. */
	assert_int_equal(vqa_tokenize(v, text, 2, ids, NULL), 2);
	assert_int_equal(ids[0], vqa_vocab_cls_id(v));
	assert_int_equal(ids[1], vqa_vocab_sep_id(v));
	assert_int_equal(vqa_tokenize(v, text, 1, ids, NULL), -1);

	/* Empty and blank texts: [CLS] [SEP] and padding. */
	assert_int_equal(vqa_tokenize(v, "", FIXTURE_MAX_LENGTH, ids, mask), 2);
	assert_int_equal(vqa_tokenize(v, " \t\n", FIXTURE_MAX_LENGTH, ids, mask), 2);
	assert_int_equal(ids[2], vqa_vocab_pad_id(v));
	assert_int_equal(mask[2], 0);
	vqa_vocab_free(v);
}

static void
long_words_are_unknown(void **state)
{
	const char *tokens[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##a", "b"};
	VqaVocab   *v = vocab_of(tokens, 7, NULL, 0);
	char		word[256];
	int32_t		ids[128];

	assert_non_null(v);
	memset(word, 'a', 100);
	word[100] = '\0';
	assert_int_equal(vqa_wordpiece(v, word, ids, 128), 100);
	assert_int_equal(ids[0], 4);
	assert_int_equal(ids[99], 5);
	word[100] = 'A';			/* lower-cased before counting: still 101 */
	word[101] = '\0';
	assert_int_equal(vqa_wordpiece(v, word, ids, 128), 1);
	assert_int_equal(ids[0], vqa_vocab_unk_id(v));

	/* 100 two-byte characters are fine: the limit counts characters. */
	for (int i = 0; i < 100; i++)
		memcpy(word + 2 * i, "\xc3\xa1", 2);	/* a-acute, stripped to a */
	word[200] = '\0';
	assert_int_equal(vqa_wordpiece(v, word, ids, 128), 100);

	/* One character with no piece makes the whole word unknown. */
	assert_int_equal(vqa_wordpiece(v, "aab aa", ids, 128), 3);
	assert_int_equal(ids[0], vqa_vocab_unk_id(v));
	assert_int_equal(ids[1], 4);
	assert_int_equal(ids[2], 5);
	vqa_vocab_free(v);
}

static void
accents_case_and_punctuation(void **state)
{
	const char *tokens[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
		"cafe", "ecole", "que", "?", "\xc2\xbf", "$", "5", "don", "'", "t",
		"i", "a", "b", "c", "ab", "-", "\xcf\x83", "\xcf\x82", "##\xcf\x83", "\xce\xb1"};
	VqaVocab   *v = vocab_of(tokens, (int) (sizeof(tokens) / sizeof(tokens[0])), NULL, 0);
	char		out[512];

	assert_non_null(v);
	assert_string_equal(pieces(v, "Caf\xc3\xa9", out, sizeof(out)), "cafe");
	assert_string_equal(pieces(v, "CAF\xc3\x89", out, sizeof(out)), "cafe");
	assert_string_equal(pieces(v, "Cafe\xcc\x81", out, sizeof(out)), "cafe");	/* decomposed */
	assert_string_equal(pieces(v, "\xc3\x89" "cole", out, sizeof(out)), "ecole");
	assert_string_equal(pieces(v, "\xc2\xbfQu\xc3\xa9?", out, sizeof(out)), "\xc2\xbf que ?");
	assert_string_equal(pieces(v, "$5", out, sizeof(out)), "$ 5");
	assert_string_equal(pieces(v, "Don't", out, sizeof(out)), "don ' t");
	/* Capital I with dot: Python gives "i" + U+0307, the dot is stripped. */
	assert_string_equal(pieces(v, "\xc4\xb0", out, sizeof(out)), "i");
	/* Unicode punctuation (an en dash, Pd) splits too. */
	assert_string_equal(pieces(v, "a\xe2\x80\x93" "b", out, sizeof(out)), "a [UNK] b");
	assert_string_equal(pieces(v, "a-b", out, sizeof(out)), "a - b");
	/*
	 * Capital sigma lowers to sigma even at the end of a word (transformers
	 * lower-cases one character at a time, so never to final sigma).
	 */
	assert_string_equal(pieces(v, "\xce\x91\xce\xa3", out, sizeof(out)), "\xce\xb1 ##\xcf\x83");
	assert_string_equal(pieces(v, "\xce\xa3\xce\xa3", out, sizeof(out)), "\xcf\x83 ##\xcf\x83");
	vqa_vocab_free(v);
}

static void
cjk_and_control_characters(void **state)
{
	const char *tokens[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
		"\xe6\xb0\xb4", "cat", "what", "color", "is", "it", "red",
		"\xe3\x82\xab", "##\xe3\x82\xbf"};
	VqaVocab   *v = vocab_of(tokens, (int) (sizeof(tokens) / sizeof(tokens[0])), NULL, 0);
	char		out[512];

	assert_non_null(v);
	/* Ideographs stand alone even when written together. */
	assert_string_equal(pieces(v, "\xe6\xb0\xb4\xe6\xb0\xb4" "cat", out, sizeof(out)),
						"\xe6\xb0\xb4 \xe6\xb0\xb4 cat");
	assert_string_equal(pieces(v, "\xe7\x81\xab", out, sizeof(out)), "[UNK]");
	/* Katakana is not CJK for BERT: one word, word-pieced. */
	assert_string_equal(pieces(v, "\xe3\x82\xab\xe3\x82\xbf", out, sizeof(out)),
						"\xe3\x82\xab ##\xe3\x82\xbf");

	/* \t \n \r and U+00A0, U+3000, U+2028 separate words. */
	assert_string_equal(pieces(v, "\tWhat\ncolor\xc2\xa0is\r\nit\xe3\x80\x80red\xe2\x80\xa8" "cat",
							   out, sizeof(out)),
						"what color is it red cat");
	/* Controls (Cc), format characters (Cf), NUL-free noise and bad UTF-8 vanish. */
	assert_string_equal(pieces(v, "wh\x01" "at co\xe2\x80\x8blor \xef\xbf\xbdis r\xffgreen"
							   "\x7f" "d",
							   out, sizeof(out)), "what color is [UNK]");
	assert_string_equal(pieces(v, "i\xe2\x80\x8dt \xee\x80\x80red", out, sizeof(out)), "it red");
	vqa_vocab_free(v);
}

/* "[MASK]" written in a text stays one token, as transformers does. */
static void
verbatim_special_tokens(void **state)
{
	VqaVocab   *v = load_fixture_vocab();
	char		out[512];

	assert_string_equal(pieces(v, "is [MASK] red", out, sizeof(out)), "is [MASK] [UNK]");
	assert_string_equal(pieces(v, "what[SEP]color", out, sizeof(out)), "what [SEP] color");
	assert_string_equal(pieces(v, "[mask]", out, sizeof(out)), "[UNK] [UNK] [UNK]");
	/* A control character inside: cleaned, then kept whole as a special's name. */
	assert_string_equal(pieces(v, "[CL\x01S]", out, sizeof(out)), "[CLS]");
	vqa_vocab_free(v);
}

static char *
serialize_build(const char *const *texts, size_t n, int min_count, int max_size)
{
	char		errbuf[256] = "";
	VqaVocab   *v = vqa_vocab_build(texts, n, min_count, max_size, errbuf, sizeof(errbuf));
	char	   *s;

	if (v == NULL)
		print_error("%s\n", errbuf);
	assert_non_null(v);
	s = vqa_vocab_serialize(v, NULL);
	assert_non_null(s);
	vqa_vocab_free(v);
	return s;
}

static void
build_vocabulary_from_texts(void **state)
{
	const char *texts[] = {
		"What color is the cat?",
		"What is the dog doing?",
		"Is the Caf\xc3\xa9 open? \xe6\xb0\xb4",
		NULL,
		"what",
	};
	const char *reordered[] = {texts[4], texts[2], texts[0], texts[1]};
	const char *words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
	"?", "is", "the", "what"};
	char		errbuf[256] = "";
	char		out[512];
	VqaVocab   *v = vqa_vocab_build(texts, 5, 2, 0, errbuf, sizeof(errbuf));
	char	   *a;
	char	   *b;
	int			n_chars = 0;	/* distinct characters seen */

	assert_non_null(v);
	/* Specials first, then words seen twice or more by count, ties by bytes. */
	for (int i = 0; i < 9; i++)
		assert_string_equal(vqa_vocab_token(v, i), words[i]);
	assert_int_equal(vqa_vocab_unk_id(v), 1);
	assert_int_equal(vqa_vocab_id(v, "cat"), -1);	/* seen once */
	assert_int_equal(vqa_vocab_id(v, "dog"), -1);

	/* Every seen character, alone and as a continuation. */
	assert_true(vqa_vocab_id(v, "c") > 8);
	assert_true(vqa_vocab_id(v, "##c") > 8);
	assert_true(vqa_vocab_id(v, "\xe6\xb0\xb4") > 8);
	assert_int_equal(vqa_vocab_id(v, "C"), -1);	/* lower-cased */
	assert_int_equal(vqa_vocab_id(v, "\xc3\xa9"), -1);	/* accent stripped */
	for (int id = 9; id < vqa_vocab_size(v); id++)
	{
		if (strncmp(vqa_vocab_token(v, id), "##", 2) == 0)
			n_chars++;
	}
	/* "?" is among the words already, so only its ## form comes again. */
	assert_int_equal(vqa_vocab_size(v), 9 + 2 * n_chars - 1);
	assert_string_equal(pieces(v, "What color is the cat doing?", out, sizeof(out)),
						"what c ##o ##l ##o ##r is the c ##a ##t d ##o ##i ##n ##g ?");
	assert_string_equal(pieces(v, "Cafe open", out, sizeof(out)), "c ##a ##f ##e o ##p ##e ##n");
	assert_string_equal(pieces(v, "zoo", out, sizeof(out)), "[UNK]");

	/* Deterministic, and independent of the order of the texts. */
	a = serialize_build(texts, 5, 2, 0);
	b = serialize_build(reordered, 4, 2, 0);
	assert_string_equal(a, b);
	free(b);
	b = serialize_build(texts, 5, 2, 0);
	assert_string_equal(a, b);
	free(a);
	free(b);

	/* min_count 1 lets every word in, single characters in place. */
	vqa_vocab_free(v);
	v = vqa_vocab_build(texts, 5, 1, 0, NULL, 0);
	assert_non_null(v);
	assert_string_equal(vqa_vocab_token(v, 5), "?");
	assert_true(vqa_vocab_id(v, "cat") > 8);
	assert_true(vqa_vocab_id(v, "cat") < vqa_vocab_id(v, "##c"));
	/* count 1, by byte order */
	assert_true(vqa_vocab_id(v, "open") < vqa_vocab_id(v, "\xe6\xb0\xb4"));

	/* max_size: characters always, words in order of frequency up to it. */
	vqa_vocab_free(v);
	v = vqa_vocab_build(texts, 5, 1, 5 + 2 * n_chars + 2, errbuf, sizeof(errbuf));
	assert_non_null(v);
	assert_int_equal(vqa_vocab_size(v), 5 + 2 * n_chars + 2);
	assert_string_equal(vqa_vocab_token(v, 5), "?");
	assert_string_equal(vqa_vocab_token(v, 6), "is");
	assert_string_equal(vqa_vocab_token(v, 7), "the");
	assert_int_equal(vqa_vocab_id(v, "what"), -1);
	assert_string_equal(pieces(v, "what", out, sizeof(out)), "w ##h ##a ##t");
	vqa_vocab_free(v);
	assert_null(vqa_vocab_build(texts, 5, 1, 5 + 2 * n_chars - 1, errbuf, sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "too small"));

	/* No texts: the specials alone. */
	v = vqa_vocab_build(NULL, 0, 1, 0, NULL, 0);
	assert_non_null(v);
	assert_int_equal(vqa_vocab_size(v), 5);
	vqa_vocab_free(v);
}

static void
serialize_and_load_round_trip(void **state)
{
	VqaVocab   *v = load_fixture_vocab();
	VqaVocab   *w;
	char		errbuf[256] = "";
	char		path[1024];
	const char *tmpdir = getenv("TMPDIR");
	size_t		len;
	char	   *text = vqa_vocab_serialize(v, &len);
	FILE	   *f;
	int			fd;

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	w = vqa_vocab_from_buffer(text, len, errbuf, sizeof(errbuf));
	assert_non_null(w);
	assert_int_equal(vqa_vocab_size(w), vqa_vocab_size(v));
	for (int id = 0; id < vqa_vocab_size(v); id++)
	{
		assert_string_equal(vqa_vocab_token(w, id), vqa_vocab_token(v, id));
		assert_int_equal(vqa_vocab_id(w, vqa_vocab_token(v, id)), id);
	}
	vqa_vocab_free(w);

	/* Through a file. */
	snprintf(path, sizeof(path), "%s/vqaprune_vocab_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	w = vqa_vocab_load(path, errbuf, sizeof(errbuf));
	remove(path);
	assert_non_null(w);
	assert_int_equal(vqa_vocab_size(w), vqa_vocab_size(v));
	free(text);
	vqa_vocab_free(w);
	vqa_vocab_free(v);

	/* \r\n and \r end lines too; no end on the last line; a repeat keeps its last id. */
	w = vqa_vocab_from_buffer("[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n\nx\n[UNK]", 33, errbuf, sizeof(errbuf));
	assert_non_null(w);
	assert_int_equal(vqa_vocab_size(w), 7);
	assert_string_equal(vqa_vocab_token(w, 4), "");
	assert_int_equal(vqa_vocab_id(w, "x"), 5);
	assert_int_equal(vqa_vocab_unk_id(w), 6);
	assert_string_equal(vqa_vocab_token(w, 1), "[UNK]");
	assert_null(vqa_vocab_token(w, 7));
	assert_null(vqa_vocab_token(w, -1));
	text = vqa_vocab_serialize(w, &len);
	assert_string_equal(text, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n\nx\n[UNK]\n");
	free(text);
	vqa_vocab_free(w);
}

/* Many tokens: the hash table grows and still finds every one. */
static void
large_vocabulary_lookups(void **state)
{
	size_t		cap = 40000 * 12;
	char	   *buf = malloc(cap);
	size_t		len = 0;
	VqaVocab   *v;
	char		tok[32];

	assert_non_null(buf);
	len += (size_t) snprintf(buf + len, cap - len, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
	for (int i = 0; i < 30000; i++)
		len += (size_t) snprintf(buf + len, cap - len, "w%d\n", i);
	v = vqa_vocab_from_buffer(buf, len, NULL, 0);
	free(buf);
	assert_non_null(v);
	assert_int_equal(vqa_vocab_size(v), 30004);
	for (int i = 0; i < 30000; i++)
	{
		snprintf(tok, sizeof(tok), "w%d", i);
		assert_int_equal(vqa_vocab_id(v, tok), 4 + i);
	}
	assert_int_equal(vqa_vocab_id(v, "w30000"), -1);
	assert_int_equal(vqa_vocab_id(v, "[CLS]"), 2);
	vqa_vocab_free(v);
}

int
run_tokenizer_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixture_cases_match_transformers),
		cmocka_unit_test(specials_are_looked_up_by_name),
		cmocka_unit_test(missing_specials_are_errors),
		cmocka_unit_test(long_texts_are_truncated),
		cmocka_unit_test(long_words_are_unknown),
		cmocka_unit_test(accents_case_and_punctuation),
		cmocka_unit_test(cjk_and_control_characters),
		cmocka_unit_test(verbatim_special_tokens),
		cmocka_unit_test(build_vocabulary_from_texts),
		cmocka_unit_test(serialize_and_load_round_trip),
		cmocka_unit_test(large_vocabulary_lookups),
	};

	return UNIT_GROUP(tokenizer, tests, n_tests);
}
