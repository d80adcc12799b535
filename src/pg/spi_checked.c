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
RequireCell(uint64 row, int col)
{
	if (SPI_tuptable == NULL || row >= SPI_processed || col < 1 ||
		col > SPI_tuptable->tupdesc->natts)
		elog(ERROR, "SPI result has no row " UINT64_FORMAT " column %d (" UINT64_FORMAT " rows)",
			 row, col, SPI_tuptable ? SPI_processed : 0);
}

Datum
SpiValue(uint64 row, int col, bool *isnull)
{
	RequireCell(row, col);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

char *
SpiText(uint64 row, int col)
{
	RequireCell(row, col);
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}
