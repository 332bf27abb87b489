/* SPDX-License-Identifier: MIT */
/*
 * The node's keys and token revocations, as admin commands:
 *   keys show                 the running key rings (keyring.h): purpose, id, signing or
 *                             accepted, derived or from a file, a fingerprint
 *   keys reload               re-read the keys section of the configuration file and apply
 *                             it live: tokens (LOGIN, token mint), the HA link (heartbeats,
 *                             new stream handshakes), cluster documents (endpoint, pushes)
 *   token revoke --user U | --before TIME
 *                             refuse tokens of U issued before now (and end U's live sessions
 *                             with BYE), or every token issued before TIME (unix seconds; live
 *                             sessions opened before TIME end too)
 *   token revocations         the list
 *
 * Threads: the control thread (the admin socket's), like everything that reads n->cfg.keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>

#include "admin.h"
#include "clock.h"
#include "log.h"
#include "mgmt.h"
#include "node.h"
#include "session.h"

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
show_ring(const struct rc_keyring *r, enum rc_key_purpose p, json_t *arr, struct rc_text *t)
{
	char fpr[RC_KEY_FPR_HEX + 1];

	for (unsigned i = 0; i < r->n; i++) {
		const char *role = i == 0 ? "signing" : "accepted";

		rc_key_fingerprint(&r->k[i], fpr);
		json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:s, s:s}", "purpose",
						     rc_key_purpose_name(p), "id", r->k[i].id,
						     "role", role, "source",
						     r->derived ? "derived" : "file",
						     "fingerprint", fpr));
		rc_text_printf(t, "%-8s %3u  %-8s  %-7s  %s\n", rc_key_purpose_name(p), r->k[i].id,
			       role, r->derived ? "derived" : "file", fpr);
	}
}

static RC_ADMIN_HANDLER(cmd_keys_show)
{
	struct rc_node *n = arg;
	json_t *arr = json_array();

	rc_text_printf(t, "purpose   id  role      source   fingerprint\n");
	for (unsigned p = 0; p < RC_KEY_PURPOSE_MAX; p++)
		show_ring(&n->cfg.keys[p], p, arr, t);
	json_object_set_new(res, "keys", arr);
	return 0;
}

/* Install the rings of n->cfg.keys on the parts that hold copies. 0 or -errno. */
static int
keys_apply(struct rc_node *n)
{
	int rc = rc_ha_node_keys_changed(n->ha);

	if (rc == 0 && n->mgmt != NULL)
		rc = rc_mgmt_set_keys(n->mgmt, &n->cfg.keys[RC_KEY_CLUSTER]);
	if (rc == 0 && n->cn != NULL)
		rc = rc_cluster_node_keys_changed(n->cn);
	return rc;
}

static RC_ADMIN_HANDLER(cmd_keys_reload)
{
	struct rc_node *n = arg;
	struct rc_keyring *fresh = calloc(RC_KEY_PURPOSE_MAX, sizeof(*fresh));
	struct rc_keyring *old = calloc(RC_KEY_PURPOSE_MAX, sizeof(*old));
	int rc = fresh != NULL && old != NULL ? 0 : -ENOMEM;

	if (rc == 0)
		rc = rc_config_load_keys(n->cfg.path, fresh, err, errlen);
	if (rc == 0) {
		memcpy(old, n->cfg.keys, sizeof(n->cfg.keys));
		memcpy(n->cfg.keys, fresh, sizeof(n->cfg.keys));
		rc = keys_apply(n);
		if (rc != 0) { /* e.g. a key id reused with other bytes: keep the running keys */
			snprintf(err, errlen, "the new keys were refused (%s): a key id names one "
				 "key forever", strerror(-rc));
			memcpy(n->cfg.keys, old, sizeof(n->cfg.keys));
			keys_apply(n);
		}
	}
	if (rc == 0) {
		RC_INFO("keys reloaded from %s", n->cfg.path);
		rc = cmd_keys_show(n, 0, NULL, res, t, err, errlen);
	}
	if (fresh != NULL)
		rc_keyring_wipe(fresh);
	if (old != NULL)
		rc_keyring_wipe(old);
	free(fresh);
	free(old);
	return rc;
}

struct revoke_ctx {
	const char *user;     /* NULL: every user opened before before_ms */
	uint64_t before_ms;   /* wall clock */
	uint64_t mono_now, wall_now;
	unsigned count;
	struct rc_session *victims[256];
};

static int
find_revoked(void *arg, struct rc_session *s)
{
	struct revoke_ctx *x = arg;
	uint64_t opened = x->wall_now - (x->mono_now - s->created_ms);

	if (x->user != NULL ? strlen(x->user) == s->user_len &&
				      memcmp(x->user, s->user, s->user_len) == 0 :
			      opened < x->before_ms)
		x->victims[x->count++] = s;
	return x->count == RTE_DIM(x->victims);
}

/* End (BYE) the live sessions the new revocation covers. Returns how many. */
static unsigned
end_revoked(struct rc_node *n, struct revoke_ctx *x)
{
	unsigned total = 0;

	do {
		x->count = 0;
		rc_session_foreach(n->dp.sessions, find_revoked, x);
		for (unsigned i = 0; i < x->count; i++) {
			struct rc_session *s = x->victims[i];
			struct rc_who who = { .session = s->id, .peer = s->peer };
			struct rc_msg m = { .hdr.type = RC_T_BYE };

			rc_node_reply(n, &who, &m);
			rc_node_end_session(n, s);
		}
		total += x->count;
	} while (x->count == RTE_DIM(x->victims));
	return total;
}

static int
parse_revoke(int argc, char **argv, struct revoke_ctx *x, char *err, size_t errlen)
{
	char *end;
	unsigned long long v;

	if (argc == 2 && strcmp(argv[0], "--user") == 0 && argv[1][0] != '\0') {
		x->user = argv[1];
		x->before_ms = x->wall_now;
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "--before") == 0) {
		errno = 0;
		v = strtoull(argv[1], &end, 10);
		if (argv[1][0] >= '0' && argv[1][0] <= '9' && *end == '\0' && errno == 0 &&
		    v < UINT64_MAX / 1000) {
			x->before_ms = v * 1000;
			return 0;
		}
	}
	snprintf(err, errlen, "expected --user USER or --before UNIX-SECONDS");
	return -EINVAL;
}

static RC_ADMIN_HANDLER(cmd_token_revoke)
{
	struct rc_node *n = arg;
	struct revoke_ctx *x = calloc(1, sizeof(*x));
	int rc = x != NULL ? 0 : -ENOMEM;

	if (rc == 0) {
		x->mono_now = rc_mono_ms();
		x->wall_now = wall_ms();
		rc = parse_revoke(argc, argv, x, err, errlen);
	}
	if (rc == 0) {
		rc = rc_revocations_add(&n->revoked, x->user, x->before_ms);
		if (rc != 0)
			snprintf(err, errlen, "cannot write %s: %s", n->revoked.path, strerror(-rc));
	}
	if (rc == 0) {
		unsigned ended = end_revoked(n, x);

		RC_INFO("tokens revoked: %s issued before %llu ms; %u live sessions ended",
			x->user != NULL ? x->user : "every user",
			(unsigned long long)x->before_ms, ended);
		json_object_set_new(res, "user", x->user != NULL ? json_string(x->user) :
								   json_null());
		json_object_set_new(res, "before_ms", json_integer((json_int_t)x->before_ms));
		json_object_set_new(res, "sessions_ended", json_integer(ended));
		rc_text_printf(t, "revoked; %u live sessions ended\n", ended);
	}
	free(x);
	return rc;
}

static RC_ADMIN_HANDLER(cmd_token_revocations)
{
	struct rc_node *n = arg;
	json_t *arr = json_array();

	rc_text_printf(t, "user                 issued before (ms since the epoch)\n");
	for (unsigned i = 0; i < n->revoked.n; i++) {
		const struct rc_revocation *e = &n->revoked.v[i];

		json_array_append_new(arr, json_pack("{s:o, s:I}", "user",
						     e->user[0] ? json_string(e->user) :
								  json_null(),
						     "before_ms", (json_int_t)e->before_ms));
		rc_text_printf(t, "%-20s %llu\n", e->user[0] ? e->user : "(every user)",
			       (unsigned long long)e->before_ms);
	}
	json_object_set_new(res, "revocations", arr);
	return 0;
}

static const struct rc_admin_cmd cmds[] = {
	{ "keys show", "", "the running keys per purpose: id, signing/accepted, fingerprint",
	  cmd_keys_show },
	{ "keys reload", "", "re-read the configuration's keys and use them now (a rotation step)",
	  cmd_keys_reload },
	{ "token revoke", "--user USER | --before UNIX-SECONDS",
	  "refuse the tokens of USER issued before now (ending USER's sessions), or every token "
	  "issued before a time", cmd_token_revoke, 2, 2 },
	{ "token revocations", "", "the token revocation list", cmd_token_revocations },
};

int
rc_node_keys_cmds_register(struct rc_node *n)
{
	return rc_admin_register_table(n->admin, cmds, RTE_DIM(cmds), n, NULL);
}
