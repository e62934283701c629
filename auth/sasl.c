/*
 * sasl.c: decoding of the SASL PLAIN message (RFC 4616 section 2), after
 * the base64 layer has been removed:
 *
 *	message = [authzid] UTF8NUL authcid UTF8NUL passwd
 *
 * Exactly two NULs; authcid and passwd must not be empty; no part may hold
 * CR or LF (they could never come from an IMAP client honestly and would
 * only serve to forge log or file lines). UTF-8 is not validated here.
 */
#include <stdbool.h>
#include <string.h>

#include "sasl.h"

/*
 * Copies msg[off, off + n) into dst (size dstsize, NUL-terminated).
 * Returns false if it does not fit or holds CR or LF.
 */
static bool
sasl_copy_part(char *dst, size_t dstsize, const uint8_t *src, size_t n)
{
	size_t i;

	if (n >= dstsize)
		return false;
	for (i = 0; i < n; i++) {
		if (src[i] == '\r' || src[i] == '\n')
			return false;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

int
sasl_plain_decode(const uint8_t *msg, size_t len, struct sasl_plain *r,
    const char **error_r)
{
	size_t i, nul[2], nnul = 0;
	size_t zlen, clen, plen;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < len; i++) {
		if (msg[i] != '\0')
			continue;
		if (nnul == 2) {
			*error_r = "too many NUL separators";
			return -1;
		}
		nul[nnul++] = i;
	}
	if (nnul != 2) {
		*error_r = "missing NUL separator";
		return -1;
	}
	zlen = nul[0];
	clen = nul[1] - nul[0] - 1;
	plen = len - nul[1] - 1;
	if (clen == 0) {
		*error_r = "empty authentication identity";
		return -1;
	}
	if (plen == 0) {
		*error_r = "empty password";
		return -1;
	}
	if (!sasl_copy_part(r->authzid, sizeof(r->authzid), msg, zlen)) {
		*error_r = "bad authorization identity";
		goto fail;
	}
	if (!sasl_copy_part(r->authcid, sizeof(r->authcid), msg + nul[0] + 1,
	    clen)) {
		*error_r = "bad authentication identity";
		goto fail;
	}
	if (!sasl_copy_part(r->passwd, sizeof(r->passwd), msg + nul[1] + 1,
	    plen)) {
		*error_r = "bad password";
		goto fail;
	}
	r->passwd_len = plen;
	return 0;
fail:
	sasl_plain_wipe(r);
	return -1;
}

void
sasl_plain_wipe(struct sasl_plain *p)
{
	explicit_bzero(p, sizeof(*p));
}
