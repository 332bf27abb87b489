/* SPDX-License-Identifier: MIT */
/*
 * The admin API: a UNIX stream socket served by the control thread, one request per
 * connection. roomcastctl is its client. See control/admin/CLI.md for the commands.
 *
 * Wire: the client sends one JSON line {"argv": ["room", "show", "lobby"]}; the server
 * answers one JSON line {"ok": true, "result": {...}, "text": "..."} or
 * {"ok": false, "error": "...", "usage": "..."} and closes. "text" is the human rendering,
 * "result" the machine one (roomcastctl -j prints it).
 *
 * Threads: everything here runs on the control thread only.
 */
#ifndef RC_ADMIN_H
#define RC_ADMIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "text.h" /* struct rc_text, rc_text_printf(): part of the handler contract */

struct rc_admin;

/*
 * A command handler. argv[0..argc) are the words after the command path (e.g. for
 * "room show lobby", argc = 1 and argv[0] = "lobby"); arg is the context its table was
 * registered with. Fill `result` (a JSON object already created) and `text`. Return 0; or
 * -EINVAL for bad arguments (the usage is sent back), or another -errno, with a message in err.
 */
typedef int (*rc_admin_fn)(void *arg, int argc, char **argv, json_t *result,
			   struct rc_text *text, char *err, size_t errlen);

/* Defines a handler (rc_admin_fn) that may leave any of its parameters unused. */
#define RC_ADMIN_UNUSED __attribute__((unused))
#define RC_ADMIN_HANDLER(name)                                                                  \
	int name(void *arg RC_ADMIN_UNUSED, int argc RC_ADMIN_UNUSED,                           \
		 char **argv RC_ADMIN_UNUSED, json_t *res RC_ADMIN_UNUSED,                      \
		 struct rc_text *t RC_ADMIN_UNUSED, char *err RC_ADMIN_UNUSED,                  \
		 size_t errlen RC_ADMIN_UNUSED)

#define RC_ADMIN_ANY UINT8_MAX         /* max_args: no limit here (the handler parses) */
#define RC_ADMIN_NEEDS_STATE (1u << 0) /* flags: runs only when its table's ready() agrees */

/*
 * One command: a row of its module's command table, registered where the handler is (HAProxy's
 * cli_kw_list). The dispatcher checks the words after the path against min_args..max_args
 * (outside: a usage error, "invalid arguments") and, for RC_ADMIN_NEEDS_STATE, the table's
 * ready(), so a handler starts with its own work. roomcastctl's offline command list is
 * generated from these rows (rc_cmdlist), so a row is the only place a command is written.
 */
struct rc_admin_cmd {
	const char *path; /* "room show" */
	const char *args; /* "ROOM" (for usage): "" exactly when max_args is 0 */
	const char *help; /* one line */
	rc_admin_fn fn;
	uint8_t min_args, max_args; /* words after the path; {0, 0} by default */
	uint8_t flags;              /* RC_ADMIN_NEEDS_STATE */
};

/*
 * What a table's RC_ADMIN_NEEDS_STATE rows need (e.g. the cluster state): 0, or -errno with the
 * reason in err (that reply's error). It is asked before the arity is checked, so that a usage
 * error on a node lacking the state also names what it lacks (the reply keeps the usage).
 */
typedef int (*rc_admin_ready_fn)(void *ctx, char *err, size_t errlen);

/* Listen on path (replacing a stale socket). Only root and members of group (NULL or "":
 * root only) may use it; others are refused with a message. NULL + errno on failure. */
struct rc_admin *rc_admin_open(const char *path, const char *group, char *err, size_t errlen);

/* Add rows[0..n) (copied), each called with ctx; ready: for the rows flagged
 * RC_ADMIN_NEEDS_STATE (NULL when none is). 0, or the first row's error: -EEXIST if its path
 * is taken, -EINVAL for a malformed row (rc_admin_table_add). */
int rc_admin_register_table(struct rc_admin *a, const struct rc_admin_cmd *rows, size_t n,
			    void *ctx, rc_admin_ready_fn ready);

/* An admin table without a socket: commands are registered as on a socket's and run with
 * rc_admin_call (roomcastd's command list, rc_cmdlist). NULL + errno. rc_admin_close frees it. */
struct rc_admin *rc_admin_new(void);

/* Run one request (its words) as the socket would: the reply object ({"ok": ...}), NULL only
 * when out of memory. */
json_t *rc_admin_call(struct rc_admin *a, int argc, char **argv);

/* Serve what is ready, waiting at most timeout_ms. Returns requests served, or -errno. */
int rc_admin_poll(struct rc_admin *a, int timeout_ms);

/* rc_admin_poll() also returns when fd (-1: none) is readable; the caller reads it (the
 * control thread's doorbell: doorbell.h). */
void rc_admin_set_wake_fd(struct rc_admin *a, int fd);

void rc_admin_close(struct rc_admin *a);

#endif /* RC_ADMIN_H */
