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

#endif
