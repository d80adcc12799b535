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

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "ownership.h"
#include "spi_checked.h"
#include "vqaprune.h"
#include "vqaprune/features_tsv.h"

PG_FUNCTION_INFO_V1(vqa_load_features);
PG_FUNCTION_INFO_V1(vqa_floats);

void
ImageInserterInit(RowInserter *ins)
{
	Oid			argtypes[8] = {INT8OID, INT8OID, INT4OID, INT4OID, INT4OID, INT4OID,
	BYTEAOID, BYTEAOID};

	RowInserterInit(ins,
					"INSERT INTO vqaprune.images (dataset_id, image_id, image_w, image_h, "
					"num_boxes, feature_dim, boxes, features) "
					"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
					8, argtypes);
}

/* Inserts one image; false if its id is already in the dataset. */
bool
InsertImage(RowInserter *ins, int64 dataset_id, int64 image_id, int image_w, int image_h,
			int num_boxes, int feature_dim, const float *boxes, const float *features)
{
	MemoryContext old = MemoryContextSwitchTo(ins->row_context);
	Datum		values[8];

	values[0] = Int64GetDatum(dataset_id);
	values[1] = Int64GetDatum(image_id);
	values[2] = Int32GetDatum(image_w);
	values[3] = Int32GetDatum(image_h);
	values[4] = Int32GetDatum(num_boxes);
	values[5] = Int32GetDatum(feature_dim);
	values[6] = PointerGetDatum(FloatsToBytea(boxes, (size_t) num_boxes * 4));
	values[7] = PointerGetDatum(FloatsToBytea(features, (size_t) num_boxes * feature_dim));
	MemoryContextSwitchTo(old);
	return RowInserterExec(ins, values, NULL) == 1;
}

/* The feature dimension of the dataset's images, or 0 if it has none yet. */
static int
DatasetFeatureDim(int64 dataset_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};

	if (SpiRun("SELECT feature_dim FROM vqaprune.images WHERE dataset_id = $1 LIMIT 1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) == 0)
		return 0;
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

	RequireReadServerFiles();
	RequireFileExists(path);

	SPI_connect();
	dataset_id = LookupDatasetId(dataset);
	if (dataset_id == 0)
		dataset_id = CreateDataset(dataset, "files", 9, "{}");
	else
		RequireDatasetOwner(dataset_id, dataset);
	feature_dim = DatasetFeatureDim(dataset_id);
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
							 image.num_boxes, image.feature_dim, image.boxes, image.features))
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
 * vqa_floats(bytea) -> real[]: stored little-endian float32 (features, boxes,
 * tensor chunks) as an array, to look at from SQL.
 */
Datum
vqa_floats(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(data);
	size_t		n = len / sizeof(float);
	float	   *values;
	Datum	   *elems;

	if (len % sizeof(float) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a float32 bytea must have a length divisible by 4, not %zu", len)));
	if (n > MaxArraySize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%zu floats exceed the maximum array size", n)));
	values = palloc(sizeof(float) * Max(n, 1));
	ByteaToFloats(values, VARDATA_ANY(data), n);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (size_t i = 0; i < n; i++)
		elems[i] = Float4GetDatum(values[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, (int) n, FLOAT4OID, sizeof(float4),
										  true, TYPALIGN_INT));
}
