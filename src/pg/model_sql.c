/*
 * model_sql.c: making, importing, exporting and running models (LXMERT or
 * VisualBERT) from SQL: vqa_create_model, vqa_import_safetensors,
 * vqa_export_safetensors and vqa_forward.
 *
 * Checkpoints use HuggingFace's tensor names (the type's prefix, "lxmert."
 * or "visual_bert.", on the body; the answer head without it) so a model
 * trained here loads in transformers and the other way round. Pre-training
 * (LxmertForPreTraining, VisualBertForPreTraining) and head-less
 * checkpoints import too: their pre-training heads are ignored, and a
 * dataset gives the model a head for its answers (answer_head.c). The
 * checkpoints vqaprune writes carry the model's answer labels and WordPiece
 * vocabulary as safetensors metadata.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
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
#include "vqaprune/answer_list.h"
#include "vqaprune/safetensors.h"
#include "vqaprune/tokenizer.h"

PG_FUNCTION_INFO_V1(vqa_create_model);
PG_FUNCTION_INFO_V1(vqa_import_safetensors);
PG_FUNCTION_INFO_V1(vqa_export_safetensors);
PG_FUNCTION_INFO_V1(vqa_forward);

/* Metadata keys of the checkpoints vqaprune writes. */
#define METADATA_ANSWER_LABELS "vqaprune.answer_labels"
#define METADATA_TOKENIZER_VOCAB "vqaprune.tokenizer_vocab"

/* The file name a tensor has in a HuggingFace checkpoint: the head has no prefix. */
static void
CheckpointName(const VqaModel *model, const VqaTensor *t, char *out, size_t size)
{
	if (t->module == LXMERT_HEAD)
		snprintf(out, size, "%s", t->name);
	else
		snprintf(out, size, "%s%s", model->ops->tensor_prefix, t->name);
}

typedef struct NamedTensor
{
	char		name[128];
	const VqaTensor *tensor;
} NamedTensor;

static int
CompareNamedTensors(const void *a, const void *b)
{
	return strcmp(((const NamedTensor *) a)->name, ((const NamedTensor *) b)->name);
}

static void
ParseConfig(Jsonb *config, VqaModelConfig *out)
{
	char	   *json = JsonbToCString(NULL, &config->root, VARSIZE(config));
	char		err[256];

	if (vqa_model_config_parse(json, out, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err),
				 errhint("The config takes HuggingFace's LxmertConfig keys, or with "
						 "\"model_type\": \"visual_bert\" its VisualBertConfig keys, e.g. "
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

/* The config keys that give the number of answers: HuggingFace's, and the authors' ans_num. */
static const char *const *
AnswerCountKeys(const VqaModelConfig *config)
{
	static const char *const lxmert[] = {"num_qa_labels", NULL};
	static const char *const visual_bert[] = {"num_labels", "num_qa_labels", "ans_num", NULL};

	return config->model_type == VQA_MODEL_VISUAL_BERT ? visual_bert : lxmert;
}

/* The config key of the region features' width. */
static const char *
FeatureDimKey(const VqaModelConfig *config)
{
	return config->model_type == VQA_MODEL_VISUAL_BERT ? "visual_embedding_dim" : "visual_feat_dim";
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
	VqaModelConfig config;
	StoredModelInfo info = {0};
	int64		dataset_id;
	VqaVocab   *vocab;
	ArrayType  *answer_array;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("config must not be null"),
				 errhint("Pass '{}' for LXMERT base, or '{\"model_type\": \"visual_bert\"}' for "
						 "VisualBERT base.")));
	config_json = PG_GETARG_JSONB_P(2);
	ParseConfig(config_json, &config);

	SPI_connect();
	RequireNewModelName(name);
	dataset_id = RequireDataset(dataset);
	values[0] = Int64GetDatum(dataset_id);

	/* the answer head follows the dataset's answer vocabulary */
	answer_array = DatasetAnswerLabels(dataset_id, dataset);
	for (const char *const *key = AnswerCountKeys(&config); *key; key++)
		RequireConfigAgrees(config_json, *key, config.num_qa_labels,
							ArrayGetNItems(ARR_NDIM(answer_array), ARR_DIMS(answer_array)),
							"the dataset's answer vocabulary");
	config.num_qa_labels = ArrayGetNItems(ARR_NDIM(answer_array), ARR_DIMS(answer_array));

	/* the visual input follows the dataset's features, if it has any */
	if (SpiRun("SELECT feature_dim FROM vqaprune.images WHERE dataset_id = $1 LIMIT 1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) == 1)
	{
		int			dim = DatumGetInt32(SpiRequired(0, 1, "vqaprune.images"));

		RequireConfigAgrees(config_json, FeatureDimKey(&config), config.visual_feat_dim, dim,
							"the dataset's feature width");
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
		VqaModel *model = NewCoreModel(&config);

		vqa_model_init_random(model, (uint64) (uint32) seed, LXMERT_INITIALIZER_RANGE);
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

/*
 * The checkpoint tensor of a name, with or without the type's prefix (a
 * HuggingFace LxmertModel or VisualBertModel is saved without it), checked
 * to have the shape and a floating-point type; NULL if absent and !required.
 */
static const VqaStTensor *
CheckpointTensor(const VqaModel *model, const VqaSafetensors *st, const char *path,
				 const char *name, int ndim, const int *shape, bool required)
{
	int64_t		want[2] = {ndim > 0 ? shape[0] : 0, ndim > 1 ? shape[1] : 0};
	const VqaStTensor *found = vqa_st_find(st, name);
	const char *prefix = model->ops->tensor_prefix;
	bool		same = true;

	if (found == NULL && strncmp(name, prefix, strlen(prefix)) == 0)
		found = vqa_st_find(st, name + strlen(prefix));
	if (found == NULL && required)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tensor \"%s\" %s is missing from \"%s\"", name, ShapeText(ndim, want), path),
				 errhint("The config must describe the checkpoint: check its layer counts and sizes.")));
	if (found == NULL)
		return NULL;
	same = found->ndim == ndim;
	for (int d = 0; same && d < ndim; d++)
		same = found->shape[d] == shape[d];
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tensor \"%s\" has shape %s in \"%s\", but the config needs %s",
						name, ShapeText(found->ndim, found->shape), path, ShapeText(ndim, want))));
	if (found->dtype != VQA_ST_F32 && found->dtype != VQA_ST_F16 && found->dtype != VQA_ST_BF16)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tensor \"%s\" in \"%s\" is %s, not a floating-point type",
						name, path, vqa_st_dtype_name(found->dtype))));
	return found;
}

/*
 * Copies the checkpoint's tensors into the model, checking names and shapes:
 * all of them, or all but the answer head's. Tensors of the checkpoint the
 * model has no use for (pre-training heads) are ignored.
 */
static void
FillFromCheckpoint(VqaModel *model, const VqaSafetensors *st, const char *path, bool with_head)
{
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];
		char		name[128];
		const VqaStTensor *found;

		if (t->module == LXMERT_HEAD && !with_head)
			continue;
		CheckpointName(model, t, name, sizeof(name));
		found = CheckpointTensor(model, st, path, name, t->ndim, t->shape, true);
		vqa_st_read_f32(st, found, model->params + t->offset);
	}
}

/* The answer labels a checkpoint's metadata records, or NULL. */
static ArrayType *
MetadataLabels(const VqaSafetensors *st, const char *path, int answers)
{
	const char *json = vqa_st_metadata(st, METADATA_ANSWER_LABELS);
	char		err[256];
	VqaAnswerList *list;
	Datum	   *elems;
	int			n;

	if (json == NULL)
		return NULL;
	list = vqa_answer_list_parse(json, strlen(json), err, sizeof(err));
	if (list == NULL || vqa_answer_list_count(list) != answers)
	{
		const char *why = list ? psprintf("has %d labels for %d answers",
										  vqa_answer_list_count(list), answers) : err;

		vqa_answer_list_free(list);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid safetensors file \"%s\": metadata \"%s\" %s", path,
						METADATA_ANSWER_LABELS, why)));
	}
	n = vqa_answer_list_count(list);
	elems = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		const char *label = vqa_answer_list_get(list, i);

		elems[i] = CStringGetTextDatum(pg_any_to_server(label, strlen(label), PG_UTF8));
	}
	vqa_answer_list_free(list);
	return construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/* The vocab.txt text a checkpoint's metadata records, or NULL. */
static char *
MetadataVocab(const VqaSafetensors *st, const char *path, int vocab_size)
{
	const char *text = vqa_st_metadata(st, METADATA_TOKENIZER_VOCAB);
	char		err[256];
	VqaVocab   *vocab;

	if (text == NULL)
		return NULL;
	vocab = vqa_vocab_from_buffer(text, strlen(text), err, sizeof(err));
	if (vocab == NULL || vqa_vocab_size(vocab) != vocab_size)
	{
		int			size = vocab ? vqa_vocab_size(vocab) : 0;

		vqa_vocab_free(vocab);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid safetensors file \"%s\": metadata \"%s\" %s", path,
						METADATA_TOKENIZER_VOCAB,
						vocab ? psprintf("has %d tokens, but the config's vocab_size is %d",
										 size, vocab_size) : err)));
	}
	return VocabText(vocab);
}

/* Whether the checkpoint holds the answer head the config names. */
static bool
HasHead(const VqaModel *model, const VqaSafetensors *st)
{
	for (int i = 0; i < model->n_tensors; i++)
		if (model->tensors[i].module == LXMERT_HEAD)
			return vqa_st_find(st, model->tensors[i].name) != NULL;
	return false;
}

/*
 * The checkpoint's own answer head, HuggingFace's, with its labels: its
 * hidden layers are copied and the rows of its output layer transferred
 * by answer to the model's head (LXMERT's load_lxmert_qa). Returns how many
 * rows were transferred.
 */
static int
TransferCheckpointHead(VqaModel *model, ArrayType *labels, const VqaSafetensors *st,
					   const char *path, int checkpoint_answers, ArrayType *qa_labels)
{
	const VqaTensor *out_w = AnswerOutputTensor(model, "weight");
	const VqaTensor *out_b = AnswerOutputTensor(model, "bias");
	int			width = out_w->shape[1];
	int			shape_w[2] = {checkpoint_answers, width};
	int			shape_b[1] = {checkpoint_answers};
	float	   *weight = palloc_extended(sizeof(float) * (size_t) checkpoint_answers * width,
										 MCXT_ALLOC_HUGE);
	float	   *bias = palloc(sizeof(float) * checkpoint_answers);

	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (t->module == LXMERT_HEAD && t != out_w && t != out_b)
			vqa_st_read_f32(st, CheckpointTensor(model, st, path, t->name, t->ndim, t->shape, true),
							model->params + t->offset);
	}
	vqa_st_read_f32(st, CheckpointTensor(model, st, path, out_w->name, 2, shape_w, true), weight);
	vqa_st_read_f32(st, CheckpointTensor(model, st, path, out_b->name, 1, shape_b, true), bias);
	return TransferHeadRows(model, labels, weight, bias, qa_labels);
}

/*
 * A checkpoint of another model type than the config's is refused by name
 * before its tensors are read: each type has a body tensor of its own.
 */
static void
RequireCheckpointType(const VqaModel *model, const VqaSafetensors *st, const char *path)
{
	const VqaModelType types[] = {VQA_MODEL_LXMERT, VQA_MODEL_VISUAL_BERT};

	for (int i = 0; i < lengthof(types); i++)
	{
		const VqaModelOps *ops = vqa_model_ops(types[i]);
		char		prefixed[128];

		snprintf(prefixed, sizeof(prefixed), "%s%s", ops->tensor_prefix, ops->signature_tensor);
		if (ops == model->ops ||
			(vqa_st_find(st, prefixed) == NULL && vqa_st_find(st, ops->signature_tensor) == NULL))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is a checkpoint of model_type \"%s\", but the config's model_type is \"%s\"",
						path, ops->type_name, model->ops->type_name),
				 errhint("Import it with its own config.json, which has \"model_type\": \"%s\".",
						 ops->type_name)));
	}
}

/*
 * vqa_import_safetensors(model, weights_file, config, vocab_file, dataset,
 *						  qa_labels_file) -> model
 */
Datum
vqa_import_safetensors(PG_FUNCTION_ARGS)
{
	char	   *name = RequireTextArg(fcinfo, 0, "model");
	char	   *path = RequireTextArg(fcinfo, 1, "weights_file");
	char	   *dataset = PG_ARGISNULL(4) ? NULL : RequireTextArg(fcinfo, 4, "dataset");
	char	   *labels_path = PG_ARGISNULL(5) ? NULL : RequireTextArg(fcinfo, 5, "qa_labels_file");
	VqaModelConfig config;
	int			checkpoint_answers;
	StoredModelInfo info = {0};
	ArrayType  *qa_labels = NULL;
	ArrayType  *labels = NULL;
	VqaSafetensors *volatile st;
	VqaModel *volatile model;
	volatile int transferred = -1;
	char		err[256];

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("config must not be null"),
				 errhint("Pass the checkpoint's config.json as jsonb.")));
	ParseConfig(PG_GETARG_JSONB_P(2), &config);
	checkpoint_answers = config.num_qa_labels;
	RequireReadServerFiles();
	RequireFileExists(path);
	if (labels_path)
	{
		qa_labels = ReadAnswerListFile(labels_path);
		if (ArrayGetNItems(ARR_NDIM(qa_labels), ARR_DIMS(qa_labels)) != checkpoint_answers)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("qa_labels_file \"%s\" has %d answers, but the config gives %d",
							labels_path, ArrayGetNItems(ARR_NDIM(qa_labels), ARR_DIMS(qa_labels)),
							checkpoint_answers),
					 errhint("The label list names the rows of the checkpoint's own answer head.")));
		if (dataset && config.answer_head != VQA_HEAD_HUGGINGFACE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("qa_labels_file transfers rows of HuggingFace's answer head, "
							"not of a \"simple_classifier\" head"),
					 errhint("Leave qa_labels_file out: a simple_classifier head for a dataset starts fresh.")));
	}

	SPI_connect();
	RequireNewModelName(name);
	if (dataset)
	{
		int64		dataset_id = RequireDataset(dataset);

		labels = DatasetAnswerLabels(dataset_id, dataset);
		config.num_qa_labels = ArrayGetNItems(ARR_NDIM(labels), ARR_DIMS(labels));
		info.dataset_id = dataset_id;
	}
	else
		labels = qa_labels;
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
		/* a checkpoint vqaprune wrote says what it was */
		if (labels == NULL)
			labels = MetadataLabels(st, path, config.num_qa_labels);
		if (info.tokenizer_vocab == NULL)
			info.tokenizer_vocab = MetadataVocab(st, path, config.vocab_size);
		if (dataset && info.tokenizer_vocab == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a model imported for a dataset needs its vocab_file"),
					 errhint("Give the checkpoint's WordPiece vocab.txt: the model tokenizes the "
							 "dataset's questions with it.")));
		model = NewCoreModel(&config);
		RequireCheckpointType(model, st, path);
		if (dataset == NULL && !HasHead(model, st))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" has no %s answer head", path,
							config.answer_head == VQA_HEAD_HUGGINGFACE ? "HuggingFace" : "simple_classifier"),
					 errhint("Pass a dataset: the model then gets a fresh answer head for its answers.")));
		FillFromCheckpoint(model, st, path, dataset == NULL);
		if (dataset)
		{
			vqa_model_init_head(model, 0, LXMERT_INITIALIZER_RANGE);
			if (qa_labels)
				transferred = TransferCheckpointHead(model, labels, st, path, checkpoint_answers,
													 qa_labels);
		}
	}
	PG_CATCH();
	{
		vqa_st_free(st);
		vqa_model_free(model);
		PG_RE_THROW();
	}
	PG_END_TRY();
	vqa_st_free(st);

	info.name = name;
	info.stage = 0;
	info.answer_vocab = labels ? PointerGetDatum(labels) : (Datum) 0;
	{
		StringInfoData options;

		initStringInfo(&options);
		appendStringInfoString(&options, "{\"imported_from\": ");
		escape_json(&options, path);
		if (labels_path)
		{
			appendStringInfoString(&options, ", \"qa_labels_file\": ");
			escape_json(&options, labels_path);
		}
		if (transferred >= 0)
			appendStringInfo(&options, ", \"transferred_answers\": %d", transferred);
		appendStringInfoChar(&options, '}');
		info.options_json = options.data;
	}
	if (transferred >= 0)
		ereport(NOTICE,
				(errmsg("transferred %d of the %d answers of dataset \"%s\" from the checkpoint's head",
						transferred, config.num_qa_labels, dataset)));
	StoreAndFree(model, &info);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * The answer labels (a JSON list) and the WordPiece vocabulary (vocab.txt
 * text) of a stored model, as metadata of its checkpoint, so that importing
 * the file again gives the same model; transformers ignores them.
 */
static void
WriteModelMetadata(VqaStWriter *writer, int64 model_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	char	   *vocab;
	bool		isnull;
	Datum		labels;

	if (SpiRun("SELECT tokenizer_vocab, answer_vocab FROM vqaprune.models WHERE model_id = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
		elog(ERROR, "model " INT64_FORMAT " disappeared", model_id);
	vocab = SpiText(0, 1);
	labels = SpiValue(0, 2, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		int			n;
		StringInfoData json;

		deconstruct_array(DatumGetArrayTypeP(labels), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, NULL, &n);
		initStringInfo(&json);
		appendStringInfoChar(&json, '[');
		for (int i = 0; i < n; i++)
		{
			char	   *label = TextDatumGetCString(elems[i]);

			if (i > 0)
				appendStringInfoString(&json, ", ");
			escape_json(&json, pg_server_to_any(label, strlen(label), PG_UTF8));
		}
		appendStringInfoChar(&json, ']');
		vqa_st_writer_set_metadata(writer, METADATA_ANSWER_LABELS, json.data);
	}
	if (vocab)
		vqa_st_writer_set_metadata(writer, METADATA_TOKENIZER_VOCAB,
								   pg_server_to_any(vocab, strlen(vocab), PG_UTF8));
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
	VqaModel *model;
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
		NamedTensor *order = palloc(sizeof(NamedTensor) * model->n_tensors);

		/* sorted by name, as the reference writer orders tensors of one dtype */
		for (int i = 0; i < model->n_tensors; i++)
		{
			order[i].tensor = &model->tensors[i];
			CheckpointName(model, order[i].tensor, order[i].name, sizeof(order[i].name));
		}
		qsort(order, model->n_tensors, sizeof(NamedTensor), CompareNamedTensors);
		for (int i = 0; i < model->n_tensors; i++)
		{
			const VqaTensor *t = order[i].tensor;
			int64_t		shape[2] = {t->shape[0], t->shape[1]};
			const char *tensor_name = order[i].name;

			/* a pruned model is written as its forward pass sees it: pruned weights 0 */
			if (vqa_st_writer_add_f32(writer, tensor_name, t->ndim, shape,
									  (model->mask ? model->masked : model->params) + t->offset) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not add tensor \"%s\": %s", tensor_name,
								vqa_st_writer_error(writer))));
		}
		vqa_st_writer_set_metadata(writer, "format", "pt");
		WriteModelMetadata(writer, model_id);
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
	VqaModel *model;
	VqaBatch batch;
	const VqaModelConfig *c;
	float	   *logits;
	Datum	   *elems;
	int			out_dims[2],
				out_lbs[2] = {1, 1};
	MemoryContext caller = CurrentMemoryContext;
	ArrayType  *result;

	for (int i = 1; i <= 4; i++)
		if (PG_ARGISNULL(i) && i != 2 && i != 3)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", i == 1 ? "input_ids" : "visual_feats")));
	ids = PG_GETARG_ARRAYTYPE_P(1);
	feats = PG_GETARG_ARRAYTYPE_P(4);
	pos = PG_ARGISNULL(5) ? NULL : PG_GETARG_ARRAYTYPE_P(5);

	SPI_connect();
	model_id = RequireModel(name, &config_json);
	model = LoadModel(model_id, config_json);
	c = &model->config;
	/* VisualBERT reads no boxes */
	if (pos == NULL && c->model_type == VQA_MODEL_LXMERT)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("visual_pos must not be null"),
				 errhint("LXMERT reads each region's box: pass them as a batch x boxes x 4 array.")));
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
	if (pos)
		ArrayShape(pos, "visual_pos", &ndim, &dims);
	if (pos && !((ndim == 3 && dims[0] == B && dims[1] == N && dims[2] == c->visual_pos_dim) ||
		  (ndim == 2 && B == 1 && dims[0] == N && dims[1] == c->visual_pos_dim)))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("visual_pos must be a %d x %d x %d array", B, N, c->visual_pos_dim)));
	if (ARR_ELEMTYPE(feats) != FLOAT4OID || (pos && ARR_ELEMTYPE(pos) != FLOAT4OID))
		elog(ERROR, "visual_feats and visual_pos must be real[]");

	batch.batch = B;
	batch.seq_len = T;
	batch.num_boxes = N;
	batch.input_ids = IntArrayData(ids, "input_ids", B, T);
	batch.attended = PG_ARGISNULL(2) ? NULL
		: IntArrayData(PG_GETARG_ARRAYTYPE_P(2), "attention_mask", B, T);
	batch.token_type_ids = PG_ARGISNULL(3) ? NULL
		: IntArrayData(PG_GETARG_ARRAYTYPE_P(3), "token_type_ids", B, T);
	batch.visual_feats = (float *) ARR_DATA_PTR(feats);
	batch.visual_pos = pos ? (float *) ARR_DATA_PTR(pos) : NULL;
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
	model->forward_only = 1;
	if (vqa_model_forward(model, &batch, logits, NULL, NULL) != 0)
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
