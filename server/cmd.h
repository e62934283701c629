/*
 * cmd.h: the command table. One entry per command: its name, the states
 * it is allowed in, its flags, its handler. Each family lives in its own
 * cmd_<family>.c.
 */
#ifndef REFIMAPD_CMD_H
#define REFIMAPD_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "session.h"

/* Flags; RFC 3501 §7.4.1 lives in CMD_F_SEQ. */
#define CMD_F_UID	0x01u	/* has a "UID name" form */
#define CMD_F_SEQ	0x02u	/* uses sequence numbers: no EXPUNGE may be
				   sent before it */
#define CMD_F_UID_ONLY	0x04u	/* only in the UID form (UID EXPUNGE) */

typedef void cmd_fn(struct session *s, struct args *a);

struct cmd_def {
	const char *name;
	unsigned states;	/* enum session_state bits */
	unsigned flags;
	cmd_fn *fn;
};

/* Finds a command by name (case-insensitive); NULL if unknown. */
const struct cmd_def *cmd_lookup(const uint8_t *name, size_t len);

/* Handlers, by family. */
cmd_fn cmd_capability, cmd_noop, cmd_logout, cmd_id;		/* cmd_any.c */
cmd_fn cmd_login, cmd_authenticate;				/* cmd_auth.c */
cmd_fn cmd_create, cmd_delete, cmd_rename, cmd_subscribe,	/* cmd_mailbox.c */
    cmd_unsubscribe, cmd_status, cmd_namespace;
cmd_fn cmd_list, cmd_lsub;					/* cmd_list.c */
cmd_fn cmd_select, cmd_examine, cmd_close, cmd_unselect, cmd_check; /* cmd_select.c */

#endif
