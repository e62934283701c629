/*
 * flags.h: message flag lists (RFC 3501 §2.3.2, flag-list in §9) as APPEND
 * and STORE take them.
 */
#ifndef REFIMAPD_FLAGS_H
#define REFIMAPD_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#include "../store/store.h"
#include "args.h"

/* The system flags but \Recent, in the order FETCH FLAGS lists them. */
#define FLAGS_NSYSTEM	5
struct flags_name {
	const char *name;
	uint32_t bit;
};
extern const struct flags_name flags_system[FLAGS_NSYSTEM];

struct flags_list {
	uint32_t system;	/* STORE_FLAG_* */
	const char *keywords[STORE_KEYWORDS_MAX];	/* point into the args */
	unsigned nkeywords;
};

/*
 * Reads "(" [flag *(SP flag)] ")" into fl. System flags are matched
 * case-insensitively; \Recent and unknown \flags are refused, keywords
 * must be atoms of ATOM-CHARs (duplicates are kept once). Returns false
 * with *why_r (our own words) on any error.
 */
bool flags_parse_list(struct args *a, struct flags_list *fl,
    const char **why_r);

#endif
