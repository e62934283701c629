/*
 * msgpart.h: the header and text of a stored message (RFC 3501 §6.4.5
 * HEADER and TEXT, RFC 5322 §2.1), read from the store without reading
 * more of the message than needed.
 */
#ifndef REFIMAPD_MSGPART_H
#define REFIMAPD_MSGPART_H

#include <stdint.h>

#include "../lib/buf.h"
#include "../store/store.h"

/* Headers longer than this are treated as ending here. */
#define MSGPART_HEADER_MAX	(1024 * 1024)

/*
 * The size of the header including the empty line that ends it (CRLF
 * CRLF, or a bare LF LF), or the whole message when it has no empty line
 * (within MSGPART_HEADER_MAX). Reads the message from its start in
 * chunks until the end of the header.
 */
enum store_err msgpart_header_size(struct store *st,
    const struct store_msg *m, uint64_t *size_r) ATTR_WUR;
/* The length of the header in p[0..n) (a message's first bytes) up to
 * and including the empty line that ends it, or 0 if that line is not in
 * p yet. */
size_t msgpart_header_end(const uint8_t *p, size_t n);
/* Appends the header (as above) to out. */
enum store_err msgpart_header(struct store *st, const struct store_msg *m,
    struct buf *out) ATTR_WUR;

/*
 * Finds a header field's value in a header block (case-insensitive name,
 * folded continuation lines joined as they are). Calls cb for each
 * occurrence with the raw value (after the colon, CRLF of folds kept,
 * final CRLF removed). Returns the number of occurrences.
 */
typedef void msgpart_field_cb(void *ctx, const uint8_t *v, size_t n);
unsigned msgpart_fields(const uint8_t *hdr, size_t hlen, const char *name,
    msgpart_field_cb *cb, void *ctx);

#endif
