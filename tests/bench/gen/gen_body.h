/* SPDX-License-Identifier: MIT */
/*
 * The body of a generated POST: what lets a DELIVER tell when it was posted and which post
 * it is, in printable ASCII (a body must be UTF-8 without control characters):
 *
 *   "rg1 RRRRRRRR TTTTTTTTTTTTTTTT IIIIIIIIIIIIIIII ......"
 *
 * R the run id (8 hex digits: DELIVERs of other runs or other clients are told apart), T the
 * send time (16 hex digits, TSC cycles of the generator's clock), I the post's index in the
 * run (16 hex digits), then '.' up to the chosen body size (RG_BODY_MIN..RC_MAX_BODY bytes).
 * A template is written once (rg_body_init); each post only stamps T and I.
 *
 * Pure; nothing allocates.
 */
#ifndef RG_BODY_H
#define RG_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RG_BODY_MIN 46
#define RG_BODY_TS_OFF 13
#define RG_BODY_IDX_OFF 30

/* Write the template of a len-byte body (RG_BODY_MIN <= len) of run into b. */
void rg_body_init(char *b, size_t len, uint32_t run);

/* Stamp the send time and the index into a body made by rg_body_init. */
void rg_body_stamp(char *b, uint64_t ts, uint64_t idx);

/* The send time and index of a body of run; false when it is not one (too short, another
 * run, not the format). */
bool rg_body_parse(const char *b, size_t len, uint32_t run, uint64_t *ts, uint64_t *idx);

#endif /* RG_BODY_H */
