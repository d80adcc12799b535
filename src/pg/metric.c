/*
 * metric.c: the official VQA metric as SQL functions, so any answer stored
 * anywhere can be normalised and scored exactly as the official evaluation
 * does (the views over runs use them too), and VQA-VS's exact-match metric
 * beside it. The C symbols carry a _sql suffix: the plain names belong to
 * the core functions they wrap.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "vqaprune.h"
#include "vqaprune/vqa_eval.h"

PG_FUNCTION_INFO_V1(vqa_normalize_answer_sql);
PG_FUNCTION_INFO_V1(vqa_answer_accuracy_sql);
PG_FUNCTION_INFO_V1(vqa_round_sql);
PG_FUNCTION_INFO_V1(vqa_answer_accuracy_vqavs_sql);

/* The core works on UTF-8: convert on the way in and out. */
static char *
TextToUtf8(text *t)
{
	char	   *s = text_to_cstring(t);

	return (char *) pg_server_to_any(s, strlen(s), PG_UTF8);
}

Datum
vqa_normalize_answer_sql(PG_FUNCTION_ARGS)
{
	char	   *in = TextToUtf8(PG_GETARG_TEXT_PP(0));
	char	   *out = palloc(vqa_answer_bufsize(strlen(in)));
	size_t		len = vqa_normalize_answer(in, out);

	PG_RETURN_TEXT_P(cstring_to_text(pg_any_to_server(out, len, PG_UTF8)));
}

/* The annotators' answers of a text[] argument, as UTF-8; at least min_answers. */
static const char **
AnswersArg(ArrayType *array, int min_answers, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	const char **answers;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("answers must be a one-dimensional array")));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("answers must not be empty")));
	if (*n < min_answers)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the VQA accuracy needs at least %d answers, got %d", min_answers, *n)));
	answers = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("answers must not contain nulls")));
		answers[i] = TextToUtf8(DatumGetTextPP(elems[i]));
	}
	return answers;
}

Datum
vqa_answer_accuracy_sql(PG_FUNCTION_ARGS)
{
	char	   *prediction = TextToUtf8(PG_GETARG_TEXT_PP(0));
	int			n;
	const char **answers = AnswersArg(PG_GETARG_ARRAYTYPE_P(1), 2, &n);
	double		accuracy = vqa_answer_accuracy(prediction, answers, n);

	if (accuracy < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	PG_RETURN_FLOAT8(accuracy);
}

/* VQA-VS's scoring: min(1, count / 3) of exact matches, nothing normalised. */
Datum
vqa_answer_accuracy_vqavs_sql(PG_FUNCTION_ARGS)
{
	char	   *prediction = TextToUtf8(PG_GETARG_TEXT_PP(0));
	int			n;
	const char **answers = AnswersArg(PG_GETARG_ARRAYTYPE_P(1), 1, &n);

	PG_RETURN_FLOAT8(vqa_exact_accuracy(prediction, answers, n));
}

Datum
vqa_round_sql(PG_FUNCTION_ARGS)
{
	double		value = PG_GETARG_FLOAT8(0);
	int32		digits = PG_GETARG_INT32(1);

	if (digits < 0 || digits > 15)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("digits must be between 0 and 15")));
	if (isnan(value) || isinf(value))
		PG_RETURN_FLOAT8(value);
	PG_RETURN_FLOAT8(vqa_round(value, digits));
}
