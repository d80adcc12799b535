/*
 * parallel.c: the worker pool behind vqa_parallel_for.
 *
 * One job at a time: the caller publishes it under the mutex, bumps the
 * generation and wakes the workers, runs the first range itself, then waits
 * until every worker has reported its range done. Threads are started on
 * first use and resized by vqa_parallel_set_threads.
 */
#include "vqaprune/parallel.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#define MAX_THREADS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t job_done = PTHREAD_COND_INITIALIZER;
static pthread_t workers[MAX_THREADS];
static int	n_workers = 0;		/* started, besides the caller */
static int	wanted_threads = 1;
static unsigned long generation = 0;
static unsigned long start_generation = 0;	/* generation when workers started */
static int	pending = 0;
static int	stopping = 0;

static VqaRangeFn job_fn;
static void *job_arg;
static size_t job_n;
static int	job_threads;

static void
job_range(int index, size_t *begin, size_t *end)
{
	*begin = job_n * (size_t) index / (size_t) job_threads;
	*end = job_n * (size_t) (index + 1) / (size_t) job_threads;
}

static void *
worker_main(void *arg)
{
	int			index = (int) (size_t) arg;
	unsigned long seen = start_generation;	/* jobs published later are this worker's */

	pthread_mutex_lock(&lock);
	for (;;)
	{
		size_t		begin,
					end;

		while (generation == seen && !stopping)
			pthread_cond_wait(&job_ready, &lock);
		if (stopping)
			break;
		seen = generation;
		if (index >= job_threads)
			continue;
		job_range(index, &begin, &end);
		pthread_mutex_unlock(&lock);
		job_fn(job_arg, begin, end, index);
		pthread_mutex_lock(&lock);
		if (--pending == 0)
			pthread_cond_signal(&job_done);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void
stop_workers(void)
{
	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_broadcast(&job_ready);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < n_workers; i++)
		pthread_join(workers[i], NULL);
	n_workers = 0;
	stopping = 0;
}

/* Starts workers 1 .. threads - 1 with every signal blocked. */
static void
start_workers(int threads)
{
	sigset_t	all,
				old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	start_generation = generation;
	while (n_workers < threads - 1)
	{
		if (pthread_create(&workers[n_workers], NULL, worker_main,
						   (void *) (size_t) (n_workers + 1)) != 0)
			break;
		n_workers++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void
vqa_parallel_set_threads(int threads)
{
	if (threads < 1)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	if (n_workers > threads - 1)
		stop_workers();
	wanted_threads = threads;
}

int
vqa_parallel_threads(void)
{
	return wanted_threads;
}

void
vqa_parallel_for(size_t n, size_t min_items, VqaRangeFn fn, void *arg)
{
	int			threads = wanted_threads;
	size_t		begin,
				end;

	if (threads > 1 && n_workers < threads - 1)
		start_workers(threads);
	threads = n_workers + 1 < threads ? n_workers + 1 : threads;
	if (min_items < 1)
		min_items = 1;
	if (threads <= 1 || n < 2 * min_items)
	{
		fn(arg, 0, n, 0);
		return;
	}
	if ((size_t) threads > n / min_items)
		threads = (int) (n / min_items);

	pthread_mutex_lock(&lock);
	job_fn = fn;
	job_arg = arg;
	job_n = n;
	job_threads = threads;
	pending = threads - 1;
	generation++;
	pthread_cond_broadcast(&job_ready);
	pthread_mutex_unlock(&lock);

	job_range(0, &begin, &end);
	fn(arg, begin, end, 0);

	pthread_mutex_lock(&lock);
	while (pending > 0)
		pthread_cond_wait(&job_done, &lock);
	pthread_mutex_unlock(&lock);
}
