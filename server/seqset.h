/*
 * seqset.h: sequence sets (RFC 3501 §9 sequence-set) and the messages
 * they address in the selected mailbox.
 */
#ifndef REFIMAPD_SEQSET_H
#define REFIMAPD_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "session.h"

#define SEQSET_STAR	0		/* "*" before it is resolved (0 is no
				   valid number, 4294967295 is) */
#define SEQSET_RANGES_MAX 100000	/* ranges in one set */

struct seqrange {
	uint32_t lo, hi;
};

struct seqset {
	struct seqrange *r;
	size_t n, cap;
};

/*
 * Parses "1", "2:4", "*", "4:*", "1,3:5,9" (no spaces, numbers 1..2^32-1,
 * '*' kept as SEQSET_STAR). Returns false on any syntax error or too many
 * ranges; the set is then empty.
 */
bool seqset_parse(const uint8_t *p, size_t n, struct seqset *set);
void seqset_free(struct seqset *set);
/*
 * Replaces '*' by star, orders each range (4:2 is 2:4), sorts and merges,
 * so that ranges are ascending and disjoint.
 */
void seqset_resolve(struct seqset *set, uint32_t star);
/* True if v lies in the (resolved) set. */
bool seqset_contains(const struct seqset *set, uint32_t v);

/* One addressed message of the selected mailbox. */
struct msgref {
	uint32_t seq;
	uint32_t uid;
};

/*
 * The messages a set addresses, in ascending order, into *refs_r
 * (allocated; free it) and *n_r. With uid, the set holds UIDs: '*' is
 * the highest UID and UIDs that do not exist are skipped (RFC 3501 §6.4.8).
 * Without, sequence numbers: '*' is the last message and a number above
 * the message count makes the set invalid (false, *why_r set).
 */
bool seqset_refs(const struct session *s, struct seqset *set, bool uid,
    struct msgref **refs_r, size_t *n_r, const char **why_r);

/* Writes ascending UIDs as a compact set ("1:3,5") into out. */
int seqset_format(struct buf *out, const uint32_t *uids, size_t n) ATTR_WUR;

#endif
