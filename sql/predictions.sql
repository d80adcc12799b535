-- Scoring results files and the language-prior baseline, seen through the views.
\getenv data VQAPRUNE_TEST_DATA
\set q_train :data '/vqacp_train_questions.json'
\set a_train :data '/vqacp_train_annotations.json'
\set q_test :data '/vqacp_test_questions.json'
\set a_test :data '/vqacp_test_annotations.json'
\set results :data '/results_test.json'
\set results_unknown :data '/results_unknown_question.json'
\set results_duplicate :data '/results_duplicate.json'

SELECT vqa_load_questions('runs', 'train', :'q_train', :'a_train', 2) AS train,
       vqa_load_questions('runs', 'test', :'q_test', :'a_test') AS test;

SELECT vqa_import_predictions('runs', 'test', :'results', 'my model') AS run_id \gset
SELECT p.question_id, p.answer, vqa_round(100 * p.accuracy) AS accuracy
  FROM vqaprune.predictions p WHERE run_id = :run_id ORDER BY question_id;
SELECT label, dataset, split, questions, overall, yes_no, number, other, source
  FROM vqa_accuracy WHERE run_id = :run_id;
SELECT answer_type, questions, accuracy
  FROM vqa_accuracy_by_answer_type WHERE run_id = :run_id ORDER BY answer_type;
SELECT question_type, answer_type, questions, accuracy
  FROM vqa_accuracy_by_question_type WHERE run_id = :run_id ORDER BY question_type;

-- the prior baseline: argmax of p_b per question type
SELECT vqa_prior_baseline('runs', 'test') AS prior_run \gset
SELECT q.question_type, p.answer, count(*) AS questions
  FROM vqaprune.predictions p
  JOIN vqaprune.runs r USING (run_id)
  JOIN vqaprune.questions q ON q.dataset_id = r.dataset_id AND q.question_id = p.question_id
 WHERE p.run_id = :prior_run GROUP BY 1, 2 ORDER BY 1;
SELECT label, questions, overall, yes_no, number, other
  FROM vqa_accuracy WHERE run_id = :prior_run;

-- runs join with a user's own tables
CREATE TABLE experiments (run_id bigint PRIMARY KEY, note text);
INSERT INTO experiments VALUES (:run_id, 'imported'), (:prior_run, 'baseline');
SELECT e.note, a.overall FROM vqa_accuracy a JOIN experiments e USING (run_id) ORDER BY e.note;

-- bad results files store no run (messages naming files: test/pgtap)
\set VERBOSITY sqlstate
SELECT vqa_import_predictions('runs', 'test', :'results_unknown', 'bad');
SELECT vqa_import_predictions('runs', 'test', :'results_duplicate', 'bad');
SELECT vqa_import_predictions('runs', 'train', :'results', 'bad');
\set VERBOSITY default
SELECT vqa_import_predictions('runs', 'nosuch', :'results', 'bad');
SELECT vqa_import_predictions('nosuch', 'test', :'results', 'bad');
SELECT count(*) AS bad_runs FROM vqaprune.runs WHERE label = 'bad';
