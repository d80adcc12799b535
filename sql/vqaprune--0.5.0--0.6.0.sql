-- vqaprune 0.5.0 -> 0.6.0: VQA-VS, the benchmark of nine shortcut-specific
-- OOD test sets.
--
-- A dataset names its benchmark, which decides how its answers are scored:
-- 'vqa-cp' (VQA-CP v2 and VQA v2: the official metric) or 'vqa-vs' (VQA-VS's
-- own scoring, exact match of the raw answers). vqa_load_vqavs loads a VQA-VS
-- directory: Training, Val and IID-Test as the splits train, val and test,
-- and each OOD-Test set as a subset of test by question id
-- (vqaprune.ood_questions). vqa_synthetic(benchmark => 'vqa-vs') makes a
-- VQA-VS-shaped embedded benchmark. vqa_accuracy_vqavs shows a run's IID
-- accuracy, the nine OOD accuracies and their means.

\echo Use "ALTER EXTENSION vqaprune UPDATE TO '0.6.0'" to load this file. \quit

ALTER TABLE vqaprune.datasets ADD COLUMN benchmark text NOT NULL DEFAULT 'vqa-cp'
	CHECK (benchmark IN ('vqa-cp', 'vqa-vs'));

-- The nine OOD test sets of VQA-VS, each named by the shortcut it tests, in
-- the benchmark's order, with the modality of the shortcut. Fixed: made by
-- this script, not a user's data.
CREATE TABLE vqaprune.ood_sets (
	ood_set text PRIMARY KEY,
	position integer NOT NULL UNIQUE,
	modality text NOT NULL CHECK (modality IN ('language', 'visual', 'cross-modal')),
	shortcut text NOT NULL
);
INSERT INTO vqaprune.ood_sets (ood_set, position, modality, shortcut) VALUES
	('QT', 1, 'language', 'question type'),
	('KW', 2, 'language', 'key word'),
	('KWP', 3, 'language', 'key word pair'),
	('QT+KW', 4, 'language', 'question type and key word'),
	('KO', 5, 'visual', 'key object'),
	('KOP', 6, 'visual', 'key object pair'),
	('QT+KO', 7, 'cross-modal', 'question type and key object'),
	('KW+KO', 8, 'cross-modal', 'key word and key object'),
	('QT+KW+KO', 9, 'cross-modal', 'question type, key word and key object');
GRANT SELECT ON vqaprune.ood_sets TO PUBLIC;

-- Which questions of a VQA-VS dataset's test split (IID-Test) each OOD set
-- holds; a question may be in several.
CREATE TABLE vqaprune.ood_questions (
	dataset_id bigint NOT NULL,
	ood_set text NOT NULL REFERENCES vqaprune.ood_sets,
	question_id bigint NOT NULL,
	PRIMARY KEY (dataset_id, ood_set, question_id),
	FOREIGN KEY (dataset_id, question_id) REFERENCES vqaprune.questions ON DELETE CASCADE
);
CREATE INDEX ood_questions_question_idx ON vqaprune.ood_questions (dataset_id, question_id);
SELECT pg_catalog.pg_extension_config_dump('vqaprune.ood_questions', '');

-- the rows of a dataset follow its owner, as its questions do (0.3.0)
ALTER TABLE vqaprune.ood_questions ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON vqaprune.ood_questions FOR SELECT
	USING (vqaprune.shared_reads() OR EXISTS (SELECT FROM vqaprune.datasets p
		WHERE p.dataset_id = ood_questions.dataset_id AND vqaprune.owner_rights(p.owner)));
CREATE POLICY insert_own ON vqaprune.ood_questions FOR INSERT
	WITH CHECK (EXISTS (SELECT FROM vqaprune.datasets p
		WHERE p.dataset_id = ood_questions.dataset_id AND vqaprune.owner_rights(p.owner)));
CREATE POLICY update_own ON vqaprune.ood_questions FOR UPDATE
	USING (EXISTS (SELECT FROM vqaprune.datasets p
		WHERE p.dataset_id = ood_questions.dataset_id AND vqaprune.owner_rights(p.owner)))
	WITH CHECK (EXISTS (SELECT FROM vqaprune.datasets p
		WHERE p.dataset_id = ood_questions.dataset_id AND vqaprune.owner_rights(p.owner)));
CREATE POLICY delete_own ON vqaprune.ood_questions FOR DELETE
	USING (EXISTS (SELECT FROM vqaprune.datasets p
		WHERE p.dataset_id = ood_questions.dataset_id AND vqaprune.owner_rights(p.owner)));
GRANT SELECT ON vqaprune.ood_questions TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON vqaprune.ood_questions TO vqaprune_user;

-- Functions ------------------------------------------------------------------

CREATE FUNCTION vqa_answer_accuracy_vqavs(prediction text, answers text[]) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vqa_answer_accuracy_vqavs_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vqa_answer_accuracy_vqavs(text, text[]) IS
	'VQA-VS''s accuracy in [0, 1]: min(1, count / 3) of the raw answers equal to the prediction, unnormalised';

CREATE FUNCTION vqa_load_vqavs(dataset text, directory text, min_answer_count integer DEFAULT 9)
	RETURNS bigint AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vqa_load_vqavs(text, text, integer) IS
	'loads a VQA-VS directory: Training, Val and IID-Test as splits train, val and test, and the nine OOD-Test sets';

DROP FUNCTION vqa_synthetic(text, integer, integer, integer, integer, integer, integer, text);
CREATE FUNCTION vqa_synthetic(dataset text, images integer DEFAULT 1000, seed integer DEFAULT 0,
							  boxes integer DEFAULT 10, feature_dim integer DEFAULT 64,
							  questions_per_image integer DEFAULT 6, min_answer_count integer DEFAULT 9,
							  storage text DEFAULT 'float32', benchmark text DEFAULT 'vqa-cp')
	RETURNS bigint AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vqa_synthetic(text, integer, integer, integer, integer, integer, integer, text, text) IS
	'generates the embedded benchmark, VQA-CP-style or VQA-VS-style: scenes, region features, questions, splits';

DO $$
DECLARE
	f text;
BEGIN
	FOREACH f IN ARRAY ARRAY['vqa_load_vqavs(text, text, integer)',
		'vqa_synthetic(text, integer, integer, integer, integer, integer, integer, text, text)'] LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION @extschema@.%s FROM PUBLIC', f);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.%s TO vqaprune_user', f);
	END LOOP;
END
$$;

-- the prior baseline scores with its dataset's metric
CREATE OR REPLACE FUNCTION vqa_prior_baseline(dataset text, split text DEFAULT 'test', label text DEFAULT NULL)
	RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ds bigint;
	run bigint;
BEGIN
	SELECT d.dataset_id INTO ds FROM vqaprune.datasets d WHERE d.name = dataset;
	IF ds IS NULL THEN
		RAISE EXCEPTION 'dataset "%" does not exist', dataset
			USING ERRCODE = 'undefined_object',
				  HINT = 'Load it with vqa_load_questions or make one with vqa_synthetic.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM vqaprune.questions q WHERE q.dataset_id = ds AND q.split = $2) THEN
		RAISE EXCEPTION 'dataset "%" has no split "%"', dataset, $2
			USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM vqaprune.priors p WHERE p.dataset_id = ds) THEN
		RAISE EXCEPTION 'dataset "%" has no answer prior', dataset
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'The prior is learnt from the "train" split: load it first.';
	END IF;

	INSERT INTO vqaprune.runs (dataset_id, split, label, source)
	VALUES (ds, $2, coalesce(label, 'prior baseline'), 'prior')
	RETURNING run_id INTO run;

	-- each question's answer: the argmax of p_b for its type (ties: most
	-- frequent answer first), or '' when the type never occurs in train
	INSERT INTO vqaprune.predictions (run_id, question_id, answer, accuracy)
	SELECT run, q.question_id, coalesce(b.answer, ''),
		   CASE WHEN d.benchmark = 'vqa-vs'
				THEN @extschema@.vqa_answer_accuracy_vqavs(coalesce(b.answer, ''), q.answers)
				ELSE @extschema@.vqa_answer_accuracy(coalesce(b.answer, ''), q.answers) END
	  FROM vqaprune.questions q
	  JOIN vqaprune.datasets d ON d.dataset_id = q.dataset_id
	  LEFT JOIN (SELECT DISTINCT ON (p.question_type) p.question_type, a.answer
				   FROM vqaprune.priors p
				   JOIN vqaprune.answers a USING (dataset_id, answer_id)
				  WHERE p.dataset_id = ds
				  ORDER BY p.question_type, p.prior DESC, p.answer_id) b
		ON b.question_type = q.question_type
	 WHERE q.dataset_id = ds AND q.split = $2;
	RETURN run;
END
$$;

-- Views ----------------------------------------------------------------------

-- One row per dataset, with its owner, where its answers come from and its benchmark.
CREATE OR REPLACE VIEW vqa_datasets WITH (security_invoker = true) AS
SELECT d.dataset_id, d.name AS dataset, d.source, d.owner, d.min_answer_count,
	   (SELECT count(*) FROM vqaprune.questions q WHERE q.dataset_id = d.dataset_id) AS questions,
	   (SELECT count(*) FROM vqaprune.images i WHERE i.dataset_id = d.dataset_id) AS images,
	   (SELECT count(*) FROM vqaprune.answers a WHERE a.dataset_id = d.dataset_id) AS answers,
	   d.created_at,
	   CASE WHEN d.answer_list IS NULL THEN 'train split' ELSE 'answer list' END AS answers_from,
	   d.benchmark
  FROM vqaprune.datasets d;

-- One row per run of a VQA-VS dataset and OOD set: the run's accuracy on the
-- questions of the set it answered (a run of the test split answers them all).
CREATE VIEW vqa_accuracy_vqavs_sets WITH (security_invoker = true) AS
SELECT r.run_id, r.label, d.name AS dataset, r.split, s.ood_set, s.modality, s.position,
	   count(*) AS questions,
	   vqa_round(100 * sum(p.accuracy) / count(*)) AS accuracy
  FROM vqaprune.runs r
  JOIN vqaprune.datasets d USING (dataset_id)
  JOIN vqaprune.predictions p USING (run_id)
  JOIN vqaprune.ood_questions o ON o.dataset_id = r.dataset_id AND o.question_id = p.question_id
  JOIN vqaprune.ood_sets s USING (ood_set)
 WHERE d.benchmark = 'vqa-vs'
 GROUP BY r.run_id, d.name, s.ood_set;

-- One row per run of a VQA-VS dataset: the accuracy on the run's split (IID
-- for the test split), each OOD set's, and, as VQA-VS's own scoring computes
-- them from the sets' rounded accuracies, their unweighted mean (the
-- benchmark's headline figure) and the means per modality. The OOD columns
-- are NULL for a run of another split, and the means NULL unless every set
-- of theirs has questions.
CREATE VIEW vqa_accuracy_vqavs WITH (security_invoker = true) AS
SELECT a.run_id, a.label, a.dataset, a.split, a.questions, a.iid,
	   s.ood_qt, s.ood_kw, s.ood_kwp, s.ood_qt_kw, s.ood_ko, s.ood_kop, s.ood_qt_ko, s.ood_kw_ko,
	   s.ood_qt_kw_ko,
	   vqa_round((s.ood_qt + s.ood_kw + s.ood_kwp + s.ood_qt_kw + s.ood_ko + s.ood_kop + s.ood_qt_ko
				  + s.ood_kw_ko + s.ood_qt_kw_ko) / 9) AS ood_mean,
	   vqa_round((s.ood_qt + s.ood_kw + s.ood_kwp + s.ood_qt_kw) / 4) AS ood_language,
	   vqa_round((s.ood_ko + s.ood_kop) / 2) AS ood_visual,
	   vqa_round((s.ood_qt_ko + s.ood_kw_ko + s.ood_qt_kw_ko) / 3) AS ood_cross_modal,
	   a.source, a.model_id, a.created_at
  FROM (SELECT r.run_id, r.label, d.name AS dataset, r.split,
			   count(*) AS questions,
			   vqa_round(100 * sum(p.accuracy) / count(*)) AS iid,
			   r.source, r.model_id, r.created_at
		  FROM vqaprune.runs r
		  JOIN vqaprune.datasets d USING (dataset_id)
		  JOIN vqaprune.predictions p USING (run_id)
		 WHERE d.benchmark = 'vqa-vs'
		 GROUP BY r.run_id, d.name) a
  LEFT JOIN LATERAL (
	SELECT max(v.accuracy) FILTER (WHERE v.ood_set = 'QT') AS ood_qt,
		   max(v.accuracy) FILTER (WHERE v.ood_set = 'KW') AS ood_kw,
		   max(v.accuracy) FILTER (WHERE v.ood_set = 'KWP') AS ood_kwp,
		   max(v.accuracy) FILTER (WHERE v.ood_set = 'QT+KW') AS ood_qt_kw,
		   max(v.accuracy) FILTER (WHERE v.ood_set = 'KO') AS ood_ko,
		   max(v.accuracy) FILTER (WHERE v.ood_set = 'KOP') AS ood_kop,
		   max(v.accuracy) FILTER (WHERE v.ood_set = 'QT+KO') AS ood_qt_ko,
		   max(v.accuracy) FILTER (WHERE v.ood_set = 'KW+KO') AS ood_kw_ko,
		   max(v.accuracy) FILTER (WHERE v.ood_set = 'QT+KW+KO') AS ood_qt_kw_ko
	  FROM vqa_accuracy_vqavs_sets v WHERE v.run_id = a.run_id) s ON true;

GRANT SELECT ON vqa_accuracy_vqavs, vqa_accuracy_vqavs_sets TO PUBLIC;
