/* SPDX-License-Identifier: MIT */
/*
 * rcha: the HA traffic checker (shared declarations).
 *
 *   rcha.c         command line, tokens, main
 *   rcha_run.c     `rcha run`: N users post continuously through a failover; what they were
 *                  acknowledged and delivered, their pauses, RESUMEs and re-logins, to DIR
 *   rcha_verify.c  `rcha verify`: DIR/acked.tsv against the messages table (libpq)
 *
 * Files written by run (tab-separated, one header line starting with '#'):
 *   acked.tsv    A user room cmid seq t_ms          an ACK (first one per POST)
 *                D user room cmid seq t_ms sender   a message handed to user (in seq order)
 *   pauses.tsv   user start_ms length_ms            a gap > --pause-ms between a client's
 *                                                   consecutive ACKs/deliveries
 *   events.tsv   t_ms user event detail             RESUMEs, re-logins, failures
 *   latency.tsv  user sender seq t_ms latency_us    a delivery of a POST of this run: the
 *                                                   time from the sender's POST (first
 *                                                   send) to the delivery, one monotonic
 *                                                   clock (the same process)
 *   summary.tsv  key value                          the summary (verify reads relogins)
 *   users.tsv    user server home posts acked delivered dup_deliveries gaps
 *                gaps_filled gap_skipped resumes relogins max_pause_ms tail_checks
 *                tail_found                                       one line per user
 *                (tail_found: messages whose live DELIVER was lost with no later seq to
 *                show it, recovered by the client's FETCH of a quiet room's tail)
 *                (server: where it logged in first; home: the node a REDIRECT sent it
 *                to, "-" if none)
 * Rooms are named as the node stores them (JOINED's canonical name, NAME@SERVICE).
 * Times are milliseconds since the start of the run. Every line is written as it happens
 * (line-buffered): the files can be read while the run goes on.
 *
 * Single-threaded: every client is polled from one loop.
 */
#ifndef RCHA_H
#define RCHA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RH_MAX_SERVERS 8
#define RH_MAX_BIND    64
#define RH_MAX_NAMES   64

struct rh_opts {
	char server_ip[RH_MAX_SERVERS][64];
	uint16_t server_port[RH_MAX_SERVERS];
	unsigned nservers;
	uint16_t port;
	unsigned users;
	const char *user_prefix;
	const char *room_prefix;
	const char *user_name[RH_MAX_NAMES]; /* --user: these names instead of PREFIX0.. */
	unsigned nuser_names;
	const char *room_name[RH_MAX_NAMES]; /* --room: these names instead of PREFIX0.. */
	unsigned nroom_names;
	unsigned rooms, rooms_per_user;
	double rate; /* POSTs per second per user */
	unsigned duration_s, drain_s, window, pause_ms, give_up_s;
	uint8_t *secret;
	size_t secret_len;
	const char *tokens_file; /* "user token" lines, instead of a secret */
	const char *bind_ip[RH_MAX_BIND];
	unsigned nbind;
	const char *out;
	const char *conninfo;
	const char *psql;
};

/* The token of user into tok (minted from the secret, or read from --tokens). 0 or -errno. */
int rh_token(const struct rh_opts *o, const char *user, char *tok, size_t cap);

int rh_run(const struct rh_opts *o);
int rh_verify(const struct rh_opts *o);

#endif /* RCHA_H */
