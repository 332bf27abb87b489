/* SPDX-License-Identifier: MIT */
/*
 * Private to cluster_cmds*.c: the module's context, argument parsing, the
 * mutation adapter and the database helpers the command files share.
 *
 *   cluster_cmds.c        registration, poll, topology, group, chat, service, verify ha
 *   cluster_cmds_db.c     db add/list/remove/assign/unassign, password files, conninfos
 *   cluster_cmds_check.c  db check: this node's check (foreground and background), the
 *                         peers' published checks
 *   cluster_cmds_merge.c  db merge add/list/show/validate/run/remove and the merge thread
 *
 * Threads: the control thread, except where a function says otherwise.
 */
#ifndef RC_CLUSTER_CMDS_IMPL_H
#define RC_CLUSTER_CMDS_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "cluster_node.h"
#include "config.h"

struct rc_cluster_settings;
struct rc_mgmt;
struct cc_check;
struct cc_run;
struct rc_dbcheck_report;

struct cc_ctx {
	struct rc_cluster_node *cn;
	const struct rc_cluster_settings *cfg;
	struct rc_admin *admin;
	struct rc_mgmt *mgmt;      /* NULL without node.mgmt_address */
	bool polled;               /* the first poll (restart recovery) has run */
	struct cc_check *check;    /* the background database check in flight, or NULL */
	uint64_t next_check_ms;    /* monotonic; 0: as soon as possible */
	uint64_t check_version;    /* the state's version when check_key was computed */
	char check_key[1024];      /* what the last background check was about */
	struct cc_run *run;        /* the merge running on this node, or NULL */
	json_t *last_run;          /* the last merge finished here: {id, checks, conflicts} */
};

/* ---- arguments ---- */

/* An option: "--name VALUE" or "--name=VALUE". val[0] gets the first occurrence, val[1]
 * (when not NULL) a second one; one more is refused. */
struct cc_opt {
	const char *name;
	const char **val[2];
};

/* Split argv into opts and positionals (pos[0..*n_pos), at most max_pos). -EINVAL with the
 * reason in err: an unknown option, a missing value, an option given too often, too many
 * positionals. */
int cc_parse(int argc, char **argv, const struct cc_opt *opts, unsigned n_opts,
	     const char **pos, unsigned max_pos, unsigned *n_pos, char *err, size_t errlen);

/* "1".."4294967295" into *id; false otherwise. */
bool cc_parse_id(const char *s, uint32_t *id);

/* ---- the state ---- */

/* The state, or NULL with "no cluster state" in err (then return -ENODATA). A handler of a
 * row flagged RC_ADMIN_NEEDS_STATE always gets the state. */
const struct rc_cluster *cc_state(struct cc_ctx *x, char *err, size_t errlen);

/* This node's id in the state (node.id). */
const char *cc_self_id(const struct cc_ctx *x);

/* Run a mutation (cluster_node.h). A rule refusal (-EINVAL from cluster.h) becomes -EPERM so
 * that the admin socket reports it as a failed command, not a usage error. */
int cc_change(struct cc_ctx *x, rc_cluster_mut_fn fn, void *arg, char *err, size_t errlen);

/* ---- databases (cluster_cmds_db.c) ---- */

/* d's libpq conninfo with the password read from its password_file now (never logged,
 * never stored): 0, or -errno with the reason in err. Wipe out with explicit_bzero after
 * use. */
int cc_db_conninfo(const struct rc_cl_db *d, char *out, size_t cap, char *err, size_t errlen);

/* ---- reports (cluster_cmds_check.c) ---- */

/* A dbcheck report's checks as text lines ("  PASS subject name: detail", "      fix:
 * ..."), from the JSON form of rc_dbcheck_to_json (so published reports print the same). */
void cc_checks_text(struct rc_text *t, const json_t *checks);

/* ---- the command tables and the poll parts ---- */

int cc_register_db(struct cc_ctx *x);
int cc_register_check(struct cc_ctx *x);
int cc_register_merge(struct cc_ctx *x);

void cc_check_poll(struct cc_ctx *x);
void cc_check_fini(struct cc_ctx *x);
void cc_merge_poll(struct cc_ctx *x);
void cc_merge_fini(struct cc_ctx *x);

/* Add a table of commands (arg = x for each) to the node's admin socket; its rows flagged
 * RC_ADMIN_NEEDS_STATE run only while the node holds a cluster state. */
int cc_register(struct cc_ctx *x, const struct rc_admin_cmd *cmds, size_t n);

#endif /* RC_CLUSTER_CMDS_IMPL_H */
