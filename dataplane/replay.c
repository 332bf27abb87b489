/* SPDX-License-Identifier: MIT */
#include "replay.h"

#include <errno.h>
#include <string.h>

static void
replay_flush(struct rc_replay *rp, const struct rc_reply_ctx *c)
{
	struct rc_dp *dp = rp->dp;
	struct rte_mbuf *m = rp->m;
	struct rc_worker *w;

	if (m == NULL)
		return;
	rp->m = NULL;
	rc_pkt_finish(m, &dp->ports[c->peer.port_idx].local, &c->peer);
	m->port = c->peer.port_idx;
	w = dp->workers[c->rx_worker];
	if (rc_worker_push(w, w->tx, m) != 0) {
		rte_pktmbuf_free(m);
		rp->dropped++;
		return;
	}
	rp->sent++;
}

static int
replay_append(struct rc_replay *rp, const struct rc_reply_ctx *c, const struct rc_msg *msg)
{
	uint8_t buf[RC_MAX_DGRAM];
	ssize_t n = rc_encode(buf, sizeof(buf), msg);
	char *dst;

	if (n < 0)
		return (int)n;
	if (c->peer.relay != 0) { /* another node's: one sealed envelope each (relay.h) */
		if (rc_dp_send_msg(rp->dp, c->rx_worker, &c->peer, msg) != 0) {
			rp->dropped++;
			return -ENOBUFS;
		}
		rp->sent++;
		return 0;
	}
	if (rp->m != NULL && rc_pkt_payload_len(rp->m) + n > RC_MAX_DGRAM)
		replay_flush(rp, c);
	if (rp->m == NULL) {
		rp->m = rte_pktmbuf_alloc(rp->dp->mbuf_pool);
		if (rp->m == NULL || rc_pkt_init(rp->m) == NULL) {
			rte_pktmbuf_free(rp->m);
			rp->m = NULL;
			rp->dropped++;
			return -ENOBUFS;
		}
	}
	dst = rte_pktmbuf_append(rp->m, (uint16_t)n);
	if (dst == NULL)
		return -ENOBUFS;
	memcpy(dst, buf, (size_t)n);
	return 0;
}

static int
replay_emit(void *arg, const struct rc_hist_req *r, const struct rc_wal_msg *s)
{
	const struct rc_reply_ctx *c = (const struct rc_reply_ctx *)r->ctx;
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_DELIVER;
	m.hdr.session = c->session;
	m.hdr.request_id = c->request_id;
	m.u.deliver.room_id = c->alias != 0 ? c->alias : s->room_id; /* a relayed request */
	m.u.deliver.seq = s->seq;
	m.u.deliver.ts_ms = s->ts_ms;
	m.u.deliver.cmid = s->cmid;
	m.u.deliver.sender = s->user;
	m.u.deliver.body = s->body;
	/* a datagram lost here is a gap the client fills with FETCH: keep going */
	replay_append(arg, c, &m);
	return 0;
}

static void
replay_end(void *arg, const struct rc_hist_req *r, unsigned count, uint64_t next_seq, int err)
{
	const struct rc_reply_ctx *c = (const struct rc_reply_ctx *)r->ctx;
	struct rc_replay *rp = arg;
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.session = c->session;
	m.hdr.request_id = c->request_id;
	if (err != 0) {
		m.hdr.type = RC_T_ERROR;
		m.u.error.code = RC_E_BUSY;
		m.u.error.ref_type = r->reply_type;
		m.u.error.text.p = "history unavailable, retry";
		m.u.error.text.len = (uint16_t)strlen(m.u.error.text.p);
	} else {
		m.hdr.type = RC_T_FETCH_END;
		m.u.fetch_end.room_id = c->alias != 0 ? c->alias : r->room_id;
		m.u.fetch_end.from_seq = r->from_seq;
		m.u.fetch_end.next_seq = next_seq;
		m.u.fetch_end.last_seq = r->to_seq;
		m.u.fetch_end.count = (uint16_t)count;
	}
	replay_append(rp, c, &m);
	replay_flush(rp, c);
}

const struct rc_history_ops rc_replay_ops = {
	.emit = replay_emit,
	.end = replay_end,
};
