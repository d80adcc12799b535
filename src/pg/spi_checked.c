/*
 * spi_checked.c: the one place where SPI result codes and result shapes are
 * checked (spi_checked.h).
 */
#include "postgres.h"

#include "spi_checked.h"

static void
RequireCode(int rc, int expected, const char *what)
{
	if (rc != expected)
		elog(ERROR, "SPI returned %s instead of %s for: %s", SPI_result_code_string(rc),
			 SPI_result_code_string(expected), what);
}

uint64
SpiRun(const char *sql, int expected, int nargs, Oid *argtypes, Datum *values,
	   const char *nulls, bool read_only, long count)
{
	RequireCode(SPI_execute_with_args(sql, nargs, argtypes, values, nulls, read_only, count),
				expected, sql);
	return SPI_processed;
}

uint64
SpiRunPlan(SPIPlanPtr plan, int expected, Datum *values, const char *nulls, bool read_only,
		   long count)
{
	RequireCode(SPI_execute_plan(plan, values, nulls, read_only, count), expected,
				"a prepared statement");
	return SPI_processed;
}

static void
RequireCell(const SPITupleTable *table, uint64 row, int col)
{
	if (table == NULL || row >= table->numvals || col < 1 || col > table->tupdesc->natts)
		elog(ERROR, "SPI result has no row " UINT64_FORMAT " column %d (" UINT64_FORMAT " rows)",
			 row, col, table ? table->numvals : 0);
}

Datum
SpiValueIn(const SPITupleTable *table, uint64 row, int col, bool *isnull)
{
	RequireCell(table, row, col);
	return SPI_getbinval(table->vals[row], table->tupdesc, col, isnull);
}

char *
SpiTextIn(const SPITupleTable *table, uint64 row, int col)
{
	RequireCell(table, row, col);
	return SPI_getvalue(table->vals[row], table->tupdesc, col);
}

Datum
SpiRequiredIn(const SPITupleTable *table, uint64 row, int col, const char *relation)
{
	bool		isnull;
	Datum		value = SpiValueIn(table, row, col, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("column \"%s\" of a row of table %s is null",
						NameStr(TupleDescAttr(table->tupdesc, col - 1)->attname), relation)));
	return value;
}

char *
SpiRequiredTextIn(const SPITupleTable *table, uint64 row, int col, const char *relation)
{
	(void) SpiRequiredIn(table, row, col, relation);
	return SPI_getvalue(table->vals[row], table->tupdesc, col);
}

Portal
SpiOpen(const char *sql, int nargs, Oid *argtypes, Datum *values, bool read_only)
{
	Portal		portal = SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, values, NULL,
												   read_only, 0);

	if (portal == NULL)
		elog(ERROR, "SPI could not open a cursor (%s) for: %s",
			 SPI_result_code_string(SPI_result), sql);
	return portal;
}

uint64
SpiFetch(Portal portal, long count)
{
	SPI_cursor_fetch(portal, true, count);
	return SPI_processed;
}
