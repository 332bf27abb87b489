/* SPDX-License-Identifier: MIT */
/* Whole writes to a file descriptor (see fdio.h). */
#include "fdio.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

static int
out_all(int fd, const char *p, size_t len, bool sock)
{
	while (len > 0) {
		ssize_t n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
rc_write_all(int fd, const void *buf, size_t len)
{
	return out_all(fd, buf, len, false);
}

int
rc_send_all(int fd, const void *buf, size_t len)
{
	return out_all(fd, buf, len, true);
}
