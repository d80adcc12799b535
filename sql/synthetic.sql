-- The embedded VQA-CP-style benchmark.
SELECT vqa_synthetic('synth', images => 300, seed => 7) AS questions;
SELECT split, questions, images, question_types, yes_no, number, other, answerable_pct
  FROM vqa_dataset_splits WHERE dataset = 'synth' ORDER BY split;
SELECT count(*) AS images, min(num_boxes) AS boxes, min(feature_dim) AS feature_dim,
       bool_and(0 <= ALL (vqa_floats(boxes)) AND 1 >= ALL (vqa_floats(boxes))) AS boxes_normalised
  FROM vqaprune.images JOIN vqaprune.datasets USING (dataset_id) WHERE name = 'synth';
SELECT question_type, answer_type, count(*) AS questions
  FROM vqaprune.questions JOIN vqaprune.datasets USING (dataset_id)
 WHERE name = 'synth' GROUP BY 1, 2 ORDER BY 2, 1;

-- same seed, same dataset; another seed, another dataset
SELECT vqa_synthetic('synth_again', images => 300, seed => 7) AS questions;
SELECT vqa_synthetic('synth_other', images => 300, seed => 8) AS questions;
CREATE TEMP VIEW digests AS
SELECT d.name,
       (SELECT md5(string_agg(q.question_id || q.split || q.question || q.answers::text, '|'
                              ORDER BY q.question_id))
          FROM vqaprune.questions q WHERE q.dataset_id = d.dataset_id) AS questions,
       (SELECT md5(string_agg(i.features || i.boxes, '' ORDER BY i.image_id))
          FROM vqaprune.images i WHERE i.dataset_id = d.dataset_id) AS features
  FROM vqaprune.datasets d;
SELECT a.questions = b.questions AS same_questions, a.features = b.features AS same_features,
       a.questions <> c.questions AS other_seed_differs
  FROM digests a, digests b, digests c
 WHERE a.name = 'synth' AND b.name = 'synth_again' AND c.name = 'synth_other';

-- the vocabulary, targets and prior follow the train split
SELECT count(*) > 10 AS vocabulary, bool_and(train_count >= 9) AS min_count_holds
  FROM vqaprune.answers JOIN vqaprune.datasets USING (dataset_id) WHERE name = 'synth';
SELECT bool_and(s > 0 AND s <= 1) AS scores_in_range
  FROM vqaprune.targets JOIN vqaprune.datasets USING (dataset_id), unnest(scores) s
 WHERE name = 'synth';

-- the language prior: right in distribution, misleading out of distribution
SELECT vqa_prior_baseline('synth', 'val', 'prior, ID') AS id_run,
       vqa_prior_baseline('synth', 'test', 'prior, OOD') AS ood_run;
SELECT label, split, questions, overall, yes_no, number, other
  FROM vqa_accuracy WHERE dataset = 'synth' ORDER BY run_id;
SELECT (SELECT overall FROM vqa_accuracy WHERE label = 'prior, ID') -
       (SELECT overall FROM vqa_accuracy WHERE label = 'prior, OOD') >= 20 AS id_far_above_ood;
SELECT answer_type, accuracy FROM vqa_accuracy_by_answer_type
 WHERE label = 'prior, OOD' ORDER BY answer_type;

-- bad input: nothing is stored
SELECT vqa_synthetic('synth', images => 10);
SELECT vqa_synthetic('bad', images => 0);
SELECT vqa_synthetic('bad', boxes => 0);
SELECT vqa_synthetic('bad', feature_dim => 100000);
SELECT vqa_synthetic('', images => 10);
SELECT vqa_synthetic('bad', min_answer_count => 0);
SELECT count(*) AS bad_datasets FROM vqaprune.datasets WHERE name = 'bad';
SELECT vqa_prior_baseline('nosuch', 'test');
SELECT vqa_prior_baseline('synth', 'nosuch');
SELECT vqa_drop_dataset('synth_other');
SELECT vqa_drop_dataset('synth_other');
SELECT name FROM vqaprune.datasets ORDER BY name;
