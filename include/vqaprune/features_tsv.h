/*
 * features_tsv.h: streaming reader of Faster R-CNN region feature TSV files.
 *
 * Two layouts, told apart by the number of tab-separated fields per line:
 *   LXMERT obj36 (10 fields): img_id, img_h, img_w, objects_id, objects_conf,
 *     attrs_id, attrs_conf, num_boxes, boxes, features
 *   bottom-up attention (6 fields): image_id, image_w, image_h, num_boxes,
 *     boxes, features
 * Array fields are base64 of little-endian float32 (int64 for the *_id
 * fields). Boxes are returned normalised to [0, 1] by image width and height
 * (x1/w, y1/h, x2/w, y2/h), as LXMERT feeds them to its model. String image
 * ids such as "COCO_val2014_000000012345" become 12345.
 */
#ifndef VQAPRUNE_FEATURES_TSV_H
#define VQAPRUNE_FEATURES_TSV_H

#include <stddef.h>
#include <stdint.h>

typedef enum VqaTsvLayout
{
	VQA_TSV_LXMERT,
	VQA_TSV_BOTTOM_UP
} VqaTsvLayout;

/* One image; arrays are owned by the reader and valid until the next call. */
typedef struct VqaImageFeatures
{
	int64_t		image_id;
	int			image_w;
	int			image_h;
	int			num_boxes;
	int			feature_dim;	/* the same for every image of a file */
	const float *boxes;			/* num_boxes x 4, normalised */
	const float *features;		/* num_boxes x feature_dim */
} VqaImageFeatures;

typedef struct VqaTsvReader VqaTsvReader;

/* Opens path for reading; NULL on failure with a message in errbuf. */
VqaTsvReader *vqa_tsv_open(const char *path, char *errbuf, size_t errlen);

/* Same, over a buffer in memory (not copied; must outlive the reader). */
VqaTsvReader *vqa_tsv_open_buffer(const char *data, size_t len,
								  char *errbuf, size_t errlen);

/* 1: *out holds the next image; 0: end of file; -1: error, see vqa_tsv_error. */
int			vqa_tsv_next(VqaTsvReader *reader, VqaImageFeatures *out);

/*
 * The last error, naming the line (1-based) and image id when known, and what
 * is wrong, e.g. "line 3 (image 42): field \"boxes\" is not valid base64".
 */
const char *vqa_tsv_error(const VqaTsvReader *reader);

/* Layout of the file, known after the first successful vqa_tsv_next. */
VqaTsvLayout vqa_tsv_layout(const VqaTsvReader *reader);

/* Bytes consumed so far. */
size_t		vqa_tsv_bytes(const VqaTsvReader *reader);

void		vqa_tsv_close(VqaTsvReader *reader);

/*
 * Base64 (RFC 4648, standard alphabet, '=' padding) decoding. Returns the
 * number of bytes written to out (which must hold at least 3 * (len / 4)
 * bytes), or -1 if the input is not valid base64.
 */
long		vqa_base64_decode(const char *in, size_t len, unsigned char *out);

#endif
