-- Loading VQA-CP v2 and VQA v2 questions, annotations and region features.
\getenv data VQAPRUNE_TEST_DATA
\set q_train :data '/vqacp_train_questions.json'
\set a_train :data '/vqacp_train_annotations.json'
\set q_test :data '/vqacp_test_questions.json'
\set a_test :data '/vqacp_test_annotations.json'
\set q_v2 :data '/vqa2_val_questions.json'
\set a_v2 :data '/vqa2_val_annotations.json'
\set f_lxmert :data '/features_lxmert.tsv'
\set f_bottomup :data '/features_bottomup.tsv'

-- VQA-CP v2 (plain lists); the vocabulary keeps answers seen at least twice
SELECT vqa_load_questions('cp', 'train', :'q_train', :'a_train', min_answer_count => 2);
SELECT vqa_load_questions('cp', 'test', :'q_test', :'a_test');
SELECT split, questions, images, question_types, yes_no, number, other, answerable_pct
  FROM vqa_dataset_splits WHERE dataset = 'cp' ORDER BY split;
SELECT question_id, split, image_id, coco_split, question, question_type, answer_type,
       multiple_choice_answer, answers
  FROM vqaprune.questions JOIN vqaprune.datasets USING (dataset_id)
 WHERE name = 'cp' AND question_id IN (101, 402, 606) ORDER BY question_id;

-- vocabulary, soft targets and the per-question-type prior
SELECT answer_id, answer, train_count
  FROM vqaprune.answers JOIN vqaprune.datasets USING (dataset_id)
 WHERE name = 'cp' ORDER BY answer_id;
SELECT question_id, answer_ids, array(SELECT round(s::numeric, 4) FROM unnest(scores) s) AS scores
  FROM vqaprune.targets JOIN vqaprune.datasets USING (dataset_id)
 WHERE name = 'cp' AND question_id IN (101, 103, 104, 402, 605) ORDER BY question_id;
SELECT question_type, answer_id, round(prior::numeric, 4) AS prior
  FROM vqaprune.priors JOIN vqaprune.datasets USING (dataset_id)
 WHERE name = 'cp' ORDER BY question_type, answer_id;

-- VQA v2 (wrapped lists, extra keys), UTF-8 text kept
SELECT vqa_load_questions('v2', 'val', :'q_v2', :'a_v2');
SELECT question_id, question, answers[1:3] AS first_answers
  FROM vqaprune.questions JOIN vqaprune.datasets USING (dataset_id)
 WHERE name = 'v2' ORDER BY question_id LIMIT 2;
-- no train split: no vocabulary yet, so no targets and no prior
SELECT (SELECT count(*) FROM vqaprune.answers a JOIN vqaprune.datasets d USING (dataset_id)
         WHERE d.name = 'v2') AS answers,
       (SELECT count(*) FROM vqaprune.priors p JOIN vqaprune.datasets d USING (dataset_id)
         WHERE d.name = 'v2') AS priors;

-- region features in both layouts give identical bytes
SELECT vqa_load_features('cp', :'f_lxmert');
SELECT vqa_load_features('cp_bottomup', :'f_bottomup');
SELECT image_id, image_w, image_h, num_boxes, feature_dim, vqa_floats(boxes) AS boxes
  FROM vqaprune.images JOIN vqaprune.datasets USING (dataset_id)
 WHERE name = 'cp' AND image_id IN (1, 3) ORDER BY image_id;
SELECT (vqa_floats(features))[1:10] AS first_features
  FROM vqaprune.images JOIN vqaprune.datasets USING (dataset_id)
 WHERE name = 'cp' AND image_id = 2;
SELECT bool_and(a.features = b.features AND a.boxes = b.boxes AND a.image_w = b.image_w
                AND a.image_h = b.image_h) AS layouts_agree, count(*) AS images
  FROM vqaprune.images a JOIN vqaprune.images b USING (image_id)
 WHERE a.dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'cp')
   AND b.dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'cp_bottomup');

-- loading again is refused, and leaves what is there (messages that name
-- files are checked in test/pgtap, where paths can be masked)
SELECT vqa_load_questions('cp', 'train', :'q_train', :'a_train');
\set VERBOSITY sqlstate
SELECT vqa_load_questions('cp', 'val', :'q_train', :'a_train');
SELECT vqa_load_features('cp', :'f_bottomup');
\set VERBOSITY default
SELECT count(*) AS cp_questions FROM vqaprune.questions JOIN vqaprune.datasets USING (dataset_id)
 WHERE name = 'cp';

-- vqa_floats reads float32 bytes, or float16 ones
SELECT vqa_floats('\x0000803f00000040'::bytea);
SELECT vqa_floats('\x010203'::bytea);
SELECT vqa_floats('\x003c00c0ff7b'::bytea, 'float16');
SELECT vqa_floats('\x003c00'::bytea, 'float16');
SELECT vqa_floats('\x003c'::bytea, 'float64');
