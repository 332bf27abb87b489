/* SPDX-License-Identifier: MIT */
/*
 * The kinds of field of the cluster state's tables (cluster_impl.h): for each, how its JSON
 * value is parsed into the struct (type and size only), emitted back, and checked (the
 * value's own rule, run by rc_cluster_validate). Names, host names, paths, management
 * addresses, the database type, integers with their range, booleans, IPv4 addresses, the
 * enums by name, the admin user list, the pair of merge sources, a group's "database"
 * shorthand, arrays of objects and nested objects.
 *
 * Threads: no shared state.
 */
#include "cluster_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a floating-point number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

int
cl_fail_type(const json_t *v, const char *want, const char *key, struct cl_err *e)
{
	return cl_fail(e, key, "expected %s, got %s", want, json_type_name(v));
}

/* ---- strings ---- */

static int
parse_string(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	     struct cl_err *e)
{
	size_t len;

	if (!json_is_string(v))
		return cl_fail_type(v, "a string", key, e);
	len = json_string_length(v);
	if (strlen(json_string_value(v)) != len)
		return cl_fail(e, key, "contains a NUL byte");
	if (len >= f->size)
		return cl_fail(e, key, "too long (%zu bytes, at most %zu)", len, f->size - 1);
	memcpy(dst, json_string_value(v), len + 1);
	return 0;
}

static json_t *
emit_string(const void *src, const struct cl_field *f)
{
	(void)f;
	return json_string(src);
}

static int
check_name(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	const char *s = src;

	if (s[0] == '\0' && f->min == 0)
		return 0;
	if (s[0] == '\0')
		return cl_fail(e, key, "must not be empty");
	if (!cl_name_ok(s) || strlen(s) >= f->size)
		return cl_fail(e, key, "\"%s\" is not a valid name (1..%zu bytes of letters, "
			       "digits, '-', '_', '.')", s, f->size - 1);
	return 0;
}

static int
check_host(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	(void)f;
	if (!cl_hosts_ok(src))
		return cl_fail(e, key, "\"%s\" is not a host name, IP address or socket directory"
			       " (or a comma-separated list of at most %d of them)",
			       (const char *)src, RC_CL_DB_MAX_HOSTS);
	return 0;
}

static int
check_ports(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	(void)f;
	if (((const char *)src)[0] != '\0' && rc_cluster_list_count(src, cl_port_ok) < 0)
		return cl_fail(e, key, "\"%s\" is not a list of ports (1..65535, comma-separated, "
			       "at most %d)", (const char *)src, RC_CL_DB_MAX_HOSTS);
	return 0;
}

static bool
omit_empty(const void *src)
{
	return ((const char *)src)[0] == '\0';
}

static int
check_ident(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	(void)f;
	if (!cl_ident_ok(src))
		return cl_fail(e, key, "\"%s\" is not valid (1..63 bytes of letters, digits, "
			       "'_', '.', '-', '@', '$')", (const char *)src);
	return 0;
}

static int
check_sslmode(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	(void)f;
	if (((const char *)src)[0] != '\0' && !rc_cluster_sslmode_ok(src))
		return cl_fail(e, key, "\"%s\": expected disable, allow, prefer, require, "
			       "verify-ca or verify-full", (const char *)src);
	return 0;
}

static int
check_path(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	const char *s = src;

	(void)f;
	if (s[0] == '\0')
		return 0;
	if (s[0] != '/')
		return cl_fail(e, key, "\"%s\" is not an absolute path", s);
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return cl_fail(e, key, "contains a control character");
	return 0;
}

static int
check_mgmt(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	struct sockaddr_in sa;

	(void)f;
	if (!rc_cluster_parse_mgmt(src, &sa))
		return cl_fail(e, key, "\"%s\" is not IPV4:PORT (e.g. 127.0.0.1:8441)",
			       (const char *)src);
	return 0;
}

static int
parse_dbtype(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	     struct cl_err *e)
{
	const char *norm;
	char msg[256];
	int rc = parse_string(v, dst, f, key, e);

	if (rc < 0)
		return rc;
	norm = cl_db_type_normalize(dst);
	if (norm == NULL) {
		cl_db_type_refusal(dst, msg, sizeof(msg));
		return cl_fail(e, key, "%s", msg);
	}
	snprintf(dst, f->size, "%s", norm);
	return 0;
}

static int
check_dbtype(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	char msg[256];

	(void)f;
	if (strcmp(src, "postgresql") == 0)
		return 0;
	cl_db_type_refusal(src, msg, sizeof(msg));
	return cl_fail(e, key, "%s", msg);
}

/* ---- numbers and booleans ---- */

static uint64_t
load_uint(const void *src, size_t size)
{
	if (size == sizeof(uint16_t))
		return *(const uint16_t *)src;
	if (size == sizeof(uint32_t))
		return *(const uint32_t *)src;
	return *(const uint64_t *)src;
}

static int
parse_uint(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	   struct cl_err *e)
{
	json_int_t n;

	if (!json_is_integer(v))
		return cl_fail_type(v, "an integer", key, e);
	n = json_integer_value(v);
	if (n < f->min || n > f->max)
		return cl_fail(e, key, "%lld is out of range %lld..%lld", (long long)n, f->min,
			       f->max);
	if (f->size == sizeof(uint16_t))
		*(uint16_t *)dst = (uint16_t)n;
	else if (f->size == sizeof(uint32_t))
		*(uint32_t *)dst = (uint32_t)n;
	else
		*(uint64_t *)dst = (uint64_t)n;
	return 0;
}

static json_t *
emit_uint(const void *src, const struct cl_field *f)
{
	return json_integer((json_int_t)load_uint(src, f->size));
}

static int
check_uint(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	uint64_t n = load_uint(src, f->size);

	if (n < (uint64_t)f->min || n > (uint64_t)f->max)
		return cl_fail(e, key, "%llu is out of range %lld..%lld", (unsigned long long)n,
			       f->min, f->max);
	return 0;
}

static int
parse_bool(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	   struct cl_err *e)
{
	(void)f;
	if (!json_is_boolean(v))
		return cl_fail_type(v, "a boolean (true/false)", key, e);
	*(bool *)dst = json_is_true(v);
	return 0;
}

static json_t *
emit_bool(const void *src, const struct cl_field *f)
{
	(void)f;
	return json_boolean(*(const bool *)src);
}

/* "format": not stored; must be RC_CL_FORMAT. */
static int
parse_format(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	     struct cl_err *e)
{
	(void)dst, (void)f;
	if (!json_is_integer(v))
		return cl_fail_type(v, "an integer", key, e);
	if (json_integer_value(v) != RC_CL_FORMAT)
		return cl_fail(e, key, "format %lld is not supported (this build reads %d)",
			       (long long)json_integer_value(v), RC_CL_FORMAT);
	return 0;
}

static json_t *
emit_format(const void *src, const struct cl_field *f)
{
	(void)src, (void)f;
	return json_integer(RC_CL_FORMAT);
}

/* ---- addresses ---- */

static int
parse_ipv4(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	   struct cl_err *e)
{
	struct in_addr a;

	(void)f;
	if (!json_is_string(v))
		return cl_fail_type(v, "a string", key, e);
	if (inet_pton(AF_INET, json_string_value(v), &a) != 1)
		return cl_fail(e, key, "\"%s\" is not an IPv4 address (dotted quad)",
			       json_string_value(v));
	memcpy(dst, &a, sizeof(a));
	return 0;
}

static json_t *
emit_ipv4(const void *src, const struct cl_field *f)
{
	char buf[INET_ADDRSTRLEN];

	(void)f;
	inet_ntop(AF_INET, src, buf, sizeof(buf));
	return json_string(buf);
}

static int
check_ipv4(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	struct in_addr a;
	char buf[INET_ADDRSTRLEN];

	(void)f;
	memcpy(&a, src, sizeof(a));
	if (cl_unicast_ok(a))
		return 0;
	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	return cl_fail(e, key, "%s is not a unicast address", buf);
}

/* ---- enums (stored as int-sized enums; named in JSON) ---- */

#define ENUM_KIND(kname, parsefn, namefn, what)                                             \
	static int kname##_parse(const json_t *v, void *dst, const struct cl_field *f,     \
				 const char *key, struct cl_err *e)             \
	{                                                                                  \
		int x;                                                                     \
		(void)f;                                                       \
		if (!json_is_string(v))                                                    \
			return cl_fail_type(v, "a string", key, e);                           \
		x = parsefn(json_string_value(v));                                         \
		if (x < 0)                                                                 \
			return cl_fail(e, key, "\"%s\": expected %s", json_string_value(v),\
				       what);                                              \
		*(int *)dst = x;                                                           \
		return 0;                                                                  \
	}                                                                                  \
	static json_t *kname##_emit(const void *src, const struct cl_field *f)             \
	{                                                                                  \
		const char *n = namefn(*(const int *)src);                                 \
		(void)f;                                                                   \
		return json_string(n ? n : "?");                                           \
	}                                                                                  \
	static int kname##_check(const void *src, const struct cl_field *f,                \
				 const char *key, struct cl_err *e)                        \
	{                                                                                  \
		(void)f;                                                                   \
		if (namefn(*(const int *)src) == NULL)                                     \
			return cl_fail(e, key, "%d: expected %s", *(const int *)src, what);\
		return 0;                                                                  \
	}                                                                                  \
	const struct cl_kind kname = { kname##_parse, kname##_emit, kname##_check }

ENUM_KIND(cl_kind_assign, rc_cl_assign_parse, rc_cl_assign_name,
	  "\"balanced\", \"active-standby\" or \"none\"");
ENUM_KIND(cl_kind_svc, rc_cl_svc_parse, rc_cl_svc_name, "\"started\" or \"stopped\"");
ENUM_KIND(cl_kind_mstate, rc_cl_merge_state_parse, rc_cl_merge_state_name,
	  "created, validated, validation-failed, running, done or failed");

/* ---- lists ---- */

/* admin_users: dst is the struct rc_cl_chat. */
static int
parse_users(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	    struct cl_err *e)
{
	struct rc_cl_chat *chat = dst;
	const json_t *u;
	size_t i;

	(void)f;
	if (!json_is_array(v))
		return cl_fail_type(v, "an array of user names", key, e);
	if (json_array_size(v) > RC_CL_MAX_ADMINS)
		return cl_fail(e, key, "%zu users, at most %d", json_array_size(v),
			       RC_CL_MAX_ADMINS);
	json_array_foreach(v, i, u) {
		if (!json_is_string(u) || json_string_length(u) >= RC_CL_USER_MAX ||
		    strlen(json_string_value(u)) != json_string_length(u))
			return cl_fail(e, key, "element %zu: expected a user name (a string of "
				       "1..%d bytes)", i, RC_CL_USER_MAX - 1);
		strcpy(chat->admins[i], json_string_value(u));
	}
	chat->n_admins = json_array_size(v);
	return 0;
}

static json_t *
emit_users(const void *src, const struct cl_field *f)
{
	const struct rc_cl_chat *chat = src;
	json_t *a = json_array();

	(void)f;
	for (unsigned i = 0; a != NULL && i < chat->n_admins; i++)
		if (json_array_append_new(a, json_string(chat->admins[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int
check_users(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	const struct rc_cl_chat *chat = src;

	(void)f;
	for (unsigned i = 0; i < chat->n_admins; i++) {
		if (!cl_user_ok(chat->admins[i]))
			return cl_fail(e, key, "\"%s\" is not a user name (1..64 bytes, no comma, "
				       "no control character, no leading or trailing space)",
				       chat->admins[i]);
		for (unsigned j = 0; j < i; j++)
			if (strcmp(chat->admins[i], chat->admins[j]) == 0)
				return cl_fail(e, key, "user \"%s\" is listed twice",
					       chat->admins[i]);
	}
	return 0;
}

/* sources: two database names. */
static int
parse_pair(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	   struct cl_err *e)
{
	char (*pair)[RC_CL_NAME_MAX] = dst;

	(void)f;
	if (!json_is_array(v) || json_array_size(v) != 2)
		return cl_fail(e, key, "expected an array of two database names");
	for (size_t i = 0; i < 2; i++) {
		const json_t *s = json_array_get(v, i);

		if (!json_is_string(s) || json_string_length(s) >= RC_CL_NAME_MAX)
			return cl_fail(e, key, "element %zu: expected a database name", i);
		snprintf(pair[i], RC_CL_NAME_MAX, "%s", json_string_value(s));
	}
	return 0;
}

static json_t *
emit_pair(const void *src, const struct cl_field *f)
{
	const char (*pair)[RC_CL_NAME_MAX] = src;

	(void)f;
	return json_pack("[ss]", pair[0], pair[1]);
}

static int
check_pair(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	const char (*pair)[RC_CL_NAME_MAX] = src;

	(void)f;
	for (int i = 0; i < 2; i++)
		if (!cl_name_ok(pair[i]))
			return cl_fail(e, key, "\"%s\" is not a valid database name", pair[i]);
	return 0;
}

/* A group's "database": assigns both nodes (parsed after "nodes"); dst is the group. */
static int
parse_group_db(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	       struct cl_err *e)
{
	struct rc_cl_group *g = dst;
	char db[RC_CL_NAME_MAX];
	struct cl_field sf = { .size = sizeof(db) };
	int rc = parse_string(v, db, &sf, key, e);

	(void)f;
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < g->n_nodes; i++) {
		if (g->nodes[i].db[0] != '\0' && strcmp(g->nodes[i].db, db) != 0)
			return cl_fail(e, key, "\"%s\" conflicts with node %s's database \"%s\"",
				       db, g->nodes[i].id, g->nodes[i].db);
		strcpy(g->nodes[i].db, db);
	}
	return 0;
}

/* ---- objects ---- */

static int
parse_objects(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	      struct cl_err *e)
{
	const struct cl_object *o = f->sub;
	unsigned *count = (unsigned *)((char *)dst - f->off + o->count_off);
	size_t n = json_array_size(v);
	char k[160];

	if (!json_is_array(v))
		return cl_fail_type(v, "an array", key, e);
	if (n > o->max)
		return cl_fail(e, key, "%zu %ss, at most %u%s", n, o->what, o->max,
			       o->per ? o->per : "");
	if (n < o->min)
		return cl_fail(e, key, "at least %u %s%s is needed", o->min, o->what,
			       o->min > 1 ? "s" : "");
	for (size_t i = 0; i < n; i++) {
		void *elem = (char *)dst + i * o->elem_size;
		int rc;

		snprintf(k, sizeof(k), "%s[%zu]", key, i);
		if (o->init != NULL)
			o->init(elem);
		rc = cl_parse_object(json_array_get(v, i), o, elem, k, e);
		if (rc < 0)
			return rc;
	}
	*count = n;
	return 0;
}

static json_t *
emit_objects(const void *src, const struct cl_field *f)
{
	const struct cl_object *o = f->sub;
	unsigned n = *(const unsigned *)((const char *)src - f->off + o->count_off);
	json_t *a = json_array();

	for (unsigned i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, cl_emit_object((const char *)src + i * o->elem_size,
							     o)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int
check_objects(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	const struct cl_object *o = f->sub;
	unsigned n = *(const unsigned *)((const char *)src - f->off + o->count_off);
	char k[160];

	if (n > o->max)
		return cl_fail(e, key, "%u %ss, at most %u%s", n, o->what, o->max,
			       o->per ? o->per : "");
	if (n < o->min)
		return cl_fail(e, key, "at least %u %s%s is needed", o->min, o->what,
			       o->min > 1 ? "s" : "");
	for (unsigned i = 0; i < n; i++) {
		int rc;

		snprintf(k, sizeof(k), "%s[%u]", key, i);
		rc = cl_check_object((const char *)src + i * o->elem_size, o, k, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
parse_sub(const json_t *v, void *dst, const struct cl_field *f, const char *key,
	  struct cl_err *e)
{
	return cl_parse_object(v, f->sub, dst, key, e);
}

static json_t *
emit_sub(const void *src, const struct cl_field *f)
{
	return cl_emit_object(src, f->sub);
}

static int
check_sub(const void *src, const struct cl_field *f, const char *key, struct cl_err *e)
{
	return cl_check_object(src, f->sub, key, e);
}

const struct cl_kind cl_kind_name = { parse_string, emit_string, check_name };
const struct cl_kind cl_kind_text = { parse_string, emit_string, NULL };
const struct cl_kind cl_kind_host = { parse_string, emit_string, check_host };
const struct cl_kind cl_kind_ports = { parse_string, emit_string, check_ports, omit_empty };
const struct cl_kind cl_kind_sslmode = { parse_string, emit_string, check_sslmode, omit_empty };
const struct cl_kind cl_kind_cafile = { parse_string, emit_string, check_path, omit_empty };
const struct cl_kind cl_kind_ident = { parse_string, emit_string, check_ident };
const struct cl_kind cl_kind_path = { parse_string, emit_string, check_path };
const struct cl_kind cl_kind_mgmt = { parse_string, emit_string, check_mgmt };
const struct cl_kind cl_kind_dbtype = { parse_dbtype, emit_string, check_dbtype };
const struct cl_kind cl_kind_uint = { parse_uint, emit_uint, check_uint };
const struct cl_kind cl_kind_bool = { parse_bool, emit_bool, NULL };
const struct cl_kind cl_kind_format = { parse_format, emit_format, NULL };
const struct cl_kind cl_kind_ipv4 = { parse_ipv4, emit_ipv4, check_ipv4 };
const struct cl_kind cl_kind_users = { parse_users, emit_users, check_users };
const struct cl_kind cl_kind_pair = { parse_pair, emit_pair, check_pair };
const struct cl_kind cl_kind_group_db = { parse_group_db, NULL, NULL };
const struct cl_kind cl_kind_objects = { parse_objects, emit_objects, check_objects };
const struct cl_kind cl_kind_sub = { parse_sub, emit_sub, check_sub };
