/*
 * vqavs.c: vqa_load_vqavs, a VQA-VS directory (Si et al., Findings of EMNLP
 * 2022) as one dataset.
 *
 * VQA-VS re-splits VQA v2 into an in-distribution Training, Val and IID-Test
 * and nine OOD test sets, one per shortcut a model may learn (question type,
 * key word, key object and their combinations), each a subset of IID-Test.
 * Its files are VQA-CP v2-style plain JSON lists:
 *
 *   Training/Training-{Ques,Ans}.json     -> split "train"
 *   Val/Val-{Ques,Ans}.json               -> split "val"
 *   IID-Test/IID-Test-{Ques,Ans}.json     -> split "test"
 *   OOD-Test/<S>/OOD-Test-<S>-{Ques,Ans}.json, S in QT, KW, KWP, QT+KW, KO,
 *       KOP, QT+KO, KW+KO, QT+KW+KO      -> vqaprune.ood_questions
 *
 * The three splits are read with the question loader's pairing of questions
 * and annotations; an OOD set's files are paired the same way, then each of
 * its questions must be a question of IID-Test, with the same image,
 * question and consensus answer: only its membership is stored. Every file
 * is checked to exist before anything is read, and the call is one
 * statement, so a bad file anywhere leaves nothing behind. The dataset is
 * marked benchmark 'vqa-vs': its answers are scored as VQA-VS's own code
 * scores them (vqa_answer_accuracy_vqavs).
 */
#include "postgres.h"

#include <sys/stat.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/synthetic.h"

PG_FUNCTION_INFO_V1(vqa_load_vqavs);

/* The three in-distribution parts: directory and file prefix, and their split. */
static const char *const part_names[3] = {"Training", "Val", "IID-Test"};
static const char *const part_splits[3] = {"train", "val", "test"};

#define LAYOUT_HINT \
	"A VQA-VS directory holds Training/Training-Ques.json and -Ans.json, the same for Val and " \
	"IID-Test, and OOD-Test/<set>/OOD-Test-<set>-Ques.json and -Ans.json for each of the nine " \
	"sets QT, KW, KWP, QT+KW, KO, KOP, QT+KO, KW+KO and QT+KW+KO."

typedef struct VqavsFiles
{
	char	   *questions[3];
	char	   *annotations[3];
	char	   *ood_questions[VQA_VS_OOD_SETS];
	char	   *ood_annotations[VQA_VS_OOD_SETS];
} VqavsFiles;

static void
RequireDirectory(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", path),
				 errhint(LAYOUT_HINT)));
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a directory", path),
				 errhint("Give the directory that holds Training, Val, IID-Test and OOD-Test.")));
}

static void
RequireVqavsFile(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path),
				 errhint(LAYOUT_HINT)));
	if (S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a directory", path),
				 errhint(LAYOUT_HINT)));
}

/* Every file's path, each checked to exist. */
static void
FindFiles(const char *directory, VqavsFiles *files)
{
	for (int p = 0; p < 3; p++)
	{
		files->questions[p] = psprintf("%s/%s/%s-Ques.json", directory, part_names[p], part_names[p]);
		files->annotations[p] = psprintf("%s/%s/%s-Ans.json", directory, part_names[p], part_names[p]);
		RequireVqavsFile(files->questions[p]);
		RequireVqavsFile(files->annotations[p]);
	}
	for (int s = 0; s < VQA_VS_OOD_SETS; s++)
	{
		files->ood_questions[s] = psprintf("%s/OOD-Test/%s/OOD-Test-%s-Ques.json", directory,
										   vqa_vs_ood_set_names[s], vqa_vs_ood_set_names[s]);
		files->ood_annotations[s] = psprintf("%s/OOD-Test/%s/OOD-Test-%s-Ans.json", directory,
											 vqa_vs_ood_set_names[s], vqa_vs_ood_set_names[s]);
		RequireVqavsFile(files->ood_questions[s]);
		RequireVqavsFile(files->ood_annotations[s]);
	}
}

/* The questions of one OOD set's files, in the order of its annotation file. */
typedef struct OodQuestions
{
	int			n;
	int			capacity;
	Datum	   *question_ids;
	Datum	   *image_ids;
	Datum	   *questions;
	Datum	   *consensus;
} OodQuestions;

static void
CollectOodQuestion(const QuestionRow *row, void *arg)
{
	OodQuestions *o = arg;

	if (o->n == o->capacity)
	{
		o->capacity *= 2;
		o->question_ids = repalloc_huge(o->question_ids, sizeof(Datum) * o->capacity);
		o->image_ids = repalloc_huge(o->image_ids, sizeof(Datum) * o->capacity);
		o->questions = repalloc_huge(o->questions, sizeof(Datum) * o->capacity);
		o->consensus = repalloc_huge(o->consensus, sizeof(Datum) * o->capacity);
	}
	o->question_ids[o->n] = Int64GetDatum(row->question_id);
	o->image_ids[o->n] = Int64GetDatum(row->image_id);
	o->questions[o->n] = Utf8GetTextDatum(row->question);
	o->consensus[o->n] = Utf8GetTextDatum(row->multiple_choice_answer);
	o->n++;
}

/*
 * Reads an OOD set's files, checks that each question is one of IID-Test
 * (the dataset's test split) as IID-Test has it, and stores the set's
 * membership; returns the set's size.
 */
static int64
LoadOodSet(int64 dataset_id, int set, const VqavsFiles *files)
{
	const char *name = vqa_vs_ood_set_names[set];
	const char *annotations_path = files->ood_annotations[set];
	OodQuestions o;
	Oid			argtypes[6] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID};
	Datum		values[6];

	o.n = 0;
	o.capacity = 1024;
	o.question_ids = palloc(sizeof(Datum) * o.capacity);
	o.image_ids = palloc(sizeof(Datum) * o.capacity);
	o.questions = palloc(sizeof(Datum) * o.capacity);
	o.consensus = palloc(sizeof(Datum) * o.capacity);
	(void) ReadQuestionFiles(files->ood_questions[set], annotations_path, "test",
							 CollectOodQuestion, &o);

	values[0] = Int64GetDatum(dataset_id);
	values[1] = PointerGetDatum(construct_array(o.question_ids, o.n, INT8OID, 8, true, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(o.image_ids, o.n, INT8OID, 8, true, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_array(o.questions, o.n, TEXTOID, -1, false, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_array(o.consensus, o.n, TEXTOID, -1, false, TYPALIGN_INT));
	values[5] = CStringGetTextDatum(name);

	/* the first question, in file order, that IID-Test does not hold as it is */
	if (SpiRun("SELECT o.n - 1, o.question_id, q.split, q.image_id <> o.image_id, "
			   "q.question <> o.question "
			   "FROM unnest($2, $3, $4, $5) WITH ORDINALITY AS o(question_id, image_id, question, "
			   "consensus, n) "
			   "LEFT JOIN vqaprune.questions q ON q.dataset_id = $1 AND q.question_id = o.question_id "
			   "WHERE q.question_id IS NULL OR q.split <> 'test' OR q.image_id <> o.image_id "
			   "OR q.question <> o.question OR q.multiple_choice_answer <> o.consensus "
			   "ORDER BY o.n LIMIT 1",
			   SPI_OK_SELECT, 5, argtypes, values, NULL, false, 1) == 1)
	{
		int64		record = DatumGetInt64(SpiRequired(0, 1, "unnest"));
		int64		question_id = DatumGetInt64(SpiRequired(0, 2, "unnest"));
		bool		isnull;
		Datum		split = SpiValue(0, 3, &isnull);

		if (isnull || strcmp(TextDatumGetCString(split), "test") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid VQA-VS OOD set %s: record " INT64_FORMAT " of \"%s\" (question_id "
							INT64_FORMAT "): no such question in IID-Test%s", name, record,
							annotations_path, question_id,
							isnull ? "" : psprintf(" (it is a question of split \"%s\")",
												   TextDatumGetCString(split))),
					 errhint("Each OOD set is a subset of IID-Test by question id: the OOD-Test "
							 "files must come with the IID-Test files of the same release.")));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid VQA-VS OOD set %s: record " INT64_FORMAT " of \"%s\" (question_id "
						INT64_FORMAT "): its %s differs from IID-Test's", name, record,
						annotations_path, question_id,
						DatumGetBool(SpiRequired(0, 4, "unnest")) ? "image_id" :
						DatumGetBool(SpiRequired(0, 5, "unnest")) ? "question" :
						"multiple_choice_answer"),
				 errhint("Each OOD set is a subset of IID-Test by question id: the OOD-Test "
						 "files must come with the IID-Test files of the same release.")));
	}
	(void) SpiRun("INSERT INTO vqaprune.ood_questions (dataset_id, ood_set, question_id) "
				  "SELECT $1, $6, unnest($2)",
				  SPI_OK_INSERT, 6, argtypes, values, NULL, false, 0);
	return o.n;
}

/*
 * vqa_load_vqavs(dataset, directory, min_answer_count DEFAULT 9) -> questions loaded
 */
Datum
vqa_load_vqavs(PG_FUNCTION_ARGS)
{
	char	   *dataset = RequireTextArg(fcinfo, 0, "dataset");
	char	   *directory = RequireTextArg(fcinfo, 1, "directory");
	int			min_answer_count = PG_ARGISNULL(2) ? 9 : PG_GETARG_INT32(2);
	size_t		len = strlen(directory);
	VqavsFiles	files;
	int64		dataset_id;
	int64		loaded = 0;

	RequireReadServerFiles();
	if (min_answer_count < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_answer_count must be at least 1")));
	/* "dir/" and "dir" name the same files */
	while (len > 1 && directory[len - 1] == '/')
		directory[--len] = '\0';
	RequireDirectory(directory);
	FindFiles(directory, &files);

	SPI_connect();
	if (LookupDatasetId(dataset) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("dataset \"%s\" already exists", dataset),
				 errhint("A VQA-VS dataset is loaded whole, before its features: choose another "
						 "name, or remove it with vqa_drop_dataset.")));
	dataset_id = CreateDataset(dataset, "files", "vqa-vs", min_answer_count, "{}");
	for (int p = 0; p < 3; p++)
		loaded += LoadSplitFiles(dataset_id, part_splits[p], files.questions[p], files.annotations[p]);
	for (int s = 0; s < VQA_VS_OOD_SETS; s++)
	{
		CHECK_FOR_INTERRUPTS();
		(void) LoadOodSet(dataset_id, s, &files);
	}
	RebuildAnswers(dataset_id);
	SPI_finish();
	PG_RETURN_INT64(loaded);
}
