/*
 * sasl.h: SASL PLAIN (RFC 4616) message decoding.
 */
#ifndef REFIMAPD_SASL_H
#define REFIMAPD_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/compat.h"

struct sasl_plain {
	char authzid[129];	/* may be empty */
	char authcid[129];
	char passwd[1025];	/* wiped by sasl_plain_wipe */
	size_t passwd_len;
};

/*
 * Decodes "[authzid] NUL authcid NUL passwd" (already base64-decoded).
 * Exactly two NULs, authcid and passwd non-empty, no CR or LF, each part
 * within its buffer. Returns 0 or -1 with *error_r set (static text).
 */
int sasl_plain_decode(const uint8_t *msg, size_t len, struct sasl_plain *r,
    const char **error_r) ATTR_WUR;
void sasl_plain_wipe(struct sasl_plain *p);

#endif
