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
 * role can queue a call under another role's name; row-level security shows
 * each role its own jobs. Code running as the owner cannot be steered by the
 * caller: catalog facts come from the catalog API, statements run under a
 * search_path of pg_catalog and pg_temp (where no function or operator is
 * looked up) with qualified table names, in a security-restricted operation;
 * which backend is a job's worker is read from the backend status array, not
 * from a view.
 */
#include "postgres.h"

#include <signal.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
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
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "checkpoint.h"
#include "ownership.h"
#include "spi_checked.h"
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
	"vqa_load_questions", "vqa_load_features", "vqa_load_vqavs", "vqa_synthetic", "vqa_import_safetensors",
	"vqa_export_safetensors", "vqa_import_predictions",
};

/* Whether a backend status entry is a vqaprune job worker in this database. */
static bool
IsJobWorker(const PgBackendStatus *be)
{
	const char *type;

	if (be->st_backendType != B_BG_WORKER || be->st_databaseid != MyDatabaseId)
		return false;
	type = GetBackgroundWorkerTypeByPid(be->st_procpid);
	return type && strcmp(type, WORKER_TYPE) == 0;
}

/*
 * Whether pid is, right now, a vqaprune job worker of role that started at
 * started (so a recycled pid never matches). The backend status array is
 * read afresh.
 */
static bool
WorkerAlive(int32 pid, TimestampTz started, Oid role)
{
	if (pid <= 0)
		return false;
	pgstat_clear_snapshot();
	for (int i = 1; i <= pgstat_fetch_stat_numbackends(); i++)
	{
		PgBackendStatus *be = &pgstat_fetch_stat_local_beentry(i)->backendStatus;

		if (be->st_procpid == pid)
			return IsJobWorker(be) && be->st_proc_start_timestamp == started &&
				be->st_userid == role;
	}
	return false;
}

/* Whether a job worker of role runs in this database. */
static bool
RoleHasWorker(Oid role)
{
	pgstat_clear_snapshot();
	for (int i = 1; i <= pgstat_fetch_stat_numbackends(); i++)
	{
		PgBackendStatus *be = &pgstat_fetch_stat_local_beentry(i)->backendStatus;

		if (be->st_userid == role && IsJobWorker(be))
			return true;
	}
	return false;
}

/* Marks running jobs of this database whose worker is gone as failed (crashed); as the owner. */
static void
MarkCrashed(void)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(MyDatabaseId)};
	uint64		n = SpiRun("SELECT job_id, worker_pid, worker_started, role_oid FROM vqaprune.jobs "
						   "WHERE status = 'running' AND database_oid = $1",
						   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 0);
	int64	   *dead = palloc(sizeof(int64) * (n + 1));
	int			n_dead = 0;

	for (uint64 r = 0; r < n; r++)
	{
		bool		pid_null,
					start_null,
					isnull;
		int32		pid = DatumGetInt32(SpiValue(r, 2, &pid_null));
		TimestampTz started = DatumGetTimestampTz(SpiValue(r, 3, &start_null));
		Oid			role = DatumGetObjectId(SpiValue(r, 4, &isnull));

		if (pid_null || start_null || !WorkerAlive(pid, started, role))
			dead[n_dead++] = DatumGetInt64(SpiValue(r, 1, &isnull));
	}
	for (int i = 0; i < n_dead; i++)
	{
		Oid			types[1] = {INT8OID};
		Datum		job[1] = {Int64GetDatum(dead[i])};

		SpiRun("UPDATE vqaprune.jobs SET status = 'failed', finished_at = clock_timestamp(), "
			   "error_message = 'the job''s worker stopped before the job finished (crash or server restart)' "
			   "WHERE job_id = $1 AND status = 'running'",
			   SPI_OK_UPDATE, 1, types, job, NULL, false, 0);
	}
	pfree(dead);
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

static const char *
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
	if (list_length(fc->funcname) == 2 &&
		strcmp(strVal(linitial(fc->funcname)), ExtensionSchemaName()) != 0)
		goto bad;
	for (size_t i = 0; i < lengthof(JOB_FUNCTIONS); i++)
		allowed |= strcmp(name, JOB_FUNCTIONS[i]) == 0;
	if (!allowed)
		goto bad;
	raw_expression_tree_walker((Node *) fc->args, CallArgumentWalker, NULL);
	return name;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a job runs one SELECT of a long vqaprune function"),
			 errhint("For example: SELECT vqa_submit($$SELECT vqa_prune('m', 'lmh', 0.7)$$). "
					 "Functions: vqa_finetune, vqa_prune, vqa_pipeline, vqa_evaluate, vqa_compact, "
					 "the loaders and the importers.")));
	return NULL;				/* not reached */
}

/* The calls that run in checkpointed segments (checkpoint.c). */
static bool
CheckpointingCall(const char *call)
{
	const char *name = RequireJobCall(call);

	return strcmp(name, "vqa_finetune") == 0 || strcmp(name, "vqa_prune") == 0;
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


/* A worker connects as the role, as a login would: a role without LOGIN could never run. */
static void
RequireCanLogin(Oid role)
{
	HeapTuple	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	bool		can_login = HeapTupleIsValid(tuple) && ((Form_pg_authid) GETSTRUCT(tuple))->rolcanlogin;

	if (HeapTupleIsValid(tuple))
		ReleaseSysCache(tuple);
	if (!can_login)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot log in, so it cannot run jobs",
						GetUserNameFromId(role, false)),
				 errhint("Submit as a role with LOGIN.")));
}

int64
SubmitJob(const char *call)
{
	Oid			role = GetUserId();
	OwnerContext saved;
	Oid			argtypes[6] = {OIDOID, TEXTOID, OIDOID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[6];
	bool		isnull;
	int64		job_id;

	RequireJobCall(call);
	RequireCanLogin(role);
	values[0] = ObjectIdGetDatum(role);
	values[1] = CStringGetTextDatum(GetUserNameFromId(role, false));
	values[2] = ObjectIdGetDatum(MyDatabaseId);
	values[3] = CStringGetTextDatum(get_database_name(MyDatabaseId));
	values[4] = CStringGetTextDatum(call);
	values[5] = Int32GetDatum(vqaprune_threads);
	BecomeOwner(&saved);
	SpiRun("INSERT INTO vqaprune.jobs (role_oid, role_name, database_oid, database_name, call, threads) "
		   "VALUES ($1, $2, $3, $4, $5, $6) RETURNING job_id",
		   SPI_OK_INSERT_RETURNING, 6, argtypes, values, NULL, false, 1);
	job_id = DatumGetInt64(SpiValue(0, 1, &isnull));
	RestoreUser(&saved);
	LaunchAfterCommit(role);
	return job_id;
}

/*
 * vqa_submit(call) -> job id
 */
Datum
vqa_submit(PG_FUNCTION_ARGS)
{
	char	   *call = RequireTextArg(fcinfo, 0, "call");
	int64		job_id;

	SPI_connect();
	job_id = SubmitJob(call);
	SPI_finish();
	PG_RETURN_INT64(job_id);
}

/* What the job functions read of a job's row. */
typedef struct JobRow
{
	char	   *status;
	int32		worker_pid;		/* 0: none */
	TimestampTz worker_started;
	Oid			role;
} JobRow;

/*
 * A job the current role may see (one of a role whose privileges it has),
 * after marking crashed ones; an error if there is none. With lock, the row
 * stays locked until the transaction ends, so the job cannot finish (and its
 * worker cannot move on to another job) meanwhile.
 */
static void
ReadJob(int64 job_id, bool lock, JobRow *job)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	OwnerContext saved;
	Oid			caller = GetUserId();
	bool		isnull;
	uint64		found;

	BecomeOwner(&saved);
	MarkCrashed();
	found = SpiRun(lock ?
				   "SELECT status, worker_pid, worker_started, role_oid FROM vqaprune.jobs "
				   "WHERE job_id = $1 FOR UPDATE" :
				   "SELECT status, worker_pid, worker_started, role_oid FROM vqaprune.jobs "
				   "WHERE job_id = $1",
				   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1);
	RestoreUser(&saved);
	if (found == 0 ||
		!has_privs_of_role(caller, DatumGetObjectId(SpiValue(0, 4, &isnull))))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job " INT64_FORMAT " does not exist", job_id),
				 errhint("SELECT * FROM vqa_jobs lists your jobs.")));
	job->status = SpiText(0, 1);
	job->worker_pid = DatumGetInt32(SpiValue(0, 2, &isnull));
	if (isnull)
		job->worker_pid = 0;
	job->worker_started = DatumGetTimestampTz(SpiValue(0, 3, &isnull));
	if (isnull)
		job->worker_pid = 0;
	job->role = DatumGetObjectId(SpiValue(0, 4, &isnull));
}

char *
JobStatus(int64 job_id, bool lock)
{
	JobRow		job;

	ReadJob(job_id, lock, &job);
	return job.status;
}

/*
 * vqa_cancel(job) -> true if the job was queued or running
 */
Datum
vqa_cancel(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	JobRow		job;
	bool		canceled = false;

	SPI_connect();
	ReadJob(job_id, true, &job);
	if (strcmp(job.status, "queued") == 0 || strcmp(job.status, "running") == 0)
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(job_id)};
		OwnerContext saved;

		BecomeOwner(&saved);
		/* a queued job leaves the queue; a running one is marked and stopped */
		SpiRun("UPDATE vqaprune.jobs SET cancel_requested = true, "
			   "status = CASE status WHEN 'queued' THEN 'canceled' ELSE status END, "
			   "finished_at = CASE status WHEN 'queued' THEN clock_timestamp() END "
			   "WHERE job_id = $1", SPI_OK_UPDATE, 1, argtypes, values, NULL, false, 0);
		RestoreUser(&saved);

		/*
		 * A statement cancel, sent only to the process that is this job's
		 * worker: same pid, same start time, same role. The row lock keeps
		 * the job from ending before the signal lands.
		 */
		if (strcmp(job.status, "running") == 0 &&
			WorkerAlive(job.worker_pid, job.worker_started, job.role))
			kill(job.worker_pid, SIGINT);
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
	JobRow		job;
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
		uint64		mine;

		BecomeOwner(&saved);
		mine = SpiRun("SELECT 1 FROM vqaprune.jobs WHERE job_id = $1 "
					  "AND xmin = xid(pg_current_xact_id_if_assigned())",
					  SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1);
		RestoreUser(&saved);
		if (mine > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job " INT64_FORMAT " starts when the transaction that submitted it commits", job_id),
					 errhint("Commit first, then wait.")));
	}
	for (bool launched = false;;)
	{
		ReadJob(job_id, false, &job);
		if (strcmp(job.status, "queued") != 0 && strcmp(job.status, "running") != 0)
			break;
		if (deadline != 0 && GetCurrentTimestamp() >= deadline)
			break;
		/* a queued job with no worker of its role (none was free at submit): start one */
		if (strcmp(job.status, "queued") == 0 && !launched && !RoleHasWorker(job.role))
			launched = LaunchWorker(MyDatabaseId, job.role);
		SPI_finish();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 200,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		SPI_connect();
	}
	status = pstrdup(job.status);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

/* Claims the next queued job of the role, if a slot is free; false if none. */
static bool
ClaimJob(Oid role, int64 *job_id, char **call, int *threads)
{
	Oid			argtypes[5] = {OIDOID, OIDOID, INT4OID, INT4OID, TIMESTAMPTZOID};
	Datum		values[5] = {ObjectIdGetDatum(MyDatabaseId), ObjectIdGetDatum(role),
		Int32GetDatum(vqaprune_max_jobs), Int32GetDatum(MyProcPid),
	TimestampTzGetDatum(MyStartTimestamp)};
	OwnerContext saved;
	bool		claimed;

	/*
	 * Any cancel that arrived so far was meant for a job that has ended
	 * (vqa_cancel signals only while it holds a running job's row): drop it
	 * before the next job can be seen as running.
	 */
	QueryCancelPending = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	BecomeOwner(&saved);
	SpiRun("SELECT pg_advisory_xact_lock(" CppAsString2(CLAIM_LOCK_KEY) ")", SPI_OK_SELECT,
		   0, NULL, NULL, NULL, false, 0);
	MarkCrashed();
	claimed = SpiRun("UPDATE vqaprune.jobs SET status = 'running', worker_pid = $4, worker_started = $5, "
					 "started_at = clock_timestamp() WHERE job_id = (SELECT job_id FROM vqaprune.jobs "
					 "WHERE status = 'queued' AND database_oid = $1 AND role_oid = $2 "
					 "AND (SELECT count(*) FROM vqaprune.jobs WHERE status = 'running' "
					 "AND database_oid = $1) < $3 ORDER BY job_id LIMIT 1 FOR UPDATE SKIP LOCKED) "
					 "RETURNING job_id, call, threads",
					 SPI_OK_UPDATE_RETURNING, 5, argtypes, values, NULL, false, 1) == 1;
	RestoreUser(&saved);
	if (claimed)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		*job_id = DatumGetInt64(SpiValue(0, 1, &isnull));
		*call = SpiText(0, 2);
		*threads = DatumGetInt32(SpiValue(0, 3, &isnull));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return claimed;
}

/* Records a job's end in the current transaction, as the owner. */
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
	SpiRun("UPDATE vqaprune.jobs SET status = $2, finished_at = clock_timestamp(), result = $3, "
		   "error_sqlstate = $4, error_message = $5 WHERE job_id = $1",
		   SPI_OK_UPDATE, 5, argtypes, values, nulls, false, 0);
	RestoreUser(&saved);
}

/*
 * Runs one job's call. Most calls run in one transaction: their results
 * commit with their status, or not at all. Training calls run in segments
 * (checkpoint.c): each commits a checkpoint and the call runs again from it,
 * until the last one commits the model with the status.
 */
/* One transaction of a job's call; whether the job has ended. */
static bool
RunJobTransaction(int64 job_id, const char *call, int threads, MemoryContext job_context)
{
	volatile bool done = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	/* training functions report finer phases over this one */
	pgstat_report_activity(STATE_RUNNING, psprintf("vqa_job " INT64_FORMAT ": running", job_id));
	SetConfigOption("vqaprune.threads", psprintf("%d", threads), PGC_USERSET, PGC_S_SESSION);
	/* the call names the extension's function, whatever the role's own search_path says */
	SetConfigOption("search_path",
					psprintf("pg_catalog, %s, pg_temp", quote_identifier(ExtensionSchemaName())),
					PGC_USERSET, PGC_S_SESSION);
	PG_TRY();
	{
		char	   *result = NULL;

		if (CheckpointingCall(call))
			BeginCheckpointSegment(job_id);
		if (SPI_execute(call, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "job " INT64_FORMAT " did not run a SELECT", job_id);
		/* a segment that stopped at its checkpoint commits it; the call goes on in the next */
		done = !EndCheckpointSegment();
		if (done)
		{
			if (SPI_processed == 1)
				result = SpiText(0, 1);
			FinishJob(job_id, "succeeded", result, NULL, NULL);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *error;
		bool		canceled;

		(void) EndCheckpointSegment();
		MemoryContextSwitchTo(job_context);
		error = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		canceled = error->sqlerrcode == ERRCODE_QUERY_CANCELED;
		/* the log keeps the error as a foreground session's would */
		ereport(LOG,
				(errmsg("vqaprune job " INT64_FORMAT " %s: %s", job_id,
						canceled ? "canceled" : "failed", error->message)));
		/* a cancel arriving now is for this job, which is ending anyway */
		HOLD_INTERRUPTS();
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		FinishJob(job_id, canceled ? "canceled" : "failed", NULL,
				  unpack_sql_state(error->sqlerrcode), error->message);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		RESUME_INTERRUPTS();
		done = true;
	}
	PG_END_TRY();
	return done;
}

static void
RunJob(int64 job_id, const char *call, int threads)
{
	MemoryContext job_context = AllocSetContextCreate(TopMemoryContext, "vqaprune job",
													  ALLOCSET_DEFAULT_SIZES);

	while (!RunJobTransaction(job_id, call, threads, job_context))
		;
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
	uint64		n;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	BecomeOwner(&saved);
	n = SpiRun("SELECT DISTINCT role_oid FROM vqaprune.jobs WHERE status = 'queued' "
			   "AND database_oid = $1 AND role_oid <> $2", SPI_OK_SELECT, 2, argtypes, values, NULL,
			   true, 0);
	RestoreUser(&saved);
	for (uint64 r = 0; r < n; r++)
	{
		bool		isnull;

		LaunchWorker(MyDatabaseId, DatumGetObjectId(SpiValue(r, 1, &isnull)));
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
