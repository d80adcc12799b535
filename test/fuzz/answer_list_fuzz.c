/*
 * answer_list_fuzz.c: libFuzzer harness for the answer-list reader.
 *
 * The input is a file in any of the three formats (its first bytes pick
 * one). A refused file must say why. An accepted list must keep its
 * promises: 1 to VQA_ANSWER_LIST_MAX answers, each non-empty, at most
 * VQA_ANSWER_MAX_BYTES long, valid UTF-8, and found again at its own class
 * (so no answer appears twice); no answer out of range. Written back as a
 * JSON list, and as a JSON object with its keys in reverse order, it must
 * read as the same list.
 *
 * Built and run by test/fuzz/run-fuzz.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/answer_list.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok, const char *what)
{
	if (!ok)
	{
		fprintf(stderr, "answer_list_fuzz: %s\n", what);
		abort();
	}
}

/* Strict UTF-8, written apart from the reader's so as not to share a bug. */
static int
valid_utf8(const unsigned char *s)
{
	while (*s)
	{
		uint32_t	cp;
		int			n,
					i;

		if (s[0] < 0x80)
		{
			s++;
			continue;
		}
		n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
		if (n == 0)
			return 0;
		cp = s[0] & (0x7f >> n);
		for (i = 1; i < n; i++)
		{
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if (cp < (n == 2 ? 0x80u : n == 3 ? 0x800u : 0x10000u) ||
			(cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		s += n;
	}
	return 1;
}

/* Appends answer as a JSON string at out; returns the end. */
static char *
put_string(char *out, const char *answer)
{
	*out++ = '"';
	for (const unsigned char *p = (const unsigned char *) answer; *p; p++)
	{
		if (*p == '"' || *p == '\\')
		{
			*out++ = '\\';
			*out++ = (char) *p;
		}
		else if (*p < 0x20)
			out += sprintf(out, "\\u%04x", *p);
		else
			*out++ = (char) *p;
	}
	*out++ = '"';
	return out;
}

/* The list as a JSON list (object 0) or object with keys in reverse order (1). */
static char *
to_json(const VqaAnswerList *list, int object, size_t *len)
{
	int			n = vqa_answer_list_count(list);
	size_t		cap = 2;
	char	   *json,
			   *out;

	for (int i = 0; i < n; i++)
		cap += 6 * strlen(vqa_answer_list_get(list, i)) + 16;
	json = malloc(cap);
	check(json != NULL, "out of memory");
	out = json;
	*out++ = object ? '{' : '[';
	for (int k = 0; k < n; k++)
	{
		int			i = object ? n - 1 - k : k;

		if (k > 0)
			*out++ = ',';
		out = put_string(out, vqa_answer_list_get(list, i));
		if (object)
			out += sprintf(out, ":%d", i);
	}
	*out++ = object ? '}' : ']';
	*len = (size_t) (out - json);
	return json;
}

static void
check_round_trip(const VqaAnswerList *list, int object)
{
	char		errbuf[512] = "";
	size_t		len;
	char	   *json = to_json(list, object, &len);
	VqaAnswerList *again = vqa_answer_list_parse(json, len, errbuf, sizeof(errbuf));

	if (again == NULL)
		fprintf(stderr, "answer_list_fuzz: %s\n", errbuf);
	check(again != NULL, "the list written as JSON was refused");
	check(vqa_answer_list_count(again) == vqa_answer_list_count(list), "count changed through JSON");
	for (int i = 0; i < vqa_answer_list_count(list); i++)
		check(strcmp(vqa_answer_list_get(again, i), vqa_answer_list_get(list, i)) == 0,
			  "an answer changed through JSON");
	vqa_answer_list_free(again);
	free(json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		errbuf[512] = "";
	VqaAnswerList *list = vqa_answer_list_parse((const char *) data, size, errbuf, sizeof(errbuf));
	int			n;

	if (list == NULL)
	{
		check(errbuf[0] != '\0', "refused without a message");
		return 0;
	}
	n = vqa_answer_list_count(list);
	check(n >= 1 && n <= VQA_ANSWER_LIST_MAX, "count out of range");
	for (int i = 0; i < n; i++)
	{
		const char *answer = vqa_answer_list_get(list, i);

		check(answer != NULL, "a class without an answer");
		check(answer[0] != '\0', "an empty answer");
		check(strlen(answer) <= VQA_ANSWER_MAX_BYTES, "an answer over the length limit");
		check(valid_utf8((const unsigned char *) answer), "an answer that is not valid UTF-8");
		check(vqa_answer_list_find(list, answer) == i, "an answer is not found at its class");
	}
	check(vqa_answer_list_get(list, -1) == NULL, "class -1 has an answer");
	check(vqa_answer_list_get(list, n) == NULL, "a class past the end has an answer");
	check(vqa_answer_list_find(list, "") == -1, "the empty answer is found");
	check(vqa_answer_list_find(list, NULL) == -1, "NULL is found");
	check_round_trip(list, 0);
	check_round_trip(list, 1);
	vqa_answer_list_free(list);
	return 0;
}
