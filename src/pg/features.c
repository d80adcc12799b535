/*
 * features.c: vqa_load_features, and the image rows every dataset source
 * writes.
 *
 * Region features arrive as TSV files in LXMERT's obj36 layout or the
 * bottom-up attention layout (the core reader tells them apart and decodes
 * the base64). Each image becomes one row: boxes normalised to [0, 1] and
 * features, both little-endian float32 in bytea columns stored out of line
 * and uncompressed. One feature dimension per dataset: the model's visual
 * input size depends on it.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "port/pg_bswap.h"
#include "utils/memutils.h"

#include "ownership.h"
#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/features_tsv.h"
#include "vqaprune/half.h"

PG_FUNCTION_INFO_V1(vqa_load_features);
PG_FUNCTION_INFO_V1(vqa_floats);

void
ImageInserterInit(RowInserter *ins)
{
	Oid			argtypes[9] = {INT8OID, INT8OID, INT4OID, INT4OID, INT4OID, INT4OID,
	BYTEAOID, BYTEAOID, BOOLOID};

	RowInserterInit(ins,
					"INSERT INTO vqaprune.images (dataset_id, image_id, image_w, image_h, "
					"num_boxes, feature_dim, boxes, features, features_half) "
					"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
					9, argtypes);
}

bool
ParseFeatureStorage(FunctionCallInfo fcinfo, int argno)
{
	char	   *storage = PG_ARGISNULL(argno) ? "float32" : text_to_cstring(PG_GETARG_TEXT_PP(argno));

	if (strcmp(storage, "float32") != 0 && strcmp(storage, "float16") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown feature storage \"%s\"", storage),
				 errhint("Use \"float32\" or \"float16\" (IEEE half: half the bytes).")));
	return strcmp(storage, "float16") == 0;
}

void
HalfBytesToHalfs(uint16 *out, const char *data, size_t n)
{
	memcpy(out, data, n * sizeof(uint16));
#ifdef WORDS_BIGENDIAN
	for (size_t i = 0; i < n; i++)
		out[i] = pg_bswap16(out[i]);
#endif
}

void
HalfBytesToFloats(float *out, const char *data, size_t n)
{
	/* a copy: the bytes of a short varlena need not be aligned */
	uint16	   *half = palloc(sizeof(uint16) * Max(n, 1));

	HalfBytesToHalfs(half, data, n);
	vqa_float_from_half(half, out, n);
	pfree(half);
}

/* n features as little-endian IEEE half */
static bytea *
HalfBytea(const float *values, size_t n)
{
	bytea	   *result = palloc(VARHDRSZ + n * sizeof(uint16));
	uint16	   *half = (uint16 *) VARDATA(result);

	SET_VARSIZE(result, VARHDRSZ + n * sizeof(uint16));
	vqa_half_from_float(values, half, n);
#ifdef WORDS_BIGENDIAN
	for (size_t i = 0; i < n; i++)
		half[i] = pg_bswap16(half[i]);
#endif
	return result;
}

/* Inserts one image; false if its id is already in the dataset. */
bool
InsertImage(RowInserter *ins, int64 dataset_id, int64 image_id, int image_w, int image_h,
			int num_boxes, int feature_dim, const float *boxes, const float *features,
			bool half)
{
	MemoryContext old = MemoryContextSwitchTo(ins->row_context);
	Datum		values[9];

	for (size_t i = 0; half && i < (size_t) num_boxes * feature_dim; i++)
		if (fabsf(features[i]) > 65504.0f)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("feature value %g of image " INT64_FORMAT " does not fit float16, whose "
							"largest value is 65504", features[i], image_id),
					 errhint("Store these features as float32.")));

	values[0] = Int64GetDatum(dataset_id);
	values[1] = Int64GetDatum(image_id);
	values[2] = Int32GetDatum(image_w);
	values[3] = Int32GetDatum(image_h);
	values[4] = Int32GetDatum(num_boxes);
	values[5] = Int32GetDatum(feature_dim);
	values[6] = PointerGetDatum(FloatsToBytea(boxes, (size_t) num_boxes * 4));
	values[7] = PointerGetDatum(half ? HalfBytea(features, (size_t) num_boxes * feature_dim)
								: FloatsToBytea(features, (size_t) num_boxes * feature_dim));
	values[8] = BoolGetDatum(half);
	MemoryContextSwitchTo(old);
	return RowInserterExec(ins, values, NULL) == 1;
}

/*
 * The feature dimension of the dataset's images, or 0 if it has none yet;
 * an error if they are stored otherwise than `half` says.
 */
static int
DatasetFeatureDim(int64 dataset_id, const char *dataset, bool half)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};

	if (SpiRun("SELECT feature_dim, features_half FROM vqaprune.images WHERE dataset_id = $1 LIMIT 1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) == 0)
		return 0;
	if (DatumGetBool(SpiRequired(0, 2, "vqaprune.images")) != half)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dataset \"%s\" stores its features as %s", dataset, half ? "float32" : "float16"),
				 errhint("All images of a dataset share one storage: pass storage => '%s'.",
						 half ? "float32" : "float16")));
	return DatumGetInt32(SpiRequired(0, 1, "vqaprune.images"));
}

/*
 * vqa_load_features(dataset, tsv_file) -> images loaded
 */
Datum
vqa_load_features(PG_FUNCTION_ARGS)
{
	char	   *dataset = RequireTextArg(fcinfo, 0, "dataset");
	char	   *path = RequireTextArg(fcinfo, 1, "tsv_file");
	VqaTsvReader *volatile reader;
	char		errbuf[256];
	int64		dataset_id;
	volatile int64 loaded = 0;
	int			feature_dim;
	RowInserter ins;
	bool		half = ParseFeatureStorage(fcinfo, 2);

	RequireReadServerFiles();
	RequireFileExists(path);

	SPI_connect();
	dataset_id = LookupDatasetId(dataset);
	if (dataset_id == 0)
		dataset_id = CreateDataset(dataset, "files", "vqa-cp", 9, "{}");
	else
		RequireDatasetOwner(dataset_id, dataset);
	feature_dim = DatasetFeatureDim(dataset_id, dataset, half);
	ImageInserterInit(&ins);

	reader = vqa_tsv_open(path, errbuf, sizeof(errbuf));
	if (reader == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not read file \"%s\": %s", path, errbuf)));
	PG_TRY();
	{
		VqaImageFeatures image;
		int			rc;

		while ((rc = vqa_tsv_next(reader, &image)) == 1)
		{
			CHECK_FOR_INTERRUPTS();
			if (feature_dim == 0)
				feature_dim = image.feature_dim;
			if (image.feature_dim != feature_dim)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("invalid features file \"%s\": image " INT64_FORMAT " has feature "
								"dimension %d, but dataset \"%s\" holds dimension %d",
								path, image.image_id, image.feature_dim, dataset, feature_dim)));
			/* the reader refuses an image twice in the file: this one is stored already */
			if (!InsertImage(&ins, dataset_id, image.image_id, image.image_w, image.image_h,
							 image.num_boxes, image.feature_dim, image.boxes, image.features, half))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("image " INT64_FORMAT " of \"%s\" is already loaded in dataset \"%s\"",
								image.image_id, path, dataset),
						 errhint("A dataset holds each image once, for all its splits; "
								 "vqa_drop_dataset removes a dataset to load it again.")));
			loaded++;
		}
		if (rc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid features file \"%s\": %s", path, vqa_tsv_error(reader))));
	}
	PG_FINALLY();
	{
		vqa_tsv_close(reader);
	}
	PG_END_TRY();

	SPI_finish();
	PG_RETURN_INT64(loaded);
}

/*
 * vqa_floats(bytea, storage) -> real[]: stored little-endian float32 or IEEE
 * half (features, boxes, tensor chunks) as an array, to look at from SQL.
 */
Datum
vqa_floats(PG_FUNCTION_ARGS)
{
	bytea	   *data;
	bool		half = ParseFeatureStorage(fcinfo, 1);
	size_t		size = half ? sizeof(uint16) : sizeof(float);
	size_t		len,
				n;
	float	   *values;
	Datum	   *elems;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	data = PG_GETARG_BYTEA_PP(0);
	len = VARSIZE_ANY_EXHDR(data);
	n = len / size;
	if (len % size != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s bytea must have a length divisible by %zu, not %zu",
						half ? "float16" : "float32", size, len)));
	if (n > MaxArraySize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%zu floats exceed the maximum array size", n)));
	values = palloc(sizeof(float) * Max(n, 1));
	if (half)
		HalfBytesToFloats(values, VARDATA_ANY(data), n);
	else
		ByteaToFloats(values, VARDATA_ANY(data), n);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (size_t i = 0; i < n; i++)
		elems[i] = Float4GetDatum(values[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, (int) n, FLOAT4OID, sizeof(float4),
										  true, TYPALIGN_INT));
}
