-- Stage 2 from SQL: vqa_prune by magnitude and by mask training, the
-- sparsity scopes, Stage 3 on a pruned model, the A+B pipeline, vqa_compact,
-- and every bad input refused with nothing stored.
\getenv fixtures VQAPRUNE_FIXTURES
\getenv data VQAPRUNE_TEST_DATA
\set ON_ERROR_STOP 1
\set weights :fixtures/hf-lxmert/tiny/model.safetensors
\set config_file :fixtures/hf-lxmert/tiny/config.json
BEGIN;
SELECT plan(66);

CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- digest of the values of a model's tensors, optionally only the prunable or the head
CREATE FUNCTION pg_temp.weights(model text, which text DEFAULT 'all') RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(md5(c.data), ',' ORDER BY c.tensor_id, c.chunk))
	  FROM vqaprune.tensor_chunks c JOIN vqaprune.tensors t USING (model_id, tensor_id)
	  JOIN vqaprune.models m USING (model_id)
	 WHERE m.name = model AND (which = 'all' OR (which = 'prunable') = t.prunable)
	   AND (which <> 'other' OR t.module <> 'head')
$$;
CREATE FUNCTION pg_temp.mask_digest(model text) RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(md5(k.bits), ',' ORDER BY k.tensor_id, k.chunk))
	  FROM vqaprune.mask_chunks k JOIN vqaprune.models m USING (model_id) WHERE m.name = model
$$;
-- per prunable tensor: module, weights, and weights pruned (zero bits)
CREATE FUNCTION pg_temp.pruned(model text)
RETURNS TABLE (tensor text, module text, numel bigint, pruned bigint) LANGUAGE sql AS $$
	SELECT t.name, t.module, t.numel, t.numel - sum(bit_count(k.bits))
	  FROM vqaprune.tensors t JOIN vqaprune.models m USING (model_id)
	  LEFT JOIN vqaprune.mask_chunks k USING (model_id, tensor_id)
	 WHERE m.name = model AND t.prunable GROUP BY t.name, t.module, t.numel
$$;
CREATE FUNCTION pg_temp.logits(model text) RETURNS real[] LANGUAGE sql AS $$
	SELECT vqa_forward(model, ARRAY[[2, 7, 9, 3, 0, 0], [2, 11, 4, 8, 5, 3]],
		ARRAY[[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], NULL,
		ARRAY(SELECT ARRAY(SELECT ARRAY(SELECT sin(b * 97 + j * 13 + k)::real FROM generate_series(1, 32) k)
			FROM generate_series(1, 6) j) FROM generate_series(1, 2) b),
		ARRAY(SELECT ARRAY(SELECT ARRAY(SELECT (((b + j * k) % 7) / 7.0)::real FROM generate_series(1, 4) k)
			FROM generate_series(1, 6) j) FROM generate_series(1, 2) b))
$$;

SELECT lives_ok($$SELECT vqa_synthetic('prune_synth', images => 300, seed => 5, boxes => 6, feature_dim => 32)$$,
	'a small benchmark');
SELECT lives_ok($$SELECT vqa_create_model('base', 'prune_synth',
	'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1,
	  "r_layers": 1, "x_layers": 1, "max_position_embeddings": 24}', seed => 2)$$, 'a small model');
SELECT lives_ok($$SELECT vqa_finetune('base', 'prune_synth', 'bce',
	'{"name": "full", "epochs": 4, "lr": 0.002, "batch_size": 32, "seed": 7}')$$, 'fine-tuned with BCE');
CREATE TEMP TABLE full_weights AS SELECT pg_temp.weights('full') AS digest;

-- magnitude pruning: the weights unchanged, a mask at exactly the target
SELECT is(vqa_prune('full', 'bce', 0.7, 'magnitude'), 'full_magnitude_70', 'magnitude pruning names its model');
SELECT is(pg_temp.weights('full_magnitude_70'), (SELECT digest FROM full_weights),
	'the pruned model keeps the source weights');
SELECT is((SELECT count(*) FROM pg_temp.pruned('full_magnitude_70')
	WHERE pruned <> floor(numel * 0.7)), 0::bigint, 'every matrix loses exactly floor(0.7 n) weights');
SELECT is((SELECT count(*) FROM vqaprune.mask_chunks k JOIN vqaprune.tensors t USING (model_id, tensor_id)
	JOIN vqaprune.models m USING (model_id) WHERE m.name = 'full_magnitude_70' AND NOT t.prunable), 0::bigint,
	'only theta_pr has masks');
SELECT is((SELECT count(DISTINCT module) FROM pg_temp.pruned('full_magnitude_70')), 4::bigint,
	'language, visual, cross and the pooler are pruned');
SELECT results_eq($$SELECT parent, stage, method, loss, sparsity_target FROM vqa_models
	WHERE model = 'full_magnitude_70'$$,
	$$VALUES ('full'::text, 2, 'magnitude'::text, NULL::text, 0.7::float8)$$, 'with its lineage and target');
SELECT ok((SELECT abs((sparsity->>'overall')::float8 - 0.7) < 0.005 FROM vqa_models
	WHERE model = 'full_magnitude_70'), 'and its measured sparsity');

-- global scope: one ranking, floor(0.7 N) over all of theta_pr
SELECT lives_ok($$SELECT vqa_prune('full', 'bce', 0.7, 'magnitude', '{"scope": "global", "name": "global_70"}')$$,
	'global magnitude pruning');
SELECT is((SELECT sum(pruned) = floor(sum(numel) * 0.7) FROM pg_temp.pruned('global_70')), true,
	'prunes exactly floor(0.7 N) over theta_pr');
SELECT isnt(pg_temp.mask_digest('global_70'), pg_temp.mask_digest('full_magnitude_70'),
	'and differs from the per-matrix ranking');

-- module targets: each module's matrices at its target, the overall they imply reported
SELECT lives_ok($$SELECT vqa_prune('full', 'bce', NULL, 'magnitude',
	'{"scope": {"language": 0.6, "visual": 0.1, "cross": 0.6}, "name": "modules"}')$$, 'module targets');
SELECT is((SELECT count(*) FROM pg_temp.pruned('modules') WHERE module <> 'pooler' AND
	pruned <> floor(numel * CASE module WHEN 'visual' THEN 0.1 ELSE 0.6 END)), 0::bigint,
	'every matrix at its module''s target');
SELECT ok((SELECT abs(sparsity_target - (SELECT (0.6 * sum(numel) FILTER (WHERE module <> 'visual') +
	0.1 * sum(numel) FILTER (WHERE module = 'visual')) / sum(numel) FROM pg_temp.pruned('modules')
	WHERE module <> 'pooler')) < 1e-9 FROM vqa_models WHERE model = 'modules'),
	'the overall target is the one the module targets imply (Eq. 10)');
SELECT lives_ok($$SELECT vqa_prune('full', 'bce', 0.5, 'magnitude', '{"allocation": "paper", "name": "paper_50"}')$$,
	'the paper''s split at 0.5');
SELECT ok((SELECT abs((sparsity->>'overall')::float8 - 0.5) < 0.005 AND abs((sparsity->>'visual')::float8 - 0.04) < 0.005
	FROM vqa_models WHERE model = 'paper_50'), 'reaches 0.5 overall with the visual module at 4%');

-- mask training: scores and head trained, the rest frozen, exact sparsity
SELECT is(vqa_prune('full', 'lmh', 0.7, 'mask', '{"epochs": 3, "lr": 0.01, "batch_size": 64, "reset_steps": 7,
	"seed": 3, "eval_split": "test"}'), 'full_mask_lmh_70', 'mask training names its model');
SELECT is(pg_temp.weights('full_mask_lmh_70', 'other'), pg_temp.weights('full', 'other'),
	'every weight outside the answer head is the source''s');
SELECT isnt(pg_temp.weights('full_mask_lmh_70', 'head'), pg_temp.weights('full', 'head'),
	'the answer head is retrained');
SELECT is((SELECT count(*) FROM pg_temp.pruned('full_mask_lmh_70') WHERE pruned <> floor(numel * 0.7)),
	0::bigint, 'the last threshold reset leaves every matrix at exactly the target');
SELECT isnt(pg_temp.mask_digest('full_mask_lmh_70'), pg_temp.mask_digest('full_magnitude_70'),
	'the mask moved away from the magnitude mask it started from');
SELECT results_eq($$SELECT stage, method, loss FROM vqa_models WHERE model = 'full_mask_lmh_70'$$,
	$$VALUES (2, 'mask'::text, 'lmh'::text)$$, 'stored as Stage 2 with its loss');
SELECT is((SELECT jsonb_array_length(metrics->'epochs') FROM vqaprune.models WHERE name = 'full_mask_lmh_70'),
	3, 'with metrics per epoch');
SELECT lives_ok($$SELECT vqa_prune('full', 'lmh', 0.7, 'mask', '{"epochs": 3, "lr": 0.01, "batch_size": 64,
	"reset_steps": 7, "seed": 3, "eval_split": "test", "name": "again"}')$$, 'the same run again');
SELECT is(pg_temp.mask_digest('again'), pg_temp.mask_digest('full_mask_lmh_70'), 'gives the same mask');
SELECT lives_ok($$SELECT vqa_prune('full', 'bce', 0.3, 'mask', '{"epochs": 1, "init": "random", "name": "random_init"}')$$,
	'random score init');
SELECT is((SELECT count(*) FROM pg_temp.pruned('random_init') WHERE pruned <> floor(numel * 0.3)), 0::bigint,
	'reaches the target too');

-- Stage 3 keeps the mask and its zeros
SELECT is(vqa_finetune('full_mask_lmh_70', 'prune_synth', 'lmh', '{"epochs": 1, "lr": 0.001, "name": "stage3"}'),
	'stage3', 'Stage 3 on the subnetwork');
SELECT results_eq($$SELECT stage, sparsity_target FROM vqa_models WHERE model = 'stage3'$$,
	$$VALUES (3, 0.7::float8)$$, 'is Stage 3 at the same target');
SELECT is(pg_temp.mask_digest('stage3'), pg_temp.mask_digest('full_mask_lmh_70'), 'with the same mask');
SELECT ok((SELECT bool_and(x = 0) FROM vqaprune.tensor_chunks c
	JOIN vqaprune.mask_chunks k USING (model_id, tensor_id, chunk)
	JOIN vqaprune.models m USING (model_id),
	unnest(vqa_floats(c.data)) WITH ORDINALITY u(x, j)
	WHERE m.name = 'stage3' AND get_bit(k.bits, (j - 1)::integer) = 0), 'and its pruned weights exactly zero');

-- the paper's lpf+lmh in one call
SELECT is(vqa_pipeline('base', 'prune_synth', 'lpf', 'lmh', 0.5,
	options => '{"stage1": {"epochs": 2, "lr": 0.002, "name": "p_lpf"}, "stage2": {"epochs": 1, "name": "p_lpf_lmh"}}'),
	'p_lpf_lmh', 'vqa_pipeline runs lpf+lmh');
SELECT results_eq($$SELECT model, parent, stage, loss FROM vqa_models WHERE model IN ('p_lpf', 'p_lpf_lmh') ORDER BY stage$$,
	$$VALUES ('p_lpf'::text, 'base'::text, 1, 'lpf'::text), ('p_lpf_lmh', 'p_lpf', 2, 'lmh')$$,
	'each stage stored with its lineage');

-- compaction: kept values only, the same logits
SELECT is(vqa_compact('full_mask_lmh_70'), 'full_mask_lmh_70_compact', 'vqa_compact names the new model');
SET vqaprune.sparse_density = 0;
SELECT is(pg_temp.logits('full_mask_lmh_70_compact'), pg_temp.logits('full_mask_lmh_70'),
	'the compacted model gives identical logits');
-- with sparse kernels for every pruned matrix: the same to float rounding
SET vqaprune.sparse_density = 1;
SELECT ok((SELECT max(abs(a - b)) < 1e-5 FROM unnest(pg_temp.logits('full_mask_lmh_70_compact'),
	pg_temp.logits('full_mask_lmh_70')) u(a, b)), 'and the same logits with sparse kernels');
RESET vqaprune.sparse_density;
SELECT is(pg_temp.mask_digest('full_mask_lmh_70_compact'), pg_temp.mask_digest('full_mask_lmh_70'),
	'and keeps the mask');
SELECT ok((SELECT stored_bytes < 0.5 * dense_bytes AND compact FROM vqa_models WHERE model = 'full_mask_lmh_70_compact'),
	'and stores under half the dense bytes');
SELECT is((SELECT sum(stored_bytes) FROM vqa_model_modules WHERE model = 'full_mask_lmh_70_compact'),
	(SELECT stored_bytes::numeric FROM vqa_models WHERE model = 'full_mask_lmh_70_compact'),
	'the per-module bytes add up');

-- a pruned model exports as its subnetwork: pruned weights zero, the same logits
SELECT ok(vqa_export_safetensors('full_magnitude_70', :'data' || '/../pruned.safetensors') > 0,
	'a pruned model exports');
SELECT lives_ok(format('SELECT vqa_import_safetensors(%L, %L, %L::jsonb)', 'pruned_again',
	:'data' || '/../pruned.safetensors', (SELECT config FROM vqaprune.models WHERE name = 'full_magnitude_70')),
	'and imports back');
SELECT is(pg_temp.logits('pruned_again'), pg_temp.logits('full_magnitude_70'),
	'with the pruned model''s logits');

-- bad input: a clear error, nothing stored
CREATE TEMP TABLE model_count AS SELECT count(*) AS n FROM vqaprune.models;
SELECT is(pg_temp.error_of($$SELECT vqa_prune('full', 'lmh', 1.0)$$),
	'22023: sparsity must be in [0, 1), not 1', 'sparsity 1');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('full', 'lmh', -0.1)$$),
	'22023: sparsity must be in [0, 1), not -0.1', 'a negative sparsity');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('full', 'lmh', 0.5, 'snip')$$),
	'22023: unknown pruning method "snip"', 'an unknown method');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('full', 'focal', 0.5)$$),
	'22023: unknown loss "focal"', 'an unknown loss');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('full', 'lmh', 0.5, 'mask', '{"scope": "layer"}')$$),
	'22023: unknown scope "layer"', 'an unknown scope');
SELECT matches(pg_temp.error_of($$SELECT vqa_prune('full', 'lmh', 0.9, 'mask', '{"scope": {"language": 0, "visual": 0}}')$$),
	'^22023: the module targets cannot reach an overall sparsity of 0\.9: the other modules would need 1\.[0-9]{4}$',
	'module targets that cannot reach the overall');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('full', 'lmh', 0.7, 'magnitude', '{"epochs": 3}')$$),
	'22023: option "epochs" applies to mask training only', 'a training option for magnitude pruning');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('full', 'lmh', 0.7, 'mask', '{"allocation": "paper", "name": "x"}')$$),
	'22023: the paper gives module splits only for sparsity 0.5 and 0.9, not 0.7', 'no paper split at 0.7');
SELECT lives_ok(format('SELECT vqa_load_questions(%L, %L, %L, %L)', 'val_only', 'val',
	:'data' || '/vqa2_val_questions.json', :'data' || '/vqa2_val_annotations.json'), 'a dataset without train split');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('full', 'lmh', 0.5, 'mask', '{"dataset": "val_only"}')$$),
	'55000: loss "lmh" needs the answer prior of dataset "val_only", which has none',
	'a dataset without the prior');
SELECT lives_ok(format('SELECT vqa_import_safetensors(%L, %L, %L::jsonb)', 'hf_tiny', :'weights',
	pg_read_file(:'config_file')), 'a model imported without a dataset');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('hf_tiny', 'lmh', 0.5)$$),
	'55000: model "hf_tiny" has no dataset to train its masks on', 'mask training needs a dataset');
SELECT is(pg_temp.error_of($$SELECT vqa_compact('full')$$),
	'55000: model "full" is not pruned: it has no mask', 'compacting a model without a mask');
SELECT is(pg_temp.error_of($$SELECT vqa_compact('full_mask_lmh_70_compact', 'twice')$$),
	'55000: model "full_mask_lmh_70_compact" is compacted already', 'compacting twice');
SELECT is(pg_temp.error_of($$SELECT vqa_pipeline('base', 'prune_synth', 'lpf', 'lmh', 0.5, options => '{"stage4": {}}')$$),
	'22023: unknown option "stage4"', 'a pipeline option for no stage');
SELECT is(pg_temp.error_of($$SELECT vqa_pipeline('base', 'prune_synth', 'lpf', 'lmh', 0.5, options => '[]')$$),
	'22023: options must be a JSON object', 'pipeline options that are not an object');
SELECT is(pg_temp.error_of($$SELECT vqa_pipeline('base', 'prune_synth', 'lpf', 'lmh', 0.5, options => '{"stage3": {}}')$$),
	'22023: options for stage 3 given without a stage 3 loss', 'stage 3 options without a stage 3 loss');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('full', 'lmh', 0.5, 'mask', '{"keep_best": true, "name": "x"}')$$),
	'22023: keep_best needs an eval_split to choose the best epoch on', 'keep_best without an eval split');
SELECT is((SELECT count(*) FROM vqaprune.models), (SELECT n FROM model_count) + 1, 'no model was stored');

-- keep_best: the epoch best on the eval split is the one stored, at the target sparsity
SELECT lives_ok($$SELECT vqa_prune('full', 'lmh', 0.5, 'mask', '{"epochs": 3, "batch_size": 64, "lr": 1e-2,
	"eval_split": "val", "keep_best": true, "name": "best_mask"}')$$, 'mask training keeps its best epoch');
SELECT ok((SELECT (metrics->>'best_eval_accuracy')::float8 = (SELECT max((e->>'eval_accuracy')::float8)
		FROM jsonb_array_elements(metrics->'epochs') e)
	AND abs((sparsity->>'overall')::float8 - 0.5) < 0.01
	FROM vqaprune.models WHERE name = 'best_mask'), 'the best epoch''s accuracy, at the target sparsity');
SELECT is((SELECT options->>'loss_params' FROM vqaprune.models WHERE name = 'best_mask'), 'fixed',
	'mask training keeps the loss''s own parameters fixed, as the paper''s code does');

SELECT * FROM finish();
ROLLBACK;
