/*
 * cmd_util.h: what command handlers share.
 */
#ifndef REFIMAPD_CMD_UTIL_H
#define REFIMAPD_CMD_UTIL_H

#include <stdbool.h>

#include "../store/store.h"
#include "args.h"
#include "mboxname.h"
#include "session.h"

/* Answers a failed store call (RFC 5530 codes); STORE_ERR_IO is logged with
 * a reference that the client's NO [SERVERBUG] repeats. */
void cmd_store_error(struct session *s, enum store_err e);
/* True if every argument was read, else a BAD. */
bool cmd_args_end(struct session *s, struct args *a);
/* BAD "Invalid arguments: expected WHAT". */
void cmd_bad_args(struct session *s, const char *what);

/*
 * Reads a mailbox name argument into name (STORE_NAME_MAX + 1 bytes).
 * On false the client has been answered (BAD for a missing argument, NO
 * [CANNOT] for an invalid name).
 */
bool cmd_mailbox_arg(struct session *s, struct args *a,
    enum mboxname_use use, char *name);

/*
 * Reports what other sessions (or deliveries) changed in the selected
 * mailbox since the last report: EXPUNGE (with sequence renumbering),
 * FETCH FLAGS and EXISTS (RFC 3501 §7.3.1, §7.4.1, §7.4.2). Expunges are
 * held back when allow_expunge is false (during FETCH, STORE, SEARCH).
 * Does nothing outside the selected state.
 */
void select_sync(struct session *s, bool allow_expunge);
/* While idling: select_sync if the selected mailbox changed, at the cost
 * of one mailbox record read when it did not. */
void select_sync_if_changed(struct session *s);
/* True if the message is \Recent in this session (RFC 3501 §2.3.2). */
bool select_is_recent(const struct session *s, uint32_t uid);
/* Notes a change this session made and has reported itself (STORE, the
 * \Seen of FETCH), so that select_sync does not report it again. */
void select_note_own(struct session *s, uint32_t uid, uint64_t modseq);
/* Writes the FLAGS list of a message "(\Seen $Work)"; keyword names are
 * looked up once per command and cached in *kw (free with
 * select_keywords_free). */
void select_write_flags(struct session *s, const struct store_msg *m,
    char ***kw);
void select_keywords_free(char ***kw);
/* Removes the message at sequence number seq from the session's map and
 * sends "* seq EXPUNGE". */
void select_expunged(struct session *s, uint32_t seq);

#endif
