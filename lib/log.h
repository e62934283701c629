/*
 * log.h: the process log, syslog (LOG_MAIL) or stderr.
 *
 * Every line carries the context set with log_set_context (session, user,
 * peer). Untrusted strings go through log_escape first.
 */
#ifndef REFIMAPD_LOG_H
#define REFIMAPD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "compat.h"

/* ident is kept by reference. to_stderr: foreground, else syslog. */
void log_open(const char *ident, bool to_stderr);
/* Lines below prio (LOG_DEBUG > LOG_INFO ...) are dropped. */
void log_set_level(int prio);
/* Prefix for every later line, e.g. "session=12 user=alice"; "" clears. */
void log_set_context(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_msg(int prio, const char *fmt, ...) ATTR_PRINTF(2, 3);

/*
 * Writes an escaped, capped copy of untrusted bytes into out (always
 * NUL-terminated): printable ASCII as is, the rest as \xNN, "..." when cut.
 * Returns out.
 */
const char *log_escape(const uint8_t *p, size_t n, char *out, size_t outlen);

#endif
