/* SPDX-License-Identifier: MIT */
/*
 * The management client: one libcurl easy transfer per call, plain HTTP to a peer given as
 * "IP:PORT", with the authentication headers of mgmt.h. Short timeouts (connect 300 ms,
 * whole transfer 2 s), no proxy whatever the environment says, no redirects, HTTP only.
 * A 200 answer to a GET must carry the server's signature bound to our request's MAC.
 *
 * Threads: blocking; call from helper threads (rc_syncer), never the control thread.
 * Reentrant: libcurl's global initialisation runs once (pthread_once), each call has its
 * own handle, and CURLOPT_NOSIGNAL keeps libcurl away from signals.
 */
#include "mgmt.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CONNECT_TIMEOUT_MS 300L
#define TOTAL_TIMEOUT_MS 2000L
#define PATH_MAX_LEN 128

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What one transfer collects. */
struct xfer {
	const volatile bool *cancel;
	char *body;
	size_t len, cap;
	bool too_big;
	char node[RC_MGMT_NODE_MAX + 1], time[24], mac[RC_MGMT_MAC_HEX + 1];
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, cap;
	char *p;

	if (x->len + n > RC_MGMT_BODY_MAX) {
		x->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (x->len + n + 1 > x->cap) {
		for (cap = x->cap ? x->cap : 4096; cap < x->len + n + 1;)
			cap *= 2;
		if ((p = realloc(x->body, cap)) == NULL)
			return 0;
		x->body = p;
		x->cap = cap;
	}
	memcpy(x->body + x->len, data, n);
	x->len += n;
	x->body[x->len] = '\0';
	return n;
}

/* Keep the value of header `name` (a "Name: value\r\n" line) in out, if it is that one. */
static void
header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
	size_t k = strlen(name), end;

	if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
		return;
	for (line += k + 1, n -= k + 1; n > 0 && (*line == ' ' || *line == '\t'); line++, n--)
		;
	for (end = n; end > 0 && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
				  line[end - 1] == ' ');)
		end--;
	if (end < cap) {
		memcpy(out, line, end);
		out[end] = '\0';
	}
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	header_value(line, n, "X-Roomcast-Node", x->node, sizeof(x->node));
	header_value(line, n, "X-Roomcast-Time", x->time, sizeof(x->time));
	header_value(line, n, "X-Roomcast-Mac", x->mac, sizeof(x->mac));
	return n;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
	    curl_off_t ulnow)
{
	const struct xfer *x = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return x->cancel != NULL && __atomic_load_n(x->cancel, __ATOMIC_RELAXED);
}

/* "/..." of at most 127 bytes of [A-Za-z0-9/_.-]: nothing that needs escaping. */
static bool
path_ok(const char *path)
{
	size_t i;

	if (path == NULL || path[0] != '/')
		return false;
	for (i = 0; path[i] != '\0'; i++) {
		char c = path[i];

		if (i >= PATH_MAX_LEN - 1)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int
map_error(CURLcode rc, const struct xfer *x)
{
	switch (rc) {
	case CURLE_OK: return 0;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK: return -ECANCELED;
	case CURLE_WRITE_ERROR: return x->too_big ? -EMSGSIZE : -ENOMEM;
	default: return -EIO;
	}
}

/* The signed headers of a request. NULL on failure. */
static struct curl_slist *
auth_headers(const struct rc_mgmt_cred *c, const char *method, const char *path,
	     const void *body, size_t len, char mac[RC_MGMT_MAC_HEX + 1])
{
	uint64_t now = (uint64_t)time(NULL);
	struct curl_slist *h = NULL, *n;
	char line[3][128];
	unsigned i;

	if (rc_mgmt_sign(c->secret, c->secret_len, c->node_id, now, method, path, body, len,
			 mac) != 0)
		return NULL;
	snprintf(line[0], sizeof(line[0]), "X-Roomcast-Node: %s", c->node_id);
	snprintf(line[1], sizeof(line[1]), "X-Roomcast-Time: %llu", (unsigned long long)now);
	snprintf(line[2], sizeof(line[2]), "X-Roomcast-Mac: %s", mac);
	for (i = 0; i < 3; i++) {
		if ((n = curl_slist_append(h, line[i])) == NULL)
			goto out_free;
		h = n;
	}
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	if ((n = curl_slist_append(h, "Expect:")) == NULL)
		goto out_free;
	h = n;
	if (strcmp(method, "PUT") == 0 &&
	    (n = curl_slist_append(h, "Content-Type: application/json")) == NULL)
		goto out_free;
	return n;
out_free:
	curl_slist_free_all(h);
	return NULL;
}

static void
set_common(CURL *e, const char *url, struct curl_slist *h, struct xfer *x)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
}

/* One request. 0 (status in *status, the answer in x) or -errno. */
static int
request(const struct rc_mgmt_cred *c, const char *peer, const char *path, const char *method,
	const void *body, size_t len, struct xfer *x, long *status,
	char mac[RC_MGMT_MAC_HEX + 1])
{
	char url[PATH_MAX_LEN + 32];
	struct curl_slist *h;
	uint32_t ip;
	uint16_t port;
	CURL *e;
	int rc;

	if (c == NULL || rc_mgmt_parse_addr(peer, &ip, &port) != 0 || port == 0 || !path_ok(path))
		return -EINVAL;
	if (len > RC_MGMT_BODY_MAX)
		return -EMSGSIZE;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return -EIO;
	snprintf(url, sizeof(url), "http://%s%s", peer, path);
	if ((h = auth_headers(c, method, path, body, len, mac)) == NULL)
		return -EINVAL;
	if ((e = curl_easy_init()) == NULL) {
		curl_slist_free_all(h);
		return -ENOMEM;
	}
	set_common(e, url, h, x);
	if (strcmp(method, "PUT") == 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, len != 0 ? body : "");
	}
	rc = map_error(curl_easy_perform(e), x);
	if (rc == 0)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	return rc;
}

int
rc_mgmt_push(const struct rc_mgmt_cred *c, const char *peer, const char *path,
	     const void *body, size_t len, long *status, const volatile bool *cancel)
{
	struct xfer x = { .cancel = cancel };
	char mac[RC_MGMT_MAC_HEX + 1];
	long st = 0;
	int rc = request(c, peer, path, "PUT", body, len, &x, &st, mac);

	free(x.body);
	if (status != NULL)
		*status = st;
	return rc;
}

int
rc_mgmt_get(const struct rc_mgmt_cred *c, const char *peer, const char *path,
	    struct rc_mgmt_reply *r)
{
	struct xfer x = { 0 };
	char mac[RC_MGMT_MAC_HEX + 1];
	int rc;

	memset(r, 0, sizeof(*r));
	rc = request(c, peer, path, "GET", NULL, 0, &x, &r->status, mac);
	if (rc == 0 && r->status == 200 &&
	    rc_mgmt_verify_any(c->secret, c->secret_len, c->accept, x.node, x.time, "REPLY", mac,
			       x.body, x.len, x.mac, (uint64_t)time(NULL)) != 0)
		rc = -EBADMSG;
	if (rc != 0) {
		free(x.body);
		r->status = rc == -EBADMSG ? r->status : 0;
		return rc;
	}
	r->body = x.body;
	r->len = x.len;
	snprintf(r->node, sizeof(r->node), "%s", x.node);
	return 0;
}

void
rc_mgmt_reply_free(struct rc_mgmt_reply *r)
{
	if (r != NULL) {
		free(r->body);
		r->body = NULL;
		r->len = 0;
	}
}
