-- Region features stored as IEEE half: half the bytes, values within half
-- precision of float32's, one storage per dataset, and the pipeline runs
-- on them with the accuracy of float32 features.
\getenv data VQAPRUNE_TEST_DATA
\set ON_ERROR_STOP 1
\set f_lxmert :data '/features_lxmert.tsv'
BEGIN;
SELECT plan(11);

CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT is(vqa_load_features('h32', :'f_lxmert'), 6::bigint, 'features as float32');
SELECT is(vqa_load_features('h16', :'f_lxmert', storage => 'float16'), 6::bigint, 'and as float16');
CREATE TEMP TABLE pairs AS
SELECT a.image_id, a.features AS f32, b.features AS f16, b.features_half
  FROM vqaprune.images a JOIN vqaprune.images b USING (image_id)
 WHERE a.dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'h32')
   AND b.dataset_id = (SELECT dataset_id FROM vqaprune.datasets WHERE name = 'h16');
SELECT ok((SELECT count(*) = 6 AND bool_and(2 * octet_length(f16) = octet_length(f32) AND features_half) FROM pairs),
	'float16 takes half the bytes');
-- half has an 11-bit significand: a relative error of at most 2^-11 for normal values
SELECT ok((SELECT max(abs(x - y) / greatest(abs(x), 2^(-14))) <= 2^(-11)
	FROM pairs, unnest(vqa_floats(f32), vqa_floats(f16, 'float16')) v(x, y)),
	'every value within half precision (2^-11 relative) of float32''s');
SELECT is(pg_temp.error_of(format('SELECT vqa_load_features(%L, %L)', 'h16', :'data' || '/features_bottomup.tsv')),
	'22023: dataset "h16" stores its features as float16', 'a dataset keeps one storage');
SELECT is(pg_temp.error_of(format('SELECT vqa_load_features(%L, %L, %L)', 'hx', :'f_lxmert', 'float8')),
	'22023: unknown feature storage "float8"', 'an unknown storage');

-- the embedded benchmark at both precisions: the same model scores the same
SELECT lives_ok($$SELECT vqa_synthetic('s32', images => 150, seed => 6, boxes => 4, feature_dim => 16);
	SELECT vqa_synthetic('s16', images => 150, seed => 6, boxes => 4, feature_dim => 16, storage => 'float16')$$,
	'the benchmark as float32 and as float16');
SELECT ok((SELECT sum(octet_length(features)) FROM vqaprune.images JOIN vqaprune.datasets USING (dataset_id) WHERE name = 's16') * 2
	= (SELECT sum(octet_length(features)) FROM vqaprune.images JOIN vqaprune.datasets USING (dataset_id) WHERE name = 's32'),
	'half the feature bytes');
SELECT lives_ok($$SELECT vqa_create_model('m16', 's16', '{"hidden_size": 16, "num_attention_heads": 2,
	"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}', seed => 2);
	SELECT vqa_finetune('m16', 's16', 'bce', '{"epochs": 2, "lr": 1e-3, "batch_size": 32, "name": "m16_bce"}')$$,
	'a model trains on float16 features');
SELECT vqa_evaluate('m16_bce', 's16', 'test') AS r16 \gset
SELECT vqa_evaluate('m16_bce', 's32', 'test') AS r32 \gset
SELECT ok((SELECT count(*) > 0 FROM vqaprune.predictions WHERE run_id = :r16), 'and evaluates on them');
SELECT ok((SELECT abs(a.overall - b.overall) <= 1.0 FROM vqa_accuracy a, vqa_accuracy b
	WHERE a.run_id = :r16 AND b.run_id = :r32), 'within a point of its accuracy on float32 features');

SELECT * FROM finish();
ROLLBACK;
