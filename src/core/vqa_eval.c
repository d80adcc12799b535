/*
 * vqa_eval.c: the official VQA answer normalisation and accuracy.
 *
 * A line-by-line port of the behaviour of the official evaluation
 * (vqaEval.py of the VQA challenge), because published VQA and VQA-CP
 * numbers are only comparable when answers are normalised the same way:
 *
 *   processPunctuation: every punctuation mark in PUNCTUATION is deleted when
 *     some occurrence of it touches a space, or when the text holds a comma
 *     between two digits; otherwise it becomes a space. Then periods not
 *     followed by a digit are deleted, at most 32 of them: the official code
 *     passes re.UNICODE (32) where re.sub expects its count.
 *   processDigitArticle: lower-case, split on white space, number words to
 *     digits, drop articles, restore the apostrophe of common contractions.
 *   accuracy: mean over the leave-one-annotator-out subsets of
 *     min(1, matches / 3); the prediction is always normalised, the ground
 *     truth only punctuation-processed, and only when the answers disagree.
 *
 * Text is UTF-8. Python's notions of digit, white space and lower case are
 * Unicode-wide, so they are taken from utf8proc rather than <ctype.h>.
 */
#include "vqaprune/vqa_eval.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define PERIOD_STRIP_COUNT 32	/* re.UNICODE == 32, used as a count */

static const char PUNCTUATION[] = ";/[]\"{}()=+\\_-><@`,?!";

static const char *const NUMBER_WORDS[][2] = {
	{"none", "0"}, {"zero", "0"}, {"one", "1"}, {"two", "2"}, {"three", "3"},
	{"four", "4"}, {"five", "5"}, {"six", "6"}, {"seven", "7"}, {"eight", "8"},
	{"nine", "9"}, {"ten", "10"},
};

static const char *const ARTICLES[] = {"a", "an", "the"};

/*
 * The official contraction table, entries with capitals included: they are
 * looked up after lower-casing and so never match, exactly as in the original.
 */
static const char *const CONTRACTIONS[][2] = {
	{"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"},
	{"couldve", "could've"}, {"couldnt", "couldn't"},
	{"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"},
	{"didnt", "didn't"}, {"doesnt", "doesn't"}, {"dont", "don't"},
	{"hadnt", "hadn't"}, {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"},
	{"hasnt", "hasn't"}, {"havent", "haven't"}, {"hed", "he'd"},
	{"hed've", "he'd've"}, {"he'dve", "he'd've"}, {"hes", "he's"},
	{"howd", "how'd"}, {"howll", "how'll"}, {"hows", "how's"},
	{"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"}, {"Ive", "I've"},
	{"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"},
	{"it'dve", "it'd've"}, {"itll", "it'll"}, {"let's", "let's"},
	{"maam", "ma'am"}, {"mightnt", "mightn't"}, {"mightnt've", "mightn't've"},
	{"mightn'tve", "mightn't've"}, {"mightve", "might've"},
	{"mustnt", "mustn't"}, {"mustve", "must've"}, {"neednt", "needn't"},
	{"notve", "not've"}, {"oclock", "o'clock"}, {"oughtnt", "oughtn't"},
	{"ow's'at", "'ow's'at"}, {"'ows'at", "'ow's'at"}, {"'ow'sat", "'ow's'at"},
	{"shant", "shan't"}, {"shed've", "she'd've"}, {"she'dve", "she'd've"},
	{"she's", "she's"}, {"shouldve", "should've"}, {"shouldnt", "shouldn't"},
	{"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"},
	{"somebody'd", "somebodyd"}, {"somebodyd've", "somebody'd've"},
	{"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
	{"somebodys", "somebody's"}, {"someoned", "someone'd"},
	{"someoned've", "someone'd've"}, {"someone'dve", "someone'd've"},
	{"someonell", "someone'll"}, {"someones", "someone's"},
	{"somethingd", "something'd"}, {"somethingd've", "something'd've"},
	{"something'dve", "something'd've"}, {"somethingll", "something'll"},
	{"thats", "that's"}, {"thered", "there'd"}, {"thered've", "there'd've"},
	{"there'dve", "there'd've"}, {"therere", "there're"},
	{"theres", "there's"}, {"theyd", "they'd"}, {"theyd've", "they'd've"},
	{"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"},
	{"theyve", "they've"}, {"twas", "'twas"}, {"wasnt", "wasn't"},
	{"wed've", "we'd've"}, {"we'dve", "we'd've"}, {"weve", "we've"},
	{"werent", "weren't"}, {"whatll", "what'll"}, {"whatre", "what're"},
	{"whats", "what's"}, {"whatve", "what've"}, {"whens", "when's"},
	{"whered", "where'd"}, {"wheres", "where's"}, {"whereve", "where've"},
	{"whod", "who'd"}, {"whod've", "who'd've"}, {"who'dve", "who'd've"},
	{"wholl", "who'll"}, {"whos", "who's"}, {"whove", "who've"},
	{"whyll", "why'll"}, {"whyre", "why're"}, {"whys", "why's"},
	{"wont", "won't"}, {"wouldve", "would've"}, {"wouldnt", "wouldn't"},
	{"wouldnt've", "wouldn't've"}, {"wouldn'tve", "wouldn't've"},
	{"yall", "y'all"}, {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"},
	{"yall'd've", "y'all'd've"}, {"y'alld've", "y'all'd've"},
	{"y'all'dve", "y'all'd've"}, {"youd", "you'd"}, {"youd've", "you'd've"},
	{"you'dve", "you'd've"}, {"youll", "you'll"}, {"youre", "you're"},
	{"youve", "you've"},
};

#define LENGTHOF(a) (sizeof(a) / sizeof((a)[0]))

size_t
vqa_answer_bufsize(size_t len)
{
	/* lower-casing may grow a UTF-8 character by half, a contraction by one */
	return 2 * len + 16;
}

/*
 * Decodes the code point at s (at most n bytes) into *cp and returns its
 * length; invalid bytes count as one byte of code point -1.
 */
static int
next_codepoint(const char *s, size_t n, utf8proc_int32_t *cp)
{
	utf8proc_ssize_t len = utf8proc_iterate((const utf8proc_uint8_t *) s,
											(utf8proc_ssize_t) n, cp);

	if (len <= 0)
	{
		*cp = -1;
		return 1;
	}
	return (int) len;
}

/* Python's str.isdigit-like \d: Unicode decimal digits. */
static bool
is_digit_cp(utf8proc_int32_t cp)
{
	if (cp >= '0' && cp <= '9')
		return true;
	return cp > 127 && utf8proc_category(cp) == UTF8PROC_CATEGORY_ND;
}

/* Python's str.isspace: what str.split() and str.strip() cut on. */
static bool
is_space_cp(utf8proc_int32_t cp)
{
	const utf8proc_property_t *prop;

	if (cp == ' ' || (cp >= 9 && cp <= 13) || (cp >= 28 && cp <= 31))
		return true;
	if (cp < 128)
		return false;
	prop = utf8proc_get_property(cp);
	return prop->category == UTF8PROC_CATEGORY_ZS ||
		prop->category == UTF8PROC_CATEGORY_ZL ||
		prop->category == UTF8PROC_CATEGORY_ZP ||
		prop->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
		prop->bidi_class == UTF8PROC_BIDI_CLASS_B ||
		prop->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

static bool
is_digit_at(const char *s, size_t n)
{
	utf8proc_int32_t cp;

	if (n == 0)
		return false;
	next_codepoint(s, n, &cp);
	return is_digit_cp(cp);
}

/* re.search(r"(\d)(,)(\d)", text) */
static bool
has_comma_between_digits(const char *text, size_t len)
{
	bool		prev_digit = false;
	size_t		i = 0;

	while (i < len)
	{
		utf8proc_int32_t cp;
		int			step = next_codepoint(text + i, len - i, &cp);

		if (cp == ',' && prev_digit && is_digit_at(text + i + 1, len - i - 1))
			return true;
		prev_digit = is_digit_cp(cp);
		i += step;
	}
	return false;
}

size_t
vqa_process_punctuation(const char *in, char *out)
{
	size_t		len = strlen(in);
	bool		comma_digits = has_comma_between_digits(in, len);
	bool		delete_mark[LENGTHOF(PUNCTUATION) - 1];
	size_t		o = 0;
	int			periods_left = PERIOD_STRIP_COUNT;
	char	   *tmp;

	/* each mark's fate depends on the original text only */
	for (size_t p = 0; p < LENGTHOF(PUNCTUATION) - 1; p++)
	{
		bool		touches_space = false;

		for (size_t i = 0; i < len && !touches_space; i++)
			if (in[i] == PUNCTUATION[p])
				touches_space = (i + 1 < len && in[i + 1] == ' ') ||
					(i > 0 && in[i - 1] == ' ');
		delete_mark[p] = touches_space || comma_digits;
	}

	/* punctuation pass into out, then the period pass in place */
	for (size_t i = 0; i < len; i++)
	{
		const char *mark = (in[i] != '\0') ? strchr(PUNCTUATION, in[i]) : NULL;

		if (mark == NULL)
			out[o++] = in[i];
		else if (!delete_mark[mark - PUNCTUATION])
			out[o++] = ' ';
	}
	out[o] = '\0';

	tmp = out;
	len = o;
	o = 0;
	for (size_t i = 0; i < len; i++)
	{
		if (tmp[i] == '.' && periods_left > 0 &&
			!is_digit_at(tmp + i + 1, len - i - 1))
		{
			periods_left--;
			continue;
		}
		tmp[o++] = tmp[i];
	}
	tmp[o] = '\0';
	return o;
}

static const char *
lookup(const char *const table[][2], size_t n, const char *word)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i][0], word) == 0)
			return table[i][1];
	return NULL;
}

static bool
is_article(const char *word)
{
	for (size_t i = 0; i < LENGTHOF(ARTICLES); i++)
		if (strcmp(ARTICLES[i], word) == 0)
			return true;
	return false;
}

/* Appends the lower-cased code point cp to out at *o. */
static void
append_lower(char *out, size_t *o, utf8proc_int32_t cp, const char *raw, int rawlen)
{
	if (cp < 0)
	{
		memcpy(out + *o, raw, rawlen);
		*o += rawlen;
		return;
	}
	*o += utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *) out + *o);
}

size_t
vqa_process_digit_article(const char *in, char *out)
{
	size_t		len = strlen(in);
	char	   *word = malloc(vqa_answer_bufsize(len));
	size_t		o = 0;
	size_t		i = 0;

	if (word == NULL)
	{
		out[0] = '\0';
		return 0;
	}
	while (i < len)
	{
		size_t		w = 0;
		const char *mapped;
		utf8proc_int32_t cp;
		int			step;

		/* skip white space, then gather one lower-cased word */
		step = next_codepoint(in + i, len - i, &cp);
		if (is_space_cp(cp))
		{
			i += step;
			continue;
		}
		while (i < len)
		{
			step = next_codepoint(in + i, len - i, &cp);
			if (is_space_cp(cp))
				break;
			append_lower(word, &w, cp, in + i, step);
			i += step;
		}
		word[w] = '\0';

		mapped = lookup(NUMBER_WORDS, LENGTHOF(NUMBER_WORDS), word);
		if (mapped == NULL)
			mapped = word;
		if (is_article(mapped))
			continue;
		if (lookup(CONTRACTIONS, LENGTHOF(CONTRACTIONS), mapped))
			mapped = lookup(CONTRACTIONS, LENGTHOF(CONTRACTIONS), mapped);

		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, mapped, strlen(mapped));
		o += strlen(mapped);
	}
	out[o] = '\0';
	free(word);
	return o;
}

size_t
vqa_clean_answer(const char *in, char *out)
{
	size_t		len = strlen(in);
	size_t		start = 0;
	size_t		end = len;
	size_t		o = 0;
	size_t		i = 0;

	/* find the first and one past the last non-space code point */
	while (i < len)
	{
		utf8proc_int32_t cp;
		int			step = next_codepoint(in + i, len - i, &cp);

		if (!is_space_cp(cp))
		{
			if (o == 0)
				start = i;
			o = 1;
			end = i + step;
		}
		i += step;
	}
	if (o == 0)
	{
		out[0] = '\0';
		return 0;
	}
	for (o = 0, i = start; i < end; i++)
		out[o++] = (in[i] == '\n' || in[i] == '\t') ? ' ' : in[i];
	out[o] = '\0';
	return o;
}

size_t
vqa_normalize_answer(const char *in, char *out)
{
	size_t		size = vqa_answer_bufsize(strlen(in));
	char	   *tmp = malloc(size);

	if (tmp == NULL)
	{
		out[0] = '\0';
		return 0;
	}
	vqa_clean_answer(in, out);
	vqa_process_punctuation(out, tmp);
	size = vqa_process_digit_article(tmp, out);
	free(tmp);
	return size;
}

double
vqa_answer_accuracy(const char *prediction, const char *const *answers, int n)
{
	char	   *pred;
	bool	   *match;
	bool		all_same = true;
	int			matches = 0;
	double		total = 0.0;

	if (n < 2)
		return -1.0;
	pred = malloc(vqa_answer_bufsize(strlen(prediction)));
	match = calloc(n, sizeof(bool));
	if (pred == NULL || match == NULL)
	{
		free(pred);
		free(match);
		return -1.0;
	}
	vqa_normalize_answer(prediction, pred);

	for (int k = 1; k < n; k++)
		if (strcmp(answers[k], answers[0]) != 0)
			all_same = false;

	for (int k = 0; k < n && matches >= 0; k++)
	{
		char	   *gt;

		if (all_same)
		{
			match[k] = strcmp(answers[k], pred) == 0;
			matches += match[k];
			continue;
		}
		gt = malloc(vqa_answer_bufsize(strlen(answers[k])));
		if (gt == NULL)
		{
			matches = -1;
			break;
		}
		vqa_process_punctuation(answers[k], gt);
		match[k] = strcmp(gt, pred) == 0;
		matches += match[k];
		free(gt);
	}

	/* leaving annotator j out removes j's own match, if any */
	for (int j = 0; j < n && matches >= 0; j++)
	{
		int			others = matches - match[j];

		total += others >= 3 ? 1.0 : others / 3.0;
	}
	free(match);
	free(pred);
	return matches < 0 ? -1.0 : total / n;
}

double
vqa_exact_accuracy(const char *prediction, const char *const *answers, int n)
{
	int			matches = 0;

	if (n < 1)
		return -1.0;
	for (int k = 0; k < n; k++)
		matches += strcmp(answers[k], prediction) == 0;
	return matches >= 3 ? 1.0 : matches / 3.0;
}

double
vqa_round(double x, int digits)
{
	char		buf[512];

	/* printf rounds the exact binary value, ties to even, as Python does */
	snprintf(buf, sizeof(buf), "%.*f", digits, x);
	return strtod(buf, NULL);
}
