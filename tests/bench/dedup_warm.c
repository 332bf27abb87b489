/* SPDX-License-Identifier: MIT */
/*
 * bench_dedup_warm: what rebuilding the rooms' re-sent POST windows costs at a restart or a
 * takeover (control/scope/scope_load.c warm_room): for R rooms holding M messages each in LMDB, the time
 * to read each room's last `window` messages (the baseline: what any rebuild from the WAL
 * costs) against reading them AND putting them into a window (dataplane/dedup.c), in the
 * same run. Also the per-POST cost of the window on the worker (find + put pending + put
 * stored) against a plain find. Prints figures; no assertions.
 *
 *   bench_dedup_warm [-r ROOMS] [-m MESSAGES_PER_ROOM] [-w WINDOW] [-d DIR]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_common.h>
#include <rte_memory.h>

#include "../unit/wal_fixture.h"
#include "clock.h"
#include "dedup.h"

static int
count_cb(void *arg, const struct rc_wal_msg *m)
{
	(void)m;
	(*(uint64_t *)arg)++;
	return 0;
}

static int
put_cb(void *arg, const struct rc_wal_msg *m)
{
	rc_dedup_put(arg, m->seq, m->user.p, m->user.len, m->cmid, false);
	return 0;
}

static void
fill(struct rc_wal *w, unsigned rooms, unsigned per_room)
{
	struct rc_wal_rec *recs[512];
	unsigned n = 0;

	for (unsigned s = 1; s <= per_room; s++)
		for (unsigned r = 1; r <= rooms; r++) {
			char user[16];

			recs[n] = malloc(sizeof(struct rc_wal_rec));
			snprintf(user, sizeof(user), "user%u", (s * 7 + r) % 500);
			fx_msg(recs[n], r, s, user, "a chat message of an ordinary length, say sixty");
			recs[n]->cmid = ((uint64_t)r << 32) | s;
			if (++n == 512 || (s == per_room && r == rooms)) {
				if (rc_wal_commit_now(w, recs, n) != 0) {
					fprintf(stderr, "bench_dedup_warm: commit failed\n");
					exit(1);
				}
				for (unsigned i = 0; i < n; i++)
					free(recs[i]);
				n = 0;
			}
		}
}

int
main(int argc, char **argv)
{
	unsigned rooms = 100, per_room = 5000, window = 4096;
	const char *dir = "/var/tmp";
	char path[256], err[256], cmd[300];
	struct rc_wal_conf c;
	struct rc_dedup **win;
	struct rc_wal *w;
	uint64_t read = 0, entries = 0;
	uint64_t t0;
	double t_read, t_warm;
	int opt;

	while ((opt = getopt(argc, argv, "r:m:w:d:")) != -1) {
		switch (opt) {
		case 'r': rooms = (unsigned)atoi(optarg); break;
		case 'm': per_room = (unsigned)atoi(optarg); break;
		case 'w': window = (unsigned)atoi(optarg); break;
		case 'd': dir = optarg; break;
		default:
			fprintf(stderr, "usage: bench_dedup_warm [-r ROOMS] [-m MESSAGES] [-w WINDOW] "
					"[-d DIR]\n");
			return 2;
		}
	}
	if (fx_eal_init("bench_dedup_warm") < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/rc-dedup-warm-%d", dir, (int)getpid());
	c = fx_conf(path);
	c.nosync = true;
	c.map_size = 4ull << 30;
	w = rc_wal_open(&c, err, sizeof(err));
	if (w == NULL) {
		fprintf(stderr, "bench_dedup_warm: %s\n", err);
		return 1;
	}
	fill(w, rooms, per_room);

	t0 = rc_mono_ns();
	for (unsigned r = 1; r <= rooms; r++)
		rc_wal_read_last(w, r, window, count_cb, &read);
	t_read = (double)(rc_mono_ns() - t0) / 1e9;

	win = calloc(rooms + 1, sizeof(*win));
	t0 = rc_mono_ns();
	for (unsigned r = 1; r <= rooms; r++) {
		win[r] = rc_dedup_create(window);
		rc_dedup_reserve(win[r], per_room);
		rc_wal_read_last(w, r, window, put_cb, win[r]);
		entries += rc_dedup_count(win[r]);
	}
	t_warm = (double)(rc_mono_ns() - t0) / 1e9;
	printf("bench_dedup_warm: rooms=%u messages_per_room=%u window=%u entries=%llu\n", rooms,
	       per_room, window, (unsigned long long)entries);
	printf("read_only_ms=%.1f warm_ms=%.1f warm_vs_read=%.2f entries_per_s=%.0f\n",
	       t_read * 1e3, t_warm * 1e3, t_warm / t_read, (double)entries / t_warm);

	/* the worker's side: per POST a find (miss), a put pending, a put stored */
	{
		struct rc_dedup *d = rc_dedup_create(window);
		uint64_t seq, n = 2000000;
		bool pending;
		double t_find, t_post;

		t0 = rc_mono_ns();
		for (uint64_t i = 1; i <= n; i++)
			rc_dedup_find(d, "someone", 7, i, &seq, &pending);
		t_find = (double)(rc_mono_ns() - t0) / 1e9;
		t0 = rc_mono_ns();
		for (uint64_t i = 1; i <= n; i++) {
			rc_dedup_find(d, "someone", 7, i, &seq, &pending);
			rc_dedup_put(d, i, "someone", 7, i, true);
			rc_dedup_stored(d, i, "someone", 7, i);
		}
		t_post = (double)(rc_mono_ns() - t0) / 1e9;
		printf("per_post_ns=%.1f find_only_ns=%.1f post_vs_find=%.2f\n", t_post * 1e9 / n,
		       t_find * 1e9 / n, t_post / t_find);
		rc_dedup_destroy(d);
	}
	for (unsigned r = 1; r <= rooms; r++)
		rc_dedup_destroy(win[r]);
	free(win);
	rc_wal_close(w);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd) == 0 ? 0 : 1;
}
