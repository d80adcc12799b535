-- The VisualBERT experiment of doc/results.md on the embedded benchmark, the
-- shape of the paper's Figure 7: a tiny VisualBERT trained with BCE from
-- random weights, fine-tuned from it with LMH, and its subnetworks at
-- sparsity 0.5 and 0.7 found by LMH mask training and by one-shot magnitude
-- pruning then LMH fine-tuning ("OMP + lmh ft"), over three seeds. The
-- prunable set is the authors' (every layer's query, key, value, attention
-- output, intermediate and output weights, the pooler and the word
-- embeddings), pruned uniformly as they do. Every model is evaluated in
-- distribution (val) and out of distribution (test) with the official metric.
-- Prints the table of doc/results.md.
-- Run: make results-visualbert (about 40 minutes on a busy 2-core machine).
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
CREATE EXTENSION IF NOT EXISTS vqaprune;
SET vqaprune.threads = 2;
SELECT vqa_synthetic('synth', images => 2000, seed => 0) \g /dev/null

CREATE TEMP TABLE runs (seed int, method text, sparsity float8, model text);
DO $$
DECLARE
	-- about the size of the LXMERT of the other experiments: 4 layers of 64 over text and regions
	config jsonb := '{"model_type": "visual_bert", "hidden_size": 64, "num_attention_heads": 4,
					  "intermediate_size": 128, "num_hidden_layers": 4, "max_position_embeddings": 32}';
	stage1 jsonb := '{"epochs": 30, "lr": 1e-3, "batch_size": 64, "warmup_epochs": 2}';
	debias jsonb := '{"epochs": 10, "lr": 5e-4, "batch_size": 64, "warmup_epochs": 1}';
	mask jsonb := '{"epochs": 5, "lr": 2e-3, "batch_size": 64, "loss_params": "train"}';
	finetune jsonb := '{"epochs": 5, "lr": 5e-4, "batch_size": 64, "warmup_epochs": 1}';
	s float8;
	name text;
	omp text;
BEGIN
	FOR seed IN 1..3 LOOP
		PERFORM vqa_create_model('vb_init_' || seed, 'synth', config, seed => seed);
		PERFORM vqa_finetune('vb_init_' || seed, 'synth', 'bce',
							 stage1 || jsonb_build_object('name', 'vb_bce_' || seed, 'seed', seed));
		INSERT INTO runs VALUES (seed, 'full visualbert(bce)', 0, 'vb_bce_' || seed);
		PERFORM vqa_finetune('vb_bce_' || seed, 'synth', 'lmh',
							 debias || jsonb_build_object('name', 'vb_bce_lmh_' || seed, 'seed', seed));
		INSERT INTO runs VALUES (seed, 'full visualbert(bce) + lmh ft', 0, 'vb_bce_lmh_' || seed);
		FOREACH s IN ARRAY ARRAY[0.5, 0.7] LOOP
			name := vqa_prune('vb_bce_' || seed, 'lmh', s, 'mask', mask || jsonb_build_object('seed', seed));
			INSERT INTO runs VALUES (seed, 'mask train(lmh)', s, name);
			omp := vqa_prune('vb_bce_' || seed, 'bce', s, 'magnitude');
			name := vqa_finetune(omp, 'synth', 'lmh', finetune || jsonb_build_object('seed', seed));
			INSERT INTO runs VALUES (seed, 'OMP + lmh ft', s, name);
		END LOOP;
	END LOOP;
	PERFORM vqa_evaluate(model, 'synth', split) FROM runs, unnest(ARRAY['val', 'test']) split;
END
$$;

\echo | VisualBERT | sparsity | measured | seeds | ID (val) | OOD (test) | OOD yes/no | OOD number | OOD other |
\echo |---|---|---|---|---|---|---|---|---|
SELECT format('| %s | %s | %s | %s | %s | %s | %s | %s | %s |', r.method, r.sparsity,
			  round(avg((m.sparsity->>'overall')::numeric), 3), count(*),
			  round(avg(v.overall)::numeric, 2) || ' ± ' || round(stddev_samp(v.overall)::numeric, 2),
			  round(avg(t.overall)::numeric, 2) || ' ± ' || round(stddev_samp(t.overall)::numeric, 2),
			  round(avg(t.yes_no)::numeric, 2), round(avg(t.number)::numeric, 2), round(avg(t.other)::numeric, 2))
  FROM runs r
  JOIN vqa_accuracy v ON v.label = r.model AND v.split = 'val'
  JOIN vqa_accuracy t ON t.label = r.model AND t.split = 'test'
  JOIN vqa_models m ON m.model = r.model
 GROUP BY r.method, r.sparsity
 ORDER BY r.sparsity, r.method;
