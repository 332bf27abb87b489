/* SPDX-License-Identifier: MIT */
/*
 * peerload's pure parts: the message body (send time, publisher, index, padded to the body
 * size) and each peer's framing, built into a caller's buffer and parsed from a receive
 * buffer. Nothing here does I/O or allocates, so tests/unit/peers_test.c drives it with bytes.
 *
 * Parsers return the bytes consumed by one complete frame (> 0), 0 when the buffer holds only
 * part of one, -EPROTO on bytes that are not the protocol. A frame that carries a published
 * message sets ev->kind = PL_EV_MSG and ev->body/ev->body_len (pointing into the buffer).
 */
#ifndef PL_PROTO_H
#define PL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "gen_hist.h"

#define PL_BODY_MIN 40 /* "T" 16 hex " " 4 hex " " 8 hex " ", then padding */

enum pl_peer { PL_REDIS, PL_NATS, PL_MQTT, PL_XMPP };

enum pl_ev_kind {
	PL_EV_OTHER,   /* a frame the load does not need (PUBLISH's count, +OK, PING handled) */
	PL_EV_MSG,     /* a published message delivered */
	PL_EV_READY,   /* the subscription is confirmed (SUBSCRIBE reply, PONG, SUBACK) */
	PL_EV_CONNACK, /* MQTT: connection accepted */
	PL_EV_PING,    /* NATS: the server's PING, answer PONG */
};

struct pl_ev {
	enum pl_ev_kind kind;
	const char *body;
	size_t body_len;
};

/* Body of len bytes (len >= PL_BODY_MIN, printable ASCII, XML-safe): send time in ns,
 * publisher, index. Returns len or -EINVAL. */
int pl_body_make(char *out, size_t len, uint64_t t_ns, unsigned pub, uint32_t idx);
/* The fields back from a body; -EPROTO if it is not one. */
int pl_body_parse(const char *b, size_t len, uint64_t *t_ns, unsigned *pub, uint32_t *idx);

/* Redis (RESP): SUBSCRIBE topic / PUBLISH topic body. Return the frame length or -ENOSPC. */
int pl_redis_sub(char *out, size_t cap, const char *topic);
int pl_redis_pub(char *out, size_t cap, const char *topic, const char *body, size_t len);
/* One reply: ["message", topic, body] -> MSG; ["subscribe", topic, n] -> READY; else OTHER. */
int pl_redis_parse(const char *buf, size_t len, struct pl_ev *ev);

/* NATS core text protocol: CONNECT + SUB + PING (READY at its PONG) / PUB. */
int pl_nats_sub(char *out, size_t cap, const char *topic, unsigned sid);
int pl_nats_pub(char *out, size_t cap, const char *topic, const char *body, size_t len);
int pl_nats_parse(const char *buf, size_t len, struct pl_ev *ev);

/* MQTT 3.1.1: remaining-length varint, CONNECT (clean session), SUBSCRIBE QoS 0, PUBLISH QoS 0. */
int pl_mqtt_varint_put(uint8_t *out, uint32_t v);               /* bytes written (1..4) */
int pl_mqtt_varint_get(const uint8_t *in, size_t len, uint32_t *v); /* bytes, 0, -EPROTO */
int pl_mqtt_connect(char *out, size_t cap, const char *client_id);
int pl_mqtt_sub(char *out, size_t cap, const char *topic, uint16_t pkt_id);
int pl_mqtt_pub(char *out, size_t cap, const char *topic, const char *body, size_t len);
int pl_mqtt_parse(const char *buf, size_t len, struct pl_ev *ev);

/* XMPP: a groupchat message to room, and the next <body>..</body> of a stream (MSG), or the
 * bytes before it that hold none (OTHER); setup stanzas are matched by peerload itself. */
int pl_xmpp_pub(char *out, size_t cap, const char *room, const char *body, size_t len);
int pl_xmpp_parse(const char *buf, size_t len, struct pl_ev *ev);

/* Latency histograms of several client processes into one. */
void pl_hist_merge(struct rg_hist *into, const struct rg_hist *h);

#endif /* PL_PROTO_H */
