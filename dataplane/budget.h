/* SPDX-License-Identifier: MIT */
/*
 * A session's request budget (review S15): every request takes from one token bucket of its
 * session (chat.request_rate a second, chat.request_burst deep) by what it costs the node,
 * its row's cost column (request.h): 1 for any request; a JOIN or a FETCH also 1 per
 * message its history reply may hold; MEMBERS 1 per datagram its answer takes. Over the
 * budget: ERROR 4 and drops.request_budget. The POST rate (chat.post_rate) applies on top.
 *
 * Concurrency: a worker, inside its RCU read side (the room and the session stay valid).
 */
#ifndef RC_BUDGET_H
#define RC_BUDGET_H

#include <stdbool.h>

#include "dp.h"

struct rc_room;
struct rc_session;

/* What a request costs (enum rc_req_cost). */
enum rc_req_cost {
	RC_COST_ONE = 0,  /* 1 */
	RC_COST_JOIN,     /* 1 + the messages a JOIN replays (history_on_join, or since_seq on) */
	RC_COST_FETCH,    /* 1 + the messages a FETCH may return */
	RC_COST_MEMBERS,  /* the datagrams of a MEMBER_LIST */
	RC_COST_MAX
};

/* The cost of request m of kind `cost` for room r (NULL: not created yet). */
unsigned rc_budget_cost(const struct rc_dp *dp, unsigned cost, const struct rc_room *r,
			const struct rc_msg *m);

/* Take `cost` from session s's budget; false (nothing taken) when over it. */
bool rc_budget_take(const struct rc_dp *dp, struct rc_session *s, unsigned cost);

#endif /* RC_BUDGET_H */
