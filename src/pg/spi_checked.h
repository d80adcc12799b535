/*
 * spi_checked.h: SPI calls whose results are checked in one place.
 *
 * A statement that returns another code than the one its caller expects is
 * an internal error naming the statement; a row or column read that is not
 * there is one too, never a read past the result.
 */
#ifndef VQAPRUNE_SPI_CHECKED_H
#define VQAPRUNE_SPI_CHECKED_H

#include "postgres.h"

#include "executor/spi.h"

/* Runs sql with $1..$nargs; fails unless SPI returns expected. Returns SPI_processed. */
extern uint64 SpiRun(const char *sql, int expected, int nargs, Oid *argtypes,
					 Datum *values, const char *nulls, bool read_only, long count);

/* The same for a prepared plan. */
extern uint64 SpiRunPlan(SPIPlanPtr plan, int expected, Datum *values, const char *nulls,
						 bool read_only, long count);

/* Column col (from 1) of result row `row`; fails if either is out of range. */
extern Datum SpiValue(uint64 row, int col, bool *isnull);

/* The same, as text in the current memory context; NULL for SQL NULL. */
extern char *SpiText(uint64 row, int col);

#endif
