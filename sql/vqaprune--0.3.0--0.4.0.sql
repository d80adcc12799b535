-- vqaprune 0.3.0 -> 0.4.0: from a pre-trained LXMERT to the paper's pipeline.
--
-- vqa_import_safetensors takes pre-training and head-less checkpoints and
-- gives them an answer head for a dataset, transferring rows by answer
-- string from the checkpoint's own head; vqa_new_head does the same for a
-- stored model; vqa_load_answers gives a dataset a fixed answer list.

\echo Use "ALTER EXTENSION vqaprune UPDATE TO '0.4.0'" to load this file. \quit

-- A dataset's answer list as given by vqa_load_answers; NULL: derived from
-- its train split (min_answer_count).
ALTER TABLE vqaprune.datasets ADD COLUMN answer_list text[]
	CHECK (answer_list IS NULL OR (cardinality(answer_list) >= 1 AND array_position(answer_list, NULL) IS NULL));

DROP FUNCTION vqa_import_safetensors(text, text, jsonb, text);
CREATE FUNCTION vqa_import_safetensors(model text, weights_file text, config jsonb,
									   vocab_file text DEFAULT NULL, dataset text DEFAULT NULL,
									   qa_labels_file text DEFAULT NULL)
	RETURNS text AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vqa_import_safetensors(text, text, jsonb, text, text, text) IS
	'stores a HuggingFace LXMERT checkpoint (safetensors) as a model, with an answer head for a dataset if given';

CREATE FUNCTION vqa_new_head(model text, dataset text, name text DEFAULT NULL)
	RETURNS text AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vqa_new_head(text, text, text) IS
	'a new model: a stored model with an answer head for a dataset''s answers, rows transferred by answer';

CREATE FUNCTION vqa_load_answers(dataset text, answers_file text) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vqa_load_answers(text, text) IS
	'replaces a dataset''s answer vocabulary with a given list (NULL: derive it again); returns its size';

CREATE FUNCTION vqa_encode_question(model text, question text) RETURNS integer[]
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vqa_encode_question(text, text) IS
	'the input ids and attention mask (2 x question_tokens) a model is given for a question';

-- Region features stored as IEEE half (storage => 'float16'): half the bytes.
ALTER TABLE vqaprune.images ADD COLUMN features_half boolean NOT NULL DEFAULT false;
-- the float32-only length check, whatever its generated name
DO $$
BEGIN
	EXECUTE (SELECT pg_catalog.format('ALTER TABLE vqaprune.images DROP CONSTRAINT %I', c.conname)
			   FROM pg_catalog.pg_constraint c
			  WHERE c.conrelid OPERATOR(pg_catalog.=) 'vqaprune.images'::pg_catalog.regclass
				AND c.contype OPERATOR(pg_catalog.=) 'c'
				AND pg_catalog.pg_get_constraintdef(c.oid) LIKE '%length(features)%');
END
$$;
ALTER TABLE vqaprune.images ADD CONSTRAINT images_features_check
	CHECK (length(features) = CASE WHEN features_half THEN 2 ELSE 4 END * num_boxes * feature_dim);

DROP FUNCTION vqa_load_features(text, text);
CREATE FUNCTION vqa_load_features(dataset text, tsv_file text, storage text DEFAULT 'float32')
	RETURNS bigint AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vqa_load_features(text, text, text) IS
	'loads region features from an LXMERT obj36 or bottom-up attention TSV file, as float32 or float16';

DROP FUNCTION vqa_synthetic(text, integer, integer, integer, integer, integer, integer);
CREATE FUNCTION vqa_synthetic(dataset text, images integer DEFAULT 1000, seed integer DEFAULT 0,
							  boxes integer DEFAULT 10, feature_dim integer DEFAULT 64,
							  questions_per_image integer DEFAULT 6, min_answer_count integer DEFAULT 9,
							  storage text DEFAULT 'float32')
	RETURNS bigint AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vqa_synthetic(text, integer, integer, integer, integer, integer, integer, text) IS
	'generates the embedded VQA-CP-style benchmark: scenes, region features, questions, splits';

DROP FUNCTION vqa_floats(bytea);
CREATE FUNCTION vqa_floats(data bytea, storage text DEFAULT 'float32') RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vqa_floats(bytea, text) IS
	'little-endian float32 (or float16) bytes (features, boxes, tensor chunks) as a real array';

DO $$
DECLARE
	f text;
BEGIN
	FOREACH f IN ARRAY ARRAY['vqa_import_safetensors(text, text, jsonb, text, text, text)',
		'vqa_load_features(text, text, text)',
		'vqa_synthetic(text, integer, integer, integer, integer, integer, integer, text)',
		'vqa_new_head(text, text, text)', 'vqa_load_answers(text, text)'] LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION @extschema@.%s FROM PUBLIC', f);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.%s TO vqaprune_user', f);
	END LOOP;
END
$$;

-- One row per dataset, with its owner and where its answers come from.
CREATE OR REPLACE VIEW vqa_datasets WITH (security_invoker = true) AS
SELECT d.dataset_id, d.name AS dataset, d.source, d.owner, d.min_answer_count,
	   (SELECT count(*) FROM vqaprune.questions q WHERE q.dataset_id = d.dataset_id) AS questions,
	   (SELECT count(*) FROM vqaprune.images i WHERE i.dataset_id = d.dataset_id) AS images,
	   (SELECT count(*) FROM vqaprune.answers a WHERE a.dataset_id = d.dataset_id) AS answers,
	   d.created_at,
	   CASE WHEN d.answer_list IS NULL THEN 'train split' ELSE 'answer list' END AS answers_from
  FROM vqaprune.datasets d;
