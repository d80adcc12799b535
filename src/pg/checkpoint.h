/*
 * checkpoint.h: checkpoints of training jobs (checkpoint.c).
 */
#ifndef VQAPRUNE_CHECKPOINT_H
#define VQAPRUNE_CHECKPOINT_H

#include "postgres.h"

/* Where a checkpoint stands, and what it trains from (for vqa_resume's checks). */
typedef struct CheckpointInfo
{
	int			epoch;			/* epochs finished */
	int			step;			/* steps done */
	int			total_steps;
	int64		model_id;
	int64		dataset_id;
} CheckpointInfo;

/* Around each segment of a checkpointing job's call (jobs.c); End says whether it suspended. */
extern void BeginCheckpointSegment(int64 job_id);
extern bool EndCheckpointSegment(void);

/* The job whose segment runs now, 0 if none: then nothing checkpoints. */
extern int64 CheckpointJob(void);

/* The call saved a checkpoint and stopped: the job runner commits and runs it again. */
extern void MarkSegmentSuspended(void);

/* Replaces the job's checkpoint with this state, in the current transaction. */
extern void SaveCheckpoint(const CheckpointInfo *info, const char *state, Size bytes);

/* The job's checkpointed state (palloc'd, huge allowed), or NULL if it has none. */
extern char *LoadCheckpoint(Size *bytes);

/* Removes the job's checkpoint, in the current transaction (the run has ended). */
extern void DropSegmentCheckpoint(void);

/* From jobs.c: a visible job's status (an error if none); with lock, its row stays locked. */
extern char *JobStatus(int64 job_id, bool lock);

/* From jobs.c: queues call for the current role, as vqa_submit does; the new job's id. */
extern int64 SubmitJob(const char *call);

#endif
