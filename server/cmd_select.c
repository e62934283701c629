/*
 * cmd_select.c: choosing a mailbox.
 *   SELECT (RFC 3501 §6.3.1), EXAMINE (§6.3.2): authenticated or selected;
 *   CLOSE (§6.4.2), UNSELECT (RFC 3691), CHECK (§6.4.1): selected only.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "cmd.h"
#include "cmd_util.h"
#include "resp.h"

#define SELECT_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

static void
select_leave(struct session *s)
{
	xfree(&s->selected);
	s->readonly = false;
	s->state = SESSION_AUTH;
}

static void
select_open(struct session *s, struct args *a, bool readonly)
{
	char name[STORE_NAME_MAX + 1];
	struct store_mbox mb;
	enum store_err e;

	/* A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1). */
	select_leave(s);
	if (!cmd_mailbox_arg(s, a, MBOXNAME_EXISTING, name) ||
	    !cmd_args_end(s, a))
		return;
	e = store_mbox_get(s->store, s->user, name, &mb);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		return;
	}
	if (mb.flags & STORE_MBOX_NOSELECT) {
		resp_no(s, "NONEXISTENT", "Mailbox is not selectable");
		return;
	}
	resp_untagged(s, "FLAGS (" SELECT_FLAGS ")");
	if (readonly)
		resp_untagged(s, "OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		resp_untagged(s, "OK [PERMANENTFLAGS (" SELECT_FLAGS " \\*)] "
		    "Flags permitted");
	resp_untagged(s, "%u EXISTS", mb.messages);
	resp_untagged(s, "%u RECENT", mb.recent);
	resp_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", mb.uidvalidity);
	resp_untagged(s, "OK [UIDNEXT %u] Predicted next UID", mb.uidnext);
	s->selected = xstrdup(name);
	s->readonly = readonly;
	s->state = SESSION_SELECTED;
	resp_tagged(s, "OK", readonly ? "READ-ONLY" : "READ-WRITE",
	    "%s completed", readonly ? "EXAMINE" : "SELECT");
}

void
cmd_select(struct session *s, struct args *a)
{
	select_open(s, a, false);
}

void
cmd_examine(struct session *s, struct args *a)
{
	select_open(s, a, true);
}

void
cmd_close(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	select_leave(s);
	resp_ok(s, "CLOSE completed");
}

void
cmd_unselect(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	select_leave(s);
	resp_ok(s, "UNSELECT completed");
}

void
cmd_check(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	resp_ok(s, "CHECK completed");
}
