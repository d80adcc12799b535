# A database shared by a research group: members of vqaprune_user run the
# whole pipeline without table grants and own what they make; a member
# cannot drop or change another's datasets or models unless that role is
# granted to it; a role outside the group reads but writes nothing; a
# superuser can make reads private; loading files still takes
# pg_read_server_files; a cancel reaches only the process that is still
# the job's worker.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $data = $ENV{VQAPRUNE_TEST_DATA} or die "VQAPRUNE_TEST_DATA is not set";

my $node = PostgreSQL::Test::Cluster->new('shared');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION vqaprune;
	CREATE ROLE alice LOGIN IN ROLE vqaprune_user;
	CREATE ROLE bob LOGIN IN ROLE vqaprune_user;
	CREATE ROLE carol LOGIN;
	GRANT pg_read_server_files TO alice;
});

sub as
{
	my ($role, $sql) = @_;
	return $node->psql('postgres', $sql, extra_params => [ '-U', $role ]);
}

sub as_ok
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}

my $tiny = q{'{"hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32,
	"l_layers": 1, "r_layers": 1, "x_layers": 1}'};

# a member runs the pipeline
as_ok('alice', qq{
	SELECT vqa_synthetic('alice_ds', images => 80, seed => 3, boxes => 4, feature_dim => 16);
	SELECT vqa_create_model('alice_m', 'alice_ds', $tiny);
	SELECT vqa_finetune('alice_m', 'alice_ds', 'bce', '{"epochs": 2}');
	SELECT vqa_prune('alice_m_bce', 'lmh', 0.5, 'mask', '{"epochs": 1, "dataset": "alice_ds"}');
	SELECT vqa_evaluate('alice_m_bce_mask_lmh_50', 'alice_ds', 'test');
	SELECT vqa_prior_baseline('alice_ds', 'test');
	SELECT vqa_load_questions('alice_files', 'train', '$data/vqacp_train_questions.json',
		'$data/vqacp_train_annotations.json');
	SELECT vqa_load_features('alice_files', '$data/features_lxmert.tsv');
});
is(as_ok('alice', q{SELECT string_agg(model || ':' || owner, ',' ORDER BY model_id) FROM vqa_models}),
	'alice_m:alice,alice_m_bce:alice,alice_m_bce_mask_lmh_50:alice',
	'a member makes, fine-tunes and prunes models, and owns them');
is(as_ok('alice', q{SELECT string_agg(dataset || ':' || owner, ',' ORDER BY dataset_id) FROM vqa_datasets}),
	'alice_ds:alice,alice_files:alice', 'and datasets, from the generator and from files');
is(as_ok('alice', q{SELECT count(*) FROM vqa_accuracy WHERE dataset = 'alice_ds'}), '2',
	'and evaluation runs');
my $job = as_ok('alice', q{SELECT vqa_submit($$SELECT vqa_finetune('alice_m', 'alice_ds', 'lmh',
	'{"epochs": 1, "name": "alice_job"}')$$)});
is(as_ok('alice', "SELECT vqa_wait($job, '60s')"), 'succeeded', 'and runs jobs');
is(as_ok('alice', q{SELECT owner FROM vqa_models WHERE model = 'alice_job'}), 'alice',
	'whose models it owns too');

# another member reads and builds on them, but cannot drop or change them
is(as_ok('bob', q{SELECT count(*) FROM vqa_models WHERE owner = 'alice'::regrole}), '4',
	'another member reads them');
as_ok('bob', q{
	SELECT vqa_evaluate('alice_m_bce', 'alice_ds', 'val');
	SELECT vqa_finetune('alice_m_bce', 'alice_ds', 'lmh', '{"epochs": 1, "name": "bob_lmh"}');
});
is(as_ok('bob', q{SELECT owner FROM vqa_models WHERE model = 'bob_lmh'}), 'bob',
	'and makes its own model from them');
my ($ret, $out, $err) = as('bob', q{SELECT vqa_drop_model('alice_m')});
like($err, qr/must be owner of model "alice_m"/, 'it cannot drop their model');
($ret, $out, $err) = as('bob', q{SELECT vqa_drop_dataset('alice_ds')});
like($err, qr/must be owner of dataset "alice_ds"/, 'nor their dataset');
$node->safe_psql('postgres', 'GRANT pg_read_server_files TO bob');
($ret, $out, $err) = as('bob', qq{SELECT vqa_load_questions('alice_files', 'test',
	'$data/vqacp_test_questions.json', '$data/vqacp_test_annotations.json')});
like($err, qr/must be owner of dataset "alice_files"/, 'nor load questions into their dataset');
($ret, $out, $err) = as('bob', qq{SELECT vqa_load_features('alice_files', '$data/features_lxmert.tsv')});
like($err, qr/must be owner of dataset "alice_files"/, 'nor features');
$node->safe_psql('postgres', 'REVOKE pg_read_server_files FROM bob');
is(as_ok('bob', q{
	WITH d AS (DELETE FROM vqaprune.models WHERE owner = 'alice'::regrole RETURNING 1),
		 u AS (UPDATE vqaprune.datasets SET name = 'stolen' RETURNING 1),
		 t AS (DELETE FROM vqaprune.tensor_chunks c USING vqaprune.models m
				WHERE m.model_id = c.model_id AND m.owner = 'alice'::regrole RETURNING 1),
		 o AS (UPDATE vqaprune.models SET owner = 'bob' WHERE owner = 'alice'::regrole RETURNING 1)
	SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM u) + (SELECT count(*) FROM t)
		 + (SELECT count(*) FROM o)}), '0', 'direct deletes and updates of their rows change nothing');
($ret, $out, $err) = as('bob', q{INSERT INTO vqaprune.answers (dataset_id, answer_id, answer, train_count)
	SELECT dataset_id, 9999, 'injected', 1 FROM vqaprune.datasets WHERE name = 'alice_ds'});
like($err, qr/new row violates row-level security policy for table "answers"/,
	'nor can it insert into their dataset');
($ret, $out, $err) = as('bob', q{INSERT INTO vqaprune.models (name, stage, config, owner)
	VALUES ('forged', 0, '{}', 'alice')});
like($err, qr/new row violates row-level security policy for table "models"/,
	'nor make a row in their name');
($ret, $out, $err) = as('bob', q{SELECT vqa_load_questions('bob_files', 'train', '/nonexistent', '/nonexistent')});
like($err, qr/permission denied to read server files/, 'loading files still needs pg_read_server_files');
is(as_ok('alice', q{SELECT count(*) FROM vqa_models WHERE owner = 'alice'::regrole}), '4',
	'their models are all still there');

# the owner may grant otherwise: a role granted to another lets it act for it
$node->safe_psql('postgres', 'GRANT alice TO bob');
is(as_ok('bob', q{SELECT vqa_drop_model('alice_job')}), 't', 'a member of the owner role may drop');
$node->safe_psql('postgres', 'REVOKE alice FROM bob');

# outside the group: reads, writes nothing
is(as_ok('carol', q{SELECT count(*) FROM vqa_models}), '4', 'a role outside the group reads models');
($ret, $out, $err) = as('carol', q{SELECT vqa_synthetic('carol_ds', images => 60)});
like($err, qr/permission denied for function vqa_synthetic/, 'but cannot call a writing function');
($ret, $out, $err) = as('carol', q{INSERT INTO vqaprune.datasets (name, source) VALUES ('carol', 'files')});
like($err, qr/permission denied for table datasets/, 'nor write a table');
($ret, $out, $err) = as('carol', q{SELECT vqa_submit($$SELECT vqa_evaluate('alice_m_bce', 'alice_ds')$$)});
like($err, qr/permission denied for function vqa_submit/, 'nor submit a job');
is(as_ok('carol', q{
	SELECT vqa_round(100 * vqa_answer_accuracy(vqa_normalize_answer('Two'), array_fill('2'::text, ARRAY[10])))}),
	'100', 'the metric functions are open to every role');

# private reads, set by a superuser
($ret, $out, $err) = as('alice', q{SELECT vqa_set_shared_reads(false)});
like($err, qr/permission denied for function vqa_set_shared_reads/, 'only a superuser sets sharing');
$node->safe_psql('postgres', 'SELECT vqa_set_shared_reads(false)');
is(as_ok('bob', q{SELECT string_agg(model, ',') FROM vqa_models}), 'bob_lmh',
	'with private reads a member sees only its own models');
is(as_ok('bob', q{SELECT count(*) FROM vqaprune.tensors t JOIN vqaprune.models m USING (model_id)
	WHERE m.owner = 'alice'::regrole}), '0', 'and none of their tensors');
is(as_ok('carol', q{SELECT count(*) FROM vqa_datasets}), '0', 'an outsider sees nothing');
is(as_ok('alice', q{SELECT count(*) FROM vqa_models}), '3', 'the owner still sees its own');
$node->safe_psql('postgres', 'SELECT vqa_set_shared_reads(true)');
is(as_ok('bob', q{SELECT count(*) FROM vqa_models}), '4', 'shared again');

# a cancel reaches only the job's own live worker
my $long = as_ok('alice', q{SELECT vqa_submit($$SELECT vqa_finetune('alice_m', 'alice_ds', 'bce',
	'{"epochs": 100000, "name": "alice_long"}')$$)});
for (1 .. 300)
{
	last if $node->safe_psql('postgres', "SELECT status FROM vqaprune.jobs WHERE job_id = $long") eq 'running';
	select(undef, undef, undef, 0.1);
}
my ($sleep_out, $sleep_err) = ('', '');
my $sleeper = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', q{SELECT 'slept' FROM pg_sleep(3)} ],
	'>', \$sleep_out, '2>', \$sleep_err);
my $sleeper_pid;
for (1 .. 100)
{
	$sleeper_pid = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE query LIKE '%FROM pg_sleep(3)' AND pid <> pg_backend_pid()});
	last if $sleeper_pid;
	select(undef, undef, undef, 0.05);
}
ok($sleeper_pid, 'another backend is busy');
# jobs whose recorded worker is now another process: a client backend with
# the same pid, and the live worker of another job under an older start time
my $fakes = $node->safe_psql('postgres', qq{
	INSERT INTO vqaprune.jobs (role_oid, role_name, database_oid, database_name, call, status,
		worker_pid, worker_started, started_at)
	SELECT 'alice'::regrole, 'alice', d.oid, d.datname, 'SELECT 1', 'running', a.pid, a.backend_start, now()
	  FROM pg_stat_activity a, pg_database d WHERE a.pid = $sleeper_pid AND d.datname = 'postgres'
	UNION ALL
	SELECT j.role_oid, j.role_name, j.database_oid, j.database_name, 'SELECT 2', 'running', j.worker_pid,
		   j.worker_started - interval '1 second', now()
	  FROM vqaprune.jobs j WHERE j.job_id = $long
	RETURNING job_id});
my @fake = split /\n/, $fakes;
is(as_ok('alice', "SELECT vqa_cancel($fake[0])"), 'f', 'a job whose pid is now a client backend: not signaled');
is(as_ok('alice', "SELECT vqa_cancel($fake[1])"), 'f', 'a job whose pid is now another job\'s worker: not signaled');
$sleeper->finish;
chomp $sleep_out;
is($sleep_out, 'slept', 'the client backend was not canceled');
is($node->safe_psql('postgres', "SELECT status FROM vqaprune.jobs WHERE job_id = $long"), 'running',
	'the other job was not canceled');
is($node->safe_psql('postgres', sprintf("SELECT string_agg(status, ',') FROM vqaprune.jobs WHERE job_id IN (%s)",
	join(',', @fake))), 'failed,failed', 'both stale jobs are marked crashed');
is(as_ok('alice', "SELECT vqa_cancel($long)"), 't', 'the real job is canceled');
is(as_ok('alice', "SELECT vqa_wait($long, '60s')"), 'canceled', 'and ends canceled');

$node->stop;
done_testing();
