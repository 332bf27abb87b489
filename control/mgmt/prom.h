/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text exposition format, version 0.0.4: a growable buffer that metric
 * families are written into, and the pure helpers behind it (name checks and sanitising,
 * escaping of label values and HELP text, number formatting).
 *
 *   # HELP roomcast_drops_total Packets dropped, by reason.
 *   # TYPE roomcast_drops_total counter
 *   roomcast_drops_total{reason="bad_magic"} 3
 *
 * All samples of one family must be written one after the other: the first sample of a
 * name writes its HELP and TYPE lines; coming back to a family after another one was
 * started is an error (-EEXIST), as Prometheus refuses a second TYPE line for a name.
 * Errors are sticky (b->err): the writer can call the helpers without checking each
 * result and look at the buffer once at the end.
 *
 * Labels are given as a NULL-terminated array of name, value pairs, most easily with
 * RC_LABELS("lcore", "1", "reason", "bad_magic"), or NULL for none.
 *
 * Threads: a buffer belongs to one thread at a time; the pure helpers are reentrant.
 */
#ifndef RC_PROM_H
#define RC_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Content-Type of an exposition. */
#define RC_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define RC_PROM_NAME_MAX 200 /* longest metric or label name accepted here */

enum rc_metric_type {
	RC_METRIC_COUNTER = 0,
	RC_METRIC_GAUGE,
	RC_METRIC_TYPE_MAX,
};

struct rc_metrics_buf {
	char *buf; /* NUL-terminated exposition text (NULL while empty) */
	size_t len, cap;
	int err;   /* first error, sticky: -EINVAL bad name, -EEXIST family split, -ENOMEM */
	char **families; /* names of the families written so far */
	size_t n_families, cap_families;
	enum rc_metric_type cur_type; /* of families[n_families - 1] */
};

void rc_metrics_buf_init(struct rc_metrics_buf *b);
/* Empty the buffer (keeping its memory) and clear the error. */
void rc_metrics_buf_reset(struct rc_metrics_buf *b);
void rc_metrics_buf_free(struct rc_metrics_buf *b);

/* Append one sample of a counter (value never decreases; by convention the name ends in
 * "_total") or a gauge. help is the family's one-line description (escaped here), used by
 * the first sample of the family (NULL or "": no HELP line). 0 or the sticky error. */
int rc_metric_counter(struct rc_metrics_buf *b, const char *name, const char *help,
		      const char *const *labels, uint64_t value);
int rc_metric_gauge(struct rc_metrics_buf *b, const char *name, const char *help,
		    const char *const *labels, double value);

/*
 * A metric as a row of a table: one sample whose value is the uint64_t at byte off of a stats
 * struct (offsetof). A family's HELP goes on its first row; its other rows (other label
 * values) follow it directly and leave help NULL. Counters by default (type left out).
 *
 *   static const struct rc_metric_row rows[] = {
 *           { "x_requests_total", "Requests answered.", NULL, offsetof(struct st, served) },
 *           { "x_pending", "Waiting now.", NULL, offsetof(struct st, pending), RC_METRIC_GAUGE },
 *   };
 */
struct rc_metric_row {
	const char *name;
	const char *help;
	const char *const *labels; /* NULL or RC_LABELS(...) */
	size_t off;
	enum rc_metric_type type; /* a gauge's value is converted to double */
};

/* One sample per row, in order, read from stats. 0 or the sticky error. */
int rc_metric_rows(struct rc_metrics_buf *b, const struct rc_metric_row *rows, size_t n,
		   const void *stats);

#define RC_METRIC_LABELS_MAX 8 /* label pairs of one sample written from a row */

/*
 * The same for one of several stats structs of one kind (a worker's, a scope's): labels (NULL
 * or RC_LABELS(...), e.g. the worker's lcore) go before each row's own. A family's samples
 * must be contiguous, so a caller with several sources calls this once per family and
 * source: rows of one family, or a single row, at a time. More than RC_METRIC_LABELS_MAX
 * pairs in all, or an odd count in labels: -EINVAL. 0 or the sticky error.
 */
int rc_metric_rows_labeled(struct rc_metrics_buf *b, const struct rc_metric_row *rows, size_t n,
			   const void *stats, const char *const *labels);

/* Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]* and do
 * not start with "__" (reserved by Prometheus). */
bool rc_prom_metric_name_ok(const char *name);
bool rc_prom_label_name_ok(const char *name);

/*
 * The pure formatting helpers. Each writes a NUL-terminated result into out (truncated to
 * cap - 1 bytes when cap is too small; out may be NULL when cap is 0) and returns the
 * length the whole result needs, like snprintf.
 *
 * sanitize_name: a valid metric name from any string: bytes outside [a-zA-Z0-9_:] become
 * '_', a leading digit gets a '_' in front, "" becomes "_".
 * escape_label: a label value: backslash, double quote and line feed as \\, \" and \n.
 * escape_help: HELP text: backslash and line feed as \\ and \n.
 * format_value: a sample value: integers exactly, other numbers with the fewest digits that
 * read back the same, and NaN, +Inf, -Inf.
 */
size_t rc_prom_sanitize_name(const char *in, char *out, size_t cap);
size_t rc_prom_escape_label(const char *in, char *out, size_t cap);
size_t rc_prom_escape_help(const char *in, char *out, size_t cap);
size_t rc_prom_format_value(double v, char *out, size_t cap);

#endif /* RC_PROM_H */
