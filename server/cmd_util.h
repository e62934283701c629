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

#endif
