/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the WAL and history unit tests (and the WAL benchmark): the EAL with
 * --no-huge (eal_fixture.h: nothing left behind), a scratch LMDB directory, and record builders. Single-threaded helpers unless
 * noted; they are header-only so that every test stays one file.
 */
#ifndef RC_WAL_FIXTURE_H
#define RC_WAL_FIXTURE_H

#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>

#include "eal_fixture.h"

#include "wal.h"

/* Initialises the EAL once per process, with a per-process file prefix; lcores (an -l
 * list) may be NULL for the default. */
static inline int
fx_eal_init_lcores(const char *name, const char *lcores)
{
	char prefix[64];
	char *argv[] = { (char *)name, "--no-huge", "--no-pci", "-m", "128", prefix,
			 "--log-level=3", "-l", (char *)lcores };

	fx_eal_prefix(prefix, sizeof(prefix), "walt");
	return fx_eal_start(lcores != NULL ? (int)RTE_DIM(argv) : (int)RTE_DIM(argv) - 2, argv);
}

static inline int
fx_eal_init(const char *name)
{
	return fx_eal_init_lcores(name, NULL);
}

static inline int
fx_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh directory under base (or /tmp); the WAL creates its own sub-directory in it. */
static inline void
fx_tmpdir(char *dir, size_t len, const char *base)
{
	snprintf(dir, len, "%s/rc-walt-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
}

static inline void
fx_rmdir(const char *dir)
{
	nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A cmocka setup's state: size bytes, zeroed, with a fresh scratch directory (fx_tmpdir)
 * in its dirlen-byte member at dir_off. Aborts when out of memory. FX_STATE_NEW(struct fx)
 * names the member `dir`. */
static inline void *
fx_state_new(size_t size, size_t dir_off, size_t dirlen)
{
	char *f = calloc(1, size);

	if (f == NULL)
		abort();
	fx_tmpdir(f + dir_off, dirlen, NULL);
	return f;
}

#define FX_STATE_NEW(type) \
	((type *)fx_state_new(sizeof(type), offsetof(type, dir), sizeof(((type *)0)->dir)))

static inline struct rc_wal_conf
fx_conf(const char *dir)
{
	return (struct rc_wal_conf){
		.dir = dir,
		.map_size = 64u << 20,
		.high_water_pct = 90,
		.batch_max = 64,
		.ring_size = 1024,
		.pool_size = 2048,
		.nosync = true,
		.socket_id = SOCKET_ID_ANY,
	};
}

static inline void
fx_msg(struct rc_wal_rec *r, uint32_t room_id, uint64_t seq, const char *user,
       const char *body)
{
	memset(r, 0, offsetof(struct rc_wal_rec, body));
	r->kind = RC_WAL_MSG;
	r->room_id = room_id;
	r->seq = seq;
	r->ts_ms = 1700000000000ull + seq;
	r->cmid = 1000 + seq;
	r->user_len = (uint8_t)strlen(user);
	r->body_len = (uint16_t)strlen(body);
	memcpy(r->user, user, r->user_len);
	memcpy(r->body, body, r->body_len);
}

static inline void
fx_room(struct rc_wal_rec *r, uint32_t room_id, uint64_t created_ms, const char *creator,
	const char *name)
{
	fx_msg(r, room_id, 0, creator, name);
	r->kind = RC_WAL_ROOM;
	r->ts_ms = created_ms;
	r->cmid = 0;
}

/* Stored value bytes of a message or room record (wal_format.h's layout), as the commit log
 * reports them in value_len and the backlog counts them. */
static inline uint32_t
fx_value_len(const struct rc_wal_rec *r)
{
	return (r->kind == RC_WAL_MSG ? 19u : 10u) + r->user_len + r->body_len;
}

static inline uint64_t
fx_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif /* RC_WAL_FIXTURE_H */
