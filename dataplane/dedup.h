/* SPDX-License-Identifier: MIT */
/*
 * Re-sent POST detection for ONE room (PROTOCOL.md 7.6): the room's last `window` sequence
 * numbers, each with the (user, cmid) it was given to. A POST whose (user, cmid) holds one of
 * them is a resend. The window is per room: traffic in other rooms, by other users or on
 * other workers never shortens it.
 *
 * Keys are the FULL user name (up to RC_MAX_USER bytes) and the cmid: a hit compares both
 * in full, so two users can never share an entry. The index that finds an entry hashes
 * (user, cmid) with SipHash-2-4 (libsodium) under a random per-process key, so that nobody
 * can make a room's index degenerate by choosing colliding names or cmids.
 *
 * An entry is "pending" from the moment its seq is assigned until the WAL reports the
 * commit; a resend then is ignored (the first copy's ACK follows). Once stored, a resend is
 * answered with the same seq. A seq handed back (its record could not be stored) is
 * forgotten with rc_dedup_forget_from().
 *
 * Memory: the window grows with the room's messages, from 16 entries up to `window` (about
 * 90 bytes an entry: 360 KiB for a room with 4096 messages or more).
 *
 * Threads: a room's window belongs to the room's home worker. The control thread fills it
 * (rc_node_load_rooms: the warm-up from the WAL) only while no worker can use the room:
 * before the workers start, or while the room's HA scope is not served. No lock.
 */
#ifndef RC_DEDUP_H
#define RC_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

struct rc_dedup;

/* A room's window of `window` seqs (at least 1). The first call in the process starts
 * libsodium and picks the random index key. NULL + errno (ENOMEM; EIO: libsodium could
 * not start). Any thread. */
struct rc_dedup *rc_dedup_create(unsigned window);
void rc_dedup_destroy(struct rc_dedup *d);

/* The seq given to (user, cmid) in this room's window: 0 with *seq and *pending, or
 * -ENOENT. */
int rc_dedup_find(const struct rc_dedup *d, const char *user, unsigned user_len,
		  uint64_t cmid, uint64_t *seq, bool *pending);

/* Records that seq holds (user, cmid), pending or stored. Entries that fall out of the
 * window (seq <= the highest seq - window) go; an entry for the same (user, cmid) at
 * another seq goes too. 0; -ERANGE when seq is already outside the window (nothing
 * stored); -EINVAL for seq 0 or a bad user; -ENOMEM. */
int rc_dedup_put(struct rc_dedup *d, uint64_t seq, const char *user, unsigned user_len,
		 uint64_t cmid, bool pending);

/* Makes room for n entries at once (at most the window), so that filling a window from
 * the WAL does not grow it step by step. 0 or -ENOMEM (the window is unchanged). */
int rc_dedup_reserve(struct rc_dedup *d, unsigned n);

/* Seq's record is stored: its pending entry (user, cmid) becomes stored, without a hash
 * lookup when it is still in its slot (the common case); else as rc_dedup_put(). */
int rc_dedup_stored(struct rc_dedup *d, uint64_t seq, const char *user, unsigned user_len,
		    uint64_t cmid);

/* Forgets the entry of seq (its record was not stored). */
void rc_dedup_forget_seq(struct rc_dedup *d, uint64_t seq);

/* Forgets every entry with a seq >= seq (those seqs were handed back). */
void rc_dedup_forget_from(struct rc_dedup *d, uint64_t seq);

unsigned rc_dedup_count(const struct rc_dedup *d);
unsigned rc_dedup_window(const struct rc_dedup *d);

#endif /* RC_DEDUP_H */
