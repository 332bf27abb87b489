/* SPDX-License-Identifier: MIT */
#include "cluster_node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drainer.h"
#include "history.h"
#include "log.h"
#include "mgmt.h"
#include "node.h"

#define CLUSTER_FILE "cluster.json"

const struct rc_cluster *
rc_node_cluster(const struct rc_node *n)
{
	return n->cl;
}

const struct rc_cl_node *
rc_node_cluster_self(const struct rc_node *n, const struct rc_cl_group **g)
{
	return rc_cluster_find_node(n->cl, n->cfg.node_id, g, NULL);
}

/* ---- the database ---- */

static int
read_password(const char *path, char *buf, size_t len)
{
	ssize_t got;
	int fd;

	buf[0] = '\0';
	if (path[0] == '\0')
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, buf, len - 1);
	close(fd);
	if (got < 0)
		return -EIO;
	while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
		got--;
	buf[got] = '\0';
	return 0;
}

/* The conninfo (password included) this node should drain to: its assignment in the
 * state, else the node config's db section. "" = none. */
static int
wanted_conninfo(struct rc_node *n, char *out, size_t cap)
{
	const struct rc_cl_node *self = rc_node_cluster_self(n, NULL);
	const struct rc_cl_db *db;
	char pw[128];
	int rc;

	if (self == NULL || self->db[0] == '\0' ||
	    (db = rc_cluster_find_db(n->cl, self->db)) == NULL)
		return rc_node_db_conninfo(n, n->cfg.db_conninfo, n->cfg.db_password, out, cap);
	rc_cluster_db_conninfo(db, out, cap);
	rc = read_password(db->password_file, pw, sizeof(pw));
	if (rc != 0) {
		RC_ERR("database %s: cannot read its password file %s: %s", db->name,
		       db->password_file, strerror(-rc));
		return rc;
	}
	rc = rc_node_db_conninfo(n, out, pw, out, cap);
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

static void
apply_db(struct rc_node *n)
{
	char want[sizeof(n->db_conninfo)];
	int rc;

	if (wanted_conninfo(n, want, sizeof(want)) != 0 || strcmp(want, n->db_conninfo) == 0) {
		explicit_bzero(want, sizeof(want));
		return;
	}
	rc = rc_node_db_switch(n, want);
	explicit_bzero(want, sizeof(want));
	if (rc != 0)
		RC_ERR("cannot switch to the database the cluster state assigns: %s",
		       strerror(-rc));
}

/* ---- applying the state ---- */

static void
apply_chat(struct rc_node *n)
{
	const struct rc_cl_chat *ch = &n->cl->chat;
	struct rc_dp *dp = &n->dp;

	dp->history_on_join = ch->messages_on_join;
	dp->max_fetch = ch->max_archive_query;
	dp->max_members = ch->default_max_occupants;
	n->max_rooms = ch->max_rooms < n->cfg.max_rooms ? ch->max_rooms : n->cfg.max_rooms;
}

static void
apply(struct rc_node *n)
{
	const struct rc_cl_node *self = rc_node_cluster_self(n, NULL);
	uint8_t block = RC_ROOMS_SERVED;

	if (n->cl->version == 0 && self == NULL) {
		apply_db(n); /* empty state: the node config rules */
		return;
	}
	apply_chat(n);
	if (!n->cl->chat.enabled)
		block = RC_ROOMS_CHAT_DISABLED;
	else if (self != NULL && self->tc == RC_CL_SVC_STOPPED)
		block = RC_ROOMS_TC_STOPPED;
	if (block != n->dp.rooms_blocked)
		RC_INFO("rooms on this node: %s", block == RC_ROOMS_SERVED ? "served" :
						   block == RC_ROOMS_TC_STOPPED ?
						   "not served: TC service stopped" :
						   "not served: persistent chat disabled");
	__atomic_store_n(&n->dp.rooms_blocked, block, __ATOMIC_RELEASE);
	apply_db(n);
}

/* ---- publishing and replication ---- */

static char *
state_json(const struct rc_cluster *c, size_t *len)
{
	json_t *j = rc_cluster_to_json(c);
	char *s = j == NULL ? NULL : json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(j);
	*len = s == NULL ? 0 : strlen(s);
	return s;
}

static void
publish_and_push(struct rc_node *n, const char *only_to)
{
	const struct rc_cl_cluster *cl;
	const struct rc_cl_group *g;
	unsigned i, j, k;
	size_t len;
	char *s = state_json(n->cl, &len);

	if (s == NULL)
		return;
	if (n->mgmt != NULL)
		rc_mgmt_publish_cluster(n->mgmt, s, len);
	for (i = 0; n->syncer != NULL && i < n->cl->n_clusters; i++)
		for (cl = &n->cl->clusters[i], j = 0; j < cl->n_groups; j++)
			for (g = &cl->groups[j], k = 0; k < g->n_nodes; k++) {
				const struct rc_cl_node *o = &g->nodes[k];

				if (strcmp(o->id, n->cfg.node_id) == 0 ||
				    (only_to != NULL && strcmp(o->id, only_to) != 0))
					continue;
				rc_syncer_enqueue(n->syncer, o->mgmt, "/v1/cluster", s, len);
			}
	free(s);
}

static int
adopt(struct rc_node *n, const struct rc_cluster *c, char *err, size_t errlen)
{
	int rc = rc_cluster_save(c, n->cluster_path, err, errlen);

	if (rc != 0)
		return rc;
	*n->cl = *c;
	apply(n);
	return 0;
}

int
rc_node_cluster_change(struct rc_node *n, rc_cluster_mut_fn fn, void *arg, char *err,
		       size_t errlen)
{
	struct rc_cluster *c = malloc(sizeof(*c));
	uint64_t before = n->cl->version;
	int rc;

	if (c == NULL)
		return -ENOMEM;
	*c = *n->cl;
	rc = fn(c, n->cfg.node_id, arg, err, errlen);
	if (rc == 0 && c->version != before) {
		rc = adopt(n, c, err, errlen);
		if (rc == 0) {
			RC_INFO("cluster state v%llu (changed here)", (unsigned long long)c->version);
			publish_and_push(n, NULL);
		}
	}
	free(c);
	return rc;
}

static void
on_push(void *arg, const struct rc_mgmt_push *p)
{
	struct rc_node *n = arg;
	struct rc_cluster *c;
	char err[256];
	json_error_t je;
	json_t *j;

	if (strcmp(p->name, "cluster") != 0)
		return;
	j = json_loadb(p->body, p->len, 0, &je);
	c = malloc(sizeof(*c));
	if (j == NULL || c == NULL || rc_cluster_from_json(j, c, err, sizeof(err)) != 0) {
		RC_WARN("cluster state pushed by %s refused: %s", p->node,
			j == NULL ? je.text : c == NULL ? "out of memory" : err);
	} else if (rc_cluster_newer(c, n->cl)) {
		if (adopt(n, c, err, sizeof(err)) != 0)
			RC_ERR("cannot save the cluster state from %s: %s", p->node, err);
		else
			RC_INFO("cluster state v%llu from %s (%s)", (unsigned long long)c->version,
				p->node, c->origin);
		publish_and_push(n, NULL);
	} else if (rc_cluster_newer(n->cl, c)) {
		publish_and_push(n, p->node); /* the peer is behind: send it ours */
	}
	json_decref(j);
	free(c);
}

void
rc_node_cluster_poll(struct rc_node *n)
{
	if (n->mgmt != NULL)
		rc_mgmt_poll_pushes(n->mgmt, on_push, n);
}

/* ---- start and stop ---- */

static int
load_state(struct rc_node *n, char *err, size_t errlen)
{
	int rc;

	snprintf(n->cluster_path, sizeof(n->cluster_path), "%s/" CLUSTER_FILE, n->cfg.data_dir);
	rc = rc_cluster_load(n->cluster_path, n->cl, err, errlen);
	if (rc != -ENOENT)
		return rc;
	if (n->cfg.cluster_file[0] == '\0') {
		rc_cluster_init_empty(n->cl);
		return 0;
	}
	rc = rc_cluster_load_seed(n->cfg.cluster_file, n->cl, err, errlen);
	if (rc == 0)
		rc = rc_cluster_save(n->cl, n->cluster_path, err, errlen);
	return rc;
}

static int
check_self(struct rc_node *n, char *err, size_t errlen)
{
	const struct rc_cl_node *self = rc_node_cluster_self(n, NULL);

	if (self == NULL) {
		if (n->cl->n_clusters > 0)
			RC_WARN("the cluster state does not name node %s: it runs on its own",
				n->cfg.node_id);
		return 0;
	}
	if (self->vip.s_addr != n->cfg.service_ip.s_addr) {
		snprintf(err, errlen, "node %s: the cluster state gives it VIP %s, but "
				      "node.service_ip says otherwise", self->id, inet_ntoa(self->vip));
		return -EINVAL;
	}
	if (n->cfg.mgmt_address[0] != '\0' && strcmp(self->mgmt, n->cfg.mgmt_address) != 0) {
		snprintf(err, errlen, "node %s: the cluster state gives it management address %s, "
				      "but node.mgmt_address is %s", self->id, self->mgmt,
			 n->cfg.mgmt_address);
		return -EINVAL;
	}
	return 0;
}

int
rc_node_cluster_init(struct rc_node *n, char *err, size_t errlen)
{
	int rc;

	n->cl = calloc(1, sizeof(*n->cl));
	if (n->cl == NULL)
		return -ENOMEM;
	n->max_rooms = n->cfg.max_rooms;
	if ((rc = load_state(n, err, errlen)) != 0 || (rc = check_self(n, err, errlen)) != 0)
		return rc;
	if (n->mgmt != NULL) {
		struct rc_syncer_conf sc = {
			.cred = { n->cfg.secret, n->cfg.secret_len, n->cfg.node_id },
		};

		n->syncer = rc_syncer_start(&sc);
		if (n->syncer == NULL) {
			snprintf(err, errlen, "cannot start the cluster syncer: %s", strerror(errno));
			return -errno;
		}
	}
	apply(n);
	RC_INFO("cluster state v%llu (%s)", (unsigned long long)n->cl->version, n->cluster_path);
	publish_and_push(n, NULL); /* a peer with a newer state answers with it */
	return 0;
}

void
rc_node_cluster_fini(struct rc_node *n)
{
	if (n->syncer != NULL)
		rc_syncer_stop(n->syncer);
	n->syncer = NULL;
	free(n->cl);
	n->cl = NULL;
}
