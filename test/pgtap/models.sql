-- LXMERT models from SQL: import a HuggingFace checkpoint, run it against the
-- reference outputs, export it back byte for byte, make new models, and
-- reject bad input with a clear error and nothing stored.
\getenv fixtures VQAPRUNE_FIXTURES
\getenv data VQAPRUNE_TEST_DATA
\set ON_ERROR_STOP 1
\set tiny :fixtures '/hf-lxmert/tiny'
\set weights :tiny '/model.safetensors'
\set config_file :tiny '/config.json'
\set inputs :tiny '/inputs.safetensors'
\set outputs :tiny '/outputs.safetensors'
\set exported :data '/exported.safetensors'
BEGIN;
SELECT plan(35);

SELECT set_config('vqaprune_test.data', :'data', true);
SELECT set_config('vqaprune_test.tiny', :'tiny', true);
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || replace(replace(SQLERRM, current_setting('vqaprune_test.data'), '$DATA'),
									   current_setting('vqaprune_test.tiny'), '$TINY');
END
$$;

\ir helpers/safetensors.psql
-- an int64 tensor as a rows x cols int[]
CREATE FUNCTION pg_temp.st_ints(path text, tensor text, cols integer) RETURNS integer[] LANGUAGE sql AS $$
	SELECT array_agg(r ORDER BY i) FROM (
		SELECT i / cols AS i, array_agg(get_byte(b, 8 * i) + 256 * get_byte(b, 8 * i + 1) ORDER BY i) AS r
		  FROM (SELECT pg_temp.st_bytes(path, tensor) AS b) s,
			   generate_series(0, length(b) / 8 - 1) i
		 GROUP BY i / cols) rows
$$;
-- a float32 tensor as a d1 x d2 x d3 real[]
CREATE FUNCTION pg_temp.st_reals3(path text, tensor text, d2 integer, d3 integer) RETURNS real[] LANGUAGE sql AS $$
	WITH v AS (SELECT vqa_floats(pg_temp.st_bytes(path, tensor)) AS f),
	rows AS (SELECT i / d3 AS r, array_agg(f[i + 1] ORDER BY i) AS a
			   FROM v, generate_series(0, cardinality(f) - 1) i GROUP BY i / d3),
	mats AS (SELECT r / d2 AS m, array_agg(a ORDER BY r) AS a FROM rows GROUP BY r / d2)
	SELECT array_agg(a ORDER BY m) FROM mats
$$;

-- import the HuggingFace checkpoint
SELECT is(vqa_import_safetensors('hf_tiny', :'weights', pg_read_file(:'config_file')::jsonb),
	'hf_tiny', 'a HuggingFace checkpoint imports');
SELECT is((SELECT count(*) FROM vqaprune.tensors JOIN vqaprune.models m USING (model_id) WHERE m.name = 'hf_tiny'),
	153::bigint, 'with every tensor');
SELECT results_eq($$SELECT module, count(*)::integer FROM vqaprune.tensors JOIN vqaprune.models m USING (model_id)
	WHERE m.name = 'hf_tiny' AND prunable GROUP BY module ORDER BY module$$,
	$$VALUES ('cross', 32), ('language', 13), ('pooler', 1), ('visual', 8)$$,
	'theta_pr: word embeddings, visn_fc, box_fc, every layer''s linear weights, the pooler');

-- the logits of vqa_forward against HuggingFace's, within 1e-4
CREATE TEMP TABLE forward AS
SELECT vqa_forward('hf_tiny',
	pg_temp.st_ints(:'inputs', 'input_ids', 9),
	pg_temp.st_ints(:'inputs', 'attention_mask', 9),
	pg_temp.st_ints(:'inputs', 'token_type_ids', 9),
	pg_temp.st_reals3(:'inputs', 'visual_feats', 5, 24),
	pg_temp.st_reals3(:'inputs', 'visual_pos', 5, 4)) AS logits;
SELECT is((SELECT array_dims(logits) FROM forward), '[1:3][1:12]', 'logits are batch x answers');
SELECT ok((SELECT max(abs(a - b)) < 1e-4
	FROM forward, unnest(logits) WITH ORDINALITY x(a, i)
	JOIN unnest(vqa_floats(pg_temp.st_bytes(:'outputs', 'logits'))) WITH ORDINALITY y(b, i) USING (i)),
	'logits match HuggingFace within 1e-4');
SELECT ok((SELECT vqa_forward('hf_tiny', pg_temp.st_ints(:'inputs', 'input_ids', 9),
	pg_temp.st_ints(:'inputs', 'attention_mask', 9), NULL,
	pg_temp.st_reals3(:'inputs', 'visual_feats', 5, 24),
	pg_temp.st_reals3(:'inputs', 'visual_pos', 5, 4)) = logits FROM forward),
	'token types default to 0, and the same input gives the same logits');

-- export writes HuggingFace's own file back, byte for byte
SELECT is(vqa_export_safetensors('hf_tiny', :'exported'), 323472::bigint, 'export returns the bytes written');
SELECT is(md5(pg_read_binary_file(:'exported')), md5(pg_read_binary_file(:'weights')),
	'the exported file is identical to the imported one');
SELECT is(vqa_import_safetensors('hf_again', :'exported', pg_read_file(:'config_file')::jsonb),
	'hf_again', 'and imports again');
SELECT is((SELECT string_agg(md5(c.data), ',' ORDER BY t.name, c.chunk)
	FROM vqaprune.tensor_chunks c JOIN vqaprune.tensors t USING (model_id, tensor_id)
	JOIN vqaprune.models m USING (model_id) WHERE m.name = 'hf_again'),
	(SELECT string_agg(md5(c.data), ',' ORDER BY t.name, c.chunk)
	FROM vqaprune.tensor_chunks c JOIN vqaprune.tensors t USING (model_id, tensor_id)
	JOIN vqaprune.models m USING (model_id) WHERE m.name = 'hf_tiny'),
	'with bit-identical tensors');

-- a new model for a dataset: the head fits its answers, the inputs its features
SELECT lives_ok($$SELECT vqa_synthetic('synth_models', images => 200, seed => 3)$$, 'a dataset');
SELECT is(vqa_create_model('tiny', 'synth_models',
	'{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128, "l_layers": 2,
	  "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32}', seed => 1), 'tiny', 'a new model');
SELECT ok((SELECT (config->>'num_qa_labels')::integer = (SELECT count(*) FROM vqaprune.answers
	JOIN vqaprune.datasets d USING (dataset_id) WHERE d.name = 'synth_models')
	AND (config->>'visual_feat_dim')::integer = 64
	AND cardinality(answer_vocab) = (config->>'num_qa_labels')::integer
	AND (config->>'vocab_size')::integer = array_length(string_to_array(rtrim(tokenizer_vocab, E'\n'), E'\n'), 1)
	FROM vqaprune.models WHERE name = 'tiny'),
	'answers, features and the WordPiece vocabulary follow the dataset');
SELECT ok((SELECT abs(stddev_pop(x) - 0.02) < 0.001 FROM vqaprune.tensor_chunks c
	JOIN vqaprune.tensors t USING (model_id, tensor_id) JOIN vqaprune.models m USING (model_id),
	unnest(vqa_floats(c.data)) x WHERE m.name = 'tiny' AND t.name LIKE '%.weight' AND t.prunable),
	'weights are normal with std 0.02');
SELECT ok((SELECT bool_and(x = 1) FROM vqaprune.tensor_chunks c
	JOIN vqaprune.tensors t USING (model_id, tensor_id) JOIN vqaprune.models m USING (model_id),
	unnest(vqa_floats(c.data)) x WHERE m.name = 'tiny' AND t.name LIKE '%LayerNorm.weight'),
	'LayerNorm weights are 1');
SELECT ok((SELECT bool_and(x = 0) FROM vqaprune.tensor_chunks c
	JOIN vqaprune.tensors t USING (model_id, tensor_id) JOIN vqaprune.models m USING (model_id),
	unnest(vqa_floats(c.data)) x WHERE m.name = 'tiny' AND t.name LIKE '%.bias'),
	'biases are 0');
SELECT is((SELECT stage FROM vqa_models WHERE model = 'tiny'), 0, 'stage 0');

-- bad input: a clear error, and nothing stored
SELECT is(pg_temp.error_of($$SELECT vqa_create_model('tiny', 'synth_models')$$),
	'42710: model "tiny" already exists', 'an existing name');
SELECT is(pg_temp.error_of($$SELECT vqa_create_model('m2', 'nosuch')$$),
	'42704: dataset "nosuch" does not exist', 'an unknown dataset');
SELECT is(pg_temp.error_of($$SELECT vqa_create_model('m2', 'synth_models', '{"num_qa_labels": 7, "hidden_size": 8, "num_attention_heads": 2}')$$),
	'22023: config key "num_qa_labels" is 7, but the dataset''s answer vocabulary needs 10', 'a head that does not fit the answers');
SELECT is(pg_temp.error_of($$SELECT vqa_create_model('m2', 'synth_models', '{"hidden_size": 30, "num_attention_heads": 4}')$$),
	'22023: invalid LXMERT config: hidden_size must be a multiple of num_attention_heads', 'a bad config');
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L::jsonb || %L)', 'm2', :'weights',
	pg_read_file(:'config_file'), '{"l_layers": 3}')),
	'22023: tensor "lxmert.encoder.layer.2.attention.self.query.weight" [32, 32] is missing from "$TINY/model.safetensors"',
	'a missing tensor names itself and its shape');
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L::jsonb || %L)', 'm2', :'weights',
	pg_read_file(:'config_file'), '{"num_qa_labels": 10}')),
	'22023: tensor "answer_head.logit_fc.3.weight" has shape [12, 64] in "$TINY/model.safetensors", but the config needs [10, 64]',
	'a mis-shaped tensor names both shapes');
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L)', 'm2', :'config_file', '{}')),
	'22P02: invalid safetensors file "$TINY/config.json": header length 7165896756295633531 is larger than the file (1000 bytes after the length)',
	'not a safetensors file');
SELECT is(pg_temp.error_of($$SELECT vqa_forward('hf_tiny', ARRAY[[2, 5]], NULL, NULL, array_fill(0::real, ARRAY[1, 5, 23]), array_fill(0::real, ARRAY[1, 5, 4]))$$),
	'2202E: visual_feats must be a 1 x boxes x 24 array', 'features of the wrong size');
SELECT is(pg_temp.error_of($$SELECT vqa_forward('hf_tiny', ARRAY[[2, 64]], NULL, NULL, array_fill(0::real, ARRAY[1, 5, 24]), array_fill(0::real, ARRAY[1, 5, 4]))$$),
	'22023: token 1 is out of range: ids must be in [0, 64), token types in [0, 2)', 'a token id out of range');
SELECT is(pg_temp.error_of($$SELECT vqa_forward('nosuch', ARRAY[[2]], NULL, NULL, array_fill(0::real, ARRAY[1, 5, 24]), array_fill(0::real, ARRAY[1, 5, 4]))$$),
	'42704: model "nosuch" does not exist', 'an unknown model');
SELECT is((SELECT count(*) FROM vqaprune.models WHERE name = 'm2'), 0::bigint, 'no model was stored');

-- files on the server need the roles COPY needs
-- a member of the group, which may call every function
CREATE ROLE vqaprune_modeller IN ROLE vqaprune_user;
SET ROLE vqaprune_modeller;
SELECT is(pg_temp.error_of(format('SELECT vqa_export_safetensors(%L, %L)', 'hf_tiny', :'exported')),
	'42501: permission denied to write server files', 'export needs pg_write_server_files');
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L)', 'm3', :'weights', '{}')),
	'42501: permission denied to read server files', 'import needs pg_read_server_files');
RESET ROLE;

-- dropping a model: its rows go with it; models made from it keep theirs
SELECT is(pg_temp.error_of($$SELECT vqa_drop_model('nosuch')$$),
	'42704: model "nosuch" does not exist', 'an unknown model cannot be dropped');
SELECT is(vqa_drop_model(NULL), NULL, 'a null model drops nothing');
CREATE TEMP TABLE dropped AS SELECT model_id FROM vqaprune.models WHERE name = 'hf_tiny';
SELECT is(vqa_drop_model('hf_tiny'), true, 'vqa_drop_model drops a model');
SELECT is((SELECT count(*) FROM vqaprune.tensors t JOIN dropped USING (model_id))
	+ (SELECT count(*) FROM vqaprune.tensor_chunks c JOIN dropped USING (model_id)), 0::bigint,
	'with its tensors and chunks');
SELECT is((SELECT count(*) FROM vqaprune.models WHERE name = 'hf_again'), 1::bigint,
	'and other models stay');

SELECT * FROM finish();
ROLLBACK;
