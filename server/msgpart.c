/*
 * msgpart.c: locating the header of a stored message.
 */
#include <string.h>
#include <strings.h>

#include "msgpart.h"

#define MSGPART_CHUNK	16384

size_t
msgpart_header_end(const uint8_t *p, size_t n)
{
	const uint8_t *lf;
	size_t i = 0;

	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;	/* no header at all */
	if (n >= 1 && p[0] == '\n')
		return 1;
	while ((lf = memchr(p + i, '\n', n - i)) != NULL) {
		i = (size_t)(lf - p) + 1;
		/* p[i] starts a line; is it empty? */
		if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n')
			return i + 2;
		if (i < n && p[i] == '\n')
			return i + 1;
	}
	return 0;
}

enum store_err
msgpart_header(struct store *st, const struct store_msg *m, struct buf *out)
{
	size_t start = out->len, end = 0, scanned = 0;
	enum store_err e;

	while (out->len - start < m->size &&
	    out->len - start < MSGPART_HEADER_MAX) {
		size_t before = out->len;

		e = store_body_read(st, m->body_id, out->len - start,
		    MSGPART_CHUNK, out);
		if (e != STORE_OK)
			return e;
		if (out->len == before)
			break;
		/* Rescan from the start of the last line read before, so
		 * that an empty line split across reads is found. */
		while (scanned > 0 && out->data[start + scanned - 1] != '\n')
			scanned--;
		end = msgpart_header_end(out->data + start + scanned,
		    out->len - start - scanned);
		if (end != 0) {
			end += scanned;
			break;
		}
		scanned = out->len - start;
	}
	if (end != 0)
		buf_truncate(out, start + end);
	else if (out->len - start > MSGPART_HEADER_MAX)
		buf_truncate(out, start + MSGPART_HEADER_MAX);
	return STORE_OK;
}

enum store_err
msgpart_header_size(struct store *st, const struct store_msg *m,
    uint64_t *size_r)
{
	struct buf b = BUF_INITIALIZER(MSGPART_HEADER_MAX + MSGPART_CHUNK);
	enum store_err e = msgpart_header(st, m, &b);

	*size_r = b.len;
	buf_free(&b);
	return e;
}

unsigned
msgpart_fields(const uint8_t *hdr, size_t hlen, const char *name,
    msgpart_field_cb *cb, void *ctx)
{
	size_t nlen = strlen(name), i = 0;
	unsigned count = 0;

	while (i < hlen) {
		size_t line = i, end, vstart;

		/* A field starts at a line that is not a continuation. */
		end = i;
		do {
			const uint8_t *lf = memchr(hdr + end, '\n', hlen - end);

			end = lf == NULL ? hlen : (size_t)(lf - hdr) + 1;
		} while (end < hlen && (hdr[end] == ' ' || hdr[end] == '\t'));
		i = end;
		if (end - line < nlen + 1 || hdr[line + nlen] != ':' ||
		    strncasecmp((const char *)hdr + line, name, nlen) != 0)
			continue;
		vstart = line + nlen + 1;
		while (end > vstart && (hdr[end - 1] == '\n' ||
		    hdr[end - 1] == '\r'))
			end--;
		count++;
		if (cb != NULL)
			cb(ctx, hdr + vstart, end - vstart);
	}
	return count;
}
