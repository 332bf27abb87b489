/* SPDX-License-Identifier: MIT */
/*
 * bench_sync_floor: what a synced commit cannot go below on this disk. An LMDB commit
 * (storage/wal.c, synced) reaches the device twice, in this order: the new pages, then
 * fdatasync; then the meta page, written through a descriptor opened O_DSYNC. This measures
 * the same device work without LMDB, one 4 KiB page each, over N rounds in a file under DIR:
 *
 *   fdatasync   pwrite of one page + fdatasync (a log's single flush)
 *   two_flushes pwrite + fdatasync, then pwrite of another page on an O_DSYNC descriptor
 *               (LMDB's two points: data before meta)
 *
 * The file is written in full once first (no block allocation during the rounds). Prints
 * p50 / p99 / max in microseconds per round; no assertions.
 *
 *   bench_sync_floor [-d DIR] [-n ROUNDS]     (default /var/tmp, 500)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 64

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, uint64_t *ns, unsigned n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	printf("%-12s p50 %7.1f us  p99 %7.1f us  max %7.1f us  (%u rounds)\n", what,
	       ns[n / 2] / 1e3, ns[(size_t)n * 99 / 100] / 1e3, ns[n - 1] / 1e3, n);
}

/* One round: a page written and flushed; with meta_fd, a second page through it. */
static int
round_trip(int fd, int meta_fd, unsigned i, const uint8_t *page, uint64_t *ns)
{
	uint64_t t0 = now_ns();

	if (pwrite(fd, page, PAGE, (off_t)(1 + i % (PAGES - 1)) * PAGE) != PAGE ||
	    fdatasync(fd) != 0)
		return -errno;
	if (meta_fd >= 0 && pwrite(meta_fd, page, PAGE, 0) != PAGE)
		return -errno;
	*ns = now_ns() - t0;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dir = "/var/tmp";
	unsigned rounds = 500, i;
	char path[4096];
	uint8_t page[PAGE];
	uint64_t *ns;
	int c, fd, meta_fd, rc = 0;

	while ((c = getopt(argc, argv, "d:n:h")) != -1) {
		if (c == 'd')
			dir = optarg;
		else if (c == 'n' && atoi(optarg) > 0)
			rounds = (unsigned)atoi(optarg);
		else {
			fprintf(stderr, "usage: bench_sync_floor [-d DIR] [-n ROUNDS]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	snprintf(path, sizeof(path), "%s/rc-sync-floor.%d", dir, (int)getpid());
	ns = calloc(rounds, sizeof(*ns));
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	meta_fd = fd < 0 ? -1 : open(path, O_WRONLY | O_DSYNC);
	if (ns == NULL || fd < 0 || meta_fd < 0) {
		fprintf(stderr, "bench_sync_floor: %s: %s\n", path, strerror(errno));
		return 1;
	}
	memset(page, 0x5a, sizeof(page));
	for (i = 0; i < PAGES && rc == 0; i++)
		rc = pwrite(fd, page, PAGE, (off_t)i * PAGE) == PAGE ? 0 : -errno;
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	printf("sync floor on %s (4 KiB pages, the file allocated first)\n", dir);
	for (i = 0; i < rounds && rc == 0; i++)
		rc = round_trip(fd, -1, i, page, &ns[i]);
	if (rc == 0)
		report("fdatasync", ns, rounds);
	for (i = 0; i < rounds && rc == 0; i++)
		rc = round_trip(fd, meta_fd, i, page, &ns[i]);
	if (rc == 0)
		report("two_flushes", ns, rounds);
	if (rc != 0)
		fprintf(stderr, "bench_sync_floor: %s\n", strerror(-rc));
	close(meta_fd);
	close(fd);
	unlink(path);
	free(ns);
	return rc == 0 ? 0 : 1;
}
