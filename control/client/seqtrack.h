/* SPDX-License-Identifier: MIT */
/*
 * Per-room sequence tracking for a chat client: hand messages over in seq order, exactly
 * once, and say which seqs are missing so that the caller can FETCH them.
 *
 * A room's messages carry seq 1, 2, 3, ... The node sends each at most once per session, but
 * datagrams get lost, the history thread's DELIVERs interleave with live ones, and FETCH or a
 * second JOIN brings messages again. The tracker keeps:
 *
 *        start          next                     high        known_last
 *          |  handed over |  held (out of order)    |              |
 *   -------[==============[..x..x.xx...........x....]..............]------> seq
 *                          ^ missing: a gap, FETCHed after a delay
 *
 *   - next: the next seq to hand over; everything in [start, next) was handed over once;
 *   - held: seqs in (next, next + RC_SEQTRACK_WINDOW) received ahead of a missing one; the
 *     caller stores a copy (an opaque pointer) and gets it back from rc_seqtrack_pop();
 *   - known_last: the highest seq known to exist (from DELIVER, JOINED, FETCH_END, an ACK).
 *     A gap is open while next <= known_last.
 *
 * Before it is started (a JOIN with since_seq = 0 does not tell where history begins until
 * its FETCH_END) the tracker holds whatever arrives; rc_seqtrack_start() then fixes the first
 * seq and releases held items below it.
 *
 * Duplicates inside a range the caller asked for again (rc_seqtrack_asked(): a FETCH, a
 * re-JOIN) are expected and counted apart from the ones nobody asked for, which are the
 * node's fault.
 *
 * Pure logic: no I/O, no clock (the caller passes now_ms), no allocation (held items belong
 * to the caller, returned through pop or the release callback).
 * Concurrency: none; one tracker is used by one thread at a time.
 */
#ifndef RC_SEQTRACK_H
#define RC_SEQTRACK_H

#include <stdbool.h>
#include <stdint.h>

#define RC_SEQTRACK_WINDOW	 1024u /* max seqs held ahead of next (power of two) */
#define RC_SEQTRACK_RANGES	 8     /* ranges asked again (merged when they touch) */
#define RC_SEQTRACK_GAP_DELAY_MS 100   /* default wait before FETCHing a gap (reordering) */

enum rc_seq_verdict {
	RC_SEQ_NEXT = 0, /* seq == next: hand it over now (next advanced), then drain pop */
	RC_SEQ_HOLD,	 /* ahead of a missing seq: store it with rc_seqtrack_hold() */
	RC_SEQ_DUP,	 /* already handed over or held: drop */
	RC_SEQ_OLD,	 /* below the start (or 0): drop */
	RC_SEQ_FAR,	 /* beyond the window: drop, a FETCH brings it back later */
	RC_SEQ_VERDICT_MAX
};

struct rc_seqtrack_stats {
	uint64_t delivered;	/* handed over in order */
	uint64_t dups;		/* duplicates outside any range asked again */
	uint64_t expected_dups; /* duplicates inside a range asked again */
	uint64_t reordered;	/* received ahead of a missing seq */
	uint64_t gaps;		/* gaps that needed a FETCH */
	uint64_t filled;	/* seqs handed over that a gap FETCH asked for */
	uint64_t skipped;	/* seqs given up (rc_seqtrack_skip) */
	uint64_t far;		/* dropped beyond the window */
	uint64_t old;		/* dropped below the start */
};

struct rc_seqtrack_range {
	uint64_t lo, hi;   /* inclusive */
	uint64_t until_ms; /* dups in the range count as expected until then */
	bool gap;	   /* asked because of a gap (counts as filled) */
};

typedef void (*rc_seqtrack_release_fn)(void *item, void *arg);

struct rc_seqtrack {
	uint64_t start;	       /* first seq handed over; 0 until started */
	uint64_t next;	       /* next seq to hand over; 0 until started */
	uint64_t high;	       /* highest seq received */
	uint64_t low_held;     /* lowest held seq (meaningful while held > 0 and not started) */
	uint64_t known_last;   /* highest seq known to exist */
	uint64_t gap_due_ms;   /* when the open gap should be FETCHed */
	uint64_t gap_delay_ms; /* wait before FETCHing a new gap; RC_SEQTRACK_GAP_DELAY_MS */
	uint64_t gap_next;     /* next when the last gap FETCH was asked */
	unsigned gap_tries;    /* gap FETCHes asked without next moving */
	bool gap_open;	       /* next <= known_last */
	bool gap_counted;      /* this gap already counted in st.gaps */
	unsigned held;
	rc_seqtrack_release_fn release;
	void *release_arg;
	struct rc_seqtrack_range asked[RC_SEQTRACK_RANGES];
	struct rc_seqtrack_stats st;
	uint64_t slot_seq[RC_SEQTRACK_WINDOW]; /* seq held in the slot, 0 if empty */
	void *slot[RC_SEQTRACK_WINDOW];
};

/* Reset t; release (may be NULL) gets held items that are dropped rather than popped. */
void rc_seqtrack_init(struct rc_seqtrack *t, rc_seqtrack_release_fn release, void *arg);

/* Release every held item; t must be initialised again before reuse. */
void rc_seqtrack_fini(struct rc_seqtrack *t);

/* Fix the first seq to hand over (>= 1). No effect when already started. Held items below
 * first (or too far above it) are released. Drain rc_seqtrack_pop() afterwards. */
void rc_seqtrack_start(struct rc_seqtrack *t, uint64_t first, uint64_t now_ms);

bool rc_seqtrack_started(const struct rc_seqtrack *t);

/* Classify a received seq and account for it (see enum rc_seq_verdict). */
enum rc_seq_verdict rc_seqtrack_offer(struct rc_seqtrack *t, uint64_t seq, uint64_t now_ms);

/* Store item for seq after RC_SEQ_HOLD. */
void rc_seqtrack_hold(struct rc_seqtrack *t, uint64_t seq, void *item);

/* The held item for next, if it is there: next advances. NULL when nothing is ready. */
void *rc_seqtrack_pop(struct rc_seqtrack *t, uint64_t *seq, uint64_t now_ms);

/* The room is known to hold seqs up to last (JOINED, FETCH_END, ACK, a hint). */
void rc_seqtrack_learn_last(struct rc_seqtrack *t, uint64_t last, uint64_t now_ms);

/*
 * True if a gap has been open for gap_delay_ms (or was kicked): [*from, *from + *count) is
 * the first missing run, clipped to max (>= 1). The caller FETCHes it and calls
 * rc_seqtrack_asked().
 */
bool rc_seqtrack_gap_due(const struct rc_seqtrack *t, uint64_t now_ms, uint16_t max, uint64_t *from,
			 uint16_t *count);

/* False if no gap is open; else *when = the now_ms at which it becomes due. */
bool rc_seqtrack_gap_deadline(const struct rc_seqtrack *t, uint64_t *when);

/* Make an open gap due at once (e.g. FETCH_END said there is more). */
void rc_seqtrack_gap_kick(struct rc_seqtrack *t);

/*
 * Seqs [lo, hi] were asked again (FETCH, re-JOIN): duplicates in there are expected until
 * now_ms + ttl_ms. gap: it is a gap FETCH (counts gaps, tries and filled seqs).
 */
void rc_seqtrack_asked(struct rc_seqtrack *t, uint64_t lo, uint64_t hi, uint64_t now_ms,
		       uint64_t ttl_ms, bool gap);

/* Give up the seqs in [next, upto): next jumps to upto. Drain rc_seqtrack_pop() after. */
void rc_seqtrack_skip(struct rc_seqtrack *t, uint64_t upto, uint64_t now_ms);

/* The lowest held seq above next (started) or overall (not started); 0 if none. */
uint64_t rc_seqtrack_first_held(const struct rc_seqtrack *t);

/* The seq before the next one to hand over (the since_seq of a re-JOIN); 0 if not started. */
uint64_t rc_seqtrack_last(const struct rc_seqtrack *t);

/* Started, nothing held and nothing known to be missing. */
bool rc_seqtrack_synced(const struct rc_seqtrack *t);

const char *rc_seq_verdict_name(unsigned v);

#endif /* RC_SEQTRACK_H */
