/*
 * jobs.c: long vqaprune calls as background jobs.
 *
 * vqa_submit queues a call (one SELECT of a vqaprune function, checked on
 * its parse tree) in vqaprune.jobs and, once the submitting transaction
 * commits, starts a dynamic background worker connected to the database as
 * the submitting role. A worker claims the oldest queued job of its role
 * while fewer than vqaprune.max_jobs jobs run in the database, runs it in
 * one transaction (so a failed or canceled call stores nothing), records
 * the outcome, and goes on with the next; before it exits it starts workers
 * for queued jobs of other roles. No shared_preload_libraries is needed.
 *
 * Progress is the worker's activity string, which the training loop keeps
 * current (pg_stat_activity; readers never block the worker). A job whose
 * worker is gone (killed, or the server restarted) is marked failed.
 *
 * The jobs table is written only here, as the extension's owner, so no
 * role can queue a call under another role's name or read another's jobs.
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "vqaprune.h"

PG_FUNCTION_INFO_V1(vqa_submit);
PG_FUNCTION_INFO_V1(vqa_cancel);
PG_FUNCTION_INFO_V1(vqa_wait);

PGDLLEXPORT void vqa_job_worker_main(Datum arg);

#define WORKER_TYPE "vqaprune job"
#define CLAIM_LOCK_KEY 1987144290	/* serialises claims: "vqjb" as a number */

/* The calls a job may run. */
static const char *const JOB_FUNCTIONS[] = {
	"vqa_finetune", "vqa_prune", "vqa_pipeline", "vqa_evaluate", "vqa_compact",
	"vqa_load_questions", "vqa_load_features", "vqa_synthetic", "vqa_import_safetensors",
	"vqa_export_safetensors", "vqa_import_predictions",
};

/* Mark jobs whose worker is gone as failed (crashed). */
static const char *const MARK_CRASHED =
"UPDATE vqaprune.jobs j SET status = 'failed', finished_at = clock_timestamp(), "
"error_message = 'the job''s worker stopped before the job finished (crash or server restart)' "
"WHERE j.status = 'running' AND j.database_oid = $1 AND NOT EXISTS "
"(SELECT 1 FROM pg_stat_activity a WHERE a.pid = j.worker_pid "
" AND a.backend_type = '" WORKER_TYPE "' AND a.backend_start <= j.started_at)";

/* MARK_CRASHED for the database, argtypes / values its $1, on fresh backend status. */
static void
MarkCrashed(Oid *argtypes, Datum *values)
{
	/* pg_stat_activity is read once per transaction unless the snapshot is cleared */
	pgstat_clear_snapshot();
	SPI_execute_with_args(MARK_CRASHED, 1, argtypes, values, NULL, false, 0);
}

/* Roles whose jobs wait for a worker once this transaction commits. */
static Oid	pending_roles[8];
static int	n_pending_roles = 0;
static bool xact_callback_registered = false;

/* A job's call: one SELECT of one allowed function, with constant arguments. */
static bool
CallArgumentWalker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall) || IsA(node, SubLink) || IsA(node, ColumnRef) || IsA(node, ParamRef))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the arguments of a job's call must be constants"),
				 errhint("Write the values themselves: the call runs later, in another session.")));
	return raw_expression_tree_walker(node, CallArgumentWalker, context);
}

static void
RequireJobCall(const char *call)
{
	List	   *stmts = raw_parser(call, RAW_PARSE_DEFAULT);
	SelectStmt *sel;
	ResTarget  *target;
	FuncCall   *fc;
	const char *name;
	bool		allowed = false;

	if (list_length(stmts) != 1 || !IsA(((RawStmt *) linitial(stmts))->stmt, SelectStmt))
		goto bad;
	sel = (SelectStmt *) ((RawStmt *) linitial(stmts))->stmt;
	if (list_length(sel->targetList) != 1 || sel->fromClause || sel->whereClause ||
		sel->groupClause || sel->havingClause || sel->windowClause || sel->valuesLists ||
		sel->sortClause || sel->limitCount || sel->limitOffset || sel->withClause ||
		sel->intoClause || sel->distinctClause || sel->lockingClause || sel->op != SETOP_NONE)
		goto bad;
	target = linitial(sel->targetList);
	if (!IsA(target->val, FuncCall))
		goto bad;
	fc = (FuncCall *) target->val;
	if (fc->agg_order || fc->agg_filter || fc->over || fc->agg_star || fc->agg_distinct ||
		list_length(fc->funcname) > 2)
		goto bad;
	name = strVal(llast(fc->funcname));
	for (size_t i = 0; i < lengthof(JOB_FUNCTIONS); i++)
		allowed |= strcmp(name, JOB_FUNCTIONS[i]) == 0;
	if (!allowed)
		goto bad;
	raw_expression_tree_walker((Node *) fc->args, CallArgumentWalker, NULL);
	return;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a job runs one SELECT of a long vqaprune function"),
			 errhint("For example: SELECT vqa_submit($$SELECT vqa_prune('m', 'lmh', 0.7)$$). "
					 "Functions: vqa_finetune, vqa_prune, vqa_pipeline, vqa_evaluate, vqa_compact, "
					 "the loaders and the importers.")));
}

/* Runs the job table's bookkeeping as the extension's owner. */
static Oid
ExtensionOwner(void)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum("vqaprune")};
	bool		isnull;

	SPI_execute_with_args("SELECT extowner FROM pg_extension WHERE extname = $1",
						  1, argtypes, values, NULL, true, 1);
	if (SPI_processed != 1)
		elog(ERROR, "extension vqaprune is not installed in this database");
	return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

typedef struct OwnerContext
{
	Oid			user;
	int			sec_context;
} OwnerContext;

static void
BecomeOwner(OwnerContext *saved)
{
	Oid			owner = ExtensionOwner();

	GetUserIdAndSecContext(&saved->user, &saved->sec_context);
	SetUserIdAndSecContext(owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

static void
RestoreUser(const OwnerContext *saved)
{
	SetUserIdAndSecContext(saved->user, saved->sec_context);
}

/* Starts a worker for a role's jobs in this database; false if no slot is free. */
static bool
LaunchWorker(Oid database, Oid role)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "vqaprune");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "vqa_job_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "vqaprune job worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, WORKER_TYPE);
	memcpy(worker.bgw_extra, &database, sizeof(Oid));
	memcpy(worker.bgw_extra + sizeof(Oid), &role, sizeof(Oid));
	return RegisterDynamicBackgroundWorker(&worker, NULL);
}

static void
LaunchPendingWorkers(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT)
		for (int i = 0; i < n_pending_roles; i++)
			LaunchWorker(MyDatabaseId, pending_roles[i]);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		n_pending_roles = 0;
}

/* A worker for this role once the transaction commits (the job row is visible then). */
static void
LaunchAfterCommit(Oid role)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(LaunchPendingWorkers, NULL);
		xact_callback_registered = true;
	}
	for (int i = 0; i < n_pending_roles; i++)
		if (pending_roles[i] == role)
			return;
	if (n_pending_roles < (int) lengthof(pending_roles))
		pending_roles[n_pending_roles++] = role;
}

/*
 * vqa_submit(call) -> job id
 */
Datum
vqa_submit(PG_FUNCTION_ARGS)
{
	char	   *call = RequireTextArg(fcinfo, 0, "call");
	Oid			role = GetUserId();
	OwnerContext saved;
	Oid			argtypes[5] = {OIDOID, OIDOID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[5];
	bool		isnull;
	int64		job_id;

	RequireJobCall(call);
	SPI_connect();
	{
		Oid			types[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(role)};

		/* a worker connects as the role, as a login would */
		SPI_execute_with_args("SELECT 1 FROM pg_roles WHERE oid = $1 AND rolcanlogin",
							  1, types, args, NULL, true, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" cannot log in, so it cannot run jobs",
							GetUserNameFromId(role, false)),
					 errhint("Submit as a role with LOGIN.")));
	}
	values[0] = ObjectIdGetDatum(role);
	values[1] = ObjectIdGetDatum(MyDatabaseId);
	values[2] = CStringGetTextDatum(call);
	values[3] = Int32GetDatum(vqaprune_threads);
	values[4] = CStringGetTextDatum(GetUserNameFromId(role, false));
	BecomeOwner(&saved);
	SPI_execute_with_args("INSERT INTO vqaprune.jobs (role_oid, role_name, database_oid, database_name, "
						  "call, threads) VALUES ($1, $5, $2, current_database(), $3, $4) RETURNING job_id",
						  5, argtypes, values, NULL, false, 1);
	RestoreUser(&saved);
	job_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	LaunchAfterCommit(role);
	PG_RETURN_INT64(job_id);
}

/*
 * The status of a job the current role may see (its own, or any for a
 * superuser), after marking crashed ones; an error if there is none.
 */
static char *
JobStatus(int64 job_id, int32 *worker_pid, Oid *role)
{
	Oid			argtypes[2] = {INT8OID, OIDOID};
	Datum		values[2] = {Int64GetDatum(job_id), ObjectIdGetDatum(MyDatabaseId)};
	OwnerContext saved;
	Oid			caller = GetUserId();
	bool		isnull;
	char	   *status;
	Datum		d;

	BecomeOwner(&saved);
	MarkCrashed(argtypes + 1, values + 1);
	SPI_execute_with_args("SELECT status, worker_pid, role_oid FROM vqaprune.jobs WHERE job_id = $1",
						  1, argtypes, values, NULL, false, 1);
	RestoreUser(&saved);
	if (SPI_processed == 0 ||
		(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)) != caller &&
		 !superuser()))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job " INT64_FORMAT " does not exist", job_id),
				 errhint("SELECT * FROM vqa_jobs lists your jobs.")));
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	*worker_pid = isnull ? 0 : DatumGetInt32(d);
	*role = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	return status;
}

/*
 * vqa_cancel(job) -> true if the job was queued or running
 */
Datum
vqa_cancel(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	int32		pid;
	Oid			role;
	char	   *status;
	bool		canceled = false;

	SPI_connect();
	status = JobStatus(job_id, &pid, &role);
	if (strcmp(status, "queued") == 0 || strcmp(status, "running") == 0)
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(job_id)};
		OwnerContext saved;

		BecomeOwner(&saved);
		/* a queued job leaves the queue; a running one is marked and stopped */
		SPI_execute_with_args("UPDATE vqaprune.jobs SET cancel_requested = true, "
							  "status = CASE status WHEN 'queued' THEN 'canceled' ELSE status END, "
							  "finished_at = CASE status WHEN 'queued' THEN clock_timestamp() END "
							  "WHERE job_id = $1", 1, argtypes, values, NULL, false, 0);
		RestoreUser(&saved);
		/* a statement cancel: the worker stops at its next interrupt check */
		if (strcmp(status, "running") == 0 && pid > 0)
			kill(pid, SIGINT);
		canceled = true;
	}
	SPI_finish();
	PG_RETURN_BOOL(canceled);
}

/*
 * vqa_wait(job, timeout) -> the job's status when it ended, or at the timeout
 */
Datum
vqa_wait(PG_FUNCTION_ARGS)
{
	int64		job_id;
	TimestampTz deadline = 0;
	char	   *status;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job must not be null")));
	job_id = PG_GETARG_INT64(0);
	if (!PG_ARGISNULL(1))
	{
		Interval   *timeout = PG_GETARG_INTERVAL_P(1);

		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(GetCurrentTimestamp()),
														   IntervalPGetDatum(timeout)));
	}
	SPI_connect();
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(job_id)};
		OwnerContext saved;

		BecomeOwner(&saved);
		SPI_execute_with_args("SELECT 1 FROM vqaprune.jobs WHERE job_id = $1 "
							  "AND xmin = xid(pg_current_xact_id_if_assigned())",
							  1, argtypes, values, NULL, false, 1);
		RestoreUser(&saved);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job " INT64_FORMAT " starts when the transaction that submitted it commits", job_id),
					 errhint("Commit first, then wait.")));
	}
	for (bool launched = false;;)
	{
		int32		pid;
		Oid			role;

		status = JobStatus(job_id, &pid, &role);
		if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
			break;
		if (deadline != 0 && GetCurrentTimestamp() >= deadline)
			break;
		/* a queued job with no worker of its role (none was free at submit): start one */
		if (strcmp(status, "queued") == 0 && !launched)
		{
			Oid			argtypes[2] = {OIDOID, OIDOID};
			Datum		values[2] = {ObjectIdGetDatum(role), ObjectIdGetDatum(MyDatabaseId)};

			SPI_execute_with_args("SELECT 1 FROM pg_stat_activity WHERE backend_type = '" WORKER_TYPE
								  "' AND usesysid = $1 AND datid = $2", 2, argtypes, values, NULL,
								  false, 1);
			if (SPI_processed == 0)
				launched = LaunchWorker(MyDatabaseId, role);
		}
		SPI_finish();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 200,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		SPI_connect();
	}
	status = pstrdup(status);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

/* Claims the next queued job of the role, if a slot is free; false if none. */
static bool
ClaimJob(Oid role, int64 *job_id, char **call, int *threads)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, INT4OID};
	Datum		values[3] = {ObjectIdGetDatum(MyDatabaseId), ObjectIdGetDatum(role),
	Int32GetDatum(vqaprune_max_jobs)};
	OwnerContext saved;
	bool		claimed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	BecomeOwner(&saved);
	SPI_execute("SELECT pg_advisory_xact_lock(" CppAsString2(CLAIM_LOCK_KEY) ")", false, 0);
	MarkCrashed(argtypes, values);
	SPI_execute_with_args("UPDATE vqaprune.jobs SET status = 'running', worker_pid = pg_backend_pid(), "
						  "started_at = clock_timestamp() WHERE job_id = (SELECT job_id FROM vqaprune.jobs "
						  "WHERE status = 'queued' AND database_oid = $1 AND role_oid = $2 "
						  "AND (SELECT count(*) FROM vqaprune.jobs WHERE status = 'running' "
						  "AND database_oid = $1) < $3 ORDER BY job_id LIMIT 1 FOR UPDATE SKIP LOCKED) "
						  "RETURNING job_id, call, threads",
						  3, argtypes, values, NULL, false, 1);
	RestoreUser(&saved);
	claimed = SPI_processed == 1;
	if (claimed)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		*job_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*call = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		*threads = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return claimed;
}

/* Records a job's end in its own transaction (the job's may have aborted). */
static void
FinishJob(int64 job_id, const char *status, const char *result, const char *sqlstate,
		  const char *message)
{
	Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5] = {Int64GetDatum(job_id), CStringGetTextDatum(status), 0, 0, 0};
	char		nulls[5] = {' ', ' ', result ? ' ' : 'n', sqlstate ? ' ' : 'n', message ? ' ' : 'n'};
	OwnerContext saved;

	values[2] = result ? CStringGetTextDatum(result) : (Datum) 0;
	values[3] = sqlstate ? CStringGetTextDatum(sqlstate) : (Datum) 0;
	values[4] = message ? CStringGetTextDatum(message) : (Datum) 0;
	BecomeOwner(&saved);
	SPI_execute_with_args("UPDATE vqaprune.jobs SET status = $2, finished_at = clock_timestamp(), result = $3, "
						  "error_sqlstate = $4, error_message = $5 WHERE job_id = $1",
						  5, argtypes, values, nulls, false, 0);
	RestoreUser(&saved);
}

/* Runs one job's call in one transaction: its results commit with its status, or not at all. */
static void
RunJob(int64 job_id, const char *call, int threads)
{
	MemoryContext job_context = AllocSetContextCreate(TopMemoryContext, "vqaprune job",
													  ALLOCSET_DEFAULT_SIZES);

	/* a cancel meant for the job before this one must not stop this one */
	QueryCancelPending = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	/* training functions report finer phases over this one */
	pgstat_report_activity(STATE_RUNNING, psprintf("vqa_job " INT64_FORMAT ": running", job_id));
	SetConfigOption("vqaprune.threads", psprintf("%d", threads), PGC_USERSET, PGC_S_SESSION);
	PG_TRY();
	{
		char	   *result = NULL;

		if (SPI_execute(call, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "job " INT64_FORMAT " did not run a SELECT", job_id);
		if (SPI_processed == 1)
			result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		FinishJob(job_id, "succeeded", result, NULL, NULL);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(job_context);
		error = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		/* the log keeps the error as a foreground session's would */
		ereport(LOG,
				(errmsg("vqaprune job " INT64_FORMAT " %s: %s", job_id,
						error->sqlerrcode == ERRCODE_QUERY_CANCELED ? "canceled" : "failed",
						error->message)));
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		FinishJob(job_id, error->sqlerrcode == ERRCODE_QUERY_CANCELED ? "canceled" : "failed", NULL,
				  unpack_sql_state(error->sqlerrcode), error->message);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextDelete(job_context);
}

/* Workers for queued jobs of other roles, where slots are free. */
static void
LaunchForOtherRoles(Oid role)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(MyDatabaseId), ObjectIdGetDatum(role)};
	OwnerContext saved;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	BecomeOwner(&saved);
	SPI_execute_with_args("SELECT DISTINCT role_oid FROM vqaprune.jobs WHERE status = 'queued' "
						  "AND database_oid = $1 AND role_oid <> $2", 2, argtypes, values, NULL, true, 0);
	RestoreUser(&saved);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		LaunchWorker(MyDatabaseId,
					 DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

void
vqa_job_worker_main(Datum arg)
{
	Oid			database,
				role;
	int64		job_id;
	char	   *call;
	int			threads;

	memcpy(&database, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	memcpy(&role, MyBgworkerEntry->bgw_extra + sizeof(Oid), sizeof(Oid));
	pqsignal(SIGTERM, die);
	pqsignal(SIGINT, StatementCancelHandler);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(database, role, 0);

	while (ClaimJob(role, &job_id, &call, &threads))
	{
		RunJob(job_id, call, threads);
		pfree(call);
	}
	LaunchForOtherRoles(role);
	proc_exit(0);
}
