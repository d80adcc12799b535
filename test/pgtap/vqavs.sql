-- VQA-VS: the loader (counts, OOD membership, every bad input refused whole),
-- its scoring (exact match, not the official metric), the views against an
-- independent computation from the per-question rows, and the embedded
-- VQA-VS-shaped benchmark through fine-tuning, evaluation and the view.
-- Expected figures: test/data/vqavs.md, computed by make_vqavs_data.py.
\getenv data VQAPRUNE_TEST_DATA
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(52);

-- SQLSTATE and message of a statement, with the data directory written $DATA
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('vqaprune_test.data'), '$DATA');
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
SELECT set_config('vqaprune_test.data', :'data', true);
CREATE FUNCTION pg_temp.load(dataset text, directory text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.error_of(format('SELECT vqa_load_vqavs(%L, %L, 1)', dataset,
		current_setting('vqaprune_test.data') || '/' || directory))
$$;

-- the loader ------------------------------------------------------------------

SELECT is(vqa_load_vqavs('vs', :'data' || '/vqavs', 1), 28::bigint,
	'vqa_load_vqavs returns the questions loaded');
SELECT results_eq($$SELECT split, questions FROM vqa_dataset_splits WHERE dataset = 'vs' ORDER BY split$$,
	$$VALUES ('test', 12::bigint), ('train', 12::bigint), ('val', 4::bigint)$$,
	'Training, Val and IID-Test are the splits train, val and test');
SELECT results_eq($$SELECT source, benchmark, min_answer_count FROM vqa_datasets WHERE dataset = 'vs'$$,
	$$VALUES ('files'::text, 'vqa-vs'::text, 1)$$, 'the dataset is marked as a VQA-VS one');
SELECT results_eq($$SELECT o.ood_set, array_agg(o.question_id ORDER BY o.question_id)
	  FROM vqaprune.ood_questions o JOIN vqaprune.datasets d USING (dataset_id)
	  JOIN vqaprune.ood_sets s USING (ood_set)
	 WHERE d.name = 'vs' GROUP BY o.ood_set, s.position ORDER BY s.position$$,
	$$VALUES ('QT'::text, '{501,601,701}'::bigint[]), ('KW', '{502,604}'), ('KWP', '{501,703}'),
		('QT+KW', '{601,604,703}'), ('KO', '{503,603}'), ('KOP', '{603}'), ('QT+KO', '{701,702,703}'),
		('KW+KO', '{502}'), ('QT+KW+KO', '{503,601,604,703}')$$,
	'each OOD set holds its IID-Test questions');
SELECT is((SELECT count(*) FROM vqaprune.ood_questions o JOIN vqaprune.questions q USING (dataset_id, question_id)
	JOIN vqaprune.datasets d USING (dataset_id) WHERE d.name = 'vs' AND q.split = 'test'), 21::bigint,
	'every membership is of a test question');
SELECT results_eq($$SELECT a.answer FROM vqaprune.answers a JOIN vqaprune.datasets d USING (dataset_id)
	WHERE d.name = 'vs' ORDER BY a.answer_id$$,
	$$VALUES ('2'::text), ('red'), ('yes'), ('3'), ('blue'), ('no')$$,
	'the vocabulary comes from Training');
SELECT is(vqa_load_vqavs('vs_slash', :'data' || '/vqavs/', 1), 28::bigint, 'a trailing slash names the same directory');
SELECT results_eq($$SELECT ood_set, position, modality FROM vqaprune.ood_sets ORDER BY position$$,
	$$VALUES ('QT'::text, 1, 'language'::text), ('KW', 2, 'language'), ('KWP', 3, 'language'),
		('QT+KW', 4, 'language'), ('KO', 5, 'visual'), ('KOP', 6, 'visual'), ('QT+KO', 7, 'cross-modal'),
		('KW+KO', 8, 'cross-modal'), ('QT+KW+KO', 9, 'cross-modal')$$,
	'vqaprune.ood_sets names the nine sets and their modalities');

-- bad input: each a clear error, nothing half-loaded
SELECT is(pg_temp.load('bad', 'vqavs_missing_file'),
	'58P01: could not open file "$DATA/vqavs_missing_file/OOD-Test/KOP/OOD-Test-KOP-Ans.json" for reading: No such file or directory',
	'a missing file');
SELECT is(pg_temp.hint_of(format('SELECT vqa_load_vqavs(%L, %L)', 'bad', :'data' || '/vqavs_missing_file')),
	'A VQA-VS directory holds Training/Training-Ques.json and -Ans.json, the same for Val and IID-Test, and '
	'OOD-Test/<set>/OOD-Test-<set>-Ques.json and -Ans.json for each of the nine sets QT, KW, KWP, QT+KW, KO, '
	'KOP, QT+KO, KW+KO and QT+KW+KO.', 'with a hint of the layout');
SELECT is(pg_temp.load('bad', 'nosuch'),
	'58P01: could not open directory "$DATA/nosuch": No such file or directory', 'a missing directory');
SELECT is(pg_temp.load('bad', 'vqavs_results_test.json'),
	'42809: "$DATA/vqavs_results_test.json" is not a directory', 'a file for a directory');
SELECT is(pg_temp.load('bad', 'vqavs_bad_json'),
	'22P02: invalid VQA questions file "$DATA/vqavs_bad_json/OOD-Test/KW/OOD-Test-KW-Ques.json": invalid JSON at byte 75: parse error: object key and value must be separated by a colon ('':'')',
	'malformed JSON');
SELECT is(pg_temp.load('bad', 'vqavs_ans_mismatch'),
	'22000: invalid VQA questions file "$DATA/vqavs_ans_mismatch/Val/Val-Ques.json": record 2 (question_id 403): no annotation in "$DATA/vqavs_ans_mismatch/Val/Val-Ans.json"',
	'a question without annotation');
SELECT is(pg_temp.load('bad', 'vqavs_ood_not_in_test'),
	'22000: invalid VQA-VS OOD set QT+KO: record 1 of "$DATA/vqavs_ood_not_in_test/OOD-Test/QT+KO/OOD-Test-QT+KO-Ans.json" (question_id 203): no such question in IID-Test (it is a question of split "train")',
	'an OOD question that is not in IID-Test');
SELECT is(pg_temp.hint_of(format('SELECT vqa_load_vqavs(%L, %L)', 'bad', :'data' || '/vqavs_ood_not_in_test')),
	'Each OOD set is a subset of IID-Test by question id: the OOD-Test files must come with the IID-Test files of the same release.',
	'with a hint');
SELECT is(pg_temp.load('bad', 'vqavs_ood_differs'),
	'22000: invalid VQA-VS OOD set KO: record 1 of "$DATA/vqavs_ood_differs/OOD-Test/KO/OOD-Test-KO-Ans.json" (question_id 603): its question differs from IID-Test''s',
	'an OOD question that IID-Test words differently');
SELECT is(pg_temp.load('vs', 'vqavs'), '42710: dataset "vs" already exists', 'a dataset that exists');
SELECT is(pg_temp.error_of(format('SELECT vqa_load_vqavs(%L, %L, 0)', 'bad', :'data' || '/vqavs')),
	'22023: min_answer_count must be at least 1', 'a bad min_answer_count');
SELECT is(pg_temp.error_of($$SELECT vqa_load_vqavs('bad', NULL)$$), '22004: directory must not be null',
	'a null directory');
SELECT is((SELECT count(*) FROM vqaprune.datasets WHERE name = 'bad'), 0::bigint, 'no bad dataset remains');
SELECT is((SELECT count(*) FROM vqaprune.questions q JOIN vqaprune.datasets d USING (dataset_id)
	WHERE d.name NOT IN ('vs', 'vs_slash')), 0::bigint, 'nor any of its questions');
SELECT is(pg_temp.error_of(format('SELECT vqa_load_questions(%L, %L, %L, %L)', 'vs', 'extra',
		:'data' || '/vqavs/Val/Val-Ques.json', :'data' || '/vqavs/Val/Val-Ans.json')),
	'42809: dataset "vs" was loaded by vqa_load_vqavs', 'vqa_load_questions does not add to a VQA-VS dataset');

-- scoring: VQA-VS's exact match ------------------------------------------------

SELECT is(vqa_answer_accuracy_vqavs('Red', ARRAY['red','red','red','red','red','red','red','red','red','Red']),
	1.0::float8 / 3, 'one exact match: 1/3, where the official metric normalises to 1');
SELECT is(vqa_answer_accuracy_vqavs('two', ARRAY['2','2','two','two','two','3']), 1.0::float8,
	'three exact matches: 1');
SELECT is(pg_temp.error_of($$SELECT vqa_answer_accuracy_vqavs('yes', '{}')$$),
	'22023: answers must not be empty', 'no answers');
CREATE TEMP TABLE imported AS
SELECT vqa_import_predictions('vs', 'test', :'data' || '/vqavs_results_test.json', 'vs results') AS run_id;
SELECT is((SELECT count(*) FROM vqaprune.predictions WHERE run_id = (SELECT run_id FROM imported)), 12::bigint,
	'predictions of IID-Test import as a run');
SELECT is((SELECT count(*) FROM vqaprune.predictions p JOIN vqaprune.questions q ON q.question_id = p.question_id
	JOIN vqaprune.datasets d ON d.dataset_id = q.dataset_id AND d.name = 'vs'
	WHERE p.run_id = (SELECT run_id FROM imported) AND p.accuracy <> vqa_answer_accuracy_vqavs(p.answer, q.answers)), 0::bigint,
	'each answer is scored with VQA-VS''s metric');
SELECT is((SELECT vqa_round(100 * avg(vqa_answer_accuracy(p.answer, q.answers)))
	FROM vqaprune.predictions p JOIN vqaprune.questions q ON q.question_id = p.question_id
	JOIN vqaprune.datasets d ON d.dataset_id = q.dataset_id AND d.name = 'vs' WHERE p.run_id = (SELECT run_id FROM imported)),
	77.5::float8, 'the official metric would give 77.50 (vqavs.md), not VQA-VS''s 72.22');

-- the views --------------------------------------------------------------------

SELECT columns_are('vqa_accuracy_vqavs', ARRAY['run_id', 'label', 'dataset', 'split', 'questions', 'iid',
	'ood_qt', 'ood_kw', 'ood_kwp', 'ood_qt_kw', 'ood_ko', 'ood_kop', 'ood_qt_ko', 'ood_kw_ko', 'ood_qt_kw_ko',
	'ood_mean', 'ood_language', 'ood_visual', 'ood_cross_modal', 'source', 'model_id', 'created_at'],
	'vqa_accuracy_vqavs has the IID, nine OOD and four mean columns');
SELECT columns_are('vqa_accuracy_vqavs_sets', ARRAY['run_id', 'label', 'dataset', 'split', 'ood_set',
	'modality', 'position', 'questions', 'accuracy'], 'and vqa_accuracy_vqavs_sets its long form');
SELECT results_eq($$SELECT questions, iid, ood_qt, ood_kw, ood_kwp, ood_qt_kw, ood_ko, ood_kop, ood_qt_ko,
		ood_kw_ko, ood_qt_kw_ko, ood_mean, ood_language, ood_visual, ood_cross_modal
	  FROM vqa_accuracy_vqavs WHERE run_id = (SELECT run_id FROM imported)$$,
	$$VALUES (12::bigint, 72.22::float8, 66.67::float8, 83.33::float8, 83.33::float8, 77.78::float8,
		83.33::float8, 100::float8, 88.89::float8, 100::float8, 75::float8, 84.26::float8, 77.78::float8,
		91.66::float8, 87.96::float8)$$,
	'one row per run: the figures of vqavs.md');

-- the same figures from the per-question rows, in SQL, with neither the metric
-- functions nor the views: exact matches counted, sets rounded, means of the
-- rounded sets
CREATE TEMP TABLE independent AS
WITH per_question AS (
	SELECT p.run_id, q.question_id,
		   least(1.0, (SELECT count(*) FROM unnest(q.answers) a WHERE a = p.answer) / 3.0) AS score
	  FROM vqaprune.predictions p
	  JOIN vqaprune.runs r USING (run_id)
	  JOIN vqaprune.questions q ON q.dataset_id = r.dataset_id AND q.question_id = p.question_id),
sets AS (
	SELECT pq.run_id, o.ood_set, round(100 * avg(pq.score), 2) AS accuracy
	  FROM per_question pq JOIN vqaprune.runs r USING (run_id)
	  JOIN vqaprune.ood_questions o ON o.dataset_id = r.dataset_id AND o.question_id = pq.question_id
	 GROUP BY pq.run_id, o.ood_set)
SELECT s.run_id,
	   (SELECT round(100 * avg(score), 2) FROM per_question pq WHERE pq.run_id = s.run_id) AS iid,
	   avg(s.accuracy) AS ood_mean,
	   avg(s.accuracy) FILTER (WHERE s.ood_set IN ('QT', 'KW', 'KWP', 'QT+KW')) AS ood_language,
	   avg(s.accuracy) FILTER (WHERE s.ood_set IN ('KO', 'KOP')) AS ood_visual,
	   avg(s.accuracy) FILTER (WHERE s.ood_set IN ('QT+KO', 'KW+KO', 'QT+KW+KO')) AS ood_cross_modal,
	   count(*) AS sets
  FROM sets s GROUP BY s.run_id;
SELECT is((SELECT sets FROM independent WHERE run_id = (SELECT run_id FROM imported)), 9::bigint, 'the independent count sees nine sets');
SELECT ok((SELECT abs(v.iid - i.iid) < 0.006 AND abs(v.ood_mean - i.ood_mean) < 0.006
	AND abs(v.ood_language - i.ood_language) < 0.006 AND abs(v.ood_visual - i.ood_visual) < 0.006
	AND abs(v.ood_cross_modal - i.ood_cross_modal) < 0.006
	FROM vqa_accuracy_vqavs v JOIN independent i USING (run_id) WHERE run_id = (SELECT run_id FROM imported)),
	'the view''s IID accuracy and means match the independent computation (within rounding, 0.006)');
SELECT results_eq($$SELECT ood_set, modality, questions, accuracy FROM vqa_accuracy_vqavs_sets
	WHERE run_id = (SELECT run_id FROM imported) ORDER BY position$$,
	$$VALUES ('QT'::text, 'language'::text, 3::bigint, 66.67::float8), ('KW', 'language', 2, 83.33),
		('KWP', 'language', 2, 83.33), ('QT+KW', 'language', 3, 77.78), ('KO', 'visual', 2, 83.33),
		('KOP', 'visual', 1, 100), ('QT+KO', 'cross-modal', 3, 88.89), ('KW+KO', 'cross-modal', 1, 100),
		('QT+KW+KO', 'cross-modal', 4, 75)$$,
	'the long form: one row per run and set');
CREATE TEMP TABLE my_experiments (run_id bigint, note text);
INSERT INTO my_experiments SELECT run_id, 'imported' FROM imported;
SELECT is((SELECT e.note || ' ' || v.ood_mean FROM vqa_accuracy_vqavs v JOIN my_experiments e USING (run_id)),
	'imported 84.26', 'the view joins with a user''s experiment metadata');
SELECT is((SELECT overall FROM vqa_accuracy WHERE run_id = (SELECT run_id FROM imported)), 72.22::float8,
	'vqa_accuracy shows the same run, scored as VQA-VS scores it');
SELECT ok(vqa_prior_baseline('vs', 'val', 'prior, val') > 0, 'a prior baseline of another split');
SELECT results_eq($$SELECT split, ood_qt IS NULL AND ood_mean IS NULL FROM vqa_accuracy_vqavs WHERE label = 'prior, val'$$,
	$$VALUES ('val'::text, true)$$, 'has no OOD figures: the sets are of IID-Test');
SELECT is((SELECT count(*) FROM vqa_accuracy_vqavs v JOIN vqa_accuracy a USING (run_id)
	WHERE a.dataset NOT IN ('vs', 'vs_slash')), 0::bigint, 'only VQA-VS runs are in the view');

-- the embedded VQA-VS-shaped benchmark, end to end ------------------------------

SELECT is(vqa_synthetic('svs', images => 150, seed => 3, boxes => 4, feature_dim => 16, benchmark => 'vqa-vs'),
	900::bigint, 'vqa_synthetic(benchmark => ''vqa-vs'')');
SELECT results_eq($$SELECT benchmark, source FROM vqa_datasets WHERE dataset = 'svs'$$,
	$$VALUES ('vqa-vs'::text, 'synthetic'::text)$$, 'makes a VQA-VS dataset');
SELECT is((SELECT count(DISTINCT o.ood_set) FILTER (WHERE q.split = 'test')
	  || ' sets, ' || count(*) FILTER (WHERE q.split <> 'test') || ' outside test'
	FROM vqaprune.ood_questions o JOIN vqaprune.questions q USING (dataset_id, question_id)
	JOIN vqaprune.datasets d USING (dataset_id) WHERE d.name = 'svs'), '9 sets, 0 outside test',
	'with nine non-empty OOD sets of test questions');
SELECT ok((SELECT bool_and(n < t.total) FROM (SELECT count(*) AS n FROM vqaprune.ood_questions o
	JOIN vqaprune.datasets d USING (dataset_id) WHERE d.name = 'svs' GROUP BY o.ood_set) s,
	(SELECT count(*) AS total FROM vqaprune.questions q JOIN vqaprune.datasets d USING (dataset_id)
	  WHERE d.name = 'svs' AND q.split = 'test') t), 'each a proper subset of test');
SELECT is(vqa_synthetic('svs_again', images => 150, seed => 3, boxes => 4, feature_dim => 16,
	benchmark => 'vqa-vs'), 900::bigint, 'made again');
SELECT is((SELECT string_agg(o.ood_set || o.question_id, ',' ORDER BY o.ood_set, o.question_id)
	FROM vqaprune.ood_questions o JOIN vqaprune.datasets d USING (dataset_id) WHERE d.name = 'svs_again'),
	(SELECT string_agg(o.ood_set || o.question_id, ',' ORDER BY o.ood_set, o.question_id)
	FROM vqaprune.ood_questions o JOIN vqaprune.datasets d USING (dataset_id) WHERE d.name = 'svs'),
	'the same seed gives the same OOD sets');
SELECT is(pg_temp.error_of($$SELECT vqa_synthetic('bad', images => 10, benchmark => 'gqa')$$),
	'22023: unknown benchmark "gqa"', 'an unknown benchmark');
SELECT lives_ok($$SELECT vqa_create_model('vs_tiny', 'svs', '{"hidden_size": 16, "num_attention_heads": 2,
	"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}', seed => 1)$$, 'a tiny model');
SELECT is(vqa_finetune('vs_tiny', 'svs', 'lmh', '{"epochs": 2, "batch_size": 32, "lr": 0.002, "seed": 1}'),
	'vs_tiny_lmh', 'fine-tunes with LMH');
SELECT ok(vqa_evaluate('vs_tiny_lmh', 'svs', 'test') > 0, 'and evaluates on IID-Test');
SELECT ok((SELECT questions = 296 AND iid BETWEEN 0 AND 100 AND ood_mean BETWEEN 0 AND 100
	AND num_nulls(ood_qt, ood_kw, ood_kwp, ood_qt_kw, ood_ko, ood_kop, ood_qt_ko, ood_kw_ko, ood_qt_kw_ko,
				  ood_language, ood_visual, ood_cross_modal) = 0
	FROM vqa_accuracy_vqavs WHERE label = 'vs_tiny_lmh'), 'which scores every OOD set at once');
DROP TABLE independent;
CREATE TEMP TABLE independent AS
WITH per_question AS (
	SELECT p.run_id, q.question_id,
		   least(1.0, (SELECT count(*) FROM unnest(q.answers) a WHERE a = p.answer) / 3.0) AS score
	  FROM vqaprune.predictions p
	  JOIN vqaprune.runs r USING (run_id)
	  JOIN vqaprune.questions q ON q.dataset_id = r.dataset_id AND q.question_id = p.question_id
	 WHERE r.label = 'vs_tiny_lmh'),
sets AS (
	SELECT pq.run_id, o.ood_set, round(100 * avg(pq.score), 2) AS accuracy
	  FROM per_question pq JOIN vqaprune.runs r USING (run_id)
	  JOIN vqaprune.ood_questions o ON o.dataset_id = r.dataset_id AND o.question_id = pq.question_id
	 GROUP BY pq.run_id, o.ood_set)
SELECT s.run_id, avg(s.accuracy) AS ood_mean FROM sets s GROUP BY s.run_id;
SELECT ok((SELECT abs(v.ood_mean - i.ood_mean) < 0.006 FROM vqa_accuracy_vqavs v JOIN independent i USING (run_id)),
	'its OOD mean matches the independent computation');

SELECT * FROM finish();
ROLLBACK;
