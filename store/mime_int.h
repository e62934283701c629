/*
 * mime_int.h: what store/mime.c and store/mime_addr.c share; not part of
 * the store's interface.
 */
#ifndef REFIMAPD_MIME_INT_H
#define REFIMAPD_MIME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/compat.h"

/* A header field's raw value (after the colon, maybe folded); p == NULL
 * when the field is absent. */
struct mime_val {
	const uint8_t *p;
	size_t n;
};

/* The header fields of an ENVELOPE, in RFC 3501 §7.4.2 order. */
enum mime_env_field {
	MIME_ENV_DATE,
	MIME_ENV_SUBJECT,
	MIME_ENV_FROM,
	MIME_ENV_SENDER,
	MIME_ENV_REPLY_TO,
	MIME_ENV_TO,
	MIME_ENV_CC,
	MIME_ENV_BCC,
	MIME_ENV_IN_REPLY_TO,
	MIME_ENV_MESSAGE_ID,
	MIME_ENV_N
};

/* True for space, tab, CR and LF. */
bool mime_is_wsp(uint8_t c);
/* The first index >= i in p[0..n) past white space and RFC 5322 comments
 * (nested, with quoted pairs; an unclosed comment runs to the end). */
size_t mime_skip_cfws(const uint8_t *p, size_t n, size_t i);
/* Appends p[0..n) unfolded (every CR and LF dropped) and trimmed of
 * leading and trailing spaces and tabs. Returns 0 or -1 (out's maximum). */
int mime_unfold(const uint8_t *p, size_t n, struct buf *out) ATTR_WUR;
/* Appends the ENVELOPE "(...)" of a message whose fields are v. Returns 0
 * or -1 (out's maximum). */
int mime_envelope_write(struct buf *out, const struct mime_val *v) ATTR_WUR;

#endif
