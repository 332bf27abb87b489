/* SPDX-License-Identifier: MIT */
/*
 * Text from the network made safe for a terminal. The node checks that names and bodies are
 * valid UTF-8 without C0 controls, but that still lets through what a terminal acts on or
 * reorders: DEL, the C1 controls (U+0080..U+009F, among them CSI), the bidirectional
 * overrides and isolates (U+202A..U+202E, U+2066..U+2069, U+200E/F, U+061C: "Trojan
 * Source") and the line and paragraph separators (U+2028/9). Each is written as a visible
 * escape "<U+XXXX>", so a name cannot pose as another one and a body cannot reorder or
 * recolour what follows it. A newline in a body is kept but the next line is indented, so a
 * body cannot draw a line that looks like another message. Bytes that are not valid UTF-8
 * (never sent by a conforming node) are written "<XX>".
 */
#ifndef RC_DISPLAY_H
#define RC_DISPLAY_H

#include <stddef.h>

/* Continuation lines of a body start with this. */
#define RC_DISPLAY_INDENT "    "

/* Write s (NUL-terminated) into out (cap bytes, NUL-terminated, truncated at a character
 * boundary if too small). multiline: keep '\n' (followed by RC_DISPLAY_INDENT) and '\t';
 * else both are escaped too. Returns the number of characters escaped. */
unsigned rc_display_escape(const char *s, int multiline, char *out, size_t cap);

#endif /* RC_DISPLAY_H */
