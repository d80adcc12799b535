/*
 * safetensors.h: reader and writer of HuggingFace safetensors files.
 *
 * A safetensors file is
 *   8 bytes     N, the header length, a little-endian uint64
 *   N bytes     a UTF-8 JSON object, possibly padded with trailing spaces:
 *               {"__metadata__": {"key": "value", ...},          (optional)
 *                "name": {"dtype": "F32", "shape": [2, 3],
 *                         "data_offsets": [begin, end]}, ...}
 *   the rest    the data buffer; offsets are relative to its start, and the
 *               bytes of each tensor are little-endian, row-major
 *
 * The reader validates the whole header before returning (see
 * vqa_st_parse) so callers can trust every tensor's offsets and sizes.
 * Supported dtypes are F32, F16, BF16, I64 and I32; any other is an error.
 * The writer writes F32 tensors only.
 */
#ifndef VQAPRUNE_SAFETENSORS_H
#define VQAPRUNE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define VQA_ST_MAX_DIMS 8

/* The header is refused above this size, as the reference implementation does. */
#define VQA_ST_MAX_HEADER ((uint64_t) 100000000)

typedef enum VqaStDtype
{
	VQA_ST_F32,
	VQA_ST_F16,
	VQA_ST_BF16,
	VQA_ST_I64,
	VQA_ST_I32
} VqaStDtype;

typedef struct VqaStTensor
{
	const char *name;			/* owned by the VqaSafetensors */
	VqaStDtype	dtype;
	int			ndim;			/* 0 for a scalar */
	int64_t		shape[VQA_ST_MAX_DIMS];
	int64_t		numel;			/* product of shape; 1 for a scalar */
	size_t		begin;			/* byte offsets within the data buffer */
	size_t		end;
} VqaStTensor;

typedef struct VqaSafetensors VqaSafetensors;

/*
 * Parses and validates a whole file held in memory. buf is not copied and
 * must outlive the object. NULL on failure, with a message in errbuf naming
 * the tensor at fault where there is one. Checked: the header length against
 * the file and the 100 MB limit; the header is strict UTF-8 JSON, an object,
 * with NUL-free names and nesting no deeper than the format needs; each entry
 * is an object with a supported "dtype", a "shape" of at most 8 non-negative
 * integers whose product fits in int64, and "data_offsets" of two integers
 * 0 <= begin <= end <= data size with end - begin = numel * dtype size;
 * no duplicate names; no two tensors share a byte; "__metadata__", if
 * present, maps strings to strings. Bytes of the data buffer that no tensor
 * covers are allowed.
 */
VqaSafetensors *vqa_st_parse(const unsigned char *buf, size_t len,
							 char *errbuf, size_t errlen);

/* Reads a file into memory and parses it; the object owns the buffer. */
VqaSafetensors *vqa_st_open(const char *path, char *errbuf, size_t errlen);

/* Number of tensors ("__metadata__" is not one). */
int			vqa_st_count(const VqaSafetensors *st);

/* The i-th tensor in file order (by data_offsets); NULL if out of range. */
const VqaStTensor *vqa_st_tensor(const VqaSafetensors *st, int i);

/* The tensor of that name; NULL if absent. */
const VqaStTensor *vqa_st_find(const VqaSafetensors *st, const char *name);

/* The tensor's raw little-endian bytes (end - begin of them). */
const unsigned char *vqa_st_data(const VqaSafetensors *st, const VqaStTensor *t);

/*
 * Converts a tensor to float32 into out, which holds numel floats: F32 is
 * copied bit for bit, F16 and BF16 are widened exactly (subnormals, infinities
 * and NaN payloads kept), I32 and I64 are rounded to the nearest float.
 */
void		vqa_st_read_f32(const VqaSafetensors *st, const VqaStTensor *t,
							float *out);

/* The "__metadata__" value of key; NULL if absent. */
const char *vqa_st_metadata(const VqaSafetensors *st, const char *key);

/* Frees the object (and the buffer if vqa_st_open read it); NULL is fine. */
void		vqa_st_free(VqaSafetensors *st);

/* Bytes per element of a dtype, and its name as in the file ("F32", ...). */
size_t		vqa_st_dtype_size(VqaStDtype dtype);
const char *vqa_st_dtype_name(VqaStDtype dtype);

/*
 * Writer of F32 tensors, in the order added. As the reference implementation
 * does, the header is padded with spaces so the data buffer starts at a
 * multiple of 8 bytes, and "__metadata__" comes first in the header.
 *
 * Errors are sticky: a failed add or set_metadata returns -1, records a
 * message (vqa_st_writer_error), and makes save and serialize fail with it.
 */
typedef struct VqaStWriter VqaStWriter;

/* NULL if out of memory. */
VqaStWriter *vqa_st_writer_new(void);

/*
 * Adds a tensor; data (numel floats, row-major) is COPIED, so the caller may
 * free it at once. Refused: a name that is not valid UTF-8, already
 * added or "__metadata__"; ndim outside 0..8; a negative dimension; numel
 * overflow. 0 on success, -1 on error.
 */
int			vqa_st_writer_add_f32(VqaStWriter *w, const char *name, int ndim,
								  const int64_t *shape, const float *data);

/* Sets (or replaces) a metadata entry; both valid UTF-8. 0 or -1. */
int			vqa_st_writer_set_metadata(VqaStWriter *w, const char *key,
									   const char *value);

/* Writes the file; 0 on success, -1 with a message in errbuf. */
int			vqa_st_writer_save(VqaStWriter *w, const char *path,
							   char *errbuf, size_t errlen);

/* The whole file image, malloc'd (the caller frees it); NULL on error. */
unsigned char *vqa_st_writer_serialize(VqaStWriter *w, size_t *len);

/* The first error of the writer, or NULL if none. */
const char *vqa_st_writer_error(const VqaStWriter *w);

/* NULL is fine. */
void		vqa_st_writer_free(VqaStWriter *w);

#endif
