/* SPDX-License-Identifier: MIT */
/*
 * Database merge jobs as the node keeps and shows them: the names of states, tables and
 * databases, conninfo redaction (no password is ever stored), a job's JSON and text forms,
 * and the node's job store, a JSON file rewritten whole on every change:
 *
 *   {"version": 1, "next_id": N, "jobs": [job, ...]}, job as rc_merge_job_to_json()
 *
 * Library code: nothing here logs. Threads: the caller's; a store is not thread-safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "merge.h"
#include "merge_impl.h"
#include "text.h"

static const char *const state_str[RC_MERGE_STATE_MAX] = {
	[RC_MERGE_ADDED] = "added",	    [RC_MERGE_INVALID] = "invalid",
	[RC_MERGE_VALIDATED] = "validated", [RC_MERGE_FAILED] = "failed",
	[RC_MERGE_DONE] = "done",
};

static const char *const table_str[RC_MERGE_T_MAX] = {
	[RC_MERGE_T_ROOMS] = "rooms",		[RC_MERGE_T_MEMBERS] = "room_members",
	[RC_MERGE_T_MESSAGES] = "messages",	[RC_MERGE_T_ALARMS] = "drain_alarms",
	[RC_MERGE_T_DRAIN_STATE] = "drain_state",
};

static const char *const db_str[RC_MERGE_DB_MAX] = {
	[RC_MERGE_SOURCE_A] = "source A",
	[RC_MERGE_SOURCE_B] = "source B",
	[RC_MERGE_TARGET] = "target",
};

/* JSON keys of the databases */
static const char *const db_key[RC_MERGE_DB_MAX] = { "source_a", "source_b", "target" };

const char *
rc_merge_state_str(enum rc_merge_state s)
{
	return (unsigned)s < RC_MERGE_STATE_MAX && state_str[s] != NULL ? state_str[s] : "?";
}

const char *
rc_merge_table_str(enum rc_merge_table t)
{
	return (unsigned)t < RC_MERGE_T_MAX && table_str[t] != NULL ? table_str[t] : "?";
}

const char *
rc_merge_db_str(enum rc_merge_db d)
{
	return (unsigned)d < RC_MERGE_DB_MAX && db_str[d] != NULL ? db_str[d] : "?";
}

/*
 * Conninfo redaction.
 */

static bool
needs_quotes(const char *v)
{
	return v[0] == '\0' || strpbrk(v, " \t\n'\\") != NULL;
}

/* Appends key=value (quoted when needed) at out + len; returns the new length. */
static size_t
redact_kv(char *out, size_t cap, size_t len, const char *key, const char *val)
{
	len += (size_t)snprintf(len < cap ? out + len : NULL, len < cap ? cap - len : 0, "%s%s=",
				len > 0 ? " " : "", key);
	if (!needs_quotes(val))
		return len + (size_t)snprintf(len < cap ? out + len : NULL,
					      len < cap ? cap - len : 0, "%s", val);
	if (len < cap)
		out[len] = '\'';
	len++;
	for (const char *v = val; *v != '\0'; v++) {
		if (*v == '\'' || *v == '\\') {
			if (len < cap)
				out[len] = '\\';
			len++;
		}
		if (len < cap)
			out[len] = *v;
		len++;
	}
	if (len < cap)
		out[len] = '\'';
	return len + 1;
}

size_t
rc_merge_redact(const char *conninfo, char *out, size_t cap)
{
	static const char *const first[] = { "host", "hostaddr", "port", "dbname", "user" };
	PQconninfoOption *opts;
	char *perr = NULL;
	size_t len = 0;

	if (cap > 0)
		out[0] = '\0';
	if (conninfo == NULL)
		return 0;
	opts = PQconninfoParse(conninfo, &perr);
	PQfreemem(perr);
	if (opts == NULL) {
		if (strcasestr(conninfo, "password") != NULL || strstr(conninfo, "://") != NULL)
			return (size_t)snprintf(out, cap, "(unparsable connection string)");
		return (size_t)snprintf(out, cap, "%s", conninfo);
	}
	/* where and who first, in this order, then the rest in libpq's order */
	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
		for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
			if (o->val != NULL && strcmp(o->keyword, first[i]) == 0)
				len = redact_kv(out, cap, len, o->keyword, o->val);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		bool is_first = false;

		for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
			is_first |= strcmp(o->keyword, first[i]) == 0;
		if (o->val != NULL && !is_first && strcasestr(o->keyword, "password") == NULL)
			len = redact_kv(out, cap, len, o->keyword, o->val);
	}
	if (cap > 0)
		out[len < cap ? len : cap - 1] = '\0';
	PQconninfoFree(opts);
	return len;
}

/*
 * Rendering.
 */

static const char *const conflict_key[] = {
	"rooms_copied",	   "rooms_renumbered",	  "rooms_in_both", "room_attrs_differ",
	"duplicates_folded", "members_in_both", "member_roles_differ", "seq_map_rows",
};

static uint64_t *
conflict_field(struct rc_merge_stats *st, unsigned i)
{
	uint64_t *const f[] = {
		&st->rooms_copied,	&st->rooms_renumbered, &st->rooms_in_both,
		&st->room_attrs_differ, &st->duplicates_folded, &st->members_in_both,
		&st->member_roles_differ, &st->seq_map_rows,
	};

	return f[i];
}

#define N_CONFLICT_KEYS (sizeof(conflict_key) / sizeof(conflict_key[0]))

json_t *
merge_stats_to_json(const struct rc_merge_stats *cst)
{
	struct rc_merge_stats st = *cst;
	json_t *tables = json_object(), *conf = json_object();

	for (unsigned t = 0; t < RC_MERGE_T_MAX; t++) {
		json_t *row = json_object();

		for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
			json_object_set_new(row, db_key[d], json_integer((json_int_t)st.rows[t][d]));
		json_object_set_new(tables, table_str[t], row);
	}
	for (unsigned i = 0; i < N_CONFLICT_KEYS; i++)
		json_object_set_new(conf, conflict_key[i],
				    json_integer((json_int_t)*conflict_field(&st, i)));
	return json_pack("{s:o,s:o}", "tables", tables, "conflicts", conf);
}

static uint64_t
json_u64(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

void
merge_stats_from_json(struct rc_merge_stats *st, json_t *o)
{
	json_t *tables = json_object_get(o, "tables"), *conf = json_object_get(o, "conflicts");

	memset(st, 0, sizeof(*st));
	for (unsigned t = 0; t < RC_MERGE_T_MAX; t++)
		for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
			st->rows[t][d] = json_u64(json_object_get(tables, table_str[t]), db_key[d]);
	for (unsigned i = 0; i < N_CONFLICT_KEYS; i++)
		*conflict_field(st, i) = json_u64(conf, conflict_key[i]);
}

json_t *
rc_merge_job_to_json(const struct rc_merge_job *job)
{
	json_t *o = merge_stats_to_json(&job->stats);

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "id", json_integer(job->id));
	json_object_set_new(o, "uid", json_string(job->uid));
	json_object_set_new(o, "state", json_string(rc_merge_state_str(job->state)));
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		json_object_set_new(o, db_key[d], json_string(job->db[d]));
	json_object_set_new(o, "created_s", json_integer(job->created_s));
	json_object_set_new(o, "validated_s", json_integer(job->validated_s));
	json_object_set_new(o, "finished_s", json_integer(job->finished_s));
	json_object_set_new(o, "error", json_string(job->error));
	return o;
}

static int
job_from_json(struct rc_merge_job *job, json_t *o)
{
	const char *state = json_string_value(json_object_get(o, "state"));
	json_int_t id = json_integer_value(json_object_get(o, "id"));

	memset(job, 0, sizeof(*job));
	if (id <= 0 || state == NULL)
		return -EINVAL;
	job->id = (unsigned)id;
	job->state = RC_MERGE_STATE_MAX;
	for (unsigned s = 0; s < RC_MERGE_STATE_MAX; s++)
		if (strcmp(state, state_str[s]) == 0)
			job->state = (enum rc_merge_state)s;
	if (job->state == RC_MERGE_STATE_MAX)
		return -EINVAL;
	snprintf(job->uid, sizeof(job->uid), "%s",
		 json_string_value(json_object_get(o, "uid")) ?: "");
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		snprintf(job->db[d], sizeof(job->db[d]), "%s",
			 json_string_value(json_object_get(o, db_key[d])) ?: "");
	job->created_s = json_integer_value(json_object_get(o, "created_s"));
	job->validated_s = json_integer_value(json_object_get(o, "validated_s"));
	job->finished_s = json_integer_value(json_object_get(o, "finished_s"));
	snprintf(job->error, sizeof(job->error), "%s",
		 json_string_value(json_object_get(o, "error")) ?: "");
	merge_stats_from_json(&job->stats, o);
	return job->uid[0] != '\0' ? 0 : -EINVAL;
}

static const char *
when(int64_t s, char *buf, size_t len)
{
	time_t t = (time_t)s;
	struct tm tm;

	if (s <= 0 || localtime_r(&t, &tm) == NULL)
		return "-";
	strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm);
	return buf;
}

size_t
rc_merge_job_to_text(const struct rc_merge_job *job, char *buf, size_t cap)
{
	const struct rc_merge_stats *st = &job->stats;
	struct rc_text b = rc_text_fixed(buf, cap);
	char t0[40], t1[40], t2[40];

	rc_text_printf(&b, "merge job %u (%s): %s\n", job->id, job->uid,
		       rc_merge_state_str(job->state));
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		rc_text_printf(&b, "  %-9s %s\n", db_str[d], job->db[d]);
	rc_text_printf(&b, "  added %s, validated %s, finished %s\n",
		       when(job->created_s, t0, sizeof(t0)), when(job->validated_s, t1, sizeof(t1)),
		       when(job->finished_s, t2, sizeof(t2)));
	rc_text_printf(&b, "  %-14s %10s %10s %10s\n", "TABLE", "SOURCE A", "SOURCE B", "TARGET");
	for (unsigned t = 0; t < RC_MERGE_T_MAX; t++)
		rc_text_printf(&b, "  %-14s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n",
			       table_str[t], st->rows[t][0], st->rows[t][1], st->rows[t][2]);
	rc_text_printf(&b,
		       "  conflicts: %" PRIu64 " room(s) in both (%" PRIu64 " with different "
		       "attributes: the earlier created kept); %" PRIu64 " room(s) renumbered, "
		       "%" PRIu64 " copied as they were; %" PRIu64 " duplicate message(s) folded; "
		       "%" PRIu64 " member(s) in both (%" PRIu64 " with a different role or "
		       "affiliation: the higher kept); %" PRIu64 " row(s) in merge_seq_map\n",
		       st->rooms_in_both, st->room_attrs_differ, st->rooms_renumbered,
		       st->rooms_copied, st->duplicates_folded, st->members_in_both,
		       st->member_roles_differ, st->seq_map_rows);
	if (job->error[0] != '\0')
		rc_text_printf(&b, "  error: %s\n", job->error);
	return b.len;
}

/*
 * The job store.
 */

struct rc_merge_store {
	char path[512];
	unsigned next_id;
	unsigned n, cap;
	struct rc_merge_job *jobs;
};

static int
store_grow(struct rc_merge_store *s)
{
	unsigned cap = s->cap != 0 ? s->cap * 2 : 8;
	struct rc_merge_job *j;

	if (s->n < s->cap)
		return 0;
	j = realloc(s->jobs, cap * sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	s->jobs = j;
	s->cap = cap;
	return 0;
}

static int
store_load(struct rc_merge_store *s, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(s->path, 0, &je), *jobs;
	size_t i;
	json_t *v;

	if (root == NULL) {
		snprintf(err, errlen, "%s: %s (line %d)", s->path, je.text, je.line);
		return -EINVAL;
	}
	jobs = json_object_get(root, "jobs");
	if (!json_is_array(jobs) || json_integer_value(json_object_get(root, "version")) != 1) {
		snprintf(err, errlen, "%s: not a merge job store (version 1)", s->path);
		json_decref(root);
		return -EINVAL;
	}
	s->next_id = (unsigned)json_integer_value(json_object_get(root, "next_id"));
	json_array_foreach(jobs, i, v) {
		if (store_grow(s) != 0) {
			json_decref(root);
			return -ENOMEM;
		}
		if (job_from_json(&s->jobs[s->n], v) != 0) {
			snprintf(err, errlen, "%s: job #%zu is malformed", s->path, i + 1);
			json_decref(root);
			return -EINVAL;
		}
		if (s->jobs[s->n].id >= s->next_id)
			s->next_id = s->jobs[s->n].id + 1;
		s->n++;
	}
	json_decref(root);
	if (s->next_id == 0)
		s->next_id = 1;
	return 0;
}

struct rc_merge_store *
rc_merge_store_open(const char *path, char *err, size_t errlen)
{
	struct rc_merge_store *s;
	char scratch[256];
	int rc;

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (path == NULL || strlen(path) + 8 >= sizeof(s->path)) {
		snprintf(err, errlen, "no or too long a path for the merge job store");
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->next_id = 1;
	if (access(path, F_OK) != 0)
		return s;
	rc = store_load(s, err, errlen);
	if (rc != 0) {
		rc_merge_store_close(s);
		errno = -rc;
		return NULL;
	}
	return s;
}

void
rc_merge_store_close(struct rc_merge_store *s)
{
	if (s == NULL)
		return;
	free(s->jobs);
	free(s);
}

/* Writes the whole store: temporary file, fsync, rename. */
static int
store_save(struct rc_merge_store *s)
{
	json_t *root = json_pack("{s:i,s:i,s:[]}", "version", 1, "next_id", (int)s->next_id,
				 "jobs"), *jobs;
	char tmp[600];
	FILE *f;
	int fd, rc = 0;

	if (root == NULL)
		return -ENOMEM;
	jobs = json_object_get(root, "jobs");
	for (unsigned i = 0; i < s->n; i++)
		json_array_append_new(jobs, rc_merge_job_to_json(&s->jobs[i]));
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		json_decref(root);
		return rc;
	}
	if (json_dumpf(root, f, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0)
		rc = errno != 0 ? -errno : -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	json_decref(root);
	if (rc == 0 && rename(tmp, s->path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

static void
new_uid(char *out, size_t len, unsigned id)
{
	uint64_t r;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	snprintf(out, len, "job%u-%016" PRIx64, id, r);
}

int
rc_merge_store_add(struct rc_merge_store *s, const char *a, const char *b, const char *t,
		   struct rc_merge_job *job)
{
	const char *dbs[RC_MERGE_DB_MAX] = { a, b, t };
	struct rc_merge_job j = { 0 };
	int rc;

	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		if (dbs[d] == NULL || dbs[d][0] == '\0' ||
		    rc_merge_redact(dbs[d], j.db[d], sizeof(j.db[d])) >= sizeof(j.db[d]))
			return -EINVAL;
	rc = store_grow(s);
	if (rc != 0)
		return rc;
	j.id = s->next_id;
	new_uid(j.uid, sizeof(j.uid), j.id);
	j.state = RC_MERGE_ADDED;
	j.created_s = (int64_t)time(NULL);
	s->jobs[s->n++] = j;
	s->next_id++;
	rc = store_save(s);
	if (rc != 0) {
		s->n--;
		s->next_id--;
		return rc;
	}
	*job = j;
	return 0;
}

int
rc_merge_store_get(const struct rc_merge_store *s, unsigned id, struct rc_merge_job *job)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->jobs[i].id == id) {
			*job = s->jobs[i];
			return 0;
		}
	return -ENOENT;
}

int
rc_merge_store_put(struct rc_merge_store *s, const struct rc_merge_job *job)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->jobs[i].id == job->id) {
			struct rc_merge_job old = s->jobs[i];
			int rc;

			s->jobs[i] = *job;
			rc = store_save(s);
			if (rc != 0)
				s->jobs[i] = old;
			return rc;
		}
	return -ENOENT;
}

unsigned
rc_merge_store_count(const struct rc_merge_store *s)
{
	return s->n;
}

const struct rc_merge_job *
rc_merge_store_at(const struct rc_merge_store *s, unsigned i)
{
	return i < s->n ? &s->jobs[i] : NULL;
}

json_t *
rc_merge_store_to_json(const struct rc_merge_store *s)
{
	json_t *jobs = json_array();

	for (unsigned i = 0; i < s->n; i++)
		json_array_append_new(jobs, rc_merge_job_to_json(&s->jobs[i]));
	return json_pack("{s:o}", "jobs", jobs);
}

size_t
rc_merge_store_to_text(const struct rc_merge_store *s, char *buf, size_t cap)
{
	struct rc_text b = rc_text_fixed(buf, cap);

	if (s->n == 0) {
		rc_text_printf(&b,
			       "no merge jobs (db merge add --source A --source B --target T)\n");
		return b.len;
	}
	rc_text_printf(&b, "%-4s %-10s %s\n", "ID", "STATE", "SOURCE A | SOURCE B -> TARGET");
	for (unsigned i = 0; i < s->n; i++)
		rc_text_printf(&b, "%-4u %-10s %s | %s -> %s\n", s->jobs[i].id,
			       rc_merge_state_str(s->jobs[i].state), s->jobs[i].db[0],
			       s->jobs[i].db[1], s->jobs[i].db[2]);
	return b.len;
}
