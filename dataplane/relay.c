/* SPDX-License-Identifier: MIT */
/*
 * The relay directory and the envelopes on the fast path (see relay.h): publication with
 * stable indexes, relay peers, sealing on the workers (TX slots) and on the other threads
 * (rc_relay_wrap), verification on RX.
 */
#include "relay_priv.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static_assert(RC_RELAY_LANES <= 1u << RC_RELAY_LANE_BITS, "a lane fits in the counter's bits");
static_assert(RC_DP_MAX_WORKERS <= RC_RELAY_LANE_CTRL, "every worker has a lane of its own");
static_assert(RC_RELAY_MAX_NODES < 255, "rc_peer.relay holds 1 + a directory index");
static_assert(sizeof(struct rc_relay_stats) % sizeof(uint64_t) == 0,
	      "the counters are summed as an array of uint64_t");

/* ---- publication (control thread) ---- */

static bool
terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static int
dir_check(const struct rc_relay_dir *dir)
{
	if (dir->n_nodes > RC_RELAY_MAX_NODES || !terminated(dir->self_id, sizeof(dir->self_id)) ||
	    dir->self_id[0] == '\0')
		return -EINVAL;
	for (unsigned s = 0; s < RC_MAX_SCOPES; s++)
		if (!terminated(dir->service[s], RC_SERVICE_MAX))
			return -EINVAL;
	for (unsigned i = 0; i < dir->n_nodes; i++) {
		const struct rc_relay_node *n = &dir->nodes[i];

		if (!terminated(n->id, sizeof(n->id)) || n->id[0] == '\0' ||
		    !terminated(n->service, RC_SERVICE_MAX))
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(dir->nodes[j].id, n->id) == 0)
				return -EINVAL;
	}
	return 0;
}

static int
index_in(const struct rc_relay_pub *pub, const char *id)
{
	if (pub == NULL)
		return -1;
	for (unsigned i = 0; i < pub->dir.n_nodes; i++)
		if (strcmp(pub->dir.nodes[i].id, id) == 0)
			return (int)i;
	return -1;
}

/* A free index for a node new to the directory: one never held by any node if any is left
 * (an index kept by a room or a member keeps naming the node that left), else the first
 * one held by none now. */
static int
free_index(const struct rc_relay *r, const bool *taken)
{
	for (unsigned i = 0; i < RC_RELAY_MAX_NODES; i++)
		if (!taken[i] && !r->ever_held[i])
			return (int)i;
	for (unsigned i = 0; i < RC_RELAY_MAX_NODES; i++)
		if (!taken[i])
			return (int)i;
	return -1; /* not reached: at most RC_RELAY_MAX_NODES nodes (dir_check) */
}

/* Place dir's nodes in pub: a node keeps its old index; the others take free ones. */
static void
place_nodes(struct rc_relay *r, const struct rc_relay_pub *old, struct rc_relay_pub *pub,
	    const struct rc_relay_dir *dir)
{
	bool taken[RC_RELAY_MAX_NODES] = { false }, placed[RC_RELAY_MAX_NODES] = { false };
	unsigned i;
	int at;

	for (i = 0; i < dir->n_nodes; i++) {
		at = index_in(old, dir->nodes[i].id);
		if (at >= 0) {
			pub->dir.nodes[at] = dir->nodes[i];
			pub->gen[at] = old->gen[at];
			taken[at] = placed[i] = true;
		}
	}
	for (i = 0; i < dir->n_nodes; i++) {
		if (placed[i])
			continue;
		at = free_index(r, taken);
		r->ever_held[at] = true;
		pub->dir.nodes[at] = dir->nodes[i];
		pub->gen[at] = ++r->next_gen == 0 ? ++r->next_gen : r->next_gen;
		taken[at] = true;
	}
	for (i = 0; i < RC_RELAY_MAX_NODES; i++)
		if (taken[i])
			pub->dir.n_nodes = i + 1;
}

static void
pub_free(struct rc_relay_pub *pub)
{
	for (unsigned w = 0; w < RC_DP_MAX_WORKERS; w++)
		for (unsigned i = 0; i < RC_RELAY_MAX_NODES; i++) {
			rc_hmac_keyed_free(pub->mac[w][i]);
			rc_hmac_keyed_free(pub->peer_mac[w][i]);
		}
	explicit_bzero(pub, sizeof(*pub)); /* the pair keys */
	free(pub);
}

static void
pub_free_rcu(struct rcu_head *head)
{
	pub_free(caa_container_of(head, struct rc_relay_pub, rcu));
}

static struct rc_relay *
relay_state(struct rc_dp *dp)
{
	struct rc_relay *r = rc_relay_of(dp);

	if (r != NULL)
		return r;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	__atomic_store_n(&dp->relay, r, __ATOMIC_RELEASE);
	return r;
}

static bool
has_peer_key(const struct rc_relay_node *n)
{
	static const uint8_t zero[sizeof(n->peer_key)];

	return memcmp(n->peer_key, zero, sizeof(zero)) != 0;
}

static void
pub_fill(struct rc_dp *dp, struct rc_relay *r, struct rc_relay_pub *pub)
{
	struct rc_relay_dir *d = &pub->dir;

	pub->self_len = (uint8_t)strnlen(d->self_id, RC_RELAY_MAX_SENDER);
	for (unsigned i = 0; i < RC_RELAY_MAX_NODES; i++) {
		pub->id_len[i] = (uint8_t)strlen(d->nodes[i].id);
		pub->service_len[i] = (uint8_t)strlen(d->nodes[i].service);
		rc_neigh_set(r, i, i < d->n_nodes ? d->nodes[i].ip : 0, d->nodes[i].port_idx);
		for (unsigned w = 0; w < dp->n_workers && pub->id_len[i] != 0; w++) {
			pub->mac[w][i] = rc_hmac_keyed_new(d->nodes[i].key, RC_RELAY_KEY_LEN);
			if (has_peer_key(&d->nodes[i]))
				pub->peer_mac[w][i] =
					rc_hmac_keyed_new(d->nodes[i].peer_key, RC_RELAY_KEY_LEN);
		}
	}
}

int
rc_relay_publish(struct rc_dp *dp, const struct rc_relay_dir *dir)
{
	struct rc_relay_pub *pub, *old;
	struct rc_relay *r;
	int rc = dir_check(dir);

	if (rc != 0)
		return rc;
	r = relay_state(dp);
	pub = calloc(1, sizeof(*pub));
	if (r == NULL || pub == NULL) {
		free(pub);
		return -ENOMEM;
	}
	old = r->pub;
	memcpy(pub->dir.self_id, dir->self_id, sizeof(dir->self_id));
	memcpy(pub->dir.service, dir->service, sizeof(dir->service));
	place_nodes(r, old, pub, dir);
	pub_fill(dp, r, pub);
	pthread_mutex_lock(&r->lock);
	rcu_assign_pointer(r->pub, pub);
	pthread_mutex_unlock(&r->lock);
	if (old != NULL)
		call_rcu(&old->rcu, pub_free_rcu);
	return 0;
}

void
rc_relay_destroy(struct rc_dp *dp)
{
	struct rc_relay *r = rc_relay_of(dp);

	if (r == NULL)
		return;
	if (r->pub != NULL)
		pub_free(r->pub);
	pthread_mutex_destroy(&r->lock);
	free(r);
	dp->relay = NULL;
}

/* ---- look-ups (RCU readers, control thread) ---- */

static struct rc_relay_pub *
pub_of(const struct rc_dp *dp)
{
	struct rc_relay *r = rc_relay_of(dp);

	return r == NULL ? NULL : rcu_dereference(r->pub);
}

int
rc_relay_find_service(struct rc_dp *dp, const char *name, unsigned len)
{
	const struct rc_relay_pub *pub = pub_of(dp);

	for (unsigned i = 0; pub != NULL && i < pub->dir.n_nodes; i++)
		if (pub->service_len[i] == len && len != 0 &&
		    memcmp(pub->dir.nodes[i].service, name, len) == 0)
			return (int)i;
	return -1;
}

int
rc_relay_find_node(struct rc_dp *dp, const char *id)
{
	return id[0] == '\0' ? -1 : index_in(pub_of(dp), id);
}

/* A counter of struct rc_relay.ctrl (any thread). */
static void
count_ctrl(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static void
peer_fill(const struct rc_relay_node *n, unsigned idx, struct rc_peer *out)
{
	memset(out, 0, sizeof(*out));
	out->ip = n->ip;
	out->udp_port = n->udp_port;
	out->port_idx = n->port_idx;
	out->vip = 0;
	out->relay = (uint8_t)(1 + idx);
}

int
rc_relay_peer_of(struct rc_dp *dp, unsigned idx, struct rc_peer *out)
{
	struct rc_relay *r = rc_relay_of(dp);
	const struct rc_relay_pub *pub = pub_of(dp);

	if (pub == NULL || idx >= pub->dir.n_nodes || pub->id_len[idx] == 0) {
		if (r != NULL)
			count_ctrl(&r->ctrl.drops[RC_RELAY_DROP_NO_NODE], 1);
		return -ENOENT;
	}
	peer_fill(&pub->dir.nodes[idx], idx, out);
	if (!rc_neigh_mac(r, idx, &out->mac)) {
		count_ctrl(&r->ctrl.drops[RC_RELAY_DROP_NO_NEIGH], 1);
		return -EHOSTUNREACH;
	}
	return 0;
}

const char *
rc_relay_scope_service(struct rc_dp *dp, unsigned scope)
{
	const struct rc_relay_pub *pub = pub_of(dp);

	return pub == NULL || scope >= RC_MAX_SCOPES ? "" : pub->dir.service[scope];
}

/* ---- RX (worker) ---- */

/* The directory index of the envelope's sender, which must send from its own address. */
static int
sender_of(const struct rc_relay_pub *pub, const struct rc_peer *peer,
	  const struct rc_relay_env *e)
{
	for (unsigned i = 0; i < pub->dir.n_nodes; i++)
		if (pub->dir.nodes[i].ip == peer->ip && pub->id_len[i] != 0)
			return pub->id_len[i] == e->sender_len &&
					       memcmp(pub->dir.nodes[i].id, e->sender,
						      e->sender_len) == 0
				       ? (int)i
				       : -1;
	return -1;
}

/* The replay window of (address vip, sender idx, lane of c) on worker w, emptied when idx
 * changed node. */
static struct rc_relay_window *
window_of(struct rc_worker *w, const struct rc_relay_pub *pub, unsigned vip, unsigned idx,
	  uint64_t c)
{
	unsigned lane = (unsigned)(c & ((1u << RC_RELAY_LANE_BITS) - 1));

	if (lane >= RC_RELAY_LANES)
		return NULL;
	if (w->relay.win_gen[idx] != pub->gen[idx]) {
		for (unsigned v = 0; v < 2; v++)
			memset(w->relay.win[v][idx], 0, sizeof(w->relay.win[v][idx]));
		w->relay.win_gen[idx] = pub->gen[idx];
	}
	return &w->relay.win[vip & 1][idx][lane];
}

/*
 * The tag of a datagram from node idx to our address vip: sealed with the pair key (us, it),
 * or, sent to our HA peer's address while we serve it, with the pair key (peer, it): the
 * sender addressed the node whose service it wanted, and it does not know the address moved.
 */
static bool
tag_ok(const struct rc_relay_pub *pub, unsigned w, unsigned vip, unsigned idx,
       const uint8_t *p, const struct rc_relay_env *e)
{
	const struct rc_relay_node *node = &pub->dir.nodes[idx];
	struct rc_hmac_keyed *k = NULL;
	uint8_t tag[RC_RELAY_TAG_LEN];
	size_t n = (size_t)(e->tag - p);
	int rc;

	if (vip != 0 && !has_peer_key(node))
		return false;
	if (w < RC_DP_MAX_WORKERS)
		k = vip != 0 ? pub->peer_mac[w][idx] : pub->mac[w][idx];
	rc = k != NULL ? rc_relay_tag_keyed(k, p, n, tag)
		       : rc_relay_tag(vip != 0 ? node->peer_key : node->key, p, n, tag);
	return rc == 0 && rc_relay_tag_equal(tag, e->tag);
}

/* The sender's index of a verified envelope e at p[0..len), or -1 - the drop reason. */
static int
verify(const struct rc_relay_pub *pub, struct rc_worker *w, const struct rc_peer *peer,
       const uint8_t *p, uint16_t len, struct rc_relay_env *e)
{
	struct rc_relay_window *win;
	int idx;

	if (rc_relay_get(p, len, e) != 0)
		return -1 - RC_RELAY_DROP_MALFORMED;
	idx = pub == NULL ? -1 : sender_of(pub, peer, e);
	if (idx < 0)
		return -1 - RC_RELAY_DROP_BAD_SENDER;
	if (e->key_id != pub->dir.nodes[idx].key_id)
		return -1 - RC_RELAY_DROP_BAD_KEY;
	win = window_of(w, pub, peer->vip, (unsigned)idx, e->counter);
	if (win == NULL || !rc_relay_window_fresh(win, e->counter))
		return -1 - RC_RELAY_DROP_REPLAY;
	if (!tag_ok(pub, w->idx, peer->vip & 1, (unsigned)idx, p, e))
		return -1 - RC_RELAY_DROP_BAD_TAG;
	rc_relay_window_accept(win, e->counter);
	return idx;
}

void
rc_relay_input(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
	       const uint8_t *p, uint16_t len)
{
	const struct rc_relay_pub *pub = pub_of(dp);
	struct rc_relay_env e;
	struct rc_peer from;
	int idx = verify(pub, w, peer, p, len, &e);

	if (idx < 0) {
		w->relay_stats.drops[-1 - idx]++;
		return;
	}
	w->relay_stats.dgrams_in++;
	w->relay_stats.bytes_in += len;
	peer_fill(&pub->dir.nodes[idx], (unsigned)idx, &from);
	from.port_idx = peer->port_idx;
	from.mac = peer->mac;
	rc_relay_inner(dp, w, (unsigned)idx, &from, e.bundle, e.bundle_len);
}

/* ---- TX ---- */

static uint64_t
next_counter(uint64_t *next, unsigned lane)
{
	if (*next == 0)
		*next = rc_wall_us(); /* above whatever a previous run of this node sent */
	return (*next)++ << RC_RELAY_LANE_BITS | lane;
}

/* The node of relay peer `to` in pub, or NULL. */
static const struct rc_relay_node *
node_of(const struct rc_relay_pub *pub, const struct rc_peer *to)
{
	unsigned idx = rc_relay_idx(to);

	if (pub == NULL || idx >= pub->dir.n_nodes || pub->id_len[idx] == 0)
		return NULL;
	return &pub->dir.nodes[idx];
}

/* The header for `to` at buf[0..cap); its length or -errno. */
static ssize_t
put_hdr(const struct rc_relay_pub *pub, const struct rc_peer *to, uint8_t *buf, size_t cap)
{
	const struct rc_relay_node *n = node_of(pub, to);

	if (n == NULL)
		return -ENOENT;
	return rc_relay_put_hdr(buf, cap, n->key_id, 0, pub->dir.self_id, pub->self_len);
}

int
rc_relay_open(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to,
	      struct rte_mbuf *m)
{
	const struct rc_relay_pub *pub = pub_of(dp);
	uint8_t hdr[RC_RELAY_FIXED_LEN + 1 + RC_RELAY_MAX_SENDER];
	ssize_t n = put_hdr(pub, to, hdr, sizeof(hdr));
	char *dst;

	if (n < 0) {
		w->relay_stats.drops[RC_RELAY_DROP_NO_NODE]++;
		return (int)n;
	}
	dst = rte_pktmbuf_append(m, (uint16_t)n);
	if (dst == NULL)
		return -ENOBUFS;
	memcpy(dst, hdr, (size_t)n);
	return 0;
}

/*
 * Counter, key id and tag of the envelope in m's payload, sealed with key k (NULL: the
 * one-shot MAC with the node's key). The frame goes to the node's MAC as last learned.
 */
static int
seal(struct rc_relay *r, const struct rc_relay_pub *pub, struct rc_peer *to,
     struct rte_mbuf *m, uint64_t counter, struct rc_hmac_keyed *k)
{
	const struct rc_relay_node *n = node_of(pub, to);
	uint8_t *p = rte_pktmbuf_mtod_offset(m, uint8_t *, RC_L2L4_LEN);
	uint16_t len = rc_pkt_payload_len(m);
	uint8_t *tag;

	if (n == NULL)
		return -ENOENT;
	if (!rc_neigh_mac(r, rc_relay_idx(to), &to->mac) && rte_is_zero_ether_addr(&to->mac))
		return -EHOSTUNREACH;
	tag = (uint8_t *)rte_pktmbuf_append(m, RC_RELAY_TAG_LEN);
	if (tag == NULL)
		return -ENOBUFS;
	p[3] = n->key_id;
	rc_relay_set_counter(p, counter);
	return k != NULL ? rc_relay_tag_keyed(k, p, len, tag)
			 : rc_relay_tag(n->key, p, len, tag);
}

static enum rc_relay_drop
drop_reason(int rc)
{
	switch (rc) {
	case -ENOENT:
		return RC_RELAY_DROP_NO_NODE;
	case -EHOSTUNREACH:
		return RC_RELAY_DROP_NO_NEIGH;
	default:
		return RC_RELAY_DROP_TOO_BIG; /* no room for the tag, or no MAC computed */
	}
}

int
rc_relay_seal(struct rc_dp *dp, struct rc_worker *w, struct rc_peer *to, struct rte_mbuf *m)
{
	struct rc_relay *r = rc_relay_of(dp);
	const struct rc_relay_pub *pub = pub_of(dp);
	unsigned idx = rc_relay_idx(to);
	struct rc_hmac_keyed *k;
	int rc;

	if (node_of(pub, to) == NULL) {
		w->relay_stats.drops[RC_RELAY_DROP_NO_NODE]++;
		return -ENOENT;
	}
	k = w->idx < RC_DP_MAX_WORKERS ? pub->mac[w->idx][idx] : NULL;
	rc = seal(r, pub, to, m, next_counter(&w->relay.counter[idx], w->idx), k);
	if (rc != 0) {
		w->relay_stats.drops[drop_reason(rc)]++;
		return rc;
	}
	w->relay_stats.dgrams_out++;
	w->relay_stats.bytes_out += rc_pkt_payload_len(m);
	return 0;
}

int
rc_relay_wrap(struct rc_dp *dp, struct rc_peer *to, struct rte_mbuf *m, const uint8_t *bundle,
	      uint16_t len)
{
	struct rc_relay *r = rc_relay_of(dp);
	const struct rc_relay_pub *pub;
	uint8_t *dst;
	ssize_t n;
	int rc;

	if (r == NULL)
		return -ENOENT;
	pthread_mutex_lock(&r->lock);
	pub = r->pub;
	dst = rte_pktmbuf_mtod_offset(m, uint8_t *, rte_pktmbuf_data_len(m));
	n = put_hdr(pub, to, dst, rte_pktmbuf_tailroom(m));
	rc = n < 0 ? (int)n : 0;
	if (rc == 0 && (size_t)n + len + RC_RELAY_TAG_LEN > RC_MAX_DGRAM)
		rc = -EMSGSIZE;
	if (rc == 0 && rte_pktmbuf_append(m, (uint16_t)(n + len)) == NULL)
		rc = -ENOBUFS;
	if (rc == 0) {
		memcpy(dst + n, bundle, len);
		rc = seal(r, pub, to, m,
			  next_counter(&r->ctrl_counter[rc_relay_idx(to)], RC_RELAY_LANE_CTRL),
			  NULL);
	}
	pthread_mutex_unlock(&r->lock);
	if (rc != 0) {
		count_ctrl(&r->ctrl.drops[drop_reason(rc)], 1);
		return rc;
	}
	count_ctrl(&r->ctrl.dgrams_out, 1);
	count_ctrl(&r->ctrl.bytes_out, rc_pkt_payload_len(m));
	return 0;
}

/* ---- counters ---- */

static const char *const drop_names[RC_RELAY_DROP_MAX] = {
	[RC_RELAY_DROP_MALFORMED] = "relay_malformed",
	[RC_RELAY_DROP_BAD_SENDER] = "relay_bad_sender",
	[RC_RELAY_DROP_BAD_KEY] = "relay_bad_key",
	[RC_RELAY_DROP_BAD_TAG] = "relay_bad_tag",
	[RC_RELAY_DROP_REPLAY] = "relay_replay",
	[RC_RELAY_DROP_NO_NEIGH] = "relay_no_neigh",
	[RC_RELAY_DROP_NO_NODE] = "relay_no_node",
	[RC_RELAY_DROP_TOO_BIG] = "relay_too_big",
};

const char *
rc_relay_drop_name(unsigned reason)
{
	if (reason >= RC_RELAY_DROP_MAX || drop_names[reason] == NULL)
		return "?";
	return drop_names[reason];
}

static void
stats_add(struct rc_relay_stats *out, const struct rc_relay_stats *s)
{
	const uint64_t *in = (const uint64_t *)s;
	uint64_t *o = (uint64_t *)out;

	for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
		o[k] += __atomic_load_n(&in[k], __ATOMIC_RELAXED);
}

void
rc_relay_stats_sum(const struct rc_dp *dp, struct rc_relay_stats *out)
{
	const struct rc_relay *r = rc_relay_of(dp);

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < dp->n_workers; i++)
		stats_add(out, &dp->workers[i]->relay_stats);
	if (r != NULL)
		stats_add(out, &r->ctrl);
}
