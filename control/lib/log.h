/* SPDX-License-Identifier: MIT */
/*
 * Logging for the daemon's control side (never the workers): one line per event on stderr
 * with a UTC timestamp and a level; systemd's journal or the test harness captures it.
 */
#ifndef RC_LOG_H
#define RC_LOG_H

enum rc_log_level { RC_LOG_ERR = 0, RC_LOG_WARN, RC_LOG_INFO, RC_LOG_DEBUG };

void rc_log(enum rc_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rc_log_set_level(enum rc_log_level lvl);

#define RC_ERR(...) rc_log(RC_LOG_ERR, __VA_ARGS__)
#define RC_WARN(...) rc_log(RC_LOG_WARN, __VA_ARGS__)
#define RC_INFO(...) rc_log(RC_LOG_INFO, __VA_ARGS__)
#define RC_DEBUG(...) rc_log(RC_LOG_DEBUG, __VA_ARGS__)

/* A session id as a log shows it, with "session *%04x": its last 16 bits only. A session id
 * is a bearer credential: the whole of it never goes to a log. */
#define RC_LOG_SID(id) ((unsigned)((id) & 0xffffu))

#endif /* RC_LOG_H */
