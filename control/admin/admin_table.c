/* SPDX-License-Identifier: MIT */
/*
 * Tables in admin replies: see admin_table.h.
 */
#include "admin_table.h"

#include <errno.h>
#include <stdlib.h>

#define CELL_MAX 512 /* a cell written by a column's cell function */

static void
put_joined(struct rc_text *t, int width, const json_t *arr)
{
	struct rc_text s = { 0 };
	const json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		rc_text_printf(&s, "%s%s", i ? "," : "", json_string_value(v) ?: "");
	rc_text_printf(t, "%*s", width, s.buf ? s.buf : "");
	free(s.buf);
}

static void
put_cell(struct rc_text *t, const struct rc_table_col *c, const json_t *row)
{
	const json_t *v;
	char buf[CELL_MAX];

	if (c->cell != NULL) {
		buf[0] = '\0';
		c->cell(row, buf, sizeof(buf));
		rc_text_printf(t, "%*s", c->width, buf);
		return;
	}
	v = json_object_get(row, c->key);
	if (json_is_string(v))
		rc_text_printf(t, "%*s", c->width, json_string_value(v));
	else if (json_is_integer(v))
		rc_text_printf(t, "%*" JSON_INTEGER_FORMAT, c->width, json_integer_value(v));
	else if (json_is_boolean(v))
		rc_text_printf(t, "%*s", c->width, json_is_true(v) ? "on" : "off");
	else if (json_is_array(v) && json_array_size(v) > 0)
		put_joined(t, c->width, v);
	else
		rc_text_printf(t, "%*s", c->width, "-");
}

void
rc_table_head(struct rc_text *t, const struct rc_table_col *cols, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rc_text_printf(t, "%s%*s", i ? " " : "", cols[i].width, cols[i].head);
	rc_text_printf(t, "\n");
}

void
rc_table_line(struct rc_text *t, const struct rc_table_col *cols, size_t n, const json_t *row)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			rc_text_printf(t, " ");
		put_cell(t, &cols[i], row);
	}
	rc_text_printf(t, "\n");
}

int
rc_table_add(struct rc_text *t, const struct rc_table_col *cols, size_t n, json_t *arr,
	     json_t *row)
{
	if (row == NULL || json_array_append(arr, row) != 0) {
		json_decref(row);
		return -ENOMEM;
	}
	rc_table_line(t, cols, n, row);
	json_decref(row);
	return 0;
}

void
rc_table_print(struct rc_text *t, const struct rc_table_col *cols, size_t n, const json_t *arr)
{
	const json_t *row;
	size_t i;

	rc_table_head(t, cols, n);
	json_array_foreach(arr, i, row)
		rc_table_line(t, cols, n, row);
}
