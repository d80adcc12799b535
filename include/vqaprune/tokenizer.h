/*
 * tokenizer.h: BERT WordPiece tokenisation of questions, as LXMERT expects.
 *
 * Behaves as HuggingFace's BertTokenizer with do_lower_case=True (the
 * bert-base-uncased tokenizer LXMERT was trained with): clean the text, space
 * out CJK ideographs, split on white space, lower-case, strip accents, split
 * on punctuation, then greedy longest-match-first WordPiece over a vocab.txt.
 * Special tokens written verbatim in a text ("[MASK]") stay whole, as there.
 *
 * A vocabulary maps tokens to ids, the ids being the line numbers of its
 * vocab.txt (from 0). Special tokens are found by name, never by id:
 * bert-base-uncased has [PAD]=0 but [UNK]=100, [CLS]=101, [SEP]=102, while
 * vocabularies built by vqa_vocab_build() put them first.
 *
 * Texts are UTF-8; bytes that are not valid UTF-8 are dropped.
 */
#ifndef VQAPRUNE_TOKENIZER_H
#define VQAPRUNE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* Words longer than this many characters become [UNK] (BERT's default). */
#define VQA_WORDPIECE_MAX_CHARS 100

typedef struct VqaVocab VqaVocab;

/*
 * Reads a vocab.txt: one token per line (lines end with \n, \r\n or \r).
 * A token listed twice keeps its last id, as in BertTokenizer. [PAD], [UNK],
 * [CLS] and [SEP] must be present. On error returns NULL and writes a
 * message to errbuf (which may be NULL).
 */
VqaVocab   *vqa_vocab_load(const char *path, char *errbuf, size_t errlen);

/* The same from the bytes of a vocab.txt already in memory. */
VqaVocab   *vqa_vocab_from_buffer(const char *data, size_t len,
								  char *errbuf, size_t errlen);

/*
 * Builds a vocabulary from n texts (NULL entries are skipped):
 *   ids 0..4: [PAD] [UNK] [CLS] [SEP] [MASK];
 *   then every basic-tokenised word seen at least min_count times (values
 *   below 1 count as 1), most frequent first, ties by byte order;
 *   then every character seen in a word, and its "##" form, in byte order
 *   (those a word already added are not repeated).
 * So any text made of seen characters tokenises without [UNK], except words
 * longer than VQA_WORDPIECE_MAX_CHARS characters. If max_size > 0 it caps
 * the size: the characters always go in, and the words fill what is left in
 * order of frequency; a max_size too small for the specials and characters
 * is an error. The result does not depend on the order of the texts.
 */
VqaVocab   *vqa_vocab_build(const char *const *texts, size_t n, int min_count,
							int max_size, char *errbuf, size_t errlen);

int			vqa_vocab_size(const VqaVocab *v);

/* Token of an id, NULL if out of range. */
const char *vqa_vocab_token(const VqaVocab *v, int id);

/* Id of a token, -1 if absent. */
int			vqa_vocab_id(const VqaVocab *v, const char *token);

/* Ids of the special tokens ([MASK] is -1 if the vocabulary has none). */
int			vqa_vocab_pad_id(const VqaVocab *v);
int			vqa_vocab_unk_id(const VqaVocab *v);
int			vqa_vocab_cls_id(const VqaVocab *v);
int			vqa_vocab_sep_id(const VqaVocab *v);
int			vqa_vocab_mask_id(const VqaVocab *v);

/*
 * The vocabulary as vocab.txt text, one token per line each ending with \n,
 * in a malloc'd NUL-terminated buffer (length without the NUL in *len, if
 * len is not NULL). NULL if out of memory.
 */
char	   *vqa_vocab_serialize(const VqaVocab *v, size_t *len);

/* Accepts NULL. */
void		vqa_vocab_free(VqaVocab *v);

/*
 * Encodes a question for the model: [CLS] word pieces [SEP], the pieces cut
 * to max_length - 2 so that [SEP] always fits, then [PAD] up to max_length.
 * Writes exactly max_length ids and attended flags (1 for real tokens, 0
 * for padding; attended may be NULL) and returns the number
 * of real tokens, specials included. token_type_ids are all 0 for VQA and
 * are not produced. Returns -1 if max_length < 2 or memory runs out.
 */
int			vqa_tokenize(const VqaVocab *v, const char *text, int max_length,
						 int32_t *input_ids, int32_t *attended);

/*
 * The same without [CLS] and [SEP], as the paper authors encode questions:
 * the word pieces cut to max_length, then [PAD]. Returns the number of
 * pieces kept (0 for an empty question), or -1 if max_length < 1 or memory
 * runs out.
 */
int			vqa_tokenize_plain(const VqaVocab *v, const char *text, int max_length,
							   int32_t *input_ids, int32_t *attended);

/*
 * The word pieces alone (no specials, no truncation): returns how many there
 * are and writes the first max of them to ids (which may be NULL if max is
 * 0). Returns -1 if memory runs out.
 */
int			vqa_wordpiece(const VqaVocab *v, const char *text,
						  int32_t *ids, int max);

#endif
