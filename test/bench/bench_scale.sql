-- The full-size benchmark (doc/benchmarks.md, "Full size: VQA-CP v2 on one
-- server"), run by make bench-scale in a fresh cluster:
--
--  1. vqa_synthetic at VQA-CP v2's size with LXMERT's features: :images
--     images (40,000) x 11 questions, 36 boxes x 2048 float32 (11.8 GB, more
--     than vqaprune.feature_memory's default 4 GB); the load's time, peak
--     RSS and the tables' size. Its answer list is set to 3,129 answers
--     (the dataset's own and fillers) and the base model's WordPiece
--     vocabulary to 30,522 tokens, so that the base model has LXMERT base's
--     sizes.
--  2. Stage 1 (bce) and Stage 2 (mask, lmh, 0.7) at base shape, batch 32, as
--     jobs on the full train split at the default feature_memory (streamed),
--     canceled after :steps steps: the worker's peak RSS, samples/s, load time.
--  3. the tiny model evaluating the full test split (streamed, and held in
--     memory), as jobs: time, questions/s, peak RSS.
--  4. a subset, the first :sub_images images of the same generator (train
--     about 1,000 questions): one epoch of Stage 1 and Stage 2 at base
--     shape and 20 epochs of Stage 1 at tiny shape, each with the features
--     in memory (8GB) and streamed (32MB), in fresh backends: samples/s from
--     the model's metrics, wall time, peak RSS (VmHWM).
--  5. the base model evaluating a sample of :sample_images images' test
--     questions (a few thousand), in memory and streamed.
--
-- Prints one markdown table of every figure. About 60 minutes on 2 cores
-- and 24 GB; it needs about 40 GB of disk (the table, its WAL, one
-- temporary feature file at a time). psql variables images, sub_images,
-- sample_images, steps, tiny_epochs, job_memory (the jobs' feature_memory,
-- 4GB) and base_config shrink it for a check; sections (12345) picks the
-- sections to run (2 and 3 need 1), e.g. -v sections=4 to repeat the subset's
-- comparison alone.
\set ON_ERROR_STOP on
\if :{?images}
\else
\set images 40000
\endif
\if :{?sub_images}
\else
\set sub_images 240
\endif
\if :{?sample_images}
\else
\set sample_images 600
\endif
\if :{?steps}
\else
\set steps 30
\endif
\if :{?job_memory}
\else
\set job_memory 4GB
\endif
\if :{?tiny_epochs}
\else
\set tiny_epochs 20
\endif
\if :{?base_config}
\else
\set base_config '{"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072, "l_layers": 9, "r_layers": 5, "x_layers": 5, "max_position_embeddings": 512}'
\endif
\if :{?sections}
\else
\set sections 12345
\endif
SELECT strpos(:'sections', '1') > 0 AS section1, strpos(:'sections', '2') > 0 AS section2,
	   strpos(:'sections', '3') > 0 AS section3, strpos(:'sections', '4') > 0 AS section4,
	   strpos(:'sections', '5') > 0 AS section5 \gset
\set tiny_config '{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128, "l_layers": 2, "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32}'
\set threads 2
\pset footer off
CREATE EXTENSION IF NOT EXISTS vqaprune;
SET client_min_messages = warning;

-- every figure, printed at the end
CREATE TABLE bench (n serial, item text, what text, value numeric, unit text);

-- a field of /proc/PID/status in MB (VmHWM: peak resident set), NULL once the process is gone
CREATE FUNCTION bench_status_mb(pid int, field text DEFAULT 'VmHWM') RETURNS numeric
LANGUAGE plpgsql AS $$
BEGIN
	RETURN round((regexp_match(pg_read_file('/proc/' || pid || '/status'),
							   field || ':\s+(\d+) kB'))[1]::numeric / 1024, 1);
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;

CREATE FUNCTION bench_note(item text, what text, value float8, unit text) RETURNS void
LANGUAGE sql AS $$ INSERT INTO bench (item, what, value, unit) VALUES ($1, $2, round($3::numeric, 2), $4) $$;

-- the features of a split, as stored, in MB
CREATE FUNCTION bench_split_mb(dataset text, split text) RETURNS numeric
LANGUAGE sql AS $$
	WITH d AS (SELECT dataset_id FROM vqaprune.datasets WHERE name = $1),
		 s AS (SELECT DISTINCT q.image_id FROM vqaprune.questions q, d
				WHERE q.dataset_id = d.dataset_id AND q.split = $2)
	SELECT round(sum(octet_length(i.features))::numeric / 1e6, 1)
	  FROM vqaprune.images i JOIN d USING (dataset_id) JOIN s USING (image_id) $$;

-- LXMERT's sizes for a dataset: 3,129 answers (its own first, then fillers),
-- a tiny model with the dataset's vocabulary, a base model with 30,522 word
-- pieces (the tiny model's, then fillers); files written in the data directory
CREATE FUNCTION bench_prepare(dataset text, tiny jsonb, base jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	answers text := current_setting('data_directory') || '/bench_answers_' || dataset || '.txt';
	vocab text := current_setting('data_directory') || '/bench_vocab_' || dataset || '.txt';
BEGIN
	EXECUTE format($q$COPY (SELECT a FROM (SELECT answer_id, answer FROM vqaprune.answers
		JOIN vqaprune.datasets USING (dataset_id) WHERE name = %L
		UNION ALL SELECT 100000 + g, 'filler answer ' || g FROM generate_series(1, 3129) g) s(i, a)
		ORDER BY i LIMIT 3129) TO %L$q$, dataset, answers);
	PERFORM vqa_load_answers(dataset, answers);
	PERFORM vqa_create_model('tiny_' || dataset, dataset, tiny);
	EXECUTE format($q$COPY (SELECT t FROM (SELECT n, t FROM vqaprune.models,
		regexp_split_to_table(rtrim(tokenizer_vocab, E'\n'), E'\n') WITH ORDINALITY v(t, n) WHERE name = %L
		UNION ALL SELECT 100000 + g, '[filler' || g || ']' FROM generate_series(1, 30522) g) s(n, t)
		ORDER BY n LIMIT 30522) TO %L$q$, 'tiny_' || dataset, vocab);
	PERFORM vqa_create_model('base_' || dataset, dataset, base, vocab_file => vocab);
END $$;

-- Follows a job until it ends, or until it has trained stop_steps steps,
-- and notes the worker's peak RSS (VmHWM, read every 0.5 s), the size of its
-- temporary feature file and when it was last written (the end of loading),
-- when the first training phase was seen, the steps and samples/s it
-- reports, and for a finished evaluation its time and questions/s.
CREATE FUNCTION bench_watch(job bigint, stop_steps int, item text, what text, batch int DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	j record;
	pid int;
	started timestamptz;
	finished timestamptz;
	last_write timestamptz;
	training_s numeric;
	first_step int;
	first_at timestamptz;
	last_at timestamptz;
	peak_mb numeric := 0;
	tmp_mb numeric := 0;
	tmp record;
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		SELECT * INTO j FROM vqa_jobs v WHERE v.job_id = job;
		SELECT worker_pid, started_at, finished_at INTO pid, started, finished
		  FROM vqaprune.jobs WHERE job_id = job;
		EXIT WHEN j.status NOT IN ('queued', 'running');
		IF pid IS NOT NULL THEN
			peak_mb := greatest(peak_mb, bench_status_mb(pid));
			SELECT sum(size) AS size, max(modification) AS modification INTO tmp FROM pg_ls_tmpdir();
			IF tmp.size > 0 THEN
				tmp_mb := greatest(tmp_mb, round(tmp.size / 1e6, 1));
				last_write := greatest(last_write, tmp.modification);
			END IF;
		END IF;
		IF j.phase = 'training' AND training_s IS NULL THEN
			training_s := extract(epoch FROM clock_timestamp() - started);
		END IF;
		-- the step rate, from the first step count seen to the last
		IF j.step IS NOT NULL AND first_step IS NULL THEN
			first_step := j.step;
			first_at := clock_timestamp();
		END IF;
		last_at := clock_timestamp();
		EXIT WHEN stop_steps IS NOT NULL AND j.step >= stop_steps;
		PERFORM pg_sleep(0.5);
	END LOOP;
	PERFORM bench_note(item, what || 'peak RSS (sampled)', peak_mb, 'MB'),
			bench_note(item, what || 'temporary feature file', tmp_mb, 'MB');
	IF last_write IS NOT NULL THEN
		PERFORM bench_note(item, what || 'loading (file last written)', extract(epoch FROM last_write - started), 's');
	END IF;
	IF stop_steps IS NOT NULL THEN
		PERFORM bench_note(item, what || 'first training phase seen', training_s, 's'),
				bench_note(item, what || 'steps', j.step, ''),
				bench_note(item, what || 'samples/s (reported, rounded)', j.samples_per_second, 'samples/s'),
				bench_note(item, what || 'samples/s (steps ' || first_step || '-' || j.step || ' over the time between)',
						   (j.step - first_step) * batch / nullif(extract(epoch FROM last_at - first_at), 0), 'samples/s');
	ELSE
		PERFORM bench_note(item, what || j.status || ', wall time', extract(epoch FROM finished - started), 's'),
				bench_note(item, what || 'questions/s', (SELECT questions FROM vqa_accuracy
						   WHERE run_id = j.result::bigint) / extract(epoch FROM finished - started), 'questions/s');
	END IF;
	RETURN j.status;
END $$;

-- Waits until no job worker is left, so that the next job gets a new one
-- (with the role's settings, and its own peak RSS).
CREATE FUNCTION bench_no_workers() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'vqaprune job');
		PERFORM pg_sleep(0.2);
	END LOOP;
END $$;

-- The stored values and mask of a model, as one digest.
CREATE FUNCTION bench_digest(model text) RETURNS text
LANGUAGE sql AS $$
	SELECT md5(string_agg(d, '' ORDER BY k))
	  FROM (SELECT 't' || c.tensor_id || '.' || c.chunk AS k, md5(c.data) AS d FROM vqaprune.tensor_chunks c
			 WHERE c.model_id = (SELECT model_id FROM vqaprune.models WHERE name = $1)
			UNION ALL
			SELECT 'm' || c.tensor_id || '.' || c.chunk, md5(c.bits) FROM vqaprune.mask_chunks c
			 WHERE c.model_id = (SELECT model_id FROM vqaprune.models WHERE name = $1)) s $$;

-- A call in this (fresh) backend with a feature budget: its wall time, the
-- backend's peak RSS, and the samples/s the training run stored.
CREATE FUNCTION bench_call(item text, what text, feature_memory text, call text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	result text;
	secs numeric;
	sps numeric;
BEGIN
	PERFORM set_config('vqaprune.feature_memory', feature_memory, true);
	t0 := clock_timestamp();
	EXECUTE call INTO result;
	secs := extract(epoch FROM clock_timestamp() - t0);
	PERFORM bench_note(item, what || ', feature_memory ' || feature_memory || ': wall time', secs, 's');
	PERFORM bench_note(item, what || ', feature_memory ' || feature_memory || ': peak RSS',
					   bench_status_mb(pg_backend_pid()), 'MB');
	SELECT (metrics->>'samples_per_second')::numeric INTO sps FROM vqaprune.models
	 WHERE name = result;
	IF sps IS NOT NULL THEN
		PERFORM bench_note(item, what || ', feature_memory ' || feature_memory || ': samples/s', sps, 'samples/s');
	ELSE
		SELECT questions INTO sps FROM vqa_accuracy WHERE run_id = result::bigint;
		PERFORM bench_note(item, what || ', feature_memory ' || feature_memory || ': questions/s',
						   sps / secs, 'questions/s');
	END IF;
	RETURN result;
END $$;

\if :section1
-- 1. the full-size dataset
\echo == 1. vqa_synthetic, :images images x 11 questions, 36 x 2048 float32
SELECT clock_timestamp() AS t0 \gset
SELECT vqa_synthetic('full', images => :images, boxes => 36, feature_dim => 2048,
					 questions_per_image => 11, seed => 0) AS questions \gset
SELECT bench_note('1 load', 'vqa_synthetic: questions', :questions, ''),
	   bench_note('1 load', 'vqa_synthetic: wall time', extract(epoch FROM clock_timestamp() - :'t0'), 's'),
	   bench_note('1 load', 'vqa_synthetic: peak RSS', bench_status_mb(pg_backend_pid()), 'MB'),
	   bench_note('1 load', 'features as stored (float32)',
				  (SELECT sum(octet_length(features)) / 1e6 FROM vqaprune.images), 'MB'),
	   bench_note('1 load', 'vqaprune.images on disk', pg_total_relation_size('vqaprune.images') / 1e6, 'MB'),
	   bench_note('1 load', 'questions and targets on disk', (pg_total_relation_size('vqaprune.questions') +
				  pg_total_relation_size('vqaprune.targets')) / 1e6, 'MB'),
	   bench_note('1 load', 'database on disk', pg_database_size(current_database()) / 1e6, 'MB') \g /dev/null
SELECT bench_note('1 load', split || ' split: questions', questions, ''),
	   bench_note('1 load', split || ' split: features', bench_split_mb('full', split), 'MB')
  FROM vqa_dataset_splits WHERE dataset = 'full' \g /dev/null
-- the vacuum that autovacuum would otherwise run during the measurements (the
-- insert threshold), here, timed
SELECT clock_timestamp() AS t0 \gset
VACUUM (ANALYZE);
SELECT bench_note('1 load', 'VACUUM (ANALYZE) after the load: wall time', extract(epoch FROM clock_timestamp() - :'t0'), 's') \g /dev/null
SELECT bench_prepare('full', :'tiny_config', :'base_config') \g /dev/null
SELECT bench_note('1 load', 'base model parameters', parameters, ''), bench_note('1 load', 'base model stored', dense_bytes / 1e6, 'MB')
  FROM vqa_models WHERE model = 'base_full' \g /dev/null
CHECKPOINT;

\endif
\if :section2
-- 2. base-shape training on the full train split, streamed, canceled after :steps steps
-- (jobs: their workers take the role's settings; the budget is the default's)
SET vqaprune.threads = :threads;
\echo == 2. Stage 1 and Stage 2 at base shape on the full train split, :steps steps each
SELECT format('ALTER ROLE %I SET vqaprune.feature_memory = %L', current_user, :'job_memory') \gexec
SELECT vqa_submit(format($$SELECT vqa_finetune('base_full', 'full', 'bce', %L)$$,
	   '{"epochs": 1, "batch_size": 32, "lr": 5e-5, "warmup_epochs": 0}')) AS job \gset
SELECT bench_watch(:job, :steps, '2 stage 1, base, full', 'feature_memory ' || :'job_memory' || ': ', 32) \g /dev/null
SELECT vqa_cancel(:job) \g /dev/null
SELECT vqa_wait(:job, '10 minutes'), bench_no_workers() \g /dev/null
SELECT vqa_submit(format($$SELECT vqa_prune('base_full', 'lmh', 0.7, 'mask', %L)$$,
	   '{"epochs": 1, "batch_size": 32, "lr": 5e-5}')) AS job \gset
SELECT bench_watch(:job, :steps, '2 stage 2, base, full', 'feature_memory ' || :'job_memory' || ': ', 32) \g /dev/null
SELECT vqa_cancel(:job) \g /dev/null
SELECT vqa_wait(:job, '10 minutes'), bench_no_workers() \g /dev/null

\endif
\if :section3
-- 3. the tiny model evaluating the full test split: streamed (the default
-- budget), then in memory (a budget above the split's features, for the job's role)
\echo == 3. vqa_evaluate of the full test split at tiny shape, streamed and in memory
SELECT vqa_submit($$SELECT vqa_evaluate('tiny_full', 'full', 'test')$$) AS job \gset
SELECT bench_watch(:job, NULL, '3 evaluate test, tiny, full', 'feature_memory ' || :'job_memory' || ': '), bench_no_workers() \g /dev/null
SELECT format('ALTER ROLE %I SET vqaprune.feature_memory = %L', current_user, '16GB') \gexec
SELECT vqa_submit($$SELECT vqa_evaluate('tiny_full', 'full', 'test')$$) AS job \gset
SELECT bench_watch(:job, NULL, '3 evaluate test, tiny, full', 'feature_memory 16GB: '), bench_no_workers() \g /dev/null
SELECT format('ALTER ROLE %I RESET vqaprune.feature_memory', current_user) \gexec
CHECKPOINT;

\endif
\if :section4
-- 4. the subset: the first :sub_images images; each call in a fresh backend
\echo == 4. the subset, in memory and streamed
SELECT vqa_synthetic('sub', images => :sub_images, boxes => 36, feature_dim => 2048,
					 questions_per_image => 11, seed => 0) \g /dev/null
SELECT bench_prepare('sub', :'tiny_config', :'base_config') \g /dev/null
SELECT bench_note('4 subset', split || ' split: questions', questions, ''),
	   bench_note('4 subset', split || ' split: features', bench_split_mb('sub', split), 'MB')
  FROM vqa_dataset_splits WHERE dataset = 'sub' AND split = 'train' \g /dev/null
\set stage1 '{"epochs": 1, "batch_size": 32, "lr": 5e-5, "warmup_epochs": 0, "name": "%s"}'
\set stage2 '{"epochs": 1, "batch_size": 32, "lr": 5e-5, "name": "%s"}'
\set tiny1 '{"epochs": ' :tiny_epochs ', "batch_size": 64, "lr": 1e-3, "warmup_epochs": 2, "name": "%s"}'
\connect
SET vqaprune.threads = :threads;
SELECT bench_call('4 stage 1, base, subset', 'in memory', '8GB', format($$SELECT vqa_finetune('base_sub', 'sub', 'bce', %L)$$, format(:'stage1', 'b1_mem'))) \g /dev/null
\connect
SET vqaprune.threads = :threads;
SELECT bench_call('4 stage 1, base, subset', 'streamed', '32MB', format($$SELECT vqa_finetune('base_sub', 'sub', 'bce', %L)$$, format(:'stage1', 'b1_file'))) \g /dev/null
\connect
SET vqaprune.threads = :threads;
SELECT bench_call('4 stage 2, base, subset', 'in memory', '8GB', format($$SELECT vqa_prune('base_sub', 'lmh', 0.7, 'mask', %L)$$, format(:'stage2', 'b2_mem'))) \g /dev/null
\connect
SET vqaprune.threads = :threads;
SELECT bench_call('4 stage 2, base, subset', 'streamed', '32MB', format($$SELECT vqa_prune('base_sub', 'lmh', 0.7, 'mask', %L)$$, format(:'stage2', 'b2_file'))) \g /dev/null
\connect
SET vqaprune.threads = :threads;
SELECT bench_call('4 stage 1, tiny, subset', 'in memory', '8GB', format($$SELECT vqa_finetune('tiny_sub', 'sub', 'bce', %L)$$, format(:'tiny1', 't1_mem'))) \g /dev/null
\connect
SET vqaprune.threads = :threads;
SELECT bench_call('4 stage 1, tiny, subset', 'streamed', '32MB', format($$SELECT vqa_finetune('tiny_sub', 'sub', 'bce', %L)$$, format(:'tiny1', 't1_file'))) \g /dev/null
SELECT bench_note('4 subset', 'stored model identical streamed and in memory: ' || m || '_mem, ' || m || '_file',
				  (bench_digest(m || '_mem') = bench_digest(m || '_file'))::int, '1 = yes')
  FROM unnest(ARRAY['b1', 'b2', 't1']) m \g /dev/null

\endif
\if :section5
-- 5. the base model evaluating a sample of test questions
\echo == 5. vqa_evaluate at base shape on a sample of the test split
SELECT vqa_synthetic('sample', images => :sample_images, boxes => 36, feature_dim => 2048,
					 questions_per_image => 11, seed => 0) \g /dev/null
SELECT bench_prepare('sample', :'tiny_config', :'base_config') \g /dev/null
SELECT bench_note('5 evaluate test, base, sample', 'test split: questions', questions, ''),
	   bench_note('5 evaluate test, base, sample', 'test split: features', bench_split_mb('sample', 'test'), 'MB')
  FROM vqa_dataset_splits WHERE dataset = 'sample' AND split = 'test' \g /dev/null
\connect
SET vqaprune.threads = :threads;
SELECT bench_call('5 evaluate test, base, sample', 'in memory', '8GB', $$SELECT vqa_evaluate('base_sample', 'sample', 'test')$$) \g /dev/null
\connect
SET vqaprune.threads = :threads;
SELECT bench_call('5 evaluate test, base, sample', 'streamed', '32MB', $$SELECT vqa_evaluate('base_sample', 'sample', 'test')$$) \g /dev/null

\endif
\echo
\echo | item | what | value | unit |
\echo |---|---|---|---|
\pset format unaligned
\pset tuples_only on
SELECT format('| %s | %s | %s | %s |', item, what, value, unit) FROM bench ORDER BY n;
