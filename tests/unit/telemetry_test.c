/* SPDX-License-Identifier: MIT */
/*
 * DPDK's own telemetry socket stays usable with roomcastd's EAL arguments (--no-huge
 * --no-pci -m --file-prefix; roomcast never adds --no-telemetry). The test initialises EAL
 * itself with two net_null devices and talks to RUNTIME_DIR/dpdk_telemetry.v2 as any
 * monitoring client would (and as usertools/dpdk-telemetry.py does): a SOCK_SEQPACKET
 * connection, a greeting JSON, then one command per message and one JSON reply per command.
 *
 * RUNTIME_DIR is /var/run/dpdk/<file-prefix> for root (rte_eal_get_runtime_dir()).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include "eal_fixture.h"

static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char prefix_arg[64];

/* One message from fd, parsed. */
static json_t *
recv_json(int fd)
{
	static char buf[1 << 16];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	json_error_t err;
	ssize_t n;
	json_t *j;

	assert_int_equal(poll(&p, 1, 5000), 1);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	j = json_loads(buf, 0, &err);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", err.text, buf);
	return j;
}

static int
telemetry_connect(json_t **greeting)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		fail_msg("connect %s: %s", sock_path, strerror(errno));
	*greeting = recv_json(fd);
	return fd;
}

/* The value of the reply to cmd: {"/ethdev/list": [...]} -> [...] (a new reference). */
static json_t *
command(int fd, const char *cmd)
{
	json_t *reply, *v;
	char key[128];

	assert_int_equal(send(fd, cmd, strlen(cmd), 0), (ssize_t)strlen(cmd));
	reply = recv_json(fd);
	snprintf(key, sizeof(key), "%.*s", (int)strcspn(cmd, ","), cmd); /* without params */
	v = json_object_get(reply, key);
	if (v == NULL)
		fail_msg("reply to %s has no \"%s\": %s", cmd, key, json_dumps(reply, 0));
	json_incref(v);
	json_decref(reply);
	return v;
}

static void
test_greeting(void **state)
{
	json_t *g;
	int fd;

	(void)state;
	fd = telemetry_connect(&g);
	assert_non_null(strstr(json_string_value(json_object_get(g, "version")), "DPDK"));
	assert_int_equal(json_integer_value(json_object_get(g, "pid")), getpid());
	assert_true(json_integer_value(json_object_get(g, "max_output_len")) >= 1024);
	json_decref(g);
	close(fd);
}

static void
test_ethdev_list(void **state)
{
	json_t *g, *list, *stats, *params;
	size_t i;
	bool found = false;
	int fd;

	(void)state;
	fd = telemetry_connect(&g);
	json_decref(g);
	list = command(fd, "/ethdev/list");
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_array_get(list, 0)), 0);
	assert_int_equal(json_integer_value(json_array_get(list, 1)), 1);
	json_decref(list);

	stats = command(fd, "/ethdev/stats,1");
	assert_non_null(json_object_get(stats, "ipackets"));
	assert_non_null(json_object_get(stats, "opackets"));
	json_decref(stats);

	/* The EAL arguments as the process got them. */
	params = command(fd, "/eal/params");
	for (i = 0; i < json_array_size(params); i++)
		found |= strcmp(json_string_value(json_array_get(params, i)), prefix_arg) == 0;
	assert_true(found);
	json_decref(params);
	close(fd);
}

static void
test_several_clients(void **state)
{
	json_t *g1, *g2, *l1, *l2;
	int a, b;

	(void)state;
	a = telemetry_connect(&g1);
	b = telemetry_connect(&g2);
	l2 = command(b, "/ethdev/list");
	l1 = command(a, "/ethdev/list");
	assert_true(json_equal(l1, l2));
	json_decref(l1);
	json_decref(l2);
	json_decref(g1);
	json_decref(g2);
	close(a);
	close(b);
}

int
main(void)
{
	char *eal[] = { "telemetry_test", "--no-huge", "--no-pci", "-m", "128", prefix_arg,
			"--vdev=net_null0", "--vdev=net_null1", "--log-level=3", NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_ethdev_list),
		cmocka_unit_test(test_several_clients),
	};
	int rc;

	fx_eal_prefix(prefix_arg, sizeof(prefix_arg), "tel");
	if (fx_eal_start(9, eal) < 0) {
		fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	if (rte_eth_dev_count_avail() != 2) {
		fprintf(stderr, "expected 2 net_null ports, found %u\n", rte_eth_dev_count_avail());
		fx_eal_stop();
		return 1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/dpdk_telemetry.v2", rte_eal_get_runtime_dir());
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fx_eal_stop();
	return rc;
}
