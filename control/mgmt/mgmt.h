/* SPDX-License-Identifier: MIT */
/*
 * The management endpoint of a node: HTTP/1.1 (libmicrohttpd) on the node's management
 * address, for monitoring systems and for the peer node.
 *
 *   GET  /metrics     Prometheus text format 0.0.4; unauthenticated and read-only, as a
 *                     Prometheus server expects (keep the address on the management network)
 *   GET  /v1/NAME     the document last published under NAME (rc_mgmt_publish), e.g.
 *                     /v1/cluster, /v1/dbcheck; authenticated; 404 until published
 *   PUT  /v1/NAME     a peer pushes a document (NAME in conf.put_names, default "cluster");
 *                     only from a peer's address (rc_mgmt_set_put_peers; 403 otherwise, on
 *                     the headers); authenticated; body at most 1 MiB (413); queued for the
 *                     control thread and answered 202 Accepted (503 + Retry-After when the
 *                     queue is full)
 *   anything else     404 unknown path, 405 (with Allow) wrong method
 *
 * Limits (so that one address cannot hold the endpoint): RC_MGMT_PER_IP connections per
 * client address, 256 in all, 16 KiB of libmicrohttpd memory per connection, 5 s idle.
 *
 * Authentication (every /v1/ request): the headers
 *   X-Roomcast-Node: the sender's node id ([A-Za-z0-9._-]{1,63})
 *   X-Roomcast-Time: unix seconds, at most 60 s away from the receiver's clock
 *   X-Roomcast-Mac:  64 lower-case hex digits of HMAC-SHA256(cluster secret,
 *                    "roomcast-mgmt-v1" NUL node NUL time NUL METHOD NUL PATH NUL body)
 * A missing or bad header answers 401 and counts an auth failure. A 200 answer to a GET is
 * signed back the same way (X-Roomcast-Node/-Time/-Mac of the server, over METHOD "REPLY"
 * and PATH = the request's MAC, so a reply is bound to its request); rc_mgmt_get checks it.
 * The MAC gives authenticity and integrity, not secrecy: documents must hold no secrets. A
 * request replayed within the 60 s window is harmless: GETs read, and pushed documents are
 * versioned (the control thread applies only a newer one).
 *
 * Threads: the server runs in libmicrohttpd's own thread and never reads node state: the
 * control thread publishes immutable snapshots (a pointer swap under a mutex held for a few
 * instructions; the HTTP thread holds a reference while it sends one) and takes pushed
 * documents from a bounded queue. rc_mgmt_* server functions are for the control thread
 * (one thread); rc_mgmt_get_stats may be called from any thread.
 *
 * The client side (rc_mgmt_push, rc_mgmt_get) uses libcurl and blocks for up to 2 s
 * (connect 300 ms): never call it on the control thread. rc_syncer is a thread that makes
 * the pushes for the control thread, which only enqueues.
 */
#ifndef RC_MGMT_H
#define RC_MGMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyring.h"
#include "prom.h"

#define RC_MGMT_NODE_MAX 63        /* node id length, as node.id in the configuration */
#define RC_MGMT_NAME_MAX 32        /* document name length: [a-z0-9_-]{1,32} */
#define RC_MGMT_MAC_HEX 64
#define RC_MGMT_BODY_MAX (1u << 20) /* documents and pushed bodies: 1 MiB */
#define RC_MGMT_SKEW_S 60
#define RC_MGMT_PER_IP 8          /* connections one client address may hold */

/* Who we are to the peer: the cluster key we sign with and our node id (both borrowed);
 * accept (may be NULL): further keys whose MACs are accepted (the cluster key ring during a
 * rotation, keyring.h). */
struct rc_mgmt_cred {
	const uint8_t *secret;
	size_t secret_len;
	const char *node_id;
	const struct rc_keyring *accept;
};

/* ---- authentication (pure; reentrant) ---- */

/* hex = the MAC of a request by node (see above). 0, -EINVAL (bad node id or arguments) or
 * -EIO (crypto failure). */
int rc_mgmt_sign(const uint8_t *secret, size_t secret_len, const char *node, uint64_t time,
		 const char *method, const char *path, const void *body, size_t len,
		 char hex[RC_MGMT_MAC_HEX + 1]);

/* Check a request's headers: node, time (decimal unix seconds) and mac (64 lower-case hex
 * digits) as received. 0 if mac is the MAC of the request and time is within RC_MGMT_SKEW_S
 * of now; -EBADMSG a header missing (NULL) or malformed, -EKEYREJECTED wrong MAC,
 * -EKEYEXPIRED a genuine request too far from now. The MAC is compared in constant time. */
int rc_mgmt_verify(const uint8_t *secret, size_t secret_len, const char *node,
		   const char *time, const char *method, const char *path, const void *body,
		   size_t len, const char *mac, uint64_t now);

/* rc_mgmt_verify with secret, then with every key of accept (may be NULL): 0 when one of
 * them verifies, else the first key's result. */
int rc_mgmt_verify_any(const uint8_t *secret, size_t secret_len, const struct rc_keyring *accept,
		       const char *node, const char *time, const char *method, const char *path,
		       const void *body, size_t len, const char *mac, uint64_t now);

bool rc_mgmt_node_id_ok(const char *id);
bool rc_mgmt_name_ok(const char *name);

/* "A.B.C.D:PORT" (IPv4, port 0..65535) into ip (network order) and port. 0 or -EINVAL. */
int rc_mgmt_parse_addr(const char *addr, uint32_t *ip, uint16_t *port);

/* ---- the server (control thread) ---- */

struct rc_mgmt;

struct rc_mgmt_conf {
	const char *addr;              /* "IP:PORT" to listen on; port 0 = any (see rc_mgmt_port) */
	struct rc_mgmt_cred cred;      /* copied */
	const char *const *put_names;  /* NULL-terminated names accepting PUT; NULL: "cluster" */
	unsigned queue_len;            /* pushes waiting for the control thread; 0: 16 */
	unsigned max_conns;            /* simultaneous connections; 0: 256 (RC_MGMT_PER_IP each) */
};

/* A pushed document, valid during the callback only. */
struct rc_mgmt_push {
	const char *name;  /* "cluster" */
	const char *node;  /* the authenticated sender */
	uint64_t time;     /* its X-Roomcast-Time */
	const char *body;  /* NUL-terminated (the NUL is not counted in len) */
	size_t len;
};
typedef void (*rc_mgmt_push_fn)(void *arg, const struct rc_mgmt_push *p);

/* Fills the metrics snapshot (see rc_mgmt_refresh_metrics). 0 or -errno. */
typedef int (*rc_metrics_fn)(void *arg, struct rc_metrics_buf *out);

struct rc_mgmt_stats {
	uint64_t requests_served;   /* every answered request, any status */
	uint64_t metrics_scrapes;   /* GET /metrics answered 200 */
	uint64_t docs_served;       /* GET /v1/NAME answered 200 */
	uint64_t pushes_received;   /* PUTs accepted (202) */
	uint64_t pushes_dropped;    /* PUTs refused with 503: the queue was full */
	uint64_t pushes_polled;     /* handed to the control thread */
	uint64_t auth_failures;     /* 401 */
	uint64_t too_large;         /* 413 */
	uint64_t not_found;         /* 404 */
	uint64_t bad_method;        /* 405 */
	uint64_t not_peer;          /* 403: a PUT from an address that is not a peer's */
	uint64_t connections;       /* open now (a gauge, from libmicrohttpd) */
};

/* Listen on conf->addr and serve from libmicrohttpd's own thread. NULL + errno (and a
 * message in err) when the address is bad (EINVAL) or cannot be bound. */
struct rc_mgmt *rc_mgmt_open(const struct rc_mgmt_conf *conf, char *err, size_t errlen);

/* Who may PUT from now on: the configured peers' addresses ips[0..n) (IPv4, network order);
 * ips NULL: any address (the default: a node that is in no cluster state yet takes its
 * first state from whoever holds the secret). A PUT from another address is answered 403
 * on its headers, before any body is read. 0 or -ENOSPC (more than 256). */
int rc_mgmt_set_put_peers(struct rc_mgmt *m, const uint32_t *ips, unsigned n);

/* The TCP port listened on (the one picked when conf->addr asked for port 0). */
uint16_t rc_mgmt_port(const struct rc_mgmt *m);

/* Replace the keys (ring->k[0] signs replies; every key verifies requests), for a live key
 * rotation. 0 or -EINVAL. Any thread. */
int rc_mgmt_set_keys(struct rc_mgmt *m, const struct rc_keyring *ring);

/* Stop the server (waits for its thread; requests in flight are cut) and free everything,
 * queued pushes included. NULL is a no-op. */
void rc_mgmt_close(struct rc_mgmt *m);

/* Serve text[0..len) at GET /v1/NAME from now on (copied; replaces the previous version).
 * 0, -EINVAL bad name, -EMSGSIZE larger than RC_MGMT_BODY_MAX, -ENOSPC more than 16 names,
 * -ENOMEM. Documents are served as application/json. */
int rc_mgmt_publish(struct rc_mgmt *m, const char *name, const char *text, size_t len);

static inline int
rc_mgmt_publish_cluster(struct rc_mgmt *m, const char *json, size_t len)
{
	return rc_mgmt_publish(m, "cluster", json, len);
}

/* Serve text[0..len) at GET /metrics from now on (copied). 0 or -ENOMEM. */
int rc_mgmt_publish_metrics(struct rc_mgmt *m, const char *text, size_t len);

/* Build and publish the metrics snapshot: fn(arg, buf) writes the node's families, then
 * the endpoint's own (roomcast_mgmt_*) and roomcast_metrics_snapshot_timestamp_seconds are
 * added. Call about once a second from the control loop. On an error (fn's, or the
 * buffer's sticky one) the previous snapshot stays served and the error is returned. */
int rc_mgmt_refresh_metrics(struct rc_mgmt *m, rc_metrics_fn fn, void *arg);

/* Write the endpoint's counters as roomcast_mgmt_* families into b. */
int rc_mgmt_write_metrics(const struct rc_mgmt *m, struct rc_metrics_buf *b);

/* Hand every queued push to fn, oldest first, on the calling (control) thread; never
 * blocks. Returns how many were handed over. fn validates and applies (version compare). */
unsigned rc_mgmt_poll_pushes(struct rc_mgmt *m, rc_mgmt_push_fn fn, void *arg);

void rc_mgmt_get_stats(const struct rc_mgmt *m, struct rc_mgmt_stats *st);

/* ---- the client (blocking: helper threads only) ---- */

/* A GET's answer. body is NUL-terminated (malloc'd, NULL when empty). */
struct rc_mgmt_reply {
	long status;
	char *body;
	size_t len;
	char node[RC_MGMT_NODE_MAX + 1]; /* the server's node id (signed 200 replies) */
};

/* PUT body to http://PEER/PATH with the authentication headers. Returns 0 when the peer
 * answered (its HTTP status in *status: 202 = queued there), or -EINVAL (bad peer or path),
 * -EMSGSIZE (body larger than RC_MGMT_BODY_MAX), -ECONNREFUSED, -ETIMEDOUT, -ECANCELED
 * (*cancel became true), -EIO (other transport errors). status and cancel may be NULL;
 * cancel is checked while the transfer runs. */
int rc_mgmt_push(const struct rc_mgmt_cred *c, const char *peer, const char *path,
		 const void *body, size_t len, long *status, const volatile bool *cancel);

/* GET http://PEER/PATH. 0 when the peer answered (status in r->status); a 200 answer must be
 * signed by the cluster secret (else -EBADMSG, nothing returned) and at most
 * RC_MGMT_BODY_MAX bytes (else -EMSGSIZE). Another status comes with the peer's unsigned
 * explanation in body: for messages only. Transport errors as rc_mgmt_push. Free r with
 * rc_mgmt_reply_free (also after an error). */
int rc_mgmt_get(const struct rc_mgmt_cred *c, const char *peer, const char *path,
		struct rc_mgmt_reply *r);
void rc_mgmt_reply_free(struct rc_mgmt_reply *r);

/* ---- the syncer: pushes for the control thread ---- */

/*
 * One thread owning a queue of (peer, path, body) pushes. Each is retried with exponential
 * back-off (retry_min_ms doubling up to retry_max_ms) until the peer answers 2xx; a newer
 * body for the same (peer, path) replaces the one waiting (newest wins: only the latest
 * state matters). A permanent refusal (400, 404, 405, 413) drops the push (counted);
 * anything else (no answer, 401, 5xx, ...) is retried.
 *
 * Threads: rc_syncer_enqueue and rc_syncer_get_stats may be called from any thread and
 * never block on the network (a mutex held for a copy); start/stop from one thread.
 */
struct rc_syncer;

struct rc_syncer_conf {
	struct rc_mgmt_cred cred; /* copied */
	unsigned retry_min_ms;    /* 0: 200 */
	unsigned retry_max_ms;    /* 0: 5000 */
	unsigned max_entries;     /* distinct (peer, path) waiting; 0: 64 */
};

struct rc_syncer_stats {
	uint64_t pushes_ok;       /* answered 2xx */
	uint64_t pushes_failed;   /* attempts that did not succeed (each retry counts) */
	uint64_t pushes_dropped;  /* refused permanently by the peer */
	uint64_t auth_failures;   /* attempts the peer answered 401 (secrets differ?) */
	uint64_t superseded;      /* waiting bodies replaced by a newer one */
	uint64_t pending;         /* pushes waiting now */
};

/* NULL + errno (EINVAL bad credentials, or the thread could not start). */
struct rc_syncer *rc_syncer_start(const struct rc_syncer_conf *conf);

/* Queue body for PUT http://PEER/PATH (copied). 0, -EINVAL (bad peer or path), -EMSGSIZE
 * (larger than RC_MGMT_BODY_MAX), -ENOBUFS (max_entries waiting), -ENOMEM. */
int rc_syncer_enqueue(struct rc_syncer *s, const char *peer, const char *path,
		      const void *body, size_t len);

void rc_syncer_get_stats(struct rc_syncer *s, struct rc_syncer_stats *st);

/* Write the syncer's counters as roomcast_mgmt_sync_* families into b. */
int rc_syncer_write_metrics(struct rc_syncer *s, struct rc_metrics_buf *b);

/* Stop the thread (an attempt in flight is cancelled) and free the queue. NULL: no-op. */
void rc_syncer_stop(struct rc_syncer *s);

/* Sign the next pushes with key (len bytes, at most RC_KEY_MAX): a live key rotation.
 * 0 or -EINVAL. Any thread. */
int rc_syncer_set_key(struct rc_syncer *s, const uint8_t *key, size_t len);

#endif /* RC_MGMT_H */
