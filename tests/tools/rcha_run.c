/* SPDX-License-Identifier: MIT */
/*
 * `rcha run`: users post continuously (through a failover, typically) and record what they
 * were acknowledged and handed, the pauses they lived through, RESUMEs and re-logins.
 *
 * Phases: log in and join every client (blocking, one after the other); post at --rate
 * per user (round-robin over its rooms, at most --window POSTs in flight, no catch-up burst
 * after a pause) until --duration; then stop posting and wait up to --drain seconds for
 * the outstanding ACKs and for every room to settle (the client library FETCHes a quiet
 * room's tail: a last DELIVER lost on the way is recovered, not missed). A pause is the time between two consecutive events (ACK or
 * delivery) of one client while posting; the last one runs to the end of the posting
 * phase. Requests are retransmitted for --give-up seconds before the library gives up.
 *
 * Single-threaded: every client is polled from one loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "rcclient.h"
#include "rcha.h"
#include "token.h"

#define POLL_MS 5
/* Send times kept per user, by cmid modulo this: far more than --window POSTs in flight
 * plus what a member's delivery can lag behind (cmids are consecutive per client). */
#define SENT_RING 4096

struct rh;

/* A POST in flight (the tag of rc_client_post_async), or failed (kept for a late ACK). */
struct rh_post {
	uint64_t cmid;
	unsigned room;
	struct rh_post *next;
};

/* When a POST was first handed to the client library (a delivery's latency starts here). */
struct rh_sent {
	uint64_t cmid, t_us;
};

struct rh_user {
	struct rh *H;
	struct rc_client *c;
	struct rh_sent *sent; /* SENT_RING entries */
	char name[96];
	unsigned room[64], nrooms, next_room;
	unsigned inflight;
	uint64_t next_post_ms, last_ev_ms;
	uint64_t posts, acked, failed, max_pause;
	struct rh_post *failed_list;
};

struct rh {
	const struct rh_opts *o;
	struct rh_user *u;
	char (*room_name)[256];
	FILE *acked, *pauses, *events, *latency;
	uint64_t t0, end_ms;
	uint32_t *gap;
	size_t ngap, capgap;
	uint64_t max_pause, npauses, setup_fail;
};

static uint64_t
rel(const struct rh *H, uint64_t now)
{
	return now - H->t0;
}

static void
event(struct rh_user *u, const char *what, const char *detail)
{
	fprintf(u->H->events, "%" PRIu64 "\t%s\t%s\t%s\n", rel(u->H, rc_mono_ms_precise()), u->name,
		what, detail ? detail : "");
}

static void
pause_end(struct rh_user *u, uint64_t now)
{
	struct rh *H = u->H;
	uint64_t gap;

	if (now > H->end_ms)
		now = H->end_ms;
	if (u->last_ev_ms == 0 || now < u->last_ev_ms)
		return;
	gap = now - u->last_ev_ms;
	if (H->ngap == H->capgap) {
		size_t cap = H->capgap ? H->capgap * 2 : 4096;
		uint32_t *g = realloc(H->gap, cap * sizeof(*g));

		if (!g)
			return;
		H->gap = g;
		H->capgap = cap;
	}
	H->gap[H->ngap++] = gap > UINT32_MAX ? UINT32_MAX : (uint32_t)gap;
	if (gap > H->max_pause)
		H->max_pause = gap;
	if (gap > u->max_pause)
		u->max_pause = gap;
	if (gap > H->o->pause_ms) {
		H->npauses++;
		fprintf(H->pauses, "%s\t%" PRIu64 "\t%" PRIu64 "\n", u->name, rel(H, u->last_ev_ms),
			gap);
	}
}

/* An ACK or a delivery: the end of a pause, while posting. */
static void
activity(struct rh_user *u)
{
	uint64_t now = rc_mono_ms_precise();

	if (now > u->H->end_ms)
		return;
	pause_end(u, now);
	u->last_ev_ms = now;
}

/* The room's name as the node stores it (JOINED's canonical NAME@SERVICE), so that verify
 * finds its rows; the name the run gave until the room is joined. */
static const char *
stored_name(const struct rh_user *u, const char *room)
{
	const char *canon = rc_client_room_name(u->c, room);

	return canon ? canon : room;
}

/* latency.tsv: from the sender's POST to this delivery, when the sender is a user of this
 * run (one process, one clock) and its send time is still in its ring. */
static void
record_latency(struct rh_user *u, const struct rc_delivery *d, uint64_t now_us)
{
	const struct rh *H = u->H;

	for (unsigned i = 0; i < H->o->users; i++) {
		const struct rh_user *s = &H->u[i];
		const struct rh_sent *e;

		if (s->sent == NULL || strcmp(s->name, d->sender) != 0)
			continue;
		e = &s->sent[d->cmid % SENT_RING];
		if (e->cmid == d->cmid && e->t_us != 0 && now_us >= e->t_us)
			fprintf(H->latency, "%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n",
				u->name, d->sender, d->seq, rel(H, now_us / 1000), now_us - e->t_us);
		return;
	}
}

static void
on_deliver(void *arg, const struct rc_delivery *d)
{
	struct rh_user *u = arg;

	record_latency(u, d, rc_mono_us());
	fprintf(u->H->acked, "D\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%s\n", u->name,
		stored_name(u, d->room), d->cmid, d->seq, rel(u->H, rc_mono_ms_precise()), d->sender);
	activity(u);
}

static void
record_ack(struct rh_user *u, unsigned room, uint64_t cmid, uint64_t seq)
{
	fprintf(u->H->acked, "A\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", u->name,
		stored_name(u, u->H->room_name[room]), cmid, seq, rel(u->H, rc_mono_ms_precise()));
	u->acked++;
	activity(u);
}

/* A late ACK for a POST that had failed (given up): it was stored after all. */
static void
late_ack(struct rh_user *u, const struct rc_post_result *r)
{
	for (struct rh_post **pp = &u->failed_list; *pp; pp = &(*pp)->next) {
		struct rh_post *p = *pp;

		if (p->cmid != r->cmid)
			continue;
		*pp = p->next;
		u->failed--;
		record_ack(u, p->room, p->cmid, r->seq);
		event(u, "late-ack", NULL);
		free(p);
		return;
	}
}

static void
on_posted(void *arg, const struct rc_post_result *r)
{
	struct rh_user *u = arg;
	struct rh_post *p = r->tag;
	char why[64];

	if (r->late) {
		late_ack(u, r);
		return;
	}
	u->inflight--;
	if (r->status == 0) {
		record_ack(u, p->room, p->cmid, r->seq);
		free(p);
		return;
	}
	u->failed++;
	snprintf(why, sizeof(why), "cmid %" PRIu64 ": %s (error %u)", p->cmid,
		 strerror(-r->status), r->err_code);
	event(u, "post-failed", why);
	p->next = u->failed_list;
	u->failed_list = p;
}

static void
on_event(void *arg, enum rc_client_event ev, const char *room, uint64_t value)
{
	struct rh_user *u = arg;
	char d[128];

	if (ev == RC_EV_RESUMED)
		snprintf(d, sizeof(d), "%s %s", room, rc_resume_reason_name((unsigned)value));
	else
		snprintf(d, sizeof(d), "%s %" PRIu64, room ? room : "-", value);
	event(u, rc_client_event_name(ev), d);
}

static void
on_error(void *arg, uint16_t code, uint8_t ref_type, const char *text)
{
	char d[160];

	snprintf(d, sizeof(d), "%u %s to %s: %s", code, rc_err_name(code),
		 rc_msg_type_name(ref_type), text);
	event(arg, "error", d);
}

static int
user_setup(struct rh *H, struct rh_user *u, unsigned i)
{
	const struct rh_opts *o = H->o;
	unsigned s = i % o->nservers;
	struct rc_client_cb cb = { .deliver = on_deliver, .posted = on_posted, .error = on_error,
				   .event = on_event, .arg = u };
	char tok[RC_MAX_TOKEN + 1];
	int rc;

	u->H = H;
	u->sent = calloc(SENT_RING, sizeof(*u->sent));
	if (!u->sent)
		return -ENOMEM;
	if (o->nuser_names)
		snprintf(u->name, sizeof(u->name), "%s", o->user_name[i]);
	else
		snprintf(u->name, sizeof(u->name), "%s%u", o->user_prefix, i);
	u->c = rc_client_new(o->server_ip[s], o->server_port[s] ? o->server_port[s] : o->port,
			     o->nbind ? o->bind_ip[i % o->nbind] : NULL);
	if (!u->c)
		return -errno;
	rc_client_set_retry(u->c, 200, o->give_up_s + 3); /* 0.2 + 0.4 + 0.8 + 1 s each */
	rc_client_set_callbacks(u->c, &cb);
	if ((rc = rh_token(o, u->name, tok, sizeof(tok))) < 0) {
		fprintf(stderr, "rcha: no token for %s: %s\n", u->name, strerror(-rc));
		return rc;
	}
	if ((rc = rc_client_login(u->c, u->name, tok)) < 0) {
		fprintf(stderr, "rcha: login of %s failed: %s\n", u->name, strerror(-rc));
		return rc;
	}
	for (unsigned j = 0; j < o->rooms_per_user; j++) {
		unsigned r = (i + j) % o->rooms;

		if ((rc = rc_client_join(u->c, H->room_name[r], 0, NULL, NULL)) < 0) {
			fprintf(stderr, "rcha: %s: join %s failed: %s\n", u->name, H->room_name[r],
				strerror(-rc));
			return rc;
		}
		u->room[u->nrooms++] = r;
	}
	return 0;
}

static void
post_one(struct rh_user *u, uint64_t now, uint64_t interval)
{
	struct rh_post *p = calloc(1, sizeof(*p));
	char body[160];
	int rc;

	if (!p)
		return;
	p->room = u->room[u->next_room++ % u->nrooms];
	p->cmid = rc_client_next_cmid(u->c);
	snprintf(body, sizeof(body), "%s:%" PRIu64, u->name, p->cmid);
	rc = rc_client_post_async(u->c, u->H->room_name[p->room], body, strlen(body), p, &p->cmid);
	if (rc < 0) {
		free(p);
		u->next_post_ms = now + interval; /* table full: try later */
		return;
	}
	u->sent[p->cmid % SENT_RING] = (struct rh_sent){ .cmid = p->cmid, .t_us = rc_mono_us() };
	u->posts++;
	u->inflight++;
	u->next_post_ms += interval;
	if (u->next_post_ms + interval < now)
		u->next_post_ms = now; /* no burst to catch up after a pause */
}

static unsigned
inflight_total(const struct rh *H)
{
	unsigned n = 0;

	for (unsigned i = 0; i < H->o->users; i++)
		n += H->u[i].inflight;
	return n;
}

/* Every room of every user handed over all it held once the posting stopped: synced, and
 * its tail checked after its last message (a last DELIVER lost on the way is FETCHed). */
static bool
settled(const struct rh *H)
{
	for (unsigned i = 0; i < H->o->users; i++)
		for (unsigned j = 0; j < H->u[i].nrooms; j++)
			if (!rc_client_room_settled(H->u[i].c, H->room_name[H->u[i].room[j]]))
				return false;
	return true;
}

static void
loop(struct rh *H, struct pollfd *pfd)
{
	const struct rh_opts *o = H->o;
	uint64_t interval = (uint64_t)(1000.0 / o->rate), stop = H->end_ms + o->drain_s * 1000ull;
	bool ended = false;

	if (interval == 0)
		interval = 1;
	for (;;) {
		uint64_t now = rc_mono_ms_precise();

		if (now >= H->end_ms && !ended) {
			ended = true;
			for (unsigned i = 0; i < o->users; i++)
				pause_end(&H->u[i], H->end_ms);
		}
		if (ended && ((inflight_total(H) == 0 && settled(H)) || now >= stop))
			return;
		for (unsigned i = 0; i < o->users && !ended; i++) {
			struct rh_user *u = &H->u[i];

			if (now >= u->next_post_ms && u->inflight < o->window)
				post_one(u, now, interval);
		}
		if (poll(pfd, o->users, POLL_MS) < 0 && errno != EINTR)
			return;
		for (unsigned i = 0; i < o->users; i++)
			if ((pfd[i].revents & POLLIN) || rc_client_timeout_ms(H->u[i].c) == 0)
				rc_client_poll(H->u[i].c, 0, NULL);
	}
}

static FILE *
out_file(const char *dir, const char *name, const char *header)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "rcha: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0); /* a test reads them while the run goes on */
	fprintf(f, "#%s\n", header);
	return f;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
pct(const struct rh *H, double p)
{
	if (H->ngap == 0)
		return 0;
	return H->gap[(size_t)(p * (double)(H->ngap - 1) + 0.5)];
}

/* users.tsv: what each client saw (rcha.h). */
static void
user_lines(struct rh *H)
{
	const struct rh_opts *o = H->o;
	FILE *f = out_file(o->out, "users.tsv",
			   "user\tserver\thome\tposts\tacked\tdelivered\tdup_deliveries\tgaps\t"
			   "gaps_filled\tgap_skipped\tresumes\trelogins\tmax_pause_ms\ttail_checks\t"
			   "tail_found");

	if (!f)
		return;
	for (unsigned i = 0; i < o->users; i++) {
		const struct rh_user *u = &H->u[i];
		const char *home = rc_client_home_node(u->c);
		struct rc_client_stats st;

		rc_client_stats(u->c, &st);
		fprintf(f,
			"%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
			"\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
			"\t%" PRIu64 "\n",
			u->name, o->server_ip[i % o->nservers], *home ? home : "-", u->posts,
			u->acked, st.delivered, st.dup_deliveries, st.gaps, st.gaps_filled,
			st.gap_skipped, st.resumes, st.relogins, u->max_pause, st.tail_checks,
			st.tail_found);
	}
	fclose(f);
}

static int
summary(struct rh *H)
{
	const struct rh_opts *o = H->o;
	uint64_t posts = 0, acked = 0, failed = 0, resumes = 0, relogins = 0, unacked;
	char path[4096];
	FILE *f;

	for (unsigned i = 0; i < o->users; i++) {
		struct rc_client_stats st;

		rc_client_stats(H->u[i].c, &st);
		posts += H->u[i].posts;
		acked += H->u[i].acked;
		failed += H->u[i].failed;
		resumes += st.resumes;
		relogins += st.relogins;
	}
	unacked = posts - acked;
	user_lines(H);
	if (H->ngap > 0) /* no gap yet: gap is NULL, which qsort may not be given */
		qsort(H->gap, H->ngap, sizeof(*H->gap), cmp_u32);
	snprintf(path, sizeof(path), "%s/summary.tsv", o->out);
	f = fopen(path, "w");
	for (int k = 0; k < 2; k++) {
		FILE *w = k == 0 ? stdout : f;
		const char *fmt = k == 0 ? "%s: %" PRIu64 "\n" : "%s\t%" PRIu64 "\n";

		if (!w)
			continue;
		fprintf(w, fmt, "users", (uint64_t)o->users);
		fprintf(w, fmt, "posts", posts);
		fprintf(w, fmt, "acked", acked);
		fprintf(w, fmt, "unacked", unacked);
		fprintf(w, fmt, "failed", failed);
		fprintf(w, fmt, "resumes", resumes);
		fprintf(w, fmt, "relogins", relogins);
		fprintf(w, fmt, "setup_failures", H->setup_fail);
		fprintf(w, fmt, "pauses", H->npauses);
		fprintf(w, fmt, "max_pause_ms", H->max_pause);
		fprintf(w, fmt, "p50_pause_ms", pct(H, 0.50));
		fprintf(w, fmt, "p99_pause_ms", pct(H, 0.99));
	}
	if (f)
		fclose(f);
	return unacked || relogins || H->setup_fail ? 1 : 0;
}

int
rh_run(const struct rh_opts *o)
{
	struct rh H = { .o = o };
	struct pollfd *pfd;
	int rc = 1;

	if (mkdir(o->out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "rcha: %s: %s\n", o->out, strerror(errno));
		return 1;
	}
	H.u = calloc(o->users, sizeof(*H.u));
	H.room_name = calloc(o->rooms, sizeof(*H.room_name));
	pfd = calloc(o->users, sizeof(*pfd));
	H.acked = out_file(o->out, "acked.tsv", "kind\tuser\troom\tcmid\tseq\tt_ms\tsender");
	H.pauses = out_file(o->out, "pauses.tsv", "user\tstart_ms\tlength_ms");
	H.events = out_file(o->out, "events.tsv", "t_ms\tuser\tevent\tdetail");
	H.latency = out_file(o->out, "latency.tsv", "user\tsender\tseq\tt_ms\tlatency_us");
	if (!H.u || !H.room_name || !pfd || !H.acked || !H.pauses || !H.events || !H.latency)
		goto out;
	for (unsigned r = 0; r < o->rooms; r++)
		if (o->nroom_names)
			snprintf(H.room_name[r], sizeof(H.room_name[r]), "%s", o->room_name[r]);
		else
			snprintf(H.room_name[r], sizeof(H.room_name[r]), "%s%u", o->room_prefix, r);
	H.t0 = rc_mono_ms_precise();
	for (unsigned i = 0; i < o->users; i++) {
		if (user_setup(&H, &H.u[i], i) < 0) {
			H.setup_fail++;
			goto out;
		}
		pfd[i] = (struct pollfd){ .fd = rc_client_fd(H.u[i].c), .events = POLLIN };
	}
	H.end_ms = rc_mono_ms_precise() + o->duration_s * 1000ull;
	for (unsigned i = 0; i < o->users; i++)
		H.u[i].next_post_ms = H.u[i].last_ev_ms = rc_mono_ms_precise();
	loop(&H, pfd);
	rc = summary(&H);
out:
	if (H.setup_fail)
		fprintf(stderr, "rcha: setup failed\n");
	for (unsigned i = 0; H.u && i < o->users; i++) {
		while (H.u[i].failed_list) {
			struct rh_post *p = H.u[i].failed_list;

			H.u[i].failed_list = p->next;
			free(p);
		}
		rc_client_free(H.u[i].c); /* no LOGOUT: the sessions expire on the node */
		free(H.u[i].sent);
	}
	for (FILE **f = (FILE *[]){ H.acked, H.pauses, H.events, H.latency, NULL }; *f; f++)
		fclose(*f);
	free(H.u);
	free(H.room_name);
	free(H.gap);
	free(pfd);
	return rc;
}
