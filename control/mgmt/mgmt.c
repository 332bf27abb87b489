/* SPDX-License-Identifier: MIT */
/*
 * The management endpoint's server (see mgmt.h for the routes and the authentication).
 *
 * libmicrohttpd runs its own polling thread and calls on_request several times per request:
 * once when the headers are in (routing, 404/405, early 401 and 413 before any body is
 * read), once per piece of body (kept, up to 1 MiB), and once at the end (the MAC is checked
 * over the whole body, then the answer). It never touches node state:
 *
 *   control thread                            HTTP thread
 *   rc_mgmt_publish(name, text) --> [blob] --> GET /v1/name (holds a reference while sending)
 *   rc_mgmt_refresh_metrics()   --> [blob] --> GET /metrics
 *   rc_mgmt_poll_pushes(fn)     <-- [queue] <-- PUT /v1/name (202; 503 when full)
 *
 * A blob is immutable once published; `lock` guards only the pointers and the queue and is
 * never held across I/O or a callback.
 */
#include "mgmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define MAX_DOCS 16
#define MAX_PUT_NAMES 8
#define CONN_TIMEOUT_S 5       /* idle: a request's bytes must keep coming */
#define CONN_MEMORY (16 * 1024) /* per connection (headers; bodies are ours, PUT only) */
#define MAX_PEERS 256
#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

struct blob {
	unsigned refs; /* atomic */
	size_t len;
	char data[]; /* len bytes + NUL */
};

struct doc {
	char name[RC_MGMT_NAME_MAX + 1];
	struct blob *blob;
};

struct pushed {
	char name[RC_MGMT_NAME_MAX + 1];
	char node[RC_MGMT_NODE_MAX + 1];
	uint64_t time;
	char *body;
	size_t len;
};

enum route {
	ROUTE_METRICS = 0,
	ROUTE_DOC,
};

/* One request, from its headers to its completion (MHD's con_cls). */
struct req {
	enum route route;
	char name[RC_MGMT_NAME_MAX + 1];
	char *body;
	size_t len, cap;
	bool too_large;
};

struct rc_mgmt {
	struct MHD_Daemon *d;
	uint16_t port;
	struct rc_keyring keys; /* k[0] signs replies; all verify requests (under lock) */
	char node_id[RC_MGMT_NODE_MAX + 1];
	char put_names[MAX_PUT_NAMES][RC_MGMT_NAME_MAX + 1];
	unsigned n_put_names;

	pthread_mutex_t lock; /* docs[].blob, metrics, the queue */
	struct doc docs[MAX_DOCS];
	unsigned n_docs;
	struct blob *metrics;
	struct pushed *queue; /* ring of queue_len */
	unsigned queue_len, q_head, q_count;

	bool peers_any;               /* until rc_mgmt_set_put_peers names them */
	unsigned n_peers;
	uint32_t peers[MAX_PEERS];    /* who may PUT (network order), under lock */

	struct rc_metrics_buf mbuf; /* control thread: rc_mgmt_refresh_metrics */
	struct rc_mgmt_stats st;    /* atomics */
};

#define COUNT(m, field) __atomic_fetch_add(&(m)->st.field, 1, __ATOMIC_RELAXED)

/* ---- blobs ---- */

static struct blob *
blob_new(const char *text, size_t len)
{
	struct blob *b = malloc(sizeof(*b) + len + 1);

	if (b == NULL)
		return NULL;
	b->refs = 1;
	b->len = len;
	if (len != 0)
		memcpy(b->data, text, len);
	b->data[len] = '\0';
	return b;
}

static void
blob_unref(void *arg)
{
	struct blob *b = arg;

	if (b != NULL && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

/* A reference to *slot's blob (or NULL), taken under the lock. */
static struct blob *
blob_get(struct rc_mgmt *m, struct blob **slot)
{
	struct blob *b;

	pthread_mutex_lock(&m->lock);
	b = *slot;
	if (b != NULL)
		__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&m->lock);
	return b;
}

/* Put b in *slot; the old blob loses the table's reference (outside the lock). */
static void
blob_swap(struct rc_mgmt *m, struct blob **slot, struct blob *b)
{
	struct blob *old;

	pthread_mutex_lock(&m->lock);
	old = *slot;
	*slot = b;
	pthread_mutex_unlock(&m->lock);
	blob_unref(old);
}

/* ---- publishing (control thread) ---- */

int
rc_mgmt_publish(struct rc_mgmt *m, const char *name, const char *text, size_t len)
{
	struct blob *b;
	unsigned i;

	if (!rc_mgmt_name_ok(name) || (text == NULL && len != 0))
		return -EINVAL;
	if (len > RC_MGMT_BODY_MAX)
		return -EMSGSIZE;
	for (i = 0; i < m->n_docs && strcmp(m->docs[i].name, name) != 0; i++)
		;
	if (i == MAX_DOCS)
		return -ENOSPC;
	if ((b = blob_new(text, len)) == NULL)
		return -ENOMEM;
	if (i == m->n_docs) {
		/* A new slot: its name is written before the count that makes it visible. */
		snprintf(m->docs[i].name, sizeof(m->docs[i].name), "%s", name);
		pthread_mutex_lock(&m->lock);
		m->n_docs++;
		pthread_mutex_unlock(&m->lock);
	}
	blob_swap(m, &m->docs[i].blob, b);
	return 0;
}

int
rc_mgmt_publish_metrics(struct rc_mgmt *m, const char *text, size_t len)
{
	struct blob *b = blob_new(text, len);

	if (b == NULL)
		return -ENOMEM;
	blob_swap(m, &m->metrics, b);
	return 0;
}

int
rc_mgmt_refresh_metrics(struct rc_mgmt *m, rc_metrics_fn fn, void *arg)
{
	struct timespec now;
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	rc_metrics_buf_reset(&m->mbuf);
	rc = fn != NULL ? fn(arg, &m->mbuf) : 0;
	if (rc != 0)
		return rc;
	rc_mgmt_write_metrics(m, &m->mbuf);
	rc_metric_gauge(&m->mbuf, "roomcast_metrics_snapshot_timestamp_seconds",
			"When the control thread took this snapshot (unix time); a stale value "
			"means the control thread is stuck.",
			NULL, (double)now.tv_sec + now.tv_nsec / 1e9);
	if (m->mbuf.err != 0)
		return m->mbuf.err;
	return rc_mgmt_publish_metrics(m, m->mbuf.buf, m->mbuf.len);
}

#define MS(f) offsetof(struct rc_mgmt_stats, f)

static const struct rc_metric_row mgmt_rows[] = {
	{ "roomcast_mgmt_requests_total",
	  "Requests answered by the management endpoint, any status.", NULL,
	  MS(requests_served) },
	{ "roomcast_mgmt_auth_failures_total",
	  "Management requests refused 401: missing or wrong MAC, or clock skew.", NULL,
	  MS(auth_failures) },
	{ "roomcast_mgmt_refused_total", "Management requests refused, by reason.",
	  RC_LABELS("reason", "not_found"), MS(not_found) },
	{ "roomcast_mgmt_refused_total", NULL, RC_LABELS("reason", "bad_method"), MS(bad_method) },
	{ "roomcast_mgmt_refused_total", NULL, RC_LABELS("reason", "too_large"), MS(too_large) },
	{ "roomcast_mgmt_refused_total", NULL, RC_LABELS("reason", "not_peer"), MS(not_peer) },
	{ "roomcast_mgmt_refused_total", NULL, RC_LABELS("reason", "queue_full"),
	  MS(pushes_dropped) },
	{ "roomcast_mgmt_pushes_received_total",
	  "Documents pushed by the peer and queued for the control thread.", NULL,
	  MS(pushes_received) },
	{ "roomcast_mgmt_documents_served_total", "Documents served at GET /v1/NAME.", NULL,
	  MS(docs_served) },
};

int
rc_mgmt_write_metrics(const struct rc_mgmt *m, struct rc_metrics_buf *b)
{
	struct rc_mgmt_stats s;

	rc_mgmt_get_stats(m, &s);
	return rc_metric_rows(b, mgmt_rows, sizeof(mgmt_rows) / sizeof(mgmt_rows[0]), &s);
}

void
rc_mgmt_get_stats(const struct rc_mgmt *m, struct rc_mgmt_stats *st)
{
	const union MHD_DaemonInfo *info;
	const uint64_t *src = (const uint64_t *)&m->st;
	uint64_t *dst = (uint64_t *)st;
	size_t i;

	for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	info = m->d != NULL ? MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS)
			    : NULL;
	st->connections = info != NULL ? info->num_connections : 0;
}

/* ---- the push queue ---- */

/* HTTP thread: queue an authenticated push, taking r's body. false when full. */
static bool
queue_push(struct rc_mgmt *m, struct req *r, const char *node, uint64_t time)
{
	struct pushed *p;
	bool ok = false;

	pthread_mutex_lock(&m->lock);
	if (m->q_count < m->queue_len) {
		p = &m->queue[(m->q_head + m->q_count++) % m->queue_len];
		snprintf(p->name, sizeof(p->name), "%s", r->name);
		snprintf(p->node, sizeof(p->node), "%s", node);
		p->time = time;
		p->body = r->body;
		p->len = r->len;
		r->body = NULL;
		ok = true;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

unsigned
rc_mgmt_poll_pushes(struct rc_mgmt *m, rc_mgmt_push_fn fn, void *arg)
{
	struct pushed p;
	unsigned n = 0;

	for (;;) {
		pthread_mutex_lock(&m->lock);
		if (m->q_count == 0) {
			pthread_mutex_unlock(&m->lock);
			return n;
		}
		p = m->queue[m->q_head];
		m->q_head = (m->q_head + 1) % m->queue_len;
		m->q_count--;
		pthread_mutex_unlock(&m->lock);
		fn(arg, &(struct rc_mgmt_push){ .name = p.name, .node = p.node, .time = p.time,
						 .body = p.body != NULL ? p.body : "",
						 .len = p.len });
		free(p.body);
		COUNT(m, pushes_polled);
		n++;
	}
}

/* ---- answers ---- */

static enum MHD_Result
send_response(struct rc_mgmt *m, struct MHD_Connection *c, unsigned status,
	      struct MHD_Response *resp, const char *ctype)
{
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	if (ctype != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	COUNT(m, requests_served);
	return ret;
}

/* A short text answer; extra is one more header ("Name", "value") or NULL. */
static enum MHD_Result
send_text(struct rc_mgmt *m, struct MHD_Connection *c, unsigned status, const char *text,
	  const char *hdr, const char *val)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);

	if (resp != NULL && hdr != NULL)
		MHD_add_response_header(resp, hdr, val);
	return send_response(m, c, status, resp, CT_TEXT);
}

static enum MHD_Result
send_blob(struct rc_mgmt *m, struct MHD_Connection *c, struct blob *b, const char *ctype,
	  const char *req_mac)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
		b->len, b->data, blob_unref, b);
	char mac[RC_MGMT_MAC_HEX + 1], t[24];
	uint64_t now = (uint64_t)time(NULL);

	if (resp == NULL) {
		blob_unref(b);
		return MHD_NO;
	}
	if (req_mac != NULL) { /* a signed reply, bound to the request by its MAC */
		struct rc_key k;
		int rc;

		pthread_mutex_lock(&m->lock);
		k = m->keys.k[0];
		pthread_mutex_unlock(&m->lock);
		rc = rc_mgmt_sign(k.key, k.len, m->node_id, now, "REPLY", req_mac, b->data, b->len,
				  mac);
		OPENSSL_cleanse(&k, sizeof(k));
		if (rc != 0) {
			MHD_destroy_response(resp);
			return MHD_NO;
		}
		snprintf(t, sizeof(t), "%llu", (unsigned long long)now);
		MHD_add_response_header(resp, "X-Roomcast-Node", m->node_id);
		MHD_add_response_header(resp, "X-Roomcast-Time", t);
		MHD_add_response_header(resp, "X-Roomcast-Mac", mac);
	}
	return send_response(m, c, MHD_HTTP_OK, resp, ctype);
}

static enum MHD_Result
refuse_auth(struct rc_mgmt *m, struct MHD_Connection *c)
{
	COUNT(m, auth_failures);
	return send_text(m, c, MHD_HTTP_UNAUTHORIZED,
			 "authentication failed: X-Roomcast-Node, X-Roomcast-Time (within 60 s) "
			 "and X-Roomcast-Mac are required\n",
			 NULL, NULL);
}

static enum MHD_Result
refuse_size(struct rc_mgmt *m, struct MHD_Connection *c)
{
	COUNT(m, too_large);
	return send_text(m, c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than 1 MiB\n", NULL,
			 NULL);
}

/* ---- routing ---- */

static bool
put_allowed(const struct rc_mgmt *m, const char *name)
{
	unsigned i;

	for (i = 0; i < m->n_put_names; i++)
		if (strcmp(m->put_names[i], name) == 0)
			return true;
	return false;
}

static bool
is_get(const char *method)
{
	return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	       strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

static const char *
hdr(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* May the client of c PUT? A configured peer's address (or anyone, before the node knows
 * its peers). */
static bool
from_peer(struct rc_mgmt *m, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr_in *sin;
	bool ok = false;

	if (ci == NULL || ci->client_addr == NULL || ci->client_addr->sa_family != AF_INET)
		return false;
	sin = (const struct sockaddr_in *)ci->client_addr;
	pthread_mutex_lock(&m->lock);
	ok = m->peers_any;
	for (unsigned i = 0; !ok && i < m->n_peers; i++)
		ok = m->peers[i] == sin->sin_addr.s_addr;
	pthread_mutex_unlock(&m->lock);
	return ok;
}

int
rc_mgmt_set_put_peers(struct rc_mgmt *m, const uint32_t *ips, unsigned n)
{
	if (ips != NULL && n > MAX_PEERS)
		return -ENOSPC;
	pthread_mutex_lock(&m->lock);
	m->peers_any = ips == NULL;
	m->n_peers = ips == NULL ? 0 : n;
	if (n != 0 && ips != NULL)
		memcpy(m->peers, ips, n * sizeof(*ips));
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* Headers are in: route, then refuse early what needs no body to be refused. Returns
 * MHD_YES with *r set to go on reading, or the result of an answer already queued. */
static enum MHD_Result
start_request(struct rc_mgmt *m, struct MHD_Connection *c, const char *url,
	      const char *method, struct req **r)
{
	const char *cl = hdr(c, MHD_HTTP_HEADER_CONTENT_LENGTH), *t = hdr(c, "X-Roomcast-Time");
	bool put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0;
	struct req q = { .route = ROUTE_METRICS };
	uint64_t now = (uint64_t)time(NULL);
	unsigned long long v;

	if (strcmp(url, "/metrics") != 0) {
		if (strncmp(url, "/v1/", 4) != 0 || !rc_mgmt_name_ok(url + 4)) {
			COUNT(m, not_found);
			return send_text(m, c, MHD_HTTP_NOT_FOUND, "not found\n", NULL, NULL);
		}
		q.route = ROUTE_DOC;
		snprintf(q.name, sizeof(q.name), "%s", url + 4);
	}
	if (!(is_get(method) || (put && q.route == ROUTE_DOC && put_allowed(m, q.name)))) {
		COUNT(m, bad_method);
		return send_text(m, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				 MHD_HTTP_HEADER_ALLOW,
				 q.route == ROUTE_DOC && put_allowed(m, q.name) ? "GET, HEAD, PUT"
										 : "GET, HEAD");
	}
	if (put && !from_peer(m, c)) {
		COUNT(m, not_peer);
		return send_text(m, c, MHD_HTTP_FORBIDDEN, "PUT only from the cluster's nodes\n",
				 NULL, NULL);
	}
	if (cl != NULL && (sscanf(cl, "%llu", &v) != 1 || v > RC_MGMT_BODY_MAX))
		return refuse_size(m, c);
	if (q.route == ROUTE_DOC && (hdr(c, "X-Roomcast-Node") == NULL ||
				     hdr(c, "X-Roomcast-Mac") == NULL || t == NULL ||
				     sscanf(t, "%llu", &v) != 1 ||
				     (v > now ? v - now : now - v) > RC_MGMT_SKEW_S))
		return refuse_auth(m, c);
	if ((*r = malloc(sizeof(**r))) == NULL)
		return MHD_NO;
	**r = q;
	return MHD_YES;
}

/* Keep a piece of the body, up to the limit. */
static void
absorb(struct req *r, const char *data, size_t n)
{
	size_t cap;
	char *p;

	if (r->too_large || r->len + n > RC_MGMT_BODY_MAX) {
		r->too_large = true;
		return;
	}
	if (r->len + n + 1 > r->cap) {
		for (cap = r->cap ? r->cap : 4096; cap < r->len + n + 1;)
			cap *= 2;
		if ((p = realloc(r->body, cap)) == NULL) {
			r->too_large = true; /* refused as too large for us */
			return;
		}
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
}

/* The request's MAC verifies under a key of the ring. */
static bool
request_genuine(struct rc_mgmt *m, const char *node, const char *t, const char *method,
		const char *url, const struct req *r, const char *mac)
{
	struct rc_keyring ring;
	int rc;

	pthread_mutex_lock(&m->lock);
	ring = m->keys;
	pthread_mutex_unlock(&m->lock);
	rc = rc_mgmt_verify_any(NULL, 0, &ring, node, t, method, url, r->body, r->len, mac,
				(uint64_t)time(NULL));
	rc_keyring_wipe(&ring);
	return rc == 0;
}

int
rc_mgmt_set_keys(struct rc_mgmt *m, const struct rc_keyring *ring)
{
	if (m == NULL || ring == NULL || ring->n == 0)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	m->keys = *ring;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static enum MHD_Result
finish_doc(struct rc_mgmt *m, struct MHD_Connection *c, const char *url, const char *method,
	   struct req *r)
{
	const char *node = hdr(c, "X-Roomcast-Node"), *t = hdr(c, "X-Roomcast-Time");
	const char *mac = hdr(c, "X-Roomcast-Mac");
	struct blob *b = NULL;
	unsigned i, n;

	if (!request_genuine(m, node, t, method, url, r, mac))
		return refuse_auth(m, c);
	if (strcmp(method, MHD_HTTP_METHOD_PUT) == 0) {
		if (!queue_push(m, r, node, strtoull(t, NULL, 10))) {
			COUNT(m, pushes_dropped);
			return send_text(m, c, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "busy: the previous documents are not applied yet\n",
					 MHD_HTTP_HEADER_RETRY_AFTER, "1");
		}
		COUNT(m, pushes_received);
		return send_text(m, c, MHD_HTTP_ACCEPTED, "accepted\n", NULL, NULL);
	}
	pthread_mutex_lock(&m->lock);
	n = m->n_docs;
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < n && b == NULL; i++)
		if (strcmp(m->docs[i].name, r->name) == 0)
			b = blob_get(m, &m->docs[i].blob);
	if (b == NULL) {
		COUNT(m, not_found);
		return send_text(m, c, MHD_HTTP_NOT_FOUND, "not published yet\n", NULL, NULL);
	}
	COUNT(m, docs_served);
	return send_blob(m, c, b, CT_JSON, mac);
}

static enum MHD_Result
finish_request(struct rc_mgmt *m, struct MHD_Connection *c, const char *url,
	       const char *method, struct req *r)
{
	struct blob *b;

	if (r->too_large)
		return refuse_size(m, c);
	if (r->route == ROUTE_DOC)
		return finish_doc(m, c, url, method, r);
	if ((b = blob_get(m, &m->metrics)) == NULL)
		return send_text(m, c, MHD_HTTP_SERVICE_UNAVAILABLE, "no metrics yet\n",
				 MHD_HTTP_HEADER_RETRY_AFTER, "1");
	COUNT(m, metrics_scrapes);
	return send_blob(m, c, b, RC_PROM_CONTENT_TYPE, NULL);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size,
	   void **con_cls)
{
	struct rc_mgmt *m = cls;
	struct req *r = *con_cls;

	(void)version;
	if (r == NULL)
		return start_request(m, c, url, method, (struct req **)con_cls);
	if (*upload_data_size != 0) {
		absorb(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return finish_request(m, c, url, method, r);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls, (void)c, (void)toe;
	if (r != NULL) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

/* ---- life cycle ---- */

/* Why MHD could not listen on sin: try the bind ourselves for the errno. */
static int
bind_errno(const struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = EADDRINUSE, one = 1;

	if (fd < 0)
		return errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sin, sizeof(*sin)) != 0)
		rc = errno;
	close(fd);
	return rc;
}

static int
copy_conf(struct rc_mgmt *m, const struct rc_mgmt_conf *conf, char *err, size_t errlen)
{
	static const char *const default_puts[] = { "cluster", NULL };
	const char *const *puts = conf->put_names != NULL ? conf->put_names : default_puts;
	const struct rc_mgmt_cred *cr = &conf->cred;

	if (cr->secret == NULL || cr->secret_len == 0 || !rc_mgmt_node_id_ok(cr->node_id)) {
		snprintf(err, errlen, "management endpoint: a cluster secret and a node id "
				      "([A-Za-z0-9._-], at most 63) are required");
		return -EINVAL;
	}
	for (; *puts != NULL; puts++) {
		if (!rc_mgmt_name_ok(*puts) || m->n_put_names == MAX_PUT_NAMES) {
			snprintf(err, errlen, "management endpoint: bad PUT name \"%s\"", *puts);
			return -EINVAL;
		}
		snprintf(m->put_names[m->n_put_names++], RC_MGMT_NAME_MAX + 1, "%s", *puts);
	}
	if (cr->secret_len > RC_KEY_MAX)
		return -EINVAL;
	m->keys.n = 1;
	m->keys.k[0].len = (unsigned)cr->secret_len;
	memcpy(m->keys.k[0].key, cr->secret, cr->secret_len);
	for (unsigned i = 0; cr->accept != NULL && i < cr->accept->n && m->keys.n < RC_KEYRING_MAX;
	     i++)
		m->keys.k[m->keys.n++] = cr->accept->k[i];
	snprintf(m->node_id, sizeof(m->node_id), "%s", cr->node_id);
	m->queue_len = conf->queue_len != 0 ? conf->queue_len : 16;
	m->queue = calloc(m->queue_len, sizeof(*m->queue));
	return m->queue != NULL ? 0 : -ENOMEM;
}

static int
start_daemon(struct rc_mgmt *m, const struct rc_mgmt_conf *conf, char *err, size_t errlen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const union MHD_DaemonInfo *info;
	sigset_t all, old;
	uint32_t ip;
	int rc;

	if (rc_mgmt_parse_addr(conf->addr, &ip, &sin.sin_port) != 0) {
		snprintf(err, errlen, "management endpoint: \"%s\" is not IPv4-ADDRESS:PORT",
			 conf->addr != NULL ? conf->addr : "");
		return -EINVAL;
	}
	sin.sin_addr.s_addr = ip;
	sin.sin_port = htons(sin.sin_port);
	/* The HTTP thread inherits a mask blocking every signal: they stay the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
				on_request, m, MHD_OPTION_SOCK_ADDR, &sin,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
				MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)(conf->max_conns != 0 ? conf->max_conns : 256),
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)RC_MGMT_PER_IP,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
				MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (m->d == NULL) {
		rc = bind_errno(&sin);
		snprintf(err, errlen, "management endpoint: cannot listen on %s: %s", conf->addr,
			 strerror(rc));
		return -rc;
	}
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info != NULL ? info->port : ntohs(sin.sin_port);
	return 0;
}

struct rc_mgmt *
rc_mgmt_open(const struct rc_mgmt_conf *conf, char *err, size_t errlen)
{
	struct rc_mgmt *m = calloc(1, sizeof(*m));
	int rc;

	if (m == NULL) {
		snprintf(err, errlen, "management endpoint: out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->peers_any = true;
	rc_metrics_buf_init(&m->mbuf);
	rc = copy_conf(m, conf, err, errlen);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "management endpoint: out of memory");
	if (rc == 0)
		rc = start_daemon(m, conf, err, errlen);
	if (rc != 0) {
		rc_mgmt_close(m);
		errno = -rc;
		return NULL;
	}
	return m;
}

uint16_t
rc_mgmt_port(const struct rc_mgmt *m)
{
	return m->port;
}

void
rc_mgmt_close(struct rc_mgmt *m)
{
	unsigned i;

	if (m == NULL)
		return;
	if (m->d != NULL)
		MHD_stop_daemon(m->d); /* joins the thread; blobs in flight are released */
	for (i = 0; i < m->n_docs; i++)
		blob_unref(m->docs[i].blob);
	blob_unref(m->metrics);
	for (i = 0; i < m->q_count; i++)
		free(m->queue[(m->q_head + i) % m->queue_len].body);
	free(m->queue);
	rc_keyring_wipe(&m->keys);
	rc_metrics_buf_free(&m->mbuf);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
