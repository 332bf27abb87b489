/* SPDX-License-Identifier: MIT */
/*
 * Names of things: an enum's name table read both ways, and "did you mean" for a misspelt
 * key or keyword.
 *
 * A name table is an array of n strings indexed by the enum's values (designated
 * initializers, the enum ending in _MAX); its users' tests check it is complete.
 *
 * Threads: pure functions of their arguments.
 */
#ifndef RC_NAMES_H
#define RC_NAMES_H

#include <stddef.h>

/* names[v], or NULL when v is outside 0..n-1 (or the table has no name for it). */
const char *rc_name_of(const char *const *names, size_t n, int v);

/* The index of s in names[0..n), a '_' in s also matching a '-' in the name; -1 when s is
 * NULL or unknown. */
int rc_name_parse(const char *const *names, size_t n, const char *s);

/*
 * The candidate closest to name by Levenshtein distance, within 2 edits (the first of equally
 * close ones), or NULL: the "did you mean" of an unknown key. The candidates are n string
 * pointers stride bytes apart starting at first: an array of names (first = names,
 * stride = sizeof(names[0])) or the name field of an array of rows (first = &rows[0].name,
 * stride = sizeof(rows[0])). Each candidate is compared from its byte skip on (a common
 * prefix such as "section."), and that is what is returned. Names of 63 bytes or more are
 * never suggested.
 */
const char *rc_nearest(const char *name, const void *first, size_t n, size_t stride, size_t skip);

#endif /* RC_NAMES_H */
