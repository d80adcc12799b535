-- The job functions inside one transaction (no worker starts: the
-- transaction never commits; test/t/003_jobs.pl runs jobs for real): a
-- submitted call is queued under the submitting role, and bad input is
-- refused with nothing queued.
\set ON_ERROR_STOP 1
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

SELECT ok(vqa_submit($$SELECT vqa_prune('m', 'lmh', 0.7)$$) > 0, 'vqa_submit returns a job id');
SELECT results_eq($$SELECT role::name, call, status, phase, result FROM vqa_jobs$$,
	$$VALUES (current_user, 'SELECT vqa_prune(''m'', ''lmh'', 0.7)', 'queued', NULL::text, NULL::text)$$,
	'the job waits queued under the submitting role');
SELECT is(pg_temp.error_of(format('SELECT vqa_wait(%s)', (SELECT max(job_id) FROM vqa_jobs))),
	format('55000: job %s starts when the transaction that submitted it commits', (SELECT max(job_id) FROM vqa_jobs)),
	'waiting inside the submitting transaction is refused');
SELECT is(vqa_cancel((SELECT max(job_id) FROM vqa_jobs)), true, 'a queued job can be canceled');
SELECT is((SELECT status FROM vqa_jobs), 'canceled', 'and leaves the queue');
SELECT is(vqa_cancel((SELECT max(job_id) FROM vqa_jobs)), false, 'an ended job cannot be canceled again');

SELECT is(pg_temp.error_of($$SELECT vqa_submit('SELECT now()')$$),
	'22023: a job runs one SELECT of a long vqaprune function', 'another function');
SELECT is(pg_temp.error_of($q$SELECT vqa_submit($$SELECT vqa_evaluate('m', 'd') FROM pg_class$$)$q$),
	'22023: a job runs one SELECT of a long vqaprune function', 'a query around the call');
SELECT is(pg_temp.error_of($$SELECT vqa_cancel(424242)$$),
	'42704: job 424242 does not exist', 'an unknown job');
SELECT is(pg_temp.error_of($$SELECT vqa_wait(NULL)$$),
	'22004: job must not be null', 'a null job');
SELECT is((SELECT count(*) FROM vqa_jobs), 1::bigint, 'nothing else was queued');

SELECT * FROM finish();
ROLLBACK;
