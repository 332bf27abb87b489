/* SPDX-License-Identifier: MIT */
/*
 * roomcast-gen's worker lcore: one loop, burst RX then the phase's work then burst TX, with
 * an idle pause after idle_polls empty polls (two pollers share a core on small machines).
 * Phases, in order: ARP (the node's MAC), LOGIN (every user), JOIN (creators first, then
 * every membership), POST (until every POST is sent, or --duration), DRAIN (the missing
 * ACKs and DELIVERs, resends included, at most --drain), LOGOUT, DONE; FAILED when the setup
 * does not finish in --setup-timeout or the node refuses it.
 */
#include <string.h>
#include <sys/prctl.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "gen.h"

#define LOGINS_INFLIGHT 64
#define JOINS_PER_TICK 256
#define LOGOUT_WAIT_MS 300
#define RX_BURSTS 8

bool
rg_tx(struct rg_gen *g, unsigned q, struct rte_mbuf *m)
{
	struct rg_txq *t = &g->txq[q];

	if (t->n == RG_TXQ) {
		rte_pktmbuf_free(m);
		return false;
	}
	t->m[t->n++] = m;
	return true;
}

/* What the TX queues take now; the rest waits for the next loop. */
static unsigned
tx_flush(struct rg_gen *g)
{
	unsigned q, total = 0;
	uint16_t sent;

	for (q = 0; q < g->o->queues; q++) {
		struct rg_txq *t = &g->txq[q];

		if (t->n == 0)
			continue;
		sent = rte_eth_tx_burst(g->port_id, (uint16_t)q, t->m,
					(uint16_t)RTE_MIN(t->n, 512u));
		if (sent < t->n)
			memmove(t->m, t->m + sent, (t->n - sent) * sizeof(t->m[0]));
		t->n -= sent;
		total += sent;
	}
	RG_ADD(g, tx_frames, total);
	return total;
}

static unsigned
tx_pending(const struct rg_gen *g)
{
	unsigned q, n = 0;

	for (q = 0; q < g->o->queues; q++)
		n += g->txq[q].n;
	return n;
}

static void
set_phase(struct rg_gen *g, enum rg_phase ph, uint64_t now)
{
	RG_SET(g, phase, ph);
	g->t_phase = now;
}

static bool
elapsed(const struct rg_gen *g, uint64_t since, uint64_t now, double s)
{
	return (double)(now - since) > s * (double)g->hz;
}

static void
step_arp(struct rg_gen *g, uint64_t now)
{
	struct rte_mbuf *m;
	unsigned i;

	if (!rte_is_zero_ether_addr(&g->node_mac)) {
		for (i = 0; i < g->o->users; i++)
			rg_net_user_hdr(g, &g->users[i]);
		set_phase(g, RG_PH_LOGIN, now);
		return;
	}
	if (g->t_phase != 0 && now - g->t_phase < g->resend_cyc / 4)
		return;
	g->t_phase = now;
	m = rg_net_arp(g, false, NULL, g->o->client_ip, g->o->server_ip);
	if (m != NULL)
		rg_tx(g, 0, m);
}

static void
step_login(struct rg_gen *g, uint64_t now)
{
	unsigned i, inflight = 0;

	for (i = 0; i < g->o->users; i++) {
		struct rg_user *u = &g->users[i];

		if (u->state == RG_U_LOGIN) {
			inflight++;
			if (now - u->tx_tsc > g->resend_cyc)
				rg_send_login(g, u, now);
		}
	}
	for (i = g->next_login; i < g->o->users && inflight < LOGINS_INFLIGHT; i++, inflight++)
		rg_send_login(g, &g->users[i], now);
	g->next_login = i;
	if (RG_GET(g, logged_in) == g->o->users)
		set_phase(g, RG_PH_JOIN, now);
}

/* Send u's JOINs that are due: never sent, or unanswered for resend_ms; a room only once
 * its creator's JOIN created it. */
static unsigned
joins_of(struct rg_gen *g, unsigned i, uint64_t now, unsigned budget)
{
	struct rg_user *u = &g->users[i];
	unsigned j, sent = 0;

	for (j = 0; j < g->o->rooms_per_user && sent < budget; j++) {
		const struct rg_room *rm = &g->rooms[(i + j) % g->o->rooms];
		uint64_t t = u->join_tsc[j];

		if (t == UINT64_MAX || (t != 0 && now - t <= g->resend_cyc))
			continue;
		if (!rm->created && rm->creator != i)
			continue;
		if (rg_send_join(g, u, j, now) == 0)
			sent++;
	}
	return sent;
}

static void
step_join(struct rg_gen *g, uint64_t now)
{
	unsigned n, budget = JOINS_PER_TICK;

	for (n = 0; n < g->o->users && budget > 0; n++) {
		budget -= joins_of(g, g->next_join_user, now, budget);
		g->next_join_user = (g->next_join_user + 1) % g->o->users;
	}
	if (RG_GET(g, joined) == RG_GET(g, joins_wanted)) {
		set_phase(g, RG_PH_POST, now);
		g->t_tokens = now;
		g->tokens = 0;
	}
}

/* How many POSTs the rate lets go now (all of them without a rate). */
static unsigned
rate_allows(struct rg_gen *g, uint64_t now, unsigned want)
{
	double cap = (double)g->o->bundle * RG_BURST;

	if (g->o->rate <= 0)
		return want;
	g->tokens += (double)(now - g->t_tokens) * g->o->rate / (double)g->hz;
	g->t_tokens = now;
	if (g->tokens > cap)
		g->tokens = cap;
	return g->tokens < (double)want ? (unsigned)g->tokens : want;
}

/* Up to RG_BURST datagrams of POSTs, round-robin over the posters. */
static unsigned
post_burst(struct rg_gen *g, uint64_t now)
{
	unsigned dgrams = 0, tried, n, sent;

	for (tried = 0; tried < g->o->posters && dgrams < RG_BURST; tried++) {
		if (!rg_tx_room(g, g->users[g->next_poster].q))
			break;
		n = rate_allows(g, now, g->o->bundle);
		if (n == 0)
			break;
		sent = rg_send_posts(g, &g->users[g->next_poster], n, now);
		g->next_poster = (g->next_poster + 1) % g->o->posters;
		if (sent) {
			g->tokens -= g->o->rate > 0 ? sent : 0;
			dgrams++;
			tried = 0;
		}
	}
	return dgrams;
}

static bool
all_answered(struct rg_gen *g)
{
	return RG_GET(g, posts_acked) + RG_GET(g, posts_failed) == RG_GET(g, posts_sent);
}

/* The periodic part of POST and DRAIN: resends, and the end of the phase. */
static void
tick_post(struct rg_gen *g, uint64_t now)
{
	unsigned i;

	if (now - g->t_resend > g->resend_cyc / 8) { /* a scan of every window: not each tick */
		for (i = 0; i < g->o->posters; i++)
			rg_resend_posts(g, &g->users[i], now);
		g->t_resend = now;
	}
	if (RG_GET(g, phase) == RG_PH_POST) {
		if ((RG_GET(g, posts_sent) == g->o->posts && all_answered(g)) ||
		    elapsed(g, g->t_phase, now, g->o->duration_s)) {
			g->t_post_end = now;
			set_phase(g, RG_PH_DRAIN, now);
		}
		return;
	}
	if ((all_answered(g) && RG_GET(g, deliveries) >= RG_GET(g, deliveries_expected)) ||
	    elapsed(g, g->t_phase, now, g->o->drain_s))
		set_phase(g, g->o->logout ? RG_PH_LOGOUT : RG_PH_DONE, now);
}

static void
step_logout(struct rg_gen *g, uint64_t now)
{
	unsigned i;

	for (i = 0; i < g->o->users; i++) {
		struct rg_user *u = &g->users[i];

		if (u->state == RG_U_IN && u->tx_tsc < g->t_phase && rg_tx_room(g, u->q))
			rg_send_logout(g, u, now);
	}
	if (RG_GET(g, byes) >= g->o->users || elapsed(g, g->t_phase, now, LOGOUT_WAIT_MS / 1e3))
		set_phase(g, RG_PH_DONE, now);
}

/* Sessions that sent nothing for a third of their idle timeout PING: a member that does not
 * post would expire and leave its rooms. */
static void
keepalive(struct rg_gen *g, uint64_t now)
{
	unsigned i;

	if (g->keepalive_cyc == 0 || now - g->t_keepalive < g->hz / 4)
		return;
	g->t_keepalive = now;
	for (i = 0; i < g->o->users; i++) {
		struct rg_user *u = &g->users[i];

		if (u->state == RG_U_IN && now - u->req_tsc > g->keepalive_cyc &&
		    rg_tx_room(g, u->q))
			rg_send_ping(g, u, now);
	}
}

/* The phase's periodic work (every millisecond or so). */
static void
tick(struct rg_gen *g, uint64_t now)
{
	enum rg_phase ph = (enum rg_phase)RG_GET(g, phase);

	if (ph <= RG_PH_JOIN && elapsed(g, g->t_start, now, g->o->setup_s)) {
		g->fail_msg = ph == RG_PH_ARP ? "no ARP reply from the node"
			      : ph == RG_PH_LOGIN ? "not every user logged in"
						  : "not every JOIN was answered";
		set_phase(g, RG_PH_FAILED, now);
		return;
	}
	if (ph >= RG_PH_LOGIN && ph <= RG_PH_DRAIN)
		keepalive(g, now);
	switch (ph) {
	case RG_PH_ARP: step_arp(g, now); break;
	case RG_PH_LOGIN: step_login(g, now); break;
	case RG_PH_JOIN: step_join(g, now); break;
	case RG_PH_POST: case RG_PH_DRAIN: tick_post(g, now); break;
	case RG_PH_LOGOUT: step_logout(g, now); break;
	default: break;
	}
}

/* Up to RX_BURSTS bursts: a fan-out arrives in floods, and the node drops what does not fit
 * the ring (its tx_full). */
static unsigned
rx_burst(struct rg_gen *g, uint64_t now)
{
	struct rte_mbuf *pkts[RG_BURST];
	unsigned total = 0, b, q;
	uint16_t n, i;

	for (q = 0; q < g->o->queues; q++)
		for (b = 0; b < RX_BURSTS; b++) {
			n = rte_eth_rx_burst(g->port_id, (uint16_t)q, pkts, RG_BURST);
			for (i = 0; i < n; i++)
				rg_net_rx(g, pkts[i], now);
			if (n == 0)
				break;
			rte_pktmbuf_free_bulk(pkts, n);
			total += n;
			if (n < RG_BURST)
				break;
		}
	RG_ADD(g, rx_frames, total);
	return total;
}

int
rg_run_worker(void *arg)
{
	struct rg_gen *g = arg;
	uint64_t now = rte_rdtsc(), next_tick = now, tick_cyc = g->hz / 1000;
	unsigned idle = 0, work;
	enum rg_phase ph;

	/* the pause is short: without this the kernel may add its default 50 us of timer slack
	 * to it, and to every receive time measured after one */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	g->t_start = now;
	RG_SET(g, joins_wanted, (uint64_t)g->o->users * g->o->rooms_per_user);
	set_phase(g, RG_PH_ARP, 0);
	while ((ph = (enum rg_phase)RG_GET(g, phase)) != RG_PH_DONE && ph != RG_PH_FAILED) {
		now = rte_rdtsc();
		work = rx_burst(g, now);
		if (ph == RG_PH_POST)
			work += post_burst(g, now);
		if (now >= next_tick) {
			tick(g, now);
			next_tick = now + tick_cyc;
		}
		work += tx_flush(g);
		if (g->stop)
			set_phase(g, RG_PH_DONE, now);
		if (work != 0 || g->o->idle_sleep_us == 0) {
			idle = 0;
		} else if (++idle >= g->o->idle_polls) {
			rte_delay_us_sleep(g->o->idle_sleep_us);
		}
	}
	while (tx_pending(g) && tx_flush(g)) /* the last LOGOUTs */
		;
	return ph == RG_PH_FAILED ? -1 : 0;
}
