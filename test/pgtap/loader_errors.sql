-- Every malformed input fails with its SQLSTATE and a message naming the
-- file, the record and what is wrong, and leaves no rows behind.
\getenv data VQAPRUNE_TEST_DATA
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(34);

-- SQLSTATE and message of a statement, with the data directory written $DATA
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('vqaprune_test.data'), '$DATA');
END
$$;
SELECT set_config('vqaprune_test.data', :'data', true);

CREATE FUNCTION pg_temp.load_questions(questions text, annotations text) RETURNS text
LANGUAGE sql AS $$
	SELECT pg_temp.error_of(format('SELECT vqa_load_questions(%L, %L, %L, %L, 2)', 'bad', 'train',
		current_setting('vqaprune_test.data') || '/' || questions,
		current_setting('vqaprune_test.data') || '/' || annotations))
$$;
CREATE FUNCTION pg_temp.load_features(tsv text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.error_of(format('SELECT vqa_load_features(%L, %L)', 'bad',
		current_setting('vqaprune_test.data') || '/' || tsv))
$$;

-- questions and annotations
SELECT is(pg_temp.load_questions('bad_json_questions.json', 'vqacp_train_annotations.json'),
	'22P02: invalid VQA questions file "$DATA/bad_json_questions.json": invalid JSON at byte 388: parse error: object key and value must be separated by a colon ('':'')',
	'bad JSON');
SELECT is(pg_temp.load_questions('vqacp_train_questions.json', 'missing_annotation_annotations.json'),
	'22000: invalid VQA questions file "$DATA/vqacp_train_questions.json": record 8 (question_id 301): no annotation in "$DATA/missing_annotation_annotations.json"',
	'a question without annotation');
SELECT is(pg_temp.load_questions('vqacp_test_questions.json', 'vqacp_train_annotations.json'),
	'22000: invalid VQA annotations file "$DATA/vqacp_train_annotations.json": record 0 (question_id 101): no such question in "$DATA/vqacp_test_questions.json"',
	'an annotation without question');
SELECT is(pg_temp.load_questions('duplicate_questions.json', 'vqacp_train_annotations.json'),
	'22000: invalid VQA questions file "$DATA/duplicate_questions.json": record 24 (question_id 101): question_id 101 appears twice',
	'a duplicate question id');
SELECT is(pg_temp.load_questions('vqacp_train_questions.json', 'duplicate_annotations.json'),
	'22000: invalid VQA annotations file "$DATA/duplicate_annotations.json": record 24 (question_id 101): question_id 101 is annotated twice',
	'a question annotated twice');
SELECT is(pg_temp.load_questions('missing_field_questions.json', 'vqacp_train_annotations.json'),
	'22P02: invalid VQA questions file "$DATA/missing_field_questions.json": record 2 (question_id 103): field "image_id" is missing',
	'a record without a required field');
SELECT is(pg_temp.load_questions('nosuch.json', 'vqacp_train_annotations.json'),
	'58P01: could not open file "$DATA/nosuch.json" for reading: No such file or directory',
	'a missing file');
SELECT is(pg_temp.load_questions('vqacp_train_annotations.json', 'vqacp_train_annotations.json'),
	'22P02: invalid VQA questions file "$DATA/vqacp_train_annotations.json": record 0 (question_id 101): field "question" is missing',
	'an annotation file given as question file');
SELECT is(pg_temp.error_of($$SELECT vqa_load_questions('bad', 'train', NULL, 'x')$$),
	'22004: questions_file must not be null', 'a null file name');
SELECT is(pg_temp.error_of($$SELECT vqa_load_questions('bad', '', 'x', 'x')$$),
	'22023: split must not be empty', 'an empty split name');
SELECT is(pg_temp.error_of($$SELECT vqa_load_questions('bad', 'train', 'x', 'x', 0)$$),
	'22023: min_answer_count must be at least 1', 'a bad min_answer_count');
SELECT is(pg_temp.error_of(format('SELECT vqa_load_questions(%L, %L, %L, %L)', 'bad', 'train',
		:'data', :'data')),
	'42809: "$DATA" is a directory', 'a directory');

-- features
SELECT is(pg_temp.load_features('bad_base64.tsv'),
	'22P02: invalid features file "$DATA/bad_base64.tsv": line 3 (image 3): field "features" is not valid base64',
	'bad base64');
SELECT is(pg_temp.load_features('box_count_mismatch.tsv'),
	'22P02: invalid features file "$DATA/box_count_mismatch.tsv": line 2 (image 2): "boxes" holds 12 floats, expected 4 x num_boxes = 16',
	'a box count that does not match the data');
SELECT is(pg_temp.load_features('nan_features.tsv'),
	'22P02: invalid features file "$DATA/nan_features.tsv": line 4 (image 4): "features" value 17 is NaN',
	'NaN in features');
SELECT is(pg_temp.load_features('inf_features.tsv'),
	'22P02: invalid features file "$DATA/inf_features.tsv": line 5 (image 5): "features" value 30 is infinite',
	'Inf in features');
SELECT is(pg_temp.load_features('duplicate_images.tsv'),
	'22P02: invalid features file "$DATA/duplicate_images.tsv": line 7 (image 2): image 2 appears twice in the file',
	'a duplicate image id');
SELECT is(pg_temp.load_features('vqacp_train_questions.json'),
	'22P02: invalid features file "$DATA/vqacp_train_questions.json": line 1: expected 10 fields (LXMERT) or 6 fields (bottom-up), found 1',
	'not a TSV file');

-- nothing half-written
SELECT is((SELECT count(*) FROM vqaprune.datasets WHERE name = 'bad'), 0::bigint,
	'no dataset row remains');
SELECT is((SELECT count(*) FROM vqaprune.questions), 0::bigint, 'no question row remains');
SELECT is((SELECT count(*) FROM vqaprune.images), 0::bigint, 'no image row remains');

-- a feature dimension that differs from the dataset's
SELECT lives_ok(format('SELECT vqa_synthetic(%L, images => 2, feature_dim => 16)', 'dims'),
	'a dataset with 16-dimensional features');
SELECT is(pg_temp.error_of(format('SELECT vqa_load_features(%L, %L)', 'dims', :'data' || '/features_lxmert.tsv')),
	'22000: invalid features file "$DATA/features_lxmert.tsv": image 1 has feature dimension 8, but dataset "dims" holds dimension 16',
	'features of another dimension');

-- permissions: loading needs pg_read_server_files, as COPY FROM a file does
-- a member of the group, which may call every function
CREATE ROLE vqaprune_reader IN ROLE vqaprune_user;
SET ROLE vqaprune_reader;
SELECT is(pg_temp.load_questions('vqacp_train_questions.json', 'vqacp_train_annotations.json'),
	'42501: permission denied to read server files', 'questions need pg_read_server_files');
SELECT is(pg_temp.load_features('features_lxmert.tsv'),
	'42501: permission denied to read server files', 'features need pg_read_server_files');
RESET ROLE;
GRANT pg_read_server_files TO vqaprune_reader;
SET ROLE vqaprune_reader;
SELECT is(pg_temp.load_questions('vqacp_train_questions.json', 'vqacp_train_annotations.json'),
	'no error', 'with pg_read_server_files, a role may load');
SELECT is((SELECT count(*) FROM vqaprune.questions JOIN vqaprune.datasets USING (dataset_id)
		WHERE name = 'bad'), 24::bigint, 'and its rows are there');
RESET ROLE;
SELECT lives_ok(format('SELECT vqa_load_questions(%L, %L, %L, %L)', 'bad', 'test',
	:'data' || '/vqacp_test_questions.json', :'data' || '/vqacp_test_annotations.json'),
	'a test split to score');
CREATE FUNCTION pg_temp.import(results text, split text DEFAULT 'test') RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.error_of(format('SELECT vqa_import_predictions(%L, %L, %L, %L)', 'bad', split,
		current_setting('vqaprune_test.data') || '/' || results, 'bad run'))
$$;
SELECT is(pg_temp.import('results_test.json', 'train'),
	'22000: invalid VQA results file "$DATA/results_test.json": record 0 (question_id 105): no such question in split "train" of dataset "bad"',
	'a results file for another split');
SELECT is(pg_temp.import('results_unknown_question.json'),
	'22000: invalid VQA results file "$DATA/results_unknown_question.json": record 12 (question_id 999): no such question in split "test" of dataset "bad"',
	'an answer to an unknown question');
SELECT is(pg_temp.import('results_duplicate.json'),
	'22000: invalid VQA results file "$DATA/results_duplicate.json": record 12 (question_id 105): question_id 105 is answered twice',
	'a question answered twice');
SELECT is(pg_temp.import('vqacp_test_questions.json'),
	'22P02: invalid VQA results file "$DATA/vqacp_test_questions.json": record 0 (question_id 105): field "answer" is missing',
	'a question file given as results');
\set partial :data '/partial_results.json'
COPY (SELECT '[{"question_id": 105, "answer": "blue"}, {"question_id": 106, "answer": "no"}]') TO :'partial';
SELECT is(pg_temp.import('partial_results.json'),
	'22000: invalid VQA results file "$DATA/partial_results.json": it answers 2 of the 12 questions of split "test"',
	'a results file that misses questions');
SELECT is((SELECT count(*) FROM vqaprune.runs WHERE label = 'bad run'), 0::bigint, 'no run remains');

SELECT * FROM finish();
ROLLBACK;
