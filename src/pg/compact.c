/*
 * compact.c: vqa_compact, real compression of a pruned model. The model is
 * stored again, as a new model, with its mask bits and only the values the
 * mask keeps; loading it places them back, so its logits are the same.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "spi_checked.h"
#include "vqaprune.h"

#define MODELS "vqaprune.models"

PG_FUNCTION_INFO_V1(vqa_compact);

/*
 * vqa_compact(model, name) -> the compacted model's name
 */
Datum
vqa_compact(PG_FUNCTION_ARGS)
{
	char	   *model = RequireTextArg(fcinfo, 0, "model");
	char	   *name = PG_ARGISNULL(1) ? psprintf("%s_compact", model) : RequireTextArg(fcinfo, 1, "name");
	char	   *config_json;
	int64		model_id;
	VqaModel *source;
	StoredModelInfo info = {0};
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	bool		isnull;
	Datum		d;
	bool		compacted;
	char	   *metrics;
	int64		new_id;

	SPI_connect();
	model_id = RequireModel(model, &config_json);
	RequireNewModelName(name);
	values[0] = Int64GetDatum(model_id);
	if (SpiRun("SELECT dataset_id, stage, loss, method, options::text, tokenizer_vocab, "
			   "answer_vocab, sparsity_target, metrics::text, "
			   "EXISTS (SELECT 1 FROM vqaprune.tensors t WHERE t.model_id = m.model_id AND t.compact) "
			   "FROM vqaprune.models m WHERE model_id = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
		elog(ERROR, "model " INT64_FORMAT " disappeared", model_id);
	info.name = name;
	d = SpiValue(0, 1, &isnull);
	info.dataset_id = isnull ? 0 : DatumGetInt64(d);
	info.parent_id = model_id;
	info.stage = DatumGetInt32(SpiRequired(0, 2, MODELS));
	info.loss = SpiText(0, 3);
	info.method = SpiText(0, 4);
	info.options_json = SpiText(0, 5);
	info.tokenizer_vocab = SpiText(0, 6);
	d = SpiValue(0, 7, &isnull);
	info.answer_vocab = isnull ? (Datum) 0 : SPI_datumTransfer(d, false, -1);
	d = SpiValue(0, 8, &isnull);
	info.sparsity_target = isnull ? NAN : DatumGetFloat8(d);
	info.compact = true;
	metrics = SpiRequiredText(0, 9, MODELS);
	compacted = DatumGetBool(SpiRequired(0, 10, MODELS));

	if (compacted)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" is compacted already", model)));
	source = LoadModel(model_id, config_json);
	if (source->mask == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" is not pruned: it has no mask", model),
				 errhint("Prune it first with vqa_prune.")));

	new_id = StoreModel(source, &info);
	{
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		args[2] = {Int64GetDatum(new_id), CStringGetTextDatum(metrics)};

		(void) SpiRun("UPDATE vqaprune.models SET metrics = $2::jsonb WHERE model_id = $1",
					  SPI_OK_UPDATE, 2, types, args, NULL, false, 0);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}
