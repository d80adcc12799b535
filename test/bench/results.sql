-- The Stage 1 experiment of doc/results.md on the embedded benchmark: a tiny
-- LXMERT trained with BCE from random weights (the benchmark's stand-in for a
-- pre-trained LXMERT), then fine-tuned from it with each debiasing loss, over
-- three seeds; and each debiasing loss from random weights (seed 1). Every
-- model is evaluated in distribution (val) and out of distribution (test)
-- with the official metric. Prints the table of doc/results.md.
-- Run: make results (about 30 minutes on 2 cores).
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
CREATE EXTENSION IF NOT EXISTS vqaprune;
SET vqaprune.threads = 2;
SELECT vqa_synthetic('synth', images => 2000, seed => 0) \g /dev/null

CREATE TEMP TABLE runs (seed int, pipeline text, model text);
DO $$
DECLARE
	config jsonb := '{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
					  "l_layers": 2, "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32}';
	stage1 jsonb := '{"epochs": 30, "lr": 1e-3, "batch_size": 64, "warmup_epochs": 2}';
	debias jsonb := '{"epochs": 10, "lr": 5e-4, "batch_size": 64, "warmup_epochs": 1}';
	loss text;
BEGIN
	FOR s IN 1..3 LOOP
		PERFORM vqa_create_model('init_' || s, 'synth', config, seed => s);
		PERFORM vqa_finetune('init_' || s, 'synth', 'bce',
							 stage1 || jsonb_build_object('name', 'bce_' || s, 'seed', s));
		INSERT INTO runs VALUES (s, 'bce', 'bce_' || s);
		FOREACH loss IN ARRAY ARRAY['lmh', 'lpf', 'rubi', 'poe', 'rubi_qo', 'lpf_qo'] LOOP
			PERFORM vqa_finetune('bce_' || s, 'synth', loss,
								 debias || jsonb_build_object('name', 'bce_' || loss || '_' || s, 'seed', s));
			INSERT INTO runs VALUES (s, 'bce + ' || loss, 'bce_' || loss || '_' || s);
		END LOOP;
	END LOOP;
	FOREACH loss IN ARRAY ARRAY['lmh', 'lpf', 'rubi', 'poe', 'rubi_qo', 'lpf_qo'] LOOP
		PERFORM vqa_finetune('init_1', 'synth', loss,
							 stage1 || jsonb_build_object('name', 'scratch_' || loss, 'seed', 1));
		INSERT INTO runs VALUES (1, loss || ' from random weights', 'scratch_' || loss);
	END LOOP;
	PERFORM vqa_evaluate(model, 'synth', split)
	   FROM runs, unnest(ARRAY['val', 'test']) split;
	PERFORM vqa_prior_baseline('synth', split, 'prior') FROM unnest(ARRAY['val', 'test']) split;
	INSERT INTO runs VALUES (0, 'question-type prior', 'prior');
END
$$;

\echo | pipeline | seeds | ID (val) overall | OOD (test) overall | OOD yes/no | OOD number | OOD other |
\echo |---|---|---|---|---|---|---|
SELECT format('| %s | %s | %s | %s | %s | %s | %s |', r.pipeline, count(DISTINCT r.seed),
			  round(avg(v.overall)::numeric, 2) || coalesce(' ± ' || round(stddev_samp(v.overall)::numeric, 2), ''),
			  round(avg(t.overall)::numeric, 2) || coalesce(' ± ' || round(stddev_samp(t.overall)::numeric, 2), ''),
			  round(avg(t.yes_no)::numeric, 2), round(avg(t.number)::numeric, 2), round(avg(t.other)::numeric, 2))
  FROM runs r
  JOIN vqa_accuracy v ON v.label = r.model AND v.split = 'val'
  JOIN vqa_accuracy t ON t.label = r.model AND t.split = 'test'
 GROUP BY r.pipeline
 ORDER BY min(r.seed) = 0 DESC, r.pipeline LIKE '%random%', r.pipeline <> 'bce', r.pipeline;
