/* SPDX-License-Identifier: MIT */
#include "budget.h"

#include "room_table.h"
#include "session.h"

/* Names a MEMBER_LIST datagram holds at least: each name is 1 + up to RC_MAX_USER bytes. */
#define MEMBERS_PER_DGRAM ((RC_MAX_DGRAM - RC_HDR_LEN - 6) / (1 + RC_MAX_USER))

static uint64_t
last_seq(const struct rc_room *r)
{
	return r == NULL ? 0 : __atomic_load_n(&r->last_committed, __ATOMIC_RELAXED);
}

/* Messages from seq `from` on, at most max, that room r holds. */
static unsigned
held_from(const struct rc_room *r, uint64_t from, unsigned max)
{
	uint64_t last = last_seq(r);

	if (from == 0)
		from = 1;
	if (last < from)
		return 0;
	return last - from + 1 < max ? (unsigned)(last - from + 1) : max;
}

unsigned
rc_budget_cost(const struct rc_dp *dp, unsigned cost, const struct rc_room *r,
	       const struct rc_msg *m)
{
	uint64_t last = last_seq(r);
	unsigned max;

	switch (cost) {
	case RC_COST_JOIN:
		if (m->u.join.since_seq == 0)
			return 1 + (last < dp->history_on_join ? (unsigned)last : dp->history_on_join);
		return 1 + held_from(r, m->u.join.since_seq + 1, dp->max_fetch);
	case RC_COST_FETCH:
		max = m->u.fetch.max < dp->max_fetch ? m->u.fetch.max : dp->max_fetch;
		return 1 + held_from(r, m->u.fetch.from_seq, max);
	case RC_COST_MEMBERS:
		return 1 + (r == NULL ? 0 : r->n_members / MEMBERS_PER_DGRAM);
	default:
		return 1;
	}
}

bool
rc_budget_take(const struct rc_dp *dp, struct rc_session *s, unsigned cost)
{
	uint64_t now = rc_mono_ms();

	/* a new session's bucket (zeroed) starts full */
	if (__atomic_load_n(&s->budget.stamp_ms, __ATOMIC_RELAXED) == 0) {
		__atomic_store_n(&s->budget.tokens, (uint64_t)dp->request_burst * 1000,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&s->budget.stamp_ms, now, __ATOMIC_RELAXED);
	}
	return rc_bucket_take(&s->budget, now, dp->request_rate, dp->request_burst, cost);
}
