/* SPDX-License-Identifier: MIT */
/*
 * control/mgmt, control/prom: the management endpoint with a real libmicrohttpd on
 * 127.0.0.1 (ephemeral ports), driven by raw HTTP requests written here (so the server is
 * not only checked by its own client) and by rc_mgmt_get/rc_mgmt_push/rc_syncer (libcurl).
 *
 * Prometheus: escaping, names, numbers, family grouping, and the /metrics answer checked
 * line by line against the 0.0.4 grammar. Routes: 404, 405 (+ Allow), 401 for a missing or
 * wrong MAC, a stale or future time (counted), 413 by Content-Length and by a chunked body,
 * 503 when the push queue is full, 202 + the control thread's poll. Client: signed replies
 * (a forged one is refused), refused connections, the 2 s timeout. Syncer: delivery to a
 * second server that starts late (newest body wins), retries on 401, stop while pending.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "mgmt.h"
#include "prom.h"

#define SECRET "0123456789abcdef0123456789abcdef-test-secret"

static const struct rc_mgmt_cred cred_a = { (const uint8_t *)SECRET, sizeof(SECRET) - 1, "n1" };
static const struct rc_mgmt_cred cred_b = { (const uint8_t *)SECRET, sizeof(SECRET) - 1, "n2" };
static const struct rc_mgmt_cred cred_bad = { (const uint8_t *)"another secret", 14, "n2" };

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct rc_mgmt *
server(const char *addr, const struct rc_mgmt_cred *c, unsigned queue_len)
{
	struct rc_mgmt_conf conf = { .addr = addr, .cred = *c, .queue_len = queue_len };
	char err[256];
	struct rc_mgmt *m = rc_mgmt_open(&conf, err, sizeof(err));

	if (m == NULL)
		fprintf(stderr, "rc_mgmt_open: %s\n", err);
	assert_non_null(m);
	assert_int_not_equal(rc_mgmt_port(m), 0);
	return m;
}

static void
peer_of(const struct rc_mgmt *m, char *peer, size_t cap)
{
	snprintf(peer, cap, "127.0.0.1:%u", rc_mgmt_port(m));
}

/* ---- raw HTTP ---- */

struct http {
	int status;
	char head[8192]; /* status line and headers */
	char body[1 << 16];
	size_t len;
};

static const char *src_addr; /* the clients' source address (NULL: the kernel's choice) */

static int
connect_to(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in src = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	if (src_addr != NULL) {
		assert_int_equal(inet_pton(AF_INET, src_addr, &src.sin_addr), 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	}
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void
send_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		assert_true(k > 0);
		p = (const char *)p + k;
		n -= (size_t)k;
	}
}

/* Read the whole answer (the server closes: the requests say Connection: close). */
static void
read_answer(int fd, struct http *h)
{
	static char raw[sizeof(h->head) + sizeof(h->body)];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	ssize_t k;
	char *sep;

	while (n < sizeof(raw) - 1 && poll(&p, 1, 5000) == 1 &&
	       (k = recv(fd, raw + n, sizeof(raw) - 1 - n, 0)) > 0)
		n += (size_t)k;
	raw[n] = '\0';
	close(fd);
	sep = strstr(raw, "\r\n\r\n");
	assert_non_null(sep);
	*sep = '\0';
	assert_true((size_t)(sep - raw) < sizeof(h->head));
	memcpy(h->head, raw, (size_t)(sep - raw) + 1);
	h->len = n - (size_t)(sep + 4 - raw);
	memcpy(h->body, sep + 4, h->len);
	h->body[h->len] = '\0';
	assert_int_equal(sscanf(raw, "HTTP/1.1 %d", &h->status), 1);
}

/* Send METHOD PATH with extra header lines (each ending in \r\n) and a body, read the
 * answer. auth: sign with c at time t (NULL: no authentication headers). */
static void
http_req(uint16_t port, const char *method, const char *path, const struct rc_mgmt_cred *c,
	 uint64_t t, const char *extra, const char *body, size_t len, struct http *h)
{
	char req[2048], mac[RC_MGMT_MAC_HEX + 1], auth[512] = "";
	int fd = connect_to(port), n;

	if (c != NULL) {
		assert_int_equal(rc_mgmt_sign(c->secret, c->secret_len, c->node_id, t, method, path,
					      body, len, mac),
				 0);
		snprintf(auth, sizeof(auth),
			 "X-Roomcast-Node: %s\r\nX-Roomcast-Time: %llu\r\nX-Roomcast-Mac: %s\r\n",
			 c->node_id, (unsigned long long)t, mac);
	}
	n = snprintf(req, sizeof(req),
		     "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s%sContent-Length: "
		     "%zu\r\n\r\n",
		     method, path, auth, extra != NULL ? extra : "", len);
	send_all(fd, req, (size_t)n);
	if (len != 0)
		send_all(fd, body, len);
	read_answer(fd, h);
}

static uint64_t
now_s(void)
{
	return (uint64_t)time(NULL);
}

static bool
has_header(const struct http *h, const char *line)
{
	return strcasestr(h->head, line) != NULL;
}

/* ---- Prometheus helpers ---- */

static void
test_prom_escape(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(rc_prom_escape_label("a\\b\"c\nd", out, sizeof(out)), 10);
	assert_string_equal(out, "a\\\\b\\\"c\\nd");
	assert_int_equal(rc_prom_escape_help("a\\b\"c\nd", out, sizeof(out)), 9);
	assert_string_equal(out, "a\\\\b\"c\\nd");
	assert_int_equal(rc_prom_escape_label("plain é ✓", out, sizeof(out)), strlen("plain é ✓"));
	assert_string_equal(out, "plain é ✓"); /* UTF-8 passes through */
	/* snprintf-like: the needed length, a truncated but terminated result */
	assert_int_equal(rc_prom_escape_label("\"\"\"", out, 4), 6);
	assert_string_equal(out, "\\\"\\");
	assert_int_equal(rc_prom_escape_label("xyz", NULL, 0), 3);
	assert_int_equal(rc_prom_escape_label("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void
test_prom_names(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(rc_prom_sanitize_name("9lives", out, sizeof(out)), 7);
	assert_string_equal(out, "_9lives");
	rc_prom_sanitize_name("wal.commit-errors/s", out, sizeof(out));
	assert_string_equal(out, "wal_commit_errors_s");
	rc_prom_sanitize_name("ok:name_1", out, sizeof(out));
	assert_string_equal(out, "ok:name_1");
	rc_prom_sanitize_name("", out, sizeof(out));
	assert_string_equal(out, "_");
	rc_prom_sanitize_name("é", out, sizeof(out));
	assert_string_equal(out, "__"); /* two UTF-8 bytes */
	assert_true(rc_prom_metric_name_ok(out));
	assert_true(rc_prom_metric_name_ok("roomcast_x:rate5m"));
	assert_false(rc_prom_metric_name_ok("1x"));
	assert_false(rc_prom_metric_name_ok("a-b"));
	assert_false(rc_prom_metric_name_ok(""));
	assert_false(rc_prom_metric_name_ok(NULL));
	assert_true(rc_prom_label_name_ok("reason"));
	assert_true(rc_prom_label_name_ok("_x"));
	assert_false(rc_prom_label_name_ok("__name__")); /* reserved */
	assert_false(rc_prom_label_name_ok("a:b"));
	assert_false(rc_prom_label_name_ok("0a"));
}

static void
test_prom_values(void **state)
{
	static const struct {
		double v;
		const char *s;
	} cases[] = {
		{ 0, "0" },
		{ 42, "42" },
		{ -3, "-3" },
		{ 1.5, "1.5" },
		{ 0.1, "0.1" },
		{ 1e6, "1000000" },
		{ 1e300, "1e+300" },
		{ 9007199254740992.0, "9007199254740992" }, /* 2^53 */
		{ 1e17, "1e+17" },
		{ 1.0 / 3, "0.33333333333333331" },
		{ __builtin_nan(""), "NaN" },
		{ __builtin_inf(), "+Inf" },
		{ -__builtin_inf(), "-Inf" },
	};
	char out[48];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(rc_prom_format_value(cases[i].v, out, sizeof(out)),
				 strlen(cases[i].s));
		assert_string_equal(out, cases[i].s);
	}
}

static void
test_prom_buffer(void **state)
{
	static const char expected[] =
		"# HELP roomcast_drops_total Drops, by \\\\reason\\n\n"
		"# TYPE roomcast_drops_total counter\n"
		"roomcast_drops_total{reason=\"bad\\\"magic\",lcore=\"1\"} 3\n"
		"roomcast_drops_total{reason=\"a\\\\b\\nc\",lcore=\"2\"} 18446744073709551615\n"
		"# HELP roomcast_rooms Rooms \"hosted\".\n"
		"# TYPE roomcast_rooms gauge\n"
		"roomcast_rooms 12\n";
	struct rc_metrics_buf b;

	(void)state;
	rc_metrics_buf_init(&b);
	assert_int_equal(rc_metric_counter(&b, "roomcast_drops_total", "Drops, by \\reason\n",
					   RC_LABELS("reason", "bad\"magic", "lcore", "1"), 3),
			 0);
	assert_int_equal(rc_metric_counter(&b, "roomcast_drops_total", NULL,
					   RC_LABELS("reason", "a\\b\nc", "lcore", "2"),
					   UINT64_MAX),
			 0);
	assert_int_equal(rc_metric_gauge(&b, "roomcast_rooms", "Rooms \"hosted\".", NULL, 12), 0);
	assert_string_equal(b.buf, expected);
	assert_int_equal(b.len, strlen(expected));

	/* Coming back to a family is refused; the error is sticky and nothing is added. */
	assert_int_equal(rc_metric_counter(&b, "roomcast_drops_total", NULL, NULL, 1), -EEXIST);
	assert_int_equal(rc_metric_gauge(&b, "roomcast_other", "x", NULL, 1), -EEXIST);
	assert_string_equal(b.buf, expected);

	rc_metrics_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(rc_metric_gauge(&b, "bad-name", "x", NULL, 1), -EINVAL);
	rc_metrics_buf_reset(&b);
	assert_int_equal(rc_metric_gauge(&b, "g", "x", RC_LABELS("__name__", "v"), 1), -EINVAL);
	rc_metrics_buf_reset(&b);
	assert_int_equal(rc_metric_gauge(&b, "g", "x", RC_LABELS("a", "1", "a", "2"), 1), -EINVAL);
	rc_metrics_buf_reset(&b);
	assert_int_equal(rc_metric_gauge(&b, "g", "x", RC_LABELS("a", NULL), 1), -EINVAL);
	rc_metrics_buf_reset(&b);
	assert_int_equal(rc_metric_gauge(&b, "g", "x", NULL, 1), 0);
	assert_int_equal(rc_metric_counter(&b, "g", "x", NULL, 1), -EINVAL); /* type changed */
	rc_metrics_buf_reset(&b);
	assert_int_equal(rc_metric_gauge(&b, "g", NULL, NULL, 1), 0);
	assert_string_equal(b.buf, "# TYPE g gauge\ng 1\n"); /* no HELP line without help */
	rc_metrics_buf_free(&b);
	assert_null(b.buf);
}

struct row_stats {
	uint64_t a, b, c;
};

static const struct rc_metric_row test_rows[] = {
	{ "x_total", "Two rows.", RC_LABELS("k", "b"), offsetof(struct row_stats, b) },
	{ "x_total", NULL, RC_LABELS("k", "a"), offsetof(struct row_stats, a) },
	{ "x_level", "A gauge.", NULL, offsetof(struct row_stats, c), RC_METRIC_GAUGE },
};

/* Metric rows: each reads its own field, in the rows' order, the same text as by hand. */
static void
test_prom_rows(void **state)
{
	static const char expected[] = "# HELP x_total Two rows.\n"
				       "# TYPE x_total counter\n"
				       "x_total{k=\"b\"} 2\n"
				       "x_total{k=\"a\"} 1\n"
				       "# HELP x_level A gauge.\n"
				       "# TYPE x_level gauge\n"
				       "x_level 3\n";
	const struct row_stats st = { 1, 2, 3 };
	struct rc_metrics_buf b;

	(void)state;
	rc_metrics_buf_init(&b);
	assert_int_equal(rc_metric_rows(&b, test_rows, 3, &st), 0);
	assert_string_equal(b.buf, expected);
	assert_int_equal(rc_metric_rows(&b, test_rows, 1, &st), -EEXIST); /* sticky */
	assert_int_equal(rc_metric_rows(&b, test_rows, 0, &st), -EEXIST);
	rc_metrics_buf_free(&b);
}

/* Labeled rows: one stats struct per source (a worker), its labels before the row's own, a
 * family written for each source in turn (as the node writes its per-lcore counters). */
static void
test_prom_rows_labeled(void **state)
{
	static const char expected[] = "# HELP x_total Two rows.\n"
				       "# TYPE x_total counter\n"
				       "x_total{lcore=\"1\",k=\"b\"} 2\n"
				       "x_total{lcore=\"1\",k=\"a\"} 1\n"
				       "x_total{lcore=\"2\",k=\"b\"} 20\n"
				       "x_total{lcore=\"2\",k=\"a\"} 10\n"
				       "# HELP x_level A gauge.\n"
				       "# TYPE x_level gauge\n"
				       "x_level{lcore=\"1\"} 3\n"
				       "x_level{lcore=\"2\"} 30\n";
	const struct row_stats st[2] = { { 1, 2, 3 }, { 10, 20, 30 } };
	const char *const too_many[] = { "a", "1", "b", "2", "c", "3", "d", "4", "e", "5",
					 "f", "6", "g", "7", "h", "8", NULL };
	struct rc_metrics_buf b;
	char lc[8];

	(void)state;
	rc_metrics_buf_init(&b);
	for (unsigned k = 0; k < 2; k++) {
		snprintf(lc, sizeof(lc), "%u", k + 1);
		assert_int_equal(rc_metric_rows_labeled(&b, test_rows, 2, &st[k],
							RC_LABELS("lcore", lc)), 0);
	}
	for (unsigned k = 0; k < 2; k++) {
		snprintf(lc, sizeof(lc), "%u", k + 1);
		assert_int_equal(rc_metric_rows_labeled(&b, &test_rows[2], 1, &st[k],
							RC_LABELS("lcore", lc)), 0);
	}
	assert_string_equal(b.buf, expected);
	/* no labels of its own: the row's alone, as rc_metric_rows writes them */
	rc_metrics_buf_reset(&b);
	assert_int_equal(rc_metric_rows_labeled(&b, test_rows, 3, &st[0], NULL), 0);
	assert_int_equal(rc_metric_rows_labeled(&b, NULL, 0, &st[0], too_many), 0);
	/* 8 pairs fit, a ninth (the row's) does not; an odd count is refused */
	rc_metrics_buf_reset(&b);
	assert_int_equal(rc_metric_rows_labeled(&b, &test_rows[2], 1, &st[0], too_many), 0);
	assert_int_equal(rc_metric_rows_labeled(&b, test_rows, 1, &st[0], too_many), -EINVAL);
	rc_metrics_buf_reset(&b);
	assert_int_equal(rc_metric_rows_labeled(&b, &test_rows[2], 1, &st[0], RC_LABELS("lcore")),
			 -EINVAL);
	assert_null(strstr(b.buf != NULL ? b.buf : "", "x_level"));
	rc_metrics_buf_free(&b);
}

/* ---- authentication ---- */

static void
test_auth(void **state)
{
	static const char msg[] = "roomcast-mgmt-v1\0n1\0"
				  "1700000000\0PUT\0/v1/cluster\0{\"v\":1}";
	char hex[RC_MGMT_MAC_HEX + 1], ref[RC_MGMT_MAC_HEX + 1], t[24];
	unsigned char mac[32];
	size_t mac_len = 0, i;

	(void)state;
	/* Independent computation of the documented construction. */
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, SECRET, sizeof(SECRET) - 1,
				  (const unsigned char *)msg, sizeof(msg) - 1, mac, sizeof(mac),
				  &mac_len));
	for (i = 0; i < 32; i++)
		snprintf(ref + 2 * i, 3, "%02x", mac[i]);
	assert_int_equal(rc_mgmt_sign(cred_a.secret, cred_a.secret_len, "n1", 1700000000, "PUT",
				      "/v1/cluster", "{\"v\":1}", 7, hex),
			 0);
	assert_string_equal(hex, ref);

	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "n1", "1700000000", "PUT",
					"/v1/cluster", "{\"v\":1}", 7, hex, 1700000060),
			 0);
	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "n1", "1700000000", "PUT",
					"/v1/cluster", "{\"v\":1}", 7, hex, 1700000061),
			 -EKEYEXPIRED);
	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "n1", "1700000000", "PUT",
					"/v1/cluster", "{\"v\":2}", 7, hex, 1700000000),
			 -EKEYREJECTED);
	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "n2", "1700000000", "PUT",
					"/v1/cluster", "{\"v\":1}", 7, hex, 1700000000),
			 -EKEYREJECTED);
	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "n1", "1700000000", "GET",
					"/v1/cluster", "{\"v\":1}", 7, hex, 1700000000),
			 -EKEYREJECTED);
	/* A stale request with a wrong MAC is reported as a wrong MAC. */
	assert_int_equal(rc_mgmt_verify(cred_bad.secret, cred_bad.secret_len, "n1", "1700000000",
					"PUT", "/v1/cluster", "{\"v\":1}", 7, hex, 1800000000),
			 -EKEYREJECTED);
	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "n1", "01700000000",
					"PUT", "/v1/cluster", "{\"v\":1}", 7, hex, 1700000000),
			 -EBADMSG);
	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "n1", NULL, "PUT",
					"/v1/cluster", "{\"v\":1}", 7, hex, 1700000000),
			 -EBADMSG);
	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "bad id", "1700000000",
					"PUT", "/v1/cluster", "{\"v\":1}", 7, hex, 1700000000),
			 -EBADMSG);
	for (i = 0; hex[i]; i++)
		if (hex[i] >= 'a')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "n1", "1700000000", "PUT",
					"/v1/cluster", "{\"v\":1}", 7, hex, 1700000000),
			 -EBADMSG);
	snprintf(t, sizeof(t), "%s", "18446744073709551616"); /* 2^64 */
	assert_int_equal(rc_mgmt_verify(cred_a.secret, cred_a.secret_len, "n1", t, "PUT",
					"/v1/cluster", "", 0, ref, 0),
			 -EBADMSG);

	assert_true(rc_mgmt_node_id_ok("node-1.a_b"));
	assert_false(rc_mgmt_node_id_ok("a b"));
	assert_false(rc_mgmt_node_id_ok(""));
	assert_true(rc_mgmt_name_ok("dbcheck"));
	assert_false(rc_mgmt_name_ok("Cluster"));
	assert_false(rc_mgmt_name_ok("a/b"));
}

static void
test_parse_addr(void **state)
{
	uint32_t ip;
	uint16_t port;

	(void)state;
	assert_int_equal(rc_mgmt_parse_addr("127.0.0.1:9100", &ip, &port), 0);
	assert_int_equal(ip, htonl(INADDR_LOOPBACK));
	assert_int_equal(port, 9100);
	assert_int_equal(rc_mgmt_parse_addr("0.0.0.0:0", &ip, &port), 0);
	assert_int_equal(rc_mgmt_parse_addr("127.0.0.1", &ip, &port), -EINVAL);
	assert_int_equal(rc_mgmt_parse_addr("127.0.0.1:", &ip, &port), -EINVAL);
	assert_int_equal(rc_mgmt_parse_addr("127.0.0.1:65536", &ip, &port), -EINVAL);
	assert_int_equal(rc_mgmt_parse_addr("127.0.0.1:-1", &ip, &port), -EINVAL);
	assert_int_equal(rc_mgmt_parse_addr("127.0.0.1:80x", &ip, &port), -EINVAL);
	assert_int_equal(rc_mgmt_parse_addr("1.2.3:80", &ip, &port), -EINVAL);
	assert_int_equal(rc_mgmt_parse_addr("localhost:80", &ip, &port), -EINVAL);
	assert_int_equal(rc_mgmt_parse_addr("[::1]:80", &ip, &port), -EINVAL);
	assert_int_equal(rc_mgmt_parse_addr(NULL, &ip, &port), -EINVAL);
}

/* ---- the server ---- */

static int
node_metrics(void *arg, struct rc_metrics_buf *out)
{
	int *calls = arg;

	(*calls)++;
	rc_metric_counter(out, "roomcast_rx_packets_total", "Packets received.",
			  RC_LABELS("lcore", "1"), 10);
	rc_metric_counter(out, "roomcast_rx_packets_total", NULL, RC_LABELS("lcore", "2"), 20);
	rc_metric_gauge(out, "roomcast_ha_state", "HA state (1 = current).",
			RC_LABELS("state", "Normal", "reason", "peer \"n2\" up\nok"), 1);
	return 0;
}

static int
failing_metrics(void *arg, struct rc_metrics_buf *out)
{
	(void)arg;
	rc_metric_gauge(out, "roomcast_x", "x", NULL, 1);
	return -EIO;
}

/* Every line is a HELP, a TYPE (once per family, before its samples) or a sample of the
 * family last typed: the 0.0.4 grammar as Prometheus applies it. */
static void
check_exposition(char *text)
{
	char family[256] = "", typed[64][256];
	unsigned n_typed = 0, i;
	char *save = NULL, *line;

	assert_true(text[strlen(text) - 1] == '\n');
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[256], type[32];

		if (sscanf(line, "# TYPE %255s %31s", name, type) == 2) {
			for (i = 0; i < n_typed; i++)
				assert_string_not_equal(typed[i], name);
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0);
			snprintf(typed[n_typed++], sizeof(typed[0]), "%s", name);
			snprintf(family, sizeof(family), "%s", name);
		} else if (strncmp(line, "# HELP ", 7) == 0) {
			continue;
		} else {
			size_t k = strcspn(line, "{ ");

			snprintf(name, sizeof(name), "%.*s", (int)k, line);
			assert_true(rc_prom_metric_name_ok(name));
			assert_int_equal(strlen(family), k);
			assert_memory_equal(line, family, k);
			assert_non_null(strrchr(line, ' '));
		}
	}
	assert_true(n_typed > 0);
}

static void
test_metrics_endpoint(void **state)
{
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	static struct http h;
	int calls = 0;
	char *body;

	(void)state;
	http_req(rc_mgmt_port(m), "GET", "/metrics", NULL, 0, NULL, NULL, 0, &h);
	assert_int_equal(h.status, 503); /* nothing published yet */
	assert_true(has_header(&h, "Retry-After: 1"));

	assert_int_equal(rc_mgmt_refresh_metrics(m, node_metrics, &calls), 0);
	assert_int_equal(calls, 1);
	http_req(rc_mgmt_port(m), "GET", "/metrics", NULL, 0, NULL, NULL, 0, &h);
	assert_int_equal(h.status, 200);
	assert_true(has_header(&h, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
	assert_non_null(strstr(h.body, "# TYPE roomcast_rx_packets_total counter\n"
				       "roomcast_rx_packets_total{lcore=\"1\"} 10\n"
				       "roomcast_rx_packets_total{lcore=\"2\"} 20\n"));
	assert_non_null(strstr(h.body, "roomcast_ha_state{state=\"Normal\",reason=\"peer "
				       "\\\"n2\\\" up\\nok\"} 1\n"));
	assert_non_null(strstr(h.body, "roomcast_mgmt_requests_total 1\n")); /* the 503 */
	assert_non_null(strstr(h.body, "# TYPE roomcast_metrics_snapshot_timestamp_seconds gauge"));
	body = strdup(h.body);
	check_exposition(body);
	free(body);

	/* HEAD: the headers only. */
	http_req(rc_mgmt_port(m), "HEAD", "/metrics", NULL, 0, NULL, NULL, 0, &h);
	assert_int_equal(h.status, 200);
	assert_int_equal(h.len, 0);

	/* A failing writer keeps the last good snapshot. */
	assert_int_equal(rc_mgmt_refresh_metrics(m, failing_metrics, NULL), -EIO);
	http_req(rc_mgmt_port(m), "GET", "/metrics", NULL, 0, NULL, NULL, 0, &h);
	assert_non_null(strstr(h.body, "roomcast_rx_packets_total{lcore=\"2\"} 20\n"));
	assert_null(strstr(h.body, "roomcast_x"));

	/* The newest snapshot counts the earlier requests. */
	assert_int_equal(rc_mgmt_refresh_metrics(m, node_metrics, &calls), 0);
	http_req(rc_mgmt_port(m), "GET", "/metrics", NULL, 0, NULL, NULL, 0, &h);
	assert_non_null(strstr(h.body, "roomcast_mgmt_requests_total 4\n"));
	rc_mgmt_close(m);
}

static void
test_cluster_get(void **state)
{
	static const char doc[] = "{\"version\": 7, \"nodes\": [\"n1\", \"n2\"]}";
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	struct rc_mgmt_reply r;
	struct rc_mgmt_stats st;
	static struct http h;
	char peer[32];

	(void)state;
	peer_of(m, peer, sizeof(peer));
	assert_int_equal(rc_mgmt_get(&cred_b, peer, "/v1/cluster", &r), 0);
	assert_int_equal(r.status, 404); /* not published yet */
	rc_mgmt_reply_free(&r);

	assert_int_equal(rc_mgmt_publish_cluster(m, doc, strlen(doc)), 0);
	assert_int_equal(rc_mgmt_get(&cred_b, peer, "/v1/cluster", &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, strlen(doc));
	assert_string_equal(r.body, doc);
	assert_string_equal(r.node, "n1");
	rc_mgmt_reply_free(&r);

	/* A newer version replaces it; other names are separate documents. */
	assert_int_equal(rc_mgmt_publish(m, "cluster", "{\"version\": 8}", 14), 0);
	assert_int_equal(rc_mgmt_publish(m, "dbcheck", "{\"ok\": true}", 12), 0);
	assert_int_equal(rc_mgmt_get(&cred_b, peer, "/v1/cluster", &r), 0);
	assert_string_equal(r.body, "{\"version\": 8}");
	rc_mgmt_reply_free(&r);
	assert_int_equal(rc_mgmt_get(&cred_b, peer, "/v1/dbcheck", &r), 0);
	assert_string_equal(r.body, "{\"ok\": true}");
	rc_mgmt_reply_free(&r);

	/* Raw: signed by the server, JSON; unauthenticated or wrongly keyed -> 401. */
	http_req(rc_mgmt_port(m), "GET", "/v1/cluster", &cred_b, now_s(), NULL, NULL, 0, &h);
	assert_int_equal(h.status, 200);
	assert_true(has_header(&h, "Content-Type: application/json"));
	assert_true(has_header(&h, "X-Roomcast-Node: n1"));
	assert_true(has_header(&h, "X-Roomcast-Mac: "));
	http_req(rc_mgmt_port(m), "GET", "/v1/cluster", NULL, 0, NULL, NULL, 0, &h);
	assert_int_equal(h.status, 401);
	assert_null(strstr(h.body, "version"));
	assert_int_equal(rc_mgmt_get(&cred_bad, peer, "/v1/cluster", &r), 0);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.body, "authentication failed")); /* the refusal's text */
	rc_mgmt_reply_free(&r);
	rc_mgmt_get_stats(m, &st);
	assert_int_equal(st.auth_failures, 2);
	assert_int_equal(st.docs_served, 4);
	assert_int_equal(st.not_found, 1);
	rc_mgmt_close(m);
}

/* A rotation of the cluster key on a running endpoint: a request signed with the new key is
 * refused until rc_mgmt_set_keys lists it, accepted while both are listed (the reply is
 * signed with the ring's first key, which a client accepts through its own ring), and the
 * old key refused once dropped. */
static void
test_key_rotation(void **state)
{
	static const char doc[] = "{\"version\": 3}";
	struct rc_keyring both = { .n = 2 }, new_only = { .n = 1 };
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	struct rc_mgmt_cred old_c = cred_b, new_c = cred_bad;
	struct rc_mgmt_reply r;
	char peer[32];

	(void)state;
	both.k[0].id = 2;
	both.k[0].len = (unsigned)cred_bad.secret_len;
	memcpy(both.k[0].key, cred_bad.secret, cred_bad.secret_len);
	both.k[1].id = 1;
	both.k[1].len = (unsigned)cred_a.secret_len;
	memcpy(both.k[1].key, cred_a.secret, cred_a.secret_len);
	new_only.k[0] = both.k[0];
	old_c.accept = &both; /* a client that already knows the new key */
	new_c.accept = &both;
	peer_of(m, peer, sizeof(peer));
	assert_int_equal(rc_mgmt_publish_cluster(m, doc, strlen(doc)), 0);
	assert_int_equal(rc_mgmt_get(&new_c, peer, "/v1/cluster", &r), 0);
	assert_int_equal(r.status, 401);
	rc_mgmt_reply_free(&r);
	assert_int_equal(rc_mgmt_set_keys(m, &both), 0);
	assert_int_equal(rc_mgmt_get(&new_c, peer, "/v1/cluster", &r), 0);
	assert_int_equal(r.status, 200);
	rc_mgmt_reply_free(&r);
	assert_int_equal(rc_mgmt_get(&old_c, peer, "/v1/cluster", &r), 0);
	assert_int_equal(r.status, 200);
	rc_mgmt_reply_free(&r);
	/* a client that knows only the old key refuses the reply signed with the new one */
	assert_int_equal(rc_mgmt_get(&cred_b, peer, "/v1/cluster", &r), -EBADMSG);
	assert_int_equal(rc_mgmt_set_keys(m, &new_only), 0);
	assert_int_equal(rc_mgmt_get(&old_c, peer, "/v1/cluster", &r), 0);
	assert_int_equal(r.status, 401);
	rc_mgmt_reply_free(&r);
	assert_int_equal(rc_mgmt_set_keys(m, &(struct rc_keyring){ .n = 0 }), -EINVAL);
	rc_mgmt_close(m);
}

static void
test_publish_errors(void **state)
{
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	static char big[RC_MGMT_BODY_MAX + 1];
	char name[16];
	int i;

	(void)state;
	assert_int_equal(rc_mgmt_publish(m, "Bad", "{}", 2), -EINVAL);
	assert_int_equal(rc_mgmt_publish(m, "", "{}", 2), -EINVAL);
	assert_int_equal(rc_mgmt_publish(m, "x", NULL, 2), -EINVAL);
	assert_int_equal(rc_mgmt_publish(m, "x", big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(rc_mgmt_publish(m, "x", big, sizeof(big) - 1), 0);
	for (i = 1; i < 16; i++) {
		snprintf(name, sizeof(name), "doc%d", i);
		assert_int_equal(rc_mgmt_publish(m, name, "{}", 2), 0);
	}
	assert_int_equal(rc_mgmt_publish(m, "one-too-many", "{}", 2), -ENOSPC);
	assert_int_equal(rc_mgmt_publish(m, "doc3", "[]", 2), 0); /* replacing is fine */
	rc_mgmt_close(m);
}

struct polled {
	unsigned n;
	char name[40], node[70], body[256];
	size_t len;
};

static void
on_push(void *arg, const struct rc_mgmt_push *p)
{
	struct polled *pl = arg;

	pl->n++;
	snprintf(pl->name, sizeof(pl->name), "%s", p->name);
	snprintf(pl->node, sizeof(pl->node), "%s", p->node);
	snprintf(pl->body, sizeof(pl->body), "%s", p->body);
	pl->len = p->len;
	assert_true(p->time + 60 >= now_s());
	assert_int_equal(p->body[p->len], '\0');
}

static void
test_put_queued(void **state)
{
	static const char doc[] = "{\"version\": 9}";
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	struct polled pl = { 0 };
	struct rc_mgmt_stats st;
	long status = 0;
	char peer[32];

	(void)state;
	peer_of(m, peer, sizeof(peer));
	assert_int_equal(rc_mgmt_poll_pushes(m, on_push, &pl), 0);
	assert_int_equal(rc_mgmt_push(&cred_b, peer, "/v1/cluster", doc, strlen(doc), &status,
				      NULL),
			 0);
	assert_int_equal(status, 202);
	assert_int_equal(rc_mgmt_poll_pushes(m, on_push, &pl), 1);
	assert_int_equal(pl.n, 1);
	assert_string_equal(pl.name, "cluster");
	assert_string_equal(pl.node, "n2");
	assert_string_equal(pl.body, doc);
	assert_int_equal(pl.len, strlen(doc));
	assert_int_equal(rc_mgmt_poll_pushes(m, on_push, &pl), 0);

	/* An empty body is a valid push too (the control thread judges it). */
	assert_int_equal(rc_mgmt_push(&cred_b, peer, "/v1/cluster", NULL, 0, &status, NULL), 0);
	assert_int_equal(status, 202);
	assert_int_equal(rc_mgmt_poll_pushes(m, on_push, &pl), 1);
	assert_int_equal(pl.len, 0);
	rc_mgmt_get_stats(m, &st);
	assert_int_equal(st.pushes_received, 2);
	assert_int_equal(st.pushes_polled, 2);
	rc_mgmt_close(m);
}

static void
test_put_refused(void **state)
{
	static const char doc[] = "{\"version\": 10}";
	static char big[RC_MGMT_BODY_MAX + 1];
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	char mac[RC_MGMT_MAC_HEX + 1], hdrs[512], chunk[64];
	uint16_t port = rc_mgmt_port(m);
	struct polled pl = { 0 };
	struct rc_mgmt_stats st;
	static struct http h;
	size_t n;
	int fd;

	(void)state;
	/* Wrong MAC (another secret), stale and future times, missing headers, a MAC over
	 * another body. */
	http_req(port, "PUT", "/v1/cluster", &cred_bad, now_s(), NULL, doc, strlen(doc), &h);
	assert_int_equal(h.status, 401);
	http_req(port, "PUT", "/v1/cluster", &cred_b, now_s() - 61, NULL, doc, strlen(doc), &h);
	assert_int_equal(h.status, 401);
	http_req(port, "PUT", "/v1/cluster", &cred_b, now_s() + 120, NULL, doc, strlen(doc), &h);
	assert_int_equal(h.status, 401);
	http_req(port, "PUT", "/v1/cluster", NULL, 0, NULL, doc, strlen(doc), &h);
	assert_int_equal(h.status, 401);
	assert_int_equal(rc_mgmt_sign(cred_b.secret, cred_b.secret_len, "n2", now_s(), "PUT",
				      "/v1/cluster", "{}", 2, mac),
			 0);
	snprintf(hdrs, sizeof(hdrs),
		 "X-Roomcast-Node: n2\r\nX-Roomcast-Time: %llu\r\nX-Roomcast-Mac: %s\r\n",
		 (unsigned long long)now_s(), mac);
	http_req(port, "PUT", "/v1/cluster", NULL, 0, hdrs, doc, strlen(doc), &h);
	assert_int_equal(h.status, 401);
	/* ... the same headers with the body they sign are accepted */
	http_req(port, "PUT", "/v1/cluster", NULL, 0, hdrs, "{}", 2, &h);
	assert_int_equal(h.status, 202);
	rc_mgmt_get_stats(m, &st);
	assert_int_equal(st.auth_failures, 5);

	/* Exactly 1 MiB is accepted; one byte more is refused by its Content-Length before
	 * the body is read, or by counting a chunked body. */
	http_req(port, "PUT", "/v1/cluster", &cred_b, now_s(), NULL, big, RC_MGMT_BODY_MAX, &h);
	assert_int_equal(h.status, 202);
	fd = connect_to(port);
	n = (size_t)snprintf(hdrs, sizeof(hdrs),
			     "PUT /v1/cluster HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
			     "Content-Length: %u\r\n\r\n",
			     RC_MGMT_BODY_MAX + 1);
	send_all(fd, hdrs, n);
	read_answer(fd, &h);
	assert_int_equal(h.status, 413);
	fd = connect_to(port);
	n = (size_t)snprintf(hdrs, sizeof(hdrs),
			     "PUT /v1/cluster HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
			     "X-Roomcast-Node: n2\r\nX-Roomcast-Time: %llu\r\n"
			     "X-Roomcast-Mac: %s\r\nTransfer-Encoding: chunked\r\n\r\n",
			     (unsigned long long)now_s(), mac);
	send_all(fd, hdrs, n);
	for (int i = 0; i < 2; i++) {
		n = (size_t)snprintf(chunk, sizeof(chunk), "%x\r\n", RC_MGMT_BODY_MAX / 2 + 1);
		send_all(fd, chunk, n);
		send_all(fd, big, RC_MGMT_BODY_MAX / 2 + 1);
		send_all(fd, "\r\n", 2);
	}
	send_all(fd, "0\r\n\r\n", 5);
	read_answer(fd, &h);
	assert_int_equal(h.status, 413);
	rc_mgmt_get_stats(m, &st);
	assert_int_equal(st.too_large, 2);
	assert_int_equal(st.pushes_received, 2);
	assert_int_equal(rc_mgmt_poll_pushes(m, on_push, &pl), 2);
	assert_int_equal(pl.len, RC_MGMT_BODY_MAX);

	/* The client refuses to send more than 1 MiB at all. */
	assert_int_equal(rc_mgmt_push(&cred_b, "127.0.0.1:1", "/v1/cluster", big, sizeof(big), NULL,
				      NULL),
			 -EMSGSIZE);
	rc_mgmt_close(m);
}

/* Has the server closed fd (EOF or reset)? */
static bool
closed_by_server(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, 0) == 1 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

/* The review's slowloris: 64 connections from one address, each holding an unfinished
 * request. /metrics must stay reachable from another address, and one address holds at
 * most RC_MGMT_PER_IP connections. */
static void
test_slowloris(void **state)
{
	static const char part[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nX-Slow: a";
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	uint16_t port = rc_mgmt_port(m);
	struct rc_mgmt_stats st;
	static struct http h;
	unsigned closed = 0;
	int fds[64], calls = 0;

	(void)state;
	assert_int_equal(rc_mgmt_refresh_metrics(m, node_metrics, &calls), 0);
	src_addr = "127.0.0.1";
	for (int i = 0; i < 64; i++) {
		fds[i] = connect_to(port);
		send_all(fds[i], part, sizeof(part) - 1);
	}
	/* wait until the server has taken or dropped each of them */
	for (uint64_t end = mono_ms() + 5000; mono_ms() < end; usleep(10000)) {
		closed = 0;
		for (int i = 0; i < 64; i++)
			closed += closed_by_server(fds[i]);
		rc_mgmt_get_stats(m, &st);
		if (st.connections + closed >= 64)
			break;
	}
	src_addr = "127.0.0.2";
	http_req(port, "GET", "/metrics", NULL, 0, NULL, NULL, 0, &h);
	src_addr = NULL;
	assert_int_equal(h.status, 200);
	assert_true(closed >= 64 - RC_MGMT_PER_IP);
	for (int i = 0; i < 64; i++)
		close(fds[i]);
	rc_mgmt_close(m);
}

/* PUT only from the peers' addresses, refused on the headers: the body is never read. */
static void
test_put_peers(void **state)
{
	static const char doc[] = "{\"version\": 11}";
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	uint16_t port = rc_mgmt_port(m);
	char mac[RC_MGMT_MAC_HEX + 1], hdrs[512];
	struct polled pl = { 0 };
	struct rc_mgmt_stats st;
	static struct http h;
	uint32_t peer;
	size_t n;
	int fd;

	(void)state;
	inet_pton(AF_INET, "127.0.0.2", &peer);
	assert_int_equal(rc_mgmt_set_put_peers(m, &peer, 1), 0);
	/* a signed PUT announcing 1 MiB, from 127.0.0.1: 403 before a byte of body is sent */
	assert_int_equal(rc_mgmt_sign(cred_b.secret, cred_b.secret_len, "n2", now_s(), "PUT",
				      "/v1/cluster", doc, strlen(doc), mac), 0);
	src_addr = "127.0.0.1";
	fd = connect_to(port);
	n = (size_t)snprintf(hdrs, sizeof(hdrs),
			     "PUT /v1/cluster HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
			     "X-Roomcast-Node: n2\r\nX-Roomcast-Time: %llu\r\n"
			     "X-Roomcast-Mac: %s\r\nContent-Length: %u\r\n\r\n",
			     (unsigned long long)now_s(), mac, RC_MGMT_BODY_MAX);
	send_all(fd, hdrs, n);
	read_answer(fd, &h);
	assert_int_equal(h.status, 403);
	http_req(port, "PUT", "/v1/cluster", &cred_b, now_s(), NULL, doc, strlen(doc), &h);
	assert_int_equal(h.status, 403);
	http_req(port, "GET", "/metrics", NULL, 0, NULL, NULL, 0, &h); /* GET: anyone */
	assert_int_equal(h.status, 503);
	/* from the peer: accepted */
	src_addr = "127.0.0.2";
	http_req(port, "PUT", "/v1/cluster", &cred_b, now_s(), NULL, doc, strlen(doc), &h);
	assert_int_equal(h.status, 202);
	/* no peer at all: nobody; NULL: anyone again */
	assert_int_equal(rc_mgmt_set_put_peers(m, &peer, 0), 0);
	http_req(port, "PUT", "/v1/cluster", &cred_b, now_s(), NULL, doc, strlen(doc), &h);
	assert_int_equal(h.status, 403);
	assert_int_equal(rc_mgmt_set_put_peers(m, NULL, 0), 0);
	src_addr = "127.0.0.1";
	http_req(port, "PUT", "/v1/cluster", &cred_b, now_s(), NULL, doc, strlen(doc), &h);
	assert_int_equal(h.status, 202);
	src_addr = NULL;
	rc_mgmt_get_stats(m, &st);
	assert_int_equal(st.not_peer, 3);
	assert_int_equal(st.pushes_received, 2);
	assert_int_equal(rc_mgmt_poll_pushes(m, on_push, &pl), 2);
	rc_mgmt_close(m);
}

static void
test_routes(void **state)
{
	static const struct {
		const char *method, *path;
		int status;
		const char *allow;
	} cases[] = {
		{ "GET", "/", 404, NULL },
		{ "GET", "/metrics/", 404, NULL },
		{ "GET", "/v1/", 404, NULL },
		{ "GET", "/v1/Cluster", 404, NULL },
		{ "GET", "/v1/cluster/x", 404, NULL },
		{ "GET", "/v1/no-such-doc", 404, NULL },
		{ "GET", "/v2/cluster", 404, NULL },
		{ "PUT", "/metrics", 405, "Allow: GET, HEAD" },
		{ "DELETE", "/metrics", 405, "Allow: GET, HEAD" },
		{ "POST", "/v1/cluster", 405, "Allow: GET, HEAD, PUT" },
		{ "DELETE", "/v1/cluster", 405, "Allow: GET, HEAD, PUT" },
		{ "PUT", "/v1/dbcheck", 405, "Allow: GET, HEAD" },
	};
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	struct rc_mgmt_stats st;
	static struct http h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http_req(rc_mgmt_port(m), cases[i].method, cases[i].path, &cred_b, now_s(), NULL,
			 NULL, 0, &h);
		if (h.status != cases[i].status)
			fail_msg("%s %s: %d, not %d", cases[i].method, cases[i].path, h.status,
				 cases[i].status);
		if (cases[i].allow != NULL)
			assert_true(has_header(&h, cases[i].allow));
	}
	rc_mgmt_get_stats(m, &st);
	assert_int_equal(st.not_found, 7);
	assert_int_equal(st.bad_method, 5);
	assert_int_equal(st.requests_served, 12);
	rc_mgmt_close(m);
}

static void
test_queue_full(void **state)
{
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 2);
	struct polled pl = { 0 };
	struct rc_mgmt_stats st;
	static struct http h;
	char body[32];
	int i;

	(void)state;
	for (i = 1; i <= 3; i++) {
		snprintf(body, sizeof(body), "{\"version\": %d}", i);
		http_req(rc_mgmt_port(m), "PUT", "/v1/cluster", &cred_b, now_s(), NULL, body,
			 strlen(body), &h);
		assert_int_equal(h.status, i <= 2 ? 202 : 503);
	}
	assert_true(has_header(&h, "Retry-After: 1"));
	assert_int_equal(rc_mgmt_poll_pushes(m, on_push, &pl), 2);
	assert_string_equal(pl.body, "{\"version\": 2}"); /* oldest first: 2 came last */
	rc_mgmt_get_stats(m, &st);
	assert_int_equal(st.pushes_dropped, 1);
	http_req(rc_mgmt_port(m), "PUT", "/v1/cluster", &cred_b, now_s(), NULL, "{}", 2, &h);
	assert_int_equal(h.status, 202);
	/* Pushes still queued at close are freed. */
	rc_mgmt_close(m);
}

static void
test_open_errors(void **state)
{
	struct rc_mgmt_conf conf = { .addr = "127.0.0.1:0", .cred = cred_a };
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	const char *const bad_puts[] = { "Nope", NULL };
	char err[256], addr[32];

	(void)state;
	conf.addr = "127.0.0.1";
	assert_null(rc_mgmt_open(&conf, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "IPv4-ADDRESS:PORT"));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", rc_mgmt_port(m));
	conf.addr = addr;
	assert_null(rc_mgmt_open(&conf, err, sizeof(err)));
	assert_int_equal(errno, EADDRINUSE);
	assert_non_null(strstr(err, "Address already in use"));
	conf.addr = "192.0.2.1:0"; /* not ours */
	assert_null(rc_mgmt_open(&conf, err, sizeof(err)));
	assert_int_equal(errno, EADDRNOTAVAIL);
	conf.addr = "127.0.0.1:0";
	conf.cred.secret_len = 0;
	assert_null(rc_mgmt_open(&conf, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	conf.cred = cred_a;
	conf.cred.node_id = "not valid";
	assert_null(rc_mgmt_open(&conf, err, sizeof(err)));
	conf.cred = cred_a;
	conf.put_names = bad_puts;
	assert_null(rc_mgmt_open(&conf, err, sizeof(err)));
	assert_non_null(strstr(err, "Nope"));
	rc_mgmt_close(m);
	rc_mgmt_close(NULL);
}

/* ---- the client ---- */

/* A one-shot HTTP server answering 200 with a forged signature. */
static void *
forger(void *arg)
{
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n"
				     "X-Roomcast-Node: n1\r\nX-Roomcast-Time: %llu\r\n"
				     "X-Roomcast-Mac: %064d\r\nConnection: close\r\n\r\n"
				     "{\"version\":99}";
	char buf[4096], out[512];
	int n;

	if (fd < 0)
		return NULL;
	(void)!recv(fd, buf, sizeof(buf), 0);
	n = snprintf(out, sizeof(out), answer, (unsigned long long)now_s(), 0);
	(void)!send(fd, out, (size_t)n, MSG_NOSIGNAL);
	close(fd);
	return NULL;
}

static int
listener(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static uint16_t
free_port(void)
{
	uint16_t port;

	close(listener(&port));
	return port;
}

static void
test_client_errors(void **state)
{
	struct rc_mgmt_reply r;
	char peer[32];
	uint64_t t0;
	pthread_t th;
	uint16_t port;
	long status;
	int lfd;

	(void)state;
	/* Forged reply signature. */
	lfd = listener(&port);
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", port);
	assert_int_equal(pthread_create(&th, NULL, forger, &lfd), 0);
	assert_int_equal(rc_mgmt_get(&cred_b, peer, "/v1/cluster", &r), -EBADMSG);
	assert_null(r.body);
	pthread_join(th, NULL);

	/* A listener that never answers: the 2 s limit. */
	t0 = mono_ms();
	assert_int_equal(rc_mgmt_push(&cred_b, peer, "/v1/cluster", "{}", 2, &status, NULL),
			 -ETIMEDOUT);
	assert_true(mono_ms() - t0 >= 1900 && mono_ms() - t0 < 3500);
	close(lfd);

	/* Nobody listening. */
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", free_port());
	assert_int_equal(rc_mgmt_push(&cred_b, peer, "/v1/cluster", "{}", 2, &status, NULL),
			 -ECONNREFUSED);
	assert_int_equal(rc_mgmt_get(&cred_b, peer, "/v1/cluster", &r), -ECONNREFUSED);
	assert_int_equal(rc_mgmt_push(&cred_b, "localhost:80", "/v1/cluster", "{}", 2, &status,
				      NULL),
			 -EINVAL);
	assert_int_equal(rc_mgmt_push(&cred_b, peer, "v1/cluster", "{}", 2, &status, NULL),
			 -EINVAL);
	assert_int_equal(rc_mgmt_push(&cred_b, peer, "/v1/a b", "{}", 2, &status, NULL), -EINVAL);
	assert_int_equal(rc_mgmt_push(&cred_b, "127.0.0.1:0", "/v1/x", "{}", 2, &status, NULL),
			 -EINVAL);
}

/* ---- the syncer ---- */

static bool
wait_stats(struct rc_syncer *s, struct rc_syncer_stats *st,
	   bool (*done)(const struct rc_syncer_stats *), unsigned ms)
{
	uint64_t end = mono_ms() + ms;

	do {
		rc_syncer_get_stats(s, st);
		if (done(st))
			return true;
		usleep(10000);
	} while (mono_ms() < end);
	return false;
}

static bool
failed_twice(const struct rc_syncer_stats *st)
{
	return st->pushes_failed >= 2;
}

static bool
delivered(const struct rc_syncer_stats *st)
{
	return st->pushes_ok >= 1 && st->pending == 0;
}

static bool
auth_failed_twice(const struct rc_syncer_stats *st)
{
	return st->auth_failures >= 2;
}

static void
test_syncer_late_peer(void **state)
{
	struct rc_syncer_conf conf = { .cred = cred_a, .retry_min_ms = 20, .retry_max_ms = 100 };
	struct rc_syncer *s = rc_syncer_start(&conf);
	struct rc_metrics_buf b;
	struct rc_syncer_stats st;
	struct polled pl = { 0 };
	struct rc_mgmt *peer_srv;
	char peer[32], addr[32];
	uint16_t port = free_port();

	(void)state;
	assert_non_null(s);
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", port);
	assert_int_equal(rc_syncer_enqueue(s, peer, "/v1/cluster", "{\"version\": 1}", 14), 0);
	assert_true(wait_stats(s, &st, failed_twice, 3000));
	assert_int_equal(st.pending, 1);
	/* Newer documents replace the waiting one. */
	assert_int_equal(rc_syncer_enqueue(s, peer, "/v1/cluster", "{\"version\": 2}", 14), 0);
	assert_int_equal(rc_syncer_enqueue(s, peer, "/v1/cluster", "{\"version\": 3}", 14), 0);
	rc_syncer_get_stats(s, &st);
	assert_int_equal(st.pending, 1);
	assert_true(st.superseded >= 1);

	/* The peer comes up late, on the address the pushes go to. */
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	peer_srv = server(addr, &cred_b, 0);
	assert_true(wait_stats(s, &st, delivered, 5000));
	assert_int_equal(st.pushes_ok, 1);
	assert_int_equal(rc_mgmt_poll_pushes(peer_srv, on_push, &pl), 1);
	assert_string_equal(pl.body, "{\"version\": 3}");
	assert_string_equal(pl.node, "n1");

	/* Its metrics. */
	rc_metrics_buf_init(&b);
	assert_int_equal(rc_syncer_write_metrics(s, &b), 0);
	assert_non_null(strstr(b.buf, "roomcast_mgmt_sync_pushes_total{result=\"ok\"} 1\n"));
	assert_non_null(strstr(b.buf, "roomcast_mgmt_sync_pending 0\n"));
	rc_metrics_buf_free(&b);

	/* Bad arguments. */
	assert_int_equal(rc_syncer_enqueue(s, "nohost", "/v1/cluster", "{}", 2), -EINVAL);
	assert_int_equal(rc_syncer_enqueue(s, peer, "v1", "{}", 2), -EINVAL);
	assert_int_equal(rc_syncer_enqueue(s, peer, "/v1/x", NULL, RC_MGMT_BODY_MAX + 1),
			 -EINVAL);
	rc_syncer_stop(s);
	rc_mgmt_close(peer_srv);
}

static void
test_syncer_refusals(void **state)
{
	struct rc_syncer_conf conf = { .cred = cred_bad, .retry_min_ms = 20, .retry_max_ms = 40,
				       .max_entries = 2 };
	struct rc_mgmt *m = server("127.0.0.1:0", &cred_a, 0);
	struct rc_syncer *s = rc_syncer_start(&conf);
	struct rc_mgmt_stats ms;
	struct rc_syncer_stats st;
	char peer[32];
	uint64_t t0;

	(void)state;
	peer_of(m, peer, sizeof(peer));
	/* A wrong secret: 401, retried, still pending. */
	assert_int_equal(rc_syncer_enqueue(s, peer, "/v1/cluster", "{}", 2), 0);
	assert_true(wait_stats(s, &st, auth_failed_twice, 3000));
	assert_int_equal(st.pending, 1);
	assert_int_equal(st.pushes_ok, 0);
	rc_mgmt_get_stats(m, &ms);
	assert_true(ms.auth_failures >= 2);
	/* A path the peer does not take PUT on: dropped at once (405). */
	assert_int_equal(rc_syncer_enqueue(s, peer, "/metrics", "{}", 2), 0);
	assert_int_equal(rc_syncer_enqueue(s, peer, "/v1/third", "{}", 2), -ENOBUFS);
	t0 = mono_ms();
	do {
		rc_syncer_get_stats(s, &st);
		usleep(5000);
	} while (st.pushes_dropped == 0 && mono_ms() - t0 < 3000);
	assert_int_equal(st.pushes_dropped, 1);
	assert_int_equal(st.pending, 1);
	/* Stopping with a push pending returns promptly. */
	t0 = mono_ms();
	rc_syncer_stop(s);
	assert_true(mono_ms() - t0 < 1000);
	rc_mgmt_close(m);

	conf.cred.node_id = "bad id";
	assert_null(rc_syncer_start(&conf));
	assert_int_equal(errno, EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_escape),      cmocka_unit_test(test_prom_names),
		cmocka_unit_test(test_prom_values),      cmocka_unit_test(test_prom_buffer),
		cmocka_unit_test(test_auth),             cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_metrics_endpoint), cmocka_unit_test(test_cluster_get),
		cmocka_unit_test(test_key_rotation),
		cmocka_unit_test(test_publish_errors),   cmocka_unit_test(test_put_queued),
		cmocka_unit_test(test_put_refused),      cmocka_unit_test(test_routes),
		cmocka_unit_test(test_queue_full),       cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_client_errors),    cmocka_unit_test(test_syncer_late_peer),
		cmocka_unit_test(test_syncer_refusals),  cmocka_unit_test(test_prom_rows),
		cmocka_unit_test(test_prom_rows_labeled), cmocka_unit_test(test_slowloris),
		cmocka_unit_test(test_put_peers),
	};

	/* The management client must ignore proxies the environment names. */
	setenv("http_proxy", "http://192.0.2.1:3128", 1);
	setenv("HTTP_PROXY", "http://192.0.2.1:3128", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
