/* SPDX-License-Identifier: MIT */
/*
 * The HA state machine for people: `ha status` JSON and the table in words (HA.md). The
 * machine itself (ha_fsm.h) neither prints nor allocates.
 *
 * Threads: the functions read a struct rc_ha_fsm, or the constant tables; a machine must not
 * be fed events meanwhile (ha_fsm.h).
 */
#ifndef RC_HA_FSM_PRINT_H
#define RC_HA_FSM_PRINT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "ha_fsm.h"

/* For `ha status`: state, reason, time in state, peer, health, serving, awaited operation,
 * counters and the last transitions. A new reference, or NULL (errno = ENOMEM). The caller
 * adds what the machine does not know (lease epoch, replication lag). */
json_t *rc_ha_fsm_to_json(const struct rc_ha_fsm *f, uint64_t now_ms);

/* The whole transition table as Markdown (HA.md embeds it). 0 or -errno. */
int rc_ha_fsm_write_table(FILE *out);

#endif /* RC_HA_FSM_PRINT_H */
