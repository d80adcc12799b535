-- make masker-compare, vqaprune's side (doc/results.md): the embedded
-- benchmark, a BCE model trained on it, that model and the data exported
-- for test/bench/masker_ref.py into :dir, then mask training with LMH at
-- 0.7 from it for every recipe of :recipes (a JSON array of vqa_prune
-- options), evaluated on test after every epoch. The curves go to
-- :dir/vqaprune_curves.tsv (recipe number, epoch, test accuracy).
-- Run with psql -v dir=PATH -v images=N -v config=JSON -v recipes=JSON.
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
CREATE EXTENSION IF NOT EXISTS vqaprune;
SET vqaprune.threads = 2;
SELECT vqa_synthetic('synth', images => :images, seed => 0) \g /dev/null
SELECT vqa_create_model('init', 'synth', :'config', seed => 1) \g /dev/null
SELECT vqa_finetune('init', 'synth', 'bce', '{"name": "bce", "epochs": 30, "lr": 1e-3, "batch_size": 64,
	"warmup_epochs": 2, "seed": 1}') \g /dev/null
\set model bce
\set dataset synth
\ir export_for_ref.sql
CREATE TEMP TABLE curves (recipe int, epoch int, accuracy float8);
SELECT set_config('compare.recipes', :'recipes', false) \g /dev/null
DO $$
DECLARE
	r record;
	pruned text;
BEGIN
	FOR r IN SELECT recipe, ord FROM jsonb_array_elements(current_setting('compare.recipes')::jsonb)
			 WITH ORDINALITY AS t(recipe, ord) LOOP
		pruned := vqa_prune('bce', 'lmh', 0.7, 'mask', r.recipe || jsonb_build_object(
			'eval_split', 'test', 'name', 'mask_' || r.ord));
		INSERT INTO curves
		SELECT r.ord, (e->>'epoch')::int, (e->>'eval_accuracy')::float8
		  FROM vqaprune.models m, jsonb_array_elements(m.metrics->'epochs') e
		 WHERE m.name = pruned;
	END LOOP;
END
$$;
SELECT format('COPY curves TO %L', :'dir' || '/vqaprune_curves.tsv') \gexec
