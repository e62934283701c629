/*
 * fault.c: refimapctl's verbs for client developers: the sessions that
 * are running (status) and faults injected into them while they run.
 *
 *   status                               the logged-in sessions
 *   fault uidvalidity USER MAILBOX       new UIDVALIDITY, UIDs from 1
 *   fault disconnect USER                drop the user's connections
 *   fault bye USER                       BYE to the user's sessions
 *   fault delay USER MS                  every response waits MS
 *   fault no USER N [CODE]               the next N commands get NO
 *   fault clear USER                     no more delay or NO
 *   expunge USER MAILBOX UIDSET          as if another session expunged
 *   flag USER MAILBOX UIDSET OP FLAGS    as if another session stored
 *   reset USER                           empty the user's mailboxes
 *
 * Only the owner of the data directory (or root) may use them; they work
 * on the files under DATA_DIR/run (lib/registry.h) and the store, never
 * over IMAP. Store changes reach sessions the way any other session's
 * changes do (at their next command, or within a second while they
 * IDLE); session faults are written to the user's fault file and the
 * user's sessions are signalled, so they act at once when waiting.
 */
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../lib/num.h"
#include "../lib/registry.h"
#include "../lib/xalloc.h"
#include "../store/fault.h"
#include "ctl.h"

/* ---- common checks ---- */

/* EX_NOPERM unless we run as the data directory's owner or as root. */
static int
ctl_fault_owner(const struct ctl *ctl)
{
	struct stat sb;

	if (stat(ctl->data_dir, &sb) < 0) {
		ctl_err("cannot use %s: %s", ctl->data_dir, strerror(errno));
		return EX_CONFIG;
	}
	if (geteuid() != 0 && geteuid() != sb.st_uid) {
		ctl_err("only the owner of %s (or root) may do that",
		    ctl->data_dir);
		return EX_NOPERM;
	}
	return ctl_act_as_owner(ctl);
}

/* Owner, valid user name, and a user that exists. */
static int
ctl_fault_user(const struct ctl *ctl, const char *user)
{
	bool found = false;
	int ret;

	if ((ret = ctl_fault_owner(ctl)) != 0 ||
	    (ret = ctl_check_name(user)) != 0 ||
	    (ret = ctl_user_exists(ctl, user, &found)) != 0)
		return ret;
	if (!found) {
		ctl_err("no such user: %s", user);
		return EX_NOUSER;
	}
	return 0;
}

/* "inbox" in any case is INBOX (RFC 3501 §5.1). */
static const char *
ctl_fault_mailbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
}

static int
ctl_fault_store_err(enum store_err e, const char *what, const char *user,
    const char *mailbox)
{
	char esc[128];

	if (e == STORE_ERR_NOTFOUND) {
		ctl_err("%s: %s has no mailbox \"%s\"", what, user,
		    ctl_esc(mailbox, esc, sizeof(esc)));
		return EX_DATAERR;
	}
	ctl_err("%s: %s", what, store_strerror(e));
	return ctl_store_exit(e);
}

/* ---- the registry ---- */

struct ctl_signal_ctx {
	const struct ctl *ctl;
	const char *user;
	const char *action;	/* NULL: only re-read the faults */
	unsigned n;
};

static int
ctl_signal_cb(void *ctx, const struct registry_entry *e)
{
	struct ctl_signal_ctx *c = ctx;

	if (strcmp(e->user, c->user) != 0)
		return 0;
	if (c->action != NULL &&
	    registry_action_put(c->ctl->data_dir, e->pid, c->action) < 0) {
		ctl_err("cannot write the order for session %ld: %s",
		    (long)e->pid, strerror(errno));
		return 0;
	}
	if (kill(e->pid, REGISTRY_SIGNAL) == 0)
		c->n++;
	return 0;
}

/* Signals the user's sessions; *n_r (may be NULL) gets how many. */
static int
ctl_fault_signal(const struct ctl *ctl, const char *user, const char *action,
    unsigned *n_r)
{
	struct ctl_signal_ctx c = { ctl, user, action, 0 };

	if (registry_list(ctl->data_dir, ctl_signal_cb, &c) < 0) {
		ctl_err("cannot read %s/run/sessions: %s", ctl->data_dir,
		    strerror(errno));
		return EX_IOERR;
	}
	if (n_r != NULL)
		*n_r = c.n;
	return 0;
}

static int
ctl_status_cb(void *ctx, const struct registry_entry *e)
{
	time_t now = *(time_t *)ctx;
	long idle = now > e->last ? (long)(now - e->last) : 0;

	printf("%-8ld %-16s %-16s %-14s %6ld %s\n", (long)e->pid, e->user,
	    e->peer, e->state, idle, e->mailbox[0] != '\0' ? e->mailbox :
	    "-");
	return 0;
}

int
ctl_status(struct ctl *ctl, int argc, char **argv)
{
	time_t now = time(NULL);
	int ret;

	if ((ret = ctl_fault_owner(ctl)) != 0)
		return ret;
	printf("%-8s %-16s %-16s %-14s %6s %s\n", "PID", "USER", "PEER",
	    "STATE", "IDLE", "MAILBOX");
	if (registry_list(ctl->data_dir, ctl_status_cb, &now) < 0) {
		ctl_err("cannot read %s/run/sessions: %s", ctl->data_dir,
		    strerror(errno));
		return EX_IOERR;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_err("cannot write: %s", strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

/* ---- session faults ---- */

struct ctl_fault_set {
	bool clear;
	bool set_delay;
	unsigned delay_ms;
	bool set_no;
	unsigned no;
	const char *code;
};

static bool
ctl_fault_set_fn(void *ctx, struct registry_fault *f)
{
	const struct ctl_fault_set *c = ctx;

	if (c->clear)
		memset(f, 0, sizeof(*f));
	if (c->set_delay)
		f->delay_ms = c->delay_ms;
	if (c->set_no) {
		f->no = c->no;
		(void)snprintf(f->code, sizeof(f->code), "%s", c->code);
	}
	return true;
}

static int
ctl_fault_apply(struct ctl *ctl, const char *user,
    const struct ctl_fault_set *c)
{
	int ret;

	if ((ret = ctl_fault_user(ctl, user)) != 0)
		return ret;
	if (registry_mkdirs(ctl->data_dir) < 0 ||
	    registry_fault_update(ctl->data_dir, user, ctl_fault_set_fn,
	    (void *)c) < 0) {
		ctl_err("cannot write the faults of %s: %s", user,
		    strerror(errno));
		return EX_IOERR;
	}
	return ctl_fault_signal(ctl, user, NULL, NULL);
}

int
ctl_fault_delay(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_fault_set c = { .set_delay = true };
	uint32_t ms;

	if (!num_parse_u32_str(argv[1], &ms) || ms > 600000) {
		ctl_err("delay: milliseconds from 0 to 600000 expected");
		return EX_USAGE;
	}
	c.delay_ms = ms;
	return ctl_fault_apply(ctl, argv[0], &c);
}

int
ctl_fault_no(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_fault_set c = { .set_no = true, .code = "UNAVAILABLE" };
	const char *p;
	uint32_t n;

	if (!num_parse_u32_str(argv[1], &n) || n > 1000000) {
		ctl_err("no: a count from 0 to 1000000 expected");
		return EX_USAGE;
	}
	if (argc > 2) {
		c.code = argv[2];
		for (p = c.code; *p != '\0'; p++)
			if (!((*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '-'))
				break;
		if (*p != '\0' || p == c.code ||
		    (size_t)(p - c.code) >= REGISTRY_CODE_MAX) {
			ctl_err("no: CODE is a response code such as "
			    "UNAVAILABLE or SERVERBUG (A-Z, 0-9, -)");
			return EX_USAGE;
		}
	}
	c.no = n;
	return ctl_fault_apply(ctl, argv[0], &c);
}

int
ctl_fault_clear(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_fault_set c = { .clear = true };

	return ctl_fault_apply(ctl, argv[0], &c);
}

static int
ctl_fault_order(struct ctl *ctl, const char *user, const char *action)
{
	int ret;

	if ((ret = ctl_fault_user(ctl, user)) != 0)
		return ret;
	if (registry_mkdirs(ctl->data_dir) < 0) {
		ctl_err("cannot create %s/run: %s", ctl->data_dir,
		    strerror(errno));
		return EX_IOERR;
	}
	return ctl_fault_signal(ctl, user, action, NULL);
}

int
ctl_fault_disconnect(struct ctl *ctl, int argc, char **argv)
{
	return ctl_fault_order(ctl, argv[0], "disconnect");
}

int
ctl_fault_bye(struct ctl *ctl, int argc, char **argv)
{
	return ctl_fault_order(ctl, argv[0], "bye");
}

/* ---- store faults ---- */

int
ctl_fault_uidvalidity(struct ctl *ctl, int argc, char **argv)
{
	const char *user = argv[0], *mailbox = ctl_fault_mailbox(argv[1]);
	struct store *st = NULL;
	enum store_err e;
	uint32_t old_uv, new_uv;
	int ret;

	if ((ret = ctl_fault_user(ctl, user)) != 0 ||
	    (ret = ctl_need_store(ctl)) != 0 ||
	    (ret = ctl_store_open(ctl, &st)) != 0)
		return ret;
	e = store_fault_uidvalidity(st, user, mailbox, &old_uv, &new_uv);
	store_close(&st);
	if (e != STORE_OK)
		return ctl_fault_store_err(e, "fault uidvalidity", user,
		    mailbox);
	printf("%u %u\n", old_uv, new_uv);
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

/* A UID set (RFC 3501 sequence-set syntax, "*" = the largest UID). */
struct ctl_uidset {
	struct ctl_uidrange {
		uint32_t lo, hi;	/* 0 = "*" */
	} *r;
	size_t n;
};

static bool
ctl_uid_number(const char *s, size_t len, uint32_t *v)
{
	if (len == 1 && s[0] == '*') {
		*v = 0;
		return true;
	}
	return num_parse_u32((const uint8_t *)s, len, v) && *v != 0;
}

static bool
ctl_uidset_parse(const char *s, struct ctl_uidset *set)
{
	const char *p = s;

	set->r = NULL;
	set->n = 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		const char *colon = memchr(p, ':', len);
		struct ctl_uidrange r;

		if (colon == NULL) {
			if (!ctl_uid_number(p, len, &r.lo))
				goto bad;
			r.hi = r.lo;
		} else if (!ctl_uid_number(p, (size_t)(colon - p), &r.lo) ||
		    !ctl_uid_number(colon + 1, len - (size_t)(colon - p) - 1,
		    &r.hi)) {
			goto bad;
		}
		set->r = xreallocarray(set->r, set->n + 1, sizeof(*set->r));
		set->r[set->n++] = r;
		if (p[len] == '\0')
			return true;
		p += len + 1;
	}
bad:
	xfree(&set->r);
	set->n = 0;
	return false;
}

static bool
ctl_uidset_has(const struct ctl_uidset *set, uint32_t uid, uint32_t max)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		uint32_t lo = set->r[i].lo != 0 ? set->r[i].lo : max;
		uint32_t hi = set->r[i].hi != 0 ? set->r[i].hi : max;

		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		if (uid >= lo && uid <= hi)
			return true;
	}
	return false;
}

struct ctl_uids {
	uint32_t *v;
	size_t n, cap;
};

static int
ctl_uids_cb(void *ctx, const struct store_msg *m)
{
	struct ctl_uids *u = ctx;

	if (u->n == u->cap) {
		u->cap = u->cap == 0 ? 256 : u->cap * 2;
		u->v = xreallocarray(u->v, u->cap, sizeof(*u->v));
	}
	u->v[u->n++] = m->uid;
	return 0;
}

/*
 * The UIDs of the mailbox that are in the set (all of them when set is
 * NULL), ascending, into *u; *mb_r gets the mailbox. A store error code.
 */
static enum store_err
ctl_select_uids(struct store *st, const char *user, const char *mailbox,
    const struct ctl_uidset *set, struct store_mbox *mb_r,
    struct ctl_uids *u)
{
	enum store_err e;
	size_t i, j;

	memset(u, 0, sizeof(*u));
	if ((e = store_mbox_get(st, user, mailbox, mb_r)) != STORE_OK)
		return e;
	if ((mb_r->flags & STORE_MBOX_NOSELECT) != 0)
		return STORE_ERR_NOTFOUND;
	if ((e = store_msg_list(st, user, mailbox, mb_r->id, 1, ctl_uids_cb,
	    u)) != STORE_OK)
		return e;
	if (set == NULL || u->n == 0)
		return STORE_OK;
	for (i = j = 0; i < u->n; i++)
		if (ctl_uidset_has(set, u->v[i], u->v[u->n - 1]))
			u->v[j++] = u->v[i];
	u->n = j;
	return STORE_OK;
}

/* Marks the messages \Deleted and expunges them (both in the store's
 * change log, so sessions report EXPUNGE or VANISHED). */
static enum store_err
ctl_remove_uids(struct store *st, const char *user, const char *mailbox,
    uint32_t mbox_id, const struct ctl_uids *u)
{
	enum store_err e;

	if (u->n == 0)
		return STORE_OK;
	e = store_msg_set_flags(st, user, mailbox, mbox_id, u->v, u->n,
	    STORE_FLAGS_ADD, STORE_FLAG_DELETED, 0, 0, NULL, NULL);
	if (e == STORE_OK)
		e = store_msg_expunge(st, user, mailbox, mbox_id, u->v, u->n,
		    NULL, NULL);
	return e;
}

int
ctl_expunge(struct ctl *ctl, int argc, char **argv)
{
	const char *user = argv[0], *mailbox = ctl_fault_mailbox(argv[1]);
	struct ctl_uidset set;
	struct store *st = NULL;
	struct store_mbox mb;
	struct ctl_uids u;
	enum store_err e;
	int ret;

	if (!ctl_uidset_parse(argv[2], &set)) {
		ctl_err("expunge: bad UID set (e.g. 1,3:5,7:*)");
		return EX_USAGE;
	}
	if ((ret = ctl_fault_user(ctl, user)) != 0 ||
	    (ret = ctl_need_store(ctl)) != 0 ||
	    (ret = ctl_store_open(ctl, &st)) != 0) {
		xfree(&set.r);
		return ret;
	}
	e = ctl_select_uids(st, user, mailbox, &set, &mb, &u);
	if (e == STORE_OK)
		e = ctl_remove_uids(st, user, mailbox, mb.id, &u);
	store_close(&st);
	xfree(&set.r);
	xfree(&u.v);
	if (e != STORE_OK)
		return ctl_fault_store_err(e, "expunge", user, mailbox);
	return 0;
}

static const struct {
	const char *name;
	uint32_t bit;
} ctl_system_flags[] = {
	{ "\\Seen", STORE_FLAG_SEEN },
	{ "\\Answered", STORE_FLAG_ANSWERED },
	{ "\\Flagged", STORE_FLAG_FLAGGED },
	{ "\\Deleted", STORE_FLAG_DELETED },
	{ "\\Draft", STORE_FLAG_DRAFT },
};

/* A keyword is an atom (RFC 3501 §9 flag-keyword). */
static bool
ctl_keyword_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > STORE_KEYWORD_LEN_MAX)
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

int
ctl_flag(struct ctl *ctl, int argc, char **argv)
{
	const char *user = argv[0], *mailbox = ctl_fault_mailbox(argv[1]);
	enum store_flag_op op;
	struct ctl_uidset set;
	struct store *st = NULL;
	struct store_mbox mb;
	struct ctl_uids u;
	enum store_err e = STORE_OK;
	uint32_t flags = 0;
	uint64_t keywords = 0;
	int i, ret;

	if (strcasecmp(argv[3], "+FLAGS") == 0 ||
	    strcasecmp(argv[3], "+FLAGS.SILENT") == 0)
		op = STORE_FLAGS_ADD;
	else if (strcasecmp(argv[3], "-FLAGS") == 0 ||
	    strcasecmp(argv[3], "-FLAGS.SILENT") == 0)
		op = STORE_FLAGS_REMOVE;
	else if (strcasecmp(argv[3], "FLAGS") == 0 ||
	    strcasecmp(argv[3], "FLAGS.SILENT") == 0)
		op = STORE_FLAGS_SET;
	else {
		ctl_err("flag: +FLAGS, -FLAGS or FLAGS expected");
		return EX_USAGE;
	}
	if (!ctl_uidset_parse(argv[2], &set)) {
		ctl_err("flag: bad UID set (e.g. 1,3:5,7:*)");
		return EX_USAGE;
	}
	if ((ret = ctl_fault_user(ctl, user)) != 0 ||
	    (ret = ctl_need_store(ctl)) != 0 ||
	    (ret = ctl_store_open(ctl, &st)) != 0) {
		xfree(&set.r);
		return ret;
	}
	/* The flags: the remaining words, with or without parentheses. */
	e = ctl_select_uids(st, user, mailbox, &set, &mb, &u);
	for (i = 4; e == STORE_OK && ret == 0 && i < argc; i++) {
		const char *p = argv[i];

		while (e == STORE_OK && ret == 0 && *p != '\0') {
			char w[STORE_KEYWORD_LEN_MAX + 2];
			size_t n = strcspn(p, " \t()"), k;
			unsigned index;

			if (n == 0) {
				p++;
				continue;
			}
			if (n >= sizeof(w)) {
				ctl_err("flag: flag too long");
				ret = EX_USAGE;
				break;
			}
			memcpy(w, p, n);
			w[n] = '\0';
			p += n;
			for (k = 0; k < N_ELEMENTS(ctl_system_flags); k++)
				if (strcasecmp(w,
				    ctl_system_flags[k].name) == 0)
					break;
			if (k < N_ELEMENTS(ctl_system_flags)) {
				flags |= ctl_system_flags[k].bit;
				continue;
			}
			if (!ctl_keyword_ok(w)) {
				ctl_err("flag: not a flag: %s", w);
				ret = EX_USAGE;
				break;
			}
			e = store_keyword_index(st, user, mailbox, mb.id, w,
			    op != STORE_FLAGS_REMOVE, &index);
			if (e == STORE_ERR_NOTFOUND &&
			    op == STORE_FLAGS_REMOVE) {
				e = STORE_OK;	/* nobody has it */
				continue;
			}
			if (e == STORE_OK)
				keywords |= (uint64_t)1 << index;
		}
	}
	if (ret == 0 && e == STORE_OK && u.n > 0)
		e = store_msg_set_flags(st, user, mailbox, mb.id, u.v, u.n, op,
		    flags, keywords, 0, NULL, NULL);
	store_close(&st);
	xfree(&set.r);
	xfree(&u.v);
	if (ret != 0)
		return ret;
	if (e != STORE_OK)
		return ctl_fault_store_err(e, "flag", user, mailbox);
	return 0;
}

/* ---- reset ---- */

struct ctl_names {
	char **v;
	size_t n;
};

static void
ctl_names_add(struct ctl_names *l, const char *name)
{
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrdup(name);
}

static void
ctl_names_free(struct ctl_names *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	xfree(&l->v);
	l->n = 0;
}

static int
ctl_reset_mbox_cb(void *ctx, const char *name, const struct store_mbox *mb)
{
	if (strcmp(name, "INBOX") != 0)
		ctl_names_add(ctx, name);
	return 0;
}

static int
ctl_reset_sub_cb(void *ctx, const char *name)
{
	if (strcmp(name, "INBOX") != 0)
		ctl_names_add(ctx, name);
	return 0;
}

int
ctl_reset(struct ctl *ctl, int argc, char **argv)
{
	const char *user = argv[0];
	struct ctl_names mboxes = { NULL, 0 }, subs = { NULL, 0 };
	struct store *st = NULL;
	struct store_mbox mb;
	struct ctl_uids u = { NULL, 0, 0 };
	enum store_err e;
	size_t i;
	int ret;

	if ((ret = ctl_fault_user(ctl, user)) != 0 ||
	    (ret = ctl_need_store(ctl)) != 0 ||
	    (ret = ctl_store_open(ctl, &st)) != 0)
		return ret;
	e = store_user_init(st, user);
	if (e == STORE_OK)
		e = store_mbox_list(st, user, "", ctl_reset_mbox_cb, &mboxes);
	/* Byte order puts "a" before "a/b": from the end, inferiors go
	 * before their superiors and no placeholder is left. */
	for (i = mboxes.n; e == STORE_OK && i > 0; i--) {
		e = store_mbox_delete(st, user, mboxes.v[i - 1]);
		if (e == STORE_ERR_NOTFOUND)
			e = STORE_OK;
	}
	if (e == STORE_OK)
		e = store_sub_list(st, user, ctl_reset_sub_cb, &subs);
	for (i = 0; e == STORE_OK && i < subs.n; i++)
		e = store_sub_set(st, user, subs.v[i], false);
	if (e == STORE_OK)
		e = ctl_select_uids(st, user, "INBOX", NULL, &mb, &u);
	if (e == STORE_OK)
		e = ctl_remove_uids(st, user, "INBOX", mb.id, &u);
	store_close(&st);
	ctl_names_free(&mboxes);
	ctl_names_free(&subs);
	xfree(&u.v);
	if (e != STORE_OK)
		return ctl_fault_store_err(e, "reset", user, "INBOX");
	return 0;
}
