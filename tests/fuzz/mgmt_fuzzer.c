/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the management endpoint's HTTP handlers (control/mgmt/mgmt.c, mgmt_auth.c):
 * a real rc_mgmt on 127.0.0.1 (libmicrohttpd's thread), one TCP connection per input.
 *
 * Input: one control byte, then the request. Control bit 0 clear: the rest is sent as it is
 * (raw HTTP). Bit 0 set: the rest is "METHOD PATH\n" and a body, and the harness sends it as
 * an authenticated request (the X-Roomcast-* headers of node "peer", the MAC right unless
 * bit 1 is set); bit 2 set: for this request only another address than ours may PUT. The
 * connection is then half-closed and the answer read to the end.
 *
 * Checked: an answer, when there is one, is an HTTP/1.x status line with a 3-digit code; an
 * authenticated PUT of /v1/cluster under 1 MiB is accepted (202) and its body is what the
 * control thread polls; an authenticated GET of /v1/cluster is answered 200 with the
 * published document; a wrong MAC on a GET, HEAD or PUT of it is 401; a PUT from an address
 * that may not PUT is 403 (whatever its MAC) and reaches nobody.
 * Built as fuzz.h says (corpus: tests/fuzz/corpus/mgmt/). Not reentrant (one input at a time).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "mgmt.h"

#define DOC "{\"published\":true}"

static const uint8_t secret[32] = "a cluster secret of 32 bytes...";
static struct rc_mgmt *mgmt;
static uint16_t port;
static char *polled; /* the body of the last push polled */
static size_t polled_len;
static unsigned n_polled;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rc_mgmt_conf conf = { .addr = "127.0.0.1:0",
				     .cred = { secret, sizeof(secret), "self" } };
	char err[256];

	(void)argc, (void)argv;
	mgmt = rc_mgmt_open(&conf, err, sizeof(err));
	if (mgmt == NULL)
		fprintf(stderr, "rc_mgmt_open: %s\n", err);
	CHECK(mgmt != NULL);
	port = rc_mgmt_port(mgmt);
	CHECK(rc_mgmt_publish_cluster(mgmt, DOC, strlen(DOC)) == 0);
	CHECK(rc_mgmt_publish_metrics(mgmt, "up 1\n", 5) == 0);
	return 0;
}

/* Send req[0..n), half-close, read the answer into ans (NUL-terminated; truncated) for at
 * most wait_ms, then reset the connection. libmicrohttpd keeps a half-closed connection with
 * an unfinished request line until its own timeout: the reset frees its slot at once, and
 * leaves no TIME_WAIT behind (an input a connection, thousands a minute). */
static size_t
exchange(const void *req, size_t n, char *ans, size_t cap, unsigned wait_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = wait_ms / 1000, .tv_usec = wait_ms % 1000 * 1000 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t got = 0;
	char sink[4096];
	ssize_t r;

	CHECK(fd >= 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (n > 0)
		(void)!send(fd, req, n, MSG_NOSIGNAL); /* the server may close early */
	shutdown(fd, SHUT_WR);
	while ((r = recv(fd, got + 1 < cap ? ans + got : sink,
			 got + 1 < cap ? cap - 1 - got : sizeof(sink), 0)) > 0)
		got += got + 1 < cap ? (size_t)r : 0;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	ans[got] = '\0';
	return got;
}

static void
on_push(void *arg, const struct rc_mgmt_push *p)
{
	(void)arg;
	CHECK(strcmp(p->name, "cluster") == 0 && strcmp(p->node, "peer") == 0);
	CHECK(p->body[p->len] == '\0');
	free(polled);
	polled = malloc(p->len + 1);
	CHECK(polled != NULL);
	memcpy(polled, p->body, p->len + 1);
	polled_len = p->len;
	n_polled++;
}

static int
status_of(const char *ans, size_t n)
{
	if (n == 0)
		return 0;
	CHECK(n >= 12 && strncmp(ans, "HTTP/1.", 7) == 0 && ans[8] == ' ');
	CHECK(ans[9] >= '1' && ans[9] <= '5' && ans[10] >= '0' && ans[10] <= '9' &&
	      ans[11] >= '0' && ans[11] <= '9');
	return (ans[9] - '0') * 100 + (ans[10] - '0') * 10 + (ans[11] - '0');
}

/* What an authenticated request must get, when the harness can tell; 0 when it cannot. */
static int
expected(const char *method, const char *path, size_t body_len, bool bad_mac, bool not_peer)
{
	bool known = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
		     strcmp(method, "PUT") == 0;

	if (strcmp(path, "/v1/cluster") != 0 || !known)
		return 0; /* 404 or 405, before the MAC is looked at */
	if (not_peer && strcmp(method, "PUT") == 0)
		return 403;
	if (bad_mac)
		return 401;
	if (strcmp(method, "PUT") == 0 && body_len <= RC_MGMT_BODY_MAX)
		return 202;
	if (strcmp(method, "GET") == 0 && body_len == 0)
		return 200;
	return 0;
}

static void
signed_request(const uint8_t *p, size_t n, bool bad_mac, bool not_peer)
{
	const uint32_t other = htonl(0xc6120063); /* 198.18.0.99 */
	static char req[8192 + RC_MGMT_BODY_MAX], ans[8192];
	char method[16], path[256], mac[RC_MGMT_MAC_HEX + 1];
	const uint8_t *nl = memchr(p, '\n', n);
	uint64_t now = (uint64_t)time(NULL);
	size_t body_len, len, got;
	unsigned before = n_polled;
	int want, st;

	if (nl == NULL || sscanf((const char *)p, "%15[A-Z] %255[^ \n\r]", method, path) != 2 ||
	    strchr(path, '\0') > path + 255 || path[0] != '/')
		return;
	body_len = n - (size_t)(nl + 1 - p);
	if (body_len > RC_MGMT_BODY_MAX)
		return;
	if (rc_mgmt_sign(secret, sizeof(secret), "peer", now, method, path, nl + 1, body_len,
			 mac) != 0)
		return;
	if (bad_mac)
		mac[0] = mac[0] == '0' ? '1' : '0';
	len = (size_t)snprintf(req, 8192,
			       "%s %s HTTP/1.1\r\nHost: x\r\nX-Roomcast-Node: peer\r\n"
			       "X-Roomcast-Time: %llu\r\nX-Roomcast-Mac: %s\r\n"
			       "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			       method, path, (unsigned long long)now, mac, body_len);
	memcpy(req + len, nl + 1, body_len);
	if (not_peer)
		CHECK(rc_mgmt_set_put_peers(mgmt, &other, 1) == 0);
	got = exchange(req, len + body_len, ans, sizeof(ans), 5000);
	if (not_peer)
		CHECK(rc_mgmt_set_put_peers(mgmt, NULL, 0) == 0);
	st = status_of(ans, got);
	rc_mgmt_poll_pushes(mgmt, on_push, NULL);
	want = expected(method, path, body_len, bad_mac, not_peer);
	if (want != 0 && st != want)
		fprintf(stderr, "%s %s (%zu bytes): %d, expected %d\n", method, path, body_len,
			st, want);
	CHECK(want == 0 || st == want);
	if (want == 403)
		CHECK(n_polled == before);
	if (want == 202)
		CHECK(n_polled == before + 1 && polled_len == body_len &&
		      memcmp(polled, nl + 1, body_len) == 0);
	if (want == 200)
		CHECK(strstr(ans, DOC) != NULL && strstr(ans, "X-Roomcast-Mac:") != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char ans[8192];

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		signed_request(data + 1, size - 1, data[0] & 2, data[0] & 4);
	} else {
		size_t got = exchange(data + 1, size - 1, ans, sizeof(ans), 300);

		(void)status_of(ans, got);
		rc_mgmt_poll_pushes(mgmt, on_push, NULL);
	}
	return 0;
}
