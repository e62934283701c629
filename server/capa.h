/*
 * capa.h: capability profiles. The extensions refimapd can offer, as a
 * bitmask with names, and the `capabilities` config value (or
 * --capabilities) that removes some of them, so that a client can test its
 * fallbacks against a server that knows less (down to plain IMAP4rev1).
 *
 * A removed extension is gone both ways: CAPABILITY no longer lists it,
 * and its commands, arguments and response codes behave as in a server
 * that never heard of it (an unknown command gets the same BAD as any
 * other unknown command).
 *
 * The value is either a list of extensions to remove, each with a leading
 * '-' ("-QRESYNC -CONDSTORE"), or the whole list of extensions to keep
 * ("IMAP4rev1 UIDPLUS IDLE"; IMAP4rev1 itself is always there and may be
 * named or not). Names are case-insensitive, separated by spaces or
 * commas; the two forms cannot be mixed. Removing an extension also
 * removes those that need it (QRESYNC needs CONDSTORE and ENABLE); a kept
 * list that names QRESYNC without both is an error.
 */
#ifndef REFIMAPD_CAPA_H
#define REFIMAPD_CAPA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/compat.h"

#define CAPA_LITERALPLUS	(1u << 0)	/* RFC 7888 */
#define CAPA_ID			(1u << 1)	/* RFC 2971 */
#define CAPA_IDLE		(1u << 2)	/* RFC 2177 */
#define CAPA_NAMESPACE		(1u << 3)	/* RFC 2342 */
#define CAPA_CHILDREN		(1u << 4)	/* RFC 3348 */
#define CAPA_UNSELECT		(1u << 5)	/* RFC 3691 */
#define CAPA_UIDPLUS		(1u << 6)	/* RFC 4315 */
#define CAPA_MOVE		(1u << 7)	/* RFC 6851 */
#define CAPA_ENABLE		(1u << 8)	/* RFC 5161 */
#define CAPA_CONDSTORE		(1u << 9)	/* RFC 7162 */
#define CAPA_QRESYNC		(1u << 10)	/* RFC 7162 */
#define CAPA_ESEARCH		(1u << 11)	/* RFC 4731 */
#define CAPA_SPECIAL_USE	(1u << 12)	/* RFC 6154 */
#define CAPA_SASL_IR		(1u << 13)	/* RFC 4959 */
#define CAPA_ALL		((1u << 14) - 1)

/* True if every bit of bits is in set. */
static inline bool
capa_has(uint32_t set, uint32_t bits)
{
	return (set & bits) == bits;
}

/*
 * Parses a `capabilities` value (see above); NULL or "" is every
 * extension. Returns 0 with *set_r, or -1 with a message in errbuf.
 */
int capa_parse(const char *text, uint32_t *set_r, char *errbuf,
    size_t errlen) ATTR_WUR;

/* The bit of an extension name (case-insensitive), 0 if unknown. */
uint32_t capa_bit(const char *name, size_t len);

/*
 * Writes "IMAP4rev1" and the names of the extensions in set, space
 * separated, in the order CAPABILITY lists them; SASL-IR is left out (it
 * belongs with the authentication mechanisms, which the session adds).
 * Returns the length, or -1 if out is too small (out is then "").
 */
int capa_format(uint32_t set, char *out, size_t outlen);

/*
 * Whether the command called name (its UID form when uid) exists with the
 * extensions of set: ID, IDLE, NAMESPACE, UNSELECT, MOVE and ENABLE need
 * their extension, UID EXPUNGE needs UIDPLUS. Commands of RFC 3501 always
 * exist.
 */
bool capa_command(uint32_t set, const char *name, bool uid);

#endif
