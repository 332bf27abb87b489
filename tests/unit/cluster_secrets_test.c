/* SPDX-License-Identifier: MIT */
/*
 * The cluster state names database password files; a node reads them only through the
 * secure reader (control/lib/secfile.h) in its node.secrets_dir. The review's reproduction:
 * an admin-group user (or a peer pushing a state) names a root-only file as a database's
 * password_file and assigns the database to the node, which then sends the file's first
 * line to a host of their choice as its PostgreSQL password. Every way in is tried here:
 *   - a state the node adopts (a seed or a pushed state: both go through adopting),
 *   - `db add --password-file` on the admin socket, then `db assign --node`.
 * The node must never hand such a password to the database layer (db_switch).
 * Also here: the node lets only the state's other nodes push to its management endpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <jansson.h>

#include "admin.h"
#include "cluster_cmds.h"
#include "cluster_node.h"
#include "mgmt.h"

static char dir[64];      /* secrets directory and data directory */
static char out_dir[80];  /* outside it: a root-only file */
static char seed[128], state[128], outside[128], grp[128], good[128], link_path[128];
static char switched[1024]; /* the last conninfo handed to db_switch */
static unsigned n_switch;

static void
write_text(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void
op_apply(void *arg, const struct rc_cluster *c, const struct rc_cl_node *self)
{
	(void)arg, (void)c, (void)self;
}

static int
op_switch(void *arg, const char *conninfo)
{
	(void)arg;
	snprintf(switched, sizeof(switched), "%s", conninfo);
	n_switch++;
	return 0;
}

static const char *
op_current(void *arg)
{
	(void)arg;
	return switched;
}

static const struct rc_cluster_node_ops ops = { NULL, op_apply, op_switch, op_current };
static struct rc_cluster_settings cfg;
static struct rc_keyring cluster_keys = { .n = 1, .k = { { .id = 1, .len = 32,
	.key = "0123456789abcdef0123456789abcdef" } } };

/* A seed with n1 (this node) in g1, whose database pg1 has password_file pw. */
static void
write_seed(const char *pw)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "clusters = ( { name = \"c1\"; groups = (\n"
		 "  { name = \"g1\"; ha = false; database = \"pg1\";\n"
		 "    nodes = ( { id = \"n1\"; mgmt = \"127.0.0.1:8441\"; vip = \"198.18.0.1\"; } ); }"
		 " ); } );\n"
		 "databases = ( { name = \"pg1\"; host = \"127.0.0.1\"; dbname = \"rc1\"; "
		 "user = \"rc\"; password_file = \"%s\"; } );\n", pw);
	write_text(seed, text, 0644);
}

/* Start the node's cluster state from the seed (first start): what it hands db_switch. */
static void
open_with(const char *pw, struct rc_cluster_node **cn)
{
	char err[512] = "";

	unlink(state);
	write_seed(pw);
	switched[0] = '\0';
	n_switch = 0;
	if (rc_cluster_node_open(&cfg, NULL, &ops, cn, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
}

static int
setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof(dir), "/tmp/rc-clsec.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(out_dir, sizeof(out_dir), "%s.out", dir);
	assert_int_equal(mkdir(out_dir, 0700), 0);
	snprintf(seed, sizeof(seed), "%s/seed.conf", dir);
	snprintf(state, sizeof(state), "%s/cluster.json", dir);
	snprintf(outside, sizeof(outside), "%s/shadow", out_dir);
	snprintf(grp, sizeof(grp), "%s/pw-group", dir);
	snprintf(good, sizeof(good), "%s/pw-good", dir);
	snprintf(link_path, sizeof(link_path), "%s/pw-link", dir);
	write_text(outside, "root:$y$NOT-A-REAL-HASH:::\nsecond line\n", 0600);
	write_text(grp, "group-readable\n", 0640);
	write_text(good, "s3cret\n", 0600);
	assert_int_equal(symlink(outside, link_path), 0);
	cfg = (struct rc_cluster_settings){ .node_id = "n1", .data_dir = dir, .cluster_file = seed,
					    .mgmt_address = "", .db_conninfo = "",
					    .db_password = "", .db_password_file = "",
					    .secrets_dir = dir, .keys = &cluster_keys };
	inet_pton(AF_INET, "198.18.0.1", &cfg.service_ip);
	return 0;
}

static int
teardown(void **st)
{
	char cmd[256];

	(void)st;
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, out_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* An adopted state (seed or push) naming a bad password file: never used. */
static void
test_adopted_state(void **st)
{
	const char *bad[] = { outside, grp, link_path, "/etc/shadow" };
	struct rc_cluster_node *cn;

	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		open_with(bad[i], &cn);
		if (n_switch != 0)
			fail_msg("password file %s used: db_switch(\"%s\")", bad[i], switched);
		rc_cluster_node_close(cn);
	}
	open_with(good, &cn);
	assert_int_equal(n_switch, 1);
	assert_non_null(strstr(switched, "password='s3cret'"));
	rc_cluster_node_close(cn);
}

static json_t *
call(struct rc_admin *a, const char *line)
{
	char buf[1024], *argv[32], *save = NULL;
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *w = strtok_r(buf, " ", &save); w != NULL && argc < 32;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	return rc_admin_call(a, argc, argv);
}

/* The admin socket: db add with a bad password file is refused; had it been accepted, db
 * assign would have made the node send it. */
static void
test_cli_db_add(void **st)
{
	const char *bad[] = { outside, grp, link_path };
	struct rc_cluster_node *cn;
	struct rc_admin *a;
	char line[512];
	json_t *r;

	(void)st;
	open_with("", &cn);
	a = rc_admin_new();
	assert_non_null(a);
	assert_int_equal(rc_cluster_cmds_register(cn, &cfg, a, NULL), 0);
	n_switch = 0; /* the seed's own database, without a password */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "db add evil%zu --type postgresql --host 127.0.0.1 "
			 "--dbname x --user u --password-file %s", i, bad[i]);
		r = call(a, line);
		snprintf(line, sizeof(line), "db assign evil%zu --node n1", i);
		json_decref(call(a, line));
		if (json_is_true(json_object_get(r, "ok")) || n_switch != 0)
			fail_msg("db add with %s accepted; db_switch(\"%s\")", bad[i], switched);
		json_decref(r);
	}
	snprintf(line, sizeof(line), "db add ok --type postgresql --host 127.0.0.1 --dbname x "
		 "--user u --password-file %s", good);
	r = call(a, line);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	json_decref(call(a, "db assign ok --node n1"));
	assert_non_null(strstr(switched, "password='s3cret'"));
	rc_cluster_cmds_fini(cn);
	rc_admin_close(a);
	rc_cluster_node_close(cn);
}

/* The seed names n1 (this node, 127.0.0.1) and n2 at other; a push from 127.0.0.1. */
static long
push_with_peer(const char *other, bool name_self)
{
	struct rc_mgmt_conf mc = { .addr = "127.0.0.1:0",
				   .cred = { cfg.keys->k[0].key, 32, "n1", NULL } };
	struct rc_mgmt_cred n2 = { cfg.keys->k[0].key, 32, "n2", NULL };
	struct rc_cluster_node *cn;
	char text[1024], err[256], peer[32];
	struct rc_mgmt *m;
	long status = 0;

	m = rc_mgmt_open(&mc, err, sizeof(err));
	assert_non_null(m);
	snprintf(text, sizeof(text),
		 "clusters = ( { name = \"c1\"; groups = ( { name = \"g1\"; ha = false;\n"
		 "  nodes = ( { id = \"%s\"; mgmt = \"127.0.0.1:8441\"; vip = \"198.18.0.1\"; },\n"
		 "            { id = \"n2\"; mgmt = \"%s:8442\"; vip = \"198.18.0.2\"; } ); }"
		 " ); } );\n", name_self ? "n1" : "n9", other);
	unlink(state);
	write_text(seed, text, 0644);
	if (rc_cluster_node_open(&cfg, m, &ops, &cn, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", rc_mgmt_port(m));
	assert_int_equal(rc_mgmt_push(&n2, peer, "/v1/cluster", "{}", 2, &status, NULL), 0);
	rc_cluster_node_close(cn);
	rc_mgmt_close(m);
	return status;
}

/* The management endpoint takes pushes only from the state's other nodes. */
static void
test_put_peers(void **st)
{
	(void)st;
	assert_int_equal(push_with_peer("127.0.0.2", true), 403); /* 127.0.0.1 is only n1 */
	assert_int_equal(push_with_peer("127.0.0.1", true), 202); /* n2 */
	assert_int_equal(push_with_peer("127.0.0.2", false), 202); /* not in a cluster yet */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_adopted_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_db_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_peers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
