/*
 * model_sql.c: making, importing, exporting and running LXMERT models from
 * SQL: vqa_create_model, vqa_import_safetensors, vqa_export_safetensors and
 * vqa_forward.
 *
 * Checkpoints use HuggingFace's tensor names ("lxmert." prefix, answer head
 * without it) so a model trained here loads in transformers and the other
 * way round.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/safetensors.h"
#include "vqaprune/tokenizer.h"

PG_FUNCTION_INFO_V1(vqa_create_model);
PG_FUNCTION_INFO_V1(vqa_import_safetensors);
PG_FUNCTION_INFO_V1(vqa_export_safetensors);
PG_FUNCTION_INFO_V1(vqa_forward);

/* The file name a tensor has in a HuggingFace checkpoint. */
static void
CheckpointName(const LxmertTensor *t, char *out, size_t size)
{
	if (strncmp(t->name, "answer_head.", 12) == 0)
		snprintf(out, size, "%s", t->name);
	else
		snprintf(out, size, "lxmert.%s", t->name);
}

static int
CompareCheckpointNames(const void *a, const void *b)
{
	char		x[128],
				y[128];

	CheckpointName(*(const LxmertTensor *const *) a, x, sizeof(x));
	CheckpointName(*(const LxmertTensor *const *) b, y, sizeof(y));
	return strcmp(x, y);
}

static void
ParseConfig(Jsonb *config, LxmertConfig *out)
{
	char	   *json = JsonbToCString(NULL, &config->root, VARSIZE(config));
	char		err[256];

	if (lxmert_config_parse(json, out, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err),
				 errhint("The config takes HuggingFace's LxmertConfig keys, e.g. "
						 "{\"hidden_size\": 64, \"num_attention_heads\": 4}.")));
}

static bool
ConfigHasKey(Jsonb *config, const char *key)
{
	return DatumGetBool(DirectFunctionCall2(jsonb_exists, JsonbPGetDatum(config),
											CStringGetTextDatum(key)));
}

/* A key the dataset decides: the config may leave it out or agree. */
static void
RequireConfigAgrees(Jsonb *config, const char *key, int config_value, int needed,
					const char *why)
{
	if (ConfigHasKey(config, key) && config_value != needed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("config key \"%s\" is %d, but %s needs %d", key, config_value, why, needed),
				 errhint("Leave \"%s\" out of the config: it follows the dataset.", key)));
}

static VqaVocab *
LoadVocabFile(const char *path)
{
	char		err[256];
	VqaVocab   *vocab;

	RequireReadServerFiles();
	RequireFileExists(path);
	vocab = vqa_vocab_load(path, err, sizeof(err));
	if (vocab == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid vocabulary file \"%s\": %s", path, err)));
	return vocab;
}

/* A WordPiece vocabulary of every word and character of the train questions. */
static VqaVocab *
BuildVocab(int64 dataset_id, const char *dataset)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};
	const char **texts;
	char		err[256];
	VqaVocab   *vocab;
	uint64		n = SpiRun("SELECT question FROM vqaprune.questions "
						   "WHERE dataset_id = $1 AND split = 'train' ORDER BY question_id",
						   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 0);

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dataset \"%s\" has no train questions to build a vocabulary from", dataset),
				 errhint("Load its train split, or give a vocab_file.")));
	texts = palloc(sizeof(char *) * n);
	for (uint64 i = 0; i < n; i++)
		texts[i] = SpiRequiredText(i, 1, "vqaprune.questions");
	vocab = vqa_vocab_build(texts, n, 1, 0, err, sizeof(err));
	if (vocab == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not build a vocabulary: %s", err)));
	return vocab;
}

/* vocab.txt text of a vocabulary, in palloc'd memory; frees the vocabulary. */
static char *
VocabText(VqaVocab *vocab)
{
	size_t		len;
	char	   *text = vqa_vocab_serialize(vocab, &len);
	char	   *result;

	vqa_vocab_free(vocab);
	if (text == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	result = pnstrdup(text, len);
	free(text);
	return result;
}

/* Stores a core model and frees it, on success or error. */
static int64
StoreAndFree(LxmertModel *model, const StoredModelInfo *info)
{
	LxmertModel *volatile m = model;
	int64		id;

	PG_TRY();
	{
		id = StoreModel(m, info);
	}
	PG_CATCH();
	{
		lxmert_free(m);
		PG_RE_THROW();
	}
	PG_END_TRY();
	lxmert_free(m);
	return id;
}

/*
 * vqa_create_model(model, dataset, config, vocab_file, seed) -> model
 */
Datum
vqa_create_model(PG_FUNCTION_ARGS)
{
	char	   *name = RequireTextArg(fcinfo, 0, "model");
	char	   *dataset = RequireTextArg(fcinfo, 1, "dataset");
	Jsonb	   *config_json;
	int32		seed = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4);
	LxmertConfig config;
	StoredModelInfo info = {0};
	int64		dataset_id;
	VqaVocab   *vocab;
	bool		isnull;
	Datum		answers;
	ArrayType  *answer_array;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("config must not be null"),
				 errhint("Pass '{}' for LXMERT base.")));
	config_json = PG_GETARG_JSONB_P(2);
	ParseConfig(config_json, &config);

	SPI_connect();
	RequireNewModelName(name);
	dataset_id = RequireDataset(dataset);
	values[0] = Int64GetDatum(dataset_id);

	/* the answer head follows the dataset's answer vocabulary */
	(void) SpiRun("SELECT array_agg(answer ORDER BY answer_id) FROM vqaprune.answers "
				  "WHERE dataset_id = $1", SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1);
	answers = SpiValue(0, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dataset \"%s\" has no answer vocabulary", dataset),
				 errhint("The vocabulary is built from the \"train\" split: load it first.")));
	answer_array = DatumGetArrayTypePCopy(answers);
	RequireConfigAgrees(config_json, "num_qa_labels", config.num_qa_labels,
						ArrayGetNItems(ARR_NDIM(answer_array), ARR_DIMS(answer_array)),
						"the dataset's answer vocabulary");
	config.num_qa_labels = ArrayGetNItems(ARR_NDIM(answer_array), ARR_DIMS(answer_array));

	/* the visual input follows the dataset's features, if it has any */
	if (SpiRun("SELECT feature_dim FROM vqaprune.images WHERE dataset_id = $1 LIMIT 1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) == 1)
	{
		int			dim = DatumGetInt32(SpiRequired(0, 1, "vqaprune.images"));

		RequireConfigAgrees(config_json, "visual_feat_dim", config.visual_feat_dim, dim,
							"the dataset's features");
		config.visual_feat_dim = dim;
	}

	/* the word embeddings follow the tokenizer's vocabulary */
	vocab = PG_ARGISNULL(3) ? BuildVocab(dataset_id, dataset)
		: LoadVocabFile(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	RequireConfigAgrees(config_json, "vocab_size", config.vocab_size, vqa_vocab_size(vocab),
						"the WordPiece vocabulary");
	config.vocab_size = vqa_vocab_size(vocab);
	info.tokenizer_vocab = VocabText(vocab);

	info.name = name;
	info.dataset_id = dataset_id;
	info.stage = 0;
	info.options_json = psprintf("{\"seed\": %d, \"init_std\": 0.02}", seed);
	info.answer_vocab = PointerGetDatum(answer_array);
	{
		LxmertModel *model = NewCoreModel(&config);

		lxmert_init_random(model, (uint64) (uint32) seed, 0.02f);
		StoreAndFree(model, &info);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/* "[a, b]" */
static char *
ShapeText(int ndim, const int64_t *shape)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoChar(&s, '[');
	for (int i = 0; i < ndim; i++)
		appendStringInfo(&s, "%s" INT64_FORMAT, i ? ", " : "", shape[i]);
	appendStringInfoChar(&s, ']');
	return s.data;
}

/* Copies every tensor of the checkpoint into the model, checking names and shapes. */
static void
FillFromCheckpoint(LxmertModel *model, const VqaSafetensors *st, const char *path)
{
	for (int i = 0; i < model->n_tensors; i++)
	{
		const LxmertTensor *t = &model->tensors[i];
		int64_t		want[2] = {t->shape[0], t->shape[1]};
		char		name[128];
		const VqaStTensor *found;

		CheckpointName(t, name, sizeof(name));
		found = vqa_st_find(st, name);
		if (found == NULL)
			found = vqa_st_find(st, t->name);
		if (found == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tensor \"%s\" %s is missing from \"%s\"", name,
							ShapeText(t->ndim, want), path),
					 errhint("The config must describe the checkpoint: check its layer counts and sizes.")));
		if (found->ndim != t->ndim || found->shape[0] != t->shape[0] ||
			(t->ndim == 2 && found->shape[1] != t->shape[1]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tensor \"%s\" has shape %s in \"%s\", but the config needs %s",
							name, ShapeText(found->ndim, found->shape), path,
							ShapeText(t->ndim, want))));
		if (found->dtype != VQA_ST_F32 && found->dtype != VQA_ST_F16 && found->dtype != VQA_ST_BF16)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tensor \"%s\" in \"%s\" is %s, not a floating-point type",
							name, path, vqa_st_dtype_name(found->dtype))));
		vqa_st_read_f32(st, found, model->params + t->offset);
	}
}

/*
 * vqa_import_safetensors(model, weights_file, config, vocab_file) -> model
 */
Datum
vqa_import_safetensors(PG_FUNCTION_ARGS)
{
	char	   *name = RequireTextArg(fcinfo, 0, "model");
	char	   *path = RequireTextArg(fcinfo, 1, "weights_file");
	LxmertConfig config;
	StoredModelInfo info = {0};
	VqaSafetensors *volatile st;
	LxmertModel *volatile model;
	char		err[256];

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("config must not be null"),
				 errhint("Pass the checkpoint's config.json as jsonb.")));
	ParseConfig(PG_GETARG_JSONB_P(2), &config);
	RequireReadServerFiles();
	RequireFileExists(path);

	SPI_connect();
	RequireNewModelName(name);
	if (!PG_ARGISNULL(3))
	{
		VqaVocab   *vocab = LoadVocabFile(text_to_cstring(PG_GETARG_TEXT_PP(3)));

		if (vqa_vocab_size(vocab) != config.vocab_size)
		{
			int			size = vqa_vocab_size(vocab);

			vqa_vocab_free(vocab);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the vocabulary file has %d tokens, but the config's vocab_size is %d",
							size, config.vocab_size)));
		}
		info.tokenizer_vocab = VocabText(vocab);
	}

	st = vqa_st_open(path, err, sizeof(err));
	if (st == NULL)
	{
		/* the core's message starts with the path: say it once */
		const char *why = strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':'
			? err + strlen(path) + 2 : err;

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid safetensors file \"%s\": %s", path, why)));
	}
	model = NULL;
	PG_TRY();
	{
		model = NewCoreModel(&config);
		FillFromCheckpoint(model, st, path);
	}
	PG_CATCH();
	{
		vqa_st_free(st);
		lxmert_free(model);
		PG_RE_THROW();
	}
	PG_END_TRY();
	vqa_st_free(st);

	info.name = name;
	info.stage = 0;
	{
		StringInfoData options;

		initStringInfo(&options);
		appendStringInfoString(&options, "{\"imported_from\": ");
		escape_json(&options, path);
		appendStringInfoChar(&options, '}');
		info.options_json = options.data;
	}
	StoreAndFree(model, &info);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * vqa_export_safetensors(model, weights_file) -> bytes written
 */
Datum
vqa_export_safetensors(PG_FUNCTION_ARGS)
{
	char	   *name = RequireTextArg(fcinfo, 0, "model");
	char	   *path = RequireTextArg(fcinfo, 1, "weights_file");
	char	   *config_json;
	int64		model_id;
	LxmertModel *model;
	VqaStWriter *volatile writer;
	char		err[256];
	int64		written;

	if (!has_privs_of_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write server files"),
				 errhint("Only superusers and roles with privileges of the "
						 "\"pg_write_server_files\" role may export models.")));
	SPI_connect();
	model_id = RequireModel(name, &config_json);
	model = LoadModel(model_id, config_json);

	writer = vqa_st_writer_new();
	if (writer == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	PG_TRY();
	{
		const LxmertTensor **order = palloc(sizeof(LxmertTensor *) * model->n_tensors);

		/* sorted by name, as the reference writer orders tensors of one dtype */
		for (int i = 0; i < model->n_tensors; i++)
			order[i] = &model->tensors[i];
		qsort(order, model->n_tensors, sizeof(LxmertTensor *), CompareCheckpointNames);
		for (int i = 0; i < model->n_tensors; i++)
		{
			const LxmertTensor *t = order[i];
			int64_t		shape[2] = {t->shape[0], t->shape[1]};
			char		tensor_name[128];

			CheckpointName(t, tensor_name, sizeof(tensor_name));
			/* a pruned model is written as its forward pass sees it: pruned weights 0 */
			if (vqa_st_writer_add_f32(writer, tensor_name, t->ndim, shape,
									  (model->mask ? model->masked : model->params) + t->offset) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not add tensor \"%s\": %s", tensor_name,
								vqa_st_writer_error(writer))));
		}
		vqa_st_writer_set_metadata(writer, "format", "pt");
		if (vqa_st_writer_save(writer, path, err, sizeof(err)) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %s", path, err)));
	}
	PG_FINALLY();
	{
		vqa_st_writer_free(writer);
	}
	PG_END_TRY();
	{
		FILE	   *f = fopen(path, "rb");

		written = 0;
		if (f && fseek(f, 0, SEEK_END) == 0)
			written = ftell(f);
		if (f)
			fclose(f);
	}
	SPI_finish();
	PG_RETURN_INT64(written);
}

/* Dimensions of an array argument, which must hold no nulls. */
static void
ArrayShape(ArrayType *a, const char *what, int *ndim, int **dims)
{
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain nulls", what)));
	*ndim = ARR_NDIM(a);
	*dims = ARR_DIMS(a);
}

static int32 *
IntArrayData(ArrayType *a, const char *what, int B, int T)
{
	int			ndim;
	int		   *dims;

	ArrayShape(a, what, &ndim, &dims);
	if (ARR_ELEMTYPE(a) != INT4OID)
		elog(ERROR, "%s must be int[]", what);
	if (!((ndim == 2 && dims[0] == B && dims[1] == T) || (ndim == 1 && B == 1 && dims[0] == T)))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must have the shape of input_ids, %d x %d", what, B, T)));
	return (int32 *) ARR_DATA_PTR(a);
}

/*
 * vqa_forward(model, input_ids, attention_mask, token_type_ids, visual_feats,
 *			   visual_pos) -> B x A logits
 */
Datum
vqa_forward(PG_FUNCTION_ARGS)
{
	char	   *name = RequireTextArg(fcinfo, 0, "model");
	ArrayType  *ids;
	ArrayType  *feats;
	ArrayType  *pos;
	int			ndim,
			   *dims;
	int			B,
				T,
				N;
	char	   *config_json;
	int64		model_id;
	LxmertModel *model;
	LxmertBatch batch;
	const LxmertConfig *c;
	float	   *logits;
	Datum	   *elems;
	int			out_dims[2],
				out_lbs[2] = {1, 1};
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *result;

	for (int i = 1; i <= 5; i++)
		if (PG_ARGISNULL(i) && i != 2 && i != 3)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null",
							i == 1 ? "input_ids" : i == 4 ? "visual_feats" : "visual_pos")));
	ids = PG_GETARG_ARRAYTYPE_P(1);
	feats = PG_GETARG_ARRAYTYPE_P(4);
	pos = PG_GETARG_ARRAYTYPE_P(5);

	SPI_connect();
	model_id = RequireModel(name, &config_json);
	model = LoadModel(model_id, config_json);
	c = &model->config;
	PrepareEvaluation(model);

	ArrayShape(ids, "input_ids", &ndim, &dims);
	if (ndim != 1 && ndim != 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("input_ids must be a batch x tokens array (or one row of tokens)")));
	B = ndim == 2 ? dims[0] : 1;
	T = dims[ndim - 1];
	if (T > c->max_position_embeddings)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d tokens exceed the model's max_position_embeddings %d",
						T, c->max_position_embeddings)));
	ArrayShape(feats, "visual_feats", &ndim, &dims);
	if (!((ndim == 3 && dims[0] == B && dims[2] == c->visual_feat_dim) ||
		  (ndim == 2 && B == 1 && dims[1] == c->visual_feat_dim)))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("visual_feats must be a %d x boxes x %d array", B, c->visual_feat_dim)));
	N = dims[ndim - 2];
	ArrayShape(pos, "visual_pos", &ndim, &dims);
	if (!((ndim == 3 && dims[0] == B && dims[1] == N && dims[2] == c->visual_pos_dim) ||
		  (ndim == 2 && B == 1 && dims[0] == N && dims[1] == c->visual_pos_dim)))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("visual_pos must be a %d x %d x %d array", B, N, c->visual_pos_dim)));
	if (ARR_ELEMTYPE(feats) != FLOAT4OID || ARR_ELEMTYPE(pos) != FLOAT4OID)
		elog(ERROR, "visual_feats and visual_pos must be real[]");

	batch.batch = B;
	batch.seq_len = T;
	batch.num_boxes = N;
	batch.input_ids = IntArrayData(ids, "input_ids", B, T);
	batch.attention_mask = PG_ARGISNULL(2) ? NULL
		: IntArrayData(PG_GETARG_ARRAYTYPE_P(2), "attention_mask", B, T);
	batch.token_type_ids = PG_ARGISNULL(3) ? NULL
		: IntArrayData(PG_GETARG_ARRAYTYPE_P(3), "token_type_ids", B, T);
	batch.visual_feats = (float *) ARR_DATA_PTR(feats);
	batch.visual_pos = (float *) ARR_DATA_PTR(pos);
	for (int i = 0; i < B * T; i++)
		if (batch.input_ids[i] < 0 || batch.input_ids[i] >= c->vocab_size ||
			(batch.token_type_ids && (batch.token_type_ids[i] < 0 ||
									  batch.token_type_ids[i] >= c->type_vocab_size)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("token %d is out of range: ids must be in [0, %d), token types in [0, %d)",
							i, c->vocab_size, c->type_vocab_size)));

	logits = MemoryContextAlloc(caller, sizeof(float) * B * c->num_qa_labels);
	SetComputeThreads();
	model->training = 0;
	if (lxmert_forward(model, &batch, logits, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory for a forward pass of %d examples", B)));
	out_dims[0] = B;
	out_dims[1] = c->num_qa_labels;
	SPI_finish();

	elems = palloc(sizeof(Datum) * B * out_dims[1]);
	for (int i = 0; i < B * out_dims[1]; i++)
		elems[i] = Float4GetDatum(logits[i]);
	result = construct_md_array(elems, NULL, 2, out_dims, out_lbs, FLOAT4OID,
								sizeof(float4), true, TYPALIGN_INT);
	PG_RETURN_ARRAYTYPE_P(result);
}
