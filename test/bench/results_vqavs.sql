-- The VQA-VS experiment of doc/results.md on the embedded benchmark's VQA-VS
-- mode, the shape of the paper's Table 2: a tiny LXMERT trained with BCE
-- from random weights, fine-tuned from it with LMH, LPF and RUBi ("full
-- lxmert"), and subnetworks at sparsity 0.3 .. 0.9 found by mask training,
-- BCE in both stages ("bce+bce") and LMH in both ("lmh+lmh"), over three
-- seeds. Every model answers IID-Test once; vqa_accuracy_vqavs scores it and
-- its nine OOD sets with VQA-VS's exact match.
-- Prints the table of doc/results.md.
-- Run: make results-vqavs (about 40 minutes on a busy 2-core machine).
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
CREATE EXTENSION IF NOT EXISTS vqaprune;
SET vqaprune.threads = 2;
SELECT vqa_synthetic('vs', images => 2000, seed => 0, benchmark => 'vqa-vs') \g /dev/null

CREATE TEMP TABLE runs (seed int, method text, sparsity float8, model text);
DO $$
DECLARE
	config jsonb := '{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
					  "l_layers": 2, "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32}';
	stage1 jsonb := '{"epochs": 30, "lr": 1e-3, "batch_size": 64, "warmup_epochs": 2}';
	debias jsonb := '{"epochs": 10, "lr": 5e-4, "batch_size": 64, "warmup_epochs": 1}';
	mask jsonb := '{"epochs": 5, "lr": 2e-3, "batch_size": 64, "loss_params": "train"}';
	loss text;
	s float8;
	name text;
BEGIN
	FOR seed IN 1..3 LOOP
		PERFORM vqa_create_model('init_' || seed, 'vs', config, seed => seed);
		PERFORM vqa_finetune('init_' || seed, 'vs', 'bce',
							 stage1 || jsonb_build_object('name', 'bce_' || seed, 'seed', seed));
		INSERT INTO runs VALUES (seed, 'full lxmert, BCE', 0, 'bce_' || seed);
		FOREACH loss IN ARRAY ARRAY['lmh', 'lpf', 'rubi'] LOOP
			PERFORM vqa_finetune('bce_' || seed, 'vs', loss,
								 debias || jsonb_build_object('name', loss || '_' || seed, 'seed', seed));
			INSERT INTO runs VALUES (seed, 'full lxmert, BCE + ' || upper(loss), 0, loss || '_' || seed);
		END LOOP;
		FOREACH s IN ARRAY ARRAY[0.3, 0.5, 0.7, 0.9] LOOP
			name := vqa_prune('bce_' || seed, 'bce', s, 'mask', mask || jsonb_build_object('seed', seed));
			INSERT INTO runs VALUES (seed, 'bce+bce', s, name);
			name := vqa_prune('lmh_' || seed, 'lmh', s, 'mask', mask || jsonb_build_object('seed', seed));
			INSERT INTO runs VALUES (seed, 'lmh+lmh', s, name);
		END LOOP;
	END LOOP;
	PERFORM vqa_evaluate(model, 'vs', 'test') FROM runs;
	PERFORM vqa_prior_baseline('vs', 'test', 'prior');
	INSERT INTO runs VALUES (0, 'question-type prior', 0, 'prior');
END
$$;

\echo | method | sparsity | seeds | ID | OOD mean | language | visual | cross-modal | QT | KW | KWP | QT+KW | KO | KOP | QT+KO | KW+KO | QT+KW+KO |
\echo |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
SELECT format('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |',
			  r.method, CASE WHEN r.sparsity > 0 THEN r.sparsity::text ELSE '' END, count(*),
			  round(avg(v.iid)::numeric, 2) || coalesce(' ± ' || round(stddev_samp(v.iid)::numeric, 2), ''),
			  round(avg(v.ood_mean)::numeric, 2) || coalesce(' ± ' || round(stddev_samp(v.ood_mean)::numeric, 2), ''),
			  round(avg(v.ood_language)::numeric, 2), round(avg(v.ood_visual)::numeric, 2),
			  round(avg(v.ood_cross_modal)::numeric, 2),
			  round(avg(v.ood_qt)::numeric, 1), round(avg(v.ood_kw)::numeric, 1), round(avg(v.ood_kwp)::numeric, 1),
			  round(avg(v.ood_qt_kw)::numeric, 1), round(avg(v.ood_ko)::numeric, 1), round(avg(v.ood_kop)::numeric, 1),
			  round(avg(v.ood_qt_ko)::numeric, 1), round(avg(v.ood_kw_ko)::numeric, 1),
			  round(avg(v.ood_qt_kw_ko)::numeric, 1))
  FROM runs r JOIN vqa_accuracy_vqavs v ON v.label = r.model AND v.split = 'test'
 GROUP BY r.method, r.sparsity
 ORDER BY min(r.seed) = 0 DESC, r.sparsity, r.method;
