# Checkpoints and resume: fine-tuning and mask-training jobs commit a
# checkpoint at every epoch's end and every checkpoint_minutes; a job killed
# with SIGKILL mid-run (the server restarts) and a canceled one resume from
# it with vqa_resume and end with exactly the weights and mask of the same
# call made directly (vqaprune.threads = 1), as does a job left alone; so do
# a VisualBERT's fine-tuning and mask-training jobs, and its fine-tuning job
# canceled after a checkpoint and resumed; the checkpoint goes when the run
# succeeds or by vqa_drop_checkpoint; resuming a job that succeeded, has no
# checkpoint, or whose model has gone is an error.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('resume');
$node->init;
$node->append_conf('postgresql.conf', "vqaprune.max_jobs = 2\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION vqaprune;
	SELECT vqa_synthetic('synth', images => 400, seed => 1, boxes => 6, feature_dim => 32);
	SELECT vqa_create_model('small', 'synth',
		'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1,
		  "r_layers": 1, "x_layers": 1, "max_position_embeddings": 24}', seed => 2);
	SELECT vqa_create_model('doomed', 'synth',
		'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1,
		  "r_layers": 1, "x_layers": 1, "max_position_embeddings": 24}', seed => 3);
	SELECT vqa_create_model('vb', 'synth',
		'{"model_type": "visual_bert", "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
		  "num_hidden_layers": 2, "max_position_embeddings": 24}', seed => 5);
});

# polls a query until it returns 't' (at most 120 s), through a server restart
sub wait_for
{
	my ($query) = @_;
	for (1 .. 600)
	{
		my ($ret, $out) = $node->psql('postgres', $query);
		return 1 if $ret == 0 && $out eq 't';
		select(undef, undef, undef, 0.2);
	}
	return 0;
}

sub submit
{
	my ($call) = @_;
	return $node->safe_psql('postgres', "SET vqaprune.threads = 1; SELECT vqa_submit(\$q\$$call\$q\$)");
}

# what a model is: its weights, its mask, and the losses of its epochs
sub model_digest
{
	my ($name) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT md5(coalesce((SELECT string_agg(md5(c.data), ',' ORDER BY c.tensor_id, c.chunk)
				 FROM vqaprune.tensor_chunks c WHERE c.model_id = m.model_id), '') || '/' ||
			   coalesce((SELECT string_agg(md5(b.bits), ',' ORDER BY b.tensor_id, b.chunk)
				 FROM vqaprune.mask_chunks b WHERE b.model_id = m.model_id), '') || '/' ||
			   (SELECT string_agg(e->>'loss' || ' ' || (e->>'train_accuracy'), ',')
				 FROM jsonb_array_elements(m.metrics->'epochs') e))
		  FROM vqaprune.models m WHERE m.name = '$name'});
}

my $finetune = q{SELECT vqa_finetune('small', 'synth', 'bce',
	'{"epochs": 6, "lr": 0.002, "batch_size": 16, "seed": 4, "name": "%s"}')};
my $mask = q{SELECT vqa_prune('small', 'lmh', 0.7, 'mask',
	'{"epochs": 6, "lr": 0.01, "batch_size": 16, "seed": 4, "reset_steps": 7,
	  "checkpoint_minutes": 0.002, "eval_split": "val", "keep_best": true, "name": "%s"}')};

# the same calls made directly: no checkpoints
$node->safe_psql('postgres', 'SET vqaprune.threads = 1; ' . sprintf($finetune, 'ft_direct'));
$node->safe_psql('postgres', 'SET vqaprune.threads = 1; ' . sprintf($mask, 'mask_direct'));
is($node->safe_psql('postgres', 'SELECT count(*) FROM vqaprune.checkpoints'), '0',
	'a direct call makes no checkpoint');

# a job left alone goes through its checkpoints and ends as the direct call
my $job = submit(sprintf($finetune, 'ft_alone'));
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '120s')"), 'succeeded', 'a fine-tuning job succeeds');
is(model_digest('ft_alone'), model_digest('ft_direct'),
	'with the weights of the direct call, through a checkpoint at every epoch');
is($node->safe_psql('postgres', 'SELECT count(*) FROM vqaprune.checkpoints'), '0',
	'and its checkpoint is gone');

# SIGKILL after a checkpoint: the server restarts, the job resumes and ends as the direct call
$job = submit(sprintf($finetune, 'ft_killed'));
ok(wait_for("SELECT status = 'running' AND checkpoint_step > 0 FROM vqa_jobs WHERE job_id = $job"),
	'a running job shows its last checkpoint');
my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM vqaprune.jobs WHERE job_id = $job");
kill 'KILL', $pid;
ok(wait_for("SELECT status = 'failed' AND checkpoint_at IS NOT NULL FROM vqa_jobs WHERE job_id = $job"),
	'killed, it fails, and its checkpoint survives the restart');
my $resumed = $node->safe_psql('postgres', "SET vqaprune.threads = 1; SELECT vqa_resume($job)");
ok($resumed > $job, 'vqa_resume queues a new job');
is($node->safe_psql('postgres', "SELECT vqa_wait($resumed, '120s')"), 'succeeded', 'which succeeds');
is(model_digest('ft_killed'), model_digest('ft_direct'), 'with the weights of the direct call');

# cancel after a mid-epoch checkpoint of mask training (checkpoint_minutes), then resume
$job = submit(sprintf($mask, 'mask_canceled'));
ok(wait_for("SELECT status = 'running' AND checkpoint_step > 0 FROM vqa_jobs WHERE job_id = $job"),
	'a mask-training job checkpoints');
is($node->safe_psql('postgres', "SELECT vqa_cancel($job)"), 't', 'it is canceled');
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '60s')"), 'canceled', 'and ends canceled');
$resumed = $node->safe_psql('postgres', "SET vqaprune.threads = 1; SELECT vqa_resume($job)");
is($node->safe_psql('postgres', "SELECT vqa_wait($resumed, '120s')"), 'succeeded', 'resumed, it succeeds');
is(model_digest('mask_canceled'), model_digest('mask_direct'),
	'with the weights, mask and epochs of the direct call (keep_best included)');

# VisualBERT: jobs left alone and a canceled fine-tuning job end as the direct calls
# (the canceled run is long enough that a loaded machine still cancels it mid-run)
my $vb_finetune = q{SELECT vqa_finetune('vb', 'synth', 'bce',
	'{"epochs": %d, "lr": 0.002, "batch_size": 16, "seed": 4, "checkpoint_minutes": 0.002, "name": "%s"}')};
my $vb_mask = q{SELECT vqa_prune('vb', 'lmh', 0.7, 'mask',
	'{"epochs": 2, "lr": 0.01, "batch_size": 16, "seed": 4, "reset_steps": 7,
	  "checkpoint_minutes": 0.002, "eval_split": "val", "keep_best": true, "name": "%s"}')};
$node->safe_psql('postgres', 'SET vqaprune.threads = 1; ' . sprintf($vb_finetune, 4, 'vb_ft_direct'));
$node->safe_psql('postgres', 'SET vqaprune.threads = 1; ' . sprintf($vb_finetune, 40, 'vb_ft_long_direct'));
$node->safe_psql('postgres', 'SET vqaprune.threads = 1; ' . sprintf($vb_mask, 'vb_mask_direct'));
$job = submit(sprintf($vb_finetune, 4, 'vb_ft_alone'));
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '120s')"), 'succeeded', 'a VisualBERT fine-tuning job succeeds');
is(model_digest('vb_ft_alone'), model_digest('vb_ft_direct'), 'with the weights of the direct call');
$job = submit(sprintf($vb_mask, 'vb_mask_alone'));
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '120s')"), 'succeeded', 'a VisualBERT mask-training job succeeds');
is(model_digest('vb_mask_alone'), model_digest('vb_mask_direct'), 'with the weights, mask and epochs of the direct call');
$job = submit(sprintf($vb_finetune, 40, 'vb_ft_canceled'));
ok(wait_for("SELECT status = 'running' AND checkpoint_step > 0 FROM vqa_jobs WHERE job_id = $job"),
	'a VisualBERT fine-tuning job checkpoints');
is($node->safe_psql('postgres', "SELECT vqa_cancel($job)"), 't', 'it is canceled');
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '60s')"), 'canceled', 'and ends canceled');
$resumed = $node->safe_psql('postgres', "SET vqaprune.threads = 1; SELECT vqa_resume($job)");
is($node->safe_psql('postgres', "SELECT vqa_wait($resumed, '120s')"), 'succeeded', 'resumed, it succeeds');
is(model_digest('vb_ft_canceled'), model_digest('vb_ft_long_direct'), 'with the weights of the direct call');
is($node->safe_psql('postgres', 'SELECT count(*) FROM vqaprune.checkpoints'), '0', 'and no checkpoint is left');

# errors
my ($ret, $out, $err) = $node->psql('postgres', "SELECT vqa_resume($resumed)");
like($err, qr/job $resumed is succeeded: only a failed or canceled job resumes/, 'resuming a job that succeeded');
$job = $node->safe_psql('postgres', q{SELECT vqa_submit($$SELECT vqa_prune('nosuch', 'lmh', 0.5)$$)});
$node->safe_psql('postgres', "SELECT vqa_wait($job, '60s')");
($ret, $out, $err) = $node->psql('postgres', "SELECT vqa_resume($job)");
like($err, qr/job $job has no checkpoint/, 'resuming a job without a checkpoint');
($ret, $out, $err) = $node->psql('postgres', 'SELECT vqa_resume(987654)');
like($err, qr/job 987654 does not exist/, 'resuming a job that does not exist');
$job = submit(q{SELECT vqa_finetune('doomed', 'synth', 'bce', '{"epochs": 50, "batch_size": 16, "name": "never"}')});
ok(wait_for("SELECT checkpoint_step > 0 FROM vqa_jobs WHERE job_id = $job"), 'another job checkpoints');
$node->safe_psql('postgres', "SELECT vqa_cancel($job); SELECT vqa_wait($job, '60s')");
$node->safe_psql('postgres', q{SELECT vqa_drop_model('doomed')});
($ret, $out, $err) = $node->psql('postgres', "SELECT vqa_resume($job)");
like($err, qr/the model job $job trains from no longer exists/, 'resuming a job whose model has gone');
is($node->safe_psql('postgres', "SELECT vqa_drop_checkpoint($job)"), 't', 'vqa_drop_checkpoint removes it');
is($node->safe_psql('postgres', "SELECT vqa_drop_checkpoint($job)"), 'f', 'once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM vqaprune.checkpoint_chunks'), '0',
	'with its state');
is($node->safe_psql('postgres', q{SELECT count(*) FROM vqaprune.models WHERE name = 'never'}), '0',
	'and no model of the canceled run was stored');

$node->stop;
done_testing();
