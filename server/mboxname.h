/*
 * mboxname.h: mailbox name arguments (RFC 3501 §5.1): INBOX folding,
 * modified UTF-7 and hierarchy checks. Names are keys in the store, never
 * paths.
 */
#ifndef REFIMAPD_MBOXNAME_H
#define REFIMAPD_MBOXNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

enum mboxname_use {
	MBOXNAME_EXISTING,	/* SELECT, DELETE, STATUS, RENAME source ... */
	MBOXNAME_NEW,		/* CREATE, RENAME target: stricter */
};

/*
 * Copies the name into out (STORE_NAME_MAX + 1 bytes) as the store keys it:
 * "INBOX" in any case (and an "INBOX/" prefix) becomes "INBOX". For
 * MBOXNAME_NEW a single trailing '/' is dropped (RFC 3501 §6.3.3) and the
 * LIST wildcards '%' '*' are refused. Returns false with *why_r on an
 * empty, overlong or non-modified-UTF-7 name or an empty hierarchy level.
 */
bool mboxname_parse(const uint8_t *p, size_t n, enum mboxname_use use,
    char *out, const char **why_r);

/* True if name is "INBOX". */
bool mboxname_is_inbox(const char *name);

#endif
