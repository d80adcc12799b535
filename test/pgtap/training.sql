-- Fine-tuning and evaluation from SQL: a small LXMERT trained on the
-- embedded benchmark with each loss, stored with its lineage, reproducible,
-- scored with the official metric, and every bad input refused with nothing
-- stored.
\getenv data VQAPRUNE_TEST_DATA
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(59);

CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- digest of a model's weights
CREATE FUNCTION pg_temp.weights(model text) RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(md5(c.data), ',' ORDER BY c.tensor_id, c.chunk))
	  FROM vqaprune.tensor_chunks c JOIN vqaprune.models m USING (model_id) WHERE m.name = model
$$;

SELECT lives_ok($$SELECT vqa_synthetic('train_synth', images => 300, seed => 5, boxes => 6, feature_dim => 32)$$,
	'a small benchmark');
SELECT lives_ok($$SELECT vqa_create_model('small', 'train_synth',
	'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1,
	  "r_layers": 1, "x_layers": 1, "max_position_embeddings": 24}', seed => 2)$$, 'a small model');
CREATE TEMP TABLE before AS SELECT pg_temp.weights('small') AS digest;

-- BCE, Stage 1
SELECT is(vqa_finetune('small', 'train_synth', 'bce',
	'{"epochs": 4, "lr": 0.002, "batch_size": 32, "eval_split": "val", "seed": 7}'),
	'small_bce', 'fine-tuning returns the new model''s name');
SELECT is(pg_temp.weights('small'), (SELECT digest FROM before), 'the source model is unchanged');
SELECT isnt(pg_temp.weights('small_bce'), (SELECT digest FROM before), 'the new model has new weights');
SELECT results_eq($$SELECT parent, stage, loss, dataset FROM vqa_models WHERE model = 'small_bce'$$,
	$$VALUES ('small'::text, 1, 'bce'::text, 'train_synth'::text)$$, 'with its lineage');
SELECT is((SELECT jsonb_array_length(metrics->'epochs') FROM vqaprune.models WHERE name = 'small_bce'),
	4, 'and a metrics entry per epoch');
SELECT ok((SELECT (metrics->'epochs'->3->>'loss')::float8 < (metrics->'epochs'->0->>'loss')::float8
	FROM vqaprune.models WHERE name = 'small_bce'), 'the training loss falls');
SELECT ok((SELECT (metrics->'epochs'->3->>'eval_accuracy')::float8 > 40
	FROM vqaprune.models WHERE name = 'small_bce'), 'and the model learns the val split (soft accuracy > 40)');
SELECT is((SELECT options->>'lr' FROM vqaprune.models WHERE name = 'small_bce'), '0.002',
	'the options used are stored');

-- the same seed gives the same model
SELECT lives_ok($$SELECT vqa_finetune('small', 'train_synth', 'bce',
	'{"name": "small_bce_again", "epochs": 4, "lr": 0.002, "batch_size": 32, "eval_split": "val", "seed": 7}')$$,
	'the same run again');
SELECT is(pg_temp.weights('small_bce_again'), pg_temp.weights('small_bce'), 'gives identical weights');

-- evaluation with the official metric
SELECT ok(vqa_evaluate('small_bce', 'train_synth', 'val') > 0, 'evaluation returns a run');
SELECT is((SELECT questions FROM vqa_accuracy WHERE label = 'small_bce' AND split = 'val'),
	(SELECT count(*) FROM vqaprune.questions q JOIN vqaprune.datasets d USING (dataset_id)
	  WHERE d.name = 'train_synth' AND q.split = 'val'), 'every question of the split is answered');
SELECT ok((SELECT overall > 40 FROM vqa_accuracy WHERE label = 'small_bce' AND split = 'val'),
	'and scored with the official metric');
SELECT is((SELECT count(*) FROM vqaprune.predictions p JOIN vqaprune.runs r USING (run_id)
	WHERE r.label = 'small_bce' AND p.answer NOT IN
	(SELECT unnest(answer_vocab) FROM vqaprune.models WHERE name = 'small_bce')), 0::bigint,
	'answers come from the model''s answer labels');

-- Stage 3: fine-tuning a model with a mask keeps pruned weights at exactly zero
INSERT INTO vqaprune.mask_chunks (model_id, tensor_id, chunk, bits)
SELECT t.model_id, t.tensor_id, 0, decode(repeat('55', ((t.numel + 7) / 8)::integer), 'hex')
  FROM vqaprune.tensors t JOIN vqaprune.models m USING (model_id)
 WHERE m.name = 'small_bce_again' AND t.prunable;
SELECT is(vqa_finetune('small_bce_again', 'train_synth', 'bce', '{"name": "stage3", "epochs": 1, "lr": 0.001}'),
	'stage3', 'a masked model fine-tunes');
SELECT is((SELECT string_agg(md5(c.bits), ',' ORDER BY c.tensor_id) FROM vqaprune.mask_chunks c
	JOIN vqaprune.models m USING (model_id) WHERE m.name = 'stage3'),
	(SELECT string_agg(md5(c.bits), ',' ORDER BY c.tensor_id) FROM vqaprune.mask_chunks c
	JOIN vqaprune.models m USING (model_id) WHERE m.name = 'small_bce_again'),
	'the new model keeps the mask');
SELECT ok((SELECT bool_and(x = 0) FROM vqaprune.tensor_chunks c
	JOIN vqaprune.mask_chunks k USING (model_id, tensor_id, chunk)
	JOIN vqaprune.models m USING (model_id),
	unnest(vqa_floats(c.data)) WITH ORDINALITY u(x, j)
	WHERE m.name = 'stage3' AND get_bit(k.bits, (j - 1)::integer) = 0), 'pruned weights are exactly zero');
SELECT ok((SELECT count(*) FILTER (WHERE a.x <> b.x) > 0 FROM
	(SELECT t.name, j, x FROM vqaprune.tensor_chunks c JOIN vqaprune.tensors t USING (model_id, tensor_id)
	   JOIN vqaprune.models m USING (model_id), unnest(vqa_floats(c.data)) WITH ORDINALITY u(x, j)
	  WHERE m.name = 'stage3' AND t.prunable) a
	JOIN (SELECT t.name, j, x FROM vqaprune.tensor_chunks c JOIN vqaprune.tensors t USING (model_id, tensor_id)
	   JOIN vqaprune.models m USING (model_id), unnest(vqa_floats(c.data)) WITH ORDINALITY u(x, j)
	  WHERE m.name = 'small_bce_again' AND t.prunable) b USING (name, j)
	WHERE a.x <> 0), 'kept weights are trained');

-- every debiasing loss trains
SELECT lives_ok(format($$SELECT vqa_finetune('small_bce', 'train_synth', %L, '{"epochs": 1, "lr": 0.0005}')$$, l),
	l || ' fine-tunes') FROM unnest(ARRAY['lmh', 'rubi', 'lpf', 'poe', 'rubi_qo', 'lpf_qo']) l;
SELECT is((SELECT count(*) FROM vqa_models WHERE parent = 'small_bce'), 6::bigint, 'six models from small_bce');

-- bad input: a clear error and nothing stored
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'focal')$$),
	'22023: unknown loss "focal"', 'an unknown loss');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('nosuch', 'train_synth')$$),
	'42704: model "nosuch" does not exist', 'an unknown model');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'nosuch')$$),
	'42704: dataset "nosuch" does not exist', 'an unknown dataset');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"name": "small_bce"}')$$),
	'42710: model "small_bce" already exists', 'an existing name');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"epoch": 3}')$$),
	'22023: unknown option "epoch"', 'a misspelt option');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"lr": 0}')$$),
	'22023: epochs, batch_size and lr must be positive', 'a non-positive lr');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"batch_size": -1}')$$),
	'22023: epochs, batch_size and lr must be positive', 'a non-positive batch');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"optimizer": "sgd"}')$$),
	'22023: unknown optimizer "sgd"', 'an unknown optimizer');
SELECT lives_ok($$SELECT vqa_synthetic('other_synth', images => 100, seed => 9, boxes => 6, feature_dim => 32)$$,
	'another dataset');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'other_synth', 'bce', '{"name": "small_other"}')$$),
	'22023: the answer head of model "small" does not match the answer vocabulary of dataset "other_synth"',
	'a head made for another dataset');
SELECT matches(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'bce',
	'{"name": "exploded", "lr": 1e30, "max_grad_norm": 0, "epochs": 3}')$$),
	'^22003: the loss is not finite at step [0-9]+ \(epoch [0-9]\)$', 'a diverging run stops at its step');
SELECT is((SELECT count(*) FROM vqaprune.models WHERE name IN ('exploded', 'small_focal')), 0::bigint,
	'no model was stored');
SELECT lives_ok(format('SELECT vqa_load_questions(%L, %L, %L, %L)', 'val_only', 'val',
	:'data' || '/vqa2_val_questions.json', :'data' || '/vqa2_val_annotations.json'), 'a dataset without train split');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'val_only', 'lmh')$$),
	'55000: loss "lmh" needs the answer prior of dataset "val_only", which has none',
	'a loss that needs the prior, on a dataset without train split');
SELECT is(pg_temp.error_of($$SELECT vqa_drop_dataset('train_synth')$$),
	'2BP01: dataset "train_synth" is used by model "small"', 'a dataset with models is not dropped');
SELECT is(pg_temp.error_of($$SELECT vqa_evaluate('small_bce', 'train_synth', 'nosuch')$$),
	'42704: dataset "train_synth" has no split "nosuch"', 'evaluating an unknown split');

-- bce_scale: a mean BCE is the summed one over the answers; Adam without clipping
-- takes (nearly) the same steps at either scale
SELECT lives_ok($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"name": "scale_answers", "epochs": 1, "max_grad_norm": 0}');
	SELECT vqa_finetune('small', 'train_synth', 'bce', '{"name": "scale_mean", "epochs": 1, "max_grad_norm": 0, "bce_scale": "mean"}')$$,
	'BCE scaled both ways');
SELECT ok((SELECT abs((a.metrics->'epochs'->0->>'loss')::float8
		- (b.metrics->'epochs'->0->>'loss')::float8 * (a.config->>'num_qa_labels')::int)
		< 1e-3 * (a.metrics->'epochs'->0->>'loss')::float8
	AND b.options->>'bce_scale' = 'mean' AND a.options->>'bce_scale' = 'answers'
	FROM vqaprune.models a, vqaprune.models b WHERE a.name = 'scale_answers' AND b.name = 'scale_mean'),
	'the mean loss is the summed loss divided by the answers, within 0.1%');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"bce_scale": "sum"}')$$),
	'22023: unknown bce_scale "sum"', 'an unknown bce_scale');

-- micro-batches: the same training in smaller passes; a memory budget picks them
SELECT lives_ok($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"name": "whole", "epochs": 1, "dropout": 0, "lr": 1e-7}');
	SELECT vqa_finetune('small', 'train_synth', 'bce', '{"name": "micro", "epochs": 1, "dropout": 0, "lr": 1e-7, "micro_batch_size": 16}')$$,
	'a batch of 64 as four micro-batches of 16');
SELECT ok((SELECT abs((a.metrics->'epochs'->0->>'loss')::float8 - (b.metrics->'epochs'->0->>'loss')::float8)
		< 1e-3 * (a.metrics->'epochs'->0->>'loss')::float8 AND (b.options->>'micro_batch_size')::int = 16
	FROM vqaprune.models a, vqaprune.models b WHERE a.name = 'whole' AND b.name = 'micro'),
	'the same losses as whole batches (an epoch''s mean within 1e-3; lr 1e-7 keeps the runs together)');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"micro_batch_size": 24}')$$),
	'22023: micro_batch_size 24 does not divide batch_size 64', 'a micro-batch that does not divide the batch');
SET vqaprune.train_memory = '1MB';
SELECT lives_ok($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"name": "budget", "epochs": 1}')$$,
	'a memory budget');
SELECT ok((SELECT (options->>'micro_batch_size')::int BETWEEN 1 AND 32 AND 64 % (options->>'micro_batch_size')::int = 0
	FROM vqaprune.models WHERE name = 'budget'), 'picks a smaller micro-batch that divides the batch');
RESET vqaprune.train_memory;

-- per-batch padding (the default) answers as the fixed length does; length buckets
CREATE TEMP TABLE batch_run AS SELECT vqa_evaluate('small_bce', 'train_synth', 'val') AS run_id;
UPDATE vqaprune.models SET config = config || '{"padding": "fixed"}' WHERE name = 'small_bce';
CREATE TEMP TABLE fixed_run AS SELECT vqa_evaluate('small_bce', 'train_synth', 'val') AS run_id;
SELECT is((SELECT count(*) FROM vqaprune.predictions a JOIN vqaprune.predictions b USING (question_id)
	WHERE a.run_id = (SELECT run_id FROM batch_run) AND b.run_id = (SELECT run_id FROM fixed_run)
	  AND a.answer = b.answer AND a.accuracy = b.accuracy),
	(SELECT count(*) FROM vqaprune.questions q JOIN vqaprune.datasets d USING (dataset_id)
	  WHERE d.name = 'train_synth' AND q.split = 'val'),
	'batches padded to their longest question give every answer of batches padded to 20');
SELECT lives_ok($$SELECT vqa_finetune('small', 'train_synth', 'bce',
	'{"name": "bucketed", "epochs": 2, "lr": 0.002, "batch_size": 32, "seed": 7, "length_buckets": 4}');
	SELECT vqa_finetune('small', 'train_synth', 'bce',
	'{"name": "bucketed_again", "epochs": 2, "lr": 0.002, "batch_size": 32, "seed": 7, "length_buckets": 4}')$$,
	'training with length buckets');
SELECT is(pg_temp.weights('bucketed'), pg_temp.weights('bucketed_again'), 'is reproducible from the seed');
SELECT lives_ok($$SELECT vqa_finetune('small', 'train_synth', 'bce',
	'{"name": "bucketed_default", "epochs": 1, "batch_size": 32, "length_buckets": true}')$$,
	'length_buckets true');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('small', 'train_synth', 'bce', '{"length_buckets": 0}')$$),
	'22023: option "length_buckets" must be true, false or a number of batches from 1 to 1000000',
	'a bucket run of no batches');
SELECT is(pg_temp.error_of($$SELECT vqa_create_model('unmasked', 'train_synth',
	'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1, "r_layers": 1,
	  "x_layers": 1, "attention_mask": false, "padding": "batch"}')$$),
	'22023: invalid LXMERT config: "padding": "batch" needs the attention mask: without it the padding '
	'is attended and its length changes the results', 'per-batch padding of attended padding');
SELECT lives_ok($$SELECT vqa_create_model('fixed_length', 'train_synth',
	'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1,
	  "r_layers": 1, "x_layers": 1, "padding": "fixed"}')$$, 'a model of fixed length');
SELECT is((SELECT config->>'padding' FROM vqaprune.models WHERE name = 'fixed_length'), 'fixed',
	'keeps it in its config');

SELECT * FROM finish();
ROLLBACK;
