/* SPDX-License-Identifier: MIT */
/*
 * Private to control/cluster*.c: the field tables that drive the JSON form (parse, emit) and
 * the per-field rules of rc_cluster_validate, and the error record they fill.
 *
 * Every object of the state (the root, a cluster, a group, a node, the chat settings, a
 * database, a merge job, a table's counts) is a table of rows {name, kind, offset, size,
 * min, max, required}. A kind knows how to parse its JSON value into the struct, emit it, and
 * check the stored value. Arrays of objects are rows of kind cl_kind_objects whose `sub`
 * describes the element. Rules that involve several fields live in cluster.c (cl_validate).
 *
 * Threads: no shared state.
 */
#ifndef RC_CLUSTER_IMPL_H
#define RC_CLUSTER_IMPL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "cluster.h"

/* An error: where (the JSON path) and what. */
struct cl_err {
	char key[160];
	char msg[384];
};

/* Set e (when not NULL) and return -EINVAL. */
int cl_fail(struct cl_err *e, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "KEY: msg" (or just msg when key is empty) into err. Returns rc. */
int cl_err_out(const struct cl_err *e, int rc, char *err, size_t errlen);

/* Copy the refusal text into err; returns rc. */
int cl_refuse(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

struct cl_field;

struct cl_kind {
	/* JSON value -> dst (type and size checks only). 0 or -EINVAL. */
	int (*parse)(const json_t *v, void *dst, const struct cl_field *f, const char *key,
		     struct cl_err *e);
	/* dst -> a new JSON value; NULL: omit the key (or ENOMEM: see cl_emit_object). */
	json_t *(*emit)(const void *src, const struct cl_field *f);
	/* The stored value's own rule. 0 or -EINVAL. NULL: nothing to check. */
	int (*check)(const void *src, const struct cl_field *f, const char *key, struct cl_err *e);
	/* true: the key is left out of the emitted object (an optional value at its default,
	 * so that states without it read as before). NULL: always emitted. */
	bool (*omit)(const void *src);
};

/* An object: its rows, how to initialize an element, and (for an array of them) where the
 * count lives in the parent and its bounds. */
struct cl_object {
	const struct cl_field *fields;
	size_t n_fields;
	size_t elem_size;
	void (*init)(void *elem);
	size_t count_off; /* arrays only: offset of the unsigned count in the parent */
	unsigned min, max;
	const char *what; /* "group", for messages: "4 groups, at most 3 per cluster" */
	const char *per;  /* " per cluster", or NULL */
};

struct cl_field {
	const char *name;
	const struct cl_kind *kind;
	size_t off, size;
	long long min, max;
	bool required;
	const struct cl_object *sub; /* objects and object kinds */
};

extern const struct cl_object cl_root_json; /* the saved / replicated state */
extern const struct cl_object cl_root_seed; /* the seed file: clusters, chat, databases */
extern const struct cl_object cl_chat_obj;  /* the chat settings (rc_cluster_chat_set) */
extern const struct cl_object cl_merge_obj; /* one merge job (its view) */

/* The kinds (cluster_kinds.c). */
extern const struct cl_kind cl_kind_ports; /* "" or comma-separated ports; omitted when "" */
/* libpq's sslmode, and an absolute path (the CA file); both omitted when "" */
extern const struct cl_kind cl_kind_sslmode, cl_kind_cafile;
extern const struct cl_kind cl_kind_name, cl_kind_text, cl_kind_host, cl_kind_ident,
	cl_kind_path, cl_kind_mgmt, cl_kind_dbtype, cl_kind_uint, cl_kind_bool, cl_kind_format,
	cl_kind_ipv4, cl_kind_users, cl_kind_pair, cl_kind_group_db, cl_kind_objects,
	cl_kind_sub, cl_kind_assign, cl_kind_svc, cl_kind_mstate;

/* "KEY: expected WANT, got TYPE". -EINVAL. */
int cl_fail_type(const json_t *v, const char *want, const char *key, struct cl_err *e);

/* The row called name in o, or NULL. */
const struct cl_field *cl_find_field(const struct cl_object *o, const char *name);

/* Walk obj against o's rows into base (already initialized). 0 or -EINVAL. */
int cl_parse_object(const json_t *obj, const struct cl_object *o, void *base, const char *key,
		    struct cl_err *e);
/* Every row of o over base (recursively). NULL on ENOMEM. */
json_t *cl_emit_object(const void *base, const struct cl_object *o);
/* Every row's own rule over base (recursively). */
int cl_check_object(const void *base, const struct cl_object *o, const char *key,
		    struct cl_err *e);

/* The rules of the whole state (cluster.c): the per-field rules, then the cross rules. */
int cl_validate(const struct rc_cluster *c, struct cl_err *e);

/* Defaults of the chat settings and of the elements. */
void cl_chat_defaults(struct rc_cl_chat *chat);

/* Predicates shared by the kinds and the mutations. */
bool cl_name_ok(const char *s);      /* 1..63 bytes of [A-Za-z0-9._-] */
bool cl_user_ok(const char *s);      /* 1..64 bytes, no control char, comma or edge space */
bool cl_host_ok(const char *s);      /* 1..255 bytes of [A-Za-z0-9._:/-] */
bool cl_hosts_ok(const char *s);     /* 1..RC_CL_DB_MAX_HOSTS of them, comma-separated */
bool cl_port_ok(const char *s);      /* 1..65535, decimal */
bool cl_ident_ok(const char *s);     /* 1..63 bytes of [A-Za-z0-9._@$-] */
bool cl_unicast_ok(struct in_addr a);
/* "postgresql" for accepted spellings, NULL otherwise. */
const char *cl_db_type_normalize(const char *type);
/* The refusal for a type other than PostgreSQL. */
int cl_db_type_refusal(const char *type, char *buf, size_t len);

/* The edit cycle of every mutation (cluster_edit.c): begin copies c (NULL + errno, with the
 * refusal in err, when origin is not a node id or memory is short); commit validates n and,
 * when it differs from c, makes it the state with version + 1; abort drops n. Both free n
 * and return rc / the validation result. */
struct rc_cluster *cl_edit_begin(const struct rc_cluster *c, const char *origin, char *err,
				 size_t errlen);
int cl_edit_commit(struct rc_cluster *c, struct rc_cluster *n, const char *origin, char *err,
		   size_t errlen);
int cl_edit_abort(struct rc_cluster *n, int rc);

/* Look-ups that write "does not exist (known: ...)" into err when they return NULL. */
struct rc_cl_group *cl_need_group(struct rc_cluster *n, const char *name, char *err,
				  size_t errlen);
const struct rc_cl_db *cl_need_db(const struct rc_cluster *n, const char *name, char *err,
				  size_t errlen);
/* The group whose nodes use database db (NULL: none); *node (may be NULL) its first node. */
const struct rc_cl_group *cl_group_serving(const struct rc_cluster *c, const char *db,
					   const struct rc_cl_node **node);
/* -EBUSY with the refusal when db serves a group other than g; else 0 (merge targets). */
int cl_refuse_other_group(const struct rc_cluster *c, const char *db,
			  const struct rc_cl_group *g, char *err, size_t errlen);

/* -EBUSY ("merge job N of group G is running: WHAT waits until it ends") or 0. */
int cl_refuse_running_merge(const struct rc_cluster *c, const char *group, const char *what,
			    char *err, size_t errlen);

#endif /* RC_CLUSTER_IMPL_H */
