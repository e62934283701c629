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
#define CMD_F_NOSYNC	0x08u	/* no mailbox updates before it runs
				   (it leaves or replaces the mailbox,
				   or, SEARCH, sends them itself) */
#define CMD_F_NOSTORE	0x10u	/* uses no database of the store: a
				   lazily opened store stays as it is */

typedef void cmd_fn(struct session *s, struct args *a);

/*
 * For commands whose literals stream (APPEND): called when a literal is
 * announced, with the arguments read so far. Returns true to take the
 * literal, after setting s->stream_fn to receive its bytes (the session
 * then sends "+" for a synchronizing literal); false after answering the
 * command (it is then abandoned and the literal's bytes skipped).
 */
typedef bool cmd_literal_fn(struct session *s, struct args *a,
    uint64_t size);

struct cmd_def {
	const char *name;
	unsigned states;	/* enum session_state bits */
	unsigned flags;
	cmd_fn *fn;
	cmd_literal_fn *literal;	/* NULL: literals are collected */
};

/* Finds a command by name (case-insensitive); NULL if unknown. */
const struct cmd_def *cmd_lookup(const uint8_t *name, size_t len);

/* Handlers, by family. */
cmd_fn cmd_capability, cmd_noop, cmd_logout, cmd_id, cmd_idle;	/* cmd_any.c */
cmd_fn cmd_login, cmd_authenticate;				/* cmd_auth.c */
cmd_fn cmd_starttls;						/* cmd_tls.c */
cmd_fn cmd_create, cmd_delete, cmd_rename, cmd_subscribe,	/* cmd_mailbox.c */
    cmd_unsubscribe, cmd_status, cmd_namespace;
cmd_fn cmd_list, cmd_lsub;					/* cmd_list.c */
cmd_fn cmd_select, cmd_examine, cmd_close, cmd_unselect, cmd_check; /* cmd_select.c */
cmd_fn cmd_append;						/* cmd_append.c */
cmd_fn cmd_fetch;						/* cmd_fetch.c */
cmd_fn cmd_store, cmd_copy, cmd_move, cmd_expunge;		/* cmd_store.c */
cmd_fn cmd_search;						/* cmd_search.c */
cmd_fn cmd_enable;						/* cmd_resync.c */
cmd_literal_fn cmd_append_literal;

#endif
