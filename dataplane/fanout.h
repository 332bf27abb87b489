/* SPDX-License-Identifier: MIT */
/*
 * Sending on a worker: messages for one recipient are packed into one open datagram
 * ("bundle") until it is full or the loop iteration ends; a room message is encoded once
 * and copied into every member's datagram (copy per recipient: measured faster than a
 * header mbuf + clone for chat-sized bodies, see README "Fan-out").
 *
 * Concurrency: the owning worker lcore only.
 */
#ifndef RC_FANOUT_H
#define RC_FANOUT_H

#include "dp.h"
#include "room_table.h"

/* Append the encoded message bytes[0..len) to the open datagram for `to`. 0 or -errno
 * (the drop is counted). */
int rc_tx_append(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to,
		 const uint8_t *bytes, uint16_t len);

/* Encode m and append it for `to`. */
int rc_tx_msg(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to,
	      const struct rc_msg *m);

/* Encode a DELIVER once and append it for every member of room r. Returns members
 * reached. */
unsigned rc_fanout_room(struct rc_dp *dp, struct rc_worker *w, const struct rc_room *r,
			const struct rc_msg *deliver);

/*
 * Add a stored message's DELIVER to the worker's batch of its room (dp.h rc_fan_batch);
 * a batch of another room (or a full one) is fanned out first. The batch goes out at the
 * latest with rc_tx_flush, in the same loop iteration: the room is looked up again by id
 * then (a room unloaded meanwhile gets nothing). A client member gets the batch's DELIVERs
 * in as few datagrams as fit (RC_MAX_DGRAM each), a node member each with its own id of the
 * room. 0 or -errno (the message does not encode).
 */
int rc_fanout_add(struct rc_dp *dp, struct rc_worker *w, const struct rc_room *r,
		  const struct rc_msg *deliver);

/* Fan the worker's batch out now (nothing when it is empty). */
void rc_fanout_flush(struct rc_dp *dp, struct rc_worker *w);

/* Queue a finished frame (headers written) for transmission on its port (m->port holds
 * our port index). */
void rc_tx_frame(struct rc_dp *dp, struct rc_worker *w, struct rte_mbuf *m);

/* Fan out the pending batch, close every open datagram and transmit everything queued. */
void rc_tx_flush(struct rc_dp *dp, struct rc_worker *w);

#endif /* RC_FANOUT_H */
