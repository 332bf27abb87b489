/* SPDX-License-Identifier: MIT */
/*
 * roomcast-gen's output, on the main lcore: a line per second while the worker runs (its
 * counters and the interval's histograms, read relaxed), then the summary once it is done
 * (its state is then ours to read). Text for people, JSON lines with -j.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>

#include "gen.h"

static const char *const phase_names[RG_PH_MAX] = {
	[RG_PH_ARP] = "arp",	 [RG_PH_LOGIN] = "login",   [RG_PH_JOIN] = "join",
	[RG_PH_POST] = "post",	 [RG_PH_DRAIN] = "drain",   [RG_PH_LOGOUT] = "logout",
	[RG_PH_DONE] = "done",	 [RG_PH_FAILED] = "failed",
};

static const char *
phase_name(uint64_t ph)
{
	return ph < RG_PH_MAX ? phase_names[ph] : "?";
}

struct tick_snap {
	uint64_t posts, acks, dlv;
	struct rg_hist ack, dlv_h;
};

static double
us(uint64_t ns)
{
	return (double)ns / 1e3;
}

static void
interval_line(struct rg_gen *g, double t, double dt, const struct tick_snap *now,
	      const struct tick_snap *then)
{
	static struct rg_hist ack, dlv; /* 30 KiB each: not on the stack */
	uint64_t ph = RG_GET(g, phase);
	double posts = (double)(now->posts - then->posts) / dt;
	double acks = (double)(now->acks - then->acks) / dt;
	double dl = (double)(now->dlv - then->dlv) / dt;

	rg_hist_diff(&ack, &now->ack, &then->ack);
	rg_hist_diff(&dlv, &now->dlv_h, &then->dlv_h);
	if (g->o->json) {
		printf("{\"type\":\"interval\",\"t\":%.1f,\"phase\":\"%s\",\"logged_in\":%lu,"
		       "\"joined\":%lu,\"posts\":%lu,\"posts_per_s\":%.0f,\"acks_per_s\":%.0f,"
		       "\"deliveries_per_s\":%.0f,\"ack_p50_us\":%.1f,\"ack_p99_us\":%.1f,"
		       "\"deliver_p50_us\":%.1f,\"deliver_p99_us\":%.1f,\"resends\":%lu,"
		       "\"failed\":%lu,\"duplicates\":%lu,\"missing\":%lu}\n",
		       t, phase_name(ph), RG_GET(g, logged_in), RG_GET(g, joined), now->posts,
		       posts, acks, dl, us(rg_hist_quantile(&ack, .5)),
		       us(rg_hist_quantile(&ack, .99)), us(rg_hist_quantile(&dlv, .5)),
		       us(rg_hist_quantile(&dlv, .99)), RG_GET(g, resends), RG_GET(g, posts_failed),
		       RG_GET(g, duplicates), RG_GET(g, missing));
	} else if (ph <= RG_PH_JOIN) {
		printf("[%6.1fs] %-6s users %lu/%u logged in, joins %lu/%lu\n", t, phase_name(ph),
		       RG_GET(g, logged_in), g->o->users, RG_GET(g, joined),
		       RG_GET(g, joins_wanted));
	} else {
		printf("[%6.1fs] %-6s posts %lu | posts/s %.0f acks/s %.0f deliveries/s %.0f | "
		       "ack p50/p99 %.0f/%.0f us | deliver p50/p99 %.0f/%.0f us | resends %lu "
		       "failed %lu dups %lu missing %lu\n",
		       t, phase_name(ph), now->posts, posts, acks, dl,
		       us(rg_hist_quantile(&ack, .5)), us(rg_hist_quantile(&ack, .99)),
		       us(rg_hist_quantile(&dlv, .5)), us(rg_hist_quantile(&dlv, .99)),
		       RG_GET(g, resends), RG_GET(g, posts_failed), RG_GET(g, duplicates),
		       RG_GET(g, missing));
	}
	fflush(stdout);
}

static void
snap(struct rg_gen *g, struct tick_snap *s)
{
	s->posts = RG_GET(g, posts_sent);
	s->acks = RG_GET(g, posts_acked);
	s->dlv = RG_GET(g, deliveries);
	rg_hist_snapshot(&s->ack, &g->ack_lat);
	rg_hist_snapshot(&s->dlv_h, &g->dlv_lat);
}

void
rg_report_loop(struct rg_gen *g, unsigned worker_lcore)
{
	static struct tick_snap a, b;
	struct tick_snap *now = &a, *then = &b, *tmp;
	uint64_t t0 = rte_rdtsc(), tprev = t0, t;

	snap(g, then);
	while (rte_eal_get_lcore_state(worker_lcore) == RUNNING) {
		usleep(10000);
		t = rte_rdtsc();
		if (t - tprev < g->hz)
			continue;
		snap(g, now);
		if (!g->o->quiet)
			interval_line(g, (double)(t - t0) / (double)g->hz,
				      (double)(t - tprev) / (double)g->hz, now, then);
		tmp = then;
		then = now;
		now = tmp;
		tprev = t;
	}
	t = rte_rdtsc(); /* the last part of a second, so that a short run has its line too */
	if (!g->o->quiet && t - tprev > g->hz / 100) {
		snap(g, now);
		interval_line(g, (double)(t - t0) / (double)g->hz,
			      (double)(t - tprev) / (double)g->hz, now, then);
	}
}

struct summary {
	uint64_t gaps, members, unanswered, unsent;
	double post_s, dlv_s;
	double cpu_s; /* the generator's own CPU time (user + system), setup included */
	struct rte_eth_stats port;
};

static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
summarize(struct rg_gen *g, struct summary *s)
{
	const struct rg_counters *c = &g->c;
	unsigned i, j;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < g->o->users; i++)
		for (j = 0; j < g->o->rooms_per_user; j++) {
			const struct rg_room *rm = &g->rooms[(i + j) % g->o->rooms];

			if (g->users[i].join_tsc[j] == UINT64_MAX)
				s->gaps += rg_seq_missing(&g->users[i].seq[j], rm->last_acked);
		}
	for (i = 0; i < g->o->rooms; i++)
		s->members += g->rooms[i].members;
	s->unanswered = c->posts_sent - c->posts_acked - c->posts_failed;
	s->unsent = g->o->posts - c->posts_sent;
	if (c->t_last_ack > c->t_first_post)
		s->post_s = (double)(c->t_last_ack - c->t_first_post) / (double)g->hz;
	if (c->t_last_deliver > c->t_first_post)
		s->dlv_s = (double)(c->t_last_deliver - c->t_first_post) / (double)g->hz;
	rte_eth_stats_get(g->port_id, &s->port);
	s->cpu_s = cpu_seconds();
}

static double
per_s(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0;
}

static void
lat_text(const char *what, const struct rg_hist *h)
{
	printf("  %-16s p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us, mean %.1f us "
	       "(%lu samples)\n", what, us(rg_hist_quantile(h, .5)), us(rg_hist_quantile(h, .99)),
	       us(rg_hist_quantile(h, .999)), us(h->max), rg_hist_mean(h) / 1e3, h->n);
}

static void
lat_json(const char *what, const struct rg_hist *h)
{
	printf("\"%s\":{\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
	       "\"mean_us\":%.1f,\"samples\":%lu}", what, us(rg_hist_quantile(h, .5)),
	       us(rg_hist_quantile(h, .99)), us(rg_hist_quantile(h, .999)), us(h->max),
	       rg_hist_mean(h) / 1e3, h->n);
}

static void
summary_text(struct rg_gen *g, const struct summary *s, int status)
{
	const struct rg_opts *o = g->o;
	const struct rg_counters *c = &g->c;
	char rate[32] = "as fast as the windows allow";
	unsigned e;

	printf("roomcast-gen summary (run %08x)\n", g->run);
	if (o->rate > 0)
		snprintf(rate, sizeof(rate), "%.0f POSTs/s", o->rate);
	printf("  workload         %u users, %u rooms, %.1f members per room, %u posters, body %u B,"
	       " bundle %u, window %u, %s\n", o->users, o->rooms,
	       (double)s->members / o->rooms, o->posters, o->body, o->bundle, o->window, rate);
	printf("  posts            sent %lu, acked %lu, failed %lu, unanswered %lu, resent %lu, "
	       "unsent %lu\n", c->posts_sent, c->posts_acked, c->posts_failed, s->unanswered,
	       c->resends, s->unsent);
	printf("  deliveries       %lu of %lu expected, gaps %lu, duplicates %lu, history %lu, "
	       "foreign %lu\n", c->deliveries, c->deliveries_expected, s->gaps, c->duplicates,
	       c->history, c->foreign);
	printf("  rates            %.0f posts/s over %.3f s, %.0f deliveries/s over %.3f s\n",
	       per_s(c->posts_acked, s->post_s), s->post_s, per_s(c->deliveries, s->dlv_s),
	       s->dlv_s);
	lat_text("post-to-ACK", &g->ack_lat);
	lat_text("post-to-deliver", &g->dlv_lat);
	printf("  errors          ");
	for (e = 1; e < RC_E_MAX; e++)
		if (c->errors[e])
			printf(" %s %lu,", rc_err_name(e), c->errors[e]);
	printf(" cookies %lu, resumes %lu, bad %lu\n", c->cookies, c->resumes, c->rx_bad);
	printf("  port             rx %lu, tx %lu, imissed %lu, rx_nombuf %lu, oerrors %lu\n",
	       s->port.ipackets, s->port.opackets, s->port.imissed, s->port.rx_nombuf,
	       s->port.oerrors);
	printf("  generator CPU    %.3f s\n", s->cpu_s);
	printf("  result           %s%s\n", status == 0 ? "OK" : "FAILED",
	       status == 2 ? g->fail_msg ? ": setup: " : ": setup" : status == 1 ? ": losses" : "");
	if (status == 2 && g->fail_msg)
		printf("                   %s\n", g->fail_msg);
	if (s->gaps && s->port.imissed == 0)
		printf("                   gaps with nothing missed here: the node dropped what its TX "
		       "queue could not take\n                   (roomcastctl stats: tx_full); offer "
		       "less at once (--window, --posters, --rate)\n");
}

static void
summary_json(struct rg_gen *g, const struct summary *s, int status)
{
	const struct rg_opts *o = g->o;
	const struct rg_counters *c = &g->c;
	unsigned e;

	printf("{\"type\":\"summary\",\"run\":\"%08x\",\"result\":\"%s\",\"fail\":\"%s\","
	       "\"users\":%u,\"rooms\":%u,\"members\":%lu,\"posters\":%u,\"body\":%u,"
	       "\"bundle\":%u,\"window\":%u,\"rate\":%.0f,", g->run, status ? "failed" : "ok",
	       status == 2 && g->fail_msg ? g->fail_msg : "", o->users, o->rooms, s->members,
	       o->posters, o->body, o->bundle, o->window, o->rate);
	printf("\"posts_sent\":%lu,\"posts_acked\":%lu,\"posts_failed\":%lu,\"unanswered\":%lu,"
	       "\"resends\":%lu,\"unsent\":%lu,\"deliveries\":%lu,\"deliveries_expected\":%lu,"
	       "\"gaps\":%lu,\"duplicates\":%lu,\"history\":%lu,\"foreign\":%lu,",
	       c->posts_sent, c->posts_acked, c->posts_failed, s->unanswered, c->resends,
	       s->unsent, c->deliveries, c->deliveries_expected, s->gaps, c->duplicates,
	       c->history, c->foreign);
	printf("\"post_s\":%.6f,\"deliver_s\":%.6f,\"posts_per_s\":%.0f,\"deliveries_per_s\":%.0f,",
	       s->post_s, s->dlv_s, per_s(c->posts_acked, s->post_s),
	       per_s(c->deliveries, s->dlv_s));
	lat_json("ack_latency", &g->ack_lat);
	printf(",");
	lat_json("deliver_latency", &g->dlv_lat);
	printf(",\"errors\":{");
	for (e = 1; e < RC_E_MAX; e++)
		printf("%s\"%u\":%lu", e > 1 ? "," : "", e, c->errors[e]);
	printf("},\"gen_cpu_s\":%.3f,\"port\":{", s->cpu_s);
	printf("\"rx\":%lu,\"tx\":%lu,\"imissed\":%lu,\"rx_nombuf\":%lu,"
	       "\"oerrors\":%lu}}\n", s->port.ipackets, s->port.opackets, s->port.imissed,
	       s->port.rx_nombuf, s->port.oerrors);
}

static int
status_of(struct rg_gen *g, const struct summary *s)
{
	const struct rg_counters *c = &g->c;

	if (c->phase == RG_PH_FAILED)
		return 2;
	if (s->unanswered || c->posts_failed || s->gaps || c->duplicates ||
	    c->deliveries != c->deliveries_expected)
		return 1;
	return 0;
}

int
rg_exit_status(struct rg_gen *g)
{
	struct summary s;

	summarize(g, &s);
	return status_of(g, &s);
}

static void
hist_csv(FILE *f, const char *kind, const struct rg_hist *h)
{
	unsigned b;

	for (b = 0; b < RG_HIST_BUCKETS; b++)
		if (h->b[b])
			fprintf(f, "%s,%lu,%lu,%lu\n", kind, rg_hist_bucket_lo(b),
				rg_hist_bucket_hi(b), h->b[b]);
}

/* The histograms to o->hist_file; 0 or -errno. */
static int
write_hists(const struct rg_gen *g)
{
	FILE *f = fopen(g->o->hist_file, "w");
	int rc;

	if (f == NULL)
		return -errno;
	fprintf(f, "kind,lo_ns,hi_ns,count\n");
	hist_csv(f, "ack", &g->ack_lat);
	hist_csv(f, "deliver", &g->dlv_lat);
	rc = ferror(f) ? -EIO : 0;
	return fclose(f) != 0 && rc == 0 ? -errno : rc;
}

void
rg_report_summary(struct rg_gen *g)
{
	struct summary s;
	int status, rc;

	summarize(g, &s);
	status = status_of(g, &s);
	if (g->o->json)
		summary_json(g, &s, status);
	else
		summary_text(g, &s, status);
	fflush(stdout);
	rc = g->o->hist_file ? write_hists(g) : 0;
	if (rc < 0)
		fprintf(stderr, "roomcast-gen: cannot write %s: %s\n", g->o->hist_file,
			strerror(-rc));
}
