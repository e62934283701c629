/*
 * mime.h: the MIME structure of a message, computed once when it is stored
 * (RFC 3501 §6.4.5, §7.4.2, §9; RFC 5322; RFC 2045, 2046, 2231).
 *
 * mime_parse turns a message into a compact blob that the store keeps in its
 * `mime` database. The blob holds, ready to send, the ENVELOPE, the BODY and
 * the BODYSTRUCTURE of the message, and a table of the byte ranges of every
 * part, so that FETCH never parses the message again.
 *
 * Choices (documented here, tested in tests/unit/test_mime.c):
 * - Media types, subtypes, encodings and parameters are sent as written in
 *   the message; defaults are lowercase as Dovecot sends them: "text"
 *   "plain" ("charset" "us-ascii") and "7bit". Clients compare
 *   case-insensitively. A text part with no parameters at all gets
 *   ("charset" "us-ascii") (RFC 2045 §5.2).
 * - Body MD5 is the Content-MD5 header field as written, or NIL.
 * - Header values are unfolded (CRLF before WSP removed, any other CR or LF
 *   in a field dropped) and trimmed; encoded words are not decoded. The
 *   first occurrence of a field wins. Fields starting past MIME_HDR_MAX
 *   bytes of a header are ignored and values are cut at MIME_HDR_MAX bytes
 *   (the header's byte range stays exact).
 *   Lines without a colon are skipped.
 * - Addresses: (name adl mailbox host); quoted strings are unquoted, the
 *   words of a display name joined by one space, a source route kept as
 *   "@a,@b"; an address without "@" gets host "" (NIL marks groups). Sender
 *   and Reply-To default to From when absent or empty (RFC 3501 §7.4.2).
 * - Sizes are raw octets of the part as stored; lines count LFs, plus one
 *   for a last line without an LF (bare-LF messages work).
 * - Multipart: the CRLF before a delimiter belongs to the delimiter;
 *   preamble and epilogue are in no part; delimiter lines may end in
 *   spaces or tabs. If the close delimiter is missing the last part runs to
 *   the end. If there is no boundary parameter or no delimiter line at all,
 *   the multipart has one text/plain part: the whole body, no header.
 *   multipart/digest parts default to message/rfc822 (RFC 2046 §5.1.5).
 * - Limits: MIME_DEPTH_MAX levels of multipart / message nesting, at most
 *   MIME_PARTS_MAX parts. A multipart or message/rfc822 past a limit is
 *   sent as an opaque "application" "octet-stream" leaf; parts of a
 *   multipart past the part limit are dropped like an epilogue.
 *   At most MIME_PARAMS_MAX parameters per field; longer ones are dropped.
 * - RFC 2231 parameters (name*0*=...) are passed through as written.
 */
#ifndef REFIMAPD_MIME_H
#define REFIMAPD_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/compat.h"

#define MIME_DEPTH_MAX	20
#define MIME_PARTS_MAX	10000
#define MIME_HDR_MAX	(256 * 1024)
#define MIME_PARAMS_MAX	64

/* Byte ranges of the original message for one section part path. */
struct mime_range {
	/* [path].MIME: the part's MIME header, blank line included. For the
	 * whole message (empty path) the message header. */
	uint64_t mime_off, mime_len;
	/* [path].HEADER (and HEADER.FIELDS): for the whole message and for a
	 * message/rfc822 part, the embedded message's header, blank line
	 * included; for any other part its MIME header. */
	uint64_t hdr_off, hdr_len;
	/* [path].TEXT: for a message, the body after its header; for any
	 * other part the same as body. */
	uint64_t text_off, text_len;
	/* BODY[path]: the part's content (for a message/rfc822 part the whole
	 * embedded message; for the empty path the whole message). */
	uint64_t body_off, body_len;
	/* The whole message or a message/rfc822 part: HEADER and TEXT apply. */
	bool is_message;
	/* The part is a multipart. */
	bool is_multipart;
};

/*
 * Parses the message p[0..n) (may be a mmap of a large file) and appends its
 * blob to out. Never fails on content: malformed input yields RFC defaults.
 * Returns 0, or -1 if out's maximum was hit (out is then truncated back to
 * its length on entry).
 */
int mime_parse(const uint8_t *p, size_t n, struct buf *out) ATTR_WUR;

/*
 * The readers below take a blob made by mime_parse; they check every offset
 * and return false for a corrupt blob, never reading out of bounds. The
 * returned strings point into the blob.
 */

/* The ENVELOPE, "(date subject from ... message-id)" (RFC 3501 §7.4.2). */
bool mime_envelope(const uint8_t *blob, size_t n, const uint8_t **s_r,
    size_t *len_r);
/* BODY (extended false) or BODYSTRUCTURE (extended true), "(...)". */
bool mime_body(const uint8_t *blob, size_t n, bool extended,
    const uint8_t **s_r, size_t *len_r);
/* The size of the message the blob was made from. */
bool mime_msg_size(const uint8_t *blob, size_t n, uint64_t *size_r);
/*
 * Resolves a part path such as 1.2 (path {1, 2}, depth 2; depth 0 is the
 * whole message) as RFC 3501 §6.4.5 numbers parts. Returns false if the
 * part does not exist or the blob is corrupt. All ranges lie within the
 * message size recorded in the blob.
 */
bool mime_section(const uint8_t *blob, size_t n, const uint32_t *path,
    size_t depth, struct mime_range *r);

#endif
