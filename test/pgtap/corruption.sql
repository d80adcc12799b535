-- Rows read back from vqaprune's own tables are checked before they size or
-- index memory: each corruption a superuser could make (a short, missing or
-- renumbered tensor chunk, a bad mask chunk, a corrupted compacted tensor,
-- target arrays of the wrong shape or with negative answer ids, feature
-- bytes that disagree with the box count, a negative prior answer id, a null
-- where a column is NOT NULL) fails
-- with data_corrupted (XX001), never a crash. And the backend's model cache
-- never serves a model that is no longer the one stored: after a model is
-- made again under the same name and id, after its rows change behind
-- vqaprune's back, and after DROP EXTENSION and CREATE EXTENSION.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(29);

-- The outcome of call after corruption; the corruption is undone either way.
CREATE FUNCTION pg_temp.after(corruption text, call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	outcome text := 'no error';
BEGIN
	BEGIN
		EXECUTE corruption;
		BEGIN
			EXECUTE call;
		EXCEPTION WHEN OTHERS THEN
			outcome := SQLSTATE;
		END;
		RAISE EXCEPTION 'undo';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
	RETURN outcome;
END
$$;
CREATE FUNCTION pg_temp.model_id(model text) RETURNS bigint LANGUAGE sql AS $$
	SELECT model_id FROM vqaprune.models WHERE name = model
$$;
-- logits of a model for one fixed input, as text
CREATE FUNCTION pg_temp.logits(model text) RETURNS text LANGUAGE sql AS $$
	SELECT vqa_forward(model, ARRAY[[2, 5, 3]], NULL, NULL, array_fill(0.5::real, ARRAY[1, 4, 16]),
					   array_fill(0.25::real, ARRAY[1, 4, 4]))::text
$$;

SELECT lives_ok($$SELECT vqa_synthetic('cs', images => 80, seed => 4, boxes => 4, feature_dim => 16)$$,
	'a small benchmark');
SELECT lives_ok($$SELECT vqa_create_model('cm', 'cs', '{"hidden_size": 16, "num_attention_heads": 2,
	"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}', seed => 1)$$, 'a small model');
SELECT lives_ok($$SELECT vqa_prune('cm', 'bce', 0.5, 'magnitude', '{"name": "cm_pruned"}')$$, 'pruned');
SELECT lives_ok($$SELECT vqa_compact('cm_pruned', 'cm_compact')$$, 'and compacted');
SELECT is(pg_temp.after('SELECT 1', $$SELECT vqa_evaluate('cm', 'cs', 'test')$$), 'no error',
	'the intact model evaluates');

-- tensor chunks
SELECT is(pg_temp.after(format('UPDATE vqaprune.tensor_chunks SET data = substr(data, 1, 100) '
	'WHERE model_id = %s AND tensor_id = 0', pg_temp.model_id('cm')),
	$$SELECT vqa_evaluate('cm', 'cs', 'test')$$), 'XX001', 'a short tensor chunk');
SELECT is(pg_temp.after(format('DELETE FROM vqaprune.tensor_chunks WHERE model_id = %s AND tensor_id = 5',
	pg_temp.model_id('cm')), $$SELECT vqa_evaluate('cm', 'cs', 'test')$$), 'XX001', 'a missing tensor chunk');
SELECT is(pg_temp.after(format('UPDATE vqaprune.tensor_chunks SET chunk = 1 WHERE model_id = %s AND tensor_id = 2',
	pg_temp.model_id('cm')), $$SELECT vqa_evaluate('cm', 'cs', 'test')$$), 'XX001', 'a renumbered tensor chunk');
SELECT is(pg_temp.after(format('UPDATE vqaprune.tensor_chunks SET chunk = -1 WHERE model_id = %s AND tensor_id = 2',
	pg_temp.model_id('cm')), $$SELECT pg_temp.logits('cm')$$), 'XX001', 'a negative chunk number, in vqa_forward');
SELECT is(pg_temp.after(format('UPDATE vqaprune.tensor_chunks SET data = data || data WHERE model_id = %s AND tensor_id = 7',
	pg_temp.model_id('cm')), $$SELECT vqa_finetune('cm', 'cs', 'bce', '{"epochs": 1}')$$), 'XX001',
	'a long tensor chunk, in vqa_finetune');

-- masks and compacted tensors
SELECT is(pg_temp.after(format('UPDATE vqaprune.mask_chunks SET bits = substr(bits, 1, 3) '
	'WHERE model_id = %s AND tensor_id = (SELECT min(tensor_id) FROM vqaprune.mask_chunks WHERE model_id = %1$s)',
	pg_temp.model_id('cm_pruned')), $$SELECT vqa_evaluate('cm_pruned', 'cs', 'test')$$), 'XX001', 'a short mask chunk');
SELECT is(pg_temp.after(format('UPDATE vqaprune.mask_chunks SET chunk = 3 '
	'WHERE model_id = %s AND tensor_id = (SELECT max(tensor_id) FROM vqaprune.mask_chunks WHERE model_id = %1$s)',
	pg_temp.model_id('cm_pruned')), $$SELECT vqa_compact('cm_pruned', 'again')$$), 'XX001',
	'a renumbered mask chunk, in vqa_compact');
SELECT is(pg_temp.after(format('UPDATE vqaprune.tensor_chunks SET data = substr(data, 1, length(data) - 5) '
	'WHERE model_id = %s AND tensor_id = (SELECT min(tensor_id) FROM vqaprune.tensors WHERE model_id = %1$s AND compact)',
	pg_temp.model_id('cm_compact')), $$SELECT vqa_evaluate('cm_compact', 'cs', 'test')$$), 'XX001',
	'a truncated compacted tensor');
SELECT is(pg_temp.after(format('UPDATE vqaprune.mask_chunks SET bits = set_bit(bits, 0, 1 - get_bit(bits, 0)) '
	'WHERE model_id = %s AND tensor_id = (SELECT min(tensor_id) FROM vqaprune.mask_chunks WHERE model_id = %1$s)',
	pg_temp.model_id('cm_compact')), $$SELECT vqa_evaluate('cm_compact', 'cs', 'test')$$), 'XX001',
	'a compacted tensor whose mask no longer matches its values');

-- dataset rows
SELECT is(pg_temp.after($$UPDATE vqaprune.targets SET answer_ids[1] = -3
	WHERE dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'cs') AND cardinality(answer_ids) > 0$$,
	$$SELECT vqa_finetune('cm', 'cs', 'bce', '{"epochs": 1}')$$), 'XX001', 'a negative answer id in targets');
SELECT is(pg_temp.after($$UPDATE vqaprune.targets SET scores = '{}'
	WHERE dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'cs') AND cardinality(answer_ids) > 0$$,
	$$SELECT vqa_finetune('cm', 'cs', 'bce', '{"epochs": 1}')$$), 'XX001', 'target arrays of different lengths');
SELECT is(pg_temp.after($$UPDATE vqaprune.targets SET answer_ids = ARRAY[[0, 1], [1, 0]], scores = ARRAY[[1, 1], [1, 1]]::real[]
	WHERE dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'cs')$$,
	$$SELECT vqa_finetune('cm', 'cs', 'bce', '{"epochs": 1}')$$), 'XX001', 'two-dimensional target arrays');
SELECT is(pg_temp.after($$DO $d$ BEGIN EXECUTE (SELECT format('ALTER TABLE vqaprune.images DROP CONSTRAINT %I', conname)
		FROM pg_constraint WHERE conrelid = 'vqaprune.images'::regclass AND contype = 'c'
		AND pg_get_constraintdef(oid) LIKE '%length(features)%'); END $d$;
	UPDATE vqaprune.images SET features = substr(features, 1, 8)
	WHERE dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'cs')$$,
	$$SELECT vqa_evaluate('cm', 'cs', 'test')$$), 'XX001', 'feature bytes that disagree with the box count');
SELECT is(pg_temp.after($$UPDATE vqaprune.priors SET answer_id = -1
	WHERE (dataset_id, question_type, answer_id) = (SELECT dataset_id, question_type, answer_id
		FROM vqaprune.priors WHERE dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'cs') LIMIT 1)$$,
	$$SELECT vqa_finetune('cm', 'cs', 'lmh', '{"epochs": 1}')$$), 'XX001', 'a negative answer id in priors');

-- nulls where the tables say NOT NULL
SELECT is(pg_temp.after($$ALTER TABLE vqaprune.priors ALTER COLUMN prior DROP NOT NULL;
	UPDATE vqaprune.priors SET prior = NULL WHERE dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'cs')$$,
	$$SELECT vqa_finetune('cm', 'cs', 'lmh', '{"epochs": 1}')$$), 'XX001', 'a null prior');
SELECT is(pg_temp.after(format('ALTER TABLE vqaprune.tensor_chunks ALTER COLUMN data DROP NOT NULL; '
	'UPDATE vqaprune.tensor_chunks SET data = NULL WHERE model_id = %s AND tensor_id = 3', pg_temp.model_id('cm')),
	$$SELECT vqa_evaluate('cm', 'cs', 'test')$$), 'XX001', 'a null tensor chunk');
SELECT is(pg_temp.after($$ALTER TABLE vqaprune.questions ALTER COLUMN question_type DROP NOT NULL;
	UPDATE vqaprune.questions SET question_type = NULL WHERE dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'cs')$$,
	$$SELECT vqa_evaluate('cm', 'cs', 'test')$$), 'XX001', 'a null question type');

-- the model cache: a model made again under the same name and id
SELECT lives_ok($$SELECT vqa_create_model('ref', 'cs', '{"hidden_size": 16, "num_attention_heads": 2,
	"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}', seed => 9)$$, 'a reference model');
CREATE TEMP TABLE seen AS SELECT pg_temp.logits('ref') AS ref, pg_temp.model_id('cm') AS id;
ALTER TABLE seen ADD COLUMN old text;
UPDATE seen SET old = pg_temp.logits('cm');		-- now in the cache
DELETE FROM vqaprune.models WHERE model_id = (SELECT id FROM seen);
SELECT setval('vqaprune.models_model_id_seq', (SELECT id FROM seen), false);
SELECT vqa_create_model('cm', 'cs', '{"hidden_size": 16, "num_attention_heads": 2,
	"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}', seed => 9);
SELECT is(pg_temp.model_id('cm'), (SELECT id FROM seen), 'a new model under the same name and id');
SELECT is(pg_temp.logits('cm'), (SELECT ref FROM seen), 'answers with its own weights, not the cached ones');

-- rows changed behind vqaprune's back
UPDATE vqaprune.tensor_chunks SET data = (SELECT data FROM vqaprune.tensor_chunks c
	WHERE c.model_id = pg_temp.model_id('ref') AND c.tensor_id = tensor_chunks.tensor_id AND c.chunk = tensor_chunks.chunk)
 WHERE model_id = pg_temp.model_id('cm') AND tensor_id = 0;
SELECT is(pg_temp.logits('cm'), (SELECT ref FROM seen), 'a chunk rewritten with the same values: the same logits');
UPDATE vqaprune.tensor_chunks SET data = (SELECT data FROM vqaprune.tensor_chunks c
	WHERE c.model_id = pg_temp.model_id('cm_pruned') AND c.tensor_id = tensor_chunks.tensor_id AND c.chunk = tensor_chunks.chunk)
 WHERE model_id = pg_temp.model_id('cm');
SELECT is(pg_temp.logits('cm'), (SELECT old FROM seen), 'every chunk replaced by the first model''s: its logits');

-- DROP EXTENSION and CREATE EXTENSION in one session: ids start again
UPDATE seen SET old = pg_temp.logits('cm'), id = pg_temp.model_id('cm');
DROP EXTENSION vqaprune;
CREATE EXTENSION vqaprune;
SELECT vqa_synthetic('cs', images => 80, seed => 4, boxes => 4, feature_dim => 16);
SELECT setval('vqaprune.models_model_id_seq', (SELECT id FROM seen), false);
SELECT vqa_create_model('cm', 'cs', '{"hidden_size": 16, "num_attention_heads": 2,
	"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}', seed => 9);
SELECT is(pg_temp.model_id('cm'), (SELECT id FROM seen), 'after the extension is made again, the same id');
SELECT is(pg_temp.logits('cm'), (SELECT ref FROM seen), 'and the new model''s own logits');

SELECT * FROM finish();
ROLLBACK;
