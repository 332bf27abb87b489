/* SPDX-License-Identifier: MIT */
/*
 * The room directory of the cluster (PROTOCOL.md 11): the rooms every other node of the relay
 * directory hosts, as that node last listed them. Every RC_ROOM_DIR_PERIOD_MS the control
 * thread asks each of them with a node-level ROOMS over the relay (header session 0, request
 * id = the query's number); each answers ROOM_LISTs of the rooms it hosts (rc_node_list_rooms,
 * never its remote copies), which come back here (RC_WORK_ROOM_DIR) and replace that node's
 * list once its last one (no MORE) arrived. A client's ROOMS gets ours and these, merged,
 * sorted and without repeats; a node not heard for three periods is left out (it is down, or
 * its rooms moved to its peer, which lists them).
 *
 * Control thread only: no lock.
 */
#include "node.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "relay.h"
#include "room_table.h"

#define RC_ROOM_DIR_PERIOD_MS 2000
#define RC_ROOM_DIR_MAX_ROOMS 4096 /* per node: more are left out of the directory */

struct dir_room {
	uint8_t len;
	char name[RC_MAX_ROOM];
	uint64_t last_seq;
};

struct dir_list {
	struct dir_room *rooms;
	unsigned n, cap;
};

struct dir_node {
	struct dir_list heard;    /* its last complete list */
	struct dir_list building; /* the answer being received */
	uint32_t asked;           /* request id of the last ROOMS sent to it (0: none) */
	uint32_t building_for;    /* request id the building list answers */
	uint64_t heard_ms;        /* when its last complete list arrived (0: never) */
};

struct rc_room_dir {
	struct dir_node node[RC_RELAY_MAX_NODES];
	uint64_t polled_ms;
	uint32_t next_rid;
};

static struct rc_room_dir *
dir_of(struct rc_node *n)
{
	if (n->room_dir == NULL)
		n->room_dir = calloc(1, sizeof(*n->room_dir));
	return n->room_dir;
}

void
rc_room_dir_free(struct rc_node *n)
{
	struct rc_room_dir *d = n->room_dir;

	if (d == NULL)
		return;
	for (unsigned i = 0; i < RC_RELAY_MAX_NODES; i++) {
		free(d->node[i].heard.rooms);
		free(d->node[i].building.rooms);
	}
	free(d);
	n->room_dir = NULL;
}

void
rc_room_dir_poll(struct rc_node *n, uint64_t now_ms)
{
	struct rc_room_dir *d;
	struct rc_peer to;
	struct rc_msg m;
	int idx;

	if (n->relay_dir == NULL || n->relay_dir->n_nodes == 0 || (d = dir_of(n)) == NULL ||
	    now_ms - d->polled_ms < RC_ROOM_DIR_PERIOD_MS)
		return;
	d->polled_ms = now_ms;
	for (unsigned i = 0; i < n->relay_dir->n_nodes; i++) {
		idx = rc_relay_find_node(&n->dp, n->relay_dir->nodes[i].id);
		if (idx < 0 || rc_relay_peer_of(&n->dp, (unsigned)idx, &to) != 0)
			continue; /* its MAC comes with the next ARP answer */
		memset(&m, 0, sizeof(m));
		m.hdr.type = RC_T_ROOMS;
		m.hdr.request_id = ++d->next_rid == 0 ? ++d->next_rid : d->next_rid;
		if (rc_dp_send_msg(&n->dp, 0, &to, &m) == 0)
			d->node[idx].asked = m.hdr.request_id;
	}
}

static void
list_add(struct dir_list *l, const struct rc_str *name, uint64_t last_seq)
{
	struct dir_room *r;

	if (l->n == l->cap) {
		unsigned cap = l->cap == 0 ? 64 : l->cap * 2;

		if (cap > RC_ROOM_DIR_MAX_ROOMS || name->len > RC_MAX_ROOM ||
		    (r = realloc(l->rooms, cap * sizeof(*r))) == NULL)
			return;
		l->rooms = r;
		l->cap = cap;
	}
	r = &l->rooms[l->n++];
	r->len = (uint8_t)name->len;
	memcpy(r->name, name->p, name->len);
	r->last_seq = last_seq;
}

void
rc_room_dir_heard(struct rc_node *n, struct rc_work *wk)
{
	const struct rc_msg *m = &wk->req;
	struct rc_room_dir *d = dir_of(n);
	unsigned idx = wk->who.peer.relay - 1u;
	struct dir_node *dn;
	struct dir_list swap;
	struct rc_str name;
	uint64_t last_seq;
	size_t off = 0;

	if (d == NULL || m->hdr.type != RC_T_ROOM_LIST || wk->who.peer.relay == 0 ||
	    idx >= RC_RELAY_MAX_NODES)
		return;
	dn = &d->node[idx];
	if (m->hdr.request_id == 0 || m->hdr.request_id != dn->asked)
		return; /* an answer to an older query: the newer one follows */
	if (dn->building_for != m->hdr.request_id) {
		dn->building.n = 0;
		dn->building_for = m->hdr.request_id;
	}
	while (rc_room_list_next(m, &off, &name, &last_seq))
		list_add(&dn->building, &name, last_seq);
	if (m->hdr.flags & RC_F_MORE)
		return;
	swap = dn->heard;
	dn->heard = dn->building;
	dn->building = swap;
	dn->building.n = 0;
	dn->building_for = 0;
	dn->heard_ms = rc_mono_ms();
}

static bool
prefixed(const char *p, unsigned len, const struct rc_str *prefix)
{
	return len >= prefix->len && memcmp(p, prefix->p, prefix->len) == 0;
}

unsigned
rc_room_dir_pick(struct rc_node *n, const struct rc_str *prefix, struct rc_room_entry *out,
		 unsigned cap)
{
	struct rc_room_dir *d = n->room_dir;
	uint64_t now = rc_mono_ms();
	unsigned k = 0;

	if (d == NULL)
		return 0;
	for (unsigned i = 0; i < RC_RELAY_MAX_NODES; i++) {
		const struct dir_node *dn = &d->node[i];

		if (dn->heard_ms == 0 || now - dn->heard_ms > 3 * RC_ROOM_DIR_PERIOD_MS)
			continue;
		for (unsigned j = 0; j < dn->heard.n && k < cap; j++) {
			const struct dir_room *r = &dn->heard.rooms[j];

			if (!prefixed(r->name, r->len, prefix))
				continue;
			out[k].room.p = r->name;
			out[k].room.len = r->len;
			out[k++].last_seq = r->last_seq;
		}
	}
	return k;
}

unsigned
rc_room_dir_count(const struct rc_node *n)
{
	const struct rc_room_dir *d = n->room_dir;
	unsigned total = 0;

	for (unsigned i = 0; d != NULL && i < RC_RELAY_MAX_NODES; i++)
		total += d->node[i].heard.n;
	return total;
}
