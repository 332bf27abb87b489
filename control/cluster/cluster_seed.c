/* SPDX-License-Identifier: MIT */
/*
 * The seed file (configs/cluster-example.conf, libconfig syntax) -> struct rc_cluster.
 *
 * The file is turned into the JSON form first (groups become objects, lists and arrays
 * become arrays), noting the line of every setting under its JSON path; then the same
 * tables and rules as the saved state apply (cluster_json.c, cluster.c), with the seed's
 * smaller root: clusters, chat, databases. An error's JSON path is mapped back to the line
 * of that setting, or of the nearest enclosing one when the setting is missing, giving
 * "FILE:LINE: KEY: problem".
 *
 * Threads: no shared state.
 */
#include "cluster_impl.h"
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line_entry {
	char key[160];
	unsigned line;
	const char *file;
};

struct seed_ctx {
	const char *path;
	struct line_entry *lines;
	size_t n, cap;
	struct cl_err e;
};

static int
note_line(struct seed_ctx *sc, const char *key, const config_setting_t *s)
{
	struct line_entry *le;

	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		struct line_entry *v = realloc(sc->lines, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		sc->lines = v;
		sc->cap = cap;
	}
	le = &sc->lines[sc->n++];
	snprintf(le->key, sizeof(le->key), "%s", key);
	le->line = config_setting_source_line(s);
	le->file = config_setting_source_file(s);
	return 0;
}

static json_t *convert(struct seed_ctx *sc, const config_setting_t *s, const char *key);

static json_t *
convert_children(struct seed_ctx *sc, const config_setting_t *s, const char *key, bool named)
{
	json_t *out = named ? json_object() : json_array();
	char k[160];

	for (int i = 0; out != NULL && i < config_setting_length(s); i++) {
		const config_setting_t *c = config_setting_get_elem(s, i);
		json_t *v;
		int rc;

		if (named)
			snprintf(k, sizeof(k), "%s%s%s", key, key[0] ? "." : "",
				 config_setting_name(c));
		else
			snprintf(k, sizeof(k), "%s[%d]", key, i);
		v = convert(sc, c, k);
		if (v == NULL) {
			json_decref(out);
			return NULL;
		}
		rc = named ? json_object_set_new(out, config_setting_name(c), v)
			   : json_array_append_new(out, v);
		if (rc < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* One setting and its children; NULL with sc->e set (or ENOMEM: e.msg empty). */
static json_t *
convert(struct seed_ctx *sc, const config_setting_t *s, const char *key)
{
	json_t *v = NULL;

	if (note_line(sc, key, s) < 0)
		return NULL;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return convert_children(sc, s, key, true);
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY:
		return convert_children(sc, s, key, false);
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return json_integer(config_setting_get_int64(s));
	case CONFIG_TYPE_FLOAT:
		return json_real(config_setting_get_float(s));
	case CONFIG_TYPE_BOOL:
		return json_boolean(config_setting_get_bool(s));
	case CONFIG_TYPE_STRING:
		v = json_string(config_setting_get_string(s));
		if (v == NULL)
			cl_fail(&sc->e, key, "not valid UTF-8");
		return v;
	default:
		cl_fail(&sc->e, key, "unexpected setting type");
		return NULL;
	}
}

/* The entry for key, or for the nearest enclosing setting. */
static const struct line_entry *
line_of(const struct seed_ctx *sc, const char *key)
{
	char k[160];

	snprintf(k, sizeof(k), "%s", key);
	while (k[0] != '\0') {
		char *cut;

		for (size_t i = 0; i < sc->n; i++)
			if (strcmp(sc->lines[i].key, k) == 0 && sc->lines[i].line > 0)
				return &sc->lines[i];
		cut = strrchr(k, '.');
		if (strrchr(k, '[') > cut)
			cut = strrchr(k, '[');
		if (cut == NULL)
			break;
		*cut = '\0';
	}
	return NULL;
}

/* A node's database that came from its group's "database" shorthand: blame that line. */
static void
blame_group_db(struct seed_ctx *sc)
{
	const char *nodes = strstr(sc->e.key, ".nodes[");
	const char *close = nodes ? strchr(nodes, ']') : NULL;
	char k[160];

	if (close == NULL || strcmp(close, "].database") != 0)
		return;
	snprintf(k, sizeof(k), "%.*s.database", (int)(nodes - sc->e.key), sc->e.key);
	for (size_t i = 0; i < sc->n; i++)
		if (strcmp(sc->lines[i].key, sc->e.key) == 0)
			return; /* the node names it itself */
	for (size_t i = 0; i < sc->n; i++)
		if (strcmp(sc->lines[i].key, k) == 0) {
			snprintf(sc->e.key, sizeof(sc->e.key), "%s", k);
			return;
		}
}

static int
seed_fail(struct seed_ctx *sc, int rc, char *err, size_t errlen)
{
	const struct line_entry *le;

	blame_group_db(sc);
	le = line_of(sc, sc->e.key);
	const char *file = le && le->file ? le->file : sc->path;

	if (rc == -ENOMEM && sc->e.msg[0] == '\0')
		return cl_refuse(err, errlen, rc, "%s: out of memory", sc->path);
	if (le != NULL)
		return cl_refuse(err, errlen, rc, "%s:%u: %s: %s", file, le->line, sc->e.key,
				 sc->e.msg);
	if (sc->e.key[0] != '\0')
		return cl_refuse(err, errlen, rc, "%s: %s: %s", file, sc->e.key, sc->e.msg);
	return cl_refuse(err, errlen, rc, "%s: %s", file, sc->e.msg);
}

static int
read_seed(config_t *cf, const char *path, char *err, size_t errlen)
{
	char dir[512];
	const char *slash = strrchr(path, '/');
	int rc;

	if (slash != NULL && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, slash - path);
		dir[slash - path] = '\0';
		config_set_include_dir(cf, dir[0] ? dir : "/");
	}
	rc = rc_config_includes_ok(path, config_get_include_dir(cf), err, errlen);
	if (rc != 0)
		return rc;
	errno = 0;
	if (config_read_file(cf, path))
		return 0;
	if (config_error_type(cf) == CONFIG_ERR_FILE_IO) {
		rc = errno ? errno : EIO;
		return cl_refuse(err, errlen, -rc, "%s: cannot read: %s", path, strerror(rc));
	}
	return cl_refuse(err, errlen, -EINVAL, "%s:%d: syntax error: %s",
			 config_error_file(cf) ? config_error_file(cf) : path,
			 config_error_line(cf), config_error_text(cf));
}

int
rc_cluster_load_seed(const char *path, struct rc_cluster *c, char *err, size_t errlen)
{
	struct seed_ctx sc = { .path = path };
	struct rc_cluster *tmp = malloc(sizeof(*tmp));
	json_t *j = NULL;
	config_t cf;
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	if (tmp == NULL)
		return cl_refuse(err, errlen, -ENOMEM, "%s: out of memory", path);
	config_init(&cf);
	rc = read_seed(&cf, path, err, errlen);
	if (rc == 0) {
		j = convert(&sc, config_root_setting(&cf), "");
		rc = j == NULL ? (sc.e.msg[0] ? -EINVAL : -ENOMEM) : 0;
	}
	if (rc == 0) {
		rc_cluster_init_empty(tmp);
		rc = cl_parse_object(j, &cl_root_seed, tmp, "", &sc.e);
		tmp->version = 1;
		if (rc == 0)
			rc = cl_validate(tmp, &sc.e);
	}
	if (rc == 0)
		memcpy(c, tmp, sizeof(*c));
	else if (errlen > 0 && err[0] == '\0')
		seed_fail(&sc, rc, err, errlen);
	json_decref(j);
	config_destroy(&cf);
	free(sc.lines);
	free(tmp);
	return rc;
}
