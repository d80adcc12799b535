/*
 * vqa_eval.h: the official VQA answer normalisation and accuracy.
 *
 * Follows the official evaluation (vqaEval.py) exactly, quirks included:
 * processPunctuation removes or spaces out punctuation depending on its
 * neighbours and strips at most 32 periods that are not followed by a digit
 * (the official code passes re.UNICODE where re.sub takes its count);
 * processDigitArticle lower-cases, maps number words to digits, drops
 * articles and restores apostrophes of common contractions. The accuracy of a
 * prediction is the mean over the leave-one-annotator-out subsets of
 * min(1, matches / 3). VQA-VS scores without the normalisation and the
 * averaging: vqa_exact_accuracy.
 */
#ifndef VQAPRUNE_VQA_EVAL_H
#define VQAPRUNE_VQA_EVAL_H

#include <stddef.h>

/*
 * Every function writes a NUL-terminated result to out, which must hold at
 * least vqa_answer_bufsize(strlen(in)) bytes, and returns its length.
 */
size_t		vqa_answer_bufsize(size_t len);

/* Newlines and tabs to spaces, then strip white space, as done to predictions. */
size_t		vqa_clean_answer(const char *in, char *out);

/* processPunctuation of the official code. */
size_t		vqa_process_punctuation(const char *in, char *out);

/* processDigitArticle of the official code. */
size_t		vqa_process_digit_article(const char *in, char *out);

/*
 * What the official code does to a prediction: newlines and tabs to spaces,
 * strip, processPunctuation, processDigitArticle. Also used to normalise
 * answers when building the answer vocabulary.
 */
size_t		vqa_normalize_answer(const char *in, char *out);

/*
 * Official accuracy in [0, 1] of a raw prediction against n raw ground-truth
 * answers (the ground truth is punctuation-processed only when the answers
 * are not all identical). Returns -1 if n < 2 or an allocation fails.
 */
double		vqa_answer_accuracy(const char *prediction,
								const char *const *answers, int n);

/*
 * VQA-VS's accuracy in [0, 1] (its comput_score.py): min(1, count / 3),
 * count the number of the n raw answers equal to the prediction byte for
 * byte, with no normalisation and no leave-one-out averaging. Returns -1 if
 * n < 1.
 */
double		vqa_exact_accuracy(const char *prediction,
							   const char *const *answers, int n);

/*
 * Rounds as Python's round(x, digits) does: to the nearest value with that
 * many decimals, ties to even on the exact binary value.
 */
double		vqa_round(double x, int digits);

#endif
