-- From a pre-trained LXMERT to a model for a dataset: pre-training and
-- head-less checkpoints import with a head sized to the dataset's answers;
-- rows of the checkpoint's own QA head carry over by answer string,
-- byte for byte; the other rows start as HuggingFace initialises them; the
-- model fine-tunes, prunes and evaluates; vqa_new_head does the same for a
-- stored model; export and import keep labels and vocabulary.
\getenv fixtures VQAPRUNE_FIXTURES
\getenv data VQAPRUNE_TEST_DATA
\set ON_ERROR_STOP 1
\set pre :fixtures '/pretrained'
\set pretraining :pre '/lxmert_pretraining.safetensors'
\set headless :pre '/lxmert_model.safetensors'
\set labels :pre '/qa_labels.json'
\set vocab :pre '/vocab.txt'
\set config_file :pre '/config.json'
\set exported :data '/exported_for_dataset.safetensors'
BEGIN;
SELECT plan(39);

SELECT set_config('vqaprune_test.pre', :'pre', true);
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('vqaprune_test.pre'), '$PRE');
END
$$;
\ir helpers/safetensors.psql
-- the stored bytes of one tensor of a model
CREATE FUNCTION pg_temp.stored(model text, tensor text) RETURNS bytea LANGUAGE sql AS $$
	SELECT string_agg(c.data, ''::bytea ORDER BY c.chunk)
	  FROM vqaprune.tensor_chunks c JOIN vqaprune.tensors t USING (model_id, tensor_id)
	  JOIN vqaprune.models m USING (model_id) WHERE m.name = model AND t.name = tensor
$$;
CREATE FUNCTION pg_temp.row_bytes(b bytea, r integer, width integer) RETURNS bytea LANGUAGE sql AS $$
	SELECT substring(b FROM 4 * r * width + 1 FOR 4 * width)
$$;
-- dataset answers with their row in the checkpoint's head (label index), or NULL
CREATE FUNCTION pg_temp.answer_rows(dataset text) RETURNS TABLE (answer_id integer, label_row integer)
LANGUAGE sql AS $$
	SELECT a.answer_id, (l.i - 1)::integer
	  FROM vqaprune.answers a JOIN vqaprune.datasets d USING (dataset_id)
	  LEFT JOIN jsonb_array_elements_text(pg_read_file(current_setting('vqaprune_test.pre') || '/qa_labels.json')::jsonb)
		   WITH ORDINALITY l(label, i) ON l.label = a.answer
	 WHERE d.name = dataset
$$;

-- a benchmark with the checkpoint's visual input size
SELECT lives_ok($$SELECT vqa_synthetic('ps', images => 200, seed => 2, boxes => 5, feature_dim => 24)$$,
	'a benchmark of 24-dimensional features');
SELECT cmp_ok((SELECT count(*) FROM pg_temp.answer_rows('ps') WHERE label_row IS NOT NULL), '>=', 8::bigint,
	'most of its answers are labels of the checkpoint''s head');

-- a pre-training checkpoint for the dataset, with the labels of its QA head
SELECT is(vqa_import_safetensors('pt', :'pretraining', pg_read_file(:'config_file')::jsonb, :'vocab',
	dataset => 'ps', qa_labels_file => :'labels'), 'pt', 'a pre-training checkpoint imports for a dataset');
SELECT is((SELECT (options->>'transferred_answers')::bigint FROM vqaprune.models WHERE name = 'pt'),
	(SELECT count(*) FROM pg_temp.answer_rows('ps') WHERE label_row IS NOT NULL),
	'the model records how many rows were transferred: every shared answer');
SELECT is((SELECT (config->>'num_qa_labels')::bigint FROM vqaprune.models WHERE name = 'pt'),
	(SELECT count(*) FROM pg_temp.answer_rows('ps')), 'its head has a row per answer of the dataset');
SELECT is((SELECT answer_vocab FROM vqaprune.models WHERE name = 'pt'),
	(SELECT array_agg(answer ORDER BY answer_id) FROM vqaprune.answers JOIN vqaprune.datasets USING (dataset_id)
	  WHERE name = 'ps'), 'and the dataset''s answer labels');
SELECT ok((SELECT tokenizer_vocab = pg_read_file(:'vocab') FROM vqaprune.models WHERE name = 'pt'),
	'and the given vocabulary');
SELECT ok((SELECT bool_and(pg_temp.row_bytes(pg_temp.stored('pt', 'answer_head.logit_fc.3.weight'), answer_id, 64)
		= pg_temp.row_bytes(pg_temp.st_bytes(:'pretraining', 'answer_head.logit_fc.3.weight'), label_row, 64)
	AND pg_temp.row_bytes(pg_temp.stored('pt', 'answer_head.logit_fc.3.bias'), answer_id, 1)
		= pg_temp.row_bytes(pg_temp.st_bytes(:'pretraining', 'answer_head.logit_fc.3.bias'), label_row, 1))
	FROM pg_temp.answer_rows('ps') WHERE label_row IS NOT NULL), 'transferred rows are the checkpoint''s, byte for byte');
SELECT ok(pg_temp.stored('pt', 'answer_head.logit_fc.0.weight')
	= pg_temp.st_bytes(:'pretraining', 'answer_head.logit_fc.0.weight')
	AND pg_temp.stored('pt', 'answer_head.logit_fc.2.weight')
	= pg_temp.st_bytes(:'pretraining', 'answer_head.logit_fc.2.weight'), 'so are the head''s hidden layers');
SELECT ok(pg_temp.stored('pt', 'encoder.x_layers.1.lang_self_att.self.query.weight')
	= pg_temp.st_bytes(:'pretraining', 'lxmert.encoder.x_layers.1.lang_self_att.self.query.weight')
	AND pg_temp.stored('pt', 'embeddings.word_embeddings.weight')
	= pg_temp.st_bytes(:'pretraining', 'lxmert.embeddings.word_embeddings.weight'), 'and the body');
CREATE TEMP TABLE fresh AS
SELECT w.v AS weight
  FROM pg_temp.answer_rows('ps') a,
	   unnest(vqa_floats(pg_temp.row_bytes(pg_temp.stored('pt', 'answer_head.logit_fc.3.weight'), a.answer_id, 64))) w(v)
 WHERE a.label_row IS NULL;
SELECT ok((SELECT count(*) >= 64 AND stddev_pop(weight) BETWEEN 0.015 AND 0.025 AND abs(avg(weight)) < 0.005 FROM fresh),
	'the other rows are fresh: N(0, 0.02), as HuggingFace initialises them');
SELECT ok((SELECT bool_and(b = 0) FROM pg_temp.answer_rows('ps') a,
	unnest(vqa_floats(pg_temp.row_bytes(pg_temp.stored('pt', 'answer_head.logit_fc.3.bias'), a.answer_id, 1))) b
	WHERE a.label_row IS NULL), 'with zero biases');

-- the imported model runs the pipeline
SELECT lives_ok($$SELECT vqa_finetune('pt', 'ps', 'bce', '{"epochs": 1, "batch_size": 32, "lr": 1e-3, "name": "pt_bce"}')$$,
	'it fine-tunes');
SELECT lives_ok($$SELECT vqa_prune('pt_bce', 'lmh', 0.5, 'mask', '{"epochs": 1, "batch_size": 32, "lr": 1e-2, "name": "pt_mask"}')$$,
	'it prunes by mask training');
SELECT vqa_evaluate('pt_mask', 'ps', 'test') AS pt_run \gset
SELECT ok((SELECT questions > 0 AND overall BETWEEN 0 AND 100 FROM vqa_accuracy WHERE run_id = :pt_run),
	'and evaluates');

-- a head-less checkpoint (LxmertModel, no prefix) for the dataset
SELECT is(vqa_import_safetensors('hl', :'headless', pg_read_file(:'config_file')::jsonb, :'vocab', dataset => 'ps'),
	'hl', 'a head-less checkpoint imports for a dataset');
SELECT ok(pg_temp.stored('hl', 'encoder.layer.0.attention.self.key.weight')
	= pg_temp.st_bytes(:'headless', 'encoder.layer.0.attention.self.key.weight'), 'with its body');
SELECT ok((SELECT stddev_pop(v) BETWEEN 0.015 AND 0.025 FROM unnest(vqa_floats(pg_temp.stored('hl', 'answer_head.logit_fc.0.weight'))) v)
	AND (SELECT bool_and(v = 1) FROM unnest(vqa_floats(pg_temp.stored('hl', 'answer_head.logit_fc.2.weight'))) v)
	AND (SELECT options->'transferred_answers' IS NULL FROM vqaprune.models WHERE name = 'hl'),
	'and a fresh head: N(0, 0.02) weights, LayerNorm weights 1');
SELECT lives_ok($$SELECT vqa_finetune('hl', 'ps', 'bce', '{"epochs": 1, "batch_size": 32}')$$, 'it fine-tunes');
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L)', 'x', :'headless', pg_read_file(:'config_file'))),
	'22023: "$PRE/lxmert_model.safetensors" has no HuggingFace answer head', 'without a dataset it cannot');

-- without a dataset, the checkpoint's own head
SELECT is(vqa_import_safetensors('pt_own', :'pretraining', pg_read_file(:'config_file')::jsonb, :'vocab',
	qa_labels_file => :'labels'), 'pt_own', 'a pre-training checkpoint imports with its own head');
SELECT is((SELECT answer_vocab FROM vqaprune.models WHERE name = 'pt_own'),
	(SELECT array_agg(l ORDER BY i) FROM jsonb_array_elements_text(pg_read_file(:'labels')::jsonb) WITH ORDINALITY x(l, i)),
	'labelled by the label list');
SELECT is(pg_temp.error_of($$SELECT vqa_finetune('pt_own', 'ps', 'bce')$$),
	'22023: the answer head of model "pt_own" does not match the answer vocabulary of dataset "ps"',
	'which is not the dataset''s: it is refused');

-- a new head for a stored model: the same transfer
SELECT is(vqa_new_head('pt_own', 'ps', 'pt_own_ps'), 'pt_own_ps', 'vqa_new_head makes a new model');
SELECT ok(pg_temp.stored('pt_own_ps', 'answer_head.logit_fc.3.weight') = pg_temp.stored('pt', 'answer_head.logit_fc.3.weight')
	AND (SELECT options->'transferred_answers' FROM vqaprune.models WHERE name = 'pt_own_ps')
	  = (SELECT options->'transferred_answers' FROM vqaprune.models WHERE name = 'pt'),
	'with the rows the import transferred');
SELECT ok((SELECT m.parent_id = p.model_id AND m.dataset_id = p2.dataset_id
	FROM vqaprune.models m, vqaprune.models p, vqaprune.datasets p2
	WHERE m.name = 'pt_own_ps' AND p.name = 'pt_own' AND p2.name = 'ps'), 'recording its parent and dataset');

-- errors, and nothing stored
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L, dataset => %L)', 'x', :'pretraining',
	pg_read_file(:'config_file'), 'ps')),
	'22004: a model imported for a dataset needs its vocab_file', 'a dataset without a vocabulary');
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L, %L, qa_labels_file => %L)', 'x',
	:'pretraining', pg_read_file(:'config_file')::jsonb || '{"num_qa_labels": 12}', :'vocab', :'labels')),
	'22023: qa_labels_file "$PRE/qa_labels.json" has 20 answers, but the config gives 12',
	'a label list of another size');
SELECT is(pg_temp.error_of(format('SELECT vqa_import_safetensors(%L, %L, %L, %L, %L, %L)', 'x',
	:'pretraining', pg_read_file(:'config_file')::jsonb || '{"answer_head": "simple_classifier"}', :'vocab', 'ps', :'labels')),
	'22023: qa_labels_file transfers rows of HuggingFace''s answer head, not of a "simple_classifier" head',
	'a transfer into the authors'' head');
SELECT is((SELECT count(*) FROM vqaprune.models WHERE name = 'x'), 0::bigint, 'no failed import stored a model');

-- the authors' model: their head and question encoding, from the same checkpoint
SELECT lives_ok(format($$SELECT vqa_import_safetensors('sc', %L, %L, %L, 'ps')$$, :'pretraining',
	pg_read_file(:'config_file')::jsonb || '{"answer_head": "simple_classifier", "question_tokens": 14,
	"special_tokens": false, "attention_mask": false}', :'vocab'), 'the authors'' model imports for a dataset');
SELECT lives_ok($$SELECT vqa_finetune('sc', 'ps', 'bce', '{"epochs": 1, "batch_size": 32, "name": "sc_bce"}')$$,
	'and fine-tunes');
SELECT is(vqa_encode_question('sc', 'What color is the cat?'),
	ARRAY[ARRAY[5, 6, 7, 8, 19, 18, 0, 0, 0, 0, 0, 0, 0, 0], array_fill(1, ARRAY[14])],
	'its questions: 14 word pieces without [CLS] and [SEP], padding attended');
SELECT is(vqa_encode_question('pt', 'What color is the cat?'),
	ARRAY[ARRAY[2, 5, 6, 7, 8, 19, 18, 3] || array_fill(0, ARRAY[12]),
		  array_fill(1, ARRAY[8]) || array_fill(0, ARRAY[12])],
	'HuggingFace''s: [CLS] pieces [SEP], 20 ids, padding masked');

-- export and import again: the same labels, vocabulary and logits
SELECT cmp_ok(vqa_export_safetensors('pt', :'exported'), '>', 0::bigint, 'the model exports');
SELECT lives_ok(format('SELECT vqa_import_safetensors(%L, %L, %L)', 'pt_again', :'exported',
	(SELECT config FROM vqaprune.models WHERE name = 'pt')), 'and imports with its config alone');
SELECT ok((SELECT a.answer_vocab = b.answer_vocab AND a.tokenizer_vocab = b.tokenizer_vocab
	FROM vqaprune.models a, vqaprune.models b WHERE a.name = 'pt' AND b.name = 'pt_again'),
	'with its answer labels and vocabulary, from the file''s metadata');
SELECT lives_ok(format($$SELECT vqa_import_safetensors('pt_sc', %L, %L, dataset => 'ps')$$, :'exported',
	(SELECT config || '{"answer_head": "simple_classifier"}' FROM vqaprune.models WHERE name = 'pt')),
	'an exported model imports for a dataset with another head, without a vocab_file');
SELECT ok((SELECT a.tokenizer_vocab = b.tokenizer_vocab FROM vqaprune.models a, vqaprune.models b
	WHERE a.name = 'pt' AND b.name = 'pt_sc')
	AND pg_temp.stored('pt_sc', 'encoder.x_layers.0.lang_output.dense.weight')
	  = pg_temp.stored('pt', 'encoder.x_layers.0.lang_output.dense.weight'),
	'keeping the body and the vocabulary of the file''s metadata');

SELECT * FROM finish();
ROLLBACK;
