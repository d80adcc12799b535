/*
 * checkpoint.c: checkpoints of training jobs, and resuming from them.
 *
 * A vqa_finetune or vqa_prune call run as a job (jobs.c) runs in segments,
 * each its own transaction: a segment trains until an epoch ends or the
 * run's checkpoint interval has passed, writes the whole training state to
 * vqaprune.checkpoints / checkpoint_chunks (replacing the job's previous
 * one), and stops; the job runner commits and runs the call again, which
 * restores the state and goes on. So no transaction or snapshot outlives a
 * segment, and a crash, restart or cancel loses at most one segment. The
 * last segment stores the model and drops the checkpoint with it. Calls made
 * directly, and every other job, never checkpoint.
 *
 * The tables are written and read as the extension's owner, like the jobs
 * table; a role sees the checkpoints of its own jobs. A state read back is
 * checked by the core before it is used (vqa_trainer_load_state).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "checkpoint.h"
#include "ownership.h"
#include "spi_checked.h"
#include "vqaprune.h"

PG_FUNCTION_INFO_V1(vqa_resume);
PG_FUNCTION_INFO_V1(vqa_drop_checkpoint);

#define CHECKPOINT_CHUNK_BYTES (16 * 1024 * 1024)

/* The job whose segment runs now (0: none), and whether its call stopped at a checkpoint. */
static int64 segment_job = 0;
static bool segment_suspended = false;

void
BeginCheckpointSegment(int64 job_id)
{
	segment_job = job_id;
	segment_suspended = false;
}

bool
EndCheckpointSegment(void)
{
	bool		suspended = segment_suspended;

	segment_job = 0;
	segment_suspended = false;
	return suspended;
}

int64
CheckpointJob(void)
{
	return segment_job;
}

void
MarkSegmentSuspended(void)
{
	Assert(segment_job != 0);
	segment_suspended = true;
}

void
SaveCheckpoint(const CheckpointInfo *info, const char *state, Size bytes)
{
	Oid			argtypes[7] = {INT8OID, INT4OID, INT4OID, INT4OID, INT8OID, INT8OID, INT8OID};
	Datum		values[7];
	Oid			chunk_types[3] = {INT8OID, INT4OID, BYTEAOID};
	SPIPlanPtr	plan;
	OwnerContext saved;

	Assert(segment_job != 0);
	values[0] = Int64GetDatum(segment_job);
	values[1] = Int32GetDatum(info->epoch);
	values[2] = Int32GetDatum(info->step);
	values[3] = Int32GetDatum(info->total_steps);
	values[4] = Int64GetDatum((int64) bytes);
	values[5] = Int64GetDatum(info->model_id);
	values[6] = Int64GetDatum(info->dataset_id);
	BecomeOwner(&saved);
	SpiRun("DELETE FROM vqaprune.checkpoints WHERE job_id = $1", SPI_OK_DELETE, 1, argtypes,
		   values, NULL, false, 0);
	SpiRun("INSERT INTO vqaprune.checkpoints (job_id, epoch, step, total_steps, state_bytes, "
		   "model_id, dataset_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		   SPI_OK_INSERT, 7, argtypes, values, NULL, false, 0);
	plan = SPI_prepare("INSERT INTO vqaprune.checkpoint_chunks (job_id, chunk, data) "
					   "VALUES ($1, $2, $3)", 3, chunk_types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (Size start = 0, chunk = 0; start < bytes; start += CHECKPOINT_CHUNK_BYTES, chunk++)
	{
		Size		n = Min(CHECKPOINT_CHUNK_BYTES, bytes - start);
		bytea	   *data = palloc(VARHDRSZ + n);
		Datum		row[3];

		CHECK_FOR_INTERRUPTS();
		SET_VARSIZE(data, VARHDRSZ + n);
		memcpy(VARDATA(data), state + start, n);
		row[0] = Int64GetDatum(segment_job);
		row[1] = Int32GetDatum((int32) chunk);
		row[2] = PointerGetDatum(data);
		(void) SpiRunPlan(plan, SPI_OK_INSERT, row, NULL, false, 0);
		pfree(data);
	}
	SPI_freeplan(plan);
	RestoreUser(&saved);
}

char *
LoadCheckpoint(Size *bytes)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(segment_job)};
	OwnerContext saved;
	char	   *state;
	int64		expected;
	Size		filled = 0;
	Portal		portal;

	if (segment_job == 0)
		return NULL;
	BecomeOwner(&saved);
	if (SpiRun("SELECT state_bytes FROM vqaprune.checkpoints WHERE job_id = $1",
			   SPI_OK_SELECT, 1, argtypes, values, NULL, true, 1) == 0)
	{
		RestoreUser(&saved);
		return NULL;
	}
	expected = DatumGetInt64(SpiRequired(0, 1, "vqaprune.checkpoints"));
	if (expected <= 0 || (uint64) expected > MaxAllocHugeSize)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the checkpoint of job " INT64_FORMAT " in vqaprune.checkpoints is corrupted: "
						"state_bytes " INT64_FORMAT, segment_job, expected)));
	state = palloc_extended((Size) expected, MCXT_ALLOC_HUGE);
	portal = SpiOpen("SELECT chunk, data FROM vqaprune.checkpoint_chunks WHERE job_id = $1 "
					 "ORDER BY chunk", 1, argtypes, values, true);
	for (int32 next = 0;; )
	{
		uint64		n;

		CHECK_FOR_INTERRUPTS();
		n = SpiFetch(portal, 16);
		if (n == 0)
			break;
		for (uint64 r = 0; r < n; r++)
		{
			int32		chunk = DatumGetInt32(SpiRequired(r, 1, "vqaprune.checkpoint_chunks"));
			bytea	   *data = DatumGetByteaPP(SpiRequired(r, 2, "vqaprune.checkpoint_chunks"));
			Size		len = VARSIZE_ANY_EXHDR(data);

			if (chunk != next++ || len > (Size) expected - filled ||
				(len != CHECKPOINT_CHUNK_BYTES && filled + len != (Size) expected))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the checkpoint of job " INT64_FORMAT " in vqaprune.checkpoint_chunks "
								"is corrupted at chunk %d", segment_job, chunk)));
			memcpy(state + filled, VARDATA_ANY(data), len);
			filled += len;
		}
	}
	SPI_cursor_close(portal);
	RestoreUser(&saved);
	if (filled != (Size) expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the checkpoint of job " INT64_FORMAT " in vqaprune.checkpoint_chunks "
						"is corrupted: %zu of " INT64_FORMAT " bytes", segment_job, filled, expected)));
	*bytes = filled;
	return state;
}

void
DropSegmentCheckpoint(void)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(segment_job)};
	OwnerContext saved;

	if (segment_job == 0)
		return;
	BecomeOwner(&saved);
	SpiRun("DELETE FROM vqaprune.checkpoints WHERE job_id = $1", SPI_OK_DELETE, 1, argtypes,
		   values, NULL, false, 0);
	RestoreUser(&saved);
}

/*
 * vqa_resume(job) -> the id of a new job that runs the same call from the
 * job's last checkpoint. The job must have failed or been canceled, and
 * its model and dataset must still exist; the checkpoint moves to the new
 * job.
 */
Datum
vqa_resume(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(job_id), 0};
	OwnerContext saved;
	char	   *status;
	char	   *call;
	int64		model_id,
				dataset_id,
				new_job;
	uint64		found;

	SPI_connect();
	status = JobStatus(job_id, true);
	if (strcmp(status, "failed") != 0 && strcmp(status, "canceled") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("job " INT64_FORMAT " is %s: only a failed or canceled job resumes", job_id, status)));
	BecomeOwner(&saved);
	found = SpiRun("SELECT c.model_id, c.dataset_id, j.call FROM vqaprune.checkpoints c "
				   "JOIN vqaprune.jobs j USING (job_id) WHERE c.job_id = $1 FOR UPDATE OF c",
				   SPI_OK_SELECT, 1, argtypes, values, NULL, false, 1);
	RestoreUser(&saved);
	if (found == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("job " INT64_FORMAT " has no checkpoint", job_id),
				 errhint("Only vqa_finetune and vqa_prune jobs checkpoint, at the end of every epoch "
						 "and every checkpoint_minutes; submit the call again.")));
	model_id = DatumGetInt64(SpiRequired(0, 1, "vqaprune.checkpoints"));
	dataset_id = DatumGetInt64(SpiRequired(0, 2, "vqaprune.checkpoints"));
	call = SpiText(0, 3);
	values[0] = Int64GetDatum(model_id);
	if (SpiRun("SELECT 1 FROM vqaprune.models WHERE model_id = $1", SPI_OK_SELECT, 1, argtypes,
			   values, NULL, true, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the model job " INT64_FORMAT " trains from no longer exists", job_id),
				 errhint("vqa_drop_checkpoint(" INT64_FORMAT ") removes the checkpoint.", job_id)));
	values[0] = Int64GetDatum(dataset_id);
	if (SpiRun("SELECT 1 FROM vqaprune.datasets WHERE dataset_id = $1", SPI_OK_SELECT, 1, argtypes,
			   values, NULL, true, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the dataset job " INT64_FORMAT " trains on no longer exists", job_id),
				 errhint("vqa_drop_checkpoint(" INT64_FORMAT ") removes the checkpoint.", job_id)));
	new_job = SubmitJob(call);
	values[0] = Int64GetDatum(new_job);
	values[1] = Int64GetDatum(job_id);
	BecomeOwner(&saved);
	SpiRun("UPDATE vqaprune.checkpoints SET job_id = $1 WHERE job_id = $2", SPI_OK_UPDATE, 2,
		   argtypes, values, NULL, false, 0);
	RestoreUser(&saved);
	SPI_finish();
	PG_RETURN_INT64(new_job);
}

/* vqa_drop_checkpoint(job) -> whether the job had a checkpoint */
Datum
vqa_drop_checkpoint(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	OwnerContext saved;
	char	   *status;
	uint64		dropped;

	SPI_connect();
	status = JobStatus(job_id, true);
	if (strcmp(status, "running") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("job " INT64_FORMAT " is running", job_id),
				 errhint("Cancel it first: vqa_cancel(" INT64_FORMAT ").", job_id)));
	BecomeOwner(&saved);
	dropped = SpiRun("DELETE FROM vqaprune.checkpoints WHERE job_id = $1", SPI_OK_DELETE, 1,
					 argtypes, values, NULL, false, 0);
	RestoreUser(&saved);
	SPI_finish();
	PG_RETURN_BOOL(dropped > 0);
}
