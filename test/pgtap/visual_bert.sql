-- VisualBERT through every SQL function: HuggingFace checkpoints of both
-- heads import and answer as the PyTorch reference does (1e-5), export and
-- import again byte for byte; a model for the embedded benchmark fine-tunes
-- with every loss, prunes by magnitude and mask training over the authors'
-- prunable set, compacts, evaluates, gets a new head and runs as a job;
-- inconsistent configs, checkpoints of the other type and module-specific
-- sparsity are refused with nothing stored.
\getenv fixtures VQAPRUNE_FIXTURES
\getenv data VQAPRUNE_TEST_DATA
\set ON_ERROR_STOP 1
\set vb :fixtures '/visualbert/tiny'
\set config_file :vb '/config.json'
\set inputs :vb '/inputs.safetensors'
\set lxmert_weights :fixtures '/hf-lxmert/tiny/model.safetensors'
\set lxmert_config :fixtures '/hf-lxmert/tiny/config.json'
\set vocab :fixtures '/pretrained/vocab.txt'
\set exported :data '/visual_bert_exported.safetensors'
BEGIN;
SELECT plan(39);

SELECT set_config('vqaprune_test.fixtures', :'fixtures', true);
SELECT set_config('vqaprune_test.inputs', :'inputs', true);
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('vqaprune_test.fixtures'), '$FIXTURES');
END
$$;
\ir helpers/safetensors.psql
CREATE FUNCTION pg_temp.stored(model text, tensor text) RETURNS bytea LANGUAGE sql AS $$
	SELECT string_agg(c.data, ''::bytea ORDER BY c.chunk)
	  FROM vqaprune.tensor_chunks c JOIN vqaprune.tensors t USING (model_id, tensor_id)
	  JOIN vqaprune.models m USING (model_id) WHERE m.name = model AND t.name = tensor
$$;
-- the fixture batch (inputs.safetensors): 3 questions of 9 ids, 5 regions of 24 features;
-- without the mask, also without token types, as the authors call the model
CREATE FUNCTION pg_temp.fixture_logits(model text, with_mask boolean DEFAULT true) RETURNS real[]
LANGUAGE sql AS $$
	SELECT vqa_forward(model,
		ARRAY[[2, 5, 6, 7, 8, 19, 18, 3, 0], [2, 7, 12, 14, 20, 3, 54, 55, 3], [2, 9, 10, 39, 3, 0, 0, 0, 0]],
		CASE WHEN with_mask THEN
			ARRAY[[1, 1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0, 0]] END,
		CASE WHEN with_mask THEN
			ARRAY[[0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0]] END,
		(SELECT ARRAY(SELECT ARRAY(SELECT ARRAY(SELECT f[(b * 5 + j) * 24 + k + 1] FROM generate_series(0, 23) k)
				FROM generate_series(0, 4) j) FROM generate_series(0, 2) b)
		   FROM vqa_floats(pg_temp.st_bytes(current_setting('vqaprune_test.inputs'), 'visual_embeds')) f),
		NULL)
$$;
-- the largest difference between two float arrays of the same size, flattened
CREATE FUNCTION pg_temp.max_diff(a real[], b real[]) RETURNS float8 LANGUAGE sql AS $$
	SELECT max(abs(x - y)) FROM unnest(a, b) u(x, y)
$$;
CREATE FUNCTION pg_temp.flat(a real[]) RETURNS real[] LANGUAGE sql AS $$ SELECT array_agg(v) FROM unnest(a) v $$;
CREATE FUNCTION pg_temp.logits_tolerance_met(model text, outputs text, tensor text, with_mask boolean DEFAULT true)
RETURNS boolean LANGUAGE sql AS $$
	SELECT pg_temp.max_diff(pg_temp.flat(pg_temp.fixture_logits(model, with_mask)),
							vqa_floats(pg_temp.st_bytes(outputs, tensor))) < 1e-5
$$;

-- HuggingFace's VisualBertForQuestionAnswering and the authors' SimpleClassifier head
SELECT is(vqa_import_safetensors('vb_qa', :'vb' || '/qa/model.safetensors', pg_read_file(:'config_file')::jsonb),
	'vb_qa', 'a VisualBertForQuestionAnswering checkpoint imports');
SELECT ok(pg_temp.logits_tolerance_met('vb_qa', :'vb' || '/qa/outputs.safetensors', 'logits'),
	'its logits are the PyTorch reference''s within 1e-5');
SELECT is(array_dims(pg_temp.fixture_logits('vb_qa')), '[1:3][1:12]', 'one row of num_labels logits a question');
SELECT is(vqa_import_safetensors('vb_sc', :'vb' || '/simple-classifier/model.safetensors',
		pg_read_file(:'config_file')::jsonb || '{"answer_head": "simple_classifier"}'),
	'vb_sc', 'a checkpoint with the authors'' SimpleClassifier head (cls.main.*) imports');
SELECT ok(pg_temp.logits_tolerance_met('vb_sc', :'vb' || '/simple-classifier/outputs.safetensors', 'logits'),
	'its logits are the reference''s within 1e-5');
SELECT ok(pg_temp.logits_tolerance_met('vb_sc', :'vb' || '/simple-classifier/outputs.safetensors', 'no_mask.logits', false),
	'and without an attention mask, as the authors call it');
SELECT is((SELECT config->>'model_type' FROM vqaprune.models WHERE name = 'vb_qa'), 'visual_bert',
	'the stored config names the model type');

-- export and import again
SELECT cmp_ok(vqa_export_safetensors('vb_qa', :'exported'), '>', 0::bigint, 'vqa_export_safetensors writes it');
SELECT ok(pg_temp.st_bytes(:'exported', 'visual_bert.encoder.layer.1.attention.self.query.weight')
	= pg_temp.st_bytes(:'vb' || '/qa/model.safetensors', 'visual_bert.encoder.layer.1.attention.self.query.weight')
	AND pg_temp.st_bytes(:'exported', 'cls.weight') = pg_temp.st_bytes(:'vb' || '/qa/model.safetensors', 'cls.weight'),
	'with HuggingFace''s names: the body under visual_bert., the head as cls.*');
SELECT is(vqa_import_safetensors('vb_again', :'exported', pg_read_file(:'config_file')::jsonb), 'vb_again',
	'the exported file imports');
SELECT ok((SELECT bool_and(pg_temp.stored('vb_again', t.name) = pg_temp.stored('vb_qa', t.name))
	FROM vqaprune.tensors t JOIN vqaprune.models m USING (model_id) WHERE m.name = 'vb_qa'),
	'every tensor byte for byte');

-- the other model type's checkpoint, and inconsistent configs
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L)', 'x', :'lxmert_weights',
		pg_read_file(:'config_file'))),
	'22023: "$FIXTURES/hf-lxmert/tiny/model.safetensors" is a checkpoint of model_type "lxmert", but the config''s model_type is "visual_bert"',
	'an LXMERT checkpoint with a VisualBERT config');
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L)', 'x', :'vb' || '/qa/model.safetensors',
		pg_read_file(:'lxmert_config'))),
	'22023: "$FIXTURES/visualbert/tiny/qa/model.safetensors" is a checkpoint of model_type "visual_bert", but the config''s model_type is "lxmert"',
	'a VisualBERT checkpoint with an LXMERT config');
SELECT lives_ok($$SELECT vqa_synthetic('vbs', images => 200, seed => 4, boxes => 6, feature_dim => 24)$$,
	'a small benchmark');
SELECT is(pg_temp.error_of($$SELECT vqa_create_model('x', 'vbs', '{"model_type": "visual_bert", "x_layers": 2}')$$),
	'22023: config key "x_layers" is LXMERT''s, not VisualBERT''s: VisualBERT''s is "num_hidden_layers"', 'an LXMERT key in a VisualBERT config');
SELECT is(pg_temp.error_of($$SELECT vqa_create_model('x', 'vbs', '{"model_type": "visual_bert", "hidden_size": 30, "num_attention_heads": 4}')$$),
	'22023: invalid VisualBERT config: hidden_size must be a multiple of num_attention_heads', 'a hidden size the heads do not divide');
SELECT is(pg_temp.error_of($$SELECT vqa_create_model('x', 'vbs', '{"model_type": "visual_bert", "num_labels": 7}')$$),
	'22023: config key "num_labels" is 7, but the dataset''s answer vocabulary needs ' ||
	(SELECT count(*) FROM vqaprune.answers a JOIN vqaprune.datasets d USING (dataset_id) WHERE d.name = 'vbs'),
	'an answer count the dataset does not have');
SELECT is(pg_temp.error_of($$SELECT vqa_create_model('x', 'vbs', '{"model_type": "visual_bert", "visual_embedding_dim": 2048}')$$),
	'22023: config key "visual_embedding_dim" is 2048, but the dataset''s feature width needs 24',
	'a feature width the dataset does not have');
SELECT is((SELECT count(*) FROM vqaprune.models WHERE name = 'x'), 0::bigint, 'none of them stored a model');

-- a model for the benchmark, through the pipeline
SELECT is(vqa_create_model('vb', 'vbs', '{"model_type": "visual_bert", "hidden_size": 32, "num_attention_heads": 4,
		"intermediate_size": 64, "num_hidden_layers": 2, "max_position_embeddings": 24}', seed => 1), 'vb',
	'vqa_create_model makes a VisualBERT');
SELECT is((SELECT string_agg(t.name, ' ' ORDER BY t.name) FROM vqaprune.tensors t JOIN vqaprune.models m USING (model_id)
		WHERE m.name = 'vb' AND t.prunable),
	(SELECT string_agg(n, ' ' ORDER BY n) FROM (SELECT 'embeddings.word_embeddings.weight' UNION ALL SELECT 'pooler.dense.weight'
		UNION ALL SELECT format('encoder.layer.%s.%s.weight', l, w) FROM generate_series(0, 1) l,
			unnest(ARRAY['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense',
						 'intermediate.dense', 'output.dense']) w) s(n)),
	'the prunable set is the authors'' K, Q, V, AO, I, O, P, E');
SELECT is(vqa_finetune('vb', 'vbs', 'bce', '{"epochs": 3, "lr": 1e-3, "name": "vb_bce"}'), 'vb_bce', 'BCE fine-tuning');
SELECT ok((SELECT bool_and(vqa_finetune('vb_bce', 'vbs', loss, '{"epochs": 1}') = 'vb_bce_' || loss)
	FROM unnest(ARRAY['lmh', 'lpf', 'rubi', 'poe']) loss), 'then each debiasing loss');
SELECT ok((SELECT bool_and((metrics->'epochs'->-1->>'loss')::float8 BETWEEN 0 AND 1e6) AND count(*) = 5
	FROM vqa_models WHERE model LIKE 'vb_bce%'), 'each with a finite loss');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('vb_bce', 'vbs', 'rubi_qo', '{"epochs": 1}')$$),
	'22023: the question-only branch reads LXMERT''s language-only layers: the model has none',
	'the question-only branches need LXMERT''s language-only layers');
SELECT is(vqa_prune('vb_bce', 'bce', 0.5, 'magnitude'), 'vb_bce_magnitude_50', 'magnitude pruning');
SELECT is((SELECT sparsity FROM vqa_models WHERE model = 'vb_bce_magnitude_50'), '{"overall": 0.5}'::jsonb,
	'at the target over the prunable set');
SELECT is(vqa_prune('vb_bce', 'lmh', 0.7, 'mask', '{"epochs": 2}'), 'vb_bce_mask_lmh_70', 'mask training with LMH');
SELECT ok((SELECT abs((sparsity->>'overall')::float8 - 0.7) < 0.005 FROM vqa_models WHERE model = 'vb_bce_mask_lmh_70'),
	'at 0.7 within 0.005');
SELECT ok((SELECT bool_and(pg_temp.stored('vb_bce_mask_lmh_70', t.name) = pg_temp.stored('vb_bce', t.name))
	FROM vqaprune.tensors t JOIN vqaprune.models m USING (model_id)
	WHERE m.name = 'vb_bce' AND t.name LIKE 'embeddings.visual_projection.%'),
	'the visual projection is neither pruned nor trained');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('vb_bce', 'lmh', 0.5, 'mask', '{"allocation": "paper"}')$$),
	'22023: VisualBERT has no modules to give their own sparsity', 'the paper''s module split is refused');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('vb_bce', 'bce', 0.5, 'magnitude', '{"scope": {"language": 0.6}, "name": "y"}')$$),
	'22023: VisualBERT has no modules to give their own sparsity', 'so are module targets');
SELECT is(vqa_compact('vb_bce_mask_lmh_70'), 'vb_bce_mask_lmh_70_compact', 'vqa_compact');
SELECT ok(vqa_evaluate('vb_bce_mask_lmh_70', 'vbs', 'test') IS NOT NULL
	AND vqa_evaluate('vb_bce_mask_lmh_70_compact', 'vbs', 'test') IS NOT NULL, 'both evaluate');
SELECT is((SELECT count(DISTINCT round(overall::numeric, 6)) FROM vqa_accuracy
	WHERE label IN ('vb_bce_mask_lmh_70', 'vb_bce_mask_lmh_70_compact') AND split = 'test'), 1::bigint,
	'the compacted model scores as its parent');
SELECT ok(pg_temp.max_diff(pg_temp.flat(vqa_forward('vb_bce_mask_lmh_70', ARRAY[[2, 5, 6, 3]], NULL, NULL,
		array_fill(0.25::real, ARRAY[1, 6, 24]), NULL)),
	pg_temp.flat(vqa_forward('vb_bce_mask_lmh_70_compact', ARRAY[[2, 5, 6, 3]], NULL, NULL,
		array_fill(0.25::real, ARRAY[1, 6, 24]), NULL))) < 1e-5, 'and answers as it does within 1e-5');
SELECT is(vqa_new_head('vb_qa', 'vbs', 'vb_qa_vbs'), 'vb_qa_vbs', 'vqa_new_head gives an imported model a head for a dataset');
SELECT ok(pg_temp.stored('vb_qa_vbs', 'encoder.layer.0.output.dense.weight') = pg_temp.stored('vb_qa', 'encoder.layer.0.output.dense.weight'),
	'keeping its body');
SELECT ok(vqa_submit($$SELECT vqa_prune('vb_bce', 'lmh', 0.3)$$) > 0, 'a VisualBERT job queues');

SELECT * FROM finish();
ROLLBACK;
