/*
 * models.c: LXMERT models in tables.
 *
 * A model is a row of vqaprune.models (its full config as HuggingFace
 * LxmertConfig keys, lineage, tokenizer and answer vocabularies), one row
 * per tensor in vqaprune.tensors (HuggingFace name, shape, module, whether
 * it is in the prunable set theta_pr) and its values as little-endian
 * float32 in vqaprune.tensor_chunks, CHUNK_FLOATS values a row; a pruning
 * mask, when there is one, lives in vqaprune.mask_chunks as packed bits.
 *
 * Stored models never change, and model ids are never reused, so a backend
 * keeps the last model it loaded and serves the next call from memory.
 * Model memory comes from the core's allocator (a base-size model with
 * gradients and Adam state is several GB, past palloc's 1 GB limit) and is
 * freed on every error path.
 */
#include "postgres.h"

#include <math.h>


#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/float_pack.h"
#include "vqaprune/gemm.h"
#include "vqaprune/parallel.h"
#include "vqaprune/prune.h"
#include "vqaprune/sparse.h"

#define CHUNK_FLOATS (1024 * 1024)
#define MODELS "vqaprune.models"
#define TENSORS "vqaprune.tensors"
#define TENSOR_CHUNKS "vqaprune.tensor_chunks"
#define MASK_CHUNKS "vqaprune.mask_chunks"

/*
 * One model per backend. It is keyed by the identity of the stored row
 * versions, not by the model id alone: ids start again after DROP EXTENSION
 * and CREATE EXTENSION, and a row deleted and made again under the same id
 * holds other weights. The models table's OID (new with every CREATE
 * EXTENSION) and, for the model's row and each of its tensor, chunk and
 * mask rows, the xmin (the transaction that wrote it) and ctid (distinct for
 * every live version within one transaction) name what is stored now; any
 * change to any of those rows, even one made behind vqaprune's back, makes
 * another key. The row headers are read, not the values.
 */
static VqaModel *cached_model = NULL;
static char cached_model_key[96] = "";
static bool cached_model_compact = false;
static double cached_sparse_density = 0.0;	/* of the sparse forms built, 0: none */

static const char *const MODULE_NAMES[] = {
	[LXMERT_LANGUAGE] = "language",
	[LXMERT_VISUAL] = "visual",
	[LXMERT_CROSS] = "cross",
	[LXMERT_POOLER] = "pooler",
	[LXMERT_EMBEDDINGS_OTHER] = "embeddings",
	[LXMERT_HEAD] = "head",
	[VQA_MODULE_ENCODER] = "encoder",
};

const char *
ModuleName(VqaModule module)
{
	return MODULE_NAMES[module];
}

/* BLAS and worker threads follow vqaprune.threads at every call that computes. */
void
SetComputeThreads(void)
{
	vqa_compute_set_threads(vqaprune_threads);
}

/* Model id and config JSON of a model name; 0 if there is none. */
int64
LookupModel(const char *name, char **config_json)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	int64		id;

	if (SpiRun("SELECT model_id, config::text FROM vqaprune.models WHERE name = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) == 0)
		return 0;
	id = DatumGetInt64(SpiRequired(0, 1, MODELS));
	if (config_json)
		*config_json = SpiRequiredText(0, 2, MODELS);
	return id;
}

int64
RequireModel(const char *name, char **config_json)
{
	int64		id = LookupModel(name, config_json);

	if (id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("SELECT model FROM vqa_models lists the models.")));
	return id;
}

void
RequireNewModelName(const char *name)
{
	if (LookupModel(name, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model \"%s\" already exists", name),
				 errhint("Choose another name: stored models never change.")));
}

/* Between layers of a pass: a cancel stops even a long forward or backward. */
static void
CheckInterruptsBetweenLayers(void)
{
	CHECK_FOR_INTERRUPTS();
}

/* An empty core model of a config, or an error that says why not. */
VqaModel *
NewCoreModel(const VqaModelConfig *config)
{
	char		err[256];
	VqaModel *model = vqa_model_new(config, err, sizeof(err));

	if (model == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err)));
	model->between_layers = CheckInterruptsBetweenLayers;
	return model;
}

/*
 * Stores a model's pruning mask: for every prunable tensor, one bit per
 * weight (1 = kept), least significant bit first, CHUNK_FLOATS weights a row.
 */
static void
StoreMask(const VqaModel *model, int64 model_id, MemoryContext chunk_context)
{
	Oid			types[4] = {INT8OID, INT4OID, INT4OID, BYTEAOID};
	SPIPlanPtr	plan = SPI_prepare("INSERT INTO vqaprune.mask_chunks (model_id, tensor_id, chunk, bits) "
								   "VALUES ($1, $2, $3, $4)", 4, types);

	if (plan == NULL)
		elog(ERROR, "could not prepare the mask insert");
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];

		if (!t->prunable)
			continue;
		for (size_t start = 0, chunk = 0; start < t->numel; start += CHUNK_FLOATS, chunk++)
		{
			size_t		n = Min(CHUNK_FLOATS, t->numel - start);
			MemoryContext old = MemoryContextSwitchTo(chunk_context);
			bytea	   *bits = palloc0(VARHDRSZ + (n + 7) / 8);
			Datum		values[4];

			SET_VARSIZE(bits, VARHDRSZ + (n + 7) / 8);
			for (size_t j = 0; j < n; j++)
				if (model->mask[t->offset + start + j] != 0.0f)
					((uint8 *) VARDATA(bits))[j / 8] |= (uint8) (1 << (j % 8));
			values[0] = Int64GetDatum(model_id);
			values[1] = Int32GetDatum(i);
			values[2] = Int32GetDatum((int32) chunk);
			values[3] = PointerGetDatum(bits);
			(void) SpiRunPlan(plan, SPI_OK_INSERT, values, NULL, false, 0);
			MemoryContextSwitchTo(old);
			MemoryContextReset(chunk_context);
		}
	}
}

/* A masked tensor whose chunks were read up to chunk n_chunks - 1 must have no more. */
static void
RequireWholeMask(const VqaTensor *t, int32 n_chunks, int64 model_id)
{
	if (t && (size_t) n_chunks * CHUNK_FLOATS < t->numel)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the mask of tensor \"%s\" of model " INT64_FORMAT
						" in vqaprune.mask_chunks is missing chunk %d", t->name, model_id, n_chunks)));
}

/* The stored mask of a model, if it has one, set on the core model. */
static void
ReadMask(VqaModel *model, int64 model_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	float	   *volatile mask = NULL;
	uint64		n_rows = SpiRun("SELECT t.name, c.chunk, c.bits FROM vqaprune.mask_chunks c "
								"JOIN vqaprune.tensors t USING (model_id, tensor_id) "
								"WHERE c.model_id = $1 ORDER BY c.tensor_id, c.chunk",
								SPI_OK_SELECT, 1, argtypes, values, NULL, false, 0);

	if (n_rows == 0)
		return;
	mask = malloc(sizeof(float) * model->n_params);
	if (mask == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	for (size_t i = 0; i < model->n_params; i++)
		mask[i] = 1.0f;
	PG_TRY();
	{
		const VqaTensor *previous = NULL;
		int32		next = 0;

		for (uint64 r = 0; r < n_rows; r++)
		{
			char	   *name = SpiRequiredText(r, 1, TENSORS);
			int32		chunk = DatumGetInt32(SpiRequired(r, 2, MASK_CHUNKS));
			bytea	   *bits = DatumGetByteaPP(SpiRequired(r, 3, MASK_CHUNKS));
			const VqaTensor *t = vqa_model_find_tensor(model, name);
			size_t		start = (size_t) chunk * CHUNK_FLOATS;
			size_t		n;

			/* a masked tensor has all its chunks, from 0, each of its size */
			if (t != previous)
			{
				RequireWholeMask(previous, next, model_id);
				next = 0;
			}
			if (t == NULL || chunk != next++ || start >= t->numel ||
				VARSIZE_ANY_EXHDR(bits) != (Min(CHUNK_FLOATS, t->numel - start) + 7) / 8)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("mask chunk %d of tensor \"%s\" of model " INT64_FORMAT
								" in vqaprune.mask_chunks is corrupted", chunk, name, model_id)));
			previous = t;
			n = Min(CHUNK_FLOATS, t->numel - start);
			for (size_t j = 0; j < n; j++)
				mask[t->offset + start + j] =
					(((const uint8 *) VARDATA_ANY(bits))[j / 8] >> (j % 8)) & 1 ? 1.0f : 0.0f;
		}
		RequireWholeMask(previous, next, model_id);
		if (vqa_model_set_mask(model, mask) != 0)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	PG_FINALLY();
	{
		free(mask);
	}
	PG_END_TRY();
}

/* Kept values of a compacted tensor, packed (float_pack.h): lossless, smaller. */
static bytea *
PackedBytea(const float *values, size_t n)
{
	size_t		bound = vqa_float_pack_bound(n);
	bytea	   *out = palloc(VARHDRSZ + bound);
	uint8	   *work = palloc(4 * n + 1);
	size_t		len = vqa_float_pack(values, n, (uint8 *) VARDATA(out), work);

	if (len == 0)
		elog(ERROR, "could not pack %zu values", n);
	SET_VARSIZE(out, VARHDRSZ + len);
	pfree(work);
	return out;
}

bool
HasModules(const VqaModel *model)
{
	size_t		counts[4];

	vqa_prunable_counts(model, counts);
	return counts[0] + counts[1] + counts[2] > 0;
}

/*
 * Records a masked model's measured sparsity (overall and per module) and
 * its target (the parent's when not given: Stage 3 keeps the mask).
 */
static void
StoreSparsity(const VqaModel *model, int64 model_id, const StoredModelInfo *info)
{
	double		module[4],
				overall;
	Oid			argtypes[3] = {INT8OID, TEXTOID, FLOAT8OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', isnan(info->sparsity_target) ? 'n' : ' '};

	vqa_mask_sparsity(model, model->mask, module, &overall);
	values[0] = Int64GetDatum(model_id);
	values[1] = CStringGetTextDatum(HasModules(model)
									? psprintf("{\"overall\": %.6f, \"language\": %.6f, \"visual\": %.6f, "
											   "\"cross\": %.6f, \"pooler\": %.6f}",
											   overall, module[0], module[1], module[2], module[3])
									: psprintf("{\"overall\": %.6f}", overall));
	values[2] = Float8GetDatum(info->sparsity_target);
	(void) SpiRun("UPDATE vqaprune.models m SET sparsity = $2::jsonb, "
				  "sparsity_target = coalesce($3, (SELECT p.sparsity_target FROM vqaprune.models p "
				  "WHERE p.model_id = m.parent_id)) WHERE m.model_id = $1",
				  SPI_OK_UPDATE, 3, argtypes, values, nulls, false, 0);
}

/*
 * Stores a model's row, tensors and values (and mask, if set); returns the
 * new model id. Only the parameters are stored: gradients and optimizer
 * state belong to a training run.
 */
int64
StoreModel(const VqaModel *model, const StoredModelInfo *info)
{
	char	   *config_json = vqa_model_config_to_json(&model->config);
	Oid			row_types[10] = {TEXTOID, INT8OID, INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		row[10];
	char		row_nulls[10];
	Oid			tensor_types[8] = {INT8OID, INT4OID, TEXTOID, INT4ARRAYOID, INT8OID, TEXTOID, BOOLOID,
	BOOLOID};
	Oid			chunk_types[4] = {INT8OID, INT4OID, INT4OID, BYTEAOID};
	SPIPlanPtr	tensor_plan;
	SPIPlanPtr	chunk_plan;
	MemoryContext chunk_context;
	int64		model_id;

	if (config_json == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	row[0] = CStringGetTextDatum(info->name);
	row[1] = Int64GetDatum(info->dataset_id);
	row[2] = Int64GetDatum(info->parent_id);
	row[3] = Int32GetDatum(info->stage);
	row[4] = CStringGetTextDatum(config_json);
	row[5] = info->loss ? CStringGetTextDatum(info->loss) : (Datum) 0;
	row[6] = info->method ? CStringGetTextDatum(info->method) : (Datum) 0;
	row[7] = info->options_json ? CStringGetTextDatum(info->options_json) : (Datum) 0;
	row[8] = info->tokenizer_vocab ? CStringGetTextDatum(info->tokenizer_vocab) : (Datum) 0;
	row[9] = info->answer_vocab ? info->answer_vocab : (Datum) 0;
	row_nulls[0] = ' ';
	row_nulls[1] = info->dataset_id ? ' ' : 'n';
	row_nulls[2] = info->parent_id ? ' ' : 'n';
	row_nulls[3] = ' ';
	row_nulls[4] = ' ';
	row_nulls[5] = info->loss ? ' ' : 'n';
	row_nulls[6] = info->method ? ' ' : 'n';
	row_nulls[7] = info->options_json ? ' ' : 'n';
	row_nulls[8] = info->tokenizer_vocab ? ' ' : 'n';
	row_nulls[9] = info->answer_vocab ? ' ' : 'n';
	free(config_json);
	(void) SpiRun("INSERT INTO vqaprune.models (name, dataset_id, parent_id, stage, config, "
				  "loss, method, options, tokenizer_vocab, answer_vocab) "
				  "VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, coalesce($8::jsonb, '{}'), $9, $10) "
				  "RETURNING model_id",
				  SPI_OK_INSERT_RETURNING, 10, row_types, row, row_nulls, false, 1);
	model_id = DatumGetInt64(SpiRequired(0, 1, MODELS));

	tensor_plan = SPI_prepare("INSERT INTO vqaprune.tensors (model_id, tensor_id, name, shape, numel, "
							  "module, prunable, compact) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
							  8, tensor_types);
	chunk_plan = SPI_prepare("INSERT INTO vqaprune.tensor_chunks (model_id, tensor_id, chunk, data) "
							 "VALUES ($1, $2, $3, $4)", 4, chunk_types);
	if (tensor_plan == NULL || chunk_plan == NULL)
		elog(ERROR, "could not prepare the tensor inserts");
	chunk_context = AllocSetContextCreate(CurrentMemoryContext, "vqaprune chunk",
										  ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < model->n_tensors; i++)
	{
		const VqaTensor *t = &model->tensors[i];
		MemoryContext old = MemoryContextSwitchTo(chunk_context);
		Datum		shape[2] = {Int32GetDatum(t->shape[0]), Int32GetDatum(t->shape[1])};
		Datum		tv[8];
		bool		compact = info->compact && t->prunable && model->mask;
		const float *values = model->params + t->offset;
		size_t		n_values = t->numel;

		tv[0] = Int64GetDatum(model_id);
		tv[1] = Int32GetDatum(i);
		tv[2] = CStringGetTextDatum(t->name);
		tv[3] = PointerGetDatum(construct_array(shape, t->ndim, INT4OID, 4, true, TYPALIGN_INT));
		tv[4] = Int64GetDatum((int64) t->numel);
		tv[5] = CStringGetTextDatum(ModuleName(t->module));
		tv[6] = BoolGetDatum(t->prunable != 0);
		tv[7] = BoolGetDatum(compact);
		(void) SpiRunPlan(tensor_plan, SPI_OK_INSERT, tv, NULL, false, 0);
		if (compact)
		{
			float	   *kept = MemoryContextAllocExtended(old, sizeof(float) * Max(t->numel, 1),
														  MCXT_ALLOC_HUGE);

			n_values = 0;
			for (size_t j = 0; j < t->numel; j++)
				if (model->mask[t->offset + j] != 0.0f)
					kept[n_values++] = model->params[t->offset + j];
			values = kept;
		}
		/* one chunk at least: a fully pruned compacted tensor still has a (empty) row */
		for (size_t start = 0, chunk = 0; start < n_values || chunk == 0; start += CHUNK_FLOATS, chunk++)
		{
			size_t		n = Min(CHUNK_FLOATS, n_values - start);
			Datum		cv[4];

			CHECK_FOR_INTERRUPTS();
			cv[0] = Int64GetDatum(model_id);
			cv[1] = Int32GetDatum(i);
			cv[2] = Int32GetDatum((int32) chunk);
			cv[3] = PointerGetDatum(compact ? PackedBytea(values + start, n)
									: FloatsToBytea(values + start, n));
			(void) SpiRunPlan(chunk_plan, SPI_OK_INSERT, cv, NULL, false, 0);
			MemoryContextReset(chunk_context);
		}
		MemoryContextSwitchTo(old);
		if (compact)
			pfree((float *) values);
	}
	if (model->mask)
	{
		StoreMask(model, model_id, chunk_context);
		StoreSparsity(model, model_id, info);
	}
	MemoryContextDelete(chunk_context);
	return model_id;
}

/* Where a compacted tensor's next kept value goes, while its chunks are read. */
typedef struct CompactCursor
{
	const VqaTensor *tensor;	/* NULL: none open */
	size_t		pos;			/* next position of the layout to consider */
	int32		next_chunk;
} CompactCursor;

static void
CompactCorrupted(int64 model_id, const VqaTensor *t)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored model " INT64_FORMAT " has compacted values of tensor \"%s\" "
					"that do not match its mask", model_id, t->name)));
}

/* Closes the open compacted tensor: every position left must be pruned. */
static size_t
CompactFinish(VqaModel *model, int64 model_id, CompactCursor *cur)
{
	const VqaTensor *t = cur->tensor;

	if (t == NULL)
		return 0;
	for (; cur->pos < t->offset + t->numel; cur->pos++)
	{
		if (model->mask[cur->pos] != 0.0f)
			CompactCorrupted(model_id, t);
		model->params[cur->pos] = 0.0f;
	}
	cur->tensor = NULL;
	return t->numel;
}

/* Places one chunk of kept values at the mask's kept positions, zeros between. */
static void
CompactPlace(VqaModel *model, int64 model_id, CompactCursor *cur, const float *values, size_t n)
{
	const VqaTensor *t = cur->tensor;
	size_t		end = t->offset + t->numel;

	for (size_t i = 0; i < n; i++)
	{
		while (cur->pos < end && model->mask[cur->pos] == 0.0f)
			model->params[cur->pos++] = 0.0f;
		if (cur->pos == end)
			CompactCorrupted(model_id, t);
		model->params[cur->pos++] = values[i];
	}
}

/*
 * Reads a stored model's values into a core model of its config; the mask
 * must be set already when tensors are compacted. True if any is.
 */
static bool
ReadParams(VqaModel *model, int64 model_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	Portal		portal;
	size_t		filled = 0;
	CompactCursor cur = {0};
	const VqaTensor *dense = NULL;	/* the dense tensor being read */
	int32		dense_next = 0;
	float	   *kept = palloc(sizeof(float) * CHUNK_FLOATS);
	uint8	   *kept_work = palloc(sizeof(float) * CHUNK_FLOATS);
	bool		any_compact = false;

	portal = SpiOpen("SELECT t.name, c.chunk, c.data, t.compact FROM vqaprune.tensor_chunks c "
					 "JOIN vqaprune.tensors t USING (model_id, tensor_id) "
					 "WHERE c.model_id = $1 ORDER BY c.tensor_id, c.chunk",
					 1, argtypes, values, false);
	while (SpiFetch(portal, 16) > 0)
	{
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			char	   *name = SpiRequiredText(r, 1, TENSORS);
			int32		chunk = DatumGetInt32(SpiRequired(r, 2, TENSOR_CHUNKS));
			bytea	   *data = DatumGetByteaPP(SpiRequired(r, 3, TENSOR_CHUNKS));
			bool		compact = DatumGetBool(SpiRequired(r, 4, TENSORS));
			const VqaTensor *t = vqa_model_find_tensor(model, name);
			size_t		start = (size_t) chunk * CHUNK_FLOATS;
			size_t		n = VARSIZE_ANY_EXHDR(data) / sizeof(float);

			if (t != dense)
				dense_next = 0;
			dense = compact ? NULL : t;

			/*
			 * Dense chunks are numbered from 0 without gaps and hold exactly
			 * their share of the tensor; a compacted chunk is packed
			 * (float_pack.h), so its size is no float count.
			 */
			if (t == NULL ||
				(!compact && (chunk != dense_next++ || start >= t->numel ||
							  VARSIZE_ANY_EXHDR(data) != Min(CHUNK_FLOATS, t->numel - start) * sizeof(float))) ||
				(compact && (model->mask == NULL || !t->prunable)))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("chunk %d of tensor \"%s\" of model " INT64_FORMAT
								" in vqaprune.tensor_chunks is corrupted", chunk, name, model_id),
						 errdetail("It holds %zu bytes.", (size_t) VARSIZE_ANY_EXHDR(data))));
			if (cur.tensor != t)
				filled += CompactFinish(model, model_id, &cur);
			if (!compact)
			{
				ByteaToFloats(model->params + t->offset + start, VARDATA_ANY(data), n);
				filled += n;
				continue;
			}
			any_compact = true;
			if (cur.tensor == NULL)
			{
				cur.tensor = t;
				cur.pos = t->offset;
				cur.next_chunk = 0;
			}
			n = (size_t) vqa_float_packed_count((const uint8 *) VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));
			if (chunk != cur.next_chunk++ || n > CHUNK_FLOATS ||
				vqa_float_unpack((const uint8 *) VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), kept,
								 kept_work) != 0)
				CompactCorrupted(model_id, t);
			CompactPlace(model, model_id, &cur, kept, n);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	filled += CompactFinish(model, model_id, &cur);
	pfree(kept);
	pfree(kept_work);
	if (filled != model->n_params)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model " INT64_FORMAT " in vqaprune.tensor_chunks holds %zu of its %zu parameters",
						model_id, filled, model->n_params)));
	return any_compact;
}

/* The identity of the row versions that store a model (see cached_model_key). */
static void
RowVersionKey(int64 model_id, char *key, size_t size)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};

	if (SpiRun("SELECT 'vqaprune.models'::regclass::oid::text || '/' || m.xmin::text || '/' || m.ctid::text "
			   "|| '/' || md5(concat("
			   "(SELECT string_agg(t.xmin::text || t.ctid::text, ',' ORDER BY t.tensor_id) "
			   "FROM vqaprune.tensors t WHERE t.model_id = m.model_id), ';', "
			   "(SELECT string_agg(c.xmin::text || c.ctid::text, ',' ORDER BY c.tensor_id, c.chunk) "
			   "FROM vqaprune.tensor_chunks c WHERE c.model_id = m.model_id), ';', "
			   "(SELECT string_agg(k.xmin::text || k.ctid::text, ',' ORDER BY k.tensor_id, k.chunk) "
			   "FROM vqaprune.mask_chunks k WHERE k.model_id = m.model_id))) "
			   "FROM vqaprune.models m WHERE m.model_id = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model " INT64_FORMAT " does not exist", model_id)));
	strlcpy(key, SpiText(0, 1), size);
}

/*
 * The core model of a stored model, from this backend's cache when it holds
 * it, with its mask set. The result belongs to the cache: callers must not
 * free it, and must not change its weights.
 */
VqaModel *
LoadModel(int64 model_id, const char *config_json)
{
	VqaModelConfig config;
	char		err[256];
	VqaModel *volatile model;
	bool		compact;

	char		key[96];

	RowVersionKey(model_id, key, sizeof(key));
	if (cached_model && strcmp(cached_model_key, key) == 0)
		return cached_model;
	if (vqa_model_config_parse(config_json, &config, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model " INT64_FORMAT " has an invalid config: %s", model_id, err)));
	model = NewCoreModel(&config);
	PG_TRY();
	{
		/* compacted tensors need the mask to place their values */
		ReadMask(model, model_id);
		compact = ReadParams(model, model_id);
		vqa_model_refresh_mask(model);
	}
	PG_CATCH();
	{
		vqa_model_free(model);
		PG_RE_THROW();
	}
	PG_END_TRY();
	vqa_model_free(cached_model);
	cached_model = model;
	strlcpy(cached_model_key, key, sizeof(cached_model_key));
	cached_model_compact = compact;
	cached_sparse_density = 0.0;
	return model;
}

/*
 * Before an evaluation pass with a loaded model: a compacted model runs its
 * sparse enough matrices with sparse kernels (vqaprune.sparse_density).
 */
void
PrepareEvaluation(VqaModel *model)
{
	double		density = !cached_model_compact ? 0.0
		: vqaprune_sparse_density < 0 ? vqa_sparse_crossover_density() : vqaprune_sparse_density;

	if (model != cached_model || density == cached_sparse_density)
		return;
	if (density == 0.0)
		vqa_model_drop_sparse(model);
	else if (vqa_model_use_sparse(model, density) != 0)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	cached_sparse_density = density;
}

/* Stores a core model and frees it, on success or error. */
int64
StoreAndFree(VqaModel *model, const StoredModelInfo *info)
{
	VqaModel *volatile m = model;
	int64		id;

	PG_TRY();
	{
		id = StoreModel(m, info);
	}
	PG_CATCH();
	{
		vqa_model_free(m);
		PG_RE_THROW();
	}
	PG_END_TRY();
	vqa_model_free(m);
	return id;
}
