/*
 * answer_list.h: reader of the files that name a VQA model's answer classes.
 *
 * Class i of a model's answer head is the i-th answer of its list. Three
 * formats are read, told apart by the first byte that is not white space
 * (after an optional UTF-8 byte order mark):
 *
 *   [   a JSON list of strings, class i being element i (LXMERT's
 *       trainval_label2ans.json: ["net", "pitcher", ...]);
 *   {   a JSON object from answer to index (LXMERT's trainval_ans2label.json:
 *       {"net": 0, "pitcher": 1}); the indices must be integers numbering
 *       the answers 0..n-1, each exactly once;
 *   anything else: one answer per line, a trailing "\r" stripped, the last
 *       line needing no newline. An empty line is an error, except at the
 *       very end of the file.
 *
 * Every list has at least one answer and at most VQA_ANSWER_LIST_MAX; every
 * answer is valid UTF-8 without NUL, from 1 to VQA_ANSWER_MAX_BYTES bytes,
 * and appears once. A file breaking any rule is refused with a message
 * naming the answer, line or element at fault.
 */
#ifndef VQAPRUNE_ANSWER_LIST_H
#define VQAPRUNE_ANSWER_LIST_H

#include <stddef.h>

#define VQA_ANSWER_LIST_MAX 1000000
#define VQA_ANSWER_MAX_BYTES 1024
/* Larger files are refused by vqa_answer_list_load (LXMERT's are 50 kB). */
#define VQA_ANSWER_LIST_MAX_FILE (64 * 1024 * 1024)

typedef struct VqaAnswerList VqaAnswerList;

/*
 * Parses the bytes of an answer list (not NUL-terminated; they are copied).
 * On error returns NULL and writes a message to errbuf (which may be NULL).
 */
VqaAnswerList *vqa_answer_list_parse(const char *data, size_t len,
									 char *errbuf, size_t errlen);

/* The same from a file. */
VqaAnswerList *vqa_answer_list_load(const char *path, char *errbuf, size_t errlen);

int			vqa_answer_list_count(const VqaAnswerList *list);

/* Answer of class i (NUL-terminated UTF-8), NULL if i is out of range. */
const char *vqa_answer_list_get(const VqaAnswerList *list, int i);

/* Class of an answer (compared byte for byte), -1 if absent or NULL. */
int			vqa_answer_list_find(const VqaAnswerList *list, const char *answer);

/* Accepts NULL. */
void		vqa_answer_list_free(VqaAnswerList *list);

#endif
