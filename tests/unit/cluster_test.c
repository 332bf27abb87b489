/* SPDX-License-Identifier: MIT */
/*
 * control/cluster: the seed file (configs/cluster-example.conf, and every class of error
 * with its exact "FILE:LINE: KEY: problem"), every rule of rc_cluster_validate and every
 * refusal of the mutations with its text, the JSON round trip, atomic save and load (a
 * stale PATH.tmp left by a crash is ignored), rc_cluster_newer's tie-breaks, the version
 * bump per change, and the views (no password ever shown).
 *
 * Argument: the path of configs/cluster-example.conf.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster.h"

static const char *example_path;
static char dir[64];
static char seed_path[128];
static char state_path[128];
static char pw_path[128];
static char err[1024];
static struct rc_cluster cl;

#define ERR sizeof(err)

/* A small valid seed: tests replace one of its lines (1-based; line 4 is g1, line 7 g2, line 11
 * chat, line 13 the second database). */
static const char *const base[] = {
	"clusters = ( {",
	"  name = \"c1\";",
	"  groups = (",
	"    { name = \"g1\"; ha = true; database = \"pg1\";",
	"      nodes = ( { id = \"n1\"; mgmt = \"127.0.0.1:8441\"; vip = \"198.18.0.1\"; },",
	"                { id = \"n2\"; mgmt = \"127.0.0.1:8442\"; vip = \"198.18.0.2\"; } ); },",
	"    { name = \"g2\"; ha = false;",
	"      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:8443\"; vip = \"198.18.0.3\"; } ); }",
	"  );",
	"} );",
	"chat = { max_rooms = 100; };",
	"databases = ( { name = \"pg1\"; host = \"127.0.0.1\"; dbname = \"rc1\"; user = \"rc\"; },",
	"              { name = \"pg2\"; host = \"127.0.0.1\"; dbname = \"rc2\"; user = \"rc\"; } );",
};
#define BASE_LINES (sizeof(base) / sizeof(base[0]))

static void
write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Write the base with line l replaced by t (0: none) and load it into cl. */
static int
seed_with(unsigned l, const char *t)
{
	char buf[8192];
	size_t len = 0;

	for (unsigned i = 0; i < BASE_LINES; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s\n", i + 1 == l ? t : base[i]);
	write_text(seed_path, buf, 0644);
	err[0] = '\0';
	return rc_cluster_load_seed(seed_path, &cl, err, ERR);
}

/* Expect seed_with(l, t) to fail with "SEED_PATH" followed by the formatted tail. */
static void __attribute__((format(printf, 3, 4)))
expect_seed_error(unsigned l, const char *t, const char *fmt, ...)
{
	char want[1024], tail[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	snprintf(want, sizeof(want), "%s%s", seed_path, tail);
	assert_int_equal(seed_with(l, t), -EINVAL);
	assert_string_equal(err, want);
}

static void
load_base(void)
{
	assert_int_equal(seed_with(0, NULL), 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rc-cluster-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(seed_path, sizeof(seed_path), "%s/seed.conf", dir);
	snprintf(state_path, sizeof(state_path), "%s/cluster.json", dir);
	snprintf(pw_path, sizeof(pw_path), "%s/pw", dir);
	write_text(pw_path, "s3cr3t-Passw0rd\n", 0600);
	return 0;
}

static int
teardown(void **state)
{
	char p[160];

	(void)state;
	unlink(seed_path);
	unlink(state_path);
	snprintf(p, sizeof(p), "%s.tmp", state_path);
	unlink(p);
	unlink(pw_path);
	rmdir(dir);
	return 0;
}

/* ---- names ---- */

static void
test_names_complete(void **state)
{
	(void)state;
	for (int i = 0; i < RC_CL_ASSIGN_MAX; i++) {
		assert_non_null(rc_cl_assign_name(i));
		assert_int_equal(rc_cl_assign_parse(rc_cl_assign_name(i)), i);
	}
	for (int i = 0; i < RC_CL_SVC_MAX; i++) {
		assert_non_null(rc_cl_svc_name(i));
		assert_int_equal(rc_cl_svc_parse(rc_cl_svc_name(i)), i);
	}
	for (int i = 0; i < RC_CL_MERGE_STATE_MAX; i++) {
		assert_non_null(rc_cl_merge_state_name(i));
		assert_int_equal(rc_cl_merge_state_parse(rc_cl_merge_state_name(i)), i);
	}
	for (int i = 0; i < RC_CL_TABLE_MAX; i++)
		assert_non_null(rc_cl_table_name(i));
	assert_null(rc_cl_assign_name(RC_CL_ASSIGN_MAX));
	assert_null(rc_cl_merge_state_name(RC_CL_MERGE_STATE_MAX));
	assert_int_equal(rc_cl_assign_parse("active_standby"), RC_CL_ASSIGN_ACTIVE_STANDBY);
	assert_int_equal(rc_cl_merge_state_parse("validation_failed"),
			 RC_CL_MERGE_VALIDATION_FAILED);
	assert_int_equal(rc_cl_assign_parse("balance"), -1);
	assert_int_equal(rc_cl_svc_parse(""), -1);
}

/* ---- the seed ---- */

static void
test_seed_example(void **state)
{
	const struct rc_cl_group *g = NULL;
	const struct rc_cl_cluster *c = NULL;
	const struct rc_cl_node *n;

	(void)state;
	assert_int_equal(rc_cluster_load_seed(example_path, &cl, err, ERR), 0);
	assert_int_equal(cl.version, 1);
	assert_string_equal(cl.origin, "");
	assert_int_equal(cl.n_clusters, 1);
	assert_string_equal(cl.clusters[0].name, "c1");
	assert_int_equal(cl.clusters[0].n_groups, 2);
	assert_int_equal(cl.n_dbs, 2);
	n = rc_cluster_find_node(&cl, "n3", &g, &c);
	assert_non_null(n);
	assert_string_equal(g->name, "g2");
	assert_string_equal(c->name, "c1");
	assert_true(g->ha);
	assert_int_equal(g->assign, RC_CL_ASSIGN_ACTIVE_STANDBY);
	assert_string_equal(n->db, "pg-g2");
	assert_string_equal(n->port, "chat0");
	assert_int_equal(n->tc, RC_CL_SVC_STARTED);
	assert_string_equal(rc_cluster_peer_of(&cl, "n3")->id, "n4");
	assert_string_equal(rc_cluster_peer_of(&cl, "n2")->id, "n1");
	assert_null(rc_cluster_peer_of(&cl, "n9"));
	assert_string_equal(rc_cluster_group_db(g), "pg-g2");
	assert_true(cl.chat.enabled);
	assert_int_equal(cl.chat.n_admins, 1);
	assert_string_equal(cl.chat.admins[0], "alice");
	assert_string_equal(rc_cluster_find_db(&cl, "pg-g1")->password_file,
			    "/etc/roomcast/pg-g1.password");
	assert_int_equal(rc_cluster_validate(&cl, err, ERR), 0);
}

static void
test_seed_base_defaults(void **state)
{
	const struct rc_cl_group *g;

	(void)state;
	load_base();
	g = rc_cluster_find_group(&cl, "g2", NULL);
	assert_non_null(g);
	assert_false(g->ha);
	assert_int_equal(g->n_nodes, 1);
	assert_int_equal(g->assign, RC_CL_ASSIGN_BALANCED);
	assert_string_equal(rc_cluster_group_db(g), "");
	assert_null(rc_cluster_peer_of(&cl, "n3"));
	assert_int_equal(g->nodes[0].udp_port, 6420);
	assert_int_equal(cl.chat.max_rooms, 100);
	assert_int_equal(cl.chat.default_max_occupants, 1000);
	assert_int_equal(cl.chat.messages_on_join, 20);
	assert_int_equal(cl.chat.max_archive_query, 200);
	assert_string_equal(cl.dbs[0].type, "postgresql");
	assert_int_equal(cl.dbs[0].port, 5432);
	assert_string_equal(cl.dbs[0].password_file, "");
	assert_int_equal(cl.next_merge_id, 1);
}

static void
test_seed_errors(void **state)
{
	(void)state;
	expect_seed_error(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:8443\"; vip = "
			  "\"198.18.0.3\"; udp_port = 0; } ); }",
			  ":8: clusters[0].groups[1].nodes[0].udp_port: 0 is out of range 1..65535");
	assert_int_equal(seed_with(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:8443\"; "
				   "vip = \"198.18.0.3\"; udp_port = 7000; } ); }"), 0);
	assert_int_equal(rc_cluster_find_node(&cl, "n3", NULL, NULL)->udp_port, 7000);
	expect_seed_error(5, "      nodes = ( { id = \"n1\"; mgmt = \"127.0.0.1:8441\"; "
			  "viip = \"198.18.0.1\"; },",
			  ":5: clusters[0].groups[0].nodes[0].viip: unknown key (did you mean "
			  "\"vip\"?)");
	expect_seed_error(8, "      nodes = ( { id = \"n3\"; vip = \"198.18.0.3\"; } ); }",
			  ":8: clusters[0].groups[1].nodes[0].mgmt: required key is missing");
	expect_seed_error(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1\"; "
			  "vip = \"198.18.0.3\"; } ); }",
			  ":8: clusters[0].groups[1].nodes[0].mgmt: \"127.0.0.1\" is not IPV4:PORT "
			  "(e.g. 127.0.0.1:8441)");
	expect_seed_error(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:8443\"; "
			  "vip = \"198.18.0.300\"; } ); }",
			  ":8: clusters[0].groups[1].nodes[0].vip: \"198.18.0.300\" is not an IPv4 "
			  "address (dotted quad)");
	expect_seed_error(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:8443\"; "
			  "vip = \"224.0.0.1\"; } ); }",
			  ":8: clusters[0].groups[1].nodes[0].vip: 224.0.0.1 is not a unicast "
			  "address");
	expect_seed_error(11, "chat = { max_rooms = 0; };",
			  ":11: chat.max_rooms: 0 is out of range 1..16777216");
	expect_seed_error(11, "chat = { max_rooms = \"many\"; };",
			  ":11: chat.max_rooms: expected an integer, got a string");
	expect_seed_error(11, "chat = { messages_on_join = 300; };",
			  ":11: chat.messages_on_join: 300 exceeds max_archive_query (200)");
	expect_seed_error(11, "version = 7;", ":11: version: unknown key");
	expect_seed_error(2, "  name = \"c 1\";",
			  ":2: clusters[0].name: \"c 1\" is not a valid name (1..63 bytes of "
			  "letters, digits, '-', '_', '.')");
}

static void
test_seed_rules(void **state)
{
	(void)state;
	/* duplicate node id */
	expect_seed_error(6, "                { id = \"n1\"; mgmt = \"127.0.0.1:8442\"; "
			  "vip = \"198.18.0.2\"; } ); },",
			  ":6: clusters[0].groups[0].nodes[1].id: node n1 is defined twice "
			  "(in group g1)");
	/* duplicate VIP, management address */
	expect_seed_error(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:8443\"; "
			  "vip = \"198.18.0.1\"; } ); }",
			  ":8: clusters[0].groups[1].nodes[0].vip: 198.18.0.1 is also the vip of "
			  "node n1");
	expect_seed_error(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:8442\"; "
			  "vip = \"198.18.0.3\"; } ); }",
			  ":8: clusters[0].groups[1].nodes[0].mgmt: 127.0.0.1:8442 is also the "
			  "management address of node n2");
	/* ha on with one node */
	expect_seed_error(7, "    { name = \"g2\"; ha = true;",
			  ":7: clusters[0].groups[1]: group g2 has high availability on but one "
			  "node: a group with high availability is a pair");
	/* duplicate group name */
	expect_seed_error(7, "    { name = \"g1\"; ha = false;",
			  ":7: clusters[0].groups[1]: group g1 is defined twice (in cluster c1)");
	/* four groups in a cluster */
	expect_seed_error(9, "  , { name = \"g3\"; nodes = ( { id = \"n5\"; mgmt = \"127.0.0.1:1\";"
			  " vip = \"198.18.0.5\"; } ); }, { name = \"g4\"; nodes = ( { id = \"n6\";"
			  " mgmt = \"127.0.0.1:2\"; vip = \"198.18.0.6\"; } ); } );",
			  ":3: clusters[0].groups: 4 groups, at most 3 per cluster");
	/* three nodes in a group */
	expect_seed_error(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:1\"; vip = "
			  "\"198.18.0.3\"; }, { id = \"n4\"; mgmt = \"127.0.0.1:2\"; vip = "
			  "\"198.18.0.4\"; }, { id = \"n5\"; mgmt = \"127.0.0.1:3\"; vip = "
			  "\"198.18.0.5\"; } ); }",
			  ":8: clusters[0].groups[1].nodes: 3 nodes, at most 2 per group (a "
			  "presence redundancy group is a pair)");
	/* a database shared by two groups is fine: rooms differ by their service */
	assert_int_equal(seed_with(7, "    { name = \"g2\"; ha = false; database = \"pg1\";"), 0);
	assert_string_equal(rc_cluster_find_node(&cl, "n3", NULL, NULL)->db, "pg1");
	assert_string_equal(rc_cluster_find_node(&cl, "n1", NULL, NULL)->db, "pg1");
	assert_int_equal(seed_with(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:8443\"; "
				   "vip = \"198.18.0.3\"; database = \"pg1\"; } ); }"), 0);
	expect_seed_error(8, "      nodes = ( { id = \"n3\"; mgmt = \"127.0.0.1:8443\"; vip = "
			  "\"198.18.0.3\"; database = \"pg1\"; } ); database = \"pg2\"; }",
			  ":8: clusters[0].groups[1].database: \"pg2\" conflicts with node n3's "
			  "database \"pg1\"");
	expect_seed_error(7, "    { name = \"g2\"; database = \"nope\";",
			  ":7: clusters[0].groups[1].database: database nope is not defined (add "
			  "it: db add nope ...)");
	/* non-PostgreSQL types */
	expect_seed_error(13, "    { name = \"pg2\"; type = \"oracle\"; host = \"h\"; dbname = "
			  "\"d\"; user = \"u\"; } );",
			  ":13: databases[1].type: database type \"oracle\" is not supported: "
			  "roomcast supports PostgreSQL only (type postgresql)");
	expect_seed_error(13, "    { name = \"pg1\"; host = \"h\"; dbname = \"d\"; user = \"u\"; } );",
			  ":13: databases[1].name: database pg1 is defined twice");
}

static void
test_seed_io_errors(void **state)
{
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s/none.conf", dir);
	assert_int_equal(rc_cluster_load_seed(p, &cl, err, ERR), -ENOENT);
	assert_non_null(strstr(err, "cannot read"));
	assert_int_equal(seed_with(11, "chat = { max_rooms = ; };"), -EINVAL);
	snprintf(p, sizeof(p), "%s:11: syntax error: ", seed_path);
	assert_memory_equal(err, p, strlen(p));
}

/* ---- validate on structs ---- */

static void
expect_invalid(const char *want)
{
	assert_int_equal(rc_cluster_validate(&cl, err, ERR), -EINVAL);
	assert_string_equal(err, want);
}

static void
test_validate(void **state)
{
	struct rc_cl_group *g1, *g2;

	(void)state;
	rc_cluster_init_empty(&cl);
	assert_int_equal(rc_cluster_validate(&cl, err, ERR), 0);
	load_base();
	g1 = &cl.clusters[0].groups[0];
	g2 = &cl.clusters[0].groups[1];
	strcpy(g2->nodes[0].db, "pg2");
	assert_int_equal(rc_cluster_validate(&cl, err, ERR), 0);
	strcpy(g1->nodes[1].db, "pg2");
	expect_invalid("clusters[0].groups[0].nodes[1].database: nodes n1 and n2 of group g1 are "
		       "assigned different databases (pg1, pg2): with high availability on, both "
		       "nodes of a group must be assigned the same database");
	g1->nodes[1].db[0] = '\0';
	expect_invalid("clusters[0].groups[0].nodes[1].database: nodes n1 and n2 of group g1 are "
		       "assigned different databases (pg1, none): with high availability on, "
		       "both nodes of a group must be assigned the same database");
	strcpy(g1->nodes[1].db, "pg2");
	g1->ha = false;
	assert_int_equal(rc_cluster_validate(&cl, err, ERR), 0); /* pg2 shared with g2 */
	load_base();
	cl.clusters[0].groups[0].assign = 7;
	expect_invalid("clusters[0].groups[0].assignment: 7: expected \"balanced\", "
		       "\"active-standby\" or \"none\"");
	load_base();
	cl.clusters[0].n_groups = 4;
	expect_invalid("clusters[0].groups: 4 groups, at most 3 per cluster");
	load_base();
	strcpy(cl.dbs[1].type, "mssql");
	expect_invalid("databases[1].type: database type \"mssql\" is not supported: roomcast "
		       "supports PostgreSQL only (type postgresql)");
	load_base();
	cl.chat.max_archive_query = 0;
	expect_invalid("chat.max_archive_query: 0 is out of range 1..1000");
	load_base();
	cl.chat.n_admins = 2;
	strcpy(cl.chat.admins[0], "bob");
	strcpy(cl.chat.admins[1], "bob");
	expect_invalid("chat.admin_users: user \"bob\" is listed twice");
	load_base();
	strcpy(cl.dbs[0].password_file, "relative/pw");
	expect_invalid("databases[0].password_file: \"relative/pw\" is not an absolute path");
}

/* ---- mutations ---- */

static void
expect_refusal(int rc, int want_rc, const char *want, const struct rc_cluster *before)
{
	assert_int_equal(rc, want_rc);
	assert_string_equal(err, want);
	assert_memory_equal(&cl, before, sizeof(cl));
}

static void
test_version_bump(void **state)
{
	const char *src[2] = { "pg1", "pg2" };
	uint64_t v;
	uint32_t id;

	(void)state;
	load_base();
	v = cl.version;
	assert_int_equal(rc_cluster_group_set_ha(&cl, "n3", "g2", false, err, ERR), 0);
	assert_int_equal(cl.version, v); /* nothing changed: no new version */
	assert_int_equal(rc_cluster_chat_set(&cl, "n1", "max_rooms", "500", err, ERR), 0);
	assert_int_equal(cl.version, ++v);
	assert_string_equal(cl.origin, "n1");
	assert_true(cl.updated_ms > 0);
	assert_int_equal(rc_cluster_group_set_assign(&cl, "n2", "g1", "none", err, ERR), 0);
	assert_int_equal(cl.version, ++v);
	assert_string_equal(cl.origin, "n2");
	assert_int_equal(rc_cluster_service_set(&cl, "n3", "n3", "tc", "stopped", err, ERR), 0);
	assert_int_equal(cl.version, ++v);
	assert_int_equal(rc_cluster_db_add(&cl, "n1", "pg3", "postgresql", "db.example.net",
					   0, "rc3", "rc", "", err, ERR), 0);
	assert_int_equal(cl.version, ++v);
	assert_int_equal(rc_cluster_db_assign(&cl, "n1", "pg2", "g2", err, ERR), 0);
	assert_int_equal(cl.version, ++v);
	assert_int_equal(rc_cluster_merge_add(&cl, "n1", src, "pg3", "g1", &id, err, ERR), -EINVAL);
	assert_int_equal(cl.version, v);
	assert_int_equal(rc_cluster_db_unassign(&cl, "n1", "g2", NULL, err, ERR), 0);
	assert_int_equal(cl.version, ++v);
	assert_int_equal(rc_cluster_db_remove(&cl, "n1", "pg3", err, ERR), 0);
	assert_int_equal(cl.version, ++v);
	assert_int_equal(rc_cluster_chat_set(&cl, "bad id!", "max_rooms", "5", err, ERR), -EINVAL);
	assert_string_equal(err, "origin \"bad id!\" is not a valid node id");
	assert_int_equal(cl.version, v);
}

/*
 * S9 (security review): a state whose version reached the limit takes no change (refused,
 * nothing changed) and still loads from its JSON form; a pushed state more than
 * RC_CL_VERSION_JUMP_MAX versions ahead of ours is refused, one within it accepted.
 */
static void
test_version_limits(void **state)
{
	struct rc_cluster theirs, back;
	json_t *j;

	(void)state;
	load_base();
	cl.version = RC_CL_VERSION_MAX;
	theirs = cl;
	assert_int_equal(rc_cluster_chat_set(&cl, "n1", "max_rooms", "500", err, ERR), -EOVERFLOW);
	assert_string_equal(err, "version: 9007199254740992 is the last one: no change is possible");
	assert_memory_equal(&cl, &theirs, sizeof(cl));
	j = rc_cluster_to_json(&cl);
	assert_non_null(j);
	assert_int_equal(rc_cluster_from_json(j, &back, err, ERR), 0);
	assert_int_equal(back.version, RC_CL_VERSION_MAX);
	json_decref(j);

	load_base();
	theirs = cl;
	theirs.version = cl.version + RC_CL_VERSION_JUMP_MAX;
	assert_true(rc_cluster_jump_ok(&cl, &theirs, err, ERR));
	theirs.version++;
	assert_false(rc_cluster_jump_ok(&cl, &theirs, err, ERR));
	assert_non_null(strstr(err, "is more than 1000000 ahead of ours"));
	theirs.version = 0; /* behind us: not a jump (rc_cluster_newer decides) */
	assert_true(rc_cluster_jump_ok(&cl, &theirs, err, ERR));
}

static void
test_group_ha(void **state)
{
	struct rc_cluster before;

	(void)state;
	load_base();
	before = cl;
	expect_refusal(rc_cluster_group_set_ha(&cl, "n3", "g2", true, err, ERR), -EINVAL,
		       "group g2 has one node (n3): high availability needs a pair of nodes",
		       &before);
	expect_refusal(rc_cluster_group_set_ha(&cl, "n3", "g9", true, err, ERR), -ENOENT,
		       "group \"g9\" does not exist (groups: g1, g2)", &before);
	expect_refusal(rc_cluster_group_set_assign(&cl, "n3", "g1", "random", err, ERR), -EINVAL,
		       "unknown assignment mode \"random\": expected balanced, active-standby "
		       "or none", &before);
	/* per-node databases only with ha off; then ha on is refused until they agree */
	expect_refusal(rc_cluster_db_assign_node(&cl, "n1", "pg2", "n2", err, ERR), -EINVAL,
		       "group g1 has high availability on: both nodes of a group must be "
		       "assigned the same database (db assign pg2 --group g1)", &before);
	assert_int_equal(rc_cluster_group_set_ha(&cl, "n1", "g1", false, err, ERR), 0);
	assert_int_equal(rc_cluster_db_assign_node(&cl, "n1", "pg2", "n2", err, ERR), 0);
	before = cl;
	expect_refusal(rc_cluster_group_set_ha(&cl, "n1", "g1", true, err, ERR), -EINVAL,
		       "nodes n1 and n2 of group g1 are assigned different databases (pg1, pg2):"
		       " both nodes of a group must be assigned the same database; assign one "
		       "first (db assign NAME --group g1)", &before);
	assert_int_equal(rc_cluster_db_assign(&cl, "n1", "pg2", "g1", err, ERR), 0);
	assert_int_equal(rc_cluster_group_set_ha(&cl, "n1", "g1", true, err, ERR), 0);
	assert_string_equal(rc_cluster_group_db(rc_cluster_find_group(&cl, "g1", NULL)), "pg2");
}

static void
test_chat_set(void **state)
{
	struct rc_cluster before;

	(void)state;
	load_base();
	before = cl;
	expect_refusal(rc_cluster_chat_set(&cl, "n1", "max_room", "5", err, ERR), -EINVAL,
		       "unknown chat setting \"max_room\"; settings: enabled, max_rooms, "
		       "default_max_occupants, messages_on_join, max_archive_query, "
		       "admins_only_create, admin_users, members_only_default", &before);
	expect_refusal(rc_cluster_chat_set(&cl, "n1", "max_rooms", "0", err, ERR), -EINVAL,
		       "max_rooms: \"0\" is not an integer in 1..16777216", &before);
	expect_refusal(rc_cluster_chat_set(&cl, "n1", "default_max_occupants", "12x", err, ERR),
		       -EINVAL, "default_max_occupants: \"12x\" is not an integer in 1..65535",
		       &before);
	expect_refusal(rc_cluster_chat_set(&cl, "n1", "enabled", "maybe", err, ERR), -EINVAL,
		       "enabled: \"maybe\" is not a boolean (true/false, on/off, yes/no, 1/0)",
		       &before);
	expect_refusal(rc_cluster_chat_set(&cl, "n1", "messages_on_join", "500", err, ERR),
		       -EINVAL, "chat.messages_on_join: 500 exceeds max_archive_query (200)",
		       &before);
	expect_refusal(rc_cluster_chat_set(&cl, "n1", "admin_users", "al\tice", err, ERR),
		       -EINVAL, "chat.admin_users: \"al\tice\" is not a user name (1..64 bytes, "
		       "no comma, no control character, no leading or trailing space)", &before);
	assert_int_equal(rc_cluster_chat_set(&cl, "n1", "enabled", "off", err, ERR), 0);
	assert_false(cl.chat.enabled);
	assert_int_equal(rc_cluster_chat_set(&cl, "n1", "members_only_default", "yes", err, ERR),
			 0);
	assert_true(cl.chat.members_only_default);
	assert_int_equal(rc_cluster_chat_set(&cl, "n1", "admins_only_create", "1", err, ERR), 0);
	assert_true(cl.chat.admins_only_create);
	assert_int_equal(rc_cluster_chat_set(&cl, "n1", "max_archive_query", "1000", err, ERR), 0);
	assert_int_equal(rc_cluster_chat_set(&cl, "n1", "messages_on_join", "500", err, ERR), 0);
	assert_int_equal(cl.chat.messages_on_join, 500);
	assert_int_equal(rc_cluster_chat_set(&cl, "n1", "admin_users", " alice, bob ,,carol",
					     err, ERR), 0);
	assert_int_equal(cl.chat.n_admins, 3);
	assert_string_equal(cl.chat.admins[1], "bob");
	assert_string_equal(cl.chat.admins[2], "carol");
	assert_int_equal(rc_cluster_chat_set(&cl, "n1", "admin_users", "", err, ERR), 0);
	assert_int_equal(cl.chat.n_admins, 0);
}

static void
test_db_add(void **state)
{
	struct rc_cluster before;
	char p[160], want[512];
	size_t n;

	(void)state;
	load_base();
	before = cl;
	expect_refusal(rc_cluster_db_add(&cl, "n1", "ora", "oracle", "h", 1521, "d", "u", "",
					 err, ERR), -EOPNOTSUPP,
		       "database type \"oracle\" is not supported: roomcast supports PostgreSQL "
		       "only (type postgresql)", &before);
	expect_refusal(rc_cluster_db_add(&cl, "n1", "ms", "mssql", "h", 1433, "d", "u", "",
					 err, ERR), -EOPNOTSUPP,
		       "database type \"mssql\" is not supported: roomcast supports PostgreSQL "
		       "only (type postgresql)", &before);
	expect_refusal(rc_cluster_db_add(&cl, "n1", "ms", "sqlserver", "h", 1433, "d", "u", "",
					 err, ERR), -EOPNOTSUPP,
		       "database type \"sqlserver\" is not supported: roomcast supports "
		       "PostgreSQL only (type postgresql)", &before);
	expect_refusal(rc_cluster_db_add(&cl, "n1", "ms", "SQL Server", "h", 1433, "d", "u", "",
					 err, ERR), -EOPNOTSUPP,
		       "database type \"SQL Server\" is not supported: roomcast supports "
		       "PostgreSQL only (type postgresql)", &before);
	expect_refusal(rc_cluster_db_add(&cl, "n1", "pg1", "postgresql", "h", 0, "d", "u", "",
					 err, ERR), -EEXIST, "database pg1 already exists", &before);
	expect_refusal(rc_cluster_db_add(&cl, "n1", "pg3", "postgresql", "h o", 0, "d", "u", "",
					 err, ERR), -EINVAL, "host \"h o\" is not a host name, IP "
		       "address or socket directory (or a comma-separated list of at most 8 of "
		       "them: a replicated database)", &before);
	expect_refusal(rc_cluster_db_add(&cl, "n1", "pg3", "pg", "h", 70000, "d", "u", "",
					 err, ERR), -EINVAL, "port 70000 is out of range 1..65535",
		       &before);
	/* the password file: an absolute path in the state */
	expect_refusal(rc_cluster_db_add(&cl, "n1", "pg3", "pg", "h", 0, "d", "u", "pw", err,
					 ERR), -EINVAL,
		       "password file \"pw\" must be an absolute path", &before);
	/* the file itself: the node's command checks it in its secrets directory (secfile.h) */
	snprintf(p, sizeof(p), "%s/missing", dir);
	snprintf(want, sizeof(want), "cannot open %s: No such file or directory", p);
	assert_int_equal(rc_cluster_check_password_file(dir, p, err, ERR), -ENOENT);
	assert_string_equal(err, want);
	assert_int_equal(rc_cluster_check_password_file(dir, "pw", err, ERR), -EINVAL);
	assert_int_equal(rc_cluster_check_password_file(dir, dir, err, ERR), -EISDIR);
	assert_int_equal(chmod(pw_path, 0644), 0);
	snprintf(want, sizeof(want), "%s has mode 0644; a secret must be 0600 or 0400 (chmod "
		 "0600 it)", pw_path);
	assert_int_equal(rc_cluster_check_password_file(dir, pw_path, err, ERR), -EPERM);
	assert_string_equal(err, want);
	assert_int_equal(chmod(pw_path, 0640), 0); /* group-readable: refused too */
	assert_int_equal(rc_cluster_check_password_file(dir, pw_path, err, ERR), -EPERM);
	assert_int_equal(rc_cluster_check_password_file("/etc", pw_path, err, ERR), -EPERM);
	assert_int_equal(chmod(pw_path, 0600), 0);
	assert_int_equal(rc_cluster_check_password_file(dir, pw_path, err, ERR), 0);
	assert_int_equal(rc_cluster_db_add(&cl, "n1", "pg3", "Postgres", "/run/postgresql", 0,
					   "rc_3", "rc@host", pw_path, err, ERR), 0);
	assert_string_equal(cl.dbs[2].type, "postgresql");
	assert_int_equal(cl.dbs[2].port, 5432);
	assert_string_equal(cl.dbs[2].password_file, pw_path);
	assert_int_equal(chmod(pw_path, 0600), 0);
	/* what the lead hands libpq (the password comes from password_file) */
	assert_int_equal(rc_cluster_db_conninfo(&cl.dbs[2], want, sizeof(want)),
			 strlen("host=/run/postgresql port=5432 dbname=rc_3 user=rc@host"));
	assert_string_equal(want, "host=/run/postgresql port=5432 dbname=rc_3 user=rc@host");
	strcpy(cl.dbs[2].host, "a b'c");
	n = rc_cluster_db_conninfo(&cl.dbs[2], want, sizeof(want));
	assert_string_equal(want, "host='a b\\'c' port=5432 dbname=rc_3 user=rc@host");
	assert_int_equal(rc_cluster_db_conninfo(&cl.dbs[2], want, 8), n); /* truncated */
	assert_string_equal(want, "host='a");
}

/* TLS to a cluster database: libpq's sslmode and the CA file, in the state and the conninfo;
 * a mode that checks the certificate without a CA is refused with the reason. */
static void
test_db_tls(void **state)
{
	struct rc_cluster before, back;
	char ci[512];
	json_t *j;

	(void)state;
	load_base();
	before = cl;
	expect_refusal(rc_cluster_db_set_tls(&cl, "n1", "pg1", "verify-full", "", err, ERR),
		       -EINVAL, "databases[0].sslmode: verify-full checks the server's "
		       "certificate: name the CA that signed it in sslrootcert", &before);
	expect_refusal(rc_cluster_db_set_tls(&cl, "n1", "pg1", "strict", "", err, ERR), -EINVAL,
		       "databases[0].sslmode: \"strict\": expected disable, allow, prefer, "
		       "require, verify-ca or verify-full", &before);
	expect_refusal(rc_cluster_db_set_tls(&cl, "n1", "pg1", "verify-ca", "ca.pem", err, ERR),
		       -EINVAL, "databases[0].sslrootcert: \"ca.pem\" is not an absolute path",
		       &before);
	expect_refusal(rc_cluster_db_set_tls(&cl, "n1", "pgx", "require", "", err, ERR), -ENOENT,
		       "database \"pgx\" does not exist (databases: pg1, pg2)", &before);
	rc_cluster_db_conninfo(&cl.dbs[0], ci, sizeof(ci));
	assert_null(strstr(ci, "ssl")); /* nothing by default */
	assert_int_equal(rc_cluster_db_set_tls(&cl, "n1", "pg1", "verify-full", "/etc/pg ca.pem",
					       err, ERR), 0);
	rc_cluster_db_conninfo(&cl.dbs[0], ci, sizeof(ci));
	assert_string_equal(ci, "host=127.0.0.1 port=5432 dbname=rc1 user=rc sslmode=verify-full "
			    "sslrootcert='/etc/pg ca.pem'");
	j = rc_cluster_to_json(&cl);
	assert_int_equal(rc_cluster_from_json(j, &back, err, ERR), 0);
	json_decref(j);
	assert_string_equal(back.dbs[0].sslmode, "verify-full");
	assert_string_equal(back.dbs[0].sslrootcert, "/etc/pg ca.pem");
	assert_string_equal(back.dbs[1].sslmode, "");
}

static void
test_db_assign_remove(void **state)
{
	struct rc_cluster before;

	(void)state;
	load_base();
	before = cl;
	/* two groups on one database (the seeds' minimum): allowed, per group and per node */
	assert_int_equal(rc_cluster_db_assign(&cl, "n3", "pg1", "g2", err, ERR), 0);
	assert_string_equal(rc_cluster_find_node(&cl, "n3", NULL, NULL)->db, "pg1");
	assert_int_equal(rc_cluster_db_unassign(&cl, "n3", "g2", NULL, err, ERR), 0);
	assert_int_equal(rc_cluster_db_assign_node(&cl, "n3", "pg1", "n3", err, ERR), 0);
	assert_string_equal(rc_cluster_find_node(&cl, "n3", NULL, NULL)->db, "pg1");
	assert_int_equal(rc_cluster_db_unassign(&cl, "n3", "g2", NULL, err, ERR), 0);
	before = cl;
	expect_refusal(rc_cluster_db_assign(&cl, "n3", "pgx", "g2", err, ERR), -ENOENT,
		       "database \"pgx\" does not exist (databases: pg1, pg2)", &before);
	expect_refusal(rc_cluster_db_remove(&cl, "n3", "pg1", err, ERR), -EBUSY,
		       "database pg1 is assigned to group g1 (node n1): unassign it first",
		       &before);
	expect_refusal(rc_cluster_db_unassign(&cl, "n1", "g1", "n1", err, ERR), -EINVAL,
		       "group g1 has high availability on: both nodes of a group must be "
		       "assigned the same database (unassign the group)", &before);
	expect_refusal(rc_cluster_db_unassign(&cl, "n1", "g1", "n3", err, ERR), -ENOENT,
		       "node n3 is not in group g1", &before);
	/* reassigning the same group is fine (both nodes move together) */
	assert_int_equal(rc_cluster_db_assign(&cl, "n1", "pg2", "g1", err, ERR), 0);
	assert_string_equal(cl.clusters[0].groups[0].nodes[0].db, "pg2");
	assert_string_equal(cl.clusters[0].groups[0].nodes[1].db, "pg2");
	assert_int_equal(rc_cluster_db_assign(&cl, "n3", "pg1", "g2", err, ERR), 0);
	assert_int_equal(rc_cluster_db_unassign(&cl, "n3", "g2", NULL, err, ERR), 0);
	assert_int_equal(rc_cluster_db_remove(&cl, "n3", "pg1", err, ERR), 0);
	assert_int_equal(cl.n_dbs, 1);
	assert_string_equal(cl.dbs[0].name, "pg2");
	assert_null(rc_cluster_find_db(&cl, "pg1"));
	before = cl;
	expect_refusal(rc_cluster_db_remove(&cl, "n3", "pg1", err, ERR), -ENOENT,
		       "database \"pg1\" does not exist (databases: pg2)", &before);
}

static void
test_service(void **state)
{
	struct rc_cluster before;

	(void)state;
	load_base();
	before = cl;
	expect_refusal(rc_cluster_service_set(&cl, "n1", "n1", "xmpp", "started", err, ERR),
		       -EINVAL, "unknown service \"xmpp\": the only service is tc (text "
		       "conference)", &before);
	expect_refusal(rc_cluster_service_set(&cl, "n1", "n1", "tc", "paused", err, ERR), -EINVAL,
		       "unknown service state \"paused\": expected started or stopped", &before);
	expect_refusal(rc_cluster_service_set(&cl, "n1", "n9", "tc", "stop", err, ERR), -ENOENT,
		       "node \"n9\" does not exist (nodes: n1, n2, n3)", &before);
	assert_int_equal(rc_cluster_service_set(&cl, "n1", "n2", "tc", "stop", err, ERR), 0);
	assert_int_equal(rc_cluster_find_node(&cl, "n2", NULL, NULL)->tc, RC_CL_SVC_STOPPED);
	assert_int_equal(rc_cluster_service_set(&cl, "n1", "n2", "TC", "started", err, ERR), 0);
	assert_int_equal(rc_cluster_find_node(&cl, "n2", NULL, NULL)->tc, RC_CL_SVC_STARTED);
}

/* The base, with g1's nodes on their own databases (ha off), a target, and TC stopped. */
static void
load_premerge(void)
{
	load_base();
	assert_int_equal(rc_cluster_group_set_ha(&cl, "n1", "g1", false, err, ERR), 0);
	assert_int_equal(rc_cluster_db_add(&cl, "n1", "pgt", "postgresql", "h", 0, "t", "u", "",
					   err, ERR), 0);
	assert_int_equal(rc_cluster_db_assign_node(&cl, "n1", "pg2", "n2", err, ERR), 0);
}

static void
test_merge(void **state)
{
	const char *src[2] = { "pg1", "pg2" }, *same[2] = { "pg1", "pg1" };
	struct rc_cl_merge_progress p = { .state = RC_CL_MERGE_RUNNING };
	struct rc_cluster before;
	uint32_t id = 0, id2;

	(void)state;
	load_premerge();
	before = cl;
	expect_refusal(rc_cluster_merge_add(&cl, "n1", same, "pgt", NULL, &id, err, ERR),
		       -EINVAL, "the two sources are the same database (pg1)", &before);
	expect_refusal(rc_cluster_merge_add(&cl, "n1", src, "pg2", NULL, &id, err, ERR), -EINVAL,
		       "the target pg2 is also a source: merge into another database", &before);
	expect_refusal(rc_cluster_merge_add(&cl, "n1", src, "pgt", "g2", &id, err, ERR), -EINVAL,
		       "source pg1 is assigned to group g1, not g2: a merge combines the two "
		       "databases of one group", &before);
	assert_int_equal(rc_cluster_merge_add(&cl, "n1", src, "pgt", NULL, &id, err, ERR), 0);
	assert_int_equal(id, 1);
	assert_string_equal(rc_cluster_find_merge(&cl, id)->group, "g1");
	assert_int_equal(rc_cluster_find_merge(&cl, id)->state, RC_CL_MERGE_CREATED);
	before = cl;
	expect_refusal(rc_cluster_merge_add(&cl, "n1", src, "pgt", NULL, &id2, err, ERR), -EEXIST,
		       "merge job 1 already merges pg1 and pg2 into pgt (created)", &before);
	/* the configuration side of validation: TC must be stopped on both nodes */
	assert_int_equal(rc_cluster_merge_check(&cl, id, err, ERR), -EINVAL);
	assert_string_equal(err, "the TC service is started on node n1: stop it on both nodes "
			    "of group g1 (n1, n2) before merging");
	expect_refusal(rc_cluster_merge_update(&cl, "n1", id, &p, err, ERR), -EINVAL,
		       "merge job 1 cannot go from created to running", &before);
	assert_int_equal(rc_cluster_service_set(&cl, "n1", "n1", "tc", "stopped", err, ERR), 0);
	assert_int_equal(rc_cluster_service_set(&cl, "n1", "n2", "tc", "stopped", err, ERR), 0);
	assert_int_equal(rc_cluster_merge_check(&cl, id, err, ERR), 0);
	p.state = RC_CL_MERGE_VALIDATED;
	assert_int_equal(rc_cluster_merge_update(&cl, "n1", id, &p, err, ERR), 0);
	p.state = RC_CL_MERGE_RUNNING;
	p.tables[RC_CL_TABLE_MESSAGES] = (struct rc_cl_counts){ 10, 20, 30 };
	p.conflicts = 2;
	p.renumbered = 1;
	assert_int_equal(rc_cluster_merge_update(&cl, "n1", id, &p, err, ERR), 0);
	assert_int_equal(rc_cluster_find_merge(&cl, id)->tables[RC_CL_TABLE_MESSAGES].target, 30);
	/* while it runs: TC stays stopped, the group's databases stay, the job stays */
	before = cl;
	expect_refusal(rc_cluster_service_set(&cl, "n1", "n1", "tc", "started", err, ERR), -EBUSY,
		       "merge job 1 of group g1 is running: starting TC waits until it ends",
		       &before);
	expect_refusal(rc_cluster_db_assign(&cl, "n1", "pgt", "g1", err, ERR), -EBUSY,
		       "merge job 1 of group g1 is running: assigning a database waits until it "
		       "ends", &before);
	expect_refusal(rc_cluster_merge_remove(&cl, "n1", id, err, ERR), -EBUSY,
		       "merge job 1 is running: it can be removed when it ends", &before);
	expect_refusal(rc_cluster_db_remove(&cl, "n1", "pgt", err, ERR), -EBUSY,
		       "database pgt is used by merge job 1 (running): remove the job first",
		       &before);
	p.state = RC_CL_MERGE_DONE;
	p.error = "";
	assert_int_equal(rc_cluster_merge_update(&cl, "n1", id, &p, err, ERR), 0);
	p.state = RC_CL_MERGE_VALIDATED;
	assert_int_equal(rc_cluster_merge_update(&cl, "n1", id, &p, err, ERR), -EINVAL);
	assert_string_equal(err, "merge job 1 cannot go from done to validated");
	/* afterwards: the target serves the group, ha goes back on */
	assert_int_equal(rc_cluster_db_assign(&cl, "n1", "pgt", "g1", err, ERR), 0);
	assert_int_equal(rc_cluster_group_set_ha(&cl, "n1", "g1", true, err, ERR), 0);
	assert_int_equal(rc_cluster_merge_remove(&cl, "n1", id, err, ERR), 0);
	assert_null(rc_cluster_find_merge(&cl, id));
	assert_int_equal(cl.next_merge_id, 2); /* ids are never reused */
}

static void
test_merge_check_sources(void **state)
{
	const char *src[2] = { "pg1", "pg2" };
	uint32_t id = 0;

	(void)state;
	load_base(); /* g1 on pg1 (both nodes); pg2 unassigned */
	assert_int_equal(rc_cluster_db_add(&cl, "n1", "pgt", "postgresql", "h", 0, "t", "u", "",
					   err, ERR), 0);
	assert_int_equal(rc_cluster_merge_add(&cl, "n1", src, "pgt", NULL, &id, err, ERR), 0);
	assert_int_equal(rc_cluster_merge_check(&cl, id, err, ERR), -EINVAL);
	assert_string_equal(err, "source database pg2 is not assigned to a node of group g1 "
			    "(each source must be the database of one node of the group)");
	assert_int_equal(rc_cluster_merge_check(&cl, 99, err, ERR), -ENOENT);
	src[0] = "pgt";
	assert_int_equal(rc_cluster_merge_add(&cl, "n1", src, "pg1", NULL, &id, err, ERR),
			 -EINVAL);
	assert_string_equal(err, "cannot tell which group to merge for: neither pgt nor pg2 is "
			    "assigned to a node; name the group");
	assert_int_equal(rc_cluster_merge_add(&cl, "n1", src, "pg1", "g2", &id, err, ERR), -EBUSY);
	assert_string_equal(err, "database pg1 serves group g1: a merge target must serve no "
			    "other group");
	assert_int_equal(rc_cluster_merge_add(&cl, "n1", src, "pg1", "g3", &id, err, ERR),
			 -ENOENT);
	assert_string_equal(err, "group \"g3\" does not exist (groups: g1, g2)");
}

/* ---- JSON, files ---- */

static char *
dump(const struct rc_cluster *c)
{
	json_t *j = rc_cluster_to_json(c);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(j);
	assert_non_null(s);
	return s;
}

/* A state that uses every field. */
static void
load_busy(void)
{
	const char *src[2] = { "pg1", "pg2" };
	struct rc_cl_merge_progress p = { .state = RC_CL_MERGE_VALIDATION_FAILED,
					  .error = "dblink is not installed" };
	uint32_t id;

	load_premerge();
	assert_int_equal(rc_cluster_chat_set(&cl, "n2", "admin_users", "alice,bob", err, ERR), 0);
	assert_int_equal(rc_cluster_db_add(&cl, "n2", "pgp", "pg", "h", 6543, "d", "u", pw_path,
					   err, ERR), 0);
	assert_int_equal(rc_cluster_service_set(&cl, "n2", "n3", "tc", "stopped", err, ERR), 0);
	assert_int_equal(rc_cluster_merge_add(&cl, "n2", src, "pgt", NULL, &id, err, ERR), 0);
	p.tables[RC_CL_TABLE_ROOMS] = (struct rc_cl_counts){ 1, 2, 0 };
	assert_int_equal(rc_cluster_merge_update(&cl, "n2", id, &p, err, ERR), 0);
	assert_int_equal(rc_cluster_group_set_assign(&cl, "n2", "g2", "active-standby", err, ERR),
			 0);
}

/* A replicated database (issue 9): several hosts, one port of each or one per host; the
 * conninfo asks for the read-write one; the ports survive the JSON round trip and a state
 * without them reads and writes as before. */
static void
test_db_multi_host(void **state)
{
	struct rc_cluster before, back;
	char want[512];
	json_t *j;
	int k;

	(void)state;
	load_base();
	before = cl;
	expect_refusal(rc_cluster_db_add_hosts(&cl, "n1", "pgr", "pg", "a,,b", "5432", "d", "u",
					       "", err, ERR), -EINVAL,
		       "host \"a,,b\" is not a host name, IP address or socket directory (or a "
		       "comma-separated list of at most 8 of them: a replicated database)",
		       &before);
	expect_refusal(rc_cluster_db_add_hosts(&cl, "n1", "pgr", "pg", "a,b,c,d,e,f,g,h,i",
					       "5432", "d", "u", "", err, ERR), -EINVAL,
		       "host \"a,b,c,d,e,f,g,h,i\" is not a host name, IP address or socket "
		       "directory (or a comma-separated list of at most 8 of them: a replicated "
		       "database)", &before);
	expect_refusal(rc_cluster_db_add_hosts(&cl, "n1", "pgr", "pg", "a,b", "5432,x", "d", "u",
					       "", err, ERR), -EINVAL,
		       "port \"5432,x\" is not a port (1..65535) or a comma-separated list of "
		       "them, one per host", &before);
	expect_refusal(rc_cluster_db_add_hosts(&cl, "n1", "pgr", "pg", "a,b", "1,2,3", "d", "u",
					       "", err, ERR), -EINVAL,
		       "3 ports for 2 hosts: give one port (of every host) or one per host",
		       &before);
	/* two servers on one port */
	assert_int_equal(rc_cluster_db_add_hosts(&cl, "n1", "pgr", "pg", "pg-a.example,pg-b.example",
						 "6432", "rc", "rc", "", err, ERR), 0);
	k = (int)cl.n_dbs - 1;
	assert_string_equal(cl.dbs[k].ports, "");
	assert_int_equal(cl.dbs[k].port, 6432);
	rc_cluster_db_conninfo(&cl.dbs[k], want, sizeof(want));
	assert_string_equal(want, "host=pg-a.example,pg-b.example port=6432 dbname=rc user=rc "
				  "target_session_attrs=read-write");
	/* two unix sockets, a port each */
	assert_int_equal(rc_cluster_db_add_hosts(&cl, "n1", "pgs", "pg", "/run/pg1,/run/pg2",
						 "5432,5433", "rc", "rc", "", err, ERR), 0);
	k = (int)cl.n_dbs - 1;
	assert_string_equal(cl.dbs[k].ports, "5432,5433");
	rc_cluster_db_conninfo(&cl.dbs[k], want, sizeof(want));
	assert_string_equal(want, "host=/run/pg1,/run/pg2 port=5432,5433 dbname=rc user=rc "
				  "target_session_attrs=read-write");
	/* one host: as before, no ports key in the JSON */
	rc_cluster_db_conninfo(&cl.dbs[0], want, sizeof(want));
	assert_null(strstr(want, "target_session_attrs"));
	j = rc_cluster_to_json(&cl);
	assert_non_null(j);
	assert_null(json_object_get(json_array_get(json_object_get(j, "databases"), 0), "ports"));
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j, "databases"), k), "ports")),
			    "5432,5433");
	assert_int_equal(rc_cluster_from_json(j, &back, err, ERR), 0);
	assert_string_equal(back.dbs[k].ports, "5432,5433");
	assert_string_equal(back.dbs[k].host, "/run/pg1,/run/pg2");
	/* a state whose ports do not match its hosts is refused */
	json_object_set_new(json_array_get(json_object_get(j, "databases"), k), "ports",
			    json_string("1,2,3"));
	assert_int_equal(rc_cluster_from_json(j, &back, err, ERR), -EINVAL);
	assert_non_null(strstr(err, "3 ports for 2 hosts"));
	json_object_set_new(json_array_get(json_object_get(j, "databases"), k), "ports",
			    json_string("1,0"));
	assert_int_equal(rc_cluster_from_json(j, &back, err, ERR), -EINVAL);
	assert_non_null(strstr(err, "is not a list of ports"));
	json_decref(j);
}

static void
test_json_round_trip(void **state)
{
	struct rc_cluster back;
	char *a, *b;
	json_t *j;

	(void)state;
	load_busy();
	cl.clusters[0].groups[1].nodes[0].udp_port = 7001;
	j = rc_cluster_to_json(&cl);
	assert_non_null(j);
	memset(&back, 0xa5, sizeof(back));
	assert_int_equal(rc_cluster_from_json(j, &back, err, ERR), 0);
	json_decref(j);
	a = dump(&cl);
	b = dump(&back);
	assert_string_equal(a, b);
	assert_int_equal(back.version, cl.version);
	assert_string_equal(back.origin, "n2");
	assert_int_equal(back.merges[0].state, RC_CL_MERGE_VALIDATION_FAILED);
	assert_string_equal(back.merges[0].error, "dblink is not installed");
	assert_int_equal(back.merges[0].tables[RC_CL_TABLE_ROOMS].source_b, 2);
	assert_int_equal(rc_cluster_find_node(&back, "n3", NULL, NULL)->tc, RC_CL_SVC_STOPPED);
	assert_string_equal(rc_cluster_find_node(&back, "n2", NULL, NULL)->db, "pg2");
	assert_int_equal(rc_cluster_find_node(&back, "n3", NULL, NULL)->udp_port, 7001);
	assert_int_equal(rc_cluster_find_node(&back, "n1", NULL, NULL)->udp_port, 6420);
	assert_false(rc_cluster_newer(&cl, &back));
	assert_false(rc_cluster_newer(&back, &cl));
	free(a);
	free(b);
}

static void
expect_json_error(const char *text, const char *want)
{
	json_t *j = json_loads(text, 0, NULL);
	struct rc_cluster before = cl;

	assert_non_null(j);
	assert_int_equal(rc_cluster_from_json(j, &cl, err, ERR), -EINVAL);
	assert_string_equal(err, want);
	assert_memory_equal(&cl, &before, sizeof(cl));
	json_decref(j);
}

static void
test_json_errors(void **state)
{
	(void)state;
	load_base();
	expect_json_error("{\"version\": 1}", "format: required key is missing");
	expect_json_error("{\"format\": 2, \"version\": 1}",
			  "format: format 2 is not supported (this build reads 1)");
	expect_json_error("{\"format\": 1, \"version\": 1, \"clusterz\": []}",
			  "clusterz: unknown key (did you mean \"clusters\"?)");
	expect_json_error("{\"format\": 1, \"version\": -1}",
			  "version: -1 is out of range 0..9007199254740992");
	/* S9: a version at the top of int64 would wedge the cluster (the next change overflows) */
	expect_json_error("{\"format\": 1, \"version\": 9223372036854775807}",
			  "version: 9223372036854775807 is out of range 0..9007199254740992");
	expect_json_error("{\"format\": 1, \"version\": 1, \"databases\": [{\"name\": \"x\", "
			  "\"type\": \"sqlserver\", \"host\": \"h\", \"dbname\": \"d\", "
			  "\"user\": \"u\"}]}",
			  "databases[0].type: database type \"sqlserver\" is not supported: "
			  "roomcast supports PostgreSQL only (type postgresql)");
	expect_json_error("{\"format\": 1, \"version\": 1, \"merge_jobs\": [{\"id\": 1, "
			  "\"group\": \"g\", \"sources\": [\"a\", \"b\"], \"target\": \"c\", "
			  "\"state\": \"created\"}]}",
			  "merge_jobs[0]: merge job id 1 is not below next_merge_id 1");
	expect_json_error("[]", "expected an object, got an array");
}

static void
test_save_load(void **state)
{
	struct rc_cluster back, newer_state;
	char tmp[160], *a, *b;
	struct stat st;

	(void)state;
	load_busy();
	assert_int_equal(rc_cluster_save(&cl, state_path, err, ERR), 0);
	assert_int_equal(stat(state_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	snprintf(tmp, sizeof(tmp), "%s.tmp", state_path);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(rc_cluster_load(state_path, &back, err, ERR), 0);
	a = dump(&cl);
	b = dump(&back);
	assert_string_equal(a, b);
	free(b);
	/* the password is in no file the state writes */
	assert_null(strstr(a, "s3cr3t"));

	/* a crash while writing the next state: a partial PATH.tmp is left behind */
	newer_state = cl;
	assert_int_equal(rc_cluster_chat_set(&newer_state, "n1", "max_rooms", "77", err, ERR), 0);
	write_text(tmp, "{\"format\": 1, \"version\": 99, \"clus", 0640);
	assert_int_equal(rc_cluster_load(state_path, &back, err, ERR), 0);
	b = dump(&back);
	assert_string_equal(a, b); /* the old state, intact */
	free(b);
	/* the next save replaces both */
	assert_int_equal(rc_cluster_save(&newer_state, state_path, err, ERR), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(rc_cluster_load(state_path, &back, err, ERR), 0);
	assert_int_equal(back.chat.max_rooms, 77);
	assert_int_equal(back.version, cl.version + 1);
	free(a);
}

static void
test_load_errors(void **state)
{
	char p[160], want[256];

	(void)state;
	snprintf(p, sizeof(p), "%s/absent.json", dir);
	assert_int_equal(rc_cluster_load(p, &cl, err, ERR), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", p);
	assert_string_equal(err, want);
	write_text(state_path, "{\n\"format\": 1,\n\"version\": 3,\n", 0640);
	assert_int_equal(rc_cluster_load(state_path, &cl, err, ERR), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: syntax error: ", state_path);
	assert_memory_equal(err, want, strlen(want));
	write_text(state_path, "{\"format\": 1, \"version\": 3, \"chat\": {\"enabled\": 1}}",
		   0640);
	assert_int_equal(rc_cluster_load(state_path, &cl, err, ERR), -EINVAL);
	snprintf(want, sizeof(want), "%s: chat.enabled: expected a boolean (true/false), got an"
		 " integer", state_path);
	assert_string_equal(err, want);
	snprintf(p, sizeof(p), "%s/no-such-dir/cluster.json", dir);
	load_base();
	assert_int_equal(rc_cluster_save(&cl, p, err, ERR), -ENOENT);
	assert_non_null(strstr(err, "cannot write"));
}

/* ---- which state wins ---- */

static void
test_newer(void **state)
{
	struct rc_cluster a, b;

	(void)state;
	load_base();
	a = cl;
	b = cl;
	assert_false(rc_cluster_newer(&a, &b));
	assert_int_equal(rc_cluster_chat_set(&a, "n1", "max_rooms", "10", err, ERR), 0);
	assert_true(rc_cluster_newer(&a, &b));
	assert_false(rc_cluster_newer(&b, &a));
	/* concurrent edits on both nodes: same version, the higher origin wins on both */
	assert_int_equal(rc_cluster_chat_set(&b, "n2", "max_rooms", "20", err, ERR), 0);
	assert_int_equal(a.version, b.version);
	assert_true(rc_cluster_newer(&b, &a));
	assert_false(rc_cluster_newer(&a, &b));
	/* same version and origin, different content: still exactly one winner */
	b = a;
	b.chat.max_rooms = 11;
	assert_true(rc_cluster_newer(&a, &b) != rc_cluster_newer(&b, &a));
	/* a higher version beats everything */
	b.version++;
	strcpy(b.origin, "a");
	assert_true(rc_cluster_newer(&b, &a));
}

/* ---- views ---- */

static void
test_views(void **state)
{
	json_t *v, *n;
	char *s;

	(void)state;
	load_busy();
	v = rc_cluster_describe_dbs(&cl);
	assert_non_null(v);
	s = json_dumps(v, JSON_COMPACT);
	assert_null(strstr(s, "s3cr3t"));
	assert_non_null(strstr(s, "\"password\":\"from "));
	assert_non_null(strstr(s, "\"name\":\"pg2\",\"type\":\"postgresql\",\"host\":\"127.0.0.1\","
				  "\"port\":5432,\"dbname\":\"rc2\",\"user\":\"rc\",\"password\":"
				  "\"none\",\"group\":\"g1\",\"nodes\":[\"n2\"],\"merge_jobs\":[1]"));
	free(s);
	json_decref(v);

	v = rc_cluster_describe_topology(&cl);
	assert_int_equal(json_array_size(json_object_get(v, "nodes")), 3);
	n = json_array_get(json_object_get(v, "nodes"), 0);
	assert_string_equal(json_string_value(json_object_get(n, "peer")), "n2");
	assert_string_equal(json_string_value(json_object_get(n, "vip")), "198.18.0.1");
	n = json_array_get(json_object_get(v, "nodes"), 2);
	assert_true(json_is_null(json_object_get(n, "peer")));
	assert_string_equal(json_string_value(json_object_get(n, "tc")), "stopped");
	json_decref(v);

	v = rc_cluster_describe_group(&cl, "g1");
	assert_true(json_is_null(json_object_get(v, "database"))); /* per node */
	json_decref(v);
	errno = 0;
	assert_null(rc_cluster_describe_group(&cl, "nope"));
	assert_int_equal(errno, ENOENT);

	v = rc_cluster_describe_merge(&cl, 1);
	assert_string_equal(json_string_value(json_object_get(v, "state")), "validation-failed");
	json_decref(v);
	v = rc_cluster_describe_merges(&cl);
	assert_int_equal(json_array_size(json_object_get(v, "merge_jobs")), 1);
	json_decref(v);
	v = rc_cluster_describe_chat(&cl);
	assert_int_equal(json_array_size(json_object_get(v, "admin_users")), 2);
	json_decref(v);

}

/* A node's report as roomcastd publishes it (node_report.c): a healthy member of a pair. */
static json_t *
report(const char *node, const char *peer, const char *state, const char *db)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:b, s:s, s:s, s:s, s:b, s:b}}", "node", node,
			 "tc", "started", "rooms", "served", "database", db, "ha", "enabled", 1,
			 "state", state, "reason", "Normal", "peer", peer, "peer_heard", 1,
			 "critical_services", 1);
}

/* The failing checks of verify ha, "check: detail | fix" joined by "; ". */
static const char *
live_failures(const json_t *reports)
{
	static char out[2048];
	json_t *v = rc_cluster_verify_live(&cl, reports), *c;
	size_t i, len = 0;

	assert_non_null(v);
	out[0] = '\0';
	json_array_foreach(json_object_get(v, "checks"), i, c)
		if (!json_is_true(json_object_get(c, "ok")))
			len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s: %s | %s",
						len ? "; " : "",
						json_string_value(json_object_get(c, "check")),
						json_string_value(json_object_get(c, "detail")),
						json_string_value(json_object_get(c, "fix")));
	assert_true(json_is_true(json_object_get(v, "ok")) == (out[0] == '\0'));
	json_decref(v);
	return out;
}

static void
test_verify_live(void **state)
{
	const char *db = "host=/run/pg port=5432 dbname=roomcast_g1 user=rc";
	const char *db2 = "host=/run/pg port=5432 dbname=roomcast_g2 user=rc";
	json_t *r = json_object();

	(void)state;
	assert_int_equal(rc_cluster_load_seed(example_path, &cl, err, ERR), 0);
	json_object_set_new(r, "n1", report("n1", "n2", "Normal", db));
	json_object_set_new(r, "n2", report("n2", "n1", "Normal", db));
	json_object_set_new(r, "n3", report("n3", "n4", "Normal", db2));
	json_object_set_new(r, "n4", report("n4", "n3", "Normal", db2));
	assert_string_equal(live_failures(r), "");
	/* the stored flags say nothing: what n2 reports does */
	json_object_set_new(json_object_get(json_object_get(r, "n2"), "ha"), "enabled",
			    json_false());
	assert_non_null(strstr(live_failures(r), "high availability on group g1: node n2 reports "
					       "high availability off"));
	json_object_set_new(r, "n2", report("n2", "n1", "Running in Backup Mode", db));
	json_object_set_new(r, "n1", json_pack("{s:s}", "error", "unreachable at 127.0.0.1:8441"));
	assert_string_equal(live_failures(r),
			    "high availability on group g1: node n1 does not answer: unreachable "
			    "at 127.0.0.1:8441 | start roomcastd on node n1 (or check its "
			    "node.mgmt_address); database of group g1: node n1 does not answer: "
			    "unreachable at 127.0.0.1:8441 | start roomcastd on node n1; "
			    "TC service on node n1: node n1 does not answer: unreachable at "
			    "127.0.0.1:8441 | start roomcastd on node n1; HA state of node n2: "
			    "Running in Backup Mode (Normal) | its peer is failed over: bring it back, "
			    "then roomcastctl ha fallback g1");
	json_object_set_new(r, "n1", report("n1", "n2", "Normal", db2));
	json_object_set_new(r, "n2", report("n2", "n1", "Normal", db));
	assert_non_null(strstr(live_failures(r), "database of group g1: nodes n1 and n2 use "
					       "different databases"));
	json_object_set_new(r, "n1", report("n1", "n2", "Normal", db));
	/* a database switched under a running pair: the leases stay where it started */
	json_object_set_new(json_object_get(json_object_get(r, "n2"), "ha"), "lease_database",
			    json_string(db2));
	assert_non_null(strstr(live_failures(r), "database of group g1: node n2 drains to "
					       "host=/run/pg port=5432 dbname=roomcast_g1 user=rc but "
					       "its leases live in host=/run/pg port=5432 "
					       "dbname=roomcast_g2 user=rc (the database it started "
					       "with) | restart node n2"));
	json_object_set_new(json_object_get(json_object_get(r, "n2"), "ha"), "lease_database",
			    json_string(db));
	assert_string_equal(live_failures(r), "");
	json_object_set_new(json_object_get(r, "n3"), "tc", json_string("stopped"));
	json_object_set_new(json_object_get(json_object_get(r, "n4"), "ha"), "critical_services",
			    json_false());
	assert_string_equal(live_failures(r),
			    "TC service on node n3: stopped by the administrator | roomcastctl "
			    "service start tc --node n3; TC service on node n4: started, but down: "
			    "a critical service failed (workers or WAL writer: see its log) | restore "
			    "the failed service on node n4 (its log says which)");
	json_object_set_new(r, "n3", report("n3", "n4", "Failed Over with Critical Services Not "
					    "Running", db2));
	json_object_set_new(r, "n4", json_pack("{s:s, s:s, s:s, s:s, s:n}", "node", "n4", "tc",
					       "started", "rooms", "chat disabled", "database",
					       db2, "ha"));
	assert_string_equal(live_failures(r),
			    "persistent chat enabled: node n4 reports persistent chat disabled | "
			    "roomcastctl chat set enabled true; high availability on group g2: node "
			    "n4 runs without its pair (no ha { } section in its configuration) | give "
			    "node n4 an ha { } section (enabled, peer, addresses) and restart it; HA "
			    "state of node n3: Failed Over with Critical Services Not Running (Normal) "
			    "| restore its critical services (roomcastctl service start tc --node n3), "
			    "then roomcastctl ha fallback g2");
	json_decref(r);
}

static void
test_apply_seed(void **state)
{
	struct rc_cluster seed;

	(void)state;
	load_busy();
	assert_int_equal(rc_cluster_load_seed(example_path, &seed, err, ERR), 0);
	/* the merge job's databases are not in the new seed */
	assert_int_equal(rc_cluster_apply_seed(&cl, "n1", &seed, err, ERR), -EINVAL);
	assert_string_equal(err, "merge_jobs[0]: merge job 1: database pg1 is not defined");
	assert_int_equal(rc_cluster_merge_remove(&cl, "n1", 1, err, ERR), 0);
	assert_int_equal(rc_cluster_service_set(&cl, "n1", "n1", "tc", "stopped", err, ERR), 0);
	assert_int_equal(rc_cluster_apply_seed(&cl, "n1", &seed, err, ERR), 0);
	assert_int_equal(cl.n_dbs, 2);
	assert_int_equal(rc_cluster_find_node(&cl, "n1", NULL, NULL)->tc, RC_CL_SVC_STOPPED);
	assert_int_equal(rc_cluster_find_node(&cl, "n4", NULL, NULL)->tc, RC_CL_SVC_STARTED);
	assert_int_equal(cl.next_merge_id, 2);
}

static void
test_parse_mgmt(void **state)
{
	struct sockaddr_in sa;

	(void)state;
	assert_true(rc_cluster_parse_mgmt("127.0.0.1:8441", &sa));
	assert_int_equal(ntohs(sa.sin_port), 8441);
	assert_false(rc_cluster_parse_mgmt("127.0.0.1", &sa));
	assert_false(rc_cluster_parse_mgmt("127.0.0.1:", &sa));
	assert_false(rc_cluster_parse_mgmt("127.0.0.1:0", &sa));
	assert_false(rc_cluster_parse_mgmt("127.0.0.1:65536", &sa));
	assert_false(rc_cluster_parse_mgmt("127.0.0.1:+80", &sa));
	assert_false(rc_cluster_parse_mgmt("host:80", &sa));
	assert_false(rc_cluster_parse_mgmt("0.0.0.0:80", &sa));
}

/* ---- home nodes ---- */

/* How many of users u0..u(n-1) rc_cluster_home_node puts on each node of cluster c1 (by id
 * n1..n3 -> [1..3]; [0]: no home). */
static void
count_homes(unsigned n, unsigned counts[4])
{
	char user[32];

	memset(counts, 0, 4 * sizeof(counts[0]));
	for (unsigned i = 0; i < n; i++) {
		int len = snprintf(user, sizeof(user), "u%u", i);
		const struct rc_cl_node *h = rc_cluster_home_node(&cl, "c1", user, (size_t)len);

		counts[h == NULL ? 0 : h->id[1] - '0']++;
	}
}

static void
test_home_node(void **state)
{
	const struct rc_cl_node *a, *b;
	unsigned counts[4];

	(void)state;
	load_base();
	/* stable: the same answer every time, from the name alone (no NUL needed) */
	a = rc_cluster_home_node(&cl, "c1", "alice", 5);
	assert_non_null(a);
	b = rc_cluster_home_node(&cl, "c1", "alice-and-more", 5);
	assert_ptr_equal(a, b);
	/* two groups (g1 balanced: n1, n2; g2: n3): every node gets users */
	count_homes(3000, counts);
	assert_int_equal(counts[0], 0);
	assert_in_range(counts[3], 1300, 1700); /* half of them go to g2 */
	assert_in_range(counts[1], 600, 900);   /* balanced: g1's half over both nodes */
	assert_in_range(counts[2], 600, 900);
	/* active-standby: g1's users on its first node only */
	assert_int_equal(rc_cluster_group_set_assign(&cl, "n1", "g1", "active-standby", err, ERR),
			 0);
	count_homes(3000, counts);
	assert_int_equal(counts[2], 0);
	assert_in_range(counts[1], 1300, 1700);
	/* none: g1's users have no home (they stay where they log in); g2's still do */
	assert_int_equal(rc_cluster_group_set_assign(&cl, "n1", "g1", "none", err, ERR), 0);
	count_homes(3000, counts);
	assert_int_equal(counts[1] + counts[2], 0);
	assert_in_range(counts[0], 1300, 1700);
	/* the group is chosen before the mode: g2's users keep their node */
	assert_int_equal(counts[3], 3000 - counts[0]);
	/* unknown cluster, no cluster, empty name */
	assert_null(rc_cluster_home_node(&cl, "c9", "alice", 5));
	assert_null(rc_cluster_home_node(&cl, NULL, "alice", 5));
	assert_null(rc_cluster_home_node(&cl, "c1", "", 0));
}

/* A LOGIN is redirected to the user's home node unless it came to that node's VIP. */
static void
test_login_redirect(void **state)
{
	const struct rc_cl_node *home, *other;
	struct in_addr vip;
	char user[32];
	int len = 0;

	(void)state;
	load_base();
	/* a user of g1 (balanced: n1, n2) */
	for (unsigned i = 0;; i++) {
		len = snprintf(user, sizeof(user), "u%u", i);
		home = rc_cluster_home_node(&cl, "c1", user, (size_t)len);
		if (home != NULL && strcmp(home->id, "n2") == 0)
			break;
	}
	other = rc_cluster_find_node(&cl, "n1", NULL, NULL);
	/* at n1's VIP (on n1): redirected to n2; the same from n3 */
	assert_ptr_equal(rc_cluster_login_redirect(&cl, "n1", user, (size_t)len, other->vip), home);
	assert_ptr_equal(rc_cluster_login_redirect(&cl, "n3", user, (size_t)len, other->vip), home);
	/* at n2's VIP: served, on n2 or on n1 while it serves n2's VIP (failover) */
	assert_null(rc_cluster_login_redirect(&cl, "n2", user, (size_t)len, home->vip));
	assert_null(rc_cluster_login_redirect(&cl, "n1", user, (size_t)len, home->vip));
	/* no home (assignment none), a node not in the state, no state: never redirected */
	inet_pton(AF_INET, "198.18.0.9", &vip);
	assert_int_equal(rc_cluster_group_set_assign(&cl, "n1", "g1", "none", err, ERR), 0);
	assert_null(rc_cluster_login_redirect(&cl, "n1", user, (size_t)len, vip));
	assert_int_equal(rc_cluster_group_set_assign(&cl, "n1", "g1", "balanced", err, ERR), 0);
	assert_non_null(rc_cluster_login_redirect(&cl, "n1", user, (size_t)len, vip));
	assert_null(rc_cluster_login_redirect(&cl, "n9", user, (size_t)len, vip));
	assert_null(rc_cluster_login_redirect(NULL, "n1", user, (size_t)len, vip));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_complete),
		cmocka_unit_test(test_seed_example),
		cmocka_unit_test(test_seed_base_defaults),
		cmocka_unit_test(test_seed_errors),
		cmocka_unit_test(test_seed_rules),
		cmocka_unit_test(test_seed_io_errors),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_version_limits),
		cmocka_unit_test(test_version_bump),
		cmocka_unit_test(test_group_ha),
		cmocka_unit_test(test_chat_set),
		cmocka_unit_test(test_db_add),
		cmocka_unit_test(test_db_tls),
		cmocka_unit_test(test_db_multi_host),
		cmocka_unit_test(test_db_assign_remove),
		cmocka_unit_test(test_service),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_check_sources),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_newer),
		cmocka_unit_test(test_views),
		cmocka_unit_test(test_verify_live),
		cmocka_unit_test(test_apply_seed),
		cmocka_unit_test(test_parse_mgmt),
		cmocka_unit_test(test_home_node),
		cmocka_unit_test(test_login_redirect),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s configs/cluster-example.conf\n", argv[0]);
		return 2;
	}
	example_path = argv[1];
	return cmocka_run_group_tests(tests, setup, teardown);
}
