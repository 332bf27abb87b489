/* SPDX-License-Identifier: MIT */
/*
 * What one member received of one room: the room's seqs after the member's JOIN, each
 * expected exactly once. A window of RG_SEQ_WINDOW seqs above the lowest one still missing
 * tells a new seq from a duplicate; a seq that would fall beyond the window pushes it up,
 * and the seqs it leaves behind unseen are given up (counted missing; one of them arriving
 * later is then counted as a duplicate: the generator cannot tell them apart any more).
 * Over memif and a single node the DELIVERs of a room come in order, so the window only
 * moves by its first bit.
 *
 * Pure and single-threaded; nothing allocates.
 */
#ifndef RG_SEQ_H
#define RG_SEQ_H

#include <stdint.h>

#define RG_SEQ_WINDOW 1024u
#define RG_SEQ_WORDS (RG_SEQ_WINDOW / 64u)

struct rg_seq {
	uint64_t start;    /* the room's last seq at the JOIN: seqs up to it are history */
	uint64_t base;     /* every seq <= base was received or given up */
	uint64_t got;      /* seqs received once (above start) */
	uint64_t dups;     /* seqs received again (or after they were given up) */
	uint64_t given_up; /* seqs pushed out of the window unseen */
	uint64_t inwin;    /* bits set in the window (0: in order so far, the fast path) */
	uint64_t top;      /* the highest seq received (start before any) */
	uint64_t bits[RG_SEQ_WORDS]; /* bit i: seq base + 1 + i received */
};

enum rg_seq_verdict {
	RG_SEQ_NEW = 0, /* first time: a delivery */
	RG_SEQ_DUP,     /* received before (or given up) */
	RG_SEQ_HISTORY, /* at or below start: history sent after the JOIN, not counted */
};

/* A member that joined when the room's last seq was start. */
void rg_seq_init(struct rg_seq *s, uint64_t start);

/* Record seq (> 0). */
enum rg_seq_verdict rg_seq_add(struct rg_seq *s, uint64_t seq);

/* How many seqs below the highest one received are still missing: lost, or late. */
uint64_t rg_seq_holes(const struct rg_seq *s);

/* How many of the seqs start + 1 .. last this member never received (0 when last <= start). */
uint64_t rg_seq_missing(const struct rg_seq *s, uint64_t last);

#endif /* RG_SEQ_H */
