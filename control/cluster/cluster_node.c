/* SPDX-License-Identifier: MIT */
#include "cluster_node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "config.h"
#include "log.h"
#include "mgmt.h"
#include "secfile.h"

#define CLUSTER_FILE "cluster.json"

struct rc_cluster_node {
	const struct rc_cluster_settings *cfg;
	struct rc_mgmt *mgmt;       /* NULL without node.mgmt_address */
	struct rc_cluster_node_ops ops;
	struct rc_syncer *syncer;   /* pushes the state to the other nodes */
	struct rc_cluster *cl;
	char path[300];             /* DATA_DIR/cluster.json */
};

const struct rc_cluster *
rc_cluster_node_state(const struct rc_cluster_node *cn)
{
	return cn != NULL ? cn->cl : NULL;
}

const struct rc_cl_node *
rc_cluster_node_self(const struct rc_cluster_node *cn, const struct rc_cl_group **g)
{
	return rc_cluster_find_node(cn->cl, cn->cfg->node_id, g, NULL);
}

/* ---- the database ---- */

int
rc_cluster_append_password(char *dst, size_t cap, const char *pw)
{
	size_t len = strlen(dst);

	if (len + 12 >= cap)
		return -ENOSPC;
	len += (size_t)snprintf(dst + len, cap - len, " password='");
	for (; *pw != '\0'; pw++) {
		if (len + 4 >= cap)
			return -ENOSPC;
		if (*pw == '\'' || *pw == '\\')
			dst[len++] = '\\';
		dst[len++] = *pw;
	}
	dst[len++] = '\'';
	dst[len] = '\0';
	return 0;
}

int
rc_cluster_conninfo_password(const char *conninfo, const char *password, char *out, size_t cap)
{
	if (out != conninfo)
		snprintf(out, cap, "%s", conninfo);
	if (out[0] == '\0' || password == NULL || password[0] == '\0')
		return 0;
	return rc_cluster_append_password(out, cap, password);
}

/* The conninfo (password included) this node should drain to: its assignment in the
 * state, else the node config's db section. "" = none. */
static int
wanted_conninfo(struct rc_cluster_node *cn, char *out, size_t cap)
{
	const struct rc_cl_node *self = rc_cluster_node_self(cn, NULL);
	const struct rc_cl_db *db;
	char pw[256], err[400];
	size_t len;
	int rc;

	if (self == NULL || self->db[0] == '\0' ||
	    (db = rc_cluster_find_db(cn->cl, self->db)) == NULL)
		return rc_cluster_conninfo_password(cn->cfg->db_conninfo, cn->cfg->db_password,
						    out, cap);
	rc_cluster_db_conninfo(db, out, cap);
	pw[0] = '\0';
	/* a state pushed by a peer names the file: read it only through the secure reader */
	rc = db->password_file[0] == '\0' ? 0 :
		rc_secfile_read(cn->cfg->secrets_dir, db->password_file, (uint8_t *)pw,
				sizeof(pw), &len, RC_SECFILE_LINE, err, sizeof(err));
	if (rc != 0) {
		RC_ERR("database %s: password file refused, database not used: %s", db->name,
		       err);
		return rc;
	}
	rc = rc_cluster_conninfo_password(out, pw, out, cap);
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

static void
apply_db(struct rc_cluster_node *cn)
{
	char want[768];
	int rc;

	if (wanted_conninfo(cn, want, sizeof(want)) != 0 ||
	    strcmp(want, cn->ops.db_current(cn->ops.arg)) == 0) {
		explicit_bzero(want, sizeof(want));
		return;
	}
	rc = cn->ops.db_switch(cn->ops.arg, want);
	explicit_bzero(want, sizeof(want));
	if (rc != 0)
		RC_ERR("cannot switch to the database the cluster state assigns: %s",
		       strerror(-rc));
}

/* ---- applying the state ---- */

/* Who may push to us: the management addresses of the state's other nodes; anyone (with
 * the secret) while the state does not name this node: it is not in a cluster yet. */
static void
set_put_peers(struct rc_cluster_node *cn, const struct rc_cl_node *self)
{
	uint32_t ips[256];
	unsigned n = 0;
	struct sockaddr_in sin;

	if (cn->mgmt == NULL)
		return;
	if (self == NULL) {
		rc_mgmt_set_put_peers(cn->mgmt, NULL, 0);
		return;
	}
	for (unsigned i = 0; i < cn->cl->n_clusters; i++)
		for (unsigned j = 0; j < cn->cl->clusters[i].n_groups; j++) {
			const struct rc_cl_group *g = &cn->cl->clusters[i].groups[j];

			for (unsigned k = 0; k < g->n_nodes && n < 256; k++)
				if (&g->nodes[k] != self &&
				    rc_cluster_parse_mgmt(g->nodes[k].mgmt, &sin))
					ips[n++] = sin.sin_addr.s_addr;
		}
	rc_mgmt_set_put_peers(cn->mgmt, ips, n);
}

static void
apply(struct rc_cluster_node *cn)
{
	const struct rc_cl_node *self = rc_cluster_node_self(cn, NULL);

	set_put_peers(cn, self);

	if (cn->cl->version != 0 || self != NULL) /* empty: the node config rules */
		cn->ops.apply(cn->ops.arg, cn->cl, self);
	apply_db(cn);
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
publish_and_push(struct rc_cluster_node *cn, const char *only_to)
{
	const struct rc_cl_cluster *cl;
	const struct rc_cl_group *g;
	unsigned i, j, k;
	size_t len;
	char *s = state_json(cn->cl, &len);

	if (s == NULL)
		return;
	if (cn->mgmt != NULL)
		rc_mgmt_publish_cluster(cn->mgmt, s, len);
	for (i = 0; cn->syncer != NULL && i < cn->cl->n_clusters; i++)
		for (cl = &cn->cl->clusters[i], j = 0; j < cl->n_groups; j++)
			for (g = &cl->groups[j], k = 0; k < g->n_nodes; k++) {
				const struct rc_cl_node *o = &g->nodes[k];

				if (strcmp(o->id, cn->cfg->node_id) == 0 ||
				    (only_to != NULL && strcmp(o->id, only_to) != 0))
					continue;
				rc_syncer_enqueue(cn->syncer, o->mgmt, "/v1/cluster", s, len);
			}
	free(s);
}

static int
adopt(struct rc_cluster_node *cn, const struct rc_cluster *c, char *err, size_t errlen)
{
	int rc = rc_cluster_save(c, cn->path, err, errlen);

	if (rc != 0)
		return rc;
	*cn->cl = *c;
	apply(cn);
	return 0;
}

int
rc_cluster_node_change(struct rc_cluster_node *cn, rc_cluster_mut_fn fn, void *arg, char *err,
		       size_t errlen)
{
	struct rc_cluster *c = malloc(sizeof(*c));
	uint64_t before = cn->cl->version;
	int rc;

	if (c == NULL)
		return -ENOMEM;
	*c = *cn->cl;
	rc = fn(c, cn->cfg->node_id, arg, err, errlen);
	if (rc == 0 && c->version != before) {
		rc = adopt(cn, c, err, errlen);
		if (rc == 0) {
			RC_INFO("cluster state v%llu (changed here)", (unsigned long long)c->version);
			publish_and_push(cn, NULL);
		}
	}
	free(c);
	return rc;
}

static void
on_push(void *arg, const struct rc_mgmt_push *p)
{
	struct rc_cluster_node *cn = arg;
	struct rc_cluster *c;
	char err[256];
	json_error_t je;
	json_t *j;

	if (strcmp(p->name, "cluster") != 0)
		return;
	j = json_loadb(p->body, p->len, 0, &je);
	c = malloc(sizeof(*c));
	if (j == NULL || c == NULL || rc_cluster_from_json(j, c, err, sizeof(err)) != 0 ||
	    !rc_cluster_jump_ok(cn->cl, c, err, sizeof(err))) {
		RC_WARN("cluster state pushed by %s refused: %s", p->node,
			j == NULL ? je.text : c == NULL ? "out of memory" : err);
	} else if (rc_cluster_newer(c, cn->cl)) {
		if (adopt(cn, c, err, sizeof(err)) != 0)
			RC_ERR("cannot save the cluster state from %s: %s", p->node, err);
		else
			RC_INFO("cluster state v%llu from %s (%s)", (unsigned long long)c->version,
				p->node, c->origin);
		publish_and_push(cn, NULL);
	} else if (rc_cluster_newer(cn->cl, c)) {
		publish_and_push(cn, p->node); /* the peer is behind: send it ours */
	}
	json_decref(j);
	free(c);
}

void
rc_cluster_node_poll(struct rc_cluster_node *cn)
{
	if (cn->mgmt != NULL)
		rc_mgmt_poll_pushes(cn->mgmt, on_push, cn);
}

/* ---- start and stop ---- */

static int
load_state(struct rc_cluster_node *cn, char *err, size_t errlen)
{
	int rc;

	snprintf(cn->path, sizeof(cn->path), "%s/" CLUSTER_FILE, cn->cfg->data_dir);
	rc = rc_cluster_load(cn->path, cn->cl, err, errlen);
	if (rc != -ENOENT)
		return rc;
	if (cn->cfg->cluster_file[0] == '\0') {
		rc_cluster_init_empty(cn->cl);
		return 0;
	}
	rc = rc_cluster_load_seed(cn->cfg->cluster_file, cn->cl, err, errlen);
	if (rc == 0)
		rc = rc_cluster_save(cn->cl, cn->path, err, errlen);
	return rc;
}

static int
check_self(struct rc_cluster_node *cn, char *err, size_t errlen)
{
	const struct rc_cl_node *self = rc_cluster_node_self(cn, NULL);

	if (self == NULL) {
		if (cn->cl->n_clusters > 0)
			RC_WARN("the cluster state does not name node %s: it runs on its own",
				cn->cfg->node_id);
		return 0;
	}
	if (self->vip.s_addr != cn->cfg->service_ip.s_addr) {
		snprintf(err, errlen, "node %s: the cluster state gives it VIP %s, but "
				      "node.service_ip says otherwise", self->id, inet_ntoa(self->vip));
		return -EINVAL;
	}
	if (cn->cfg->udp_port != 0 && self->udp_port != cn->cfg->udp_port) {
		snprintf(err, errlen, "node %s: the cluster state gives it udp_port %u (the other "
				      "nodes relay to it), but node.udp_port is %u", self->id,
			 self->udp_port, cn->cfg->udp_port);
		return -EINVAL;
	}
	if (cn->cfg->mgmt_address[0] != '\0' && strcmp(self->mgmt, cn->cfg->mgmt_address) != 0) {
		snprintf(err, errlen, "node %s: the cluster state gives it management address %s, "
				      "but node.mgmt_address is %s", self->id, self->mgmt,
			 cn->cfg->mgmt_address);
		return -EINVAL;
	}
	return 0;
}

int
rc_cluster_node_open(const struct rc_cluster_settings *cfg, struct rc_mgmt *mgmt,
		     const struct rc_cluster_node_ops *ops, struct rc_cluster_node **out, char *err,
		     size_t errlen)
{
	struct rc_cluster_node *cn = calloc(1, sizeof(*cn));
	int rc;

	*out = cn;
	if (cn == NULL || (cn->cl = calloc(1, sizeof(*cn->cl))) == NULL)
		return -ENOMEM;
	cn->cfg = cfg;
	cn->mgmt = mgmt;
	cn->ops = *ops;
	if ((rc = load_state(cn, err, errlen)) != 0 || (rc = check_self(cn, err, errlen)) != 0)
		return rc;
	if (cn->mgmt != NULL) {
		struct rc_syncer_conf sc = {
			.cred = { cfg->keys->k[0].key, cfg->keys->k[0].len, cfg->node_id,
				  cfg->keys },
		};

		cn->syncer = rc_syncer_start(&sc);
		if (cn->syncer == NULL) {
			snprintf(err, errlen, "cannot start the cluster syncer: %s", strerror(errno));
			return -errno;
		}
	}
	apply(cn);
	RC_INFO("cluster state v%llu (%s)", (unsigned long long)cn->cl->version, cn->path);
	publish_and_push(cn, NULL); /* a peer with a newer state answers with it */
	return 0;
}

int
rc_cluster_node_keys_changed(struct rc_cluster_node *cn)
{
	const struct rc_key *k = rc_keyring_signer(cn->cfg->keys);

	if (k == NULL)
		return -EINVAL;
	return cn->syncer != NULL ? rc_syncer_set_key(cn->syncer, k->key, k->len) : 0;
}

void
rc_cluster_node_close(struct rc_cluster_node *cn)
{
	if (cn == NULL)
		return;
	if (cn->syncer != NULL)
		rc_syncer_stop(cn->syncer);
	free(cn->cl);
	free(cn);
}
