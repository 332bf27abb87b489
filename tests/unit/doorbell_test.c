/* SPDX-License-Identifier: MIT */
/*
 * The doorbell's contract (dataplane/wire/doorbell.h): a producer that makes an item
 * visible while the consumer goes to sleep always wakes it (two threads racing over many
 * rounds; a wake-up lost would show as a wait that runs to its timeout with the item
 * there); a consumer that is not asleep costs its producers no eventfd write; a kick ends
 * the current or the next wait (shutdown); a ring that lands late leaves one empty round.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "doorbell.h"

#define RACE_ROUNDS 20000
#define RACE_TIMEOUT_US 2000000u /* a wait this long with the item there: a lost wake-up */

/* A producer and a consumer handing over one counter value at a time. Each round both
 * start together (ready, go) and each lets a random few instants pass, so that the
 * producer's enqueue and ring fall on every point of the consumer's arm, last look and
 * wait: the interleavings where a wrong order loses the wake-up come up many times. */
struct race {
	struct rc_bell bell;
	_Atomic uint64_t produced; /* the "queue": the last item made visible */
	_Atomic uint64_t consumed; /* the last item the consumer took */
	_Atomic uint64_t ready;    /* the consumer waits for round `ready` to start */
	_Atomic uint64_t go;       /* the producer started round `go` */
	atomic_bool stop;
	unsigned rung;  /* consumer: waits a producer ended */
	unsigned lost;  /* consumer: waits that timed out with an item waiting */
};

static void
jitter(unsigned *seed, unsigned max)
{
	unsigned spin = (unsigned)rand_r(seed) % max;

	for (volatile unsigned k = 0; k < spin; k++)
		;
}

/* Waits until *v reaches x (or the race stops): spinning first, both threads are hot. */
static void
await(struct race *r, _Atomic uint64_t *v, uint64_t x)
{
	for (unsigned n = 0; atomic_load(v) < x && !atomic_load(&r->stop); n++)
		if (n > 10000)
			sched_yield();
}

static void *
race_consumer(void *arg)
{
	struct race *r = arg;
	unsigned seed = 7;
	uint64_t mine = 0;

	while (!atomic_load(&r->stop)) {
		uint64_t p = atomic_load_explicit(&r->produced, memory_order_relaxed);

		if (p != mine) { /* work: take it, then start the next round */
			mine = p;
			atomic_store(&r->consumed, mine);
			atomic_store(&r->ready, mine + 1);
			await(r, &r->go, mine + 1);
			jitter(&seed, 200);
			continue;
		}
		rc_bell_arm(&r->bell);
		if (atomic_load_explicit(&r->produced, memory_order_relaxed) != mine) {
			rc_bell_disarm(&r->bell); /* the last look found work */
			continue;
		}
		if (rc_bell_wait(&r->bell, RACE_TIMEOUT_US)) {
			r->rung++;
		} else if (atomic_load(&r->produced) != mine) {
			r->lost++;
			atomic_store(&r->stop, true);
		}
	}
	return NULL;
}

/* Many rounds: the consumer took the last item and heads for its sleep while the producer
 * enqueues the next one and rings. Every round ends with the item taken; no wait runs to
 * its timeout (with the flag read before the enqueue, or without the fences, some do). */
static void
test_ring_wakes_a_sleeper(void **state)
{
	struct race r = { 0 };
	unsigned seed = 42;
	pthread_t t;

	(void)state;
	assert_int_equal(rc_bell_init(&r.bell), 0);
	atomic_store(&r.ready, 1);
	assert_int_equal(pthread_create(&t, NULL, race_consumer, &r), 0);
	for (uint64_t i = 1; i <= RACE_ROUNDS && !atomic_load(&r.stop); i++) {
		await(&r, &r.ready, i);
		atomic_store(&r.go, i);
		jitter(&seed, 3000); /* from before the consumer's arm to inside its wait */
		atomic_store_explicit(&r.produced, i, memory_order_relaxed);
		rc_bell_ring(&r.bell);
		await(&r, &r.consumed, i);
	}
	atomic_store(&r.stop, true);
	rc_bell_kick(&r.bell);
	pthread_join(t, NULL);
	assert_int_equal(r.lost, 0);
	assert_int_equal(atomic_load(&r.consumed), RACE_ROUNDS);
	assert_true(r.rung > 0); /* the consumer did sleep: the race was run */
	rc_bell_fini(&r.bell);
}

/* A consumer that is not asleep (busy, or never armed) gets no eventfd write however often
 * its producers ring; once it arms, one ring writes and its wait returns at once. */
static void
test_busy_consumer_no_write(void **state)
{
	struct rc_bell b;
	uint64_t count;

	(void)state;
	assert_int_equal(rc_bell_init(&b), 0);
	for (unsigned i = 0; i < 100000; i++)
		rc_bell_ring(&b);
	assert_int_equal(atomic_load(&b.rings), 0);
	assert_int_equal(read(b.fd, &count, sizeof(count)), -1); /* nothing written */
	assert_int_equal(errno, EAGAIN);
	rc_bell_arm(&b);
	rc_bell_disarm(&b); /* found work on its last look */
	rc_bell_ring(&b);
	assert_int_equal(atomic_load(&b.rings), 0);
	rc_bell_arm(&b);
	rc_bell_ring(&b);
	rc_bell_ring(&b);
	assert_int_equal(atomic_load(&b.rings), 2);
	assert_true(rc_bell_wait(&b, RACE_TIMEOUT_US));
	assert_false(atomic_load(&b.sleeping));
	rc_bell_ring(&b); /* awake again: no write */
	assert_int_equal(atomic_load(&b.rings), 2);
	rc_bell_ring(NULL);
	rc_bell_kick(NULL);
	rc_bell_fini(&b);
}

/* A zeroed bell (a struct never initialised) is one nobody sleeps on: ringing it writes
 * nothing anywhere. */
static void
test_zeroed_bell(void **state)
{
	struct rc_bell b = { 0 };

	(void)state;
	rc_bell_ring(&b);
	assert_int_equal(atomic_load(&b.rings), 0);
}

struct stopper {
	struct rc_bell bell;
	atomic_bool stop;
	bool waited; /* it blocked (it had not seen the stop flag yet) */
	bool rung;
};

static void *
stop_consumer(void *arg)
{
	struct stopper *s = arg;

	rc_bell_arm(&s->bell);
	if (atomic_load(&s->stop)) {
		rc_bell_disarm(&s->bell);
		return NULL;
	}
	s->waited = true;
	s->rung = rc_bell_wait(&s->bell, 60u * 1000000u); /* far longer than the test */
	return NULL;
}

/* Shutdown: the stop flag, then a kick. The consumer ends its wait because it was rung,
 * whether the kick came before it blocked or while it was blocked; a kick before the wait
 * also ends it at once (the count stays). */
static void
test_kick_stops_a_wait(void **state)
{
	struct stopper s = { 0 };
	pthread_t t;

	(void)state;
	assert_int_equal(rc_bell_init(&s.bell), 0);
	assert_int_equal(pthread_create(&t, NULL, stop_consumer, &s), 0);
	usleep(20000);
	atomic_store(&s.stop, true);
	rc_bell_kick(&s.bell);
	pthread_join(t, NULL);
	rc_bell_kick(&s.bell); /* nobody waits: the count stays for the next wait */
	rc_bell_arm(&s.bell);
	assert_true(rc_bell_wait(&s.bell, 60u * 1000000u));
	rc_bell_fini(&s.bell);
	assert_true(!s.waited || s.rung);
}

/* A wait that timed out (nobody rang) returns false; a ring that came after the consumer
 * woke but before it disarmed leaves its count: the next wait returns at once. */
static void
test_timeout_and_late_ring(void **state)
{
	struct rc_bell b;

	(void)state;
	assert_int_equal(rc_bell_init(&b), 0);
	rc_bell_arm(&b);
	assert_false(rc_bell_wait(&b, 1000));
	rc_bell_kick(&b); /* late: the consumer is awake */
	rc_bell_arm(&b);
	assert_true(rc_bell_wait(&b, RACE_TIMEOUT_US));
	rc_bell_arm(&b);
	assert_false(rc_bell_wait(&b, 1000)); /* drained: one empty round only */
	rc_bell_fini(&b);
	assert_int_equal(b.fd, -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_consumer_no_write),
		cmocka_unit_test(test_zeroed_bell),
		cmocka_unit_test(test_timeout_and_late_ring),
		cmocka_unit_test(test_kick_stops_a_wait),
		cmocka_unit_test(test_ring_wakes_a_sleeper),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
