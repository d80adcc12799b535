-- vqaprune 0.1.0: compress and debias vision-language models for VQA.
--
-- Storage lives in the schema "vqaprune" (datasets, questions, answer
-- vocabulary, soft targets, priors, image features, models, tensors, masks,
-- evaluation runs, predictions, jobs). The functions and views users call are
-- created in the extension's schema. Every table and sequence is registered
-- with pg_extension_config_dump, so pg_dump and restore bring all rows back.

\echo Use "CREATE EXTENSION vqaprune" to load this file. \quit

CREATE SCHEMA vqaprune;
COMMENT ON SCHEMA vqaprune IS 'vqaprune storage: datasets, features, models, runs';

-- Datasets -----------------------------------------------------------------

CREATE TABLE vqaprune.datasets (
	dataset_id bigserial PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name <> ''),
	source text NOT NULL CHECK (source IN ('files', 'synthetic')),
	min_answer_count integer NOT NULL DEFAULT 9 CHECK (min_answer_count >= 1),
	options jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vqaprune.questions (
	dataset_id bigint NOT NULL REFERENCES vqaprune.datasets ON DELETE CASCADE,
	question_id bigint NOT NULL,
	split text NOT NULL,
	image_id bigint NOT NULL,
	coco_split text,
	question text NOT NULL,
	question_type text NOT NULL,
	answer_type text NOT NULL,
	multiple_choice_answer text NOT NULL,
	answers text[] NOT NULL,		-- the raw annotator answers
	PRIMARY KEY (dataset_id, question_id)
);
CREATE INDEX questions_split_idx ON vqaprune.questions (dataset_id, split);

-- The answer vocabulary: normalised multiple_choice_answer of train
-- questions occurring at least min_answer_count times.
CREATE TABLE vqaprune.answers (
	dataset_id bigint NOT NULL REFERENCES vqaprune.datasets ON DELETE CASCADE,
	answer_id integer NOT NULL,
	answer text NOT NULL,
	train_count integer NOT NULL,
	PRIMARY KEY (dataset_id, answer_id),
	UNIQUE (dataset_id, answer)
);

-- Soft targets min(1, count / 3) over the normalised annotator answers that
-- are in the vocabulary (empty arrays when none is).
CREATE TABLE vqaprune.targets (
	dataset_id bigint NOT NULL,
	question_id bigint NOT NULL,
	answer_ids integer[] NOT NULL,
	scores real[] NOT NULL,
	PRIMARY KEY (dataset_id, question_id),
	FOREIGN KEY (dataset_id, question_id) REFERENCES vqaprune.questions ON DELETE CASCADE
);

-- The per-question-type answer prior p_b of LMH, RUBi and LPF: mean soft
-- target per answer over the train questions of the type (not normalised).
CREATE TABLE vqaprune.priors (
	dataset_id bigint NOT NULL REFERENCES vqaprune.datasets ON DELETE CASCADE,
	question_type text NOT NULL,
	answer_id integer NOT NULL,
	prior real NOT NULL,
	PRIMARY KEY (dataset_id, question_type, answer_id)
);

-- Region features: little-endian float32, boxes normalised to [0, 1].
CREATE TABLE vqaprune.images (
	dataset_id bigint NOT NULL REFERENCES vqaprune.datasets ON DELETE CASCADE,
	image_id bigint NOT NULL,
	image_w integer NOT NULL CHECK (image_w > 0),
	image_h integer NOT NULL CHECK (image_h > 0),
	num_boxes integer NOT NULL CHECK (num_boxes > 0),
	feature_dim integer NOT NULL CHECK (feature_dim > 0),
	boxes bytea NOT NULL CHECK (length(boxes) = 16 * num_boxes),
	features bytea NOT NULL CHECK (length(features) = 4 * num_boxes * feature_dim),
	PRIMARY KEY (dataset_id, image_id)
);
-- floats barely compress: store out of line, uncompressed, sliceable
ALTER TABLE vqaprune.images ALTER COLUMN boxes SET STORAGE EXTERNAL;
ALTER TABLE vqaprune.images ALTER COLUMN features SET STORAGE EXTERNAL;

-- Models -------------------------------------------------------------------

CREATE TABLE vqaprune.models (
	model_id bigserial PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name <> ''),
	dataset_id bigint REFERENCES vqaprune.datasets,
	parent_id bigint REFERENCES vqaprune.models ON DELETE SET NULL,
	stage integer NOT NULL CHECK (stage BETWEEN 0 AND 3),
	loss text,
	method text,
	config jsonb NOT NULL,
	options jsonb NOT NULL DEFAULT '{}',
	sparsity_target double precision,
	sparsity jsonb,				-- measured, overall and per module
	metrics jsonb NOT NULL DEFAULT '{}',
	tokenizer_vocab text,		-- WordPiece vocab.txt
	answer_vocab text[],		-- the answer head's labels, in order
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vqaprune.tensors (
	model_id bigint NOT NULL REFERENCES vqaprune.models ON DELETE CASCADE,
	tensor_id integer NOT NULL,
	name text NOT NULL,
	shape integer[] NOT NULL,
	numel bigint NOT NULL CHECK (numel >= 0),
	module text,
	prunable boolean NOT NULL DEFAULT false,
	PRIMARY KEY (model_id, tensor_id),
	UNIQUE (model_id, name)
);

-- Tensor values: little-endian float32 in chunks of a few MB.
CREATE TABLE vqaprune.tensor_chunks (
	model_id bigint NOT NULL,
	tensor_id integer NOT NULL,
	chunk integer NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (model_id, tensor_id, chunk),
	FOREIGN KEY (model_id, tensor_id) REFERENCES vqaprune.tensors ON DELETE CASCADE
);
ALTER TABLE vqaprune.tensor_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- Pruning masks: one bit per weight, least significant bit first.
CREATE TABLE vqaprune.mask_chunks (
	model_id bigint NOT NULL,
	tensor_id integer NOT NULL,
	chunk integer NOT NULL,
	bits bytea NOT NULL,
	PRIMARY KEY (model_id, tensor_id, chunk),
	FOREIGN KEY (model_id, tensor_id) REFERENCES vqaprune.tensors ON DELETE CASCADE
);
ALTER TABLE vqaprune.mask_chunks ALTER COLUMN bits SET STORAGE EXTERNAL;

-- Evaluation ---------------------------------------------------------------

CREATE TABLE vqaprune.runs (
	run_id bigserial PRIMARY KEY,
	dataset_id bigint NOT NULL REFERENCES vqaprune.datasets ON DELETE CASCADE,
	split text NOT NULL,
	label text NOT NULL,
	source text NOT NULL CHECK (source IN ('import', 'prior', 'model')),
	model_id bigint REFERENCES vqaprune.models ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- accuracy: the official per-question accuracy in [0, 1], unrounded
CREATE TABLE vqaprune.predictions (
	run_id bigint NOT NULL REFERENCES vqaprune.runs ON DELETE CASCADE,
	question_id bigint NOT NULL,
	answer text NOT NULL,
	accuracy double precision NOT NULL CHECK (accuracy BETWEEN 0 AND 1),
	PRIMARY KEY (run_id, question_id)
);

-- Jobs ---------------------------------------------------------------------

CREATE TABLE vqaprune.jobs (
	job_id bigserial PRIMARY KEY,
	role_name name NOT NULL,
	database_name name NOT NULL,
	call text NOT NULL,
	status text NOT NULL DEFAULT 'queued'
		CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
	submitted_at timestamptz NOT NULL DEFAULT now(),
	started_at timestamptz,
	finished_at timestamptz,
	error_sqlstate text,
	error_message text,
	result text
);

SELECT pg_catalog.pg_extension_config_dump('vqaprune.datasets', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.datasets_dataset_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.questions', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.answers', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.targets', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.priors', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.images', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.models', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.tensors', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.tensor_chunks', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.mask_chunks', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.runs', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.predictions', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('vqaprune.jobs_job_id_seq', '');

-- Everyone may read what is stored; writing takes the owner's rights or
-- explicit grants (doc/storage.md).
GRANT USAGE ON SCHEMA vqaprune TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA vqaprune TO PUBLIC;

-- The official metric ------------------------------------------------------

CREATE FUNCTION vqa_normalize_answer(answer text) RETURNS text
	AS 'MODULE_PATHNAME', 'vqa_normalize_answer_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vqa_normalize_answer(text) IS
	'the official VQA normalisation of an answer (punctuation, number words, articles, contractions)';

CREATE FUNCTION vqa_answer_accuracy(prediction text, answers text[]) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vqa_answer_accuracy_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vqa_answer_accuracy(text, text[]) IS
	'the official VQA accuracy in [0, 1] of a prediction against the annotators'' answers';

CREATE FUNCTION vqa_round(value double precision, digits integer DEFAULT 2) RETURNS double precision
	AS 'MODULE_PATHNAME', 'vqa_round_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vqa_round(double precision, integer) IS
	'rounds as the official evaluation (Python round): ties to even on the exact binary value';

-- Datasets -----------------------------------------------------------------

CREATE FUNCTION vqa_load_questions(dataset text, split text, questions_file text,
								   annotations_file text, min_answer_count integer DEFAULT NULL)
	RETURNS bigint AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION vqa_load_questions(text, text, text, text, integer) IS
	'loads a VQA-CP v2 or VQA v2 question file and its annotations into a dataset split';

CREATE FUNCTION vqa_load_features(dataset text, tsv_file text) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION vqa_load_features(text, text) IS
	'loads region features from an LXMERT obj36 or bottom-up attention TSV file';

CREATE FUNCTION vqa_floats(data bytea) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vqa_floats(bytea) IS
	'little-endian float32 bytes (features, boxes, tensor chunks) as a real array';

CREATE FUNCTION vqa_synthetic(dataset text, images integer DEFAULT 1000, seed integer DEFAULT 0,
							  boxes integer DEFAULT 10, feature_dim integer DEFAULT 64,
							  questions_per_image integer DEFAULT 6, min_answer_count integer DEFAULT 9)
	RETURNS bigint AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION vqa_synthetic(text, integer, integer, integer, integer, integer, integer) IS
	'generates the embedded VQA-CP-style benchmark: scenes, region features, questions, splits';

CREATE FUNCTION vqa_drop_dataset(dataset text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id bigint;
	model text;
BEGIN
	SELECT d.dataset_id INTO id FROM vqaprune.datasets d WHERE d.name = dataset;
	IF id IS NULL THEN
		RAISE EXCEPTION 'dataset "%" does not exist', dataset
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT name FROM vqaprune.datasets lists the datasets.';
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
COMMENT ON FUNCTION vqa_drop_dataset(text) IS
	'removes a dataset with its questions, features, vocabulary, priors and runs';

-- Models -------------------------------------------------------------------

CREATE FUNCTION vqa_create_model(model text, dataset text, config jsonb DEFAULT '{}',
								 vocab_file text DEFAULT NULL, seed integer DEFAULT 0)
	RETURNS text AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION vqa_create_model(text, text, jsonb, text, integer) IS
	'makes a randomly initialised LXMERT whose answer head and inputs fit a dataset';

CREATE FUNCTION vqa_import_safetensors(model text, weights_file text, config jsonb,
									   vocab_file text DEFAULT NULL)
	RETURNS text AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION vqa_import_safetensors(text, text, jsonb, text) IS
	'stores a HuggingFace LXMERT checkpoint (safetensors) as a model';

CREATE FUNCTION vqa_export_safetensors(model text, weights_file text) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION vqa_export_safetensors(text, text) IS
	'writes a model as a HuggingFace safetensors checkpoint; returns the bytes written';

CREATE FUNCTION vqa_forward(model text, input_ids integer[], attention_mask integer[],
							token_type_ids integer[], visual_feats real[], visual_pos real[])
	RETURNS real[] AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION vqa_forward(text, integer[], integer[], integer[], real[], real[]) IS
	'the answer logits (batch x answers) of a model for a batch of inputs';

CREATE FUNCTION vqa_finetune(model text, dataset text, loss text DEFAULT 'bce',
							 options jsonb DEFAULT '{}') RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION vqa_finetune(text, text, text, jsonb) IS
	'trains a copy of a model on a dataset''s train split with a debiasing loss and stores it';

CREATE FUNCTION vqa_evaluate(model text, dataset text, split text DEFAULT 'test') RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION vqa_evaluate(text, text, text) IS
	'answers every question of a split with a model and stores the scored run';

-- Runs ---------------------------------------------------------------------

CREATE FUNCTION vqa_import_predictions(dataset text, split text, results_file text, label text)
	RETURNS bigint AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION vqa_import_predictions(text, text, text, text) IS
	'scores a standard VQA results file with the official metric and stores it as a run';

CREATE FUNCTION vqa_prior_baseline(dataset text, split text DEFAULT 'test', label text DEFAULT NULL)
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
		   @extschema@.vqa_answer_accuracy(coalesce(b.answer, ''), q.answers)
	  FROM vqaprune.questions q
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
COMMENT ON FUNCTION vqa_prior_baseline(text, text, text) IS
	'stores a run answering every question with the argmax of its type''s train prior';

-- Views --------------------------------------------------------------------

CREATE VIEW vqa_accuracy AS
SELECT r.run_id, r.label, d.name AS dataset, r.split,
	   count(*) AS questions,
	   vqa_round(100 * sum(p.accuracy) / count(*)) AS overall,
	   vqa_round(100 * sum(p.accuracy) FILTER (WHERE q.answer_type = 'yes/no')
				 / nullif(count(*) FILTER (WHERE q.answer_type = 'yes/no'), 0)) AS yes_no,
	   vqa_round(100 * sum(p.accuracy) FILTER (WHERE q.answer_type = 'number')
				 / nullif(count(*) FILTER (WHERE q.answer_type = 'number'), 0)) AS number,
	   vqa_round(100 * sum(p.accuracy) FILTER (WHERE q.answer_type = 'other')
				 / nullif(count(*) FILTER (WHERE q.answer_type = 'other'), 0)) AS other,
	   r.source, r.model_id, r.created_at
  FROM vqaprune.runs r
  JOIN vqaprune.datasets d USING (dataset_id)
  JOIN vqaprune.predictions p USING (run_id)
  JOIN vqaprune.questions q ON q.dataset_id = r.dataset_id AND q.question_id = p.question_id
 GROUP BY r.run_id, d.name;

CREATE VIEW vqa_accuracy_by_answer_type AS
SELECT r.run_id, r.label, d.name AS dataset, r.split, q.answer_type,
	   count(*) AS questions,
	   vqa_round(100 * sum(p.accuracy) / count(*)) AS accuracy
  FROM vqaprune.runs r
  JOIN vqaprune.datasets d USING (dataset_id)
  JOIN vqaprune.predictions p USING (run_id)
  JOIN vqaprune.questions q ON q.dataset_id = r.dataset_id AND q.question_id = p.question_id
 GROUP BY r.run_id, d.name, q.answer_type;

CREATE VIEW vqa_accuracy_by_question_type AS
SELECT r.run_id, r.label, d.name AS dataset, r.split, q.question_type, q.answer_type,
	   count(*) AS questions,
	   vqa_round(100 * sum(p.accuracy) / count(*)) AS accuracy
  FROM vqaprune.runs r
  JOIN vqaprune.datasets d USING (dataset_id)
  JOIN vqaprune.predictions p USING (run_id)
  JOIN vqaprune.questions q ON q.dataset_id = r.dataset_id AND q.question_id = p.question_id
 GROUP BY r.run_id, d.name, q.question_type, q.answer_type;

-- One row per dataset split: what a loader or the generator stored.
CREATE VIEW vqa_dataset_splits AS
SELECT d.name AS dataset, q.split,
	   count(*) AS questions,
	   count(DISTINCT q.image_id) AS images,
	   count(DISTINCT q.question_type) AS question_types,
	   count(*) FILTER (WHERE q.answer_type = 'yes/no') AS yes_no,
	   count(*) FILTER (WHERE q.answer_type = 'number') AS number,
	   count(*) FILTER (WHERE q.answer_type = 'other') AS other,
	   round(100.0 * count(*) FILTER (WHERE cardinality(t.answer_ids) > 0) / count(*), 2)
		   AS answerable_pct
  FROM vqaprune.datasets d
  JOIN vqaprune.questions q USING (dataset_id)
  LEFT JOIN vqaprune.targets t USING (dataset_id, question_id)
 GROUP BY d.name, q.split;

CREATE VIEW vqa_models AS
SELECT m.model_id, m.name AS model, d.name AS dataset, p.name AS parent,
	   m.stage, m.loss, m.method,
	   (SELECT sum(t.numel) FROM vqaprune.tensors t WHERE t.model_id = m.model_id)::bigint
		   AS parameters,
	   (SELECT sum(t.numel) FROM vqaprune.tensors t WHERE t.model_id = m.model_id AND t.prunable)::bigint
		   AS prunable,
	   m.sparsity_target, m.sparsity, m.metrics, m.created_at
  FROM vqaprune.models m
  LEFT JOIN vqaprune.datasets d USING (dataset_id)
  LEFT JOIN vqaprune.models p ON p.model_id = m.parent_id;
