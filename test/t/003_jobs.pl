# Background jobs: a job runs and succeeds; a running mask-training job shows
# progress and is canceled without storing a model, a VisualBERT's as an
# LXMERT's; a worker killed with SIGKILL leaves the server recovering, the
# job marked crashed and earlier models intact; one role cannot see or cancel
# another's jobs; four jobs on two slots all finish; bad calls are refused.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('jobs');
$node->init;
$node->append_conf('postgresql.conf', "vqaprune.max_jobs = 2\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION vqaprune;
	SELECT vqa_synthetic('synth', images => 300, seed => 1, boxes => 6, feature_dim => 32);
	SELECT vqa_create_model('small', 'synth',
		'{"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "l_layers": 1,
		  "r_layers": 1, "x_layers": 1, "max_position_embeddings": 24}');
	SELECT vqa_create_model('vb', 'synth',
		'{"model_type": "visual_bert", "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
		  "num_hidden_layers": 2, "max_position_embeddings": 24}');
});

# polls a query until it returns 't' (at most 60 s), through a server restart
sub wait_for
{
	my ($query) = @_;
	for (1 .. 300)
	{
		my ($ret, $out) = $node->psql('postgres', $query);
		return 1 if $ret == 0 && $out eq 't';
		select(undef, undef, undef, 0.2);
	}
	return 0;
}

# a job that succeeds
my $job = $node->safe_psql('postgres', q{
	SELECT vqa_submit($$SELECT vqa_finetune('small', 'synth', 'bce', '{"epochs": 2, "lr": 0.002}')$$)});
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '60s')"), 'succeeded', 'a submitted job succeeds');
is($node->safe_psql('postgres', "SELECT status || ' ' || result FROM vqa_jobs WHERE job_id = $job"),
	'succeeded small_bce', 'vqa_jobs shows its status and the model it made');
is($node->safe_psql('postgres', q{SELECT stage FROM vqa_models WHERE model = 'small_bce'}), '1',
	'the model is stored');
my $digest_sql = q{SELECT md5(string_agg(md5(data), ',' ORDER BY model_id, tensor_id, chunk))
	FROM vqaprune.tensor_chunks};
my $digest = $node->safe_psql('postgres', $digest_sql);

# a failing job records the error
$job = $node->safe_psql('postgres', q{
	SELECT vqa_submit($$SELECT vqa_prune('nosuch', 'lmh', 0.5)$$)});
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '60s')"), 'failed', 'a failing job fails');
is($node->safe_psql('postgres',
	"SELECT error_sqlstate || ': ' || error_message FROM vqa_jobs WHERE job_id = $job"),
	'42704: model "nosuch" does not exist', 'with its SQLSTATE and message');

# a long mask-training job: progress, then cancel
$job = $node->safe_psql('postgres', q{
	SELECT vqa_submit($$SELECT vqa_prune('small_bce', 'lmh', 0.7, 'mask',
		'{"epochs": 100000, "batch_size": 32, "name": "never"}')$$)});
ok(wait_for("SELECT phase = 'training' AND epoch >= 1 AND step >= 1 AND loss IS NOT NULL
	AND total_steps > step FROM vqa_jobs WHERE job_id = $job"), 'a running job shows its progress');
is($node->safe_psql('postgres', "SELECT vqa_cancel($job)"), 't', 'vqa_cancel stops it');
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '30s')"), 'canceled', 'it ends canceled');
is($node->safe_psql('postgres', q{SELECT count(*) FROM vqaprune.models WHERE name = 'never'}), '0',
	'and stores no model');
is($node->safe_psql('postgres', "SELECT vqa_cancel($job)"), 'f', 'an ended job cannot be canceled');

# the same for a VisualBERT
$job = $node->safe_psql('postgres', q{
	SELECT vqa_submit($$SELECT vqa_prune('vb', 'lmh', 0.7, 'mask',
		'{"epochs": 100000, "batch_size": 32, "name": "vb_never"}')$$)});
ok(wait_for("SELECT phase = 'training' AND epoch >= 1 AND step >= 1 AND loss IS NOT NULL
	AND total_steps > step FROM vqa_jobs WHERE job_id = $job"), 'a running VisualBERT job shows its progress');
is($node->safe_psql('postgres', "SELECT vqa_cancel($job)"), 't', 'vqa_cancel stops it');
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '30s')"), 'canceled', 'it ends canceled');
is($node->safe_psql('postgres', q{SELECT count(*) FROM vqaprune.models WHERE name = 'vb_never'}), '0',
	'and stores no model');

# SIGKILL of a worker mid-run: the server recovers, the job shows as crashed
$job = $node->safe_psql('postgres', q{
	SELECT vqa_submit($$SELECT vqa_prune('small_bce', 'lmh', 0.7, 'mask',
		'{"epochs": 100000, "batch_size": 32, "name": "killed"}')$$)});
ok(wait_for("SELECT phase = 'training' FROM vqa_jobs WHERE job_id = $job"), 'a job is training');
my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM vqaprune.jobs WHERE job_id = $job");
kill 'KILL', $pid;
ok(wait_for("SELECT status = 'failed' AND phase = 'crashed' FROM vqa_jobs WHERE job_id = $job"),
	'after the crash the job shows as failed (crashed)');
is($node->safe_psql('postgres', "SELECT vqa_wait($job, '5s')"), 'failed', 'and vqa_wait says so');
is($node->safe_psql('postgres', $digest_sql), $digest, 'the models stored before are intact');
is($node->safe_psql('postgres', q{SELECT count(*) FROM vqaprune.models WHERE name = 'killed'}), '0',
	'and nothing half-written is visible');

# roles see and cancel only their own jobs
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN IN ROLE vqaprune_user;
	CREATE ROLE bob LOGIN IN ROLE vqaprune_user;
});
my $alice_job = $node->safe_psql('postgres', q{SET ROLE alice;
	SELECT vqa_submit($$SELECT vqa_evaluate('small_bce', 'synth', 'val')$$)});
is($node->safe_psql('postgres', "SET ROLE alice; SELECT vqa_wait($alice_job, '60s')"), 'succeeded',
	'a job runs as the role that submitted it');
is($node->safe_psql('postgres', "SET ROLE bob; SELECT count(*) FROM vqa_jobs"), '0',
	'another role sees none of its jobs');
my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE bob; SELECT vqa_cancel($alice_job)");
like($err, qr/job $alice_job does not exist/, 'and cannot cancel them');
is($node->safe_psql('postgres', 'SET ROLE bob; SELECT count(*) FROM vqaprune.jobs'), '0',
	'nor read them in the jobs table');
is($node->safe_psql('postgres', "SELECT role FROM vqa_jobs WHERE job_id = $alice_job"), 'alice',
	'a superuser sees every job');

# four jobs, two slots: they queue and all finish
my @jobs = split /\n/, $node->safe_psql('postgres', q{
	SELECT vqa_submit(format($$SELECT vqa_finetune('small', 'synth', 'bce', '{"epochs": 2, "name": "q%s"}')$$, i))
	  FROM generate_series(1, 4) i});
is(scalar(@jobs), 4, 'four jobs submitted');
ok(wait_for(sprintf("SELECT count(*) FILTER (WHERE status = 'queued') > 0 OR count(*) FILTER (WHERE status = 'succeeded') = 4
	FROM vqa_jobs WHERE job_id IN (%s)", join(',', @jobs))), 'with more jobs than slots some wait queued');
is($node->safe_psql('postgres', join(' || ', map { "vqa_wait($_, '120s')" } @jobs) =~ s/^/SELECT /r),
	'succeeded' x 4, 'and all four finish');
is($node->safe_psql('postgres', q{SELECT count(*) FROM vqa_models WHERE model LIKE 'q_'}), '4',
	'with their models');

# bad calls are refused
($ret, $out, $err) = $node->psql('postgres', q{SELECT vqa_submit('SELECT 1')});
like($err, qr/a job runs one SELECT of a long vqaprune function/, 'a call that is not a vqaprune job');
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT vqa_submit($$SELECT vqa_finetune('small', 'synth'); DROP TABLE vqaprune.models$$)});
like($err, qr/a job runs one SELECT of a long vqaprune function/, 'two statements');
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT vqa_submit($$SELECT vqa_finetune((SELECT name FROM vqaprune.models LIMIT 1), 'synth')$$)});
like($err, qr/the arguments of a job's call must be constants/, 'a subquery argument');
($ret, $out, $err) = $node->psql('postgres', q{BEGIN;
	SELECT vqa_wait(vqa_submit($$SELECT vqa_evaluate('small_bce', 'synth')$$));});
like($err, qr/starts when the transaction that submitted it commits/, 'waiting inside the submitting transaction');
($ret, $out, $err) = $node->psql('postgres', q{CREATE ROLE team NOLOGIN IN ROLE vqaprune_user; SET ROLE team;
	SELECT vqa_submit($$SELECT vqa_evaluate('small_bce', 'synth')$$)});
like($err, qr/role "team" cannot log in, so it cannot run jobs/, 'a role that cannot log in');

$node->stop;
done_testing();
