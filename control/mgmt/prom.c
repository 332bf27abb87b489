/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text exposition format 0.0.4 (see prom.h): family bookkeeping, sample
 * lines, and the pure helpers for names, escaping and numbers.
 *
 * Threads: a buffer belongs to one thread at a time; the helpers are reentrant.
 */
#include "prom.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[RC_METRIC_TYPE_MAX] = {
	[RC_METRIC_COUNTER] = "counter",
	[RC_METRIC_GAUGE] = "gauge",
};

/* ---- pure helpers ---- */

static bool
name_char(char c, bool first, bool colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (c == ':')
		return colon;
	return !first && c >= '0' && c <= '9';
}

static bool
name_ok(const char *name, bool colon)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return false;
	for (i = 0; name[i] != '\0'; i++)
		if (i >= RC_PROM_NAME_MAX || !name_char(name[i], i == 0, colon))
			return false;
	return true;
}

bool
rc_prom_metric_name_ok(const char *name)
{
	return name_ok(name, true);
}

bool
rc_prom_label_name_ok(const char *name)
{
	return name_ok(name, false) && strncmp(name, "__", 2) != 0;
}

/* Append c to out[0..cap) at *n (always counting), keeping room for the NUL. */
static void
put(char *out, size_t cap, size_t *n, char c)
{
	if (*n + 1 < cap)
		out[*n] = c;
	(*n)++;
}

static size_t
finish(char *out, size_t cap, size_t n)
{
	if (cap > 0)
		out[n < cap ? n : cap - 1] = '\0';
	return n;
}

size_t
rc_prom_sanitize_name(const char *in, char *out, size_t cap)
{
	size_t n = 0, i;

	if (in == NULL || in[0] == '\0')
		put(out, cap, &n, '_');
	else if (in[0] >= '0' && in[0] <= '9')
		put(out, cap, &n, '_');
	for (i = 0; in != NULL && in[i] != '\0'; i++)
		put(out, cap, &n, name_char(in[i], false, true) ? in[i] : '_');
	return finish(out, cap, n);
}

static size_t
escape(const char *in, char *out, size_t cap, bool quote)
{
	size_t n = 0;

	for (; in != NULL && *in != '\0'; in++) {
		if (*in == '\\' || *in == '\n' || (quote && *in == '"')) {
			put(out, cap, &n, '\\');
			put(out, cap, &n, *in == '\n' ? 'n' : *in);
		} else {
			put(out, cap, &n, *in);
		}
	}
	return finish(out, cap, n);
}

size_t
rc_prom_escape_label(const char *in, char *out, size_t cap)
{
	return escape(in, out, cap, true);
}

size_t
rc_prom_escape_help(const char *in, char *out, size_t cap)
{
	return escape(in, out, cap, false);
}

/* An integer a double holds exactly (|v| < 2^53): printed as digits, never as 1e+06. */
static bool
exact_int(double v)
{
	return v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v;
}

size_t
rc_prom_format_value(double v, char *out, size_t cap)
{
	char tmp[40];
	int n;

	if (isnan(v))
		n = snprintf(tmp, sizeof(tmp), "NaN");
	else if (isinf(v))
		n = snprintf(tmp, sizeof(tmp), "%cInf", v > 0 ? '+' : '-');
	else if (exact_int(v))
		n = snprintf(tmp, sizeof(tmp), "%" PRId64, (int64_t)v);
	else if ((n = snprintf(tmp, sizeof(tmp), "%.15g", v)) > 0 && strtod(tmp, NULL) != v)
		n = snprintf(tmp, sizeof(tmp), "%.17g", v);
	if (cap > 0)
		snprintf(out, cap, "%s", tmp);
	return (size_t)n;
}

/* ---- the buffer ---- */

void
rc_metrics_buf_init(struct rc_metrics_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
rc_metrics_buf_reset(struct rc_metrics_buf *b)
{
	size_t i;

	for (i = 0; i < b->n_families; i++)
		free(b->families[i]);
	b->n_families = 0;
	b->len = 0;
	if (b->buf != NULL)
		b->buf[0] = '\0';
	b->err = 0;
}

void
rc_metrics_buf_free(struct rc_metrics_buf *b)
{
	rc_metrics_buf_reset(b);
	free(b->families);
	free(b->buf);
	rc_metrics_buf_init(b);
}

static int
fail(struct rc_metrics_buf *b, int err)
{
	if (b->err == 0)
		b->err = err;
	return b->err;
}

static int
reserve(struct rc_metrics_buf *b, size_t more)
{
	size_t cap = b->cap != 0 ? b->cap : 4096;
	char *p;

	if (b->len + more + 1 <= b->cap)
		return 0;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->buf, cap);
	if (p == NULL)
		return fail(b, -ENOMEM);
	b->buf = p;
	b->cap = cap;
	return 0;
}

static void
append(struct rc_metrics_buf *b, const char *s, size_t n)
{
	if (b->err != 0 || reserve(b, n) != 0)
		return;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

/* Append the result of one of the pure helpers (they count like snprintf). */
static void
append_fmt(struct rc_metrics_buf *b, size_t (*fn)(const char *, char *, size_t),
	   const char *in)
{
	size_t n = fn(in, NULL, 0);

	if (b->err != 0 || reserve(b, n) != 0)
		return;
	fn(in, b->buf + b->len, n + 1);
	b->len += n;
}

/* Start the family `name` unless it is the current one: HELP and TYPE lines. */
static int
family(struct rc_metrics_buf *b, const char *name, const char *help, enum rc_metric_type type)
{
	size_t i;
	char **f;

	if (b->n_families > 0 && strcmp(b->families[b->n_families - 1], name) == 0)
		return b->cur_type == type ? 0 : fail(b, -EINVAL);
	for (i = 0; i + 1 < b->n_families; i++)
		if (strcmp(b->families[i], name) == 0)
			return fail(b, -EEXIST);
	if (b->n_families == b->cap_families) {
		f = realloc(b->families, (b->cap_families * 2 + 16) * sizeof(*f));
		if (f == NULL)
			return fail(b, -ENOMEM);
		b->families = f;
		b->cap_families = b->cap_families * 2 + 16;
	}
	if ((b->families[b->n_families] = strdup(name)) == NULL)
		return fail(b, -ENOMEM);
	b->n_families++;
	b->cur_type = type;
	if (help != NULL && help[0] != '\0') { /* HELP is optional */
		append(b, "# HELP ", 7);
		append(b, name, strlen(name));
		append(b, " ", 1);
		append_fmt(b, rc_prom_escape_help, help);
		append(b, "\n", 1);
	}
	append(b, "# TYPE ", 7);
	append(b, name, strlen(name));
	append(b, " ", 1);
	append(b, type_names[type], strlen(type_names[type]));
	append(b, "\n", 1);
	return b->err;
}

static bool
labels_ok(const char *const *labels)
{
	size_t i, j;

	for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
		if (!rc_prom_label_name_ok(labels[i]) || labels[i + 1] == NULL)
			return false;
		for (j = 0; j < i; j += 2)
			if (strcmp(labels[i], labels[j]) == 0)
				return false;
	}
	return true;
}

static int
sample(struct rc_metrics_buf *b, const char *name, const char *help, enum rc_metric_type type,
       const char *const *labels, const char *value)
{
	size_t i;

	if (b->err != 0)
		return b->err;
	if (!rc_prom_metric_name_ok(name) || !labels_ok(labels))
		return fail(b, -EINVAL);
	if (family(b, name, help, type) != 0)
		return b->err;
	append(b, name, strlen(name));
	for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
		append(b, i == 0 ? "{" : ",", 1);
		append(b, labels[i], strlen(labels[i]));
		append(b, "=\"", 2);
		append_fmt(b, rc_prom_escape_label, labels[i + 1]);
		append(b, "\"", 1);
	}
	if (i > 0)
		append(b, "}", 1);
	append(b, " ", 1);
	append(b, value, strlen(value));
	append(b, "\n", 1);
	return b->err;
}

int
rc_metric_counter(struct rc_metrics_buf *b, const char *name, const char *help,
		  const char *const *labels, uint64_t value)
{
	char v[24];

	snprintf(v, sizeof(v), "%" PRIu64, value);
	return sample(b, name, help, RC_METRIC_COUNTER, labels, v);
}

int
rc_metric_gauge(struct rc_metrics_buf *b, const char *name, const char *help,
		const char *const *labels, double value)
{
	char v[40];

	rc_prom_format_value(value, v, sizeof(v));
	return sample(b, name, help, RC_METRIC_GAUGE, labels, v);
}

/* labels then more (either NULL) as one NULL-terminated array in *res: one of them when the
 * other is empty, else the pairs copied into out (2 * RC_METRIC_LABELS_MAX + 1 slots). false
 * when they do not fit or labels has an odd count. */
static bool
merge_labels(const char *const *labels, const char *const *more, const char **out,
	     const char *const **res)
{
	size_t n = 0;

	for (; labels != NULL && labels[n] != NULL; n++)
		if (n == 2 * RC_METRIC_LABELS_MAX)
			return false;
	if (n % 2 != 0)
		return false;
	*res = n == 0 ? more : labels;
	if (n == 0 || more == NULL || more[0] == NULL)
		return true;
	memcpy(out, labels, n * sizeof(*out));
	for (; *more != NULL; more++) {
		if (n == 2 * RC_METRIC_LABELS_MAX)
			return false;
		out[n++] = *more;
	}
	out[n] = NULL;
	*res = out;
	return true;
}

int
rc_metric_rows_labeled(struct rc_metrics_buf *b, const struct rc_metric_row *rows, size_t n,
		       const void *stats, const char *const *labels)
{
	const char *merged[2 * RC_METRIC_LABELS_MAX + 1];

	for (size_t i = 0; i < n; i++) {
		const struct rc_metric_row *r = &rows[i];
		const char *const *l;
		uint64_t v;

		if (!merge_labels(labels, r->labels, merged, &l))
			return fail(b, -EINVAL);
		memcpy(&v, (const char *)stats + r->off, sizeof(v));
		if (r->type == RC_METRIC_GAUGE)
			rc_metric_gauge(b, r->name, r->help, l, (double)v);
		else
			rc_metric_counter(b, r->name, r->help, l, v);
	}
	return b->err;
}

int
rc_metric_rows(struct rc_metrics_buf *b, const struct rc_metric_row *rows, size_t n,
	       const void *stats)
{
	return rc_metric_rows_labeled(b, rows, n, stats, NULL);
}
