-- The vqaprune demo: the main job on the embedded VQA-CP-style benchmark,
-- Stage 1 fine-tuning (its longest step as a background job), Stage 2
-- pruning and compaction; then the paper's second backbone, VisualBERT, and
-- its second benchmark, VQA-VS, in the embedded benchmark's VQA-VS mode.
-- `make demo` runs it in a throwaway cluster; any psql session with the
-- extension installed can run it too.
\set ON_ERROR_STOP on
\pset footer off
\echo
\echo == 1. The extension
CREATE EXTENSION IF NOT EXISTS vqaprune;

\echo
\echo == 2. The embedded benchmark: scenes, region features, questions, VQA-CP splits
SELECT vqa_synthetic('synth', images => 1000, seed => 0) AS questions_made;
SELECT * FROM vqa_dataset_splits WHERE dataset = 'synth' ORDER BY split;
SELECT count(*) AS answer_vocabulary FROM vqaprune.answers a
  JOIN vqaprune.datasets d USING (dataset_id) WHERE d.name = 'synth';

\echo
\echo == 3. The language prior: answer every question with the most likely answer
\echo ==    of its question type on train. In distribution (val) it looks good;
\echo ==    out of distribution (test) it falls apart: what VQA-CP is built to show.
SELECT vqa_prior_baseline('synth', 'val', 'prior baseline, ID') AS id_run,
       vqa_prior_baseline('synth', 'test', 'prior baseline, OOD') AS ood_run;
SELECT label, split, questions, overall, yes_no, number, other
  FROM vqa_accuracy WHERE dataset = 'synth' ORDER BY run_id;

\echo
\echo == 4. Per question type, ID against OOD
SELECT q.question_type, q.answer_type,
       q.accuracy AS id_accuracy, o.accuracy AS ood_accuracy
  FROM vqa_accuracy_by_question_type q
  JOIN vqa_accuracy_by_question_type o USING (question_type, answer_type)
 WHERE q.label = 'prior baseline, ID' AND o.label = 'prior baseline, OOD'
 ORDER BY q.answer_type, q.question_type;

\echo
\echo == 5. A small LXMERT for the benchmark: its answer head follows the answer
\echo ==    vocabulary, its visual input the features, its WordPiece vocabulary the questions
SELECT vqa_create_model('tiny', 'synth',
       '{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
         "l_layers": 2, "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32}') AS model;
SELECT model, dataset, stage, parameters, prunable FROM vqa_models;
\echo == the prunable set of the paper (theta_pr), by module
SELECT t.module, count(*) AS matrices, sum(t.numel) AS weights
  FROM vqaprune.tensors t JOIN vqaprune.models m USING (model_id)
 WHERE m.name = 'tiny' AND t.prunable GROUP BY t.module ORDER BY t.module;

\echo
\echo == 6. Stage 1: fine-tune it with BCE, then with LMH from the BCE model, and measure
\echo ==    in-distribution (val) and out-of-distribution (test) accuracy
SET vqaprune.threads = 2;
SET vqaprune."verbose" = on;   -- VERBOSE is an SQL keyword: quote it
\echo == The longest step, 30 epochs of BCE, runs as a background job: the session
\echo == is free meanwhile, and vqa_jobs shows its progress.
SELECT vqa_submit($$SELECT vqa_finetune('tiny', 'synth', 'bce',
                  '{"epochs": 30, "lr": 1e-3, "warmup_epochs": 2}')$$) AS job \gset
DO $$
DECLARE
	j record;
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();	-- fresh progress on every look
		SELECT * INTO j FROM vqa_jobs WHERE job_id = (SELECT max(job_id) FROM vqa_jobs);
		RAISE NOTICE '%', format('job %s: %s', j.job_id, j.status) ||
			CASE WHEN j.epoch IS NOT NULL THEN format(', epoch %s/%s, step %s/%s, loss %s, %s samples/s',
				j.epoch, j.epochs, j.step, j.total_steps, round(j.loss::numeric, 4),
				round(j.samples_per_second)) ELSE '' END;
		EXIT WHEN j.status NOT IN ('queued', 'running');
		PERFORM pg_sleep(3);
	END LOOP;
END
$$;
SELECT vqa_wait(:job) AS status;
SELECT job_id, role, status, result, finished_at - started_at AS took FROM vqa_jobs;
SELECT vqa_finetune('tiny_bce', 'synth', 'lmh', '{"epochs": 10, "lr": 5e-4, "warmup_epochs": 1}') AS model;
SELECT vqa_evaluate(m, 'synth', s) AS run
  FROM unnest(ARRAY['tiny_bce', 'tiny_bce_lmh']) m, unnest(ARRAY['val', 'test']) s;
SELECT label, split, questions, overall, yes_no, number, other
  FROM vqa_accuracy WHERE dataset = 'synth' ORDER BY split DESC, run_id;

\echo
\echo == 7. Stage 2, the headline call of the paper: mask training with LMH finds a
\echo ==    subnetwork of the BCE model with 70% of its prunable weights removed; only the
\echo ==    masks and the answer head are trained. (Runs on the benchmark are a few hundred
\echo ==    steps, not the 34k of the paper, so the scores take larger steps than lr 5e-5.)
SELECT vqa_prune('tiny_bce', 'lmh', 0.7, 'mask', '{"epochs": 5, "lr": 2e-3, "batch_size": 64}') AS model;
\echo == and one-shot magnitude pruning at the same sparsity, for comparison
SELECT vqa_prune('tiny_bce', 'lmh', 0.7, 'magnitude') AS model;
SELECT model, parent, stage, method, loss, sparsity_target,
       round((sparsity->>'language')::numeric, 3) AS language,
       round((sparsity->>'visual')::numeric, 3) AS visual,
       round((sparsity->>'cross')::numeric, 3) AS cross_modal
  FROM vqa_models WHERE stage = 2;
SELECT vqa_evaluate(m, 'synth', s) AS run
  FROM unnest(ARRAY['tiny_bce_mask_lmh_70', 'tiny_bce_magnitude_70']) m, unnest(ARRAY['val', 'test']) s;
\echo == OOD accuracy of the 70%-sparse subnetworks next to the full models
SELECT label, split, questions, overall, yes_no, number, other
  FROM vqa_accuracy WHERE dataset = 'synth' AND label LIKE 'tiny%' ORDER BY split DESC, run_id;

\echo
\echo == 8. Real compression: the subnetwork stored as mask bits plus its kept values
SELECT vqa_compact('tiny_bce_mask_lmh_70') AS model;
SELECT model, dense_bytes, stored_bytes, round(stored_bytes::numeric / dense_bytes, 3) AS ratio
  FROM vqa_models WHERE model LIKE 'tiny_bce_mask_lmh_70%';
SELECT module, parameters, prunable, dense_bytes, stored_bytes
  FROM vqa_model_modules WHERE model = 'tiny_bce_mask_lmh_70_compact' ORDER BY module;

\echo
\echo == 9. The second backbone of the paper, VisualBERT: one encoder over the question and
\echo ==    the regions together, made with the keys of HuggingFace VisualBertConfig. The same
\echo ==    calls fine-tune it, find its subnetwork by mask training with LMH and evaluate it.
\echo ==    Its prunable set is the one of the paper authors: every layer query, key, value,
\echo ==    attention output, intermediate and output weights, the pooler and the word
\echo ==    embeddings, pruned uniformly (it has no modules to give their own sparsity).
SET vqaprune."verbose" = off;
SELECT vqa_create_model('tiny_vb', 'synth',
       '{"model_type": "visual_bert", "hidden_size": 64, "num_attention_heads": 4,
         "intermediate_size": 128, "num_hidden_layers": 2, "max_position_embeddings": 32}') AS model;
SELECT module, parameters, prunable FROM vqa_model_modules WHERE model = 'tiny_vb' ORDER BY module;
SELECT vqa_finetune('tiny_vb', 'synth', 'bce', '{"epochs": 8, "lr": 1e-3, "warmup_epochs": 1}') AS model;
SELECT vqa_prune('tiny_vb_bce', 'lmh', 0.7, 'mask', '{"epochs": 3, "lr": 2e-3, "batch_size": 64}') AS model;
SELECT model, parent, stage, method, loss, sparsity_target, sparsity
  FROM vqa_models WHERE model LIKE 'tiny_vb%' ORDER BY model;
SELECT vqa_evaluate(m, 'synth', s) AS run
  FROM unnest(ARRAY['tiny_vb_bce', 'tiny_vb_bce_mask_lmh_70']) m, unnest(ARRAY['val', 'test']) s;
\echo == After a few epochs of BCE this VisualBERT answers as the language prior of step 3
\echo == does; mask training with LMH finds a subnetwork of it that does better out of
\echo == distribution.
SELECT label, split, questions, overall, yes_no, number, other
  FROM vqa_accuracy WHERE label LIKE 'tiny_vb%' ORDER BY split DESC, run_id;

\echo
\echo == 10. The second benchmark of the paper, VQA-VS: an in-distribution test split
\echo ==     (IID-Test) and nine OOD subsets of it, one per shortcut a model may learn
\echo ==     (question type, key word, key object, their pairs and combinations). The
\echo ==     embedded benchmark has a VQA-VS mode. A run of test scores IID and every OOD set
\echo ==     at once, with the exact-match metric of VQA-VS.
SELECT vqa_synthetic('synth_vs', images => 400, seed => 0, benchmark => 'vqa-vs') AS questions_made;
SELECT s.ood_set, s.modality, s.shortcut, count(o.question_id) AS questions
  FROM vqaprune.ood_sets s
  LEFT JOIN vqaprune.ood_questions o ON o.ood_set = s.ood_set
       AND o.dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'synth_vs')
 GROUP BY s.ood_set, s.modality, s.shortcut, s.position ORDER BY s.position;
\echo == a small LXMERT, trained briefly with BCE, against the question-type prior
SELECT vqa_create_model('tiny_vs', 'synth_vs',
       '{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
         "l_layers": 2, "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32}') AS model;
SELECT vqa_finetune('tiny_vs', 'synth_vs', 'bce', '{"epochs": 8, "lr": 1e-3, "warmup_epochs": 1}') AS model;
SELECT vqa_prior_baseline('synth_vs', 'test', 'prior baseline, VQA-VS') AS prior_run,
       vqa_evaluate('tiny_vs_bce', 'synth_vs', 'test') AS model_run;
\echo == the headline of the benchmark: IID accuracy and the mean of the nine OOD sets
SELECT label, questions, iid, ood_mean, ood_language, ood_visual, ood_cross_modal
  FROM vqa_accuracy_vqavs ORDER BY run_id;
SELECT p.ood_set, p.modality, p.questions, p.accuracy AS prior, m.accuracy AS tiny_vs_bce
  FROM vqa_accuracy_vqavs_sets p JOIN vqa_accuracy_vqavs_sets m USING (ood_set)
 WHERE p.label = 'prior baseline, VQA-VS' AND m.label = 'tiny_vs_bce' ORDER BY p.position;
