/*
 * answers.c: the answer vocabulary, soft targets and question-type prior of
 * a dataset, rebuilt from its questions after every load.
 *
 *   vocabulary: normalised multiple_choice_answer of the train questions
 *     seen at least min_answer_count times; ids by count, then byte order
 *     (so they do not depend on the database's collation); or the list
 *     vqa_load_answers gave, in its order;
 *   targets: per question, min(1, count / 3) of each normalised annotator
 *     answer that is in the vocabulary;
 *   prior p_b: per question type, the mean target of each answer over the
 *     train questions of the type.
 *
 * Done in C rather than SQL because a VQA-CP split has 4.4 million annotator
 * answers, most of them the same few strings: normalising each distinct
 * string once and counting in memory takes a fraction of the time set-based
 * SQL needs. Rows are written in batches through unnest().
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "ownership.h"
#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/answer_list.h"
#include "vqaprune/vqa_eval.h"

PG_FUNCTION_INFO_V1(vqa_load_answers);

#define FETCH_ROWS 10000
#define TARGET_BATCH 10000
#define QUESTIONS "vqaprune.questions"

/* Interned strings: each distinct string gets a dense id. */
typedef struct InternKey
{
	const char *str;
} InternKey;

typedef struct InternEntry
{
	InternKey	key;
	int			id;
	int			normalized_id;	/* for raw answers: id of the normalised form */
} InternEntry;

typedef struct Interner
{
	HTAB	   *table;
	const char **strings;		/* by id */
	int			n;
	int			capacity;
} Interner;

static uint32
InternHash(const void *key, Size keysize)
{
	const char *s = ((const InternKey *) key)->str;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
InternMatch(const void *a, const void *b, Size keysize)
{
	return strcmp(((const InternKey *) a)->str, ((const InternKey *) b)->str);
}

static void
InternerInit(Interner *in, const char *name)
{
	HASHCTL		ctl = {0};

	ctl.keysize = sizeof(InternKey);
	ctl.entrysize = sizeof(InternEntry);
	ctl.hash = InternHash;
	ctl.match = InternMatch;
	ctl.hcxt = CurrentMemoryContext;
	in->table = hash_create(name, 1024, &ctl,
							HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	in->n = 0;
	in->capacity = 1024;
	in->strings = palloc(sizeof(char *) * in->capacity);
}

/* The entry of s, added (with a copy of s) if new; *is_new tells which. */
static InternEntry *
Intern(Interner *in, const char *s, bool *is_new)
{
	InternKey	key = {s};
	bool		found;
	InternEntry *e = hash_search(in->table, &key, HASH_ENTER, &found);

	*is_new = !found;
	if (!found)
	{
		e->key.str = pstrdup(s);
		e->id = in->n;
		e->normalized_id = -1;
		if (in->n == in->capacity)
		{
			in->capacity *= 2;
			in->strings = repalloc_huge(in->strings, sizeof(char *) * in->capacity);
		}
		in->strings[in->n++] = e->key.str;
	}
	return e;
}

/* Id of the normalised form of a raw answer; each raw string is normalised once. */
static int
NormalizedId(Interner *raw, Interner *normalized, const char *answer)
{
	bool		is_new;
	InternEntry *e = Intern(raw, answer, &is_new);

	if (is_new)
	{
		char	   *utf8 = (char *) pg_server_to_any(answer, strlen(answer), PG_UTF8);
		char	   *out = palloc(vqa_answer_bufsize(strlen(utf8)));

		vqa_normalize_answer(utf8, out);
		e->normalized_id = Intern(normalized, pg_any_to_server(out, strlen(out), PG_UTF8),
								  &is_new)->id;
	}
	return e->normalized_id;
}

typedef struct QuestionAnswers
{
	int64		question_id;
	int			question_type;
	bool		train;
	int			consensus;		/* normalised multiple_choice_answer */
	int			n_answers;
	int		   *answers;		/* normalised annotator answers */
} QuestionAnswers;

typedef struct VocabEntry
{
	int			normalized_id;
	int			count;
	const char *answer;
} VocabEntry;

static int
CompareVocab(const void *a, const void *b)
{
	const VocabEntry *x = a;
	const VocabEntry *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->answer, y->answer);
}

static void
ExecDatasetSql(const char *sql, int64 dataset_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};

	(void) SpiRun(sql, SPI_OK_DELETE, 1, argtypes, values, NULL, false, 0);
}

/*
 * The dataset's min_answer_count, and its given answer list (NULL if its
 * answers are derived), as C strings in the current memory context.
 */
static int
DatasetAnswerSource(int64 dataset_id, char ***list, int *n_list)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};
	bool		isnull;
	Datum		given;
	int			min_count;

	if (SpiRun("SELECT min_answer_count, answer_list FROM vqaprune.datasets WHERE dataset_id = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
		elog(ERROR, "dataset " INT64_FORMAT " does not exist", dataset_id);
	min_count = DatumGetInt32(SpiRequired(0, 1, "vqaprune.datasets"));
	given = SpiValue(0, 2, &isnull);
	*list = NULL;
	*n_list = 0;
	if (!isnull)
	{
		ArrayType  *a = DatumGetArrayTypeP(given);
		Datum	   *elems;
		bool	   *nulls;

		if (ARR_NDIM(a) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the answer_list of dataset " INT64_FORMAT " in vqaprune.datasets is "
							"not one-dimensional", dataset_id)));
		deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n_list);
		*list = palloc(sizeof(char *) * Max(*n_list, 1));
		for (int i = 0; i < *n_list; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the answer_list of dataset " INT64_FORMAT " in vqaprune.datasets "
								"holds a null", dataset_id)));
			(*list)[i] = TextDatumGetCString(elems[i]);
		}
	}
	return min_count;
}

/* Reads every question of the dataset, answers normalised and interned. */
static QuestionAnswers *
ReadQuestionAnswers(int64 dataset_id, Interner *raw, Interner *normalized,
					Interner *types, int64 *n_questions)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};
	Portal		portal;
	QuestionAnswers *questions = NULL;
	int64		n = 0;
	int64		capacity = 0;

	portal = SpiOpen("SELECT question_id, split = 'train', question_type, "
					 "multiple_choice_answer, answers FROM vqaprune.questions "
					 "WHERE dataset_id = $1 ORDER BY question_id",
					 1, argtypes, values, false);
	while (SpiFetch(portal, FETCH_ROWS) > 0)
	{
		if (n + (int64) SPI_processed > capacity)
		{
			capacity = Max(capacity * 2, n + (int64) SPI_processed);
			questions = questions == NULL
				? palloc_extended(sizeof(QuestionAnswers) * capacity, MCXT_ALLOC_HUGE)
				: repalloc_huge(questions, sizeof(QuestionAnswers) * capacity);
		}
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			QuestionAnswers *q = &questions[n++];
			bool		is_new;
			Datum	   *elems;
			bool	   *nulls;
			int			n_elems;

			q->question_id = DatumGetInt64(SpiRequired(r, 1, QUESTIONS));
			q->train = DatumGetBool(SpiRequired(r, 2, QUESTIONS));
			q->question_type = Intern(types, SpiRequiredText(r, 3, QUESTIONS), &is_new)->id;
			q->consensus = NormalizedId(raw, normalized, SpiRequiredText(r, 4, QUESTIONS));
			deconstruct_array(DatumGetArrayTypeP(SpiRequired(r, 5, QUESTIONS)),
							  TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n_elems);
			q->n_answers = n_elems;
			q->answers = palloc(sizeof(int) * Max(n_elems, 1));
			for (int i = 0; i < n_elems; i++)
			{
				if (nulls[i])
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("answers of question " INT64_FORMAT " in table %s hold a null",
									q->question_id, QUESTIONS)));
				q->answers[i] = NormalizedId(raw, normalized, TextDatumGetCString(elems[i]));
			}
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	*n_questions = n;
	return questions;
}

/*
 * The vocabulary: answer id of every normalised string (-1 outside it);
 * writes the answers rows and returns the vocabulary size. A given list
 * (interned first, so its answers are normalised ids 0 .. n_given - 1) is
 * the vocabulary in its order; otherwise the train answers seen at least
 * min_count times are, by count.
 */
static int
BuildVocabulary(int64 dataset_id, const QuestionAnswers *questions, int64 n_questions,
				const Interner *normalized, int min_count, int n_given, int *answer_of)
{
	VocabEntry *entries = palloc0(sizeof(VocabEntry) * Max(normalized->n, 1));
	int			n_vocab = 0;
	Datum	   *ids;
	Datum	   *answers;
	Datum	   *counts;
	Oid			argtypes[4] = {INT8OID, INT4ARRAYOID, TEXTARRAYOID, INT4ARRAYOID};
	Datum		values[4];

	for (int i = 0; i < normalized->n; i++)
	{
		entries[i].normalized_id = i;
		entries[i].answer = normalized->strings[i];
		answer_of[i] = -1;
	}
	for (int64 q = 0; q < n_questions; q++)
		if (questions[q].train)
			entries[questions[q].consensus].count++;
	if (n_given > 0)
		n_vocab = n_given;
	else
	{
		for (int i = 0; i < normalized->n; i++)
			if (entries[i].count >= min_count && entries[i].answer[0] != '\0')
				entries[n_vocab++] = entries[i];
		qsort(entries, n_vocab, sizeof(VocabEntry), CompareVocab);
	}

	ids = palloc(sizeof(Datum) * Max(n_vocab, 1));
	answers = palloc(sizeof(Datum) * Max(n_vocab, 1));
	counts = palloc(sizeof(Datum) * Max(n_vocab, 1));
	for (int a = 0; a < n_vocab; a++)
	{
		answer_of[entries[a].normalized_id] = a;
		ids[a] = Int32GetDatum(a);
		answers[a] = CStringGetTextDatum(entries[a].answer);
		counts[a] = Int32GetDatum(entries[a].count);
	}
	values[0] = Int64GetDatum(dataset_id);
	values[1] = PointerGetDatum(construct_array(ids, n_vocab, INT4OID, 4, true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(answers, n_vocab, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(counts, n_vocab, INT4OID, 4, true, TYPALIGN_INT));
	(void) SpiRun("INSERT INTO vqaprune.answers (dataset_id, answer_id, answer, train_count) "
				  "SELECT $1, * FROM unnest($2, $3, $4)",
				  SPI_OK_INSERT, 4, argtypes, values, NULL, false, 0);
	return n_vocab;
}

/* Rows of the targets table, written TARGET_BATCH at a time. */
typedef struct TargetBatch
{
	SPIPlanPtr	plan;
	int64		dataset_id;
	int			rows;
	int			values;
	Datum		question_ids[TARGET_BATCH];
	Datum		offsets[TARGET_BATCH];
	Datum		lengths[TARGET_BATCH];
	Datum	   *answer_ids;
	Datum	   *scores;
	int			capacity;
} TargetBatch;

static void
FlushTargets(TargetBatch *b)
{
	Datum		values[6];

	if (b->rows == 0)
		return;
	values[0] = Int64GetDatum(b->dataset_id);
	values[1] = PointerGetDatum(construct_array(b->question_ids, b->rows, INT8OID, 8, true, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(b->offsets, b->rows, INT4OID, 4, true, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(b->lengths, b->rows, INT4OID, 4, true, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_array(b->answer_ids, b->values, INT4OID, 4, true, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_array(b->scores, b->values, FLOAT4OID, 4, true, TYPALIGN_INT));
	(void) SpiRunPlan(b->plan, SPI_OK_INSERT, values, NULL, false, 0);
	b->rows = 0;
	b->values = 0;
}

static void
AddTarget(TargetBatch *b, int64 question_id, const int *answer_ids, const float *scores, int n)
{
	if (b->values + n > b->capacity)
	{
		b->capacity = Max(b->capacity * 2, b->values + n);
		b->answer_ids = repalloc(b->answer_ids, sizeof(Datum) * b->capacity);
		b->scores = repalloc(b->scores, sizeof(Datum) * b->capacity);
	}
	b->question_ids[b->rows] = Int64GetDatum(question_id);
	b->offsets[b->rows] = Int32GetDatum(b->values);
	b->lengths[b->rows] = Int32GetDatum(n);
	for (int i = 0; i < n; i++)
	{
		b->answer_ids[b->values + i] = Int32GetDatum(answer_ids[i]);
		b->scores[b->values + i] = Float4GetDatum(scores[i]);
	}
	b->values += n;
	if (++b->rows == TARGET_BATCH)
		FlushTargets(b);
}

/*
 * Soft targets of one question, sorted by answer id; returns how many.
 * count holds, per vocabulary answer, how often annotators gave it.
 */
static int
QuestionTargets(const QuestionAnswers *q, const int *answer_of, int *count,
				int *ids, float *scores)
{
	int			n = 0;

	for (int i = 0; i < q->n_answers; i++)
	{
		int			a = answer_of[q->answers[i]];

		if (a >= 0 && count[a]++ == 0)
			ids[n++] = a;
	}
	/* insertion sort: a handful of distinct answers per question */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--)
		{
			int			t = ids[j];

			ids[j] = ids[j - 1];
			ids[j - 1] = t;
		}
	for (int i = 0; i < n; i++)
	{
		scores[i] = count[ids[i]] >= 3 ? 1.0f : (float) (count[ids[i]] / 3.0);
		count[ids[i]] = 0;
	}
	return n;
}

void
RebuildAnswers(int64 dataset_id)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext, "vqaprune answers",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(context);
	Interner	raw,
				normalized,
				types;
	QuestionAnswers *questions;
	int64		n_questions;
	int		   *answer_of;
	int			n_vocab;
	int			min_count;
	char	  **given;
	int			n_given;
	int		   *count;
	int			max_answers = 1;
	int		   *ids;
	float	   *scores;
	double	   *prior_sum;
	int64	   *type_questions;
	TargetBatch *batch;
	Oid			target_types[6] = {INT8OID, INT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID,
	INT4ARRAYOID, FLOAT4ARRAYOID};

	ExecDatasetSql("DELETE FROM vqaprune.priors WHERE dataset_id = $1", dataset_id);
	ExecDatasetSql("DELETE FROM vqaprune.targets WHERE dataset_id = $1", dataset_id);
	ExecDatasetSql("DELETE FROM vqaprune.answers WHERE dataset_id = $1", dataset_id);

	InternerInit(&raw, "vqaprune raw answers");
	InternerInit(&normalized, "vqaprune normalised answers");
	InternerInit(&types, "vqaprune question types");
	min_count = DatasetAnswerSource(dataset_id, &given, &n_given);
	for (int i = 0; i < n_given; i++)
	{
		bool		is_new;

		if (Intern(&normalized, given[i], &is_new)->id != i)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the answer_list of dataset " INT64_FORMAT " in vqaprune.datasets "
							"holds \"%s\" twice", dataset_id, given[i])));
	}
	questions = ReadQuestionAnswers(dataset_id, &raw, &normalized, &types, &n_questions);

	answer_of = palloc(sizeof(int) * Max(normalized.n, 1));
	n_vocab = BuildVocabulary(dataset_id, questions, n_questions, &normalized, min_count,
							  n_given, answer_of);

	batch = palloc0(sizeof(TargetBatch));
	batch->dataset_id = dataset_id;
	batch->capacity = 4 * TARGET_BATCH;
	batch->answer_ids = palloc(sizeof(Datum) * batch->capacity);
	batch->scores = palloc(sizeof(Datum) * batch->capacity);
	batch->plan = SPI_prepare("INSERT INTO vqaprune.targets (dataset_id, question_id, answer_ids, scores) "
							  "SELECT $1, r.question_id, $5[r.first + 1 : r.first + r.n], "
							  "$6[r.first + 1 : r.first + r.n] "
							  "FROM unnest($2, $3, $4) AS r(question_id, first, n)",
							  6, target_types);
	if (batch->plan == NULL)
		elog(ERROR, "could not prepare the soft target insert");

	for (int64 i = 0; i < n_questions; i++)
		max_answers = Max(max_answers, questions[i].n_answers);
	count = palloc0(sizeof(int) * Max(n_vocab, 1));
	ids = palloc(sizeof(int) * max_answers);
	scores = palloc(sizeof(float) * max_answers);
	prior_sum = palloc0(sizeof(double) * Max(types.n, 1) * Max(n_vocab, 1));
	type_questions = palloc0(sizeof(int64) * Max(types.n, 1));
	for (int64 i = 0; i < n_questions; i++)
	{
		const QuestionAnswers *q = &questions[i];
		int			n = QuestionTargets(q, answer_of, count, ids, scores);

		AddTarget(batch, q->question_id, ids, scores, n);
		if (q->train)
		{
			type_questions[q->question_type]++;
			for (int k = 0; k < n; k++)
				prior_sum[(int64) q->question_type * n_vocab + ids[k]] += scores[k];
		}
		if (i % FETCH_ROWS == 0)
			CHECK_FOR_INTERRUPTS();
	}
	FlushTargets(batch);

	/* the prior: mean target per (question type, answer) over train questions */
	{
		Datum	   *qtypes = palloc(sizeof(Datum) * Max(types.n, 1) * Max(n_vocab, 1));
		Datum	   *answer_ids = palloc(sizeof(Datum) * Max(types.n, 1) * Max(n_vocab, 1));
		Datum	   *priors = palloc(sizeof(Datum) * Max(types.n, 1) * Max(n_vocab, 1));
		int			n = 0;
		Oid			argtypes[4] = {INT8OID, TEXTARRAYOID, INT4ARRAYOID, FLOAT4ARRAYOID};
		Datum		values[4];

		for (int t = 0; t < types.n; t++)
			for (int a = 0; a < n_vocab; a++)
				if (prior_sum[(int64) t * n_vocab + a] > 0)
				{
					qtypes[n] = CStringGetTextDatum(types.strings[t]);
					answer_ids[n] = Int32GetDatum(a);
					priors[n] = Float4GetDatum((float) (prior_sum[(int64) t * n_vocab + a] /
														type_questions[t]));
					n++;
				}
		values[0] = Int64GetDatum(dataset_id);
		values[1] = PointerGetDatum(construct_array(qtypes, n, TEXTOID, -1, false, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_array(answer_ids, n, INT4OID, 4, true, TYPALIGN_INT));
		values[3] = PointerGetDatum(construct_array(priors, n, FLOAT4OID, 4, true, TYPALIGN_INT));
		(void) SpiRun("INSERT INTO vqaprune.priors (dataset_id, question_type, answer_id, prior) "
					  "SELECT $1, * FROM unnest($2, $3, $4)",
					  SPI_OK_INSERT, 4, argtypes, values, NULL, false, 0);
	}

	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
}

ArrayType *
ReadAnswerListFile(const char *path)
{
	char		err[256];
	VqaAnswerList *volatile list;
	ArrayType  *volatile result = NULL;

	RequireReadServerFiles();
	RequireFileExists(path);
	list = vqa_answer_list_load(path, err, sizeof(err));
	if (list == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid answer list file \"%s\": %s", path, err),
				 errhint("An answer list is a JSON list of answers, a JSON object of answers to "
						 "indices from 0, or one answer a line.")));
	PG_TRY();
	{
		int			n = vqa_answer_list_count(list);
		Datum	   *answers = palloc(sizeof(Datum) * n);

		for (int i = 0; i < n; i++)
		{
			const char *answer = vqa_answer_list_get(list, i);

			answers[i] = CStringGetTextDatum(pg_any_to_server(answer, strlen(answer), PG_UTF8));
		}
		result = construct_array(answers, n, TEXTOID, -1, false, TYPALIGN_INT);
	}
	PG_FINALLY();
	{
		vqa_answer_list_free(list);
	}
	PG_END_TRY();
	return result;
}

/*
 * vqa_load_answers(dataset, answers_file) -> answers in the vocabulary
 *
 * A NULL file goes back to the vocabulary derived from the train split.
 */
Datum
vqa_load_answers(PG_FUNCTION_ARGS)
{
	char	   *dataset = RequireTextArg(fcinfo, 0, "dataset");
	Oid			argtypes[2] = {INT8OID, TEXTARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', PG_ARGISNULL(1) ? 'n' : ' '};
	int64		dataset_id;
	int			n_vocab;

	if (!PG_ARGISNULL(1))
	{
		char	   *path = RequireTextArg(fcinfo, 1, "answers_file");

		values[1] = PointerGetDatum(ReadAnswerListFile(path));
	}
	SPI_connect();
	dataset_id = RequireDataset(dataset);
	RequireDatasetOwner(dataset_id, dataset);
	values[0] = Int64GetDatum(dataset_id);
	(void) SpiRun("UPDATE vqaprune.datasets SET answer_list = $2 WHERE dataset_id = $1",
				  SPI_OK_UPDATE, 2, argtypes, values, nulls, false, 0);
	RebuildAnswers(dataset_id);
	{
		Oid			count_types[1] = {INT8OID};

		(void) SpiRun("SELECT count(*)::int4 FROM vqaprune.answers WHERE dataset_id = $1",
					  SPI_OK_SELECT, 1, count_types, values, NULL, false, 1);
		n_vocab = DatumGetInt32(SpiRequired(0, 1, "vqaprune.answers"));
	}
	SPI_finish();
	PG_RETURN_INT32(n_vocab);
}
