/* SPDX-License-Identifier: MIT */
/*
 * roomcast-gen's requests: the users and rooms set up once (names, tokens, header and POST
 * templates, windows, seq trackers), then LOGIN, JOIN, POST and LOGOUT datagrams. Every
 * request id says what it asks (RG_RID_*) so that a reply, an ERROR included, finds its
 * request without a table. POSTs are copied from their room's template (encoded once with
 * the codec) and patched: session, request id, cmid, send time and index.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "bytes.h"
#include "gen.h"
#include "gen_body.h"
#include "gen_req.h"
#include "token.h"

#define KEY_FILE_MAX 4096

static int
read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return -errno;
	*len = fread(buf, 1, cap, f);
	fclose(f);
	return *len > 0 ? 0 : -EINVAL;
}

/* The tokens key: derived from the node's auth secret, or a tokens key file of its own. */
static int
tokens_key(const struct rg_opts *o, struct rc_key *k)
{
	uint8_t *buf = malloc(KEY_FILE_MAX);
	size_t len = 0;
	int rc;

	if (buf == NULL)
		return -ENOMEM;
	rc = read_file(o->secret_file ? o->secret_file : o->key_file, buf, KEY_FILE_MAX, &len);
	if (rc == 0 && o->secret_file) {
		rc = rc_key_derive(buf, len, RC_KEY_TOKENS, 1, k);
	} else if (rc == 0) {
		if (len < RC_KEY_MIN || len > RC_KEY_MAX)
			rc = -EINVAL;
		k->id = (uint8_t)o->key_id;
		k->len = (unsigned)len;
		memcpy(k->key, buf, len);
	}
	OPENSSL_cleanse(buf, KEY_FILE_MAX);
	free(buf);
	return rc;
}

static int
mint_tokens(struct rg_gen *g)
{
	const struct rg_opts *o = g->o;
	uint64_t now = (uint64_t)time(NULL), life;
	struct rc_key k;
	unsigned i;
	int rc;

	life = 3600 + (uint64_t)(o->setup_s + o->duration_s + o->drain_s);
	if (life > 86400) /* the node's default auth.token_ttl_max_s */
		life = 86400;
	rc = tokens_key(o, &k);
	for (i = 0; rc == 0 && i < o->users; i++) {
		struct rg_user *u = &g->users[i];

		rc = rc_token_mint(&k, u->name, strlen(u->name), now * 1000, now + life, u->token,
				   sizeof(u->token));
		rc = rc < 0 ? rc : 0;
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

bool
rg_room_member(const struct rg_gen *g, unsigned user, unsigned room, unsigned *slot)
{
	unsigned m = g->o->rooms, j = (room + m - user % m) % m;

	if (j >= g->o->rooms_per_user)
		return false;
	if (slot)
		*slot = j;
	return true;
}

static unsigned
hash32(uint32_t v)
{
	v ^= v >> 16;
	v *= 0x7feb352d;
	v ^= v >> 15;
	return v;
}

int
rg_room_index(const struct rg_gen *g, uint32_t room_id)
{
	unsigned i = hash32(room_id) & g->room_map_mask, n;

	for (n = 0; n <= g->room_map_mask; n++, i = (i + 1) & g->room_map_mask) {
		uint32_t v = g->room_map[i];

		if (v == 0)
			return -1;
		if (g->rooms[v - 1].id == room_id)
			return (int)(v - 1);
	}
	return -1;
}

void
rg_room_map_add(struct rg_gen *g, unsigned r)
{
	unsigned i = hash32(g->rooms[r].id) & g->room_map_mask;

	while (g->room_map[i] != 0 && g->room_map[i] != r + 1)
		i = (i + 1) & g->room_map_mask;
	g->room_map[i] = r + 1;
}

/* Room r's POST template: the whole message, encoded once. */
static int
room_template(struct rg_gen *g, struct rg_room *rm)
{
	struct rc_msg m = { .hdr = { .type = RC_T_POST } };
	ssize_t n;

	m.u.post.room = (struct rc_str){ rm->name, rm->name_len };
	m.u.post.cmid = 1;
	m.u.post.body = (struct rc_str){ g->body_tpl, (uint16_t)g->o->body };
	rm->post_tpl = malloc(RC_MAX_DGRAM);
	if (rm->post_tpl == NULL)
		return -ENOMEM;
	n = rc_encode(rm->post_tpl, RC_MAX_DGRAM, &m);
	if (n < 0)
		return (int)n;
	rm->post_len = (uint16_t)n;
	rm->cmid_off = (uint16_t)(RC_HDR_LEN + 1 + rm->name_len);
	rm->body_off = (uint16_t)(rm->cmid_off + 8 + 2);
	return 0;
}

static int
rooms_setup(struct rg_gen *g)
{
	const struct rg_opts *o = g->o;
	unsigned r, i, j, size = 1;

	g->rooms = calloc(o->rooms, sizeof(*g->rooms));
	while (size < 2 * o->rooms)
		size <<= 1;
	g->room_map = calloc(size, sizeof(*g->room_map));
	if (g->rooms == NULL || g->room_map == NULL)
		return -ENOMEM;
	g->room_map_mask = size - 1;
	for (r = 0; r < o->rooms; r++) {
		struct rg_room *rm = &g->rooms[r];
		int n = snprintf(rm->name, sizeof(rm->name), "%s%u", o->room_prefix, r);

		if (n <= 0 || n >= (int)sizeof(rm->name) || n > RC_MAX_ROOM)
			return -ENAMETOOLONG;
		rm->name_len = (uint8_t)n;
		rm->creator = UINT32_MAX;
		for (j = 0; j < o->rooms_per_user; j++)
			for (i = (r + o->rooms - j) % o->rooms; i < o->users; i += o->rooms) {
				rm->members++;
				if (j == 0 && rm->creator == UINT32_MAX)
					rm->creator = i;
			}
		if (rm->members == 0)
			return -ENOENT;
		if (rm->creator == UINT32_MAX) /* no member in slot 0: its first member */
			for (i = 0; i < o->users && rm->creator == UINT32_MAX; i++)
				if (rg_room_member(g, i, r, NULL))
					rm->creator = i;
		if (room_template(g, rm) < 0)
			return -EINVAL;
	}
	return 0;
}

static int
users_setup(struct rg_gen *g)
{
	const struct rg_opts *o = g->o;
	uint64_t rest = o->posts % o->posters;
	unsigned i;

	g->users = calloc(o->users, sizeof(*g->users));
	if (g->users == NULL)
		return -ENOMEM;
	for (i = 0; i < o->users; i++) {
		struct rg_user *u = &g->users[i];

		snprintf(u->name, sizeof(u->name), "%s%u", o->user_prefix, i);
		u->ip = o->client_ip + i / o->users_per_ip;
		u->port = (uint16_t)(o->client_port + i % o->users_per_ip);
		u->q = (uint8_t)(i % o->queues);
		u->quota = i < o->posters ? (uint64_t)o->posts / o->posters + (i < rest) : 0;
		u->join_tsc = calloc(o->rooms_per_user, sizeof(*u->join_tsc));
		u->seq = calloc(o->rooms_per_user, sizeof(*u->seq));
		u->win = calloc(g->win_mask + 1, sizeof(*u->win));
		if (u->join_tsc == NULL || u->seq == NULL || u->win == NULL)
			return -ENOMEM;
	}
	return 0;
}

int
rg_req_setup(struct rg_gen *g)
{
	unsigned w = 1;
	int rc;

	while (w < g->o->window)
		w <<= 1;
	g->win_mask = w - 1;
	g->body_tpl = malloc(g->o->body);
	if (g->body_tpl == NULL)
		return -ENOMEM;
	rg_body_init(g->body_tpl, g->o->body, g->run);
	rc = users_setup(g);
	if (rc == 0)
		rc = rooms_setup(g);
	if (rc == 0)
		rc = mint_tokens(g);
	return rc;
}

void
rg_req_free(struct rg_gen *g)
{
	unsigned i;

	for (i = 0; g->users && i < g->o->users; i++) {
		free(g->users[i].join_tsc);
		free(g->users[i].seq);
		free(g->users[i].win);
	}
	for (i = 0; g->rooms && i < g->o->rooms; i++)
		free(g->rooms[i].post_tpl);
	free(g->users);
	free(g->rooms);
	free(g->room_map);
	free(g->body_tpl);
}

/* A frame to the node from u, its headers from u's template; *payload where the UDP
 * payload goes (RC_MAX_DGRAM bytes of room). NULL when the pool is empty. */
static struct rte_mbuf *
frame_new(struct rg_gen *g, const struct rg_user *u, uint8_t **payload)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g->mp);

	if (m == NULL)
		return NULL;
	memcpy(rte_pktmbuf_mtod(m, uint8_t *), u->hdr, RG_L2L4);
	*payload = rte_pktmbuf_mtod_offset(m, uint8_t *, RG_L2L4);
	return m;
}

/* Encode one request of u into a frame of its own and queue it. */
static int
send_one(struct rg_gen *g, struct rg_user *u, struct rc_msg *msg)
{
	uint8_t *p;
	struct rte_mbuf *m = frame_new(g, u, &p);
	ssize_t n;

	if (m == NULL)
		return -ENOBUFS;
	msg->hdr.session = msg->hdr.type == RC_T_LOGIN || msg->hdr.type == RC_T_LOGIN_COOKIE
				   ? 0 : u->session;
	n = rc_encode(p, RC_MAX_DGRAM, msg);
	if (n < 0) {
		rte_pktmbuf_free(m);
		return (int)n;
	}
	rg_net_finish(m, (uint16_t)n);
	return rg_tx(g, u->q, m) ? 0 : -ENOBUFS;
}

int
rg_send_login(struct rg_gen *g, struct rg_user *u, uint64_t now)
{
	struct rc_msg m = { .hdr = { .type = u->cookie ? RC_T_LOGIN_COOKIE : RC_T_LOGIN,
				     .request_id = RG_RID_LOGIN | (g->run & RG_RID_ARG) } };

	m.u.login.user = (struct rc_str){ u->name, (uint16_t)strlen(u->name) };
	m.u.login.token = (struct rc_str){ u->token, (uint16_t)strlen(u->token) };
	m.u.login.cookie_slot = u->cookie_slot;
	m.u.login.cookie_mac = u->cookie_mac;
	u->tx_tsc = now;
	if (u->state == RG_U_NEW)
		u->state = RG_U_LOGIN;
	return send_one(g, u, &m);
}

int
rg_send_join(struct rg_gen *g, struct rg_user *u, unsigned slot, uint64_t now)
{
	unsigned r = (unsigned)((u - g->users) + slot) % g->o->rooms;
	struct rc_msg m = { .hdr = { .type = RC_T_JOIN, .request_id = RG_RID_JOIN | slot } };

	m.u.join.room = (struct rc_str){ g->rooms[r].name, g->rooms[r].name_len };
	m.u.join.since_seq = 0;
	u->join_tsc[slot] = now;
	u->req_tsc = now;
	return send_one(g, u, &m);
}

int
rg_send_ping(struct rg_gen *g, struct rg_user *u, uint64_t now)
{
	struct rc_msg m = { .hdr = { .type = RC_T_PING, .request_id = RG_RID_LOGOUT } };

	m.u.ping.nonce = now;
	u->req_tsc = now;
	return send_one(g, u, &m);
}

int
rg_send_logout(struct rg_gen *g, struct rg_user *u, uint64_t now)
{
	struct rc_msg m = { .hdr = { .type = RC_T_LOGOUT, .request_id = RG_RID_LOGOUT } };

	u->tx_tsc = now;
	return send_one(g, u, &m);
}

/* POST k of u (its slot already filled) at p: the room's template, patched. */
static uint16_t
write_post(struct rg_gen *g, struct rg_user *u, uint8_t *p, uint64_t k)
{
	const struct rg_slot *s = &u->win[k & g->win_mask];
	const struct rg_room *rm = &g->rooms[s->room];

	memcpy(p, rm->post_tpl, rm->post_len);
	rc_put_be64(p + 8, u->session);
	rc_put_be32(p + 16, RG_RID_POST | (uint32_t)(k & RG_RID_ARG));
	rc_put_be64(p + rm->cmid_off, g->cmid_base + k);
	rg_body_stamp((char *)p + rm->body_off, s->first_tsc,
		      (uint64_t)(u - g->users) << 32 | (k & 0xffffffffu));
	return rm->post_len;
}

/* Claim the next slot of u's window for a new POST to its next room. */
static uint64_t
claim(struct rg_gen *g, struct rg_user *u, uint64_t now)
{
	uint64_t k = u->next_k++;
	struct rg_slot *s = &u->win[k & g->win_mask];

	s->room = (unsigned)((u - g->users) + u->next_slot) % g->o->rooms;
	u->next_slot = (u->next_slot + 1) % g->o->rooms_per_user;
	s->first_tsc = now;
	s->last_tsc = now;
	s->state = RG_SLOT_SENT;
	return k;
}

unsigned
rg_send_posts(struct rg_gen *g, struct rg_user *u, unsigned n, uint64_t now)
{
	uint64_t room = g->o->window - (u->next_k - u->low_k), left = u->quota - u->next_k;
	uint16_t plen = 0;
	struct rte_mbuf *m;
	uint8_t *p;
	unsigned i;

	n = (unsigned)RTE_MIN((uint64_t)n, RTE_MIN(room, left));
	if (n == 0 || (m = frame_new(g, u, &p)) == NULL)
		return 0;
	for (i = 0; i < n; i++)
		plen += write_post(g, u, p + plen, claim(g, u, now));
	rg_net_finish(m, plen);
	(void)rg_tx(g, u->q, m); /* dropped: the slots stay, their resends will go */
	u->req_tsc = now;
	if (g->c.posts_sent == 0)
		RG_SET(g, t_first_post, now);
	RG_ADD(g, posts_sent, n);
	return n;
}

void
rg_resend_posts(struct rg_gen *g, struct rg_user *u, uint64_t now)
{
	uint64_t k;
	struct rte_mbuf *m;
	uint8_t *p;

	for (k = u->low_k; k < u->next_k; k++) {
		struct rg_slot *s = &u->win[k & g->win_mask];

		if (s->state != RG_SLOT_SENT || now - s->last_tsc < g->resend_cyc)
			continue;
		m = frame_new(g, u, &p);
		if (m == NULL)
			return;
		rg_net_finish(m, write_post(g, u, p, k));
		if (!rg_tx(g, u->q, m))
			return;
		s->last_tsc = now;
		RG_INC(g, resends);
	}
}
