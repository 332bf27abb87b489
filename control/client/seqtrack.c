/* SPDX-License-Identifier: MIT */
/*
 * Per-room sequence tracking: in-order hand-over, duplicate and gap accounting.
 * See seqtrack.h for the model. Pure logic, no I/O; one thread per tracker.
 */
#include <string.h>

#include "seqtrack.h"

#define SLOT_MASK (RC_SEQTRACK_WINDOW - 1)

_Static_assert((RC_SEQTRACK_WINDOW & SLOT_MASK) == 0, "window must be a power of two");

static const char *const verdict_names[RC_SEQ_VERDICT_MAX] = {
	[RC_SEQ_NEXT] = "next", [RC_SEQ_HOLD] = "hold", [RC_SEQ_DUP] = "dup",
	[RC_SEQ_OLD] = "old",	[RC_SEQ_FAR] = "far",
};

const char *
rc_seq_verdict_name(unsigned v)
{
	return v < RC_SEQ_VERDICT_MAX && verdict_names[v] ? verdict_names[v] : "?";
}

void
rc_seqtrack_init(struct rc_seqtrack *t, rc_seqtrack_release_fn release, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->release = release;
	t->release_arg = arg;
	t->gap_delay_ms = RC_SEQTRACK_GAP_DELAY_MS;
}

static void
drop_slot(struct rc_seqtrack *t, unsigned idx)
{
	void *item = t->slot[idx];

	t->slot[idx] = NULL;
	t->slot_seq[idx] = 0;
	t->held--;
	if (t->release)
		t->release(item, t->release_arg);
}

void
rc_seqtrack_fini(struct rc_seqtrack *t)
{
	for (unsigned i = 0; i < RC_SEQTRACK_WINDOW && t->held > 0; i++)
		if (t->slot_seq[i] != 0)
			drop_slot(t, i);
}

bool
rc_seqtrack_started(const struct rc_seqtrack *t)
{
	return t->next != 0;
}

/* Open or close the gap after next or known_last moved. */
static void
refresh_gap(struct rc_seqtrack *t, uint64_t now_ms)
{
	bool open = rc_seqtrack_started(t) && t->next <= t->known_last;

	if (open && !t->gap_open)
		t->gap_due_ms = now_ms + t->gap_delay_ms;
	if (!open) {
		t->gap_counted = false;
		t->gap_tries = 0;
	}
	t->gap_open = open;
}

static const struct rc_seqtrack_range *
asked_range(const struct rc_seqtrack *t, uint64_t seq)
{
	for (unsigned i = 0; i < RC_SEQTRACK_RANGES; i++) {
		const struct rc_seqtrack_range *r = &t->asked[i];

		if (r->lo != 0 && seq >= r->lo && seq <= r->hi)
			return r;
	}
	return NULL;
}

static void
count_dup(struct rc_seqtrack *t, uint64_t seq, uint64_t now_ms)
{
	const struct rc_seqtrack_range *r = asked_range(t, seq);

	if (r && now_ms <= r->until_ms)
		t->st.expected_dups++;
	else
		t->st.dups++;
}

/* next was handed over: move on. */
static void
advance(struct rc_seqtrack *t, uint64_t now_ms)
{
	const struct rc_seqtrack_range *r = asked_range(t, t->next);

	if (r && r->gap)
		t->st.filled++;
	if (t->next > t->high)
		t->high = t->next;
	t->next++;
	t->st.delivered++;
	refresh_gap(t, now_ms);
}

static bool
is_held(const struct rc_seqtrack *t, uint64_t seq)
{
	return t->held > 0 && t->slot_seq[seq & SLOT_MASK] == seq;
}

static enum rc_seq_verdict
offer_unstarted(struct rc_seqtrack *t, uint64_t seq, uint64_t now_ms)
{
	if (is_held(t, seq)) {
		count_dup(t, seq, now_ms);
		return RC_SEQ_DUP;
	}
	if (seq > t->known_last)
		t->known_last = seq;
	if (t->held > 0) {
		uint64_t lo = seq < t->low_held ? seq : t->low_held;
		uint64_t hi = seq > t->high ? seq : t->high;

		if (hi - lo >= RC_SEQTRACK_WINDOW) {
			t->st.far++;
			return RC_SEQ_FAR;
		}
	}
	return RC_SEQ_HOLD;
}

enum rc_seq_verdict
rc_seqtrack_offer(struct rc_seqtrack *t, uint64_t seq, uint64_t now_ms)
{
	if (seq == 0) {
		t->st.old++;
		return RC_SEQ_OLD;
	}
	if (!rc_seqtrack_started(t))
		return offer_unstarted(t, seq, now_ms);
	if (seq < t->start) {
		t->st.old++;
		return RC_SEQ_OLD;
	}
	if (seq < t->next || is_held(t, seq)) {
		count_dup(t, seq, now_ms);
		return RC_SEQ_DUP;
	}
	if (seq > t->known_last)
		t->known_last = seq;
	if (seq == t->next) {
		advance(t, now_ms);
		return RC_SEQ_NEXT;
	}
	refresh_gap(t, now_ms);
	if (seq - t->next >= RC_SEQTRACK_WINDOW) {
		t->st.far++;
		return RC_SEQ_FAR;
	}
	t->st.reordered++;
	return RC_SEQ_HOLD;
}

void
rc_seqtrack_hold(struct rc_seqtrack *t, uint64_t seq, void *item)
{
	unsigned idx = seq & SLOT_MASK;

	if (t->slot_seq[idx] != 0)
		drop_slot(t, idx); /* cannot happen when the verdict was HOLD */
	t->slot[idx] = item;
	t->slot_seq[idx] = seq;
	t->held++;
	if (!rc_seqtrack_started(t) && (t->held == 1 || seq < t->low_held))
		t->low_held = seq;
	if (seq > t->high)
		t->high = seq;
}

void *
rc_seqtrack_pop(struct rc_seqtrack *t, uint64_t *seq, uint64_t now_ms)
{
	unsigned idx = t->next & SLOT_MASK;
	void *item;

	if (!rc_seqtrack_started(t) || !is_held(t, t->next))
		return NULL;
	item = t->slot[idx];
	t->slot[idx] = NULL;
	t->slot_seq[idx] = 0;
	t->held--;
	*seq = t->next;
	advance(t, now_ms);
	return item;
}

void
rc_seqtrack_start(struct rc_seqtrack *t, uint64_t first, uint64_t now_ms)
{
	if (rc_seqtrack_started(t))
		return;
	if (first == 0)
		first = 1;
	t->start = first;
	t->next = first;
	for (unsigned i = 0; i < RC_SEQTRACK_WINDOW && t->held > 0; i++) {
		uint64_t s = t->slot_seq[i];

		if (s == 0)
			continue;
		if (s < first) {
			t->st.old++;
			drop_slot(t, i);
		} else if (s - first >= RC_SEQTRACK_WINDOW) {
			t->st.far++;
			drop_slot(t, i);
		}
	}
	refresh_gap(t, now_ms);
}

void
rc_seqtrack_learn_last(struct rc_seqtrack *t, uint64_t last, uint64_t now_ms)
{
	if (last > t->known_last)
		t->known_last = last;
	refresh_gap(t, now_ms);
}

uint64_t
rc_seqtrack_first_held(const struct rc_seqtrack *t)
{
	uint64_t end;

	if (t->held == 0)
		return 0;
	if (!rc_seqtrack_started(t))
		return t->low_held;
	end = t->next + RC_SEQTRACK_WINDOW;
	for (uint64_t s = t->next; s < end && s <= t->high; s++)
		if (is_held(t, s))
			return s;
	return 0;
}

bool
rc_seqtrack_gap_due(const struct rc_seqtrack *t, uint64_t now_ms, uint16_t max, uint64_t *from,
		    uint16_t *count)
{
	uint64_t first, hi, n;

	if (!t->gap_open || now_ms < t->gap_due_ms || max == 0)
		return false;
	first = rc_seqtrack_first_held(t);
	hi = first > t->next ? first - 1 : t->known_last;
	n = hi - t->next + 1;
	*from = t->next;
	*count = n > max ? max : (uint16_t)n;
	return true;
}

bool
rc_seqtrack_gap_deadline(const struct rc_seqtrack *t, uint64_t *when)
{
	if (!t->gap_open)
		return false;
	*when = t->gap_due_ms;
	return true;
}

void
rc_seqtrack_gap_kick(struct rc_seqtrack *t)
{
	t->gap_due_ms = 0;
}

static bool
touches(const struct rc_seqtrack_range *r, uint64_t lo, uint64_t hi)
{
	return (r->hi == UINT64_MAX || lo <= r->hi + 1) && (hi == UINT64_MAX || r->lo <= hi + 1);
}

/* Record [lo, hi] until until_ms: merged into a live range of the same kind that it
 * overlaps or touches (so that re-JOIN storms do not push other ranges out), else in a
 * free slot, else in the one that expires first. */
static struct rc_seqtrack_range *
record_range(struct rc_seqtrack *t, uint64_t lo, uint64_t hi, uint64_t now_ms, uint64_t until_ms,
	     bool gap)
{
	struct rc_seqtrack_range *victim = NULL;

	for (unsigned i = 0; i < RC_SEQTRACK_RANGES; i++) {
		struct rc_seqtrack_range *r = &t->asked[i];

		if (r->lo != 0 && r->until_ms >= now_ms && r->gap == gap && touches(r, lo, hi)) {
			r->lo = r->lo < lo ? r->lo : lo;
			r->hi = r->hi > hi ? r->hi : hi;
			r->until_ms = r->until_ms > until_ms ? r->until_ms : until_ms;
			return r;
		}
		if (r->lo == 0)
			victim = victim && victim->lo == 0 ? victim : r;
		else if (!victim || (victim->lo != 0 && r->until_ms < victim->until_ms))
			victim = r;
	}
	*victim = (struct rc_seqtrack_range){.lo = lo, .hi = hi, .until_ms = until_ms};
	return victim;
}

void
rc_seqtrack_asked(struct rc_seqtrack *t, uint64_t lo, uint64_t hi, uint64_t now_ms, uint64_t ttl_ms,
		  bool gap)
{
	struct rc_seqtrack_range *r;

	r = record_range(t, lo ? lo : 1, hi, now_ms, now_ms + ttl_ms, gap);
	r->gap = gap;
	if (!gap)
		return;
	if (!t->gap_counted) {
		t->st.gaps++;
		t->gap_counted = true;
	}
	if (t->gap_tries > 0 && t->gap_next == t->next)
		t->gap_tries++;
	else
		t->gap_tries = 1;
	t->gap_next = t->next;
	t->gap_due_ms = now_ms + t->gap_delay_ms * t->gap_tries; /* back off without progress */
}

void
rc_seqtrack_skip(struct rc_seqtrack *t, uint64_t upto, uint64_t now_ms)
{
	if (!rc_seqtrack_started(t) || upto <= t->next)
		return;
	for (uint64_t s = t->next; s < upto && t->held > 0 && s - t->next < RC_SEQTRACK_WINDOW; s++)
		if (is_held(t, s))
			drop_slot(t, s & SLOT_MASK);
	t->st.skipped += upto - t->next;
	t->next = upto;
	if (upto - 1 > t->high)
		t->high = upto - 1;
	t->gap_tries = 0;
	t->gap_counted = false;
	refresh_gap(t, now_ms);
}

uint64_t
rc_seqtrack_last(const struct rc_seqtrack *t)
{
	return rc_seqtrack_started(t) ? t->next - 1 : 0;
}

bool
rc_seqtrack_synced(const struct rc_seqtrack *t)
{
	return rc_seqtrack_started(t) && t->held == 0 && t->next > t->known_last;
}
