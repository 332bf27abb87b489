/* SPDX-License-Identifier: MIT */
/*
 * A doorbell, header-only: lets a polling consumer thread (a worker lcore, the WAL writer,
 * the history thread) block when it has nothing to do, and its producers wake it only
 * then, so that a busy hand-off costs one fence and one load and no system call.
 *
 * Parts: an eventfd (non-blocking, its counter is the wake-up) and an atomic flag,
 * `sleeping`, that the consumer raises before it blocks.
 *
 * The consumer, having found nothing to do:
 *	rc_bell_arm(b);                          sleeping = 1, then a seq_cst fence
 *	if (its sources have work) rc_bell_disarm(b);
 *	else rc_bell_wait(b, timeout_us);        ppoll(), sleeping = 0, eventfd drained
 * (a consumer that blocks in a poll of its own adds b->fd to it, then rc_bell_clear()).
 * A producer, after it made its item visible (rte_ring enqueue, a flag set):
 *	rc_bell_ring(b);                         seq_cst fence, then if (sleeping) write()
 *
 * Why no wake-up is lost (Dekker's pattern): each side stores (the consumer its flag, the
 * producer its item) and then loads what the other stores (the consumer the sources, the
 * producer the flag), with a seq_cst fence between its store and its load. The two fences
 * are totally ordered: whichever comes second, its thread's load sees the other thread's
 * store. So either the consumer's last look finds the item (it does not block), or the
 * producer sees `sleeping` and writes the eventfd (the wait returns at once, or ends as
 * soon as the write lands). Without the fences, x86 lets each load pass its own earlier
 * store (store buffering): both would see the old values, and the item would wait for the
 * timeout. Checking the flag before making the item visible is wrong for the same reason.
 * A write that lands after the consumer already woke (by the timeout, or another
 * producer's write) leaves a count: its next wait returns at once, one empty round.
 *
 * The timeout of every wait bounds what a producer that does not ring costs (a test
 * enqueuing directly, a source with no ring such as a NIC queue without interrupts).
 *
 * Threads: rc_bell_arm/disarm/wait: the one consumer. rc_bell_ring, rc_bell_kick: any
 * thread, any number. rc_bell_init/fini: the owner, while no other thread uses the bell.
 * A zeroed struct (never initialised) is a bell nobody sleeps on: rc_bell_ring() on it
 * does nothing (do not kick or wait on it); rc_bell_ring(NULL) and rc_bell_kick(NULL) do
 * nothing either.
 */
#ifndef RC_DOORBELL_H
#define RC_DOORBELL_H

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct rc_bell {
	int fd;                 /* the eventfd (-1 after rc_bell_fini) */
	atomic_bool sleeping;   /* the consumer is (about to be) blocked in rc_bell_wait */
	_Atomic uint64_t rings; /* eventfd writes by producers (rc_bell_ring, rc_bell_kick) */
};

/* 0 or -errno (from eventfd). */
static inline int
rc_bell_init(struct rc_bell *b)
{
	atomic_init(&b->sleeping, false);
	atomic_init(&b->rings, 0);
	b->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return b->fd < 0 ? -errno : 0;
}

static inline void
rc_bell_fini(struct rc_bell *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

/* Writes the eventfd whatever the flag says: the next or current wait ends (used to stop
 * the consumer: set its stop flag first). Any thread. */
static inline void
rc_bell_kick(struct rc_bell *b)
{
	uint64_t one = 1;

	if (b == NULL || b->fd < 0)
		return;
	atomic_fetch_add_explicit(&b->rings, 1, memory_order_relaxed);
	if (write(b->fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is at its maximum, the consumer wakes anyway */
	}
}

/* After making an item visible to the consumer: wakes it if it sleeps (see the header
 * comment for the ordering). Any thread; no system call unless the consumer sleeps. */
static inline void
rc_bell_ring(struct rc_bell *b)
{
	if (b == NULL)
		return;
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&b->sleeping, memory_order_relaxed))
		rc_bell_kick(b);
}

/* The consumer, about to block: then it must look at its sources once more, and either
 * rc_bell_disarm() (work found) or rc_bell_wait(). */
static inline void
rc_bell_arm(struct rc_bell *b)
{
	atomic_store_explicit(&b->sleeping, true, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
}

static inline void
rc_bell_disarm(struct rc_bell *b)
{
	atomic_store_explicit(&b->sleeping, false, memory_order_relaxed);
}

/* The consumer, awake again (after blocking on b->fd in a poll of its own): disarms and
 * drains the eventfd. True when it was rung (the eventfd had a count). */
static inline bool
rc_bell_clear(struct rc_bell *b)
{
	uint64_t count = 0;

	atomic_store_explicit(&b->sleeping, false, memory_order_relaxed);
	return read(b->fd, &count, sizeof(count)) == (ssize_t)sizeof(count);
}

/* After rc_bell_arm() and an empty last look: blocks until a producer rings or timeout_us
 * passes (or a signal arrives), then rc_bell_clear(). True when it was rung. The consumer
 * only. */
static inline bool
rc_bell_wait(struct rc_bell *b, unsigned timeout_us)
{
	struct timespec ts = { .tv_sec = timeout_us / 1000000u,
			       .tv_nsec = (long)(timeout_us % 1000000u) * 1000 };
	struct pollfd pfd = { .fd = b->fd, .events = POLLIN };

	(void)ppoll(&pfd, 1, &ts, NULL);
	return rc_bell_clear(b);
}

#endif /* RC_DOORBELL_H */
