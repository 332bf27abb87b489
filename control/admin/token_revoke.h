/* SPDX-License-Identifier: MIT */
/*
 * The revocation list of login tokens: entries "every token of USER issued before T" and
 * "every token issued before T" (no user), T in milliseconds since the epoch, compared with
 * a token's issue time (token.h). A LOGIN with a revoked token is refused like a bad one;
 * the node also ends the live sessions the new entry revokes (control/node/keys_cmds.c).
 *
 * Kept in a file (one entry per line: "USER<TAB>T", USER empty for everyone), rewritten
 * whole (temporary file, fsync, rename) on every change, so an entry survives a restart.
 * A user's entry is replaced by a later one, never moved back; so is the one for everyone.
 * The list holds at most RC_REVOKE_MAX users.
 *
 * Threads: one owner (the control thread); no locks.
 */
#ifndef RC_TOKEN_REVOKE_H
#define RC_TOKEN_REVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_REVOKE_MAX 4096
#define RC_REVOKE_USER_MAX 64

struct rc_revocation {
	char user[RC_REVOKE_USER_MAX + 1]; /* "" : every user */
	uint64_t before_ms;
};

struct rc_revocations {
	char path[512];
	unsigned n;
	struct rc_revocation *v; /* n entries */
};

/* Load the list from path (none yet: empty). 0, -EBADMSG (a line that is not an entry) or
 * -errno. */
int rc_revocations_open(struct rc_revocations *r, const char *path);
void rc_revocations_close(struct rc_revocations *r);

/* Revoke user's tokens (user NULL or "": everyone's) issued before before_ms, and write the
 * file. 0, -EINVAL (bad user name), -ENOSPC (list full) or -errno of the write (the list is
 * then unchanged). */
int rc_revocations_add(struct rc_revocations *r, const char *user, uint64_t before_ms);

/* A token of user (user_len bytes) issued at issued_ms is revoked. */
bool rc_revoked(const struct rc_revocations *r, const char *user, size_t user_len,
		uint64_t issued_ms);

#endif /* RC_TOKEN_REVOKE_H */
