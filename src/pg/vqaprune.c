/*
 * vqaprune.c: the module, and what every SQL function of it shares: argument
 * and permission checks, dataset lookup and creation, and row insertion
 * through prepared statements.
 */
#include "postgres.h"

#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "spi_checked.h"
#include "vqaprune.h"

PG_MODULE_MAGIC;

int			vqaprune_threads = 1;
bool		vqaprune_verbose = false;
double		vqaprune_sparse_density = -1.0;
double		vqaprune_stage3_sparse_sparsity = 0.7;
int			vqaprune_max_jobs = 2;
int			vqaprune_eval_batch_size = 64;
int			vqaprune_train_memory = 0;
int			vqaprune_feature_memory = 4096;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("vqaprune.threads",
							"Sets the number of BLAS threads a backend computes with.",
							"Each backend running a vqaprune computation uses this many "
							"threads; keep the total across sessions within the cores.",
							&vqaprune_threads,
							1, 1, 256,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("vqaprune.verbose",
							 "Reports each epoch of a training run as a NOTICE.",
							 NULL,
							 &vqaprune_verbose,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("vqaprune.sparse_density",
							 "Sets the largest kept fraction of a weight matrix that the "
							 "evaluation of a compacted model runs with sparse kernels.",
							 "Denser matrices run as dense products; 0 turns sparse kernels off; "
							 "-1 (the default) uses the fraction at which sparse kernels beat dense "
							 "products on this machine, measured once per session.",
							 &vqaprune_sparse_density,
							 -1.0, -1.0, 1.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("vqaprune.stage3_sparse_sparsity",
							 "Sets the sparsity from which fine-tuning a pruned model (Stage 3) "
							 "trains a weight matrix in sparse form.",
							 "Sparse forward and backward products, gradients and Adam moments for "
							 "the kept weights only; sparser matrices than this train so, the rest "
							 "dense; 1 trains every matrix dense.",
							 &vqaprune_stage3_sparse_sparsity,
							 0.7, 0.0, 1.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("vqaprune.eval_batch_size",
							"Sets the examples per forward pass of an evaluation.",
							"vqa_evaluate and the evaluations of a training run's eval_split; "
							"activation memory grows with it.",
							&vqaprune_eval_batch_size,
							64, 1, 65536,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("vqaprune.train_memory",
							"Sets the activation memory a training step may use.",
							"A training call without micro_batch_size runs each batch as the "
							"largest micro-batches, dividing the batch, whose activations fit. "
							"0: whole batches.",
							&vqaprune_train_memory,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("vqaprune.feature_memory",
							"Sets the memory a split's region features may take.",
							"Evaluation and training hold a split's features in memory up to "
							"this size, and read a larger split's from a temporary file, one "
							"batch at a time; a batch's features must fit.",
							&vqaprune_feature_memory,
							4096, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("vqaprune.max_jobs",
							"Sets how many vqaprune jobs run at once in a database.",
							"Further jobs wait in the queue. Each job computes with the "
							"vqaprune.threads of the session that submitted it.",
							&vqaprune_max_jobs,
							2, 1, 64,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("vqaprune");
}

/*
 * Reading a file on the server needs what COPY FROM a file needs.
 */
void
RequireReadServerFiles(void)
{
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read server files"),
				 errhint("Only superusers and roles with privileges of the "
						 "\"pg_read_server_files\" role may load files.")));
}

/* Fails with the operating system's reason if path cannot be read. */
void
RequireFileExists(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	if (S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a directory", path)));
}

/* A reader over a VQA JSON file; the caller closes it on every path. */
VqaJsonReader *
OpenJsonFile(const char *path, VqaJsonKind kind)
{
	char		errbuf[256];
	VqaJsonReader *reader = vqa_json_open(path, kind, errbuf, sizeof(errbuf));

	if (reader == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not read file \"%s\": %s", path, errbuf)));
	return reader;
}

/* A text argument that must be neither NULL nor empty. */
char *
RequireTextArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	char	   *value;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	value = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name)));
	return value;
}

/* The extension's schema (where the calling function lives), quoted for SQL. */
const char *
ExtensionSchema(FunctionCallInfo fcinfo)
{
	return quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));
}

/* The id of a dataset, or 0 if there is none of that name. */
int64
LookupDatasetId(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	if (SpiRun("SELECT dataset_id FROM vqaprune.datasets WHERE name = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) == 0)
		return 0;
	return DatumGetInt64(SpiRequired(0, 1, "vqaprune.datasets"));
}

/* The id of a dataset that must exist. */
int64
RequireDataset(const char *name)
{
	int64		id = LookupDatasetId(name);

	if (id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dataset \"%s\" does not exist", name),
				 errhint("Load it with vqa_load_questions or make one with vqa_synthetic.")));
	return id;
}

int64
CreateDataset(const char *name, const char *source, const char *benchmark,
			  int min_answer_count, const char *options_json)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[5];

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(source);
	values[2] = Int32GetDatum(min_answer_count);
	values[3] = CStringGetTextDatum(options_json);
	values[4] = CStringGetTextDatum(benchmark);
	(void) SpiRun("INSERT INTO vqaprune.datasets (name, source, min_answer_count, options, benchmark) "
				  "VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING dataset_id",
				  SPI_OK_INSERT_RETURNING, 5, argtypes, values, NULL, false, 1);
	return DatumGetInt64(SpiRequired(0, 1, "vqaprune.datasets"));
}

/*
 * VQA-VS scores by its own code's exact match (vqa_answer_accuracy_vqavs),
 * every other dataset by the official metric (vqa_answer_accuracy).
 */
const char *
DatasetAccuracyFunction(int64 dataset_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};
	char	   *benchmark;

	if (SpiRun("SELECT benchmark FROM vqaprune.datasets WHERE dataset_id = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
		elog(ERROR, "dataset " INT64_FORMAT " disappeared", dataset_id);
	benchmark = SpiRequiredText(0, 1, "vqaprune.datasets");
	if (strcmp(benchmark, "vqa-vs") == 0)
		return "vqa_answer_accuracy_vqavs";
	if (strcmp(benchmark, "vqa-cp") == 0)
		return "vqa_answer_accuracy";
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("dataset " INT64_FORMAT " in vqaprune.datasets has an unknown benchmark \"%s\"",
					dataset_id, benchmark)));
	return NULL;				/* not reached */
}

void
RowInserterInit(RowInserter *ins, const char *sql, int nargs, Oid *argtypes)
{
	ins->plan = SPI_prepare(sql, nargs, argtypes);
	if (ins->plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	ins->nargs = nargs;
	ins->row_context = AllocSetContextCreate(CurrentMemoryContext, "vqaprune row",
											 ALLOCSET_DEFAULT_SIZES);
}

/* Runs the statement once; returns the number of rows it inserted. */
uint64
RowInserterExec(RowInserter *ins, Datum *values, const bool *nulls)
{
	char		nullflags[FUNC_MAX_ARGS] = {0};
	uint64		inserted;

	for (int i = 0; i < ins->nargs; i++)
		nullflags[i] = (nulls && nulls[i]) ? 'n' : ' ';
	inserted = SpiRunPlan(ins->plan, SPI_OK_INSERT, values, nullflags, false, 0);
	MemoryContextReset(ins->row_context);
	return inserted;
}

/* float32 values as a little-endian bytea, the storage of features and tensors */
bytea *
FloatsToBytea(const float *values, size_t n)
{
	bytea	   *result = palloc(VARHDRSZ + n * sizeof(float));

	SET_VARSIZE(result, VARHDRSZ + n * sizeof(float));
#ifdef WORDS_BIGENDIAN
	for (size_t i = 0; i < n; i++)
	{
		uint32		bits;

		memcpy(&bits, &values[i], sizeof(bits));
		bits = pg_bswap32(bits);
		memcpy(VARDATA(result) + i * sizeof(float), &bits, sizeof(bits));
	}
#else
	memcpy(VARDATA(result), values, n * sizeof(float));
#endif
	return result;
}

/* n little-endian float32 values of stored bytes into out */
void
ByteaToFloats(float *out, const char *data, size_t n)
{
#ifdef WORDS_BIGENDIAN
	for (size_t i = 0; i < n; i++)
	{
		uint32		bits;

		memcpy(&bits, data + i * sizeof(float), sizeof(bits));
		bits = pg_bswap32(bits);
		memcpy(&out[i], &bits, sizeof(bits));
	}
#else
	memcpy(out, data, n * sizeof(float));
#endif
}
