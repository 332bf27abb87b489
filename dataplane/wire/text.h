/* SPDX-License-Identifier: MIT */
/*
 * printf into a text buffer, for the human renderings of the control plane and storage
 * (admin replies, merge job listings). Two kinds, one type:
 *
 *   growable  struct rc_text t = { 0 }: the buffer is malloc'd and grows as text comes;
 *             free(t.buf) when done. A piece that cannot be stored (no memory) is dropped:
 *             the text is best effort.
 *   bounded   rc_text_fixed(buf, cap): the caller's buffer, never written past cap and always
 *             NUL-terminated when cap > 0; len counts the whole text even past cap, as
 *             snprintf's return does, so len >= cap means the text was cut.
 *
 * Plain C, no dependency. Threads: a buffer belongs to its caller; the functions are
 * reentrant.
 */
#ifndef RC_TEXT_H
#define RC_TEXT_H

#include <stdbool.h>
#include <stddef.h>

struct rc_text {
	char *buf;  /* NUL-terminated (growable: once something was written) */
	size_t len; /* the text's length, without the NUL */
	size_t cap;
	bool fixed; /* bounded: buf is the caller's and never grows */
};

/* A bounded text in buf[0..cap), empty (buf[0] = NUL when cap > 0). */
struct rc_text rc_text_fixed(char *buf, size_t cap);

/* Appends printf(fmt, ...) to t. */
void rc_text_printf(struct rc_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* RC_TEXT_H */
