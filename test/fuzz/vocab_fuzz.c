/*
 * vocab_fuzz.c: libFuzzer harness for the WordPiece vocabulary reader and
 * the tokenizer.
 *
 * The input is split at its first NUL byte: before it a vocab.txt, after it
 * a text. A refused vocabulary must say why. An accepted one must keep its
 * promises: the special tokens have ids in range, every id names a token
 * that maps back to an id of the same token, and serializing and reading
 * it again gives the same tokens. The text (and the vocabulary's own
 * bytes) is then tokenised: exactly max_length ids in range, a mask of 0 and
 * 1 whose ones count the real tokens, [CLS] first.
 *
 * Built and run by test/fuzz/run-fuzz.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqaprune/tokenizer.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LENGTH 20

static void
check(int ok, const char *what)
{
	if (!ok)
	{
		fprintf(stderr, "vocab_fuzz: %s\n", what);
		abort();
	}
}

static void
check_tokenize(const VqaVocab *v, const char *text)
{
	int32_t		ids[MAX_LENGTH],
				mask[MAX_LENGTH];
	int			n = vqa_tokenize(v, text, MAX_LENGTH, ids, mask);
	int			ones = 0;

	check(n >= 2 && n <= MAX_LENGTH, "token count out of range");
	check(ids[0] == vqa_vocab_cls_id(v), "[CLS] is not first");
	for (int i = 0; i < MAX_LENGTH; i++)
	{
		check(ids[i] >= 0 && ids[i] < vqa_vocab_size(v), "token id out of range");
		check(mask[i] == 0 || mask[i] == 1, "mask is not 0 or 1");
		ones += mask[i];
	}
	check(ones == n, "mask does not count the real tokens");
	check(vqa_wordpiece(v, text, NULL, 0) >= 0, "word pieces failed");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t		vocab_len = nul ? (size_t) (nul - data) : size;
	char		errbuf[512] = "";
	VqaVocab   *v = vqa_vocab_from_buffer((const char *) data, vocab_len, errbuf, sizeof(errbuf));
	VqaVocab   *again;
	char	   *text;
	char	   *serialized;
	size_t		len;

	if (v == NULL)
	{
		check(errbuf[0] != '\0', "refused without a message");
		return 0;
	}
	check(vqa_vocab_size(v) > 0, "an empty vocabulary was accepted");
	check(vqa_vocab_pad_id(v) >= 0 && vqa_vocab_pad_id(v) < vqa_vocab_size(v), "[PAD] out of range");
	check(vqa_vocab_unk_id(v) >= 0 && vqa_vocab_unk_id(v) < vqa_vocab_size(v), "[UNK] out of range");
	check(vqa_vocab_cls_id(v) >= 0 && vqa_vocab_cls_id(v) < vqa_vocab_size(v), "[CLS] out of range");
	check(vqa_vocab_sep_id(v) >= 0 && vqa_vocab_sep_id(v) < vqa_vocab_size(v), "[SEP] out of range");
	for (int id = 0; id < vqa_vocab_size(v); id++)
	{
		const char *token = vqa_vocab_token(v, id);
		int			back;

		check(token != NULL, "an id without a token");
		back = vqa_vocab_id(v, token);
		check(back >= 0 && strcmp(vqa_vocab_token(v, back), token) == 0, "a token does not map back");
	}
	check(vqa_vocab_token(v, vqa_vocab_size(v)) == NULL, "an id past the end has a token");

	serialized = vqa_vocab_serialize(v, &len);
	check(serialized != NULL, "serialize failed");
	again = vqa_vocab_from_buffer(serialized, len, errbuf, sizeof(errbuf));
	check(again != NULL, "the serialized vocabulary was refused");
	check(vqa_vocab_size(again) == vqa_vocab_size(v), "size changed through serialize");
	for (int id = 0; id < vqa_vocab_size(v); id++)
		check(strcmp(vqa_vocab_token(again, id), vqa_vocab_token(v, id)) == 0,
			  "a token changed through serialize");
	vqa_vocab_free(again);
	free(serialized);

	text = malloc(size - vocab_len + 1);
	check(text != NULL, "out of memory");
	if (nul)
		memcpy(text, nul + 1, size - vocab_len - 1);
	text[nul ? size - vocab_len - 1 : 0] = '\0';
	check_tokenize(v, text);
	free(text);
	vqa_vocab_free(v);
	return 0;
}
