/*
 * ownership.h: who owns a dataset, model or run, and who may change it.
 */
#ifndef VQAPRUNE_OWNERSHIP_H
#define VQAPRUNE_OWNERSHIP_H

#include "postgres.h"

/* Fails unless the current role has the privileges of the dataset's owner. */
extern void RequireDatasetOwner(int64 dataset_id, const char *name);

/* The role that created the extension in this database (a catalog lookup). */
extern Oid	ExtensionOwner(void);

/* The schema of the extension's functions (a catalog lookup). */
extern const char *ExtensionSchemaName(void);

/*
 * Bookkeeping run as the extension's owner (the job and checkpoint tables),
 * unsteerably: a pinned search_path of pg_catalog and pg_temp, inside a
 * security-restricted operation. RestoreUser undoes BecomeOwner.
 */
typedef struct OwnerContext
{
	Oid			user;
	int			sec_context;
	int			guc_level;
} OwnerContext;

extern void BecomeOwner(OwnerContext *saved);
extern void RestoreUser(const OwnerContext *saved);

#endif
