/*
 * error.c: the core's error messages (error.h).
 */
#include "vqaprune/error.h"

#include <stdarg.h>
#include <stdio.h>

void
vqa_set_error(char *errbuf, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}
