/* SPDX-License-Identifier: MIT */
/*
 * The relay's operator view: `relay status` (the directory as published, each node's
 * address and neighbour state, the workers' relay counters summed, the remote rooms), the
 * relay part of `stats`, the roomcast_relay_* metrics (node.h), and `user home` (the node a
 * user logs in to).
 *
 * Threads: the control thread (an RCU reader); the counters are read while the workers run.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "admin_table.h"
#include "mgmt.h"
#include "node.h"
#include "prom.h"
#include "relay.h"
#include "room_table.h"

/* A drop reason without its "relay_" prefix (the text lines, the metrics' label). */
static const char *
drop_reason(unsigned reason)
{
	const char *name = rc_relay_drop_name(reason);

	return strncmp(name, "relay_", 6) == 0 ? name + 6 : name;
}

unsigned
rc_node_remote_rooms(struct rc_node *n)
{
	return rc_room_count(n->dp.rooms) - rc_room_hosted_count(n->dp.rooms);
}

/* ---- relay status ---- */

static void
address_cell(const json_t *row, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s:%" JSON_INTEGER_FORMAT,
		 json_string_value(json_object_get(row, "ip")),
		 json_integer_value(json_object_get(row, "udp_port")));
}

static const struct rc_table_col node_cols[] = {
	{ "NODE", -10, "id" },
	{ "SERVICE", -24, "service" },
	{ "ADDRESS", -21, NULL, address_cell },
	{ "NEIGHBOUR", 0, "neighbour" },
};

/* A directory node: where it is and whether its MAC is known (by the dataplane's index). */
static json_t *
node_json(struct rc_node *n, const struct rc_relay_node *e)
{
	int idx = rc_relay_find_node(&n->dp, e->id);
	struct in_addr a = { .s_addr = e->ip };
	char ip[INET_ADDRSTRLEN];
	bool known = idx >= 0 && rc_neigh_gen(&n->dp, (unsigned)idx) != 0;

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	return json_pack("{s:s,s:s,s:s,s:i,s:i,s:s}", "id", e->id, "service", e->service, "ip", ip,
			 "udp_port", rte_be_to_cpu_16(e->udp_port), "index", idx, "neighbour",
			 known ? "resolved" : "unresolved");
}

/* The summed counters as JSON (and their text lines into t, when not NULL). */
json_t *
rc_node_relay_counters(struct rc_node *n, struct rc_text *t)
{
	struct rc_relay_stats s;
	json_t *o, *d = json_object(), *req = json_object();
	uint64_t relayed = 0;

	rc_relay_stats_sum(&n->dp, &s);
	for (unsigned i = 0; i < RC_RELAY_DROP_MAX; i++)
		json_object_set_new(d, rc_relay_drop_name(i), json_integer((json_int_t)s.drops[i]));
	for (unsigned i = 1; i < RC_T_MAX; i++) {
		relayed += s.requests_out[i];
		if (s.requests_out[i] != 0)
			json_object_set_new(req, rc_msg_type_name(i),
					    json_integer((json_int_t)s.requests_out[i]));
	}
	o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "dgrams_in",
		      (json_int_t)s.dgrams_in, "bytes_in", (json_int_t)s.bytes_in, "dgrams_out",
		      (json_int_t)s.dgrams_out, "bytes_out", (json_int_t)s.bytes_out, "msgs_in",
		      (json_int_t)s.msgs_in, "replies_forwarded", (json_int_t)s.replies_forwarded,
		      "delivers_in", (json_int_t)s.delivers_in, "delivers_out",
		      (json_int_t)s.delivers_out, "duplicates", (json_int_t)s.duplicates, "gaps",
		      (json_int_t)s.gaps, "neigh_learned", (json_int_t)s.neigh_learned);
	json_object_set_new(o, "requests_out", req);
	json_object_set_new(o, "drops", d);
	if (t == NULL)
		return o;
	rc_text_printf(t, "relay: datagrams in %" PRIu64 " (%" PRIu64 " bytes), out %" PRIu64
			  " (%" PRIu64 " bytes); requests relayed %" PRIu64 ", replies forwarded %"
			  PRIu64 ", delivers in %" PRIu64 " out %" PRIu64 ", duplicates %" PRIu64
			  ", gaps %" PRIu64 "\n",
		       s.dgrams_in, s.bytes_in, s.dgrams_out, s.bytes_out, relayed, s.replies_forwarded, s.delivers_in, s.delivers_out, s.duplicates,
		       s.gaps);
	rc_text_printf(t, "relay drops:");
	for (unsigned i = 0; i < RC_RELAY_DROP_MAX; i++)
		rc_text_printf(t, " %s %" PRIu64, drop_reason(i), s.drops[i]);
	rc_text_printf(t, "\n");
	return o;
}

static RC_ADMIN_HANDLER(cmd_relay_status)
{
	struct rc_node *n = arg;
	const struct rc_relay_dir *dir = n->relay_dir;
	json_t *nodes = json_array(), *svc = json_array();
	unsigned remote = rc_node_remote_rooms(n);

	if (dir == NULL) {
		snprintf(err, errlen, "no relay directory published yet");
		return -ENODATA;
	}
	for (unsigned s = 0; s < RC_MAX_SCOPES; s++)
		if (dir->service[s][0] != '\0')
			json_array_append_new(svc, json_string(dir->service[s]));
	rc_text_printf(t, "relay %s: services %s%s%s, key id %u, refresh %u ms\n",
		       n->cfg.relay.secret.len > 0 ? "on" : "OFF (no relay.secret_file)",
		       dir->service[0], dir->service[1][0] ? " and the HA peer's " : "",
		       dir->service[1], n->cfg.relay.key_id, n->cfg.relay.refresh_ms);
	rc_table_head(t, RC_TABLE(node_cols));
	for (unsigned i = 0; i < dir->n_nodes; i++)
		rc_table_add(t, RC_TABLE(node_cols), nodes, node_json(n, &dir->nodes[i]));
	if (n->relay_skipped[0] != '\0')
		rc_text_printf(t, "not in the directory: %s\n", n->relay_skipped);
	json_object_set_new(res, "enabled", json_boolean(n->cfg.relay.secret.len > 0));
	json_object_set_new(res, "self", json_string(dir->self_id));
	json_object_set_new(res, "services", svc);
	json_object_set_new(res, "key_id", json_integer(n->cfg.relay.key_id));
	json_object_set_new(res, "refresh_ms", json_integer(n->cfg.relay.refresh_ms));
	json_object_set_new(res, "nodes", nodes);
	json_object_set_new(res, "skipped", json_string(n->relay_skipped));
	json_object_set_new(res, "counters", rc_node_relay_counters(n, t));
	json_object_set_new(res, "remote_rooms", json_integer(remote));
	rc_text_printf(t, "remote rooms: %u\n", remote);
	return 0;
}

/* user home USER: the node USER logs in to (rc_cluster_home_node), from this node's view. */
static RC_ADMIN_HANDLER(cmd_user_home)
{
	struct rc_node *n = arg;
	const struct rc_cluster *c = rc_cluster_node_state(n->cn);
	const struct rc_cl_cluster *cl = NULL;
	const struct rc_cl_group *g = NULL;
	const struct rc_cl_node *home;
	char vip[INET_ADDRSTRLEN];

	if (c == NULL || rc_cluster_find_node(c, n->cfg.node_id, &g, &cl) == NULL) {
		rc_text_printf(t, "%s: no home node (this node is in no cluster state): served "
				  "where it logs in\n", argv[0]);
		json_object_set_new(res, "user", json_string(argv[0]));
		json_object_set_new(res, "node", json_null());
		return 0;
	}
	home = rc_cluster_home_node(c, cl->name, argv[0], strlen(argv[0]));
	json_object_set_new(res, "user", json_string(argv[0]));
	json_object_set_new(res, "cluster", json_string(cl->name));
	if (home == NULL) {
		rc_text_printf(t, "%s: no home node (assignment none): served where it logs in\n",
			       argv[0]);
		json_object_set_new(res, "node", json_null());
		return 0;
	}
	rc_cluster_find_node(c, home->id, &g, NULL);
	inet_ntop(AF_INET, &home->vip, vip, sizeof(vip));
	rc_text_printf(t, "%s: home node %s (group %s, %s), %s:%u\n", argv[0], home->id, g->name,
		       rc_cl_assign_name(g->assign), vip, home->udp_port);
	json_object_set_new(res, "node", json_string(home->id));
	json_object_set_new(res, "group", json_string(g->name));
	json_object_set_new(res, "assignment", json_string(rc_cl_assign_name(g->assign)));
	json_object_set_new(res, "vip", json_string(vip));
	json_object_set_new(res, "udp_port", json_integer(home->udp_port));
	return 0;
}

static const struct rc_admin_cmd cmds[] = {
	{ "relay status", "",
	  "the relay directory (nodes, services, addresses, neighbours), counters, remote rooms",
	  cmd_relay_status },
	{ "user home", "USER", "the home node USER logs in to (REDIRECT elsewhere)", cmd_user_home,
	  1, 1 },
};

int
rc_node_relay_cmds_register(struct rc_node *n)
{
	return rc_admin_register_table(n->admin, cmds, RTE_DIM(cmds), n, NULL);
}

/* ---- metrics ---- */

#define RS(f) offsetof(struct rc_relay_stats, f)

static const struct rc_metric_row relay_rows[] = {
	{ "roomcast_relay_datagrams_total", "Relay datagrams (envelopes)", RC_LABELS("dir", "in"),
	  RS(dgrams_in) },
	{ "roomcast_relay_datagrams_total", NULL, RC_LABELS("dir", "out"), RS(dgrams_out) },
	{ "roomcast_relay_bytes_total", "Relay datagram bytes", RC_LABELS("dir", "in"),
	  RS(bytes_in) },
	{ "roomcast_relay_bytes_total", NULL, RC_LABELS("dir", "out"), RS(bytes_out) },
	{ "roomcast_relay_messages_in_total", "Messages in verified relay datagrams", NULL,
	  RS(msgs_in) },
	{ "roomcast_relay_replies_forwarded_total",
	  "Host replies forwarded to a session of this node", NULL, RS(replies_forwarded) },
	{ "roomcast_relay_delivers_total", "Live DELIVERs between nodes",
	  RC_LABELS("dir", "in"), RS(delivers_in) },
	{ "roomcast_relay_delivers_total", NULL, RC_LABELS("dir", "out"), RS(delivers_out) },
	{ "roomcast_relay_duplicates_total", "Relayed DELIVERs already fanned out (dropped)",
	  NULL, RS(duplicates) },
	{ "roomcast_relay_gaps_total", "Relayed DELIVERs after a gap (a gap fill asked)", NULL,
	  RS(gaps) },
	{ "roomcast_relay_neighbours_learned_total", "Directory nodes' MACs learned or changed",
	  NULL, RS(neigh_learned) },
};

void
rc_node_relay_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	struct rc_relay_stats s;

	rc_relay_stats_sum(&n->dp, &s);
	rc_metric_rows(b, relay_rows, RTE_DIM(relay_rows), &s);
	for (unsigned t = 1; t < RC_T_MAX; t++)
		if (s.requests_out[t] != 0)
			rc_metric_counter(b, "roomcast_relay_requests_total",
					  "Requests relayed to a hosting node, by type",
					  RC_LABELS("type", rc_msg_type_name(t)),
					  s.requests_out[t]);
	for (unsigned r = 0; r < RC_RELAY_DROP_MAX; r++)
		rc_metric_counter(b, "roomcast_relay_drops_total",
				  "Relay datagrams dropped, by reason",
				  RC_LABELS("reason", drop_reason(r)), s.drops[r]);
	rc_metric_gauge(b, "roomcast_relay_nodes", "Other nodes in the relay directory", NULL,
			n->relay_dir != NULL ? n->relay_dir->n_nodes : 0);
	rc_metric_gauge(b, "roomcast_relay_remote_rooms",
			"Rooms hosted on other nodes with a copy here", NULL,
			rc_node_remote_rooms(n));
}
