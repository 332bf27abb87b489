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

#include "text.h" /* struct rc_text, rc_text_printf(): part of the handler contract */

struct rc_admin;

/*
 * A command handler. argv[0..argc) are the words after the command path (e.g. for
 * "room show lobby", argc = 1 and argv[0] = "lobby"). Fill `result` (a JSON object
 * already created) and `text`. Return 0; or -EINVAL for bad arguments (the usage is sent
 * back), or another -errno, with a message in err.
 */
typedef int (*rc_admin_fn)(void *arg, int argc, char **argv, json_t *result,
			   struct rc_text *text, char *err, size_t errlen);

struct rc_admin_cmd {
	const char *path;  /* "room show" */
	const char *args;  /* "ROOM" (for usage) */
	const char *help;  /* one line */
	rc_admin_fn fn;
	void *arg;
};

/* Listen on path (replacing a stale socket). Only root and members of group (NULL or "":
 * root only) may use it; others are refused with a message. NULL + errno on failure. */
struct rc_admin *rc_admin_open(const char *path, const char *group, char *err, size_t errlen);

/* Add a command (the table is copied). -EEXIST if the path is taken. */
int rc_admin_register(struct rc_admin *a, const struct rc_admin_cmd *cmd);

/* Serve what is ready, waiting at most timeout_ms. Returns requests served, or -errno. */
int rc_admin_poll(struct rc_admin *a, int timeout_ms);

void rc_admin_close(struct rc_admin *a);

#endif /* RC_ADMIN_H */
