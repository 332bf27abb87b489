/* SPDX-License-Identifier: MIT */
/*
 * Whole writes to a file descriptor: the loop over short writes and EINTR that a plain write()
 * or send() leaves to its caller. Blocking descriptors only (EAGAIN is an error here).
 *
 * Threads: reentrant.
 */
#ifndef RC_FDIO_H
#define RC_FDIO_H

#include <stddef.h>

/* All len bytes of buf to fd with write(). 0 or -errno. */
int rc_write_all(int fd, const void *buf, size_t len);

/* All len bytes of buf to the socket fd with send(MSG_NOSIGNAL): a peer that went away is
 * -EPIPE, never SIGPIPE. 0 or -errno. */
int rc_send_all(int fd, const void *buf, size_t len);

#endif /* RC_FDIO_H */
