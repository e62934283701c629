/*
 * cmd.c: the command table (RFC 3501 §6) and the one place where store
 * errors become IMAP responses (RFC 5530 response codes).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "cmd.h"
#include "cmd_util.h"
#include "resp.h"

#define ANY	(SESSION_NOTAUTH | SESSION_AUTH | SESSION_SELECTED)
#define NOAUTH	SESSION_NOTAUTH
#define AUTHED	(SESSION_AUTH | SESSION_SELECTED)
#define SEL	SESSION_SELECTED

/* Sorted by name for bsearch. */
static const struct cmd_def cmd_table[] = {
	{ "APPEND", AUTHED, 0, cmd_append, cmd_append_literal },
	{ "AUTHENTICATE", NOAUTH, 0, cmd_authenticate, NULL },
	{ "CAPABILITY", ANY, CMD_F_NOSTORE, cmd_capability, NULL },
	{ "CHECK", SEL, 0, cmd_check, NULL },
	{ "CLOSE", SEL, CMD_F_NOSYNC, cmd_close, NULL },
	{ "COPY", SEL, CMD_F_UID | CMD_F_SEQ, cmd_copy, NULL },
	{ "CREATE", AUTHED, 0, cmd_create, NULL },
	{ "DELETE", AUTHED, 0, cmd_delete, NULL },
	{ "ENABLE", SESSION_AUTH, 0, cmd_enable, NULL },
	{ "EXAMINE", AUTHED, CMD_F_NOSYNC, cmd_examine, NULL },
	{ "EXPUNGE", SEL, CMD_F_UID, cmd_expunge, NULL },
	{ "FETCH", SEL, CMD_F_UID | CMD_F_SEQ, cmd_fetch, NULL },
	{ "ID", ANY, CMD_F_NOSTORE, cmd_id, NULL },
	{ "IDLE", AUTHED, 0, cmd_idle, NULL },
	{ "LIST", AUTHED, 0, cmd_list, NULL },
	{ "LOGIN", NOAUTH, 0, cmd_login, NULL },
	{ "LOGOUT", ANY, CMD_F_NOSYNC | CMD_F_NOSTORE, cmd_logout,
	    NULL },
	{ "LSUB", AUTHED, 0, cmd_lsub, NULL },
	{ "MOVE", SEL, CMD_F_UID | CMD_F_SEQ, cmd_move, NULL },
	{ "NAMESPACE", AUTHED, CMD_F_NOSTORE, cmd_namespace, NULL },
	{ "NOOP", ANY, CMD_F_NOSTORE, cmd_noop, NULL },
	{ "RENAME", AUTHED, 0, cmd_rename, NULL },
	{ "SEARCH", SEL, CMD_F_UID | CMD_F_SEQ | CMD_F_NOSYNC, cmd_search,
	    NULL },
	{ "SELECT", AUTHED, CMD_F_NOSYNC, cmd_select, NULL },
	{ "STARTTLS", NOAUTH, 0, cmd_starttls, NULL },
	{ "STATUS", AUTHED, 0, cmd_status, NULL },
	{ "STORE", SEL, CMD_F_UID | CMD_F_SEQ, cmd_store, NULL },
	{ "SUBSCRIBE", AUTHED, 0, cmd_subscribe, NULL },
	{ "UNSELECT", SEL, CMD_F_NOSYNC, cmd_unselect, NULL },
	{ "UNSUBSCRIBE", AUTHED, 0, cmd_unsubscribe, NULL },
};

const struct cmd_def *
cmd_lookup(const uint8_t *name, size_t len)
{
	size_t lo = 0, hi = N_ELEMENTS(cmd_table);
	char key[16];

	if (len == 0 || len >= sizeof(key))
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcasecmp(key, cmd_table[mid].name);

		if (c == 0)
			return &cmd_table[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void
cmd_store_error(struct session *s, enum store_err e)
{
	static unsigned refno;

	switch (e) {
	case STORE_OK:
		resp_ok(s, "Completed");
		return;
	case STORE_ERR_NOTFOUND:
		resp_no(s, "NONEXISTENT", "Mailbox does not exist");
		return;
	case STORE_ERR_EXISTS:
		resp_no(s, "ALREADYEXISTS", "Mailbox already exists");
		return;
	case STORE_ERR_HASCHILDREN:
		resp_no(s, "HASCHILDREN", "Mailbox has inferior names");
		return;
	case STORE_ERR_INVALID:
		resp_no(s, "CANNOT", "Operation not permitted on this name");
		return;
	case STORE_ERR_TRYAGAIN:
		resp_no(s, "UNAVAILABLE", "Mail store busy, try again");
		return;
	case STORE_ERR_NOSPACE:
		resp_no(s, "UNAVAILABLE", "Mail store out of space, try "
		    "again later");
		return;
	case STORE_ERR_EXPUNGED:
		resp_no(s, "EXPUNGEISSUED", "Some of the requested messages "
		    "no longer exist");
		return;
	case STORE_ERR_IO:
		break;
	}
	refno++;
	log_msg(LOG_ERR, "internal error ref=%u-%u: %s in %s", s->id, refno,
	    store_strerror(e), s->cmd != NULL ? s->cmd->name : "?");
	resp_no(s, "SERVERBUG", "Internal error (reference %u-%u)", s->id,
	    refno);
}

bool
cmd_args_end(struct session *s, struct args *a)
{
	if (args_end(a))
		return true;
	resp_bad(s, "Unexpected extra arguments");
	session_count_bad(s);
	return false;
}

void
cmd_bad_args(struct session *s, const char *what)
{
	resp_bad(s, "Invalid arguments: expected %s", what);
	session_count_bad(s);
}

bool
cmd_mailbox_arg(struct session *s, struct args *a, enum mboxname_use use,
    char *name)
{
	const uint8_t *p;
	size_t n;
	const char *why;

	if (!args_astring(a, &p, &n)) {
		cmd_bad_args(s, "mailbox name");
		return false;
	}
	if (!mboxname_parse(p, n, use, name, &why)) {
		resp_no(s, "CANNOT", "%s", why);
		return false;
	}
	return true;
}
