/*
 * ownership.c: the owner of what vqaprune stores.
 *
 * Datasets, models and runs record the role that made them (an "owner"
 * column of type regrole, filled by vqaprune.current_role_id()). Row-level
 * security lets a role change only rows whose owner it has the privileges
 * of, as PostgreSQL lets a role alter only objects of roles it inherits
 * from; superusers bypass it. The policies call the two functions below,
 * which read no tables, so they cost a role-membership check per row.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "ownership.h"
#include "spi_checked.h"

PG_FUNCTION_INFO_V1(vqa_current_role_id);
PG_FUNCTION_INFO_V1(vqa_owner_rights);
PG_FUNCTION_INFO_V1(vqa_shared_reads);

/* vqaprune.current_role_id() -> regrole: the role whose rights apply now */
Datum
vqa_current_role_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(GetUserId());
}

/*
 * vqaprune.owner_rights(owner regrole) -> boolean: whether the current role
 * has the privileges of owner. A dropped owner's OID matches no role, so its
 * rows are left to superusers.
 */
Datum
vqa_owner_rights(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(has_privs_of_role(GetUserId(), PG_GETARG_OID(0)));
}

/*
 * vqaprune.shared_reads() -> boolean: whether every role reads every row
 * (vqaprune.settings; no row means yes). The read policies call it for every
 * row, so it reads the table once per transaction and answers from memory
 * after that (a change takes effect from the next transaction); a plain
 * subquery there would be charged to every row by the planner, and the
 * inflated cost alone would make each read compile with JIT.
 */
Datum
vqa_shared_reads(PG_FUNCTION_ARGS)
{
	static LocalTransactionId cached_xact = InvalidLocalTransactionId;
	static bool shared = true;

	if (MyProc->lxid != cached_xact)
	{
		bool		isnull;

		SPI_connect();
		shared = SpiRun("SELECT shared_reads FROM vqaprune.settings", SPI_OK_SELECT,
						0, NULL, NULL, NULL, true, 1) == 0 ||
			DatumGetBool(SpiValue(0, 1, &isnull));
		SPI_finish();
		cached_xact = MyProc->lxid;
	}
	PG_RETURN_BOOL(shared);
}

void
RequireDatasetOwner(int64 dataset_id, const char *name)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dataset_id)};
	bool		isnull;
	Oid			owner;

	if (SpiRun("SELECT owner FROM vqaprune.datasets WHERE dataset_id OPERATOR(pg_catalog.=) $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1) != 1)
		elog(ERROR, "dataset " INT64_FORMAT " vanished", dataset_id);
	owner = DatumGetObjectId(SpiValue(0, 1, &isnull));
	if (isnull || !has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of dataset \"%s\"", name),
				 errhint("Only its owner, a member of the owner's role, or a superuser may change it; "
						 "make a dataset of your own with another name.")));
}

/* vqaprune's row of pg_extension in this database, read through the catalog API. */
static void
ExtensionFacts(Oid *owner, Oid *schema)
{
	Oid			extension = get_extension_oid("vqaprune", false);
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extension));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "extension vqaprune has no catalog row");
	*owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	*schema = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

Oid
ExtensionOwner(void)
{
	Oid			owner,
				schema;

	ExtensionFacts(&owner, &schema);
	return owner;
}

const char *
ExtensionSchemaName(void)
{
	Oid			owner,
				schema;

	ExtensionFacts(&owner, &schema);
	return get_namespace_name(schema);
}

/* The search_path of every statement run as another role: no lookup can be redirected. */
#define PINNED_SEARCH_PATH "pg_catalog, pg_temp"

void
BecomeOwner(OwnerContext *saved)
{
	Oid			owner = ExtensionOwner();

	GetUserIdAndSecContext(&saved->user, &saved->sec_context);
	saved->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", PINNED_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
RestoreUser(const OwnerContext *saved)
{
	SetUserIdAndSecContext(saved->user, saved->sec_context);
	AtEOXact_GUC(true, saved->guc_level);
}
