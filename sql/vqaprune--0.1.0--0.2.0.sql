-- vqaprune 0.1.0 -> 0.2.0: Stage 2 (vqa_prune), the paper's pipelines in one
-- call (vqa_pipeline), compacted storage of pruned models (vqa_compact) and
-- the bytes they take.

\echo Use "ALTER EXTENSION vqaprune UPDATE TO '0.2.0'" to load this file. \quit

-- A compacted tensor stores only the values its mask keeps, in order.
ALTER TABLE vqaprune.tensors ADD COLUMN compact boolean NOT NULL DEFAULT false;

CREATE FUNCTION vqa_prune(model text, loss text, sparsity float8, method text DEFAULT 'mask',
						  options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION vqa_prune(text, text, float8, text, jsonb) IS
	'finds a subnetwork of a model at a target sparsity (mask training or magnitude pruning) and stores it';

CREATE FUNCTION vqa_compact(model text, name text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION vqa_compact(text, text) IS
	'stores a pruned model again as mask bits plus only its kept values';

-- The paper's "A+B" pipelines: Stage 1 with loss A, Stage 2 mask training
-- with loss B, and optionally Stage 3 with loss C.
CREATE FUNCTION vqa_pipeline(model text, dataset text, stage1_loss text, stage2_loss text,
							 sparsity float8, stage3_loss text DEFAULT NULL,
							 options jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	unknown text;
	stage1 text;
	stage2 text;
BEGIN
	IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
		RAISE EXCEPTION 'options must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass {"stage1": {...}, "stage2": {...}, "stage3": {...}}, each the options of its stage.';
	END IF;
	SELECT k INTO unknown FROM jsonb_object_keys(options) k
	 WHERE k NOT IN ('stage1', 'stage2', 'stage3') LIMIT 1;
	IF unknown IS NOT NULL THEN
		RAISE EXCEPTION 'unknown option "%"', unknown
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Options: stage1, stage2, stage3, each the options of its stage.';
	END IF;
	IF stage3_loss IS NULL AND options ? 'stage3' THEN
		RAISE EXCEPTION 'options for stage 3 given without a stage 3 loss'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	stage1 := @extschema@.vqa_finetune(model, dataset, stage1_loss,
									   coalesce(options -> 'stage1', '{}'));
	stage2 := @extschema@.vqa_prune(stage1, stage2_loss, sparsity, 'mask',
									jsonb_build_object('dataset', dataset) || coalesce(options -> 'stage2', '{}'));
	IF stage3_loss IS NULL THEN
		RETURN stage2;
	END IF;
	RETURN @extschema@.vqa_finetune(stage2, dataset, stage3_loss, coalesce(options -> 'stage3', '{}'));
END;
$$;
COMMENT ON FUNCTION vqa_pipeline(text, text, text, text, float8, text, jsonb) IS
	'runs the paper''s A+B pipeline: fine-tune with A, mask-train with B at a sparsity, optionally fine-tune with C';

-- Bytes: dense is float32 for every parameter; stored is what the tables hold.
CREATE VIEW vqa_model_modules AS
SELECT m.name AS model, t.module,
	   sum(t.numel)::bigint AS parameters,
	   sum(t.numel) FILTER (WHERE t.prunable)::bigint AS prunable,
	   (4 * sum(t.numel))::bigint AS dense_bytes,
	   (coalesce(sum((SELECT sum(octet_length(c.data)) FROM vqaprune.tensor_chunks c
					  WHERE c.model_id = t.model_id AND c.tensor_id = t.tensor_id)), 0) +
		coalesce(sum((SELECT sum(octet_length(k.bits)) FROM vqaprune.mask_chunks k
					  WHERE k.model_id = t.model_id AND k.tensor_id = t.tensor_id)), 0))::bigint
		   AS stored_bytes
  FROM vqaprune.models m
  JOIN vqaprune.tensors t USING (model_id)
 GROUP BY m.name, t.module;

CREATE OR REPLACE VIEW vqa_models AS
SELECT m.model_id, m.name AS model, d.name AS dataset, p.name AS parent,
	   m.stage, m.loss, m.method,
	   (SELECT sum(t.numel) FROM vqaprune.tensors t WHERE t.model_id = m.model_id)::bigint
		   AS parameters,
	   (SELECT sum(t.numel) FROM vqaprune.tensors t WHERE t.model_id = m.model_id AND t.prunable)::bigint
		   AS prunable,
	   m.sparsity_target, m.sparsity, m.metrics, m.created_at,
	   (SELECT 4 * sum(t.numel) FROM vqaprune.tensors t WHERE t.model_id = m.model_id)::bigint
		   AS dense_bytes,
	   ((SELECT coalesce(sum(octet_length(c.data)), 0) FROM vqaprune.tensor_chunks c
		  WHERE c.model_id = m.model_id) +
		(SELECT coalesce(sum(octet_length(k.bits)), 0) FROM vqaprune.mask_chunks k
		  WHERE k.model_id = m.model_id))::bigint AS stored_bytes,
	   EXISTS (SELECT 1 FROM vqaprune.tensors t WHERE t.model_id = m.model_id AND t.compact)
		   AS compact
  FROM vqaprune.models m
  LEFT JOIN vqaprune.datasets d USING (dataset_id)
  LEFT JOIN vqaprune.models p ON p.model_id = m.parent_id;

-- Background jobs ------------------------------------------------------------

-- Written only by the job functions, as the extension's owner: no role can
-- queue a call under another's name, and each reads its own jobs through
-- vqa_jobs.
ALTER TABLE vqaprune.jobs
	ADD COLUMN role_oid oid,
	ADD COLUMN database_oid oid,
	ADD COLUMN threads integer NOT NULL DEFAULT 1,
	ADD COLUMN worker_pid integer,
	ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;
CREATE INDEX ON vqaprune.jobs (status, database_oid);
REVOKE SELECT ON vqaprune.jobs FROM PUBLIC;

CREATE FUNCTION vqa_submit(call text) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION vqa_submit(text) IS
	'queues a long vqaprune call as a background job, run as the submitting role';

CREATE FUNCTION vqa_cancel(job bigint) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION vqa_cancel(bigint) IS
	'stops a running job or removes a queued one; it stores nothing';

CREATE FUNCTION vqa_wait(job bigint, timeout interval DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION vqa_wait(bigint, interval) IS
	'waits until a job ends (or the timeout passes) and returns its status';

-- Progress comes from the worker's activity string, "<function> <model>:
-- <phase>[, epoch e/E, step s/S, loss L, N samples/s]".
CREATE VIEW vqa_jobs AS
SELECT j.job_id, j.role_name AS role, j.call,
	   CASE WHEN j.status = 'running' AND a.pid IS NULL THEN 'failed' ELSE j.status END AS status,
	   CASE WHEN j.status = 'running' AND a.pid IS NULL THEN 'crashed'
			WHEN j.status = 'running' THEN coalesce(p.m[1], 'running')
			WHEN j.status = 'failed' AND j.error_sqlstate IS NULL THEN 'crashed' END AS phase,
	   p.m[2]::integer AS epoch, p.m[3]::integer AS epochs,
	   p.m[4]::integer AS step, p.m[5]::integer AS total_steps,
	   p.m[6]::float8 AS loss, p.m[7]::float8 AS samples_per_second,
	   j.submitted_at, j.started_at, j.finished_at,
	   j.error_sqlstate, j.error_message, j.result, j.threads
  FROM vqaprune.jobs j
  LEFT JOIN pg_stat_activity a ON j.status = 'running' AND a.pid = j.worker_pid
	   AND a.backend_type = 'vqaprune job' AND a.backend_start <= j.started_at
  LEFT JOIN LATERAL (SELECT regexp_match(a.query,
	   '^vqa_\w+ .*?: (\w+)(?:, epoch (\d+)/(\d+), step (\d+)/(\d+), loss ([^,]+), (\d+) samples/s)?$') AS m) p
	   ON true
 WHERE j.database_oid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND (j.role_oid = (SELECT oid FROM pg_roles WHERE rolname = current_user)
		OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user));

-- Every role reads the views (the tables behind them are read as their owner).
GRANT SELECT ON vqa_accuracy, vqa_accuracy_by_answer_type, vqa_accuracy_by_question_type,
	vqa_dataset_splits, vqa_models, vqa_model_modules, vqa_jobs TO PUBLIC;
