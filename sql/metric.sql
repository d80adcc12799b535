-- The official VQA metric in SQL, against the official evaluation's outputs.
\getenv fixtures VQAPRUNE_FIXTURES
\set cases_file :fixtures '/vqa-eval/vqa_eval_cases.json'
CREATE TEMP TABLE eval_cases AS SELECT pg_read_file(:'cases_file')::jsonb AS doc;

-- every normalisation case of the official code
SELECT count(*) AS cases,
       count(*) FILTER (WHERE vqa_normalize_answer(c->>'raw') = c->>'normalized') AS matching
  FROM eval_cases, jsonb_array_elements(doc->'normalization') c;

-- every per-question accuracy, and the overall figure, rounded as the official code
CREATE TEMP TABLE scored AS
SELECT (c->>'question_id')::int AS question_id, (c->>'accuracy')::float8 AS official,
       vqa_answer_accuracy(c->>'prediction',
                           ARRAY(SELECT jsonb_array_elements_text(c->'answers'))) AS accuracy
  FROM eval_cases, jsonb_array_elements(doc->'accuracy') c;
SELECT count(*) AS cases,
       count(*) FILTER (WHERE vqa_round(100 * accuracy) = official) AS matching,
       vqa_round(100 * sum(accuracy) / count(*)) = (SELECT (doc->>'overall')::float8 FROM eval_cases)
           AS overall_matches
  FROM scored;

-- examples
SELECT a AS answer, vqa_normalize_answer(a) AS normalized
  FROM unnest(ARRAY['Two dogs', 'the t-shirt', 'Yes!', 'dont know', '3,000', 'u.s.a.', 'none']) a;
SELECT vqa_answer_accuracy('two', ARRAY['2', '2', '2', 'two', 'three', '3', '3', '2', '2', '2']) AS two,
       vqa_round(100 * vqa_answer_accuracy('3', ARRAY['2', '2', '2', 'two', 'three', '3', '3', '2', '2', '2'])) AS three,
       vqa_answer_accuracy('four', ARRAY['2', '2', '2', 'two', 'three', '3', '3', '2', '2', '2']) AS four;
-- Python's rounding: ties to even on the exact binary value
SELECT vqa_round(19.125), vqa_round(2.675), vqa_round(33.335, 1), vqa_round('NaN');

-- bad input
SELECT vqa_answer_accuracy('yes', ARRAY['yes']);
SELECT vqa_answer_accuracy('yes', ARRAY['yes', NULL]);
SELECT vqa_answer_accuracy('yes', ARRAY[['yes', 'no'], ['no', 'no']]);
SELECT vqa_round(1.5, 16);
