/* SPDX-License-Identifier: MIT */
/*
 * Space in the write-ahead buffer's map: the free-page walk, map_used and map_free, and the
 * high-water flag that rc_wal_full() reports.
 *
 * LMDB never shrinks its file; deleted pages go to its freelist (FREE_DBI) and are reused.
 * map_used = (last page + 1 - free pages) * page size, free pages counted by walking the
 * freelist in a read transaction. Pages freed by the newest transaction, or still seen by
 * an old reader, count as free though LMDB cannot reuse them yet: an approximation. `full`
 * follows map_used with hysteresis (set above high_water_pct, cleared WAL_HYSTERESIS_PCT
 * points below; held while commits fail with MDB_MAP_FULL until a trim frees pages); the
 * walk runs at most every WAL_SPACE_CHECK_US unless a trim freed pages, and not at all
 * while the file ends below the low mark.
 *
 * Threads: wal_update_full() is the writing thread's; wal_space_get() any thread but a
 * worker lcore; rc_wal_full() is lock-free and never touches LMDB (worker lcores).
 */
#include <lmdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>

#include "clock.h"
#include "wal_impl.h"

#define WAL_HYSTERESIS_PCT 2
#define WAL_SPACE_CHECK_US 5000u /* freelist walks at most this often, unless forced */

/* Pages on LMDB's freelist. Its database (FREE_DBI, 0) maps a txnid to an array of page
 * numbers (pgno_t, a size_t) led by their count; a cursor on it needs a read-only txn. */
static int
wal_free_pages(struct rc_wal *w, uint64_t *pages)
{
	MDB_val key, val;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	*pages = 0;
	rc = wal_read_begin(w, 0, &txn, &cur);
	if (rc != 0)
		return rc;
	while ((rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) == 0) {
		size_t n;

		if (val.mv_size < sizeof(n))
			continue;
		memcpy(&n, val.mv_data, sizeof(n));
		*pages += n;
	}
	wal_read_end(txn, cur);
	return rc == MDB_NOTFOUND ? 0 : wal_err(rc);
}

int
wal_space_get(struct rc_wal *w, struct wal_space *s, bool walk)
{
	uint64_t pages = 0;
	MDB_envinfo info;
	int rc = walk ? wal_free_pages(w, &pages) : 0;

	if (rc == 0)
		rc = wal_err(mdb_env_info(w->env, &info));
	if (rc != 0)
		return rc;
	s->map_size = info.me_mapsize;
	s->end = ((uint64_t)info.me_last_pgno + 1) * w->psize;
	s->free = RTE_MIN(pages * w->psize, s->end);
	return 0;
}

void
wal_set_full(struct rc_wal *w, bool full)
{
	atomic_store_explicit(&w->full, full, memory_order_relaxed);
}

/* Sets or clears `full` from the pages in use, with hysteresis (see the file header). The
 * freelist walk is skipped while the file ends below the low mark, and rate-limited unless
 * forced. Writing thread only. */
void
wal_update_full(struct rc_wal *w, bool force)
{
	unsigned low = w->high_water_pct > WAL_HYSTERESIS_PCT ?
			       w->high_water_pct - WAL_HYSTERESIS_PCT : 0;
	uint64_t now = rc_mono_us(), used;
	struct wal_space s;

	if (w->enospc) {
		wal_set_full(w, true);
		return;
	}
	if (wal_space_get(w, &s, false) != 0)
		return;
	if (s.end * 100 < (uint64_t)low * s.map_size) {
		w->space_stale = false;
		wal_set_full(w, false);
		return;
	}
	w->space_stale = !force && now - w->space_check_us < WAL_SPACE_CHECK_US;
	if (w->space_stale)
		return;
	w->space_check_us = now;
	if (wal_space_get(w, &s, true) != 0)
		return;
	used = s.end - s.free;
	if (used * 100 > (uint64_t)w->high_water_pct * s.map_size)
		wal_set_full(w, true);
	else if (used * 100 < (uint64_t)low * s.map_size)
		wal_set_full(w, false);
}

bool
rc_wal_full(const struct rc_wal *w)
{
	return atomic_load_explicit(&w->full, memory_order_relaxed);
}
