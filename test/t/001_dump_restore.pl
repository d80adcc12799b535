# pg_dump and pg_restore bring every vqaprune table back row for row (feature
# bytes bit-identical), a pruned VisualBERT keeps its model type and answers
# as before, and the sequences continue without duplicate keys.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $data = $ENV{VQAPRUNE_TEST_DATA} or BAIL_OUT('VQAPRUNE_TEST_DATA is not set');

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE source');
$node->safe_psql('source', qq{
	CREATE EXTENSION vqaprune;
	SELECT vqa_synthetic('synth', images => 60, seed => 3, boxes => 4, feature_dim => 16);
	SELECT vqa_prior_baseline('synth', 'test');
	SELECT vqa_synthetic('synth_vs', images => 40, seed => 3, boxes => 4, feature_dim => 16,
						 benchmark => 'vqa-vs');
	SELECT vqa_load_questions('files', 'train', '$data/vqacp_train_questions.json',
							  '$data/vqacp_train_annotations.json', 2);
	SELECT vqa_load_questions('files', 'test', '$data/vqacp_test_questions.json',
							  '$data/vqacp_test_annotations.json');
	SELECT vqa_load_features('files', '$data/features_lxmert.tsv');
	SELECT vqa_import_predictions('files', 'test', '$data/results_test.json', 'imported');
	-- models, tensors, masks and jobs are written by later stages of the
	-- pipeline; rows are made by hand here to cover their storage
	INSERT INTO vqaprune.models (name, dataset_id, stage, config)
		SELECT 'm', dataset_id, 0, '{"hidden_size": 4}' FROM vqaprune.datasets WHERE name = 'synth';
	INSERT INTO vqaprune.models (name, parent_id, stage, config)
		SELECT 'm_child', model_id, 2, '{}' FROM vqaprune.models WHERE name = 'm';
	INSERT INTO vqaprune.tensors (model_id, tensor_id, name, shape, numel)
		SELECT model_id, 0, 'pooler.dense.weight', '{2,2}', 4 FROM vqaprune.models;
	INSERT INTO vqaprune.tensor_chunks SELECT model_id, 0, 0, '\\x0000803f000000400000404000008040' FROM vqaprune.models;
	INSERT INTO vqaprune.mask_chunks SELECT model_id, 0, 0, '\\x0d' FROM vqaprune.models;
	INSERT INTO vqaprune.jobs (role_name, database_name, call) VALUES (current_user, 'source', 'SELECT 1');
	SELECT vqa_create_model('vb', 'synth',
		'{"model_type": "visual_bert", "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
		  "num_hidden_layers": 2, "max_position_embeddings": 24}', seed => 1);
	SELECT vqa_prune('vb', 'bce', 0.5, 'magnitude');
});

my @tables = qw(datasets questions answers targets priors images models tensors
  tensor_chunks mask_chunks runs predictions jobs ood_questions);

# count and digest of every table, rows in a fixed order
sub fingerprint
{
	my ($db) = @_;
	my %digest;
	for my $table (@tables)
	{
		$digest{$table} = $node->safe_psql($db,
			"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') "
			  . "FROM vqaprune.$table t");
	}
	return \%digest;
}

my $before = fingerprint('source');
for my $table (@tables)
{
	unlike($before->{$table}, qr/^0 /, "source table $table has rows");
}

my $dump = "$PostgreSQL::Test::Utils::tmp_check/vqaprune.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('source') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into a fresh database');

is_deeply(fingerprint('restored'), $before, 'every table comes back row for row');

my $features = "SELECT md5(string_agg(features || boxes, '' ORDER BY dataset_id, image_id)) "
  . "FROM vqaprune.images";
is($node->safe_psql('restored', $features), $node->safe_psql('source', $features),
	'feature and box bytes are bit-identical');
is($node->safe_psql('restored', "SELECT vqa_floats(features)::text FROM vqaprune.images "
	  . "ORDER BY dataset_id, image_id LIMIT 1"),
	$node->safe_psql('source', "SELECT vqa_floats(features)::text FROM vqaprune.images "
	  . "ORDER BY dataset_id, image_id LIMIT 1"),
	'features decode to the same floats');

my $vb_answer = q{SELECT vqa_forward('vb_magnitude_50', ARRAY[[2, 5, 6, 3]], NULL, NULL,
	array_fill(0.25::real, ARRAY[1, 4, 16]), NULL)::text};
is($node->safe_psql('restored', q{SELECT config->>'model_type' FROM vqaprune.models WHERE name = 'vb_magnitude_50'}),
	'visual_bert', 'a pruned VisualBERT keeps its model type');
is($node->safe_psql('restored', $vb_answer), $node->safe_psql('source', $vb_answer),
	'and answers as before, to the last bit');

# new rows in every table with a sequence: no duplicate keys
my ($ret, $out, $err) = $node->psql('restored', q{
	SELECT vqa_synthetic('synth2', images => 100, seed => 4, boxes => 4, feature_dim => 16);
	SELECT vqa_prior_baseline('synth2', 'test');
	INSERT INTO vqaprune.models (name, stage, config) VALUES ('m2', 0, '{}');
	INSERT INTO vqaprune.jobs (role_name, database_name, call) VALUES (current_user, 'restored', 'SELECT 2');
});
is($ret, 0, 'new datasets, runs, models and jobs after restore') or diag($err);
is($node->safe_psql('restored', q{
	SELECT (SELECT max(dataset_id) FROM vqaprune.datasets) > 2
	   AND (SELECT max(run_id) FROM vqaprune.runs) > 2
	   AND (SELECT max(model_id) FROM vqaprune.models) > 2
	   AND (SELECT max(job_id) FROM vqaprune.jobs) > 1}),
	't', 'sequences continue after the restored ids');

$node->stop;
done_testing();
