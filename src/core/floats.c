/*
 * floats.c: zeroed float buffers (floats.h).
 */
#include "vqaprune/floats.h"

#include <stdlib.h>
#include <string.h>

float *
vqa_zeroed_floats(size_t n)
{
	void	   *p = NULL;

	/* posix_memalign and memset: GCC turns malloc and memset into calloc */
	if (posix_memalign(&p, 64, (n > 0 ? n : 1) * sizeof(float)) != 0)
		return NULL;
	memset(p, 0, (n > 0 ? n : 1) * sizeof(float));
	return p;
}
