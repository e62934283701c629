/*
 * cmd_mailbox.c: mailbox management, in the authenticated and selected
 * states (RFC 3501 §6.3):
 *   CREATE (§6.3.3), DELETE (§6.3.4), RENAME (§6.3.5), SUBSCRIBE (§6.3.6),
 *   UNSUBSCRIBE (§6.3.7), STATUS (§6.3.10), NAMESPACE (RFC 2342).
 * LIST and LSUB are in cmd_list.c, SELECT and EXAMINE in cmd_select.c.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "resp.h"
#include "resync.h"

void
cmd_create(struct session *s, struct args *a)
{
	char name[STORE_NAME_MAX + 1];
	enum store_err e;

	if (!cmd_mailbox_arg(s, a, MBOXNAME_NEW, name) || !cmd_args_end(s, a))
		return;
	if (mboxname_is_inbox(name)) {
		resp_no(s, "ALREADYEXISTS", "INBOX always exists");
		return;
	}
	e = store_mbox_create(s->store, s->user, name, 0, NULL);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		return;
	}
	resp_ok(s, "CREATE completed");
}

void
cmd_delete(struct session *s, struct args *a)
{
	char name[STORE_NAME_MAX + 1];
	enum store_err e;

	if (!cmd_mailbox_arg(s, a, MBOXNAME_EXISTING, name) ||
	    !cmd_args_end(s, a))
		return;
	if (mboxname_is_inbox(name)) {
		resp_no(s, "CANNOT", "INBOX cannot be deleted");
		return;
	}
	if (s->selected != NULL && strcmp(s->selected, name) == 0) {
		resp_no(s, "INUSE", "Mailbox is selected; close it first");
		return;
	}
	e = store_mbox_delete(s->store, s->user, name);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		return;
	}
	resp_ok(s, "DELETE completed");
}

void
cmd_rename(struct session *s, struct args *a)
{
	char from[STORE_NAME_MAX + 1], to[STORE_NAME_MAX + 1];
	enum store_err e;

	if (!cmd_mailbox_arg(s, a, MBOXNAME_EXISTING, from) ||
	    !cmd_mailbox_arg(s, a, MBOXNAME_NEW, to) || !cmd_args_end(s, a))
		return;
	if (mboxname_is_inbox(to)) {
		resp_no(s, "ALREADYEXISTS", "INBOX already exists");
		return;
	}
	if (strcmp(from, to) == 0) {
		resp_no(s, "ALREADYEXISTS", "Source and target are the same "
		    "mailbox");
		return;
	}
	e = store_mbox_rename(s->store, s->user, from, to);
	if (e == STORE_ERR_INVALID) {
		resp_no(s, "CANNOT", "Cannot move a mailbox under itself");
		return;
	}
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		return;
	}
	if (s->selected != NULL && strcmp(s->selected, from) == 0) {
		free(s->selected);
		s->selected = xstrdup(to);
	}
	resp_ok(s, "RENAME completed");
}

static void
mailbox_subscribe(struct session *s, struct args *a, bool on)
{
	char name[STORE_NAME_MAX + 1];
	enum store_err e;

	if (!cmd_mailbox_arg(s, a, MBOXNAME_EXISTING, name) ||
	    !cmd_args_end(s, a))
		return;
	e = store_sub_set(s->store, s->user, name, on);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		return;
	}
	resp_ok(s, "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
}

void
cmd_subscribe(struct session *s, struct args *a)
{
	mailbox_subscribe(s, a, true);
}

void
cmd_unsubscribe(struct session *s, struct args *a)
{
	mailbox_subscribe(s, a, false);
}

enum status_item {
	STATUS_MESSAGES,
	STATUS_RECENT,
	STATUS_UIDNEXT,
	STATUS_UIDVALIDITY,
	STATUS_UNSEEN,
	STATUS_HIGHESTMODSEQ,	/* RFC 7162 §3.1.7 */
};

static const char *const status_names[] = {
	"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
	"HIGHESTMODSEQ",
};

#define STATUS_ITEMS_MAX 16

void
cmd_status(struct session *s, struct args *a)
{
	char name[STORE_NAME_MAX + 1];
	enum status_item items[STATUS_ITEMS_MAX];
	struct store_mbox mb;
	enum store_err e;
	size_t nitems = 0, i, k;
	bool want_modseq = false;

	if (!cmd_mailbox_arg(s, a, MBOXNAME_EXISTING, name))
		return;
	if (!args_list_open(a)) {
		cmd_bad_args(s, "a list of status items");
		return;
	}
	while (!args_list_close(a)) {
		for (k = 0; k < N_ELEMENTS(status_names); k++) {
			if (args_word(a, status_names[k]))
				break;
		}
		/* HIGHESTMODSEQ is CONDSTORE's (RFC 7162 §3.1.7). */
		if (k == N_ELEMENTS(status_names) ||
		    (k == STATUS_HIGHESTMODSEQ &&
		    !capa_has(s->capa, CAPA_CONDSTORE))) {
			cmd_bad_args(s, capa_has(s->capa, CAPA_CONDSTORE) ?
			    "MESSAGES, RECENT, UIDNEXT, UIDVALIDITY, UNSEEN or "
			    "HIGHESTMODSEQ" : "MESSAGES, RECENT, UIDNEXT, "
			    "UIDVALIDITY or UNSEEN");
			return;
		}
		if (nitems == STATUS_ITEMS_MAX) {
			cmd_bad_args(s, "fewer status items");
			return;
		}
		items[nitems++] = (enum status_item)k;
		if (k == STATUS_HIGHESTMODSEQ)
			want_modseq = true;
	}
	if (nitems == 0) {
		cmd_bad_args(s, "at least one status item");
		return;
	}
	if (!cmd_args_end(s, a))
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
	if (want_modseq)
		resync_enable_condstore(s);	/* RFC 7162 §3.1 */
	resp_begin(s);
	resp_add(s, "STATUS ");
	resp_add_mailbox(s, name);
	resp_add(s, " (");
	for (i = 0; i < nitems; i++) {
		uint64_t v = 0;

		switch (items[i]) {
		case STATUS_MESSAGES: v = mb.messages; break;
		case STATUS_RECENT: v = mb.recent; break;
		case STATUS_UIDNEXT: v = mb.uidnext; break;
		case STATUS_UIDVALIDITY: v = mb.uidvalidity; break;
		case STATUS_UNSEEN: v = mb.unseen; break;
		case STATUS_HIGHESTMODSEQ: v = mb.highestmodseq; break;
		}
		resp_add(s, "%s%s %llu", i == 0 ? "" : " ",
		    status_names[items[i]], (unsigned long long)v);
	}
	resp_add(s, ")");
	resp_end(s);
	resp_ok(s, "STATUS completed");
}

void
cmd_namespace(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	resp_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	resp_ok(s, "NAMESPACE completed");
}
