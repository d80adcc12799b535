/*
 * examples_load.c: a dataset split read from the tables into a core
 * VqaExamples, for evaluation and training: questions tokenised with the
 * model's WordPiece vocabulary, the features of the split's images, soft
 * targets and the question-type prior.
 *
 * Questions, targets, priors and boxes are held in memory: they are small.
 * So are the features of a split that fit in vqaprune.feature_memory (as
 * stored, float32 or half). A larger split's features are written once,
 * while the images are read, to a temporary file of the call, image row
 * after image row, and each batch reads its own images' rows from it, the
 * next batch's asked for (posix_fadvise) while one computes. Batches are the
 * same bits either way, so results do not depend on the setting.
 *
 * Why a file per call: it is written under the call's snapshot with the
 * rest of the split, so it is consistent with the questions by construction
 * and has nothing to invalidate; it goes with the examples (closed by
 * vqa_examples_free, on error paths too) or with the backend. A persistent
 * cache of features would save the write on later calls but would need an
 * invalidation rule (keyed to the images' contents, checked per call, safe
 * under concurrent loads and pg_dump restores). Streaming the images
 * through SPI during training would keep a snapshot and a portal open for
 * the whole run, and could not revisit images in a shuffled order without
 * one query per batch.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/tablespace.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/tokenizer.h"

PG_FUNCTION_INFO_V1(vqa_encode_question);

#define QUESTIONS "vqaprune.questions"
#define IMAGES "vqaprune.images"
#define PRIORS "vqaprune.priors"

typedef struct ImageSlot
{
	int64		image_id;		/* hash key */
	int			row;
} ImageSlot;

typedef struct TypeSlot
{
	char		name[NAMEDATALEN * 2];	/* hash key */
	int			index;
} TypeSlot;

/* The features of a split too large for memory: a temporary file of image rows. */
typedef struct FeatureFile
{
	File		file;
	size_t		row_bytes;		/* one image's features as stored, at most 1 GB (a bytea) */
} FeatureFile;

static int
FeatureFileRead(void *context, int image, void *dest, char *errbuf, size_t errlen)
{
	FeatureFile *ff = context;
	int			n = FileRead(ff->file, dest, (int) ff->row_bytes, (off_t) image * ff->row_bytes,
							 PG_WAIT_EXTENSION);

	if (n == (int) ff->row_bytes)
		return 0;
	if (n < 0)
		snprintf(errbuf, errlen, "could not read image row %d of temporary file \"%s\": %m",
				 image, FilePathName(ff->file));
	else
		snprintf(errbuf, errlen, "could not read image row %d of temporary file \"%s\": "
				 "read only %d of %zu bytes", image, FilePathName(ff->file), n, ff->row_bytes);
	return -1;
}

static void
FeatureFilePrefetch(void *context, int image)
{
	FeatureFile *ff = context;

	/* advice only: a failure costs a slower read, which reports errors itself */
	(void) FilePrefetch(ff->file, (off_t) image * ff->row_bytes, (int) ff->row_bytes,
						PG_WAIT_EXTENSION);
}

static void
FeatureFileClose(void *context)
{
	FeatureFile *ff = context;

	FileClose(ff->file);
	free(ff);
}

/*
 * Examples whose features will be written to a new temporary file; NULL if
 * memory runs out. The file is inter-transaction: it belongs to the
 * examples, not to a resource owner, so it lasts as long as they do across
 * the transactions of a job, and the backend's exit removes it if nothing
 * else does.
 */
static VqaExamples *
FileBackedExamples(int n, int seq_len, int n_images, int boxes, int dim, int answers,
				   int n_types, size_t n_targets, bool half)
{
	VqaFeatureSource source = {0};
	FeatureFile *ff;
	VqaExamples *ex;
	File		file;

	PrepareTempTablespaces();
	file = OpenTemporaryFile(true);
	ff = malloc(sizeof(FeatureFile));
	if (ff == NULL)
	{
		FileClose(file);
		return NULL;
	}
	ff->file = file;
	ff->row_bytes = (size_t) boxes * dim * (half ? sizeof(uint16) : sizeof(float));
	source.context = ff;
	source.read = FeatureFileRead;
	source.prefetch = FeatureFilePrefetch;
	source.close = FeatureFileClose;
	ex = vqa_examples_new_sourced(n, seq_len, n_images, boxes, dim, answers, n_types, n_targets,
								  half, &source);
	if (ex == NULL)
		FeatureFileClose(ff);
	return ex;
}

/* The model's WordPiece vocabulary, or an error saying the model has none. */
static VqaVocab *
ModelVocab(int64 model_id, const char *model)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	char	   *text;
	char		err[256];
	VqaVocab   *vocab;

	if (SpiRun("SELECT tokenizer_vocab FROM vqaprune.models WHERE model_id = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
		elog(ERROR, "model " INT64_FORMAT " disappeared", model_id);
	text = SpiText(0, 1);
	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no WordPiece vocabulary", model),
				 errhint("Import it with its vocab_file.")));
	vocab = vqa_vocab_from_buffer(text, strlen(text), err, sizeof(err));
	if (vocab == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the vocabulary of model \"%s\" is invalid: %s", model, err)));
	return vocab;
}

/*
 * A question as the model's config encodes it (question_tokens ids, with or
 * without [CLS] and [SEP], padding ignored or attended); -1 if out of memory.
 */
static int
EncodeQuestion(const VqaVocab *vocab, const VqaModelConfig *config, const char *question,
			   int32 *ids, int32 *attended)
{
	int			n = config->special_tokens
		? vqa_tokenize(vocab, question, config->question_tokens, ids, attended)
		: vqa_tokenize_plain(vocab, question, config->question_tokens, ids, attended);

	if (n >= 0 && !config->ignore_padding)
		for (int k = 0; k < config->question_tokens; k++)
			attended[k] = 1;
	return n;
}

/*
 * A row of vqaprune.targets that can be trusted: one-dimensional int4 and
 * float4 arrays of the same length without nulls, answer ids that index
 * the head. Fails with data_corrupted naming the row otherwise.
 */
static int
CheckedTargetCount(ArrayType *ids, ArrayType *scores, int64 dataset_id, int64 question_id,
				   int answers, const char *model, const char *dataset)
{
	int			count = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	const char *problem = NULL;

	if (ARR_ELEMTYPE(ids) != INT4OID || ARR_ELEMTYPE(scores) != FLOAT4OID ||
		ARR_NDIM(ids) > 1 || ARR_NDIM(scores) > 1 || ARR_HASNULL(ids) || ARR_HASNULL(scores))
		problem = "its arrays are not one-dimensional, without nulls";
	else if (ArrayGetNItems(ARR_NDIM(scores), ARR_DIMS(scores)) != count)
		problem = "answer_ids and scores differ in length";
	else
		for (int k = 0; k < count && !problem; k++)
		{
			if (((int32 *) ARR_DATA_PTR(ids))[k] < 0)
				problem = "an answer id is negative";
			else if (((int32 *) ARR_DATA_PTR(ids))[k] >= answers)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the answer head of model \"%s\" does not match the answer "
								"vocabulary of dataset \"%s\"", model, dataset)));
		}
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("row (dataset_id " INT64_FORMAT ", question_id " INT64_FORMAT
						") of vqaprune.targets is corrupted: %s", dataset_id, question_id, problem)));
	return count;
}

/* Reads the split's questions, targets and types (SPI result kept by the caller). */
static uint64
SelectQuestions(int64 dataset_id, const char *split)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(dataset_id), CStringGetTextDatum(split)};

	return SpiRun("SELECT q.question_id, q.image_id, q.question, q.question_type, "
				  "t.answer_ids, t.scores FROM vqaprune.questions q "
				  "LEFT JOIN vqaprune.targets t USING (dataset_id, question_id) "
				  "WHERE q.dataset_id = $1 AND q.split = $2 ORDER BY q.question_id",
				  SPI_OK_SELECT, 2, argtypes, values, NULL, false, 0);
}

/*
 * Reads the split's images: boxes into ex, features into ex or, for
 * examples with a feature source, into its file at their image row.
 */
static void
FillImages(VqaExamples *ex, HTAB *images, int64 dataset_id, const char *dataset,
		   const char *split)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(dataset_id), CStringGetTextDatum(split)};
	Portal		portal;
	int			filled = 0;
	FeatureFile *ff = ex->source ? ex->source->context : NULL;
	void	   *row = ff ? palloc(ff->row_bytes) : NULL;
	/* each detoasted image is freed before the next: loading holds one at a time */
	MemoryContext row_context = AllocSetContextCreate(CurrentMemoryContext,
													  "vqaprune image row",
													  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	portal = SpiOpen("SELECT image_id, num_boxes, feature_dim, boxes, features, features_half "
					 "FROM vqaprune.images WHERE dataset_id = $1 AND image_id IN "
					 "(SELECT image_id FROM vqaprune.questions "
					 "WHERE dataset_id = $1 AND split = $2)",
					 2, argtypes, values, false);
	while (SpiFetch(portal, 256) > 0)
	{
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			int64		image_id;
			int			boxes,
						dim;
			bytea	   *box_data,
					   *feature_data;
			bool		half;
			ImageSlot  *slot;
			size_t		n;

			old = MemoryContextSwitchTo(row_context);
			image_id = DatumGetInt64(SpiRequired(r, 1, IMAGES));
			boxes = DatumGetInt32(SpiRequired(r, 2, IMAGES));
			dim = DatumGetInt32(SpiRequired(r, 3, IMAGES));
			box_data = DatumGetByteaPP(SpiRequired(r, 4, IMAGES));
			feature_data = DatumGetByteaPP(SpiRequired(r, 5, IMAGES));
			half = DatumGetBool(SpiRequired(r, 6, IMAGES));
			slot = hash_search(images, &image_id, HASH_FIND, NULL);
			n = (size_t) boxes * dim;
			if (slot == NULL || VARSIZE_ANY_EXHDR(box_data) != (size_t) boxes * 4 * sizeof(float) ||
				VARSIZE_ANY_EXHDR(feature_data) != n * (half ? 2 : 4))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("row (dataset_id " INT64_FORMAT ", image_id " INT64_FORMAT
								") of vqaprune.images is corrupted: its boxes and features do not "
								"hold %d boxes of %d floats", dataset_id, image_id, boxes, dim)));
			if (boxes != ex->num_boxes || dim != ex->feature_dim || half != (bool) ex->half_features)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("image " INT64_FORMAT " of dataset \"%s\" has %d boxes of %d %s features, "
								"but the split's first image has %d of %d %s",
								image_id, dataset, boxes, dim, half ? "float16" : "float32",
								ex->num_boxes, ex->feature_dim, ex->half_features ? "float16" : "float32"),
						 errhint("Every image of a split needs the same box count, feature size "
								 "and storage.")));
			if (ff)
			{
				/* in host order, as a batch takes them */
				if (half)
					HalfBytesToHalfs(row, VARDATA_ANY(feature_data), n);
				else
					ByteaToFloats(row, VARDATA_ANY(feature_data), n);
				if (FileWrite(ff->file, row, (int) ff->row_bytes, (off_t) slot->row * ff->row_bytes,
							  PG_WAIT_EXTENSION) != (int) ff->row_bytes)
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not write to temporary file \"%s\": %m",
									FilePathName(ff->file))));
			}
			else if (half)
				HalfBytesToHalfs(ex->features_half + (size_t) slot->row * n,
								 VARDATA_ANY(feature_data), n);
			else
				ByteaToFloats(ex->features + (size_t) slot->row * n, VARDATA_ANY(feature_data), n);
			ByteaToFloats(ex->boxes + (size_t) slot->row * boxes * 4, VARDATA_ANY(box_data),
						  (size_t) boxes * 4);
			filled++;
			MemoryContextSwitchTo(old);
			MemoryContextReset(row_context);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(row_context);
	if (row)
		pfree(row);
	if (filled != ex->n_images)
		elog(ERROR, "read %d of the %d images of the split", filled, ex->n_images);
}

/*
 * Box count, feature size and storage (half or not) of the split's images;
 * an error if one has none.
 */
static void
ImageShape(int64 dataset_id, const char *dataset, const char *split, int *boxes, int *dim,
		   bool *half)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(dataset_id), CStringGetTextDatum(split)};
	bool		isnull;

	if (SpiRun("SELECT q.question_id, q.image_id, i.num_boxes, i.feature_dim, i.features_half "
			   "FROM vqaprune.questions q LEFT JOIN vqaprune.images i "
			   "USING (dataset_id, image_id) WHERE q.dataset_id = $1 AND q.split = $2 "
			   "ORDER BY i.image_id IS NOT NULL, q.question_id LIMIT 1",
			   SPI_OK_SELECT, 2, argtypes, values, NULL, false, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dataset \"%s\" has no split \"%s\"", dataset, split)));
	*boxes = DatumGetInt32(SpiValue(0, 3, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("question %s of dataset \"%s\" has no features for its image %s",
						SpiText(0, 1), dataset, SpiText(0, 2)),
				 errhint("Load the split's image features with vqa_load_features.")));
	*dim = DatumGetInt32(SpiRequired(0, 4, IMAGES));
	*half = DatumGetBool(SpiRequired(0, 5, IMAGES));
	if (*boxes < 1 || *dim < 1 || *boxes > 65536 || *dim > 65536)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("row (dataset_id " INT64_FORMAT ", image_id %s) of vqaprune.images is "
						"corrupted: %d boxes of %d features", dataset_id,
						SpiText(0, 2), *boxes, *dim)));
}

static void
FillPriors(VqaExamples *ex, HTAB *types, int64 dataset_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};

	uint64		n = SpiRun("SELECT question_type, answer_id, prior FROM vqaprune.priors "
						   "WHERE dataset_id = $1", SPI_OK_SELECT, 1, argtypes, values, NULL,
						   false, 0);

	for (uint64 r = 0; r < n; r++)
	{
		char	   *type = SpiRequiredText(r, 1, PRIORS);
		int			answer = DatumGetInt32(SpiRequired(r, 2, PRIORS));
		float		prior = DatumGetFloat4(SpiRequired(r, 3, PRIORS));
		TypeSlot	key = {{0}};
		TypeSlot   *slot;

		if (answer < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("row (dataset_id " INT64_FORMAT ", question_type \"%s\") of vqaprune.priors "
							"is corrupted: answer id %d", dataset_id, type, answer)));
		strlcpy(key.name, type, sizeof(key.name));
		slot = hash_search(types, key.name, HASH_FIND, NULL);
		if (slot && answer < ex->answers)
			ex->priors[(size_t) slot->index * ex->answers + answer] = prior;
	}
}

/*
 * The split of a dataset as examples for a model (its tokenizer, its visual
 * input size and its answer count), its features in memory or, beyond
 * vqaprune.feature_memory, in a temporary file. The caller frees the result
 * with vqa_examples_free, on error paths too.
 */
VqaExamples *
LoadExamples(int64 dataset_id, const char *dataset, const char *split, int64 model_id,
			 const char *model, const VqaModelConfig *config, bool with_targets)
{
	VqaVocab   *volatile vocab = NULL;
	VqaExamples *volatile ex = NULL;
	SPITupleTable *questions;
	uint64		n;
	int			boxes,
				dim;
	bool		half;
	int			seq_len = config->question_tokens;
	HASHCTL		image_ctl = {0};
	HASHCTL		type_ctl = {0};
	HTAB	   *images;
	HTAB	   *types;
	volatile size_t n_targets = 0;
	volatile int n_images = 0;
	volatile int n_types = 0;
	bool		in_memory;

	ImageShape(dataset_id, dataset, split, &boxes, &dim, &half);
	if (dim != config->visual_feat_dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dataset \"%s\" has %d-dimensional features, model \"%s\" takes %d",
						dataset, dim, model, config->visual_feat_dim)));

	n = SelectQuestions(dataset_id, split);
	questions = SPI_tuptable;
	image_ctl.keysize = sizeof(int64);
	image_ctl.entrysize = sizeof(ImageSlot);
	images = hash_create("vqaprune images", 1024, &image_ctl, HASH_ELEM | HASH_BLOBS);
	type_ctl.keysize = sizeof(((TypeSlot *) 0)->name);
	type_ctl.entrysize = sizeof(TypeSlot);
	types = hash_create("vqaprune question types", 128, &type_ctl, HASH_ELEM | HASH_STRINGS);
	for (uint64 r = 0; r < n; r++)
	{
		bool		isnull,
					found;
		int64		image_id = DatumGetInt64(SpiRequiredIn(questions, r, 2, QUESTIONS));
		Datum		ids = SpiValueIn(questions, r, 5, &isnull);
		ImageSlot  *image = hash_search(images, &image_id, HASH_ENTER, &found);
		TypeSlot	key = {{0}};
		TypeSlot   *type;

		if (!found)
			image->row = n_images++;
		strlcpy(key.name, SpiRequiredTextIn(questions, r, 4, QUESTIONS), sizeof(key.name));
		type = hash_search(types, key.name, HASH_ENTER, &found);
		if (!found)
			type->index = n_types++;
		if (!isnull && with_targets)
		{
			bool		scores_null;
			Datum		scores = SpiValueIn(questions, r, 6, &scores_null);

			if (scores_null)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("row (dataset_id " INT64_FORMAT ", question_id %s) of vqaprune.targets "
								"is corrupted: scores is null", dataset_id,
								SpiTextIn(questions, r, 1))));
			n_targets += CheckedTargetCount(DatumGetArrayTypeP(ids), DatumGetArrayTypeP(scores),
											dataset_id,
											DatumGetInt64(SpiRequiredIn(questions, r, 1, QUESTIONS)),
											config->num_qa_labels, model, dataset);
		}
	}
	in_memory = (size_t) n_images * boxes * dim * (half ? sizeof(uint16) : sizeof(float))
		<= (size_t) vqaprune_feature_memory << 20;

	PG_TRY();
	{
		size_t		t = 0;

		vocab = ModelVocab(model_id, model);
		if (in_memory)
			ex = vqa_examples_new((int) n, seq_len, n_images, boxes, dim, config->num_qa_labels,
								  n_types, n_targets, half);
		else
			ex = FileBackedExamples((int) n, seq_len, n_images, boxes, dim, config->num_qa_labels,
									n_types, n_targets, half);
		if (ex == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory for split \"%s\" of dataset \"%s\"", split, dataset)));
		ex->batch_padding = !config->fixed_padding;
		for (uint64 r = 0; r < n; r++)
		{
			bool		isnull,
						scores_null;
			int64		image_id = DatumGetInt64(SpiRequiredIn(questions, r, 2, QUESTIONS));
			TypeSlot	key = {{0}};
			Datum		ids,
						scores;
			char	   *question = SpiRequiredTextIn(questions, r, 3, QUESTIONS);

			ex->question_ids[r] = DatumGetInt64(SpiRequiredIn(questions, r, 1, QUESTIONS));
			ex->image_of[r] = ((ImageSlot *) hash_search(images, &image_id, HASH_FIND, NULL))->row;
			strlcpy(key.name, SpiRequiredTextIn(questions, r, 4, QUESTIONS), sizeof(key.name));
			ex->type_of[r] = ((TypeSlot *) hash_search(types, key.name, HASH_FIND, NULL))->index;
			if (EncodeQuestion(vocab, config,
							   (char *) pg_server_to_any(question, strlen(question), PG_UTF8),
							   ex->input_ids + r * seq_len, ex->attended + r * seq_len) < 0)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			for (int k = 0; k < seq_len; k++)
				if (ex->input_ids[r * seq_len + k] >= config->vocab_size)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("the vocabulary of model \"%s\" is larger than its embeddings", model)));
			ex->target_start[r] = (int32) t;
			/* nulls as the first pass saw them: ids decides, scores was checked */
			ids = SpiValueIn(questions, r, 5, &isnull);
			scores = SpiValueIn(questions, r, 6, &scores_null);
			if (!isnull && !scores_null && with_targets)
			{
				ArrayType  *id_array = DatumGetArrayTypeP(ids);
				ArrayType  *score_array = DatumGetArrayTypeP(scores);
				int			count = ArrayGetNItems(ARR_NDIM(id_array), ARR_DIMS(id_array));

				/* checked in the first pass: the counts sized the buffers */
				if (t + count > n_targets)
					elog(ERROR, "targets changed between two reads of one snapshot");
				for (int k = 0; k < count; k++, t++)
				{
					ex->target_ids[t] = ((int32 *) ARR_DATA_PTR(id_array))[k];
					ex->target_scores[t] = ((float4 *) ARR_DATA_PTR(score_array))[k];
				}
			}
		}
		ex->target_start[n] = (int32) t;
		FillImages(ex, images, dataset_id, dataset, split);
		FillPriors(ex, types, dataset_id);
	}
	PG_CATCH();
	{
		vqa_vocab_free(vocab);
		vqa_examples_free(ex);
		PG_RE_THROW();
	}
	PG_END_TRY();
	vqa_vocab_free(vocab);
	return ex;
}

/*
 * vqa_encode_question(model, question) -> 2 x question_tokens integer[]:
 * the input ids and the attention mask the model is given for a question,
 * as training and evaluation encode it (the model's tokenizer and config).
 */
Datum
vqa_encode_question(PG_FUNCTION_ARGS)
{
	char	   *model = RequireTextArg(fcinfo, 0, "model");
	char	   *question;
	char	   *config_json;
	int64		model_id;
	VqaModelConfig config;
	char		err[256];
	VqaVocab   *volatile vocab;
	int32	   *ids;
	Datum	   *elems;
	int			T;
	int			dims[2];
	int			lbs[2] = {1, 1};
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *result;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("question must not be null")));
	question = text_to_cstring(PG_GETARG_TEXT_PP(1));
	SPI_connect();
	model_id = RequireModel(model, &config_json);
	if (vqa_model_config_parse(config_json, &config, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the config of model \"%s\" in vqaprune.models is invalid: %s", model, err)));
	T = config.question_tokens;
	vocab = ModelVocab(model_id, model);
	ids = MemoryContextAlloc(caller, sizeof(int32) * 2 * T);
	PG_TRY();
	{
		char	   *utf8 = (char *) pg_server_to_any(question, strlen(question), PG_UTF8);

		if (EncodeQuestion(vocab, &config, utf8, ids, ids + T) < 0)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	PG_FINALLY();
	{
		vqa_vocab_free(vocab);
	}
	PG_END_TRY();
	SPI_finish();
	elems = palloc(sizeof(Datum) * 2 * T);
	for (int i = 0; i < 2 * T; i++)
		elems[i] = Int32GetDatum(ids[i]);
	dims[0] = 2;
	dims[1] = T;
	result = construct_md_array(elems, NULL, 2, dims, lbs, INT4OID, 4, true, TYPALIGN_INT);
	PG_RETURN_ARRAYTYPE_P(result);
}
