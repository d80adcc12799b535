-- vqaprune 0.4.0 -> 0.5.0: runs that survive restarts.
--
-- A fine-tuning or mask-training call run as a job commits a checkpoint at
-- every epoch end and every vqaprune.checkpoint_interval: the whole training
-- state, in its own transaction, the latest only. vqa_resume continues a
-- failed, crashed or canceled job from it; vqa_drop_checkpoint removes it.

-- The latest checkpoint of a job: what it is and where it stands. The state
-- itself (weights, optimiser moments, mask scores, the data order, the RNG
-- and the run's epoch history) is in checkpoint_chunks. Written only by the
-- job runner, as the extension's owner.
CREATE TABLE vqaprune.checkpoints (
	job_id bigint PRIMARY KEY REFERENCES vqaprune.jobs ON DELETE CASCADE,
	epoch integer NOT NULL CHECK (epoch >= 0),
	step integer NOT NULL CHECK (step >= 0),
	total_steps integer NOT NULL CHECK (total_steps > 0),
	state_bytes bigint NOT NULL CHECK (state_bytes > 0),
	model_id bigint NOT NULL,	-- what the run trains from: vqa_resume checks both still exist
	dataset_id bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE vqaprune.checkpoint_chunks (
	job_id bigint NOT NULL REFERENCES vqaprune.checkpoints ON DELETE CASCADE ON UPDATE CASCADE,
	chunk integer NOT NULL CHECK (chunk >= 0),
	data bytea NOT NULL,
	PRIMARY KEY (job_id, chunk)
);
ALTER TABLE vqaprune.checkpoint_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

SELECT pg_catalog.pg_extension_config_dump('vqaprune.checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.checkpoint_chunks', '');

-- a role sees the checkpoints of the jobs it sees (the jobs' own policy)
ALTER TABLE vqaprune.checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON vqaprune.checkpoints FOR SELECT
	USING (EXISTS (SELECT 1 FROM vqaprune.jobs j WHERE j.job_id = checkpoints.job_id));
GRANT SELECT ON vqaprune.checkpoints TO PUBLIC;

CREATE FUNCTION vqa_resume(job bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'vqa_resume' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION vqa_drop_checkpoint(job bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'vqa_drop_checkpoint' LANGUAGE C STRICT VOLATILE;

DO $$
DECLARE
	f text;
BEGIN
	FOREACH f IN ARRAY ARRAY['vqa_resume(bigint)', 'vqa_drop_checkpoint(bigint)'] LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION @extschema@.%s FROM PUBLIC', f);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.%s TO vqaprune_user', f);
	END LOOP;
END
$$;

-- the view of jobs, with where the last checkpoint stands
CREATE OR REPLACE VIEW vqa_jobs WITH (security_invoker = true) AS
SELECT j.job_id, j.role_name AS role, j.call,
	   CASE WHEN j.status = 'running' AND a.pid IS NULL THEN 'failed' ELSE j.status END AS status,
	   CASE WHEN j.status = 'running' AND a.pid IS NULL THEN 'crashed'
			WHEN j.status = 'running' THEN coalesce(p.m[1], 'running')
			WHEN j.status = 'failed' AND j.error_sqlstate IS NULL THEN 'crashed' END AS phase,
	   p.m[2]::integer AS epoch, p.m[3]::integer AS epochs,
	   p.m[4]::integer AS step, p.m[5]::integer AS total_steps,
	   p.m[6]::float8 AS loss, p.m[7]::float8 AS samples_per_second,
	   j.submitted_at, j.started_at, j.finished_at,
	   j.error_sqlstate, j.error_message, j.result, j.threads,
	   c.created_at AS checkpoint_at, c.step AS checkpoint_step
  FROM vqaprune.jobs j
  LEFT JOIN pg_stat_activity a ON j.status = 'running' AND a.pid = j.worker_pid
	   AND a.backend_type = 'vqaprune job' AND a.backend_start = j.worker_started
  LEFT JOIN LATERAL (SELECT regexp_match(a.query,
	   '^vqa_\w+ .*?: (\w+)(?:, epoch (\d+)/(\d+), step (\d+)/(\d+), loss ([^,]+), (\d+) samples/s)?$') AS m) p
	   ON true
  LEFT JOIN vqaprune.checkpoints c ON c.job_id = j.job_id
 WHERE j.database_oid = (SELECT oid FROM pg_database WHERE datname = current_database());
