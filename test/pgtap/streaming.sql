-- Region features beyond vqaprune.feature_memory: a split larger than the
-- budget is read from a temporary file, batch by batch, and fine-tuning,
-- evaluation and mask training give exactly the results they give in
-- memory, for float32 and float16 storage; the file goes with the call, and
-- a budget smaller than one batch is refused with what to change.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(48);

CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.hint_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	hint text;
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
	RETURN hint;
END
$$;
CREATE FUNCTION pg_temp.weights(model text) RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(md5(c.data), ',' ORDER BY c.tensor_id, c.chunk))
	  FROM vqaprune.tensor_chunks c JOIN vqaprune.models m USING (model_id) WHERE m.name = model
$$;
CREATE FUNCTION pg_temp.mask_digest(model text) RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(md5(k.bits), ',' ORDER BY k.tensor_id, k.chunk))
	  FROM vqaprune.mask_chunks k JOIN vqaprune.models m USING (model_id) WHERE m.name = model
$$;
CREATE FUNCTION pg_temp.epochs(model text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT metrics->'epochs' FROM vqaprune.models WHERE name = model
$$;
-- bytes of the stored features of a split's images
CREATE FUNCTION pg_temp.split_bytes(text, text) RETURNS bigint LANGUAGE sql AS $$
	SELECT sum(octet_length(i.features)) FROM vqaprune.images i
	  JOIN vqaprune.datasets d USING (dataset_id)
	 WHERE d.name = $1 AND i.image_id IN
		(SELECT q.image_id FROM vqaprune.questions q WHERE q.dataset_id = d.dataset_id AND q.split = $2)
$$;
-- an evaluation's answers and accuracies, in question order
CREATE FUNCTION pg_temp.answers(run bigint) RETURNS TABLE (question_id bigint, answer text, accuracy real)
LANGUAGE sql AS $$
	SELECT question_id, answer, accuracy::real FROM vqaprune.predictions WHERE run_id = run ORDER BY question_id
$$;
-- temporary files of this backend
CREATE FUNCTION pg_temp.temp_files() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM pg_ls_tmpdir() WHERE name LIKE 'pgsql_tmp' || pg_backend_pid() || '.%'
$$;

SET vqaprune.threads = 1;

-- float32: splits of about 1.5 MB of features, against a budget of 1 MB
SELECT lives_ok($$SELECT vqa_synthetic('stream32', images => 600, seed => 3, boxes => 10, feature_dim => 64)$$,
	'a benchmark of 10 x 64 float32 features per image');
-- the setting (the module is loaded now)
SELECT is(current_setting('vqaprune.feature_memory'), '4GB', 'vqaprune.feature_memory is 4 GB by default');
SELECT is(pg_temp.error_of($$SET vqaprune.feature_memory = 0$$),
	'22023: 0 MB is outside the valid range for parameter "vqaprune.feature_memory" (1 .. 2147483647)',
	'and at least 1 MB');
SELECT ok(pg_temp.split_bytes('stream32', 'train') > 1048576 AND pg_temp.split_bytes('stream32', 'test') > 1048576
	AND pg_temp.split_bytes('stream32', 'val') < 1048576,
	'whose train and test splits take more than 1 MB of features, and val less');
SELECT lives_ok($$SELECT vqa_create_model('s32', 'stream32',
	'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1,
	  "r_layers": 1, "x_layers": 1, "max_position_embeddings": 24}', seed => 2)$$, 'a small model');

SELECT lives_ok($$SELECT vqa_finetune('s32', 'stream32', 'bce',
	'{"name": "f32_mem", "epochs": 2, "lr": 0.002, "batch_size": 32, "eval_split": "test", "seed": 7}')$$,
	'fine-tuning with the features in memory');
SET vqaprune.feature_memory = 1;
SELECT lives_ok($$SELECT vqa_finetune('s32', 'stream32', 'bce',
	'{"name": "f32_file", "epochs": 2, "lr": 0.002, "batch_size": 32, "eval_split": "test", "seed": 7}')$$,
	'and with 1 MB, the train and test features read from temporary files');
SELECT is(pg_temp.weights('f32_file'), pg_temp.weights('f32_mem'), 'gives byte-identical weights');
SELECT is(pg_temp.epochs('f32_file'), pg_temp.epochs('f32_mem'),
	'and the same losses and train and test accuracies per epoch');
SELECT is(pg_temp.temp_files(), 0::bigint, 'and leaves no temporary file');

RESET vqaprune.feature_memory;
CREATE TEMP TABLE run_mem AS SELECT vqa_evaluate('f32_mem', 'stream32', 'test') AS run_id;
SET vqaprune.feature_memory = 1;
CREATE TEMP TABLE run_file AS SELECT vqa_evaluate('f32_mem', 'stream32', 'test') AS run_id;
SELECT is((SELECT count(*) FROM pg_temp.answers((SELECT run_id FROM run_file))),
	(SELECT count(*) FROM vqaprune.questions q JOIN vqaprune.datasets d USING (dataset_id)
	  WHERE d.name = 'stream32' AND q.split = 'test'), 'vqa_evaluate from a temporary file answers every question');
SELECT results_eq($$SELECT * FROM pg_temp.answers((SELECT run_id FROM run_file))$$,
	$$SELECT * FROM pg_temp.answers((SELECT run_id FROM run_mem))$$,
	'with the answers and accuracies of the evaluation in memory');
SELECT lives_ok($$SET vqaprune.eval_batch_size = 7; SELECT vqa_evaluate('f32_mem', 'stream32', 'val');
	RESET vqaprune.eval_batch_size$$, 'a split within the budget evaluates in memory, at any batch size');

RESET vqaprune.feature_memory;
SELECT lives_ok($$SELECT vqa_prune('f32_mem', 'lmh', 0.5, 'mask',
	'{"name": "p32_mem", "epochs": 2, "lr": 0.002, "batch_size": 32, "eval_split": "val", "seed": 3}')$$,
	'mask training with the features in memory');
SET vqaprune.feature_memory = 1;
SELECT lives_ok($$SELECT vqa_prune('f32_mem', 'lmh', 0.5, 'mask',
	'{"name": "p32_file", "epochs": 2, "lr": 0.002, "batch_size": 32, "eval_split": "val", "seed": 3}')$$,
	'and with the train features from a temporary file');
SELECT is(pg_temp.weights('p32_file'), pg_temp.weights('p32_mem'), 'gives byte-identical weights');
SELECT is(pg_temp.mask_digest('p32_file'), pg_temp.mask_digest('p32_mem'), 'and the same mask');
SELECT is(pg_temp.epochs('p32_file'), pg_temp.epochs('p32_mem'), 'and the same metrics per epoch');

-- a split beyond the budget goes to a temporary file, and only then
SET temp_file_limit = '1MB';
SELECT is(pg_temp.error_of($$SELECT vqa_evaluate('f32_mem', 'stream32', 'test')$$),
	'53400: temporary file size exceeds temp_file_limit (1024kB)',
	'an evaluation beyond the budget writes a temporary file (temp_file_limit stops it)');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('s32', 'stream32', 'bce', '{"name": "limited", "epochs": 1}')$$),
	'53400: temporary file size exceeds temp_file_limit (1024kB)', 'so does training');
SELECT is(pg_temp.temp_files(), 0::bigint, 'which an error removes');
RESET vqaprune.feature_memory;
SELECT lives_ok($$SELECT vqa_evaluate('f32_mem', 'stream32', 'test')$$,
	'within the budget no temporary file is written');
RESET temp_file_limit;

-- float16: the same splits at half the bytes, so twice the feature size
SELECT lives_ok($$SELECT vqa_synthetic('stream16', images => 600, seed => 3, boxes => 10, feature_dim => 128,
	storage => 'float16')$$, 'a benchmark of 10 x 128 float16 features per image');
SELECT ok(pg_temp.split_bytes('stream16', 'train') > 1048576 AND pg_temp.split_bytes('stream16', 'test') > 1048576,
	'whose train and test splits take more than 1 MB as stored');
SELECT lives_ok($$SELECT vqa_create_model('s16', 'stream16',
	'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1,
	  "r_layers": 1, "x_layers": 1, "max_position_embeddings": 24}', seed => 2)$$, 'a small model for it');
SELECT lives_ok($$SELECT vqa_finetune('s16', 'stream16', 'lmh',
	'{"name": "f16_mem", "epochs": 2, "lr": 0.002, "batch_size": 32, "eval_split": "test", "seed": 7}')$$,
	'fine-tuning on float16 features in memory');
SET vqaprune.feature_memory = 1;
SELECT lives_ok($$SELECT vqa_finetune('s16', 'stream16', 'lmh',
	'{"name": "f16_file", "epochs": 2, "lr": 0.002, "batch_size": 32, "eval_split": "test", "seed": 7}')$$,
	'and from temporary files');
SELECT is(pg_temp.weights('f16_file'), pg_temp.weights('f16_mem'), 'gives byte-identical weights');
SELECT is(pg_temp.epochs('f16_file'), pg_temp.epochs('f16_mem'), 'and the same metrics per epoch');

RESET vqaprune.feature_memory;
CREATE TEMP TABLE run16_mem AS SELECT vqa_evaluate('f16_mem', 'stream16', 'test') AS run_id;
SET vqaprune.feature_memory = 1;
CREATE TEMP TABLE run16_file AS SELECT vqa_evaluate('f16_mem', 'stream16', 'test') AS run_id;
SELECT results_eq($$SELECT * FROM pg_temp.answers((SELECT run_id FROM run16_file))$$,
	$$SELECT * FROM pg_temp.answers((SELECT run_id FROM run16_mem))$$,
	'vqa_evaluate on float16 features from a temporary file gives the answers of the one in memory');
SELECT is((SELECT count(*) FROM pg_temp.answers((SELECT run_id FROM run16_file))),
	(SELECT count(*) FROM vqaprune.questions q JOIN vqaprune.datasets d USING (dataset_id)
	  WHERE d.name = 'stream16' AND q.split = 'test'), 'of every question');
SET temp_file_limit = '1MB';
SELECT is(pg_temp.error_of($$SELECT vqa_evaluate('f16_mem', 'stream16', 'test')$$),
	'53400: temporary file size exceeds temp_file_limit (1024kB)', 'read from a temporary file of float16 rows');
RESET temp_file_limit;

RESET vqaprune.feature_memory;
SELECT lives_ok($$SELECT vqa_prune('f16_mem', 'lmh', 0.5, 'mask',
	'{"name": "p16_mem", "epochs": 2, "lr": 0.002, "batch_size": 32, "seed": 3}')$$,
	'mask training on float16 features in memory');
SET vqaprune.feature_memory = 1;
SELECT lives_ok($$SELECT vqa_prune('f16_mem', 'lmh', 0.5, 'mask',
	'{"name": "p16_file", "epochs": 2, "lr": 0.002, "batch_size": 32, "seed": 3}')$$,
	'and from a temporary file');
SELECT is(pg_temp.weights('p16_file'), pg_temp.weights('p16_mem'), 'gives byte-identical weights');
SELECT is(pg_temp.mask_digest('p16_file'), pg_temp.mask_digest('p16_mem'), 'and the same mask');
SELECT is(pg_temp.temp_files(), 0::bigint, 'and no temporary file stays');

-- a budget smaller than one batch's features (float32 in a batch: 10 x 64 x 4 bytes an example)
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('s32', 'stream32', 'bce', '{"name": "big", "batch_size": 512}')$$),
	'22023: vqaprune.feature_memory (1 MB) is too small for a batch of 512 examples, whose features take 2 MB',
	'a training batch larger than the budget is refused');
SELECT is(pg_temp.hint_of($$SELECT vqa_finetune('s32', 'stream32', 'bce', '{"name": "big", "batch_size": 512}')$$),
	'Raise vqaprune.feature_memory, or lower batch_size or micro_batch_size.', 'with what to change');
SELECT lives_ok($$SELECT vqa_finetune('s32', 'stream32', 'bce',
	'{"name": "big_micro", "epochs": 1, "batch_size": 512, "micro_batch_size": 128}')$$,
	'micro-batches that fit the budget train');
SELECT is((SELECT count(*) FROM vqaprune.models WHERE name = 'big'), 0::bigint, 'nothing was stored by the refusal');
SET vqaprune.eval_batch_size = 1024;
SELECT is(pg_temp.error_of($$SELECT vqa_evaluate('f32_mem', 'stream32', 'test')$$),
	'22023: vqaprune.feature_memory (1 MB) is too small for a batch of 1024 examples, whose features take 3 MB',
	'an evaluation batch larger than the budget is refused');
SELECT is(pg_temp.hint_of($$SELECT vqa_evaluate('f32_mem', 'stream32', 'test')$$),
	'Raise vqaprune.feature_memory, or lower vqaprune.eval_batch_size.', 'with what to change');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('s32', 'stream32', 'bce',
	'{"name": "big_eval", "epochs": 1, "batch_size": 32, "eval_split": "val"}')$$),
	'22023: vqaprune.feature_memory (1 MB) is too small for a batch of 1024 examples, whose features take 3 MB',
	'so is a training run''s evaluation batch, even for a split held in memory');
SELECT is(pg_temp.error_of($$SELECT vqa_prune('f32_mem', 'lmh', 0.5, 'mask',
	'{"name": "big_prune", "epochs": 1, "batch_size": 32, "eval_split": "val"}')$$),
	'22023: vqaprune.feature_memory (1 MB) is too small for a batch of 1024 examples, whose features take 3 MB',
	'in mask training too');
SELECT is(pg_temp.hint_of($$SELECT vqa_prune('f32_mem', 'lmh', 0.5, 'mask',
	'{"name": "big_prune", "epochs": 1, "batch_size": 32, "eval_split": "val"}')$$),
	'Raise vqaprune.feature_memory, or lower vqaprune.eval_batch_size.', 'with what to change');
RESET vqaprune.eval_batch_size;
SELECT is(pg_temp.temp_files(), 0::bigint, 'the refused calls leave no temporary file');
SET vqaprune.feature_memory = '3MB';
SELECT lives_ok($$SELECT vqa_finetune('s32', 'stream32', 'bce', '{"name": "big3", "epochs": 1, "batch_size": 512}')$$,
	'a budget that holds the batch (and here the split) trains it');
RESET vqaprune.feature_memory;

SELECT * FROM finish();
ROLLBACK;
