# Long fine-tuning and mask-training runs stop promptly when canceled, and
# store nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION vqaprune;
	SELECT vqa_synthetic('synth', images => 300, seed => 1, boxes => 6, feature_dim => 32);
	SELECT vqa_create_model('small', 'synth',
		'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1,
		  "r_layers": 1, "x_layers": 1, "max_position_embeddings": 24}');
});

# statement_timeout cancels the run as pg_cancel_backend or Ctrl-C would
my $start = time();
my ($ret, $out, $err) = $node->psql('postgres', q{
	SET statement_timeout = '2s';
	SELECT vqa_finetune('small', 'synth', 'bce', '{"epochs": 100000, "lr": 0.001}');
});
my $elapsed = time() - $start;
isnt($ret, 0, 'the run is canceled');
like($err, qr/canceling statement due to statement timeout/, 'by the timeout');
cmp_ok($elapsed, '<', 6, 'within a few seconds of the request');
is($node->safe_psql('postgres', q{SELECT count(*) FROM vqaprune.models WHERE name = 'small_bce'}),
	'0', 'no model is stored');
is($node->safe_psql('postgres', q{SELECT count(*) FROM vqaprune.tensor_chunks}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM vqaprune.tensor_chunks c
		JOIN vqaprune.models m USING (model_id) WHERE m.name = 'small'}),
	'and no tensor of one');

# mask training (Stage 2) likewise
$start = time();
($ret, $out, $err) = $node->psql('postgres', q{
	SET statement_timeout = '2s';
	SELECT vqa_prune('small', 'lmh', 0.7, 'mask', '{"epochs": 100000, "batch_size": 32}');
});
$elapsed = time() - $start;
isnt($ret, 0, 'mask training is canceled');
like($err, qr/canceling statement due to statement timeout/, 'by the timeout');
cmp_ok($elapsed, '<', 6, 'within a few seconds of the request');
is($node->safe_psql('postgres', q{SELECT count(*) FROM vqaprune.models}), '1',
	'no pruned model is stored');
is($node->safe_psql('postgres', q{SELECT count(*) FROM vqaprune.mask_chunks}), '0',
	'and no mask');

$node->stop;
done_testing();
