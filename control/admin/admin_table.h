/* SPDX-License-Identifier: MIT */
/*
 * Tables in admin replies. A command that lists things builds one JSON object per row (its
 * "result", what -j prints) and renders the row's text line (its "text") from that same
 * object through one column spec, so the human and the machine form cannot disagree (grout's
 * table cells).
 *
 * A cell is the row's member `key`: a string as it is, an integer in decimal, true/false as
 * on/off, an array of strings joined by ","; null, absent or an empty array as "-". A column
 * with a `cell` function shows what it writes instead (a cell made of several members).
 * Columns are separated by one space; width > 0 pads on the left (right-aligned), < 0 on the
 * right, 0 not at all (the last column); a longer cell is never cut. The header uses the same
 * widths, and every line ends with a newline.
 *
 * Threads: any; nothing is shared.
 */
#ifndef RC_ADMIN_TABLE_H
#define RC_ADMIN_TABLE_H

#include <jansson.h>
#include <stddef.h>

#include "admin.h"

struct rc_table_col {
	const char *head; /* the header's word */
	int width;
	const char *key;  /* the row member shown, unless cell */
	/* The cell's text from the whole row into buf (cap bytes), or NULL. */
	void (*cell)(const json_t *row, char *buf, size_t cap);
};

/* A column spec's array and its length, as the calls below take them. */
#define RC_TABLE(cols) (cols), (sizeof(cols) / sizeof((cols)[0]))

/* The header line. */
void rc_table_head(struct rc_text *t, const struct rc_table_col *cols, size_t n);

/* The text line of row. */
void rc_table_line(struct rc_text *t, const struct rc_table_col *cols, size_t n,
		   const json_t *row);

/* Append row to arr (which takes the reference, also on failure) and its line to t. 0, or
 * -ENOMEM when row is NULL or cannot be appended (no line then). */
int rc_table_add(struct rc_text *t, const struct rc_table_col *cols, size_t n, json_t *arr,
		 json_t *row);

/* The header, then the line of every element of arr. */
void rc_table_print(struct rc_text *t, const struct rc_table_col *cols, size_t n,
		    const json_t *arr);

#endif /* RC_ADMIN_TABLE_H */
