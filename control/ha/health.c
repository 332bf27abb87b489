/* SPDX-License-Identifier: MIT */
/* The critical-service watcher: see health.h. */
#include "health.h"
#include "names.h"

#include <errno.h>
#include <stdlib.h>

static const char *const health_names[RC_HEALTH_BIT_MAX] = {
	[RC_HEALTH_WORKERS] = "workers",
	[RC_HEALTH_WAL_WRITER] = "wal_writer",
	[RC_HEALTH_DATABASE] = "database",
};

const char *
rc_health_bit_name(enum rc_health_bit bit)
{
	return rc_name_of(health_names, RC_HEALTH_BIT_MAX, (int)bit);
}

#define HEALTH_WORKERS_MAX 1024
#define HEALTH_STALL_MS    1000

struct rc_health_worker {
	uint64_t counter;
	uint64_t changed_ms; /* when counter last moved */
	bool seen;
	bool stalled;
};

struct rc_health {
	unsigned n_workers;
	uint64_t stall_ms;
	uint32_t bits; /* the bits set by rc_health_set */
	struct rc_health_worker w[];
};

struct rc_health *
rc_health_create(unsigned n_workers, uint64_t stall_ms)
{
	struct rc_health *h;

	if (n_workers > HEALTH_WORKERS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h) + n_workers * sizeof(h->w[0]));
	if (h == NULL)
		return NULL;
	h->n_workers = n_workers;
	h->stall_ms = stall_ms != 0 ? stall_ms : HEALTH_STALL_MS;
	return h;
}

void
rc_health_destroy(struct rc_health *h)
{
	free(h);
}

int
rc_health_worker_progress(struct rc_health *h, unsigned idx, uint64_t counter, uint64_t now_ms)
{
	struct rc_health_worker *w;

	if (idx >= h->n_workers)
		return -EINVAL;
	w = &h->w[idx];
	if (!w->seen || counter != w->counter) {
		w->seen = true;
		w->counter = counter;
		w->changed_ms = now_ms;
		w->stalled = false;
		return 0;
	}
	/* a clock that went backwards counts as no time passed */
	w->stalled = now_ms > w->changed_ms && now_ms - w->changed_ms >= h->stall_ms;
	return 0;
}

bool
rc_health_worker_stalled(const struct rc_health *h, unsigned idx)
{
	return idx < h->n_workers && h->w[idx].stalled;
}

int
rc_health_set(struct rc_health *h, enum rc_health_bit bit, bool running)
{
	if (bit == RC_HEALTH_WORKERS || (unsigned)bit >= RC_HEALTH_BIT_MAX)
		return -EINVAL;
	if (running)
		h->bits |= RC_HEALTH_MASK(bit);
	else
		h->bits &= ~RC_HEALTH_MASK(bit);
	return 0;
}

uint32_t
rc_health_bits(const struct rc_health *h)
{
	for (unsigned i = 0; i < h->n_workers; i++)
		if (!h->w[i].seen || h->w[i].stalled)
			return h->bits;
	return h->bits | RC_HEALTH_MASK(RC_HEALTH_WORKERS);
}
