/* SPDX-License-Identifier: MIT */
/*
 * rcclient: a roomcast chat client over a kernel UDP socket (no DPDK).
 *
 * One client object = one UDP socket (connected to the node) = one session. It logs in,
 * joins rooms, posts, fetches, and hands every room's messages to the application in seq
 * order, exactly once:
 *
 *   - a LOGIN answered REDIRECT (PROTOCOL.md section 12) is sent again, with the same
 *     token, to the home node the REDIRECT names; the socket is connected there from then
 *     on (rc_client_home_node(), RC_EV_REDIRECTED). One REDIRECT is followed per LOGIN: a
 *     second one (to another address) fails the login with -ELOOP;
 *   - rooms are keyed by the name the application gives; JOINED may answer with the
 *     room's canonical name NAME@SERVICE (PROTOCOL.md section 11), kept beside it
 *     (rc_client_room_name()), and either name finds the room;
 *   - requests are retransmitted after rto_ms (default 200), the interval doubling up to
 *     1 s, until max_tries (default 10) transmissions went unanswered (about 8 s); a POST
 *     keeps its cmid across retransmissions, so the node acknowledges it
 *     again with the same seq instead of storing it twice. cmids grow monotonically from a
 *     seed taken from the realtime clock (<< 12, plus random low bits), so they stay unique
 *     across restarts of the process;
 *   - ERROR rate limited / busy / storage full: the request is sent again later (same
 *     cmid, backoff 50..800 ms, at most 40 times);
 *   - per room a seqtrack (seqtrack.h) puts DELIVERs in order, drops and counts duplicates,
 *     and FETCHes missing ranges after a short delay (gaps, a tail revealed by JOINED,
 *     FETCH_END or rc_client_catch_up());
 *   - ERROR not authenticated (session expired, node restarted): the client logs in again
 *     with the same token, joins its rooms again with since_seq = the last seq handed over,
 *     and then re-sends the requests that were waiting. If that login fails the pending
 *     requests fail with -ENOTCONN and the client keeps trying in the background (backoff
 *     up to 8 s); a refused token stops it (RC_EV_AUTH_FAILED);
 *   - an idle client PINGs every idle_timeout/3 so that its session does not expire;
 *   - RESUME (the other node of an HA pair took the session over, PROTOCOL.md section 10):
 *     room ids are forgotten, every room is joined again with since_seq = the last seq
 *     handed over, and the requests waiting for an answer (POSTs with their cmids) are
 *     held until every JOINED is in, then sent again; RC_EV_RESUMED tells the application.
 *     The session id stays: no LOGIN. An ERROR not a member to a POST, FETCH or MEMBERS for
 *     a room the client had joined means the same (a RESUME that was lost): the same
 *     re-JOIN round runs (RC_EV_MEMBERSHIP_LOST), at most NM_MAX_ROUNDS times per request.
 *
 *  state:  IDLE --login--> LOGGING_IN --LOGIN_OK--> LIVE --ERROR 5--> RELOGIN
 *            ^                  |                     ^                 |   \
 *            |               failed                   +--LOGIN_OK+JOINs-+   timeout
 *            +----logout--------+-------------------------------------------LOST (retries)
 *
 * Blocking calls (login, join, leave, post, fetch, members, ping, logout) wait for their
 * reply while they keep processing everything else that arrives: DELIVERs go to the
 * callbacks registered with rc_client_set_callbacks(). They return 0 (or a count) on
 * success, -ETIMEDOUT when the node never answered, -ENOTCONN without a session, -EINTR
 * after rc_client_interrupt(), or the errno mapped from the node's ERROR code
 * (rc_client_errno(); rc_client_last_error() gives the code and its text).
 *
 * Event-driven use: put rc_client_fd() in your poll set with rc_client_timeout_ms(), and
 * call rc_client_poll(c, 0, cb) when it is readable or the timeout expired.
 *
 * Concurrency contract: a client object is used by one thread at a time (no locks inside);
 * different objects are independent. Callbacks run on that thread, from inside
 * rc_client_poll() or a blocking call; they may call the non-blocking functions
 * (rc_client_post_async, rc_client_catch_up, rc_client_stats, ...) but not the blocking
 * ones (those return -EDEADLK there) nor rc_client_free(). Only rc_client_interrupt() may
 * be called from a signal handler.
 */
#ifndef RC_CLIENT_H
#define RC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct rc_client;

/* A message handed to the application. Strings are NUL-terminated copies, valid during
 * the callback only. */
struct rc_delivery {
	const char *room;
	uint32_t room_id;
	uint64_t seq;
	uint64_t ts_ms; /* the node's clock, ms since the epoch */
	uint64_t cmid;
	const char *sender;
	const char *body;
	uint16_t body_len;
};

/* Completion of rc_client_post_async(), or an extra ACK (late). */
struct rc_post_result {
	uint64_t cmid;
	uint64_t seq; /* 0 on failure */
	uint32_t room_id;
	int status;	   /* 0 or -errno */
	uint16_t err_code; /* the node's ERROR code, 0 if none */
	bool late;	   /* ACK for a POST already completed (a re-sent datagram) */
	void *tag;	   /* as given to rc_client_post_async(); NULL when late */
	uint64_t sent_ms;  /* monotonic ms of the first transmission (0 when late) */
};

enum rc_client_event {
	RC_EV_SESSION_LOST = 0, /* not authenticated: logging in again */
	RC_EV_RELOGGED_IN,	/* value: the new session id */
	RC_EV_REJOINED,		/* room joined again after a re-login; value: since_seq */
	RC_EV_RELOGIN_FAILED,	/* no answer; retrying in the background */
	RC_EV_AUTH_FAILED,	/* the token was refused: the client stays logged out */
	RC_EV_GAP_SKIPPED,	/* room: seqs could not be fetched; value: how many */
	RC_EV_RESUMED,		/* RESUME: room = the id of the node now serving the session,
				 * value = the reason (enum rc_resume_reason); re-JOINing */
	RC_EV_MEMBERSHIP_LOST,	/* ERROR not a member for a joined room: re-JOINing */
	RC_EV_REDIRECTED,	/* LOGIN answered REDIRECT: room = the home node's id,
				 * value = its IPv4 address (host order) << 16 | its UDP port */
	RC_EV_MAX
};

struct rc_client_cb {
	/* A room's next message, in seq order, once. */
	void (*deliver)(void *arg, const struct rc_delivery *d);
	/* rc_client_post_async() completed, or a late ACK arrived. */
	void (*posted)(void *arg, const struct rc_post_result *r);
	/* An ERROR that answers no pending request (e.g. to a raw re-sent datagram). */
	void (*error)(void *arg, uint16_t code, uint8_t ref_type, const char *text);
	void (*event)(void *arg, enum rc_client_event ev, const char *room, uint64_t value);
	void *arg;
};

struct rc_client_stats {
	uint64_t dgrams_sent, dgrams_rcvd, bytes_sent, bytes_rcvd;
	uint64_t sent;		   /* requests sent (first transmissions) */
	uint64_t retransmits;	   /* request retransmissions (timeouts, rate limits) */
	uint64_t cookies;	   /* COOKIEs answered (the node under a LOGIN flood) */
	uint64_t raw_sent;	   /* rc_client_send_raw() datagrams */
	uint64_t timeouts;	   /* requests given up after max_tries */
	uint64_t acked;		   /* POSTs acknowledged */
	uint64_t late_acks;	   /* ACKs for POSTs already completed */
	uint64_t delivered;	   /* messages handed to the application */
	uint64_t dup_deliveries;   /* duplicates nobody asked for: the node's fault */
	uint64_t fetch_dups;	   /* duplicates in ranges asked again (expected) */
	uint64_t reordered;	   /* DELIVERs that arrived ahead of a missing seq */
	uint64_t gaps;		   /* gaps that needed a FETCH */
	uint64_t gaps_filled;	   /* missing seqs recovered */
	uint64_t gap_skipped;	   /* seqs given up */
	uint64_t tail_checks;	   /* FETCHes of a quiet room's tail */
	uint64_t tail_found;	   /* messages a tail check brought (lost last DELIVERs) */
	uint64_t dropped_far;	   /* DELIVERs beyond the reorder window (fetched again) */
	uint64_t unknown_room;	   /* DELIVERs for a room not joined (yet) */
	uint64_t relogins;	   /* sessions lost and logged in again */
	uint64_t resumes;	   /* RESUMEs for this session (takeovers) */
	uint64_t membership_lost;  /* ERROR not a member for a joined room (re-JOIN rounds) */
	uint64_t rejoin_rounds;	   /* re-JOIN rounds after a RESUME or a lost membership */
	uint64_t redirects;	   /* REDIRECTs followed */
	uint64_t decode_errors;	   /* undecodable messages received */
	uint64_t unmatched;	   /* replies matching no request */
	uint64_t errors[RC_E_MAX]; /* ERROR messages received, by code (0: unknown codes) */
};

/* Create a client for server_ip (dotted IPv4) and port (0: 6420), its socket bound to
 * bind_ip (NULL: any). NULL + errno on failure. */
struct rc_client *rc_client_new(const char *server_ip, uint16_t port, const char *bind_ip);
void rc_client_free(struct rc_client *c);

/* Retransmission: first after rto_ms, then doubling up to 1 s (or rto_ms if larger); at
 * most max_tries transmissions (>= 1). */
void rc_client_set_retry(struct rc_client *c, unsigned rto_ms, unsigned max_tries);
/* Delay before FETCHing a gap (reordering tolerance), default 100 ms. */
void rc_client_set_gap_delay(struct rc_client *c, unsigned ms);
/* A live DELIVER is sent once and a lost one is noticed only from a later seq: so the
 * client FETCHes a room's tail once it has been quiet for ms after a message (default
 * 1000; 0: never). A tail lost in the last datagram of a conversation is recovered too. */
void rc_client_set_tail_check(struct rc_client *c, unsigned ms);
void rc_client_set_keepalive(struct rc_client *c, bool on);
void rc_client_set_callbacks(struct rc_client *c, const struct rc_client_cb *cb);

/* Log in; a REDIRECT is followed once (-ELOOP when the home node redirects again). */
int rc_client_login(struct rc_client *c, const char *user, const char *token);
/* since_seq 0: the latest history_on_join messages; else those after since_seq. */
int rc_client_join(struct rc_client *c, const char *room, uint64_t since_seq, uint32_t *room_id,
		   uint64_t *last_seq);
int rc_client_leave(struct rc_client *c, const char *room);
/* Post and wait for the ACK; *seq (may be NULL) gets the seq. */
int rc_client_post(struct rc_client *c, const char *room, const char *body, size_t len,
		   uint64_t *seq);
/* Post without waiting: completion through cb.posted. -EAGAIN when too many requests
 * are pending (see rc_client_pending()). *cmid (may be NULL) gets the cmid. */
int rc_client_post_async(struct rc_client *c, const char *room, const char *body, size_t len,
			 void *tag, uint64_t *cmid);

struct rc_fetch_result {
	uint64_t from_seq, next_seq, last_seq;
	uint16_t count;
};
typedef void (*rc_fetch_fn)(void *arg, const struct rc_delivery *d);
/* FETCH [from_seq, from_seq + max): each DELIVER of the answer goes to fn (also when the
 * room's in-order stream already had it); res (may be NULL) gets the FETCH_END. Only one
 * fetch per room at a time (-EBUSY). The room must have been joined. */
int rc_client_fetch(struct rc_client *c, const char *room, uint64_t from_seq, uint16_t max,
		    rc_fetch_fn fn, void *arg, struct rc_fetch_result *res);

typedef void (*rc_member_fn)(void *arg, const char *user);
/* Returns the number of names passed to fn, or -errno. */
int rc_client_members(struct rc_client *c, const char *room, rc_member_fn fn, void *arg);

typedef void (*rc_room_fn)(void *arg, const char *room, uint64_t last_seq);
/* ROOMS: each room whose canonical name starts with prefix (NULL or "": every room) goes to
 * fn with its last stored seq, over as many ROOM_LISTs as the node sends. Returns the
 * number of rooms passed to fn, or -errno. A retransmitted ROOMS may pass a room twice. */
int rc_client_rooms(struct rc_client *c, const char *prefix, rc_room_fn fn, void *arg);
int rc_client_ping(struct rc_client *c, uint64_t *rtt_us);
int rc_client_logout(struct rc_client *c);

/*
 * Wait up to timeout_ms (0: do not wait, -1: until something arrives) for datagrams,
 * process them and the due timers (retransmissions, gap FETCHes, keepalive), calling cb
 * (NULL: the registered callbacks). Returns the number of messages processed, or -errno.
 */
int rc_client_poll(struct rc_client *c, int timeout_ms, const struct rc_client_cb *cb);
int rc_client_fd(const struct rc_client *c);
/* ms until the next timer (0: due now), -1 if none. */
int rc_client_timeout_ms(const struct rc_client *c);
/* Make the current (or next) blocking call return -EINTR (rc_client_logout() clears it
 * first: it always tries to say goodbye). Async-signal-safe. */
void rc_client_interrupt(struct rc_client *c);

/* Requests sent while corked are packed into shared datagrams until rc_client_flush(). */
void rc_client_cork(struct rc_client *c);
int rc_client_flush(struct rc_client *c);
/* Send bytes as they are from the client's socket (tests: re-sends, malformed input). */
int rc_client_send_raw(struct rc_client *c, const void *buf, size_t len);
/* The last datagram sent by the client (requests or raw); *len = 0 if none. */
const uint8_t *rc_client_last_datagram(const struct rc_client *c, size_t *len);

uint64_t rc_client_session(const struct rc_client *c);
/* The cmid the next POST carries (tests and tools that replay a client's resend: a new
 * client sending an earlier cmid again is, to the node, that user's resend). */
void rc_client_set_next_cmid(struct rc_client *c, uint64_t cmid);
/* The cmid that the next POST will carry (rc_client_post*). */
uint64_t rc_client_next_cmid(const struct rc_client *c);
/* The home node a REDIRECT named ("" if the client was never redirected). */
const char *rc_client_home_node(const struct rc_client *c);
/* The canonical name JOINED gave for room (the application's name, or that canonical name
 * itself); NULL if the room was never joined. */
const char *rc_client_room_name(const struct rc_client *c, const char *room);
/* The node named by the last RESUME ("" if none); *reason (may be NULL) gets its reason. */
const char *rc_client_last_resume(const struct rc_client *c, uint8_t *reason);
/* True while the rooms are being joined again after a RESUME or a lost membership. */
bool rc_client_resuming(const struct rc_client *c);
bool rc_client_logged_in(const struct rc_client *c);
/* Requests waiting for an answer. */
unsigned rc_client_pending(const struct rc_client *c);
/* The room is joined, its history start is known, nothing is held or known missing. */
bool rc_client_room_synced(const struct rc_client *c, const char *room);
/* Synced, and its tail checked since the room last moved (or tail checks off): every
 * message the room held then was handed over. */
bool rc_client_room_settled(const struct rc_client *c, const char *room);
/* The seq before the next one to hand over for room (0: not started / not joined). */
uint64_t rc_client_room_last(const struct rc_client *c, const char *room);
/* The room is known to hold seqs up to last_seq: FETCH what is missing. */
int rc_client_catch_up(struct rc_client *c, const char *room, uint64_t last_seq);
void rc_client_stats(const struct rc_client *c, struct rc_client_stats *out);
/* The ERROR code (0 if none) and text of the last request that the node refused. */
uint16_t rc_client_last_error(const struct rc_client *c, const char **text);

/* errno for an ERROR code: ENOENT, EPERM, EMSGSIZE, EAGAIN, EACCES, EBADMSG, ENOSPC,
 * EXDEV, EBUSY, EDQUOT, EROFS for codes 1..11; EPROTO otherwise. */
int rc_client_errno(uint16_t code);
const char *rc_client_event_name(unsigned ev);

#endif /* RC_CLIENT_H */
