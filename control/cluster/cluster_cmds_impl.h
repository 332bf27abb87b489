/* SPDX-License-Identifier: MIT */
/*
 * Private to cluster_cmds*.c: the module's context, argument parsing, the
 * mutation adapter and the database helpers the command files share.
 *
 *   cluster_cmds.c        registration, poll, topology, group, chat, service
 *   cluster_cmds_verify.c verify ha from the nodes' reports; the live check of ha off
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

#include <pthread.h>

#include "admin.h"
#include "cluster_node.h"
#include "config.h"
#include "mgmt.h"

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

/* d's libpq conninfo with the password read from its password_file now, through the secure
 * reader in the node's secrets directory (never logged, never stored): 0, or -errno with
 * the reason in err. Wipe out with explicit_bzero after use. */
int cc_db_conninfo(const struct cc_ctx *x, const struct rc_cl_db *d, char *out, size_t cap,
		   char *err, size_t errlen);

/* ---- reports (cluster_cmds_check.c) ---- */

/* A dbcheck report's checks as text lines ("  PASS subject name: detail", "      fix:
 * ..."), from the JSON form of rc_dbcheck_to_json (so published reports print the same). */
void cc_checks_text(struct rc_text *t, const json_t *checks);

/* ---- the other nodes' documents (cluster_cmds_check.c) ---- */

/* A GET of one node's published document on a helper thread. */
struct cc_peer {
	pthread_t th;
	bool threaded;
	const struct rc_mgmt_cred *cred;
	const char *path;
	char node[RC_CL_NAME_MAX], mgmt[64];
	int rc;
	struct rc_mgmt_reply reply;
};

/* GET path from every other node of the state, in parallel (2 s at most each); *n gets
 * how many. Join each (cc_peer_join) before reading it; free the array and each reply.
 * NULL when out of memory. */
struct cc_peer *cc_peers_start(struct cc_ctx *x, const struct rc_cluster *c,
			       const struct rc_mgmt_cred *cred, const char *path, unsigned *n);
void cc_peer_join(struct cc_peer *p);

/* ---- the command tables and the poll parts ---- */

int cc_register_db(struct cc_ctx *x);
int cc_register_check(struct cc_ctx *x);
int cc_register_verify(struct cc_ctx *x);

/* `group set GROUP ha off` may go ahead: high availability is already off there, or both
 * nodes of the group report Normal (each serves its own rooms, nothing is failed over). 0,
 * or -EBUSY with why and what to do first in err (cluster_cmds_verify.c). */
int cc_ha_off_allowed(struct cc_ctx *x, const char *group, char *err, size_t errlen);
int cc_register_merge(struct cc_ctx *x);

void cc_check_poll(struct cc_ctx *x);
void cc_check_fini(struct cc_ctx *x);
void cc_merge_poll(struct cc_ctx *x);
void cc_merge_fini(struct cc_ctx *x);

/* Add a table of commands (arg = x for each) to the node's admin socket; its rows flagged
 * RC_ADMIN_NEEDS_STATE run only while the node holds a cluster state. */
int cc_register(struct cc_ctx *x, const struct rc_admin_cmd *cmds, size_t n);

#endif /* RC_CLUSTER_CMDS_IMPL_H */
