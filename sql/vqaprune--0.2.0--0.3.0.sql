-- vqaprune 0.2.0 -> 0.3.0: a privilege model for shared databases.
--
-- Members of the group role vqaprune_user use every vqaprune function
-- without table grants. Datasets, models and runs record the role that made
-- them; row-level security lets a role change only what is its own (or a
-- role's whose privileges it has), and lets every role read everything while
-- vqaprune.settings says so. Every function that runs SQL pins its
-- search_path. doc/security.md describes the model.

\echo Use "ALTER EXTENSION vqaprune UPDATE TO '0.3.0'" to load this file. \quit

-- The group role. Roles belong to the cluster, not to the extension: a
-- second database's CREATE EXTENSION finds it, and DROP EXTENSION keeps it.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'vqaprune_user') THEN
		CREATE ROLE vqaprune_user NOLOGIN;
	END IF;
END
$$;
COMMENT ON ROLE vqaprune_user IS 'may run every vqaprune function and owns what it makes';

-- Ownership ------------------------------------------------------------------

CREATE FUNCTION vqaprune.current_role_id() RETURNS regrole
	AS 'MODULE_PATHNAME', 'vqa_current_role_id' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION vqaprune.current_role_id() IS
	'the role whose privileges apply now (the owner of what is made)';

CREATE FUNCTION vqaprune.owner_rights(owner regrole) RETURNS boolean
	AS 'MODULE_PATHNAME', 'vqa_owner_rights' LANGUAGE C STABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION vqaprune.owner_rights(regrole) IS
	'whether the current role has the privileges of owner (is it, is a member, or is superuser)';

-- Rows made before 0.3.0 belong to the role that updates the extension.
ALTER TABLE vqaprune.datasets ADD COLUMN owner regrole NOT NULL DEFAULT vqaprune.current_role_id();
ALTER TABLE vqaprune.models ADD COLUMN owner regrole NOT NULL DEFAULT vqaprune.current_role_id();
ALTER TABLE vqaprune.runs ADD COLUMN owner regrole NOT NULL DEFAULT vqaprune.current_role_id();

-- One row at most: whether every role reads every dataset, model and run.
-- No row means yes.
CREATE TABLE vqaprune.settings (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	shared_reads boolean NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('vqaprune.settings', '');

CREATE FUNCTION vqaprune.shared_reads() RETURNS boolean
	AS 'MODULE_PATHNAME', 'vqa_shared_reads' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION vqaprune.shared_reads() IS
	'whether every role reads every dataset, model and run (vqaprune.settings)';

CREATE FUNCTION vqa_set_shared_reads(shared boolean) RETURNS boolean
LANGUAGE sql STRICT SET search_path = pg_catalog, pg_temp AS $$
	INSERT INTO vqaprune.settings (shared_reads) VALUES (shared)
	ON CONFLICT (singleton) DO UPDATE SET shared_reads = excluded.shared_reads
	RETURNING shared_reads;
$$;
COMMENT ON FUNCTION vqa_set_shared_reads(boolean) IS
	'whether every role reads every dataset, model and run (true), or only its own (false)';
REVOKE EXECUTE ON FUNCTION vqa_set_shared_reads(boolean) FROM PUBLIC;

-- Row-level security ---------------------------------------------------------
-- Each table has a read policy and one policy per writing command (insert,
-- update, delete: separate, so that reads see only the read policy).
-- Datasets, models and runs are owned; the rows of a dataset, model or run
-- follow their parent's owner. Superusers and the extension owner bypass
-- them.

-- The policies of a table: owned by its own owner column when parent is
-- NULL, else by the owner of the parent row that key references.
CREATE FUNCTION vqaprune.owner_policies(tab text, parent text, key text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
	owned text := CASE WHEN parent IS NULL THEN 'vqaprune.owner_rights(owner)'
		ELSE format('EXISTS (SELECT FROM vqaprune.%2$I p WHERE p.%3$I = %1$I.%3$I '
					'AND vqaprune.owner_rights(p.owner))', tab, parent, key) END;
BEGIN
	EXECUTE format('ALTER TABLE vqaprune.%I ENABLE ROW LEVEL SECURITY', tab);
	EXECUTE format('CREATE POLICY read ON vqaprune.%I FOR SELECT USING (vqaprune.shared_reads() OR %s)',
				   tab, owned);
	EXECUTE format('CREATE POLICY insert_own ON vqaprune.%I FOR INSERT WITH CHECK (%s)', tab, owned);
	EXECUTE format('CREATE POLICY update_own ON vqaprune.%I FOR UPDATE USING (%s) WITH CHECK (%s)',
				   tab, owned, owned);
	EXECUTE format('CREATE POLICY delete_own ON vqaprune.%I FOR DELETE USING (%s)', tab, owned);
END
$f$;

SELECT vqaprune.owner_policies(t, NULL, NULL) FROM unnest(ARRAY['datasets', 'models', 'runs']) t;
SELECT vqaprune.owner_policies(t, 'datasets', 'dataset_id')
  FROM unnest(ARRAY['questions', 'answers', 'targets', 'priors', 'images']) t;
SELECT vqaprune.owner_policies(t, 'models', 'model_id')
  FROM unnest(ARRAY['tensors', 'tensor_chunks', 'mask_chunks']) t;
SELECT vqaprune.owner_policies('predictions', 'runs', 'run_id');
DROP FUNCTION vqaprune.owner_policies(text, text, text);

-- Jobs: each role reads its own; only the job functions write, as the owner.
ALTER TABLE vqaprune.jobs ADD COLUMN worker_started timestamptz;
ALTER TABLE vqaprune.jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON vqaprune.jobs FOR SELECT USING (vqaprune.owner_rights(role_oid::regrole));
GRANT SELECT ON vqaprune.jobs TO PUBLIC;

-- Writing: the group, through the policies above. Others only read.
GRANT INSERT, UPDATE, DELETE ON vqaprune.datasets, vqaprune.questions, vqaprune.answers,
	vqaprune.targets, vqaprune.priors, vqaprune.images, vqaprune.models, vqaprune.tensors,
	vqaprune.tensor_chunks, vqaprune.mask_chunks, vqaprune.runs, vqaprune.predictions
	TO vqaprune_user;
GRANT USAGE ON SEQUENCE vqaprune.datasets_dataset_id_seq, vqaprune.models_model_id_seq,
	vqaprune.runs_run_id_seq TO vqaprune_user;
GRANT SELECT ON vqaprune.settings TO PUBLIC;

-- Functions ------------------------------------------------------------------

CREATE FUNCTION vqa_drop_model(model text) RETURNS boolean
LANGUAGE plpgsql STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id bigint;
	owned boolean;
BEGIN
	SELECT m.model_id, vqaprune.owner_rights(m.owner) INTO id, owned
	  FROM vqaprune.models m WHERE m.name = model;
	IF id IS NULL THEN
		RAISE EXCEPTION 'model "%" does not exist', model
			USING ERRCODE = 'undefined_object', HINT = 'SELECT model FROM vqa_models lists the models.';
	END IF;
	IF NOT owned THEN
		RAISE EXCEPTION 'must be owner of model "%"', model
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only its owner, a member of the owner''s role, or a superuser may drop it.';
	END IF;
	DELETE FROM vqaprune.models WHERE model_id = id;
	RETURN true;
END
$$;
COMMENT ON FUNCTION vqa_drop_model(text) IS
	'removes a model with its tensors and masks; models made from it and its runs stay, unlinked';

CREATE OR REPLACE FUNCTION vqa_drop_dataset(dataset text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id bigint;
	owned boolean;
	model text;
BEGIN
	SELECT d.dataset_id, vqaprune.owner_rights(d.owner) INTO id, owned
	  FROM vqaprune.datasets d WHERE d.name = dataset;
	IF id IS NULL THEN
		RAISE EXCEPTION 'dataset "%" does not exist', dataset
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT name FROM vqaprune.datasets lists the datasets.';
	END IF;
	IF NOT owned THEN
		RAISE EXCEPTION 'must be owner of dataset "%"', dataset
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only its owner, a member of the owner''s role, or a superuser may drop it.';
	END IF;
	SELECT m.name INTO model FROM vqaprune.models m WHERE m.dataset_id = id ORDER BY m.model_id LIMIT 1;
	IF model IS NOT NULL THEN
		RAISE EXCEPTION 'dataset "%" is used by model "%"', dataset, model
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Drop the models trained on it first.';
	END IF;
	DELETE FROM vqaprune.datasets WHERE dataset_id = id;
	RETURN true;
END
$$;

-- Every function that runs SQL resolves names in pg_catalog only (tables are
-- qualified; pg_temp comes last and is never searched for functions or
-- operators), whoever calls it and whatever its search_path.
ALTER FUNCTION vqa_load_questions(text, text, text, text, integer) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_load_features(text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_synthetic(text, integer, integer, integer, integer, integer, integer)
	SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_create_model(text, text, jsonb, text, integer) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_import_safetensors(text, text, jsonb, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_export_safetensors(text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_forward(text, integer[], integer[], integer[], real[], real[])
	SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_finetune(text, text, text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_evaluate(text, text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_import_predictions(text, text, text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_prune(text, text, float8, text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_compact(text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_pipeline(text, text, text, text, float8, text, jsonb)
	SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_submit(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_cancel(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION vqa_wait(bigint, interval) SET search_path = pg_catalog, pg_temp;

-- What writes is for the group; reading functions stay open to every role.
DO $$
DECLARE
	f text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'vqa_load_questions(text, text, text, text, integer)', 'vqa_load_features(text, text)',
		'vqa_synthetic(text, integer, integer, integer, integer, integer, integer)',
		'vqa_drop_dataset(text)', 'vqa_drop_model(text)',
		'vqa_create_model(text, text, jsonb, text, integer)',
		'vqa_import_safetensors(text, text, jsonb, text)',
		'vqa_finetune(text, text, text, jsonb)', 'vqa_evaluate(text, text, text)',
		'vqa_import_predictions(text, text, text, text)', 'vqa_prior_baseline(text, text, text)',
		'vqa_prune(text, text, float8, text, jsonb)', 'vqa_compact(text, text)',
		'vqa_pipeline(text, text, text, text, float8, text, jsonb)',
		'vqa_submit(text)', 'vqa_cancel(bigint)', 'vqa_wait(bigint, interval)'] LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION @extschema@.%s FROM PUBLIC', f);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.%s TO vqaprune_user', f);
	END LOOP;
END
$$;

-- Views ----------------------------------------------------------------------
-- The views read as the caller, so the read policies apply to them.

ALTER VIEW vqa_accuracy SET (security_invoker = true);
ALTER VIEW vqa_accuracy_by_answer_type SET (security_invoker = true);
ALTER VIEW vqa_accuracy_by_question_type SET (security_invoker = true);
ALTER VIEW vqa_dataset_splits SET (security_invoker = true);
ALTER VIEW vqa_model_modules SET (security_invoker = true);

CREATE OR REPLACE VIEW vqa_models WITH (security_invoker = true) AS
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
		   AS compact,
	   m.owner
  FROM vqaprune.models m
  LEFT JOIN vqaprune.datasets d USING (dataset_id)
  LEFT JOIN vqaprune.models p ON p.model_id = m.parent_id;

-- One row per dataset, with its owner.
CREATE VIEW vqa_datasets WITH (security_invoker = true) AS
SELECT d.dataset_id, d.name AS dataset, d.source, d.owner, d.min_answer_count,
	   (SELECT count(*) FROM vqaprune.questions q WHERE q.dataset_id = d.dataset_id) AS questions,
	   (SELECT count(*) FROM vqaprune.images i WHERE i.dataset_id = d.dataset_id) AS images,
	   (SELECT count(*) FROM vqaprune.answers a WHERE a.dataset_id = d.dataset_id) AS answers,
	   d.created_at
  FROM vqaprune.datasets d;
GRANT SELECT ON vqa_datasets TO PUBLIC;

-- A job's worker is the backend with its pid and start time (a recycled pid
-- is another backend); jobs' rows are filtered by their read policy.
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
	   j.error_sqlstate, j.error_message, j.result, j.threads
  FROM vqaprune.jobs j
  LEFT JOIN pg_stat_activity a ON j.status = 'running' AND a.pid = j.worker_pid
	   AND a.backend_type = 'vqaprune job' AND a.backend_start = j.worker_started
  LEFT JOIN LATERAL (SELECT regexp_match(a.query,
	   '^vqa_\w+ .*?: (\w+)(?:, epoch (\d+)/(\d+), step (\d+)/(\d+), loss ([^,]+), (\d+) samples/s)?$') AS m) p
	   ON true
 WHERE j.database_oid = (SELECT oid FROM pg_database WHERE datname = current_database());
