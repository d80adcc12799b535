/*
 * answer_head.c: answer heads sized to a dataset's answers.
 *
 * A model answers with the labels of its head. Giving a model the head of
 * another answer list (a pre-trained checkpoint's 9,500 answers, a stored
 * model fitted to another dataset) keeps the body and starts the head
 * afresh, as HuggingFace initialises it; where the old head has a label of
 * the same string, its hidden layers and that output row carry over, as
 * LXMERT's fine-tuning does with its pre-trained QA head (load_lxmert_qa).
 * The result is always a new model: stored models never change.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"

#include "ownership.h"
#include "spi_checked.h"
#include "vqaprune.h"

PG_FUNCTION_INFO_V1(vqa_new_head);

ArrayType *
DatasetAnswerLabels(int64 dataset_id, const char *dataset)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};
	bool		isnull;
	Datum		answers;

	(void) SpiRun("SELECT array_agg(answer ORDER BY answer_id) FROM vqaprune.answers "
				  "WHERE dataset_id = $1", SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1);
	answers = SpiValue(0, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dataset \"%s\" has no answer vocabulary", dataset),
				 errhint("The vocabulary is built from the \"train\" split, or given by "
						 "vqa_load_answers: load it first.")));
	return DatumGetArrayTypePCopy(answers);
}

/* A label's row in the old head. */
typedef struct LabelSlot
{
	const char *label;			/* hash key */
	int			row;
} LabelSlot;

static uint32
LabelHash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
LabelMatch(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

const VqaTensor *
AnswerOutputTensor(const VqaModel *model, const char *which)
{
	char		name[96];

	snprintf(name, sizeof(name), "%s.%s", model->ops->answer_output, which);
	return vqa_model_find_tensor(model, name);
}

int
TransferHeadRows(VqaModel *model, ArrayType *labels, const float *old_weight,
				 const float *old_bias, ArrayType *old_labels)
{
	const VqaTensor *weight = AnswerOutputTensor(model, "weight");
	const VqaTensor *bias = AnswerOutputTensor(model, "bias");
	int			width;
	Datum	   *new_elems,
			   *old_elems;
	int			n_new,
				n_old;
	HASHCTL		ctl = {0};
	HTAB	   *rows;
	int			transferred = 0;

	if (weight == NULL || bias == NULL)
		elog(ERROR, "rows are transferred into HuggingFace's answer head only");
	width = weight->shape[1];
	deconstruct_array(labels, TEXTOID, -1, false, TYPALIGN_INT, &new_elems, NULL, &n_new);
	deconstruct_array(old_labels, TEXTOID, -1, false, TYPALIGN_INT, &old_elems, NULL, &n_old);
	if (n_new != model->config.num_qa_labels)
		elog(ERROR, "%d labels for a head of %d answers", n_new, model->config.num_qa_labels);
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(LabelSlot);
	ctl.hash = LabelHash;
	ctl.match = LabelMatch;
	ctl.hcxt = CurrentMemoryContext;
	rows = hash_create("vqaprune head labels", Max(n_old, 16), &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	for (int j = 0; j < n_old; j++)
	{
		char	   *label = TextDatumGetCString(old_elems[j]);
		bool		found;
		LabelSlot  *slot = hash_search(rows, &label, HASH_ENTER, &found);

		/* a list with a label twice: its first row, as a dict built from it would keep the last */
		if (!found)
			slot->row = j;
	}
	for (int i = 0; i < n_new; i++)
	{
		char	   *label = TextDatumGetCString(new_elems[i]);
		LabelSlot  *slot = hash_search(rows, &label, HASH_FIND, NULL);

		if (slot == NULL)
			continue;
		memcpy(model->params + weight->offset + (size_t) i * width,
			   old_weight + (size_t) slot->row * width, sizeof(float) * width);
		model->params[bias->offset + i] = old_bias[slot->row];
		transferred++;
	}
	hash_destroy(rows);
	vqa_model_refresh_mask(model);
	return transferred;
}

/* Copies each tensor of src that dst has by name and size: the body, when the heads differ. */
static void
CopyBody(VqaModel *dst, const VqaModel *src, float *dst_mask)
{
	for (int i = 0; i < dst->n_tensors; i++)
	{
		const VqaTensor *t = &dst->tensors[i];
		const VqaTensor *s = vqa_model_find_tensor(src, t->name);

		if (t->module == LXMERT_HEAD || s == NULL || s->numel != t->numel)
			continue;
		memcpy(dst->params + t->offset, src->params + s->offset, sizeof(float) * t->numel);
		if (dst_mask && src->mask)
			memcpy(dst_mask + t->offset, src->mask + s->offset, sizeof(float) * t->numel);
	}
}

/*
 * vqa_new_head(model, dataset, name) -> the new model's name
 */
Datum
vqa_new_head(PG_FUNCTION_ARGS)
{
	char	   *source_name = RequireTextArg(fcinfo, 0, "model");
	char	   *dataset = RequireTextArg(fcinfo, 1, "dataset");
	char	   *name = PG_ARGISNULL(2) ? psprintf("%s_%s", source_name, dataset)
		: RequireTextArg(fcinfo, 2, "name");
	char	   *config_json;
	int64		source_id;
	int64		dataset_id;
	const VqaModel *source;
	VqaModel *volatile model = NULL;
	float	   *volatile mask = NULL;
	VqaModelConfig config;
	ArrayType  *labels;
	ArrayType  *old_labels = NULL;
	StoredModelInfo info = {0};
	volatile int transferred = 0;
	StringInfoData options;

	SPI_connect();
	source_id = RequireModel(source_name, &config_json);
	dataset_id = RequireDataset(dataset);
	RequireNewModelName(name);
	labels = DatasetAnswerLabels(dataset_id, dataset);
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(source_id)};
		bool		isnull;
		Datum		d;

		if (SpiRun("SELECT stage, tokenizer_vocab, answer_vocab FROM vqaprune.models "
				   "WHERE model_id = $1", SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
			elog(ERROR, "model " INT64_FORMAT " disappeared", source_id);
		info.stage = DatumGetInt32(SpiRequired(0, 1, "vqaprune.models"));
		info.tokenizer_vocab = SpiText(0, 2);
		d = SpiValue(0, 3, &isnull);
		if (!isnull)
			old_labels = DatumGetArrayTypePCopy(d);
	}
	source = LoadModel(source_id, config_json);
	config = source->config;
	config.num_qa_labels = ArrayGetNItems(ARR_NDIM(labels), ARR_DIMS(labels));

	PG_TRY();
	{
		model = NewCoreModel(&config);
		vqa_model_init_head(model, 0, LXMERT_INITIALIZER_RANGE);
		if (source->mask)
		{
			mask = malloc(sizeof(float) * model->n_params);
			if (mask == NULL)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			for (size_t i = 0; i < model->n_params; i++)
				mask[i] = 1.0f;
		}
		CopyBody(model, source, mask);
		if (mask && vqa_model_set_mask(model, mask) != 0)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		/* HuggingFace's head: the hidden layers and the rows of shared labels carry over */
		if (old_labels && config.answer_head == VQA_HEAD_HUGGINGFACE)
		{
			const VqaTensor *out_w = AnswerOutputTensor(model, "weight");
			const VqaTensor *out_b = AnswerOutputTensor(model, "bias");

			for (int i = 0; i < model->n_tensors; i++)
			{
				const VqaTensor *t = &model->tensors[i];

				if (t->module == LXMERT_HEAD && t != out_w && t != out_b)
					memcpy(model->params + t->offset,
						   source->params + vqa_model_find_tensor(source, t->name)->offset,
						   sizeof(float) * t->numel);
			}
			transferred = TransferHeadRows(model, labels,
										   source->params + AnswerOutputTensor(source, "weight")->offset,
										   source->params + AnswerOutputTensor(source, "bias")->offset,
										   old_labels);
		}
	}
	PG_CATCH();
	{
		free(mask);
		vqa_model_free(model);
		PG_RE_THROW();
	}
	PG_END_TRY();
	free(mask);

	initStringInfo(&options);
	appendStringInfoString(&options, "{\"new_head_for\": ");
	escape_json(&options, dataset);
	appendStringInfo(&options, ", \"transferred_answers\": %d}", transferred);
	info.name = name;
	info.dataset_id = dataset_id;
	info.parent_id = source_id;
	info.options_json = options.data;
	info.answer_vocab = PointerGetDatum(labels);
	info.sparsity_target = NAN;
	ereport(NOTICE,
			(errmsg("transferred %d of the %d answers of dataset \"%s\" from the head of model \"%s\"",
					transferred, config.num_qa_labels, dataset, source_name)));
	StoreAndFree(model, &info);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}
