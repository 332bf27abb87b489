/* SPDX-License-Identifier: MIT */
/*
 * rcclient internals shared by rcclient*.c (not installed, not for applications).
 *
 *   rcclient.c          socket, pending table, retransmission, receive loop, waiting
 *   rcclient_reply.c    replies and ERRORs matched to their requests
 *   rcclient_session.c  login state, REDIRECT to the home node, re-login and re-join
 *                       after "not authenticated", re-join after RESUME or "not a member"
 *                       (HA takeover)
 *   rcclient_room.c     rooms: DELIVERs through the seqtrack, gap FETCHes, history start
 *   rcclient_api.c      the public calls
 *
 * Concurrency: one thread per client object, like the public API.
 */
#ifndef RC_CLIENT_INT_H
#define RC_CLIENT_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "rcclient.h"
#include "seqtrack.h"

#define PEND_CAP	  256 /* pending requests per client (power of two) */
#define PEND_RESERVE	  16  /* slots kept for internal requests (re-login, gaps) */
#define RX_BURST	  256 /* datagrams per receive pass */
#define DEF_RTO_MS	  200
#define RTO_MAX_MS	  1000 /* retransmission interval doubles up to this */
#define DEF_TRIES	  10
#define BUSY_MAX_RETRIES  40   /* rate limited / busy answers before giving up */
#define NOT_OWNER_MAX_RETRIES 8 /* ERROR 8 answers (about 4 s: a room move takes < 1 s) */
#define EXPECT_TTL_MS	  3000 /* duplicates of a range asked again are expected this long */
#define START_FALLBACK_MS 1500 /* start a since_seq=0 room without its FETCH_END */
#define GAP_MAX_TRIES	  5    /* gap FETCHes without progress before giving up */
#define GAP_FETCH_MAX	  1000 /* FETCH.max of a gap FETCH (the node caps it) */
#define TAIL_CHECK_DEF_MS 1000 /* a room quiet this long after a DELIVER: FETCH its tail once */
#define RELOGIN_MIN_MS	  1000
#define RELOGIN_MAX_MS	  8000
#define KEEPALIVE_DEF_MS  30000
#define NM_MAX_ROUNDS	  3 /* re-JOIN rounds a request may cause by "not a member" */

enum rcc_state {
	RCC_IDLE = 0,	/* no session, no credentials */
	RCC_LOGGING_IN, /* rc_client_login() in progress */
	RCC_LIVE,	/* session valid (as far as we know) */
	RCC_RELOGIN,	/* session lost, internal LOGIN + re-JOINs in flight */
	RCC_LOST,	/* re-login failed, retrying at relogin_at */
	RCC_FAILED,	/* token refused */
	RCC_STATE_MAX
};

enum rcc_kind {
	RCC_WAIT = 0, /* a blocking call waits for it (wait) */
	RCC_ASYNC,    /* rc_client_post_async(): completion through cb.posted */
	RCC_INTERNAL, /* the library's own (purpose) */
};

enum rcc_purpose {
	RCC_P_NONE = 0,
	RCC_P_RELOGIN,
	RCC_P_REJOIN,
	RCC_P_GAP_FETCH,
	RCC_P_TAIL_FETCH, /* a quiet room's tail check (rcclient_room.c) */
	RCC_P_KEEPALIVE,
};

/* A blocking call's view of its request. */
struct rcc_wait {
	bool done;
	int status;
	uint16_t err_code;
	struct rc_msg reply; /* scalar fields of the answer (strings are not kept) */
	rc_member_fn mfn;
	rc_fetch_fn ffn;
	rc_room_fn rfn;
	void *fn_arg;
	int count;
	uint64_t t0_us;
};

struct rcc_room;

struct rcc_pending {
	uint32_t req_id; /* 0: free slot */
	uint8_t type;
	uint8_t kind;	  /* enum rcc_kind */
	uint8_t purpose;  /* enum rcc_purpose */
	bool held;	  /* waiting for the session to come back */
	bool busy_resend; /* next transmission answers a rate limit: does not count a try */
	uint16_t tries;
	uint16_t busy_tries;
	uint16_t nm_rounds; /* re-JOIN rounds this request caused (ERROR not a member) */
	bool redirected;    /* LOGIN: a REDIRECT was followed */
	uint32_t sent_gen;  /* c->member_gen at the last transmission */
	uint16_t len;
	uint64_t due_ms;
	uint64_t first_ms;
	uint64_t sent_session;
	uint64_t cmid;
	struct rcc_room *room;
	struct rcc_wait *wait;
	void *tag;
	uint8_t *msg;
};

struct rcc_room {
	char name[RC_MAX_ROOM + 1];  /* the application's name: the key */
	char canon[RC_MAX_ROOM + 1]; /* JOINED's (canonical) name; "" before the first */
	uint32_t room_id;
	bool joined;		 /* JOINED received */
	bool rejoin;		 /* joined before a takeover: to be joined again */
	bool hist_wait;		 /* waiting for the FETCH_END that ends the JOIN's history */
	uint32_t join_req;	 /* request id of the last JOIN */
	uint64_t since;		 /* since_seq of the last JOIN */
	uint64_t joined_last;	 /* JOINED.last_seq */
	uint64_t start_deadline; /* start without FETCH_END at this time (0: none) */
	uint32_t gap_req;	 /* gap FETCH or tail check in flight */
	uint64_t tail_high;	 /* trk.high when the room was last seen to move */
	uint64_t tail_due;	 /* check its tail then (0: checked since it last moved) */
	uint32_t tail_req;	 /* the tail check in flight (its DELIVERs carry its id) */
	uint32_t ufetch_req;	 /* rc_client_fetch() in flight */
	uint64_t ufrom, uto;	 /* its range [ufrom, uto) */
	struct rc_seqtrack trk;
};

struct rc_client {
	int fd;
	enum rcc_state state;
	uint64_t session;
	char user[RC_MAX_USER + 1];
	char token[RC_MAX_TOKEN + 1];
	bool have_creds;
	bool keepalive;
	bool corked;
	volatile sig_atomic_t interrupted;
	int cb_depth;
	unsigned rto_ms, max_tries, gap_delay_ms, tail_check_ms;
	uint32_t next_req;
	uint32_t ka_req;
	unsigned npend;
	unsigned rejoins_left;
	bool resuming;	     /* re-JOIN round after RESUME / not a member: requests held */
	uint32_t member_gen; /* bumped at each re-JOIN round */
	uint8_t resume_reason;
	char resume_node[RC_MAX_USER + 1];
	char home_node[RC_MAX_USER + 1]; /* from the REDIRECT followed ("" none) */
	uint32_t home_ip;		 /* its address (host order) and port */
	uint16_t home_port;
	uint64_t next_cmid;
	uint64_t next_due; /* lower bound of the pending requests' due times */
	uint64_t last_tx_ms;
	uint64_t ka_ms;
	uint64_t relogin_at, relogin_backoff;
	struct rc_client_cb cb;
	const struct rc_client_cb *cur_cb;
	struct rcc_room **rooms;
	unsigned nrooms;
	struct rc_seqtrack_stats retired; /* trackers of rooms already left */
	struct rc_client_stats st;
	uint16_t last_err;
	char last_err_text[RC_MAX_ERRTEXT + 1];
	char sbuf[256];		    /* NUL-terminated sender of the DELIVER being handled */
	char bbuf[RC_MAX_BODY + 1]; /* and its body */
	size_t txlen, last_len;
	struct rcc_pending pend[PEND_CAP];
	uint8_t txbuf[RC_MAX_DGRAM];
	uint8_t last_dgram[RC_MAX_DGRAM];
	uint8_t rxbuf[2048];
};

/* rcclient.c */
void rcc_event(struct rc_client *c, enum rc_client_event ev, const char *room, uint64_t value);
struct rcc_pending *rcc_issue(struct rc_client *c, struct rc_msg *m, enum rcc_kind kind,
			      enum rcc_purpose purpose, struct rcc_room *room);
struct rcc_pending *rcc_find(struct rc_client *c, uint32_t req_id);
void rcc_send_pending(struct rc_client *c, struct rcc_pending *p, uint64_t now);
void rcc_free_pending(struct rc_client *c, struct rcc_pending *p);
void rcc_fail(struct rc_client *c, struct rcc_pending *p, int status, uint16_t code);
void rcc_run_timers(struct rc_client *c, uint64_t now);
uint64_t rcc_rto(const struct rc_client *c, unsigned tries);
int rcc_poll_once(struct rc_client *c, int timeout_ms);
int rcc_wait(struct rc_client *c, struct rcc_wait *w);

/* rcclient_reply.c */
void rcc_dispatch(struct rc_client *c, const struct rc_msg *m, uint64_t now);
void rcc_complete(struct rc_client *c, struct rcc_pending *p, const struct rc_msg *m);

/* rcclient_session.c */
void rcc_relogin(struct rc_client *c, uint64_t now);
void rcc_session_lost(struct rc_client *c, uint64_t now);
void rcc_logged_in(struct rc_client *c, struct rcc_pending *p, const struct rc_msg *m,
		   uint64_t now);
void rcc_rejoined(struct rc_client *c, uint64_t now);
void rcc_internal_failed(struct rc_client *c, struct rcc_pending *p, int status);
void rcc_fail_all(struct rc_client *c, int status, bool held_only);
void rcc_resume(struct rc_client *c, const struct rc_msg *m, uint64_t now);
void rcc_redirect(struct rc_client *c, const struct rc_msg *m, uint64_t now);
void rcc_cookie(struct rc_client *c, const struct rc_msg *m, uint64_t now);
bool rcc_not_member(struct rc_client *c, struct rcc_pending *p, uint64_t now);
bool rcc_must_hold(const struct rc_client *c, uint8_t type, enum rcc_purpose purpose);

/* rcclient_room.c */
struct rcc_room *rcc_room_find(const struct rc_client *c, const char *name);
struct rcc_room *rcc_room_by_id(const struct rc_client *c, uint32_t room_id);
struct rcc_room *rcc_room_add(struct rc_client *c, const char *name);
void rcc_room_remove(struct rc_client *c, struct rcc_room *r);
void rcc_room_deliver(struct rc_client *c, const struct rc_msg *m, uint64_t now);
void rcc_room_joined(struct rc_client *c, struct rcc_room *r, const struct rc_msg *m, uint64_t now);
void rcc_room_fetch_end(struct rc_client *c, struct rcc_room *r, const struct rc_msg *m,
			bool history, uint64_t now);
void rcc_room_join_resent(struct rc_client *c, struct rcc_room *r, uint64_t now);
void rcc_room_tick(struct rc_client *c, struct rcc_room *r, uint64_t now);
bool rcc_room_settled(const struct rcc_room *r);
uint64_t rcc_room_deadline(const struct rcc_room *r);
struct rcc_pending *rcc_room_send_join(struct rc_client *c, struct rcc_room *r, uint64_t since,
				       enum rcc_kind kind, enum rcc_purpose purpose);

#endif /* RC_CLIENT_INT_H */
