-- The accuracy cost of float16 features (doc/benchmarks.md, "Full size"):
-- the Stage 1 BCE protocol of results.sql (the tiny model from random
-- weights, 30 epochs, lr 1e-3, batch 64, 2 warm-up epochs, seeds 1 2 3) run
-- once on the embedded benchmark with float32 features and once on the same
-- benchmark with storage => 'float16' (same scenes, questions and splits; the
-- features rounded to IEEE half). Every model is evaluated in distribution
-- (val) and out of distribution (test) with the official metric. Prints a
-- table of means ± sample standard deviations over the seeds.
-- Run: make results-float16 (about 25 minutes on 2 cores). psql variables
-- images (2000) and epochs (30) shrink it for a quick check.
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
\if :{?images}
\else
\set images 2000
\endif
\if :{?epochs}
\else
\set epochs 30
\endif
CREATE EXTENSION IF NOT EXISTS vqaprune;
SET vqaprune.threads = 2;
SELECT vqa_synthetic('synth', images => :images, seed => 0) \g /dev/null
SELECT vqa_synthetic('synth16', images => :images, seed => 0, storage => 'float16') \g /dev/null

CREATE TEMP TABLE runs (storage text, seed int, model text);
SELECT set_config('bench.epochs', :'epochs', false) \g /dev/null
DO $$
DECLARE
	config jsonb := '{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
					  "l_layers": 2, "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32}';
	stage1 jsonb := jsonb_build_object('epochs', current_setting('bench.epochs')::int, 'lr', 1e-3,
									   'batch_size', 64, 'warmup_epochs', 2);
	d record;
BEGIN
	FOR d IN SELECT * FROM (VALUES ('float32', 'synth'), ('float16', 'synth16')) v(storage, dataset) LOOP
		FOR s IN 1..3 LOOP
			PERFORM vqa_create_model('init_' || d.dataset || '_' || s, d.dataset, config, seed => s);
			PERFORM vqa_finetune('init_' || d.dataset || '_' || s, d.dataset, 'bce',
								 stage1 || jsonb_build_object('name', 'bce_' || d.dataset || '_' || s, 'seed', s));
			PERFORM vqa_evaluate('bce_' || d.dataset || '_' || s, d.dataset, split)
			   FROM unnest(ARRAY['val', 'test']) split;
			INSERT INTO runs VALUES (d.storage, s, 'bce_' || d.dataset || '_' || s);
		END LOOP;
	END LOOP;
END
$$;

\echo | features | seeds | ID (val) overall | OOD (test) overall | OOD yes/no | OOD number | OOD other |
\echo |---|---|---|---|---|---|---|
SELECT format('| %s | %s | %s ± %s | %s ± %s | %s | %s | %s |', r.storage, count(*),
			  round(avg(v.overall)::numeric, 2), round(stddev_samp(v.overall)::numeric, 2),
			  round(avg(t.overall)::numeric, 2), round(stddev_samp(t.overall)::numeric, 2),
			  round(avg(t.yes_no)::numeric, 2), round(avg(t.number)::numeric, 2), round(avg(t.other)::numeric, 2))
  FROM runs r
  JOIN vqa_accuracy v ON v.label = r.model AND v.split = 'val'
  JOIN vqa_accuracy t ON t.label = r.model AND t.split = 'test'
 GROUP BY r.storage
 ORDER BY r.storage DESC;
\echo
\echo | seed | val float32 | val float16 | difference | test float32 | test float16 | difference |
\echo |---|---|---|---|---|---|---|
SELECT format('| %s | %s | %s | %s | %s | %s | %s |', a.seed, av.overall, bv.overall,
			  round((bv.overall - av.overall)::numeric, 2), at.overall, bt.overall,
			  round((bt.overall - at.overall)::numeric, 2))
  FROM runs a JOIN runs b ON b.seed = a.seed AND b.storage = 'float16'
  JOIN vqa_accuracy av ON av.label = a.model AND av.split = 'val'
  JOIN vqa_accuracy at ON at.label = a.model AND at.split = 'test'
  JOIN vqa_accuracy bv ON bv.label = b.model AND bv.split = 'val'
  JOIN vqa_accuracy bt ON bt.label = b.model AND bt.split = 'test'
 WHERE a.storage = 'float32'
 ORDER BY a.seed;
