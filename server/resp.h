/*
 * resp.h: the response writer (RFC 3501 §7). It owns all quoting: callers
 * pass bytes, the writer picks atom, quoted or literal.
 *
 * Responses are queued in the session's output buffer and sent at the end
 * of each command, or earlier when the buffer grows large.
 */
#ifndef REFIMAPD_RESP_H
#define REFIMAPD_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/compat.h"
#include "session.h"

/* Tagged completion with the current command's tag: "tag OK [code] text".
 * code may be NULL. The text must be our own words (no client bytes). */
void resp_tagged(struct session *s, const char *status, const char *code,
    const char *fmt, ...) ATTR_PRINTF(4, 5);
#define resp_ok(s, ...)		resp_tagged((s), "OK", NULL, __VA_ARGS__)
#define resp_no(s, code, ...)	resp_tagged((s), "NO", (code), __VA_ARGS__)
#define resp_bad(s, ...)	resp_tagged((s), "BAD", NULL, __VA_ARGS__)

/* An untagged line "* " + formatted text + CRLF. */
void resp_untagged(struct session *s, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* Building one line piece by piece: begin with "* ", add parts, end with
 * CRLF. */
void resp_begin(struct session *s);
void resp_add(struct session *s, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* Raw bytes, as they are (literal contents). */
void resp_add_bytes(struct session *s, const void *p, size_t n);
/* A C string and a decimal number without a format: the per-message
 * responses of a large FETCH spend most of their time in printf else. */
void resp_add_str(struct session *s, const char *str);
void resp_add_u64(struct session *s, uint64_t n);
void resp_add_astring(struct session *s, const uint8_t *p, size_t n);
void resp_add_string(struct session *s, const uint8_t *p, size_t n);
void resp_add_nstring(struct session *s, const uint8_t *p, size_t n);
/* A mailbox name: INBOX as the atom INBOX, others as astrings. */
void resp_add_mailbox(struct session *s, const char *name);
void resp_end(struct session *s);

/* Sends "+ text" and flushes at once. */
void resp_continue(struct session *s, const char *text);

/* Writes everything queued. Returns 0, or -1 when the peer is gone (the
 * session is then closing). */
int resp_flush(struct session *s);

#endif
