/*
 * fault.h: store changes that only fault injection makes (refimapctl
 * fault uidvalidity), for client developers who need a server to do what
 * RFC 3501 allows but real servers do rarely.
 */
#ifndef REFIMAPD_STORE_FAULT_H
#define REFIMAPD_STORE_FAULT_H

#include <stdint.h>

#include "store.h"

/*
 * Gives the mailbox a new UIDVALIDITY (RFC 3501 §2.3.1.1: from the
 * site-wide counter, so larger than any before) and renumbers its
 * messages from UID 1 in their old order, in one transaction. The mailbox
 * also gets a new internal id, so every session that has it selected sees
 * it as gone at its next sync and says BYE; its change log starts afresh
 * (HIGHESTMODSEQ counts the renumbered messages, nothing is expunged under
 * the new UIDVALIDITY). Flags, keywords, INTERNALDATE and bodies are kept;
 * \Recent is not. STORE_ERR_NOTFOUND for a missing or \Noselect mailbox.
 * old_r and new_r (may be NULL) get the old and new UIDVALIDITY.
 */
enum store_err store_fault_uidvalidity(struct store *st, const char *user,
    const char *name, uint32_t *old_r, uint32_t *new_r) ATTR_WUR;

#endif
