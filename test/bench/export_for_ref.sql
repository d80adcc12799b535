-- Exports a model and its data set for test/bench/masker_ref.py, into the
-- directory :dir (readable and writable by the server): the model's config
-- and weights, every question encoded as the model encodes it with its soft
-- targets, the region features and boxes, and the question-type prior.
-- Run with psql -v model=NAME -v dataset=NAME -v dir=PATH.
\set ON_ERROR_STOP on
SELECT vqa_export_safetensors(:'model', :'dir' || '/model.safetensors') \g /dev/null
SELECT format('COPY (SELECT config FROM vqaprune.models WHERE name = %L) TO %L',
			  :'model', :'dir' || '/config.json') \gexec
SELECT format($$COPY (SELECT q.question_id, q.split, q.image_id, q.question_type,
				  vqa_encode_question(%L, q.question), t.answer_ids, t.scores
				  FROM vqaprune.questions q
				  LEFT JOIN vqaprune.targets t USING (dataset_id, question_id)
				  JOIN vqaprune.datasets d USING (dataset_id)
				  WHERE d.name = %L) TO %L$$,
			  :'model', :'dataset', :'dir' || '/questions.tsv') \gexec
SELECT format($$COPY (SELECT i.image_id, i.num_boxes, i.feature_dim, encode(i.boxes, 'hex'),
				  encode(i.features, 'hex')
				  FROM vqaprune.images i JOIN vqaprune.datasets d USING (dataset_id)
				  WHERE d.name = %L) TO %L$$,
			  :'dataset', :'dir' || '/images.tsv') \gexec
SELECT format($$COPY (SELECT p.question_type, p.answer_id, p.prior
				  FROM vqaprune.priors p JOIN vqaprune.datasets d USING (dataset_id)
				  WHERE d.name = %L) TO %L$$,
			  :'dataset', :'dir' || '/priors.tsv') \gexec
