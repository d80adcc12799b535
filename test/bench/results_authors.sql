-- The paper authors' model on the embedded benchmark (doc/results.md): the
-- Stage 1 and Stage 2 experiments of results.sql and results_pruning.sql,
-- with the same data, sizes and recipes, for the model of the authors' code
-- instead of HuggingFace's: their SimpleClassifier head, questions as 14
-- word pieces without [CLS] and [SEP], padding attended. BCE from random
-- weights, then LMH and LPF from it; mask training with LMH at 0.5, 0.7 and
-- 0.9 from the BCE model; three seeds; every model evaluated in
-- distribution (val) and out of distribution (test) with the official
-- metric. Prints the tables of doc/results.md.
-- Run: make results-authors (about 15 minutes on 2 cores).
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
					  "l_layers": 2, "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32,
					  "answer_head": "simple_classifier", "question_tokens": 14,
					  "special_tokens": false, "attention_mask": false}';
	stage1 jsonb := '{"epochs": 30, "lr": 1e-3, "batch_size": 64, "warmup_epochs": 2}';
	debias jsonb := '{"epochs": 10, "lr": 5e-4, "batch_size": 64, "warmup_epochs": 1}';
	mask jsonb := '{"epochs": 5, "lr": 2e-3, "batch_size": 64}';
	loss text;
	sparsity float8;
BEGIN
	FOR s IN 1..3 LOOP
		PERFORM vqa_create_model('init_' || s, 'synth', config, seed => s);
		PERFORM vqa_finetune('init_' || s, 'synth', 'bce',
							 stage1 || jsonb_build_object('name', 'bce_' || s, 'seed', s));
		INSERT INTO runs VALUES (s, 'bce', 'bce_' || s);
		FOREACH loss IN ARRAY ARRAY['lmh', 'lpf'] LOOP
			PERFORM vqa_finetune('bce_' || s, 'synth', loss,
								 debias || jsonb_build_object('name', 'bce_' || loss || '_' || s, 'seed', s));
			INSERT INTO runs VALUES (s, 'bce + ' || loss, 'bce_' || loss || '_' || s);
		END LOOP;
		FOREACH sparsity IN ARRAY ARRAY[0.5, 0.7, 0.9] LOOP
			INSERT INTO runs VALUES (s, format('bce + mask train (lmh), %s', sparsity),
				vqa_prune('bce_' || s, 'lmh', sparsity, 'mask', mask || jsonb_build_object('seed', s)));
		END LOOP;
	END LOOP;
	PERFORM vqa_evaluate(model, 'synth', split) FROM runs, unnest(ARRAY['val', 'test']) split;
END
$$;
\echo | pipeline (the authors model) | seeds | ID (val) overall | OOD (test) overall | OOD yes/no | OOD number | OOD other |
\echo |---|---|---|---|---|---|---|
SELECT format('| %s | %s | %s | %s | %s | %s | %s |', r.pipeline, count(DISTINCT r.seed),
			  round(avg(v.overall)::numeric, 2) || coalesce(' ± ' || round(stddev_samp(v.overall)::numeric, 2), ''),
			  round(avg(t.overall)::numeric, 2) || coalesce(' ± ' || round(stddev_samp(t.overall)::numeric, 2), ''),
			  round(avg(t.yes_no)::numeric, 2), round(avg(t.number)::numeric, 2), round(avg(t.other)::numeric, 2))
  FROM runs r
  JOIN vqa_accuracy v ON v.label = r.model AND v.split = 'val'
  JOIN vqa_accuracy t ON t.label = r.model AND t.split = 'test'
 GROUP BY r.pipeline
 ORDER BY r.pipeline <> 'bce', r.pipeline;
