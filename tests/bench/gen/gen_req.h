/* SPDX-License-Identifier: MIT */
/* roomcast-gen: what a request id says (gen_req.c writes them, gen_reply.c reads them). */
#ifndef RG_REQ_H
#define RG_REQ_H

#include "gen.h"

#define RG_RID_KIND 0xC0000000u
#define RG_RID_ARG 0x3FFFFFFFu
#define RG_RID_LOGIN 0x00000000u  /* arg: the run id's low bits */
#define RG_RID_JOIN 0x40000000u   /* arg: the user's room slot */
#define RG_RID_POST 0x80000000u   /* arg: the POST's window index k, low bits */
#define RG_RID_LOGOUT 0xC0000000u /* and PING */

/* Record room r's node id from a JOINED. */
void rg_room_map_add(struct rg_gen *g, unsigned r);

#endif /* RG_REQ_H */
