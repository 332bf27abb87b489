/* SPDX-License-Identifier: MIT */
/*
 * The admin command table behind the admin socket (admin.h): registration, dispatch of one
 * request line to the command whose path is the longest match over the argv words, the
 * built-in "help" at every level, and the JSON replies. Kept apart from the socket server so
 * it can be tested, and reused, without a socket.
 *
 * Reply conventions (what roomcastctl relies on):
 *   {"ok": true, "result": {...}, "text": "..."}
 *   {"ok": false, "error": "...", "usage": "PATH ARGS\nPATH ARGS"}   usage error (exit 2)
 *   {"ok": false, "error": "..."}                                    command failed (exit 1)
 * "usage" is present exactly when the request was not a valid command line: unknown
 * command, no command, or a handler returning -EINVAL.
 *
 * Threads: not thread-safe; the control thread owns a table.
 */
#ifndef RC_ADMIN_CMD_H
#define RC_ADMIN_CMD_H

#include <jansson.h>
#include <stddef.h>

#include "admin.h"

#define RC_ADMIN_MAX_ARGS 64   /* words per request */
#define RC_ADMIN_MAX_WORDS 8   /* words per command path */

struct rc_admin_table {
	struct rc_admin_entry *cmds; /* sorted by path */
	size_t n, cap;
};

/* Add a copy of cmd (its strings are copied too), to be called with ctx; ready as for
 * rc_admin_register_table. -EINVAL for an empty or malformed path, a NULL fn, min_args above
 * max_args, args given without max_args (or the other way round), or RC_ADMIN_NEEDS_STATE
 * without ready; -EEXIST if the path (or "help") is taken; -ENOMEM. */
int rc_admin_table_add(struct rc_admin_table *t, const struct rc_admin_cmd *cmd, void *ctx,
		       rc_admin_ready_fn ready);

/* Run one request line ({"argv": [...]}) and return the reply object (never NULL unless
 * out of memory). */
json_t *rc_admin_table_run(struct rc_admin_table *t, const char *line, size_t len);

/* Run a parsed argv (the part of rc_admin_table_run after JSON decoding). */
json_t *rc_admin_table_dispatch(struct rc_admin_table *t, int argc, char **argv);

/* {"ok": false, "error": msg} (usage omitted when NULL). */
json_t *rc_admin_reply_error(const char *msg, const char *usage);

void rc_admin_table_free(struct rc_admin_table *t);

#endif /* RC_ADMIN_CMD_H */
