/*
 * cmd_append.c: APPEND (RFC 3501 §6.3.11), in the authenticated and
 * selected states, with LITERAL+ (RFC 7888).
 *
 * The message streams from the parser into the store: the mailbox, flags
 * and date are checked when the literal is announced, before the "+" (a
 * missing mailbox gets NO [TRYCREATE] and no data is read), the bytes go
 * to store_append_data as they arrive, and the store commits at the end of
 * the command line. A literal over literal_max is refused by the parser
 * with NO [TOOBIG] before any of it is read.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "datetime.h"
#include "flags.h"
#include "resp.h"

struct append_state {
	struct store_append *ap;
	enum store_err err;	/* the first failure while streaming */
};

static void
append_state_free(void *p)
{
	struct append_state *as = p;

	store_append_free(&as->ap);
	free(as);
}

static void
append_data(struct session *s, const uint8_t *p, size_t n)
{
	struct append_state *as = s->cmd_state;

	if (as->err == STORE_OK)
		as->err = store_append_data(as->ap, p, n);
}

/* Reads "mailbox [flag-list] [date-time]"; answers and returns false on
 * an error. */
static bool
append_args(struct session *s, struct args *a, char *name,
    struct flags_list *fl, int64_t *date, int32_t *tz, bool *have_date)
{
	const uint8_t *p;
	size_t n;
	const char *why;

	if (!cmd_mailbox_arg(s, a, MBOXNAME_EXISTING, name))
		return false;
	memset(fl, 0, sizeof(*fl));
	if (args_peek_list(a) && !flags_parse_list(a, fl, &why)) {
		resp_bad(s, "Invalid flags: %s", why);
		session_count_bad(s);
		return false;
	}
	*date = 0;
	*tz = 0;
	*have_date = args_string(a, &p, &n);
	if (*have_date && !datetime_parse(p, n, date, tz)) {
		resp_bad(s, "Invalid date-time (want \"dd-Mon-yyyy hh:mm:ss "
		    "+zzzz\")");
		session_count_bad(s);
		return false;
	}
	return true;
}

bool
cmd_append_literal(struct session *s, struct args *a, uint64_t size)
{
	char name[STORE_NAME_MAX + 1];
	struct flags_list fl;
	struct store_mbox mb;
	struct append_state *as;
	int64_t date;
	int32_t tz;
	bool have_date;
	enum store_err e;

	if (!append_args(s, a, name, &fl, &date, &tz, &have_date))
		return false;
	if (!args_end(a)) {
		cmd_bad_args(s, "mailbox, optional flags and date, message "
		    "literal");
		return false;
	}
	e = store_mbox_get(s->store, s->user, name, &mb);
	if (e == STORE_OK && (mb.flags & STORE_MBOX_NOSELECT) != 0)
		e = STORE_ERR_NOTFOUND;
	if (e == STORE_ERR_NOTFOUND) {
		resp_no(s, "TRYCREATE", "Mailbox does not exist");
		return false;
	}
	as = xcalloc(1, sizeof(*as));
	if (e == STORE_OK)
		e = store_append_begin(s->store, size, &as->ap);
	if (e != STORE_OK) {
		append_state_free(as);
		cmd_store_error(s, e);
		return false;
	}
	s->cmd_state = as;
	s->cmd_state_free = append_state_free;
	s->stream_fn = append_data;
	return true;
}

void
cmd_append(struct session *s, struct args *a)
{
	char name[STORE_NAME_MAX + 1];
	struct append_state *as = s->cmd_state;
	struct flags_list fl;
	uint64_t keywords = 0;
	uint32_t uid, uidvalidity;
	int64_t date;
	int32_t tz;
	bool have_date;
	enum store_err e;
	unsigned i, idx;

	if (as == NULL) {
		/* No literal was announced: a quoted message, or none. */
		cmd_bad_args(s, "the message as a literal");
		return;
	}
	if (!append_args(s, a, name, &fl, &date, &tz, &have_date))
		return;
	if (a->i >= a->n || a->v[a->i].type != ARG_STREAMED) {
		cmd_bad_args(s, "the message as a literal");
		return;
	}
	a->i++;
	if (!args_end(a)) {
		resp_bad(s, "One message per APPEND");
		session_count_bad(s);
		return;
	}
	if (as->err != STORE_OK) {
		cmd_store_error(s, as->err);
		return;
	}
	if (!have_date)
		date = (int64_t)time(NULL);
	for (i = 0; i < fl.nkeywords; i++) {
		e = store_keyword_index(s->store, s->user, name, 0,
		    fl.keywords[i], true, &idx);
		if (e == STORE_ERR_INVALID) {
			resp_no(s, "LIMIT", "Too many keywords in this mailbox");
			return;
		}
		if (e != STORE_OK) {
			cmd_store_error(s, e == STORE_ERR_NOTFOUND ?
			    STORE_ERR_NOTFOUND : e);
			return;
		}
		keywords |= (uint64_t)1 << idx;
	}
	e = store_append_commit(as->ap, s->user, name, 0, fl.system, keywords,
	    date, tz, &uid, &uidvalidity);
	if (e == STORE_ERR_NOTFOUND) {
		resp_no(s, "TRYCREATE", "Mailbox does not exist");
		return;
	}
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		return;
	}
	log_msg(LOG_DEBUG, "append uid=%u", uid);
	/* RFC 3501 §6.3.11: a new message in the selected mailbox is
	 * announced at once. */
	if (s->state == SESSION_SELECTED && strcmp(name, s->selected) == 0)
		select_sync(s, false);
	/* RFC 4315: the new message's UID, so an offline client can match
	 * its upload without fetching it back. */
	if (capa_has(s->capa, CAPA_UIDPLUS))
		resp_tagged(s, "OK", NULL, "[APPENDUID %u %u] APPEND "
		    "completed", uidvalidity, uid);
	else
		resp_ok(s, "APPEND completed");
}
