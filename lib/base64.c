/*
 * base64.c: RFC 4648 section 4 base64, standard alphabet, padding required.
 *
 * The decoder is strict: the input length must be a multiple of four, '='
 * may only fill the last one or two places of the last group, the unused
 * bits before the padding must be zero (section 3.5), and anything outside
 * the alphabet (including whitespace) is an error. SASL (RFC 4616 via
 * RFC 3501 section 6.2.2) carries passwords this way, so bytes written
 * before an error are wiped.
 */
#include <string.h>

#include "base64.h"

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of an alphabet character, or -1. */
static int
base64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Drops (and wipes) what was added to out past len0. */
static int
base64_fail(struct buf *out, size_t len0)
{
	if (out->len > len0) {
		explicit_bzero(out->data + len0, out->len - len0);
		buf_truncate(out, len0);
	}
	return -1;
}

int
base64_decode(const uint8_t *in, size_t n, struct buf *out)
{
	size_t len0 = out->len, i;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v[4], k, npad = 0;
		uint8_t b[3];
		uint32_t w;

		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=') {
				v[k] = 0;
				npad++;
				continue;
			}
			/* Data after padding. */
			if (npad > 0)
				return base64_fail(out, len0);
			if ((v[k] = base64_value(in[i + k])) < 0)
				return base64_fail(out, len0);
		}
		/* Padding only in the last group, at most two. */
		if (npad > 2 || (npad > 0 && i + 4 != n))
			return base64_fail(out, len0);
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Non-zero bits that the padding leaves unused. */
		if ((npad == 1 && (w & 0xff) != 0) ||
		    (npad == 2 && (w & 0xffff) != 0))
			return base64_fail(out, len0);
		b[0] = (uint8_t)(w >> 16);
		b[1] = (uint8_t)(w >> 8);
		b[2] = (uint8_t)w;
		if (buf_add(out, b, (size_t)(3 - npad)) < 0) {
			explicit_bzero(b, sizeof(b));
			return base64_fail(out, len0);
		}
		explicit_bzero(b, sizeof(b));
	}
	return 0;
}

int
base64_encode(const uint8_t *in, size_t n, struct buf *out)
{
	size_t len0 = out->len, i;
	char q[4];

	if (n / 3 > (SIZE_MAX - 4) / 4)
		return -1;
	for (i = 0; i < n; i += 3) {
		size_t left = n - i;
		uint32_t w = (uint32_t)in[i] << 16;

		if (left > 1)
			w |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			w |= in[i + 2];
		q[0] = base64_alphabet[(w >> 18) & 63];
		q[1] = base64_alphabet[(w >> 12) & 63];
		q[2] = left > 1 ? base64_alphabet[(w >> 6) & 63] : '=';
		q[3] = left > 2 ? base64_alphabet[w & 63] : '=';
		if (buf_add(out, q, sizeof(q)) < 0) {
			buf_truncate(out, len0);
			return -1;
		}
	}
	return 0;
}
