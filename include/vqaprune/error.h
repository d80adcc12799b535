/*
 * error.h: how the core reports errors: a message written into a caller's
 * buffer (errbuf, errlen), formatted like printf, with the format strings
 * checked by the compiler.
 */
#ifndef VQAPRUNE_ERROR_H
#define VQAPRUNE_ERROR_H

#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define CHECK_FORMAT(fmt_arg, first_arg) __attribute__((format(printf, fmt_arg, first_arg)))
#else
#define CHECK_FORMAT(fmt_arg, first_arg)
#endif

/* Writes the message into errbuf; does nothing if errbuf is NULL or errlen 0. */
void		vqa_set_error(char *errbuf, size_t errlen, const char *fmt,...) CHECK_FORMAT(3, 4);

#endif
