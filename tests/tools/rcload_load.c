/* SPDX-License-Identifier: MIT */
/*
 * rcload default mode: N users in one room, M posts each, every delivery checked.
 *
 * Phases: log in and join every client (since_seq 0) and wait until each has its history;
 * post round-robin (user 0..N-1 for post j, then j+1...), at most --window POSTs in flight
 * per client, --bundle-size POSTs per datagram with --bundle; a datagram holding a
 * --resend-every'th POST is sent again byte for byte at once (the node should ignore it
 * while the first copy is being stored) and once more after all its POSTs are acknowledged
 * (the node must answer it with the same ACKs from its dedup window); then wait (bounded by
 * --timeout) until every POST is answered and every client has been handed every
 * acknowledged message (clients that look stuck are told the room's last seq, so that they
 * FETCH the tail).
 *
 * Checks (each failure also gets a "FAIL:" line):
 *   acked     every POST acknowledged (else errors)
 *   delivered every acknowledged message handed to every client, once (missing / dups)
 *   dups      duplicate DELIVERs the library saw outside any range it asked for again, and
 *             messages handed over twice
 *   gaps      jumps in the seqs handed to a client, seqs the library gave up (it FETCHed
 *             them GAP_MAX_TRIES times in vain), holes in the acknowledged seqs not taken
 *             by another poster's messages
 *   order_errors  seqs handed over out of order, two POSTs acknowledged with one seq
 *   resend_mismatch  POSTs acknowledged twice with different seqs, or delivered with a
 *             seq other than their ACK's (a re-sent POST stored twice shows up here)
 *   errors    POSTs that failed, unsolicited ERRORs other than rate limited / busy / not
 *             authenticated (the latter answer datagrams sent with a replaced session),
 *             login failures
 *
 * Single-threaded; every client is polled from one loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rcload.h"

#define SETTLE_MS 300 /* keep listening this long after everything arrived */

struct load;

/* A re-sent datagram, kept to be sent a third time once all its POSTs are acknowledged. */
struct resend {
	unsigned waiting; /* POSTs of the datagram not acknowledged yet */
	uint16_t len;
	uint8_t dgram[];
};

struct post_rec {
	uint64_t cmid;
	uint64_t seq;	      /* from the first ACK */
	uint64_t deliver_seq; /* from the first DELIVER, at any client */
	uint64_t sent_ms;
	uint32_t ack_ms; /* ACK latency */
	uint8_t acks;
	struct resend *again; /* shared by the POSTs of one re-sent datagram */
	bool resent, failed, mismatch, stored_twice;
};

struct lclient {
	struct load *L;
	struct rc_client *c;
	unsigned idx;
	char user[96];
	uint64_t cmid_base; /* cmid of its first post */
	uint64_t join_last; /* JOINED.last_seq */
	uint64_t last;	    /* last seq handed over */
	uint64_t delivered; /* test messages handed over (first time) */
	uint64_t dups, gaps, order;
	unsigned inflight;
	uint8_t *got; /* bitmap over posts i * M + j */
};

struct load {
	const struct rl_opts *o;
	struct rl_report *r;
	struct lclient *cl;
	struct post_rec *rec;
	uint64_t *foreign; /* seqs of other messages handed to client 0 */
	size_t nforeign, capforeign;
	uint64_t acked, failed, resent_dgrams, resent_after_ack, unexpected_errors, rate_errors;
	uint64_t auth_failed;
	uint64_t stale_not_auth;
	uint64_t seq_conflicts;
	uint64_t done_ms; /* when everything had arrived (before the settle period) */
	struct pollfd *pfd;
};

static bool
bit_test_set(uint8_t *bm, size_t i)
{
	bool was = bm[i / 8] & (1u << (i % 8));

	bm[i / 8] |= (uint8_t)(1u << (i % 8));
	return was;
}

static void
note_foreign(struct load *L, uint64_t seq)
{
	if (L->nforeign == L->capforeign) {
		size_t cap = L->capforeign ? L->capforeign * 2 : 256;
		uint64_t *p = realloc(L->foreign, cap * sizeof(*p));

		if (!p)
			return;
		L->foreign = p;
		L->capforeign = cap;
	}
	L->foreign[L->nforeign++] = seq;
}

/* Which test post a delivery is, or -1 (another poster, an earlier run). */
static long
post_index(const struct load *L, const struct rc_delivery *d)
{
	const struct rl_opts *o = L->o;
	unsigned i, j;
	size_t idx;

	if (!rl_parse_body(o->prefix, d->body, &i, &j) || i >= o->users || j >= o->posts)
		return -1;
	idx = (size_t)i * o->posts + j;
	if (strcmp(d->sender, L->cl[i].user) != 0 || L->rec[idx].cmid != d->cmid)
		return -1;
	return (long)idx;
}

static void
on_deliver(void *arg, const struct rc_delivery *d)
{
	struct lclient *cl = arg;
	struct load *L = cl->L;
	struct post_rec *p;
	long idx;

	if (cl->last != 0 && d->seq <= cl->last)
		cl->order++;
	else if (cl->last != 0 && d->seq != cl->last + 1)
		cl->gaps += d->seq - cl->last - 1;
	if (d->seq > cl->last)
		cl->last = d->seq;
	idx = post_index(L, d);
	if (idx < 0) {
		if (cl->idx == 0 && d->seq > cl->join_last)
			note_foreign(L, d->seq);
		return;
	}
	p = &L->rec[idx];
	if (p->deliver_seq == 0) {
		p->deliver_seq = d->seq;
	} else if (p->deliver_seq != d->seq) {
		/* the same POST stored twice (under two seqs): a de-duplication failure */
		if (!p->stored_twice)
			L->seq_conflicts++;
		p->stored_twice = true;
		if (cl->idx == 0)
			note_foreign(L, d->seq); /* its seq is not a hole */
		return;
	}
	if (bit_test_set(cl->got, (size_t)idx)) {
		cl->dups++;
		return;
	}
	cl->delivered++;
}

static struct post_rec *
rec_by_cmid(struct lclient *cl, uint64_t cmid)
{
	struct load *L = cl->L;
	uint64_t j = cmid - cl->cmid_base;
	struct post_rec *p;

	if (cmid < cl->cmid_base || j >= L->o->posts)
		return NULL;
	p = &L->rec[(size_t)cl->idx * L->o->posts + j];
	return p->cmid == cmid ? p : NULL;
}

/* The node ignores a copy that arrives while the first is being stored; once everything in
 * the datagram is acknowledged, the same bytes again must get the same ACKs (dedup window). */
static void
resend_after_ack(struct lclient *cl, struct post_rec *p)
{
	struct resend *r = p->again;

	p->again = NULL;
	if (!r || --r->waiting > 0)
		return;
	rc_client_send_raw(cl->c, r->dgram, r->len);
	cl->L->resent_after_ack++;
	free(r);
}

static void
on_posted(void *arg, const struct rc_post_result *res)
{
	struct lclient *cl = arg;
	struct load *L = cl->L;
	struct post_rec *p = res->late ? rec_by_cmid(cl, res->cmid) : res->tag;

	if (!p)
		return;
	if (res->late) {
		p->acks++;
		if (p->seq != 0 && res->seq != p->seq)
			p->mismatch = true;
		return;
	}
	cl->inflight--;
	if (res->status < 0) {
		if (p->again && --p->again->waiting == 0)
			free(p->again);
		p->again = NULL;
		p->failed = true;
		L->failed++;
		if (L->failed <= 3)
			rl_fail(L->r, "%s: POST cmid %" PRIu64 " failed: %s%s%s", cl->user, p->cmid,
				strerror(-res->status), res->err_code ? ", node said " : "",
				res->err_code ? rc_err_name(res->err_code) : "");
		return;
	}
	p->acks++;
	p->seq = res->seq;
	p->ack_ms = (uint32_t)(rc_mono_ms_precise() - p->sent_ms);
	L->acked++;
	resend_after_ack(cl, p);
}

static void
on_error(void *arg, uint16_t code, uint8_t ref_type, const char *text)
{
	struct lclient *cl = arg;

	if (code == RC_E_RATE_LIMITED || code == RC_E_BUSY) {
		cl->L->rate_errors++;
		return;
	}
	if (code == RC_E_NOT_AUTH) { /* answers a datagram sent with a session since replaced */
		cl->L->stale_not_auth++;
		return;
	}
	if (cl->L->unexpected_errors++ < 3)
		rl_fail(cl->L->r, "%s: unexpected ERROR %u (%s) to %s: %s", cl->user, code,
			rc_err_name(code), rc_msg_type_name(ref_type), text);
}

static void
on_event(void *arg, enum rc_client_event ev, const char *room, uint64_t value)
{
	struct lclient *cl = arg;

	(void)room;
	(void)value;
	if (ev == RC_EV_AUTH_FAILED && cl->L->auth_failed++ == 0)
		rl_fail(cl->L->r, "%s: token refused on re-login", cl->user);
}

/* Poll every client once: wait up to timeout_ms for any socket or timer. */
static void
poll_all(struct load *L, int timeout_ms)
{
	unsigned n = L->o->users;

	for (unsigned i = 0; i < n; i++) {
		int t = rc_client_timeout_ms(L->cl[i].c);

		L->pfd[i] = (struct pollfd){.fd = rc_client_fd(L->cl[i].c), .events = POLLIN};
		if (t >= 0 && t < timeout_ms)
			timeout_ms = t;
	}
	if (poll(L->pfd, n, timeout_ms) < 0)
		return;
	for (unsigned i = 0; i < n; i++)
		if (L->pfd[i].revents || rc_client_timeout_ms(L->cl[i].c) == 0)
			rc_client_poll(L->cl[i].c, 0, NULL);
}

static int
setup(struct load *L)
{
	const struct rl_opts *o = L->o;
	size_t nposts = (size_t)o->users * o->posts;

	L->cl = calloc(o->users, sizeof(*L->cl));
	L->rec = calloc(nposts, sizeof(*L->rec));
	L->pfd = calloc(o->users, sizeof(*L->pfd));
	if (!L->cl || !L->rec || !L->pfd)
		return -ENOMEM;
	for (unsigned i = 0; i < o->users; i++) {
		struct lclient *cl = &L->cl[i];
		struct rc_client_cb cb = {
			.deliver = on_deliver,
			.posted = on_posted,
			.error = on_error,
			.event = on_event,
			.arg = cl,
		};

		cl->L = L;
		cl->idx = i;
		snprintf(cl->user, sizeof(cl->user), "%s%u", o->prefix, i);
		cl->got = calloc((nposts + 7) / 8, 1);
		cl->c = rl_client_new(o, i);
		if (!cl->got || !cl->c) {
			rl_fail(L->r, "client %u: %s", i, strerror(errno));
			return -errno;
		}
		rc_client_set_callbacks(cl->c, &cb);
	}
	return 0;
}

static bool
all_synced(struct load *L)
{
	for (unsigned i = 0; i < L->o->users; i++)
		if (!rc_client_room_synced(L->cl[i].c, L->o->room))
			return false;
	return true;
}

static int
login_all(struct load *L, uint64_t deadline)
{
	for (unsigned i = 0; i < L->o->users; i++) {
		struct lclient *cl = &L->cl[i];
		int rc = rl_login_join(L->o, cl->c, cl->user, L->r, &cl->join_last);

		if (rc < 0)
			return rc;
		poll_all(L, 0);
	}
	while (!all_synced(L) && rc_mono_ms_precise() < deadline)
		poll_all(L, 20);
	if (!all_synced(L))
		rl_fail(L->r, "clients did not receive their join history in time");
	return 0;
}

static size_t
make_body(const struct load *L, unsigned i, unsigned j, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s%u-m%u", L->o->prefix, i, j);
	size_t len = n > 0 ? (size_t)n : 0;

	if (L->o->pad > 0 && len + 1 < RC_MAX_BODY) {
		size_t pad = L->o->pad < RC_MAX_BODY - len - 1 ? L->o->pad : RC_MAX_BODY - len - 1;

		buf[len++] = ' ';
		memset(buf + len, 'x', pad);
		len += pad;
	}
	buf[len] = '\0';
	return len;
}

/* POSTs of one client that fit a datagram together (--bundle). */
static unsigned
bundle_fit(const struct load *L)
{
	struct rc_msg m = {.hdr.type = RC_T_POST};
	char body[RC_MAX_BODY + 64];
	ssize_t one;

	m.u.post.room = (struct rc_str){L->o->room, (uint16_t)strlen(L->o->room)};
	m.u.post.cmid = 1;
	m.u.post.body = (struct rc_str){
		body, (uint16_t)make_body(L, L->o->users, L->o->posts, body, sizeof(body))};
	one = rc_encoded_len(&m);
	if (one <= 0)
		return 1;
	return L->o->bundle < RC_MAX_DGRAM / one ? L->o->bundle : (unsigned)(RC_MAX_DGRAM / one);
}

static int
post_one(struct load *L, struct lclient *cl, unsigned j)
{
	struct post_rec *p = &L->rec[(size_t)cl->idx * L->o->posts + j];
	char body[RC_MAX_BODY + 64];
	size_t len = make_body(L, cl->idx, j, body, sizeof(body));
	int rc;

	while ((rc = rc_client_post_async(cl->c, L->o->room, body, len, p, &p->cmid)) == -EAGAIN)
		poll_all(L, 10);
	if (rc < 0) {
		p->failed = true;
		L->failed++;
		rl_fail(L->r, "%s: cannot post: %s", cl->user, strerror(-rc));
		return rc;
	}
	if (j == 0)
		cl->cmid_base = p->cmid;
	p->sent_ms = rc_mono_ms_precise();
	cl->inflight++;
	return 0;
}

/* Post j..j+n-1 of one client in one datagram (or several when not bundling). */
/* Send the datagram just sent once more now, and keep it for once more after its ACKs. */
static void
resend(struct load *L, struct lclient *cl, unsigned j, unsigned n)
{
	size_t len;
	const uint8_t *dg = rc_client_last_datagram(cl->c, &len);
	struct resend *r = malloc(sizeof(*r) + len);

	if (!r)
		return;
	memcpy(r->dgram, dg, len);
	r->len = (uint16_t)len;
	r->waiting = 0;
	rc_client_send_raw(cl->c, r->dgram, len);
	L->resent_dgrams++;
	for (unsigned k = 0; k < n; k++) {
		struct post_rec *p = &L->rec[(size_t)cl->idx * L->o->posts + j + k];

		p->resent = true;
		if (p->seq == 0 && !p->failed) { /* not acknowledged yet */
			p->again = r;
			r->waiting++;
		}
	}
	if (r->waiting == 0) {
		rc_client_send_raw(cl->c, r->dgram, len);
		L->resent_after_ack++;
		free(r);
	}
}

/* Post j..j+n-1 of one client in one datagram (or several when not bundling). */
static void
post_group(struct load *L, struct lclient *cl, unsigned j, unsigned n, uint64_t *count)
{
	bool again = false;

	while (cl->inflight + n > L->o->window)
		poll_all(L, 10);
	if (n > 1)
		rc_client_cork(cl->c);
	for (unsigned k = 0; k < n; k++) {
		if (post_one(L, cl, j + k) < 0)
			continue;
		if (L->o->resend_every && ++*count % L->o->resend_every == 0)
			again = true;
	}
	if (n > 1)
		rc_client_flush(cl->c);
	if (again)
		resend(L, cl, j, n);
}

static void
post_all(struct load *L)
{
	unsigned step = L->o->bundle > 1 ? bundle_fit(L) : 1;
	uint64_t count = 0;

	for (unsigned j = 0; j < L->o->posts; j += step) {
		unsigned n = L->o->posts - j < step ? L->o->posts - j : step;

		for (unsigned i = 0; i < L->o->users; i++) {
			post_group(L, &L->cl[i], j, n, &count);
			poll_all(L, 0);
		}
	}
}

static uint64_t
max_acked(const struct load *L)
{
	size_t n = (size_t)L->o->users * L->o->posts;
	uint64_t hi = 0;

	for (size_t k = 0; k < n; k++)
		if (L->rec[k].seq > hi)
			hi = L->rec[k].seq;
	return hi;
}

static bool
all_answered(const struct load *L)
{
	for (unsigned i = 0; i < L->o->users; i++)
		if (L->cl[i].inflight > 0)
			return false;
	return true;
}

static bool
all_caught_up(const struct load *L, uint64_t hi)
{
	for (unsigned i = 0; i < L->o->users; i++)
		if (L->cl[i].last < hi)
			return false;
	return true;
}

/* Wait for the answers and deliveries; nudge stuck clients to FETCH the tail. */
static bool
wait_all(struct load *L, uint64_t deadline)
{
	uint64_t nudge = 0;

	while (rc_mono_ms_precise() < deadline) {
		uint64_t hi = max_acked(L), now = rc_mono_ms_precise();

		if (all_answered(L) && all_caught_up(L, hi)) {
			L->done_ms = rc_mono_ms_precise();
			/* settle: late ACKs of re-sent POSTs, stray duplicates */
			for (uint64_t end = rc_mono_ms_precise() + SETTLE_MS;
			     rc_mono_ms_precise() < end;)
				poll_all(L, 20);
			return true;
		}
		if (all_answered(L) && now >= nudge) {
			if (nudge != 0)
				for (unsigned i = 0; i < L->o->users; i++)
					if (L->cl[i].last < hi)
						rc_client_catch_up(L->cl[i].c, L->o->room, hi);
			nudge = now + 500;
		}
		poll_all(L, 20);
	}
	return false;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool
is_foreign(const struct load *L, uint64_t seq)
{
	return L->nforeign && bsearch(&seq, L->foreign, L->nforeign, sizeof(seq), cmp_u64);
}

struct tally {
	uint64_t delivered, expected, dups, gaps, order, mismatch, errors;
};

/* Every acknowledged message handed to every client. */
static void
check_deliveries(struct load *L, struct tally *t)
{
	const struct rl_opts *o = L->o;
	size_t n = (size_t)o->users * o->posts;
	uint64_t missing = 0;

	for (unsigned i = 0; i < o->users; i++) {
		const struct lclient *cl = &L->cl[i];

		for (size_t k = 0; k < n; k++) {
			if (L->rec[k].seq == 0)
				continue;
			if (cl->got[k / 8] & (1u << (k % 8))) {
				t->delivered++;
				continue;
			}
			if (missing++ < 3)
				rl_fail(L->r, "%s never got %s%zu-m%zu (seq %" PRIu64 ")", cl->user,
					o->prefix, k / o->posts, k % o->posts, L->rec[k].seq);
		}
		t->dups += cl->dups;
		t->gaps += cl->gaps;
		t->order += cl->order;
	}
	t->expected = L->acked * o->users;
	if (missing)
		rl_fail(L->r, "%" PRIu64 " deliveries missing", missing);
}

/* Re-sent POSTs answered by a second ACK (from the node's dedup window). */
static void
check_acked_again(struct load *L)
{
	size_t n = (size_t)L->o->users * L->o->posts;
	uint64_t again = 0;

	for (size_t k = 0; k < n; k++)
		if (L->rec[k].resent && L->rec[k].acks >= 2)
			again++;
	rl_info(L->r, "resent_acked_again", "%" PRIu64, again);
	if (L->resent_after_ack && !again && !L->rate_errors && !L->stale_not_auth)
		rl_fail(L->r,
			"no re-sent POST was acknowledged again (%" PRIu64 " sent after their"
			" ACK)",
			L->resent_after_ack);
}

/* ACKs against each other and against the DELIVERs; counted once per POST. */
static void
check_acks(struct load *L, struct tally *t)
{
	size_t n = (size_t)L->o->users * L->o->posts;
	unsigned shown = 0;

	for (size_t k = 0; k < n; k++) {
		const struct post_rec *p = &L->rec[k];
		bool other = p->seq && p->deliver_seq && p->seq != p->deliver_seq;

		if (!p->mismatch && !p->stored_twice && !other)
			continue;
		t->mismatch++;
		if (shown++ >= 3)
			continue;
		rl_fail(L->r, "POST %s%zu-m%zu%s: %s", L->o->prefix, k / L->o->posts,
			k % L->o->posts, p->resent ? " (re-sent)" : "",
			p->mismatch	  ? "acknowledged with two different seqs"
			: p->stored_twice ? "stored twice (delivered under two seqs)"
					  : "ACK and DELIVER carry different seqs");
	}
	if (L->seq_conflicts)
		rl_fail(L->r, "%" PRIu64 " POSTs stored twice (delivered under two seqs)",
			L->seq_conflicts);
	check_acked_again(L);
}

/* The acknowledged seqs step by one (holes only where another poster's messages are). */
static void
check_room_seqs(struct load *L, struct tally *t)
{
	size_t n = (size_t)L->o->users * L->o->posts, m = 0;
	uint64_t *s = malloc((n ? n : 1) * sizeof(*s)), holes = 0, twice = 0;

	if (!s)
		return;
	for (size_t k = 0; k < n; k++)
		if (L->rec[k].seq)
			s[m++] = L->rec[k].seq;
	qsort(s, m, sizeof(*s), cmp_u64);
	if (L->nforeign > 0) /* qsort of NULL (no foreign seqs yet) is undefined, even for 0 */
		qsort(L->foreign, L->nforeign, sizeof(*L->foreign), cmp_u64);
	for (size_t k = 1; k < m; k++) {
		if (s[k] == s[k - 1])
			twice++;
		for (uint64_t q = s[k - 1] + 1; q < s[k] && holes < 1000000; q++)
			if (!is_foreign(L, q) && holes++ < 3)
				rl_fail(L->r, "seq %" PRIu64 " missing between acknowledged seqs",
					q);
	}
	if (twice)
		rl_fail(L->r, "%" PRIu64 " seqs acknowledged for two different POSTs", twice);
	t->gaps += holes;
	t->order += twice;
	free(s);
}

static void
check_errors(struct load *L, struct tally *t)
{
	uint64_t n = (uint64_t)L->o->users * L->o->posts;
	uint64_t unanswered = n - L->acked - L->failed;

	if (unanswered)
		rl_fail(L->r, "%" PRIu64 " POSTs never answered", unanswered);
	if (L->failed)
		rl_fail(L->r, "%" PRIu64 " POSTs failed", L->failed);
	t->errors = L->failed + unanswered + L->unexpected_errors + L->auth_failed;
}

static void
report_info(struct load *L, const struct tally *t, uint64_t t1, uint64_t t2)
{
	size_t n = (size_t)L->o->users * L->o->posts, m = 0;
	uint32_t *lat = malloc((n ? n : 1) * sizeof(*lat));
	double secs = (double)(t2 - t1) / 1000.0;
	struct rc_client_stats sum = {0}, s;

	for (unsigned i = 0; i < L->o->users; i++) {
		rc_client_stats(L->cl[i].c, &s);
		rl_stats_add(&sum, &s);
	}
	for (size_t k = 0; lat && k < n; k++)
		if (L->rec[k].seq)
			lat[m++] = L->rec[k].ack_ms;
	if (lat && m) {
		qsort(lat, m, sizeof(*lat), cmp_u32);
		rl_info(L->r, "ack_ms_p50", "%u", lat[m / 2]);
		rl_info(L->r, "ack_ms_p99", "%u", lat[m * 99 / 100]);
		rl_info(L->r, "ack_ms_max", "%u", lat[m - 1]);
	}
	free(lat);
	rl_info(L->r, "elapsed_ms", "%" PRIu64, t2 - t1);
	rl_info(L->r, "posts_per_s", "%.0f", secs > 0 ? (double)L->acked / secs : 0.0);
	rl_info(L->r, "deliveries_per_s", "%.0f", secs > 0 ? (double)t->delivered / secs : 0.0);
	rl_info(L->r, "resent_dgrams", "%" PRIu64, L->resent_dgrams);
	rl_info(L->r, "resent_after_ack", "%" PRIu64, L->resent_after_ack);
	rl_info(L->r, "rate_limited_unmatched", "%" PRIu64, L->rate_errors);
	rl_info(L->r, "stale_not_auth", "%" PRIu64, L->stale_not_auth);
	rl_info(L->r, "other_messages", "%zu", L->nforeign);
	rl_info(L->r, "lib_dups", "%" PRIu64, sum.dup_deliveries);
	rl_info_stats(L->r, &sum);
}

static void
check_and_report(struct load *L, uint64_t t1, uint64_t t2)
{
	struct tally t = {0};
	struct rc_client_stats s;

	if (L->cl && L->rec) {
		check_deliveries(L, &t);
		check_acks(L, &t);
		check_room_seqs(L, &t);
		check_errors(L, &t);
		for (unsigned i = 0; i < L->o->users; i++) {
			if (!L->cl[i].c)
				continue;
			rc_client_stats(L->cl[i].c, &s);
			t.dups += s.dup_deliveries; /* the node sent a seq twice, unasked */
			/* seqs the library gave up: a jump the client saw, or none at all when
			 * they were the first ones */
			if (s.gap_skipped > L->cl[i].gaps)
				t.gaps += s.gap_skipped - L->cl[i].gaps;
		}
	}
	if (t.dups)
		rl_fail(L->r, "%" PRIu64 " duplicate deliveries", t.dups);
	if (t.gaps)
		rl_fail(L->r, "%" PRIu64 " seqs skipped (gaps)", t.gaps);
	if (t.order)
		rl_fail(L->r, "%" PRIu64 " order errors", t.order);
	rl_field(L->r, "users", L->o->users);
	rl_field(L->r, "posts", (uint64_t)L->o->users * L->o->posts);
	rl_field(L->r, "acked", L->acked);
	rl_field(L->r, "delivered", t.delivered);
	rl_field(L->r, "expected", t.expected);
	rl_field(L->r, "dups", t.dups);
	rl_field(L->r, "gaps", t.gaps);
	rl_field(L->r, "order_errors", t.order);
	rl_field(L->r, "resend_mismatch", t.mismatch);
	rl_field(L->r, "errors", t.errors);
	if (L->cl && L->rec)
		report_info(L, &t, t1, t2);
}

int
rl_run_load(const struct rl_opts *o, struct rl_report *r)
{
	struct load L = {.o = o, .r = r};
	uint64_t t0 = rc_mono_ms_precise(), deadline = t0 + (uint64_t)o->timeout_s * 1000, t1, t2;
	int rc = setup(&L);

	if (rc == 0)
		rc = login_all(&L, deadline);
	t1 = rc_mono_ms_precise();
	if (rc == 0) {
		post_all(&L);
		if (!wait_all(&L, deadline))
			rl_fail(r, "not complete after --timeout %u s", o->timeout_s);
	}
	t2 = L.done_ms ? L.done_ms : rc_mono_ms_precise();
	check_and_report(&L, t1, t2);
	for (unsigned i = 0; L.cl && i < o->users; i++) {
		if (L.cl[i].c && rc_client_logged_in(L.cl[i].c))
			rc_client_logout(L.cl[i].c);
		rc_client_free(L.cl[i].c);
		free(L.cl[i].got);
	}
	free(L.cl);
	free(L.rec);
	free(L.pfd);
	free(L.foreign);
	return 0;
}
