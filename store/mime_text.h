/*
 * mime_text.h: the decoded text of a message, for SEARCH BODY, TEXT and
 * header keys (RFC 3501 §6.4.4: "case-insensitive substring").
 *
 * - mime_text_decode_header turns RFC 2047 encoded words into UTF-8.
 * - mime_text_walk feeds the UTF-8 text of every "text" part of a stored
 *   message to a callback, chunk by chunk: the transfer encoding (RFC 2045
 *   §6: base64, quoted-printable) is undone and the charset converted with
 *   iconv(3). It reads only the MIME headers and the bytes of text parts
 *   (never attachments of other types) through store_body_read.
 * - struct mime_text_match is a streaming case-insensitive UTF-8 substring
 *   matcher (Knuth-Morris-Pratt over case-folded code points), so a match
 *   may span any number of chunks; mime_text_contains is the one-shot form
 *   and mime_text_search ties walk and matcher together.
 *
 * Choices:
 * - Charsets: us-ascii, utf-8 and unknown or unusable names are read as
 *   UTF-8 where the bytes are valid UTF-8 and as Latin-1 byte by byte
 *   where they are not, so 8-bit text in a mislabelled part is still
 *   found. Any other name is given to iconv_open (after dropping
 *   characters outside [A-Za-z0-9._:+-]); bytes it rejects become U+FFFD.
 * - A part without Content-Type is text/plain (RFC 2045 §5.2); an unknown
 *   transfer encoding is read as it is.
 * - Case folding: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 *   capitals map to their small letters (a fold table, not the locale).
 */
#ifndef REFIMAPD_MIME_TEXT_H
#define REFIMAPD_MIME_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/compat.h"
#include "store.h"

/* Bytes of a text part read from the store per call. */
#define MIME_TEXT_CHUNK	((size_t)64 * 1024)

/*
 * Appends the header value v[0..n) to out with its RFC 2047 encoded words
 * (B and Q, any charset iconv knows; "charset*lang" accepted) decoded to
 * UTF-8. White space between two adjacent encoded words is dropped (RFC
 * 2047 §6.2) and their bytes are joined before conversion when they share
 * a charset, so a character split between words survives. Malformed
 * words are copied as they are. Other bytes are copied unchanged.
 * Returns 0, or -1 when out's maximum was hit.
 */
int mime_text_decode_header(const uint8_t *v, size_t n, struct buf *out)
    ATTR_WUR;

/*
 * Receives decoded UTF-8 text, in chunks that may split anywhere (even
 * inside a character). Returns 0 to go on, nonzero to stop the walk.
 */
typedef int mime_text_cb(void *ctx, const uint8_t *p, size_t n);

/*
 * Reads bytes [off, off + n) of the message, appending them to out (like
 * store_body_read). Lets the walk run on a store or on memory.
 */
typedef enum store_err mime_text_read_fn(void *rctx, uint64_t off, size_t n,
    struct buf *out);

/*
 * Walks the message whose MIME blob (store/mime.h) is blob[0..bloblen):
 * when headers_too, first the top-level header, unfolded and with encoded
 * words decoded; then every "text" leaf in part order (RFC 3501 §6.4.5),
 * each ended by a "\n" so words of two parts do not join, and the header
 * of every message in a message/rfc822 part (decoded the same way) where
 * that part starts. Reads with rd
 * at most chunk bytes at a time. Returns STORE_OK (also when cb stopped
 * the walk), STORE_ERR_IO for a corrupt blob, or rd's error.
 */
enum store_err mime_text_walk_reader(const uint8_t *blob, size_t bloblen,
    bool headers_too, mime_text_read_fn *rd, void *rctx, size_t chunk,
    mime_text_cb *cb, void *ctx) ATTR_WUR;

/* mime_text_walk_reader on the stored message m (its body_id), reading
 * MIME_TEXT_CHUNK bytes at a time with store_body_read. */
enum store_err mime_text_walk(struct store *st, const struct store_msg *m,
    const uint8_t *blob, size_t bloblen, bool headers_too, mime_text_cb *cb,
    void *ctx) ATTR_WUR;

/* A streaming case-insensitive matcher; fields are private. */
struct mime_text_match {
	uint32_t *pat;		/* the needle, folded code points */
	size_t *fail;		/* KMP failure function */
	size_t npat;
	size_t q;		/* code points of pat matched so far */
	uint8_t part[4];	/* an incomplete UTF-8 sequence carried over */
	size_t npart;
	bool found;
};

/* Prepares m for the UTF-8 needle[0..n) (an empty needle matches at
 * once). Release with mime_text_match_free. */
void mime_text_match_init(struct mime_text_match *m, const uint8_t *needle,
    size_t n);
/* Feeds text; returns true once the needle has been seen (then stays
 * true). */
bool mime_text_match_feed(struct mime_text_match *m, const uint8_t *p,
    size_t n);
void mime_text_match_free(struct mime_text_match *m);

/* True if the UTF-8 text hay[0..hn) contains needle[0..nn), ignoring case
 * as described above. */
bool mime_text_contains(const uint8_t *hay, size_t hn, const uint8_t *needle,
    size_t nn);

/*
 * SEARCH helper: *found_r = whether the decoded text of m (headers too if
 * headers_too) contains needle. Stops reading at the first match.
 */
enum store_err mime_text_search(struct store *st, const struct store_msg *m,
    const uint8_t *blob, size_t bloblen, bool headers_too,
    const uint8_t *needle, size_t nn, bool *found_r) ATTR_WUR;

/* The case fold used by the matcher (exposed for tests). */
uint32_t mime_text_fold(uint32_t cp);

#endif
