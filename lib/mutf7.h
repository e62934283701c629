/*
 * mutf7.h: modified UTF-7 mailbox names (RFC 3501 §5.1.3).
 */
#ifndef REFIMAPD_MUTF7_H
#define REFIMAPD_MUTF7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * True if s[0..n) is valid modified UTF-7: printable US-ASCII (0x20-0x7e)
 * with '&' starting either "&-" or a shift sequence of modified base64
 * ("A-Za-z0-9+,") closed by '-', which decodes to UTF-16 with no unpaired
 * surrogates, no leftover bits, no encoded printable ASCII, and no two
 * shift sequences back to back. *why_r (may be NULL) names the problem.
 */
bool mutf7_valid(const uint8_t *s, size_t n, const char **why_r);

#endif
