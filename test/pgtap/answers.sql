-- vqa_load_answers: a dataset's answer vocabulary from a given list, in
-- each of its three formats; soft targets and the prior follow the list;
-- models fitted to the old vocabulary are refused; bad files are refused
-- with nothing changed.
\getenv fixtures VQAPRUNE_FIXTURES
\getenv data VQAPRUNE_TEST_DATA
\set ON_ERROR_STOP 1
\set pre :fixtures '/pretrained'
\set labels_json :pre '/qa_labels.json'
\set labels_txt :pre '/qa_labels.txt'
\set labels_obj :pre '/qa_ans2label.json'
BEGIN;
SELECT plan(22);

SELECT set_config('vqaprune_test.data', :'data', true);
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('vqaprune_test.data'), '$DATA');
END
$$;
CREATE FUNCTION pg_temp.answers(dataset text) RETURNS text[] LANGUAGE sql AS $$
	SELECT array_agg(answer ORDER BY answer_id) FROM vqaprune.answers JOIN vqaprune.datasets USING (dataset_id)
	 WHERE name = dataset
$$;
CREATE TEMP TABLE labels AS
SELECT array_agg(l ORDER BY i) AS labels FROM jsonb_array_elements_text(pg_read_file(:'labels_json')::jsonb)
	   WITH ORDINALITY x(l, i);

SELECT vqa_synthetic(d, images => 150, seed => 3, boxes => 4, feature_dim => 16)
  FROM unnest(ARRAY['la', 'la_txt', 'la_obj']) d;
SELECT lives_ok($$SELECT vqa_create_model('old', 'la', '{"hidden_size": 16, "num_attention_heads": 2,
	"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}')$$, 'a model of the derived vocabulary');
CREATE TEMP TABLE derived AS SELECT pg_temp.answers('la') AS answers;

-- the three formats
SELECT is(vqa_load_answers('la', :'labels_json'), 20, 'a JSON list gives its answers');
SELECT is(pg_temp.answers('la'), (SELECT labels FROM labels), 'in its order');
SELECT is(vqa_load_answers('la_txt', :'labels_txt'), 20, 'one answer a line');
SELECT is(vqa_load_answers('la_obj', :'labels_obj'), 20, 'a JSON answer-to-index object');
SELECT ok(pg_temp.answers('la_txt') = pg_temp.answers('la') AND pg_temp.answers('la_obj') = pg_temp.answers('la'),
	'all three give the same vocabulary');
SELECT is((SELECT answers_from FROM vqa_datasets WHERE dataset = 'la'), 'answer list', 'vqa_datasets says where it came from');

-- targets and the prior follow the list
SELECT ok((SELECT bool_and(t.answer_ids <@ ARRAY(SELECT generate_series(0, 19)))
	FROM vqaprune.targets t JOIN vqaprune.datasets d USING (dataset_id) WHERE d.name = 'la'),
	'every soft target indexes the list');
SELECT ok((SELECT bool_and(t.answer_ids @> ARRAY[array_position((SELECT labels FROM labels), q.multiple_choice_answer) - 1])
	FROM vqaprune.targets t JOIN vqaprune.questions q USING (dataset_id, question_id)
	JOIN vqaprune.datasets d USING (dataset_id)
	WHERE d.name = 'la' AND q.multiple_choice_answer = ANY ((SELECT labels FROM labels)::text[])),
	'a question whose consensus is a listed answer has it as a target');
SELECT ok((SELECT bool_and(cardinality(t.answer_ids) = 0)
	FROM vqaprune.targets t JOIN vqaprune.questions q USING (dataset_id, question_id)
	JOIN vqaprune.datasets d USING (dataset_id)
	WHERE d.name = 'la' AND q.question_type = 'what animal is'
	  AND NOT (q.answers && (SELECT labels FROM labels))), 'one with no listed answer has none');
SELECT ok((SELECT max(p.answer_id) < 20 AND count(*) > 0 FROM vqaprune.priors p JOIN vqaprune.datasets d USING (dataset_id)
	WHERE d.name = 'la'), 'the prior is over the list');
SELECT ok((SELECT p.prior > 0.5 FROM vqaprune.priors p JOIN vqaprune.datasets d USING (dataset_id)
	WHERE d.name = 'la' AND p.question_type = 'is there a' AND p.answer_id = 0),
	'and puts "is there a" questions on "yes", answer 0 of the list');

-- models: the old one is refused, a new one fits
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('old', 'la', 'bce')$$),
	'22023: the answer head of model "old" does not match the answer vocabulary of dataset "la"',
	'a model of the old vocabulary is refused');
SELECT lives_ok($$SELECT vqa_create_model('new', 'la', '{"hidden_size": 16, "num_attention_heads": 2,
	"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}');
	SELECT vqa_finetune('new', 'la', 'lmh', '{"epochs": 1, "batch_size": 64}');
	SELECT vqa_evaluate('new_lmh', 'la', 'test')$$, 'a model of the list trains and evaluates');

-- back to the derived vocabulary
SELECT is(vqa_load_answers('la', NULL), (SELECT cardinality(answers) FROM derived), 'a null file derives it again');
SELECT is(pg_temp.answers('la'), (SELECT answers FROM derived), 'the same as before');

-- bad files change nothing
SELECT matches(pg_temp.error_of(format('SELECT vqa_load_answers(%L, %L)', 'la_txt', :'data' || '/answers_empty.txt')),
	'^22P02: invalid answer list file "\$DATA/answers_empty.txt": .*no answers', 'an empty file');
SELECT matches(pg_temp.error_of(format('SELECT vqa_load_answers(%L, %L)', 'la_txt', :'data' || '/answers_duplicate.json')),
	'^22P02: invalid answer list file "\$DATA/answers_duplicate.json": .*"yes".* twice', 'an answer twice');
SELECT matches(pg_temp.error_of(format('SELECT vqa_load_answers(%L, %L)', 'la_txt', :'data' || '/answers_not_strings.json')),
	'^22P02: invalid answer list file "\$DATA/answers_not_strings.json": .*not a string', 'not a list of answers');
SELECT is(pg_temp.error_of(format('SELECT vqa_load_answers(%L, %L)', 'la_txt', :'data' || '/nosuch.txt')),
	'58P01: could not open file "$DATA/nosuch.txt" for reading: No such file or directory', 'a missing file');
SELECT is(pg_temp.error_of(format('SELECT vqa_load_answers(%L, %L)', 'nosuch', :'labels_json')),
	'42704: dataset "nosuch" does not exist', 'an unknown dataset');
SELECT is(pg_temp.answers('la_txt'), pg_temp.answers('la_obj'), 'and the vocabulary is as it was');

SELECT * FROM finish();
ROLLBACK;
