/* SPDX-License-Identifier: MIT */
/*
 * rcload: the integration checker and load tool (shared declarations).
 *
 *   rcload.c            command line, tokens, clients, the report (text or JSON)
 *   rcload_load.c       default mode: N users post M messages each, every delivery checked
 *   rcload_history.c    --verify-history: FETCH the whole room and check it
 *   rcload_malformed.c  --malformed: junk datagrams, amplification check, node still alive
 *
 * Single-threaded: all clients are driven from one poll() loop.
 */
#ifndef RCLOAD_H
#define RCLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rcclient.h"

#define RL_MAX_BIND    64
#define RL_MAX_REASONS 32

struct rl_opts {
	char server_ip[64];
	uint16_t port;
	uint8_t *secret;
	size_t secret_len;
	unsigned users;
	const char *room;
	unsigned posts;
	const char *prefix;
	unsigned resend_every;
	const char *bind_ip[RL_MAX_BIND];
	unsigned nbind;
	unsigned timeout_s;
	long verify_count;  /* --verify-history COUNT, -1 if not given */
	unsigned malformed; /* --malformed N, 0 if not given */
	unsigned bundle;    /* POSTs per datagram, 1 = no bundling */
	unsigned window;    /* POSTs in flight per client */
	unsigned pad;	    /* bytes of padding appended to each body */
	unsigned rto_ms;
	uint64_t seed;
	bool json;
};

/* What a mode found: failure reasons, summary fields (in order) and extra information. */
struct rl_report {
	const char *mode;
	unsigned nfail;
	char *reason[RL_MAX_REASONS];
	unsigned nfields;
	struct {
		const char *key;
		uint64_t val;
	} field[24];
	unsigned ninfo;
	struct {
		const char *key;
		char val[48];
	} info[40];
};

void rl_fail(struct rl_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rl_field(struct rl_report *r, const char *key, uint64_t val);
void rl_info(struct rl_report *r, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rl_info_stats(struct rl_report *r, const struct rc_client_stats *s);

/* A client for user number idx (its source address taken round-robin from --bind-ip). */
struct rc_client *rl_client_new(const struct rl_opts *o, unsigned idx);
/* Mint a token for user (valid for an hour past the timeout). 0 or -errno. */
int rl_mint(const struct rl_opts *o, const char *user, char *tok, size_t cap);
/* Log in and join o->room (since_seq 0); 0 or -errno with a reason in r. */
int rl_login_join(const struct rl_opts *o, struct rc_client *c, const char *user,
		  struct rl_report *r, uint64_t *last_seq);
void rl_stats_add(struct rc_client_stats *sum, const struct rc_client_stats *s);
/* Parse "<prefix><i>-m<j>" optionally followed by a space and padding. */
bool rl_parse_body(const char *prefix, const char *body, unsigned *i, unsigned *j);

int rl_run_load(const struct rl_opts *o, struct rl_report *r);
int rl_run_history(const struct rl_opts *o, struct rl_report *r);
int rl_run_malformed(const struct rl_opts *o, struct rl_report *r);

#endif /* RCLOAD_H */
