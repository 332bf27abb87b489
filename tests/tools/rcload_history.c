/* SPDX-License-Identifier: MIT */
/*
 * rcload --verify-history COUNT: read a room from seq 1 with FETCH until FETCH_END says
 * there is nothing more (next_seq > last_seq) and check that it holds exactly COUNT
 * messages with seqs 1..COUNT, each once, and that every body of the "P<i>-m<j>" form names
 * its (i, j) once (with --users N --posts M: every (i < N, j < M) is there).
 *
 * A FETCH retransmitted by the client library may bring a seq twice: that is only an error
 * when the copies differ, or when nothing was retransmitted.
 *
 * Single-threaded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rcload.h"

struct seen {
	uint64_t cmid;
	uint64_t pair; /* (i << 32 | j) + 1 for P<i>-m<j> bodies, 0 for others */
	unsigned times;
};

struct hist {
	const struct rl_opts *o;
	struct rl_report *r;
	struct seen *seq; /* indexed by seq */
	uint64_t cap;
	uint64_t fetched, dup_seqs, differing;
};

static int
grow(struct hist *h, uint64_t seq)
{
	uint64_t cap = h->cap ? h->cap : 1024;
	struct seen *p;

	while (cap <= seq)
		cap *= 2;
	if (cap == h->cap)
		return 0;
	p = realloc(h->seq, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + h->cap, 0, (cap - h->cap) * sizeof(*p));
	h->seq = p;
	h->cap = cap;
	return 0;
}

static void
on_fetched(void *arg, const struct rc_delivery *d)
{
	struct hist *h = arg;
	struct seen *s;
	unsigned i, j;

	h->fetched++;
	if (d->seq == 0 || d->seq > (1ull << 32) || grow(h, d->seq) < 0)
		return;
	s = &h->seq[d->seq];
	if (s->times++ > 0) {
		h->dup_seqs++;
		if (s->cmid != d->cmid)
			h->differing++;
		return;
	}
	s->cmid = d->cmid;
	if (rl_parse_body(h->o->prefix, d->body, &i, &j))
		s->pair = ((uint64_t)i << 32 | j) + 1;
}

static int
fetch_all(struct hist *h, struct rc_client *c, uint64_t *last)
{
	struct rc_fetch_result res;
	uint64_t from = 1, deadline = rc_mono_ms_precise() + (uint64_t)h->o->timeout_s * 1000;

	for (;;) {
		int rc = rc_client_fetch(c, h->o->room, from, RC_MAX_FETCH, on_fetched, h, &res);

		if (rc < 0) {
			rl_fail(h->r, "FETCH from %" PRIu64 " failed: %s", from, strerror(-rc));
			return rc;
		}
		*last = res.last_seq;
		if (res.next_seq > res.last_seq)
			return 0;
		if (res.next_seq <= from) {
			rl_fail(h->r,
				"FETCH from %" PRIu64 " made no progress (next_seq %" PRIu64
				", last_seq %" PRIu64 ")",
				from, res.next_seq, res.last_seq);
			return -EPROTO;
		}
		if (rc_mono_ms_precise() > deadline) {
			rl_fail(h->r, "history not read within --timeout");
			return -ETIMEDOUT;
		}
		from = res.next_seq;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Pairs (i, j): each once; with --users/--posts, all of them. */
static void
check_pairs(struct hist *h, uint64_t last, uint64_t *dup_pairs, uint64_t *missing)
{
	uint64_t *p = malloc((last ? last : 1) * sizeof(*p)), n = 0, k = 0;

	if (!p)
		return;
	for (uint64_t s = 1; s <= last && s < h->cap; s++)
		if (h->seq[s].pair)
			p[n++] = h->seq[s].pair - 1;
	qsort(p, n, sizeof(*p), cmp_u64);
	for (uint64_t q = 1; q < n; q++)
		if (p[q] == p[q - 1] && (*dup_pairs)++ < 3)
			rl_fail(h->r, "%s%" PRIu64 "-m%" PRIu64 " stored more than once",
				h->o->prefix, p[q] >> 32, p[q] & 0xffffffff);
	for (uint64_t i = 0; h->o->posts && i < h->o->users; i++) {
		for (uint64_t j = 0; j < h->o->posts; j++) {
			uint64_t want = i << 32 | j;

			while (k < n && p[k] < want)
				k++;
			if ((k == n || p[k] != want) && (*missing)++ < 3)
				rl_fail(h->r, "%s%" PRIu64 "-m%" PRIu64 " not in the history",
					h->o->prefix, i, j);
		}
	}
	free(p);
}

static void
check(struct hist *h, uint64_t last, const struct rc_client_stats *st)
{
	uint64_t holes = 0, dup_pairs = 0, missing = 0;

	for (uint64_t s = 1; s <= last; s++)
		if ((s >= h->cap || h->seq[s].times == 0) && holes++ < 3)
			rl_fail(h->r, "seq %" PRIu64 " missing from the history", s);
	if (holes)
		rl_fail(h->r, "%" PRIu64 " of seqs 1..%" PRIu64 " missing", holes, last);
	if (last != (uint64_t)h->o->verify_count)
		rl_fail(h->r, "the room holds %" PRIu64 " messages, expected %ld", last,
			h->o->verify_count);
	if (h->differing || (h->dup_seqs && st->retransmits == 0))
		rl_fail(h->r, "%" PRIu64 " seqs fetched twice (%" PRIu64 " with different content)",
			h->dup_seqs, h->differing);
	check_pairs(h, last, &dup_pairs, &missing);
	if (missing)
		rl_fail(h->r, "%" PRIu64 " posts missing from the history", missing);
	rl_field(h->r, "count", last);
	rl_field(h->r, "expected", (uint64_t)h->o->verify_count);
	rl_field(h->r, "fetched", h->fetched);
	rl_field(h->r, "missing_seqs", holes);
	rl_field(h->r, "dup_seqs", h->differing || !st->retransmits ? h->dup_seqs : 0);
	rl_field(h->r, "dup_pairs", dup_pairs);
	rl_field(h->r, "missing_pairs", missing);
}

int
rl_run_history(const struct rl_opts *o, struct rl_report *r)
{
	struct hist h = {.o = o, .r = r};
	struct rc_client_stats st = {0};
	struct rc_client *c = rl_client_new(o, 0);
	char user[96];
	uint64_t last = 0, t0 = rc_mono_ms_precise();
	int rc;

	r->mode = "verify-history";
	if (!c) {
		rl_fail(r, "client: %s", strerror(errno));
		return 0;
	}
	snprintf(user, sizeof(user), "%sverify", o->prefix);
	rc = rl_login_join(o, c, user, r, NULL);
	/* let the JOIN's own history pass first: it would overlap the first FETCH */
	while (rc == 0 && !rc_client_room_synced(c, o->room) && rc_mono_ms_precise() < t0 + 3000)
		rc_client_poll(c, 20, NULL);
	if (rc == 0)
		rc = fetch_all(&h, c, &last);
	rc_client_stats(c, &st);
	if (rc == 0)
		check(&h, last, &st);
	rl_info(r, "elapsed_ms", "%" PRIu64, rc_mono_ms_precise() - t0);
	rl_info_stats(r, &st);
	if (rc_client_logged_in(c))
		rc_client_logout(c);
	rc_client_free(c);
	free(h.seq);
	return 0;
}
