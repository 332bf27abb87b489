/* SPDX-License-Identifier: MIT */
/* Per (member, room) seq tracking; see gen_seq.h. */
#include <string.h>

#include "gen_seq.h"

void
rg_seq_init(struct rg_seq *s, uint64_t start)
{
	memset(s, 0, sizeof(*s));
	s->start = start;
	s->base = start;
	s->top = start;
}

static inline int
bit_get(const struct rg_seq *s, uint64_t i)
{
	return (int)((s->bits[i / 64] >> (i % 64)) & 1u);
}

/* Move the window up by k seqs (k <= RG_SEQ_WINDOW): bit 0 leaves first. */
static void
shift_window(struct rg_seq *s, uint64_t k)
{
	uint64_t words = k / 64, sh = k % 64, i;

	for (i = 0; i < RG_SEQ_WORDS; i++) {
		uint64_t lo = i + words < RG_SEQ_WORDS ? s->bits[i + words] : 0;
		uint64_t hi = i + words + 1 < RG_SEQ_WORDS ? s->bits[i + words + 1] : 0;

		s->bits[i] = sh ? (lo >> sh) | (hi << (64 - sh)) : lo;
	}
	s->base += k;
	s->inwin = 0;
	for (i = 0; i < RG_SEQ_WORDS; i++)
		s->inwin += (uint64_t)__builtin_popcountll(s->bits[i]);
}

/* Count the unseen seqs among the first k of the window (they are about to leave it). */
static uint64_t
unseen_below(const struct rg_seq *s, uint64_t k)
{
	uint64_t i, n = 0;

	for (i = 0; i < k && i < RG_SEQ_WINDOW; i++)
		n += !bit_get(s, i);
	return n + (k > RG_SEQ_WINDOW ? k - RG_SEQ_WINDOW : 0);
}

/* Make room for seq beyond the window: give up what leaves it unseen. */
static void
make_room(struct rg_seq *s, uint64_t seq)
{
	uint64_t k = seq - s->base - RG_SEQ_WINDOW;

	s->given_up += unseen_below(s, k);
	if (k >= RG_SEQ_WINDOW) {
		memset(s->bits, 0, sizeof(s->bits));
		s->inwin = 0;
		s->base += k;
	} else {
		shift_window(s, k);
	}
}

/* Slide past the seqs received in a row at the bottom of the window. */
static void
advance(struct rg_seq *s)
{
	uint64_t k = 0;

	while (k < RG_SEQ_WINDOW && bit_get(s, k))
		k++;
	if (k)
		shift_window(s, k);
}

enum rg_seq_verdict
rg_seq_add(struct rg_seq *s, uint64_t seq)
{
	uint64_t i;

	if (seq <= s->start)
		return RG_SEQ_HISTORY;
	if (seq <= s->base) {
		s->dups++;
		return RG_SEQ_DUP;
	}
	if (seq > s->top)
		s->top = seq;
	if (seq == s->base + 1 && s->inwin == 0) { /* in order, nothing pending above */
		s->base++;
		s->got++;
		return RG_SEQ_NEW;
	}
	if (seq - s->base > RG_SEQ_WINDOW)
		make_room(s, seq);
	i = seq - s->base - 1;
	if (bit_get(s, i)) {
		s->dups++;
		return RG_SEQ_DUP;
	}
	s->bits[i / 64] |= 1ull << (i % 64);
	s->inwin++;
	s->got++;
	if (i == 0)
		advance(s);
	return RG_SEQ_NEW;
}

uint64_t
rg_seq_holes(const struct rg_seq *s)
{
	return s->top - s->start - s->got;
}

uint64_t
rg_seq_missing(const struct rg_seq *s, uint64_t last)
{
	uint64_t n = s->given_up, i;

	if (last <= s->start)
		return 0;
	if (last <= s->base)
		return n;
	for (i = 0; i < last - s->base && i < RG_SEQ_WINDOW; i++)
		n += !bit_get(s, i);
	if (last - s->base > RG_SEQ_WINDOW)
		n += last - s->base - RG_SEQ_WINDOW;
	return n;
}
