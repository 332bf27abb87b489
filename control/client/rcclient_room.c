/* SPDX-License-Identifier: MIT */
/*
 * rcclient rooms: each joined room runs its DELIVERs through a seqtrack, so that the
 * application gets them in seq order, once. Messages that arrive ahead of a missing one
 * are copied and held; a gap still open after the gap delay is FETCHed (one FETCH in flight
 * per room; after GAP_MAX_TRIES FETCHes without progress the missing seqs are given up,
 * RC_EV_GAP_SKIPPED).
 *
 * Where a room's stream starts: since_seq + 1 for a JOIN with since_seq > 0; for
 * since_seq = 0 the FETCH_END that ends the JOIN's history says it (next_seq - count), or,
 * if that FETCH_END is lost, the lowest history seq held START_FALLBACK_MS after JOINED.
 *
 * Concurrency: one thread per client object (see rcclient.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rcclient_int.h"

/* A DELIVER kept until the seqs before it arrive. */
struct held_msg {
	uint64_t ts_ms;
	uint64_t cmid;
	uint16_t body_len;
	uint16_t body_off; /* data: sender NUL body NUL */
	char data[];
};

static void
release_held(void *item, void *arg)
{
	(void)arg;
	free(item);
}

/* By the application's name, or by the canonical name JOINED gave: a room joined as
 * "lobby" is the room "lobby@SERVICE" too (one membership, one id at the node). */
struct rcc_room *
rcc_room_find(const struct rc_client *c, const char *name)
{
	for (unsigned i = 0; i < c->nrooms; i++)
		if (strcmp(c->rooms[i]->name, name) == 0)
			return c->rooms[i];
	for (unsigned i = 0; i < c->nrooms; i++)
		if (c->rooms[i]->canon[0] != '\0' && strcmp(c->rooms[i]->canon, name) == 0)
			return c->rooms[i];
	return NULL;
}

struct rcc_room *
rcc_room_by_id(const struct rc_client *c, uint32_t room_id)
{
	for (unsigned i = 0; i < c->nrooms; i++)
		if (c->rooms[i]->joined && c->rooms[i]->room_id == room_id)
			return c->rooms[i];
	return NULL;
}

struct rcc_room *
rcc_room_add(struct rc_client *c, const char *name)
{
	struct rcc_room **rooms = realloc(c->rooms, (c->nrooms + 1) * sizeof(*rooms));
	struct rcc_room *r;

	if (!rooms)
		return NULL;
	c->rooms = rooms;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	snprintf(r->name, sizeof(r->name), "%s", name);
	rc_seqtrack_init(&r->trk, release_held, NULL);
	r->trk.gap_delay_ms = c->gap_delay_ms;
	c->rooms[c->nrooms++] = r;
	return r;
}

static void
add_stats(struct rc_seqtrack_stats *sum, const struct rc_seqtrack_stats *s)
{
	sum->delivered += s->delivered;
	sum->dups += s->dups;
	sum->expected_dups += s->expected_dups;
	sum->reordered += s->reordered;
	sum->gaps += s->gaps;
	sum->filled += s->filled;
	sum->skipped += s->skipped;
	sum->far += s->far;
	sum->old += s->old;
}

void
rcc_room_remove(struct rc_client *c, struct rcc_room *r)
{
	for (unsigned i = 0; i < PEND_CAP; i++)
		if (c->pend[i].room == r)
			c->pend[i].room = NULL;
	for (unsigned i = 0; i < c->nrooms; i++) {
		if (c->rooms[i] != r)
			continue;
		c->rooms[i] = c->rooms[--c->nrooms];
		break;
	}
	add_stats(&c->retired, &r->trk.st);
	rc_seqtrack_fini(&r->trk);
	free(r);
}

static void
hand_over(struct rc_client *c, const struct rc_delivery *d)
{
	c->st.delivered++;
	if (!c->cur_cb->deliver)
		return;
	c->cb_depth++;
	c->cur_cb->deliver(c->cur_cb->arg, d);
	c->cb_depth--;
}

static void
drain(struct rc_client *c, struct rcc_room *r, uint64_t now)
{
	struct held_msg *h;
	uint64_t seq;

	while ((h = rc_seqtrack_pop(&r->trk, &seq, now)) != NULL) {
		struct rc_delivery d = {
			.room = r->name,
			.room_id = r->room_id,
			.seq = seq,
			.ts_ms = h->ts_ms,
			.cmid = h->cmid,
			.sender = h->data,
			.body = h->data + h->body_off,
			.body_len = h->body_len,
		};

		hand_over(c, &d);
		free(h);
	}
}

static struct held_msg *
held_new(const struct rc_delivery *d)
{
	size_t slen = strlen(d->sender);
	struct held_msg *h = malloc(sizeof(*h) + slen + 1 + d->body_len + 1);

	if (!h)
		return NULL;
	h->ts_ms = d->ts_ms;
	h->cmid = d->cmid;
	h->body_len = d->body_len;
	h->body_off = (uint16_t)(slen + 1);
	memcpy(h->data, d->sender, slen + 1);
	memcpy(h->data + slen + 1, d->body, d->body_len + 1u);
	return h;
}

static void
to_user_fetch(struct rc_client *c, struct rcc_room *r, const struct rc_delivery *d)
{
	struct rcc_pending *p = rcc_find(c, r->ufetch_req);

	if (!p || !p->wait || d->seq < r->ufrom || d->seq >= r->uto)
		return;
	p->wait->count++;
	if (!p->wait->ffn)
		return;
	c->cb_depth++;
	p->wait->ffn(p->wait->fn_arg, d);
	c->cb_depth--;
}

static uint16_t
copy_wire(char *dst, size_t cap, struct rc_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
	return (uint16_t)n;
}

void
rcc_room_deliver(struct rc_client *c, const struct rc_msg *m, uint64_t now)
{
	struct rcc_room *r = rcc_room_by_id(c, m->u.deliver.room_id);
	enum rc_seq_verdict v;
	struct rc_delivery d;
	struct held_msg *h;

	if (!r) {
		c->st.unknown_room++;
		return;
	}
	d = (struct rc_delivery){
		.room = r->name,
		.room_id = r->room_id,
		.seq = m->u.deliver.seq,
		.ts_ms = m->u.deliver.ts_ms,
		.cmid = m->u.deliver.cmid,
		.sender = c->sbuf,
		.body = c->bbuf,
	};
	copy_wire(c->sbuf, sizeof(c->sbuf), m->u.deliver.sender);
	d.body_len = copy_wire(c->bbuf, sizeof(c->bbuf), m->u.deliver.body);
	if (r->ufetch_req)
		to_user_fetch(c, r, &d);
	v = rc_seqtrack_offer(&r->trk, d.seq, now);
	if ((v == RC_SEQ_NEXT || v == RC_SEQ_HOLD) && r->tail_req != 0 &&
	    m->hdr.request_id == r->tail_req)
		c->st.tail_found++; /* new, and brought by the tail check */
	switch (v) {
	case RC_SEQ_NEXT:
		hand_over(c, &d);
		drain(c, r, now);
		break;
	case RC_SEQ_HOLD:
		h = held_new(&d);
		if (h)
			rc_seqtrack_hold(&r->trk, d.seq, h);
		break;
	default:
		break;
	}
}

static void
start(struct rc_client *c, struct rcc_room *r, uint64_t first, uint64_t now)
{
	r->start_deadline = 0;
	r->hist_wait = false;
	rc_seqtrack_start(&r->trk, first, now);
	drain(c, r, now);
}

void
rcc_room_joined(struct rc_client *c, struct rcc_room *r, const struct rc_msg *m, uint64_t now)
{
	(void)c;
	copy_wire(r->canon, sizeof(r->canon), m->u.joined.room);
	r->room_id = m->u.joined.room_id;
	r->joined = true;
	r->rejoin = false;
	r->joined_last = m->u.joined.last_seq;
	r->hist_wait = true;
	rc_seqtrack_learn_last(&r->trk, r->joined_last, now);
	if (!rc_seqtrack_started(&r->trk))
		r->start_deadline = now + START_FALLBACK_MS;
}

/* The first seq of a since_seq = 0 JOIN's history. */
static uint64_t
history_first(const struct rcc_room *r, const struct rc_msg *m)
{
	uint64_t low = rc_seqtrack_first_held(&r->trk);

	if (m && m->u.fetch_end.count > 0 && m->u.fetch_end.next_seq > m->u.fetch_end.count)
		return m->u.fetch_end.next_seq - m->u.fetch_end.count;
	if (!m && low != 0 && low <= r->joined_last)
		return low;
	return r->joined_last + 1;
}

void
rcc_room_fetch_end(struct rc_client *c, struct rcc_room *r, const struct rc_msg *m, bool history,
		   uint64_t now)
{
	const uint64_t from = m->u.fetch_end.from_seq, next = m->u.fetch_end.next_seq;

	rc_seqtrack_learn_last(&r->trk, m->u.fetch_end.last_seq, now);
	if (history) {
		r->hist_wait = false;
		if (!rc_seqtrack_started(&r->trk))
			start(c, r, history_first(r, m), now);
	}
	/* this answer moved the stream forward: fetch the rest, if any, at once */
	if (rc_seqtrack_started(&r->trk) && r->trk.next > from && next > from)
		rc_seqtrack_gap_kick(&r->trk);
}

void
rcc_room_join_resent(struct rc_client *c, struct rcc_room *r, uint64_t now)
{
	(void)c;
	/* the node may send the history twice */
	rc_seqtrack_asked(&r->trk, r->since + 1, UINT64_MAX, now, EXPECT_TTL_MS, false);
}

struct rcc_pending *
rcc_room_send_join(struct rc_client *c, struct rcc_room *r, uint64_t since, enum rcc_kind kind,
		   enum rcc_purpose purpose)
{
	struct rc_msg m = {.hdr.type = RC_T_JOIN};
	struct rcc_pending *p;

	m.u.join.room = (struct rc_str){r->name, (uint16_t)strlen(r->name)};
	m.u.join.since_seq = since;
	r->since = since;
	if (since > 0 && !rc_seqtrack_started(&r->trk))
		rc_seqtrack_start(&r->trk, since + 1, rc_mono_ms_precise());
	p = rcc_issue(c, &m, kind, purpose, r);
	if (p)
		r->join_req = p->req_id;
	return p;
}

static void
skip_gap(struct rc_client *c, struct rcc_room *r, uint64_t now)
{
	uint64_t upto = rc_seqtrack_first_held(&r->trk), n;

	if (upto <= r->trk.next)
		upto = r->trk.known_last + 1;
	n = upto - r->trk.next;
	rc_seqtrack_skip(&r->trk, upto, now);
	rcc_event(c, RC_EV_GAP_SKIPPED, r->name, n);
	drain(c, r, now);
}

static void
fetch_gap(struct rc_client *c, struct rcc_room *r, uint64_t from, uint16_t count, uint64_t now)
{
	struct rc_msg m = {.hdr.type = RC_T_FETCH};
	struct rcc_pending *p;

	m.u.fetch.room = (struct rc_str){r->name, (uint16_t)strlen(r->name)};
	m.u.fetch.from_seq = from;
	m.u.fetch.max = count;
	p = rcc_issue(c, &m, RCC_INTERNAL, RCC_P_GAP_FETCH, r);
	if (!p) {
		r->trk.gap_due_ms = now + r->trk.gap_delay_ms; /* table full: later */
		return;
	}
	r->gap_req = p->req_id;
	rc_seqtrack_asked(&r->trk, from, from + count - 1, now, EXPECT_TTL_MS, true);
}

/*
 * The node sends a live DELIVER once, and a lost one shows only as a gap before a later seq:
 * the last message of a conversation, lost, would stay missing until someone speaks again.
 * So once a room has been quiet for tail_check_ms after it last moved, and nothing is known
 * missing, FETCH from the next seq: the answer brings the lost tail (or nothing), and its
 * FETCH_END.last_seq opens a gap for the rest if more was lost.
 */
static void
tail_check(struct rc_client *c, struct rcc_room *r, uint64_t now)
{
	struct rc_msg m = {.hdr.type = RC_T_FETCH};
	struct rcc_pending *p;
	uint64_t from;

	if (r->trk.high != r->tail_high) {
		r->tail_high = r->trk.high;
		r->tail_due = c->tail_check_ms ? now + c->tail_check_ms : 0;
		return;
	}
	if (r->tail_due == 0 || now < r->tail_due)
		return;
	if (!rc_seqtrack_synced(&r->trk)) {
		r->tail_due = now + c->tail_check_ms; /* its gap first */
		return;
	}
	from = r->trk.next;
	m.u.fetch.room = (struct rc_str){r->name, (uint16_t)strlen(r->name)};
	m.u.fetch.from_seq = from;
	m.u.fetch.max = GAP_FETCH_MAX;
	p = rcc_issue(c, &m, RCC_INTERNAL, RCC_P_TAIL_FETCH, r);
	if (!p) {
		r->tail_due = now + c->tail_check_ms; /* table full: later */
		return;
	}
	r->gap_req = p->req_id;
	r->tail_req = p->req_id;
	r->tail_due = 0;
	c->st.tail_checks++;
	rc_seqtrack_asked(&r->trk, from, from + GAP_FETCH_MAX - 1, now, EXPECT_TTL_MS, false);
}

bool
rcc_room_settled(const struct rcc_room *r)
{
	return r->joined && rc_seqtrack_synced(&r->trk) && r->gap_req == 0 &&
	       r->tail_high == r->trk.high && r->tail_due == 0;
}

void
rcc_room_tick(struct rc_client *c, struct rcc_room *r, uint64_t now)
{
	uint64_t from;
	uint16_t count;

	if (!r->joined)
		return;
	if (!rc_seqtrack_started(&r->trk)) {
		if (r->start_deadline != 0 && now >= r->start_deadline)
			start(c, r, history_first(r, NULL), now);
		return;
	}
	if (r->gap_req != 0 || c->state != RCC_LIVE)
		return;
	if (!rc_seqtrack_gap_due(&r->trk, now, GAP_FETCH_MAX, &from, &count)) {
		tail_check(c, r, now);
		return;
	}
	if (r->trk.gap_tries >= GAP_MAX_TRIES)
		skip_gap(c, r, now);
	else
		fetch_gap(c, r, from, count, now);
}

uint64_t
rcc_room_deadline(const struct rcc_room *r)
{
	uint64_t when;

	if (!r->joined)
		return UINT64_MAX;
	if (!rc_seqtrack_started(&r->trk))
		return r->start_deadline ? r->start_deadline : UINT64_MAX;
	if (r->gap_req == 0 && rc_seqtrack_gap_deadline(&r->trk, &when))
		return when;
	if (r->gap_req == 0 && r->tail_high != r->trk.high)
		return 0; /* it moved: arm its tail check now */
	if (r->gap_req == 0 && r->tail_due != 0)
		return r->tail_due;
	return UINT64_MAX;
}
