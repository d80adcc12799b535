# Roles try to gain another role's rights through vqaprune: a role with only
# LOGIN and a member of vqaprune_user each arm a trap (functions and operators
# of their own schema ahead of pg_catalog on their search_path, for their
# sessions and for the job worker, and temporary relations shadowing the
# catalogs vqaprune reads) and then call every vqaprune function and view,
# in the foreground and as jobs. Whatever runs with another role's rights
# fires the trap, which makes its owner superuser and logs who ran it. The
# test asserts that the roles' attributes and memberships are unchanged and
# that nothing ran as anyone else; at the end a superuser springs a trap on
# purpose, to show it works.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('escalation');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION vqaprune;
	CREATE ROLE mallory LOGIN;
	CREATE ROLE member LOGIN IN ROLE vqaprune_user;
	-- each may make a schema of its own, as in a shared database
	GRANT CREATE ON DATABASE postgres TO mallory, member;
	SELECT vqa_synthetic('admin_ds', images => 60, seed => 2, boxes => 4, feature_dim => 16);
	SELECT vqa_create_model('admin_m', 'admin_ds', '{"hidden_size": 16, "num_attention_heads": 2,
		"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}');
});

my @checked = qw(= <> < <= > >=);
my @types = ('oid, oid', 'bigint, bigint', 'integer, integer', 'bigint, integer', 'text, text',
	'name, name', 'name, text', 'timestamptz, timestamptz', 'boolean, boolean');

# the trap of a role: its schema, log, and shadows of what vqaprune might call
sub arm_trap
{
	my ($role) = @_;
	my $sql = qq{
		CREATE SCHEMA trap_$role;
		CREATE TABLE trap_$role.log (who name, what text);
		GRANT INSERT ON trap_$role.log TO PUBLIC;
		GRANT USAGE ON SCHEMA trap_$role TO PUBLIC;
		CREATE FUNCTION trap_$role.spring(what text) RETURNS boolean
		LANGUAGE plpgsql SET search_path = pg_catalog AS \$f\$
		BEGIN
			INSERT INTO trap_$role.log VALUES (current_user, what);
			IF current_user <> '$role' THEN
				BEGIN
					EXECUTE 'ALTER ROLE $role SUPERUSER';
					EXECUTE 'GRANT pg_read_server_files, vqaprune_user TO $role';
				EXCEPTION WHEN OTHERS THEN
					NULL;
				END;
			END IF;
			RETURN true;
		END
		\$f\$;
	};
	my $n = 0;
	for my $t (@types)
	{
		my ($l, $r) = split /, /, $t;
		for my $op (@checked)
		{
			$n++;
			$sql .= qq{
				CREATE FUNCTION trap_$role.op$n(a $l, b $r) RETURNS boolean
				LANGUAGE sql SET search_path = pg_catalog
				AS \$f\$ SELECT trap_$role.spring('operator $op ($t)') AND a OPERATOR(pg_catalog.$op) b \$f\$;
				CREATE OPERATOR trap_$role.$op (LEFTARG = $l, RIGHTARG = $r, FUNCTION = trap_$role.op$n);
			};
		}
	}
	for my $op ('=', '<>')
	{
		$n++;
		$sql .= qq{
			CREATE FUNCTION trap_$role.op$n(a xid, b xid) RETURNS boolean
			LANGUAGE sql SET search_path = pg_catalog
			AS \$f\$ SELECT trap_$role.spring('operator $op (xid, xid)') AND a OPERATOR(pg_catalog.$op) b \$f\$;
			CREATE OPERATOR trap_$role.$op (LEFTARG = xid, RIGHTARG = xid, FUNCTION = trap_$role.op$n);
		};
	}
	$sql .= qq{
		CREATE FUNCTION trap_$role.clock_timestamp() RETURNS timestamptz LANGUAGE sql
			SET search_path = pg_catalog
			AS \$f\$ SELECT CASE WHEN trap_$role.spring('clock_timestamp') THEN pg_catalog.clock_timestamp() END \$f\$;
		CREATE FUNCTION trap_$role.now() RETURNS timestamptz LANGUAGE sql SET search_path = pg_catalog
			AS \$f\$ SELECT CASE WHEN trap_$role.spring('now') THEN pg_catalog.now() END \$f\$;
		CREATE FUNCTION trap_$role.pg_backend_pid() RETURNS integer LANGUAGE sql SET search_path = pg_catalog
			AS \$f\$ SELECT CASE WHEN trap_$role.spring('pg_backend_pid') THEN pg_catalog.pg_backend_pid() END \$f\$;
		CREATE FUNCTION trap_$role.current_database() RETURNS name LANGUAGE sql SET search_path = pg_catalog
			AS \$f\$ SELECT CASE WHEN trap_$role.spring('current_database') THEN pg_catalog.current_database() END \$f\$;
		CREATE FUNCTION trap_$role.pg_advisory_xact_lock(integer) RETURNS void LANGUAGE sql
			SET search_path = pg_catalog
			AS \$f\$ SELECT trap_$role.spring('pg_advisory_xact_lock'); SELECT pg_catalog.pg_advisory_xact_lock(\$1::bigint) \$f\$;
		CREATE FUNCTION trap_$role.pg_current_xact_id_if_assigned() RETURNS xid8 LANGUAGE sql
			SET search_path = pg_catalog
			AS \$f\$ SELECT CASE WHEN trap_$role.spring('pg_current_xact_id_if_assigned')
				THEN pg_catalog.pg_current_xact_id_if_assigned() END \$f\$;
		CREATE FUNCTION trap_$role.xid(xid8) RETURNS xid LANGUAGE sql SET search_path = pg_catalog
			AS \$f\$ SELECT CASE WHEN trap_$role.spring('xid') THEN pg_catalog.xid(\$1) END \$f\$;
		CREATE FUNCTION trap_$role.count_step(bigint) RETURNS bigint LANGUAGE sql SET search_path = pg_catalog
			AS \$f\$ SELECT CASE WHEN trap_$role.spring('count') THEN \$1 + 1 END \$f\$;
		CREATE AGGREGATE trap_$role.count(*) (SFUNC = trap_$role.count_step, STYPE = bigint, INITCOND = '0');
		ALTER ROLE $role SET search_path = trap_$role, pg_catalog;
	};
	return $sql;
}

# the relations vqaprune reads from the catalogs, shadowed in pg_temp
sub temp_shadows
{
	my ($role) = @_;
	return join '', map { qq{
		CREATE TEMP VIEW $_ AS SELECT * FROM pg_catalog.$_ WHERE trap_$role.spring('temp $_');
	} } qw(pg_extension pg_roles pg_stat_activity pg_database pg_namespace pg_proc pg_class);
}

# every vqaprune function and view, as a role under its trap
sub attack
{
	my ($role) = @_;
	my $p = $role;
	return qq{
		SET search_path = trap_$role, pg_catalog, public;
		} . temp_shadows($role) . qq{
		SELECT vqa_synthetic('${p}_ds', images => 60, seed => 1, boxes => 4, feature_dim => 16);
		SELECT vqa_create_model('${p}_m', '${p}_ds', '{"hidden_size": 16, "num_attention_heads": 2,
			"intermediate_size": 32, "l_layers": 1, "r_layers": 1, "x_layers": 1}');
		SELECT vqa_finetune('${p}_m', '${p}_ds', 'bce', '{"epochs": 1}');
		SELECT vqa_finetune('admin_m', 'admin_ds', 'lmh', '{"epochs": 1, "name": "${p}_lmh"}');
		SELECT vqa_evaluate('${p}_m_bce', '${p}_ds', 'test');
		SELECT vqa_prior_baseline('${p}_ds', 'test');
		SELECT vqa_prune('${p}_m_bce', 'lmh', 0.5, 'magnitude');
		SELECT vqa_compact('${p}_m_bce_magnitude_50');
		SELECT vqa_pipeline('${p}_m', '${p}_ds', 'bce', 'lmh', 0.3, NULL,
			'{"stage1": {"epochs": 1, "name": "${p}_p1"}, "stage2": {"epochs": 1, "name": "${p}_p2"}}');
		SELECT vqa_forward('admin_m', ARRAY[[101, 102]], ARRAY[[1, 1]], ARRAY[[0, 0]],
			array_fill(0.5::real, ARRAY[1, 4, 16]), array_fill(0.5::real, ARRAY[1, 4, 4]));
		SELECT vqa_normalize_answer('Two'), vqa_answer_accuracy('two', array_fill('two'::text, ARRAY[10])), vqa_round(0.125);
		SELECT vqa_floats('\\x0000803f'::bytea);
		SELECT vqa_drop_model('admin_m');
		SELECT vqa_drop_dataset('admin_ds');
		SELECT vqa_set_shared_reads(false);
		SELECT count(*) FROM vqa_accuracy;
		SELECT count(*) FROM vqa_accuracy_by_answer_type;
		SELECT count(*) FROM vqa_accuracy_by_question_type;
		SELECT count(*) FROM vqa_dataset_splits;
		SELECT count(*) FROM vqa_datasets;
		SELECT count(*) FROM vqa_models;
		SELECT count(*) FROM vqa_model_modules;
		SELECT count(*) FROM vqa_jobs;
		SELECT vqa_cancel(1);
		SELECT vqa_wait(1, '1s');
		SELECT vqa_submit(\$\$SELECT vqa_evaluate('${p}_m_bce', '${p}_ds', 'val')\$\$);
		SELECT vqa_wait(max(job_id), '60s') FROM vqaprune.jobs;
		SELECT vqa_submit(\$\$SELECT vqa_finetune('${p}_m', '${p}_ds', 'bce', '{"epochs": 100000, "name": "${p}_long"}')\$\$);
		SELECT pg_sleep(1);
		SELECT vqa_cancel(max(job_id)) FROM vqaprune.jobs;
		SELECT vqa_wait(max(job_id), '60s') FROM vqaprune.jobs;
		SELECT count(*) FROM vqa_jobs;
	};
}

sub attributes
{
	my ($role) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication,
			   coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname)
						   FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid
						  WHERE a.member = r.oid), '')
		  FROM pg_roles r WHERE r.rolname = '$role'});
}

# a job of the superuser's that the roles will try to cancel
my $admin_job = $node->safe_psql('postgres', q{
	SELECT vqa_submit($$SELECT vqa_finetune('admin_m', 'admin_ds', 'bce', '{"epochs": 100000, "name": "admin_long"}')$$)});

for my $role (qw(mallory member))
{
	my $before = attributes($role);
	$node->safe_psql('postgres', arm_trap($role), extra_params => [ '-U', $role ]);

	# the trap is armed: the role's own comparisons fire it, as itself
	is($node->safe_psql('postgres', 'SELECT 1::oid = 1::oid', extra_params => [ '-U', $role ]), 't',
		"$role: its trap answers comparisons");
	is($node->safe_psql('postgres', "SELECT count(*) > 0 FROM trap_$role.log WHERE who = '$role'"), 't',
		"$role: and fires as $role");

	my ($ret, $out, $err) = $node->psql('postgres', attack($role), on_error_stop => 0,
		extra_params => [ '-U', $role ]);
	if ($role eq 'member')
	{
		unlike($err, qr/permission denied for function (?!vqa_set_shared_reads)/,
			'member: a member may call every function but the superuser-only one');
		is($node->safe_psql('postgres',
			"SELECT string_agg(model, ',' ORDER BY model_id) FROM vqa_models WHERE owner = 'member'::regrole"),
			'member_m,member_m_bce,member_lmh,member_m_bce_magnitude_50,member_m_bce_magnitude_50_compact,'
			. 'member_p1,member_p2',
			'member: and made its models');
		is($node->safe_psql('postgres',
			"SELECT string_agg(status, ',' ORDER BY job_id) FROM vqa_jobs WHERE role = 'member'"),
			'succeeded,canceled', 'member: its jobs ran in a worker, and its cancel stopped its own');
	}
	else
	{
		like($err, qr/permission denied for function vqa_synthetic/, 'mallory: may not call vqa_synthetic');
		like($err, qr/permission denied for function vqa_submit/, 'mallory: nor submit jobs');
	}
	like($err, qr/permission denied for function vqa_set_shared_reads/,
		"$role: may not change whether reads are shared");
	is(attributes($role), $before, "$role: attributes and memberships are unchanged");
	is($node->safe_psql('postgres', "SELECT count(*) FROM trap_$role.log WHERE who <> '$role'"), '0',
		"$role: nothing ran with another role's rights");
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM vqa_models WHERE model = 'admin_m'}), '1',
		"$role: the superuser's model is still there");
	is($node->safe_psql('postgres', "SELECT status FROM vqaprune.jobs WHERE job_id = $admin_job"), 'running',
		"$role: and the superuser's job still runs");
}

# the owner context, reached with the worker's own search_path: a member's
# job, claimed and finished while its role's search_path names its trap
is($node->safe_psql('postgres',
	"SELECT count(*) FROM trap_member.log WHERE what LIKE 'temp %' AND who <> 'member'"), '0',
	'no shadowed catalog relation was read by anyone else');

$node->safe_psql('postgres', "SELECT vqa_cancel($admin_job)");
is($node->safe_psql('postgres', "SELECT vqa_wait($admin_job, '60s')"), 'canceled',
	'the superuser cancels its own job');

# the control: a superuser who walks into the trap does grant it
$node->safe_psql('postgres', q{SET search_path = trap_mallory, pg_catalog; SELECT 1::oid = 1::oid});
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 't',
	'the trap would have caught an escalation');

$node->stop;
done_testing();
