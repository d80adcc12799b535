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

/*
 * Column col (from 1) of row `row` of a result table; fails if either is out
 * of range. The plain forms read the latest result, SPI_tuptable.
 */
#define SpiValue(row, col, isnull) SpiValueIn(SPI_tuptable, (row), (col), (isnull))
extern Datum SpiValueIn(const SPITupleTable *table, uint64 row, int col, bool *isnull);

/* The same, as text in the current memory context; NULL for SQL NULL. */
#define SpiText(row, col) SpiTextIn(SPI_tuptable, (row), (col))
extern char *SpiTextIn(const SPITupleTable *table, uint64 row, int col);

/*
 * A value read back from the extension's table `relation` that may not be
 * null: a null means the row was damaged, and fails with XX001 naming both.
 */
#define SpiRequired(row, col, relation) SpiRequiredIn(SPI_tuptable, (row), (col), (relation))
extern Datum SpiRequiredIn(const SPITupleTable *table, uint64 row, int col, const char *relation);

/* The same as text. */
#define SpiRequiredText(row, col, relation) \
	SpiRequiredTextIn(SPI_tuptable, (row), (col), (relation))
extern char *SpiRequiredTextIn(const SPITupleTable *table, uint64 row, int col,
							   const char *relation);

/* Opens a cursor on sql with $1..$nargs (no nulls); fails if it cannot. */
extern Portal SpiOpen(const char *sql, int nargs, Oid *argtypes, Datum *values, bool read_only);

/* Fetches the next count rows into SPI_tuptable; returns how many came. */
extern uint64 SpiFetch(Portal portal, long count);

#endif
