/*
 * vqa_json_internal.h: test-only knobs of the VQA JSON reader.
 *
 * Not part of the public API: the unit tests use it to feed the parser in
 * tiny pieces, so that every token of a file lands on a chunk boundary at
 * least once.
 */
#ifndef VQAPRUNE_VQA_JSON_INTERNAL_H
#define VQAPRUNE_VQA_JSON_INTERNAL_H

#include "vqaprune/vqa_json.h"

/* Default number of bytes handed to yajl at a time. */
#define VQA_JSON_CHUNK_SIZE (64 * 1024)

/*
 * Sets the number of bytes fed to the parser at a time (1 to
 * VQA_JSON_CHUNK_SIZE); call it before the first vqa_json_next.
 */
void		vqa_json_set_chunk_size(VqaJsonReader *reader, size_t chunk_size);

#endif
