/*
 * cmd_list.c: LIST (RFC 3501 §6.3.8) and LSUB (§6.3.9), in the
 * authenticated and selected states, with the CHILDREN attributes
 * (RFC 3348) \HasChildren and \HasNoChildren and the special-use
 * attributes (RFC 6154 §2) \Archive \Drafts \Junk \Sent \Trash.
 *
 * Because SPECIAL-USE is advertised, LIST also takes the extended forms
 * that RFC 6154 §2 defines options for, in the RFC 5258 syntax (RFC 6154
 * §6): "LIST (SPECIAL-USE) ref pattern", a parenthesised list of patterns,
 * and "RETURN (SPECIAL-USE)". Only that much: SPECIAL-USE is the only
 * selection and return option, and LIST-EXTENDED is deliberately not
 * advertised (no SUBSCRIBED, REMOTE, RECURSIVEMATCH, CHILDREN return
 * option), so clients that want more keep to the plain LIST.
 *
 * Wildcards: '*' matches anything, '%' anything but the delimiter. The
 * matcher walks the pattern as a set of states (no backtracking), so its
 * cost is bounded by name length times pattern length whatever the client
 * sends.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/xalloc.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "resp.h"

/* The RFC 6154 §2 attributes a mailbox may carry. */
#define LIST_SPECIAL_USE_FLAGS	(STORE_MBOX_ARCHIVE | STORE_MBOX_DRAFTS | \
	STORE_MBOX_JUNK | STORE_MBOX_SENT | STORE_MBOX_TRASH)

/* The patterns of one LIST, with the reference before each, together. */
#define LIST_PATTERNS_BYTES_MAX	(8 * STORE_NAME_MAX)

struct list_entry {
	char *name;
	uint32_t flags;
};

struct list_ctx {
	struct list_entry *v;
	size_t n, cap;
};

struct list_pattern {
	char *pat;
	size_t len;
	bool *cur, *next;	/* NFA state sets, len + 1 each */
};

static void
list_pattern_init(struct list_pattern *lp, const uint8_t *ref, size_t refn,
    const uint8_t *pat, size_t patn)
{
	size_t n = 0;

	if (refn > 0 && patn > 0 && ref[refn - 1] == STORE_DELIM &&
	    pat[0] == STORE_DELIM)
		refn--;
	lp->pat = xmalloc(refn + patn + 1);
	memcpy(lp->pat, ref, refn);
	memcpy(lp->pat + refn, pat, patn);
	n = refn + patn;
	lp->pat[n] = '\0';
	lp->len = n;
	/* INBOX is case-insensitive (RFC 3501 §5.1). */
	if (strncasecmp(lp->pat, "INBOX", 5) == 0 &&
	    (lp->pat[5] == '\0' || lp->pat[5] == STORE_DELIM))
		memcpy(lp->pat, "INBOX", 5);
	lp->cur = xcalloc(n + 1, sizeof(bool));
	lp->next = xcalloc(n + 1, sizeof(bool));
}

static void
list_pattern_free(struct list_pattern *lp)
{
	xfree(&lp->pat);
	xfree(&lp->cur);
	xfree(&lp->next);
}

/* The pattern's bytes before its first wildcard. */
static size_t
list_pattern_prefix(const struct list_pattern *lp)
{
	return strcspn(lp->pat, "%*");
}

static void
list_closure(const struct list_pattern *lp, bool *set)
{
	size_t j;

	for (j = 0; j < lp->len; j++) {
		if (set[j] && (lp->pat[j] == '*' || lp->pat[j] == '%'))
			set[j + 1] = true;
	}
}

static bool
list_match(const struct list_pattern *lp, const char *name)
{
	bool *cur = lp->cur, *next = lp->next, *t, any;
	size_t j, m = lp->len;

	memset(cur, 0, m + 1);
	cur[0] = true;
	list_closure(lp, cur);
	for (; *name != '\0'; name++) {
		memset(next, 0, m + 1);
		any = false;
		for (j = 0; j < m; j++) {
			char p = lp->pat[j];

			if (!cur[j])
				continue;
			if (p == '*' || (p == '%' && *name != STORE_DELIM)) {
				next[j] = true;
				any = true;
			} else if (p == *name) {
				next[j + 1] = true;
				any = true;
			}
		}
		if (!any)
			return false;
		list_closure(lp, next);
		t = cur;
		cur = next;
		next = t;
	}
	return cur[m];
}

static int
list_collect(void *ctx, const char *name, const struct store_mbox *mb)
{
	struct list_ctx *lc = ctx;

	if (lc->n == lc->cap) {
		lc->cap = lc->cap == 0 ? 32 : lc->cap * 2;
		lc->v = xreallocarray(lc->v, lc->cap, sizeof(*lc->v));
	}
	lc->v[lc->n].name = xstrdup(name);
	lc->v[lc->n].flags = mb != NULL ? mb->flags : 0;
	lc->n++;
	return 0;
}

static void
list_ctx_free(struct list_ctx *lc)
{
	size_t i;

	for (i = 0; i < lc->n; i++)
		free(lc->v[i].name);
	xfree(&lc->v);
	lc->n = lc->cap = 0;
}

/* The RFC 6154 §2 special-use attributes of a mailbox, the first after
 * sep, the others after a space. */
static void
list_special_use(struct session *s, uint32_t flags, const char *sep)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} attrs[] = {
		{ STORE_MBOX_ARCHIVE, "\\Archive" },
		{ STORE_MBOX_DRAFTS, "\\Drafts" },
		{ STORE_MBOX_JUNK, "\\Junk" },
		{ STORE_MBOX_SENT, "\\Sent" },
		{ STORE_MBOX_TRASH, "\\Trash" },
	};
	size_t i;

	for (i = 0; i < N_ELEMENTS(attrs); i++) {
		if (flags & attrs[i].bit) {
			resp_add(s, "%s%s", sep, attrs[i].name);
			sep = " ";
		}
	}
}

/* True if some entry (sorted by name) lies under v[i]. */
static bool
list_has_children(const struct list_ctx *lc, size_t i)
{
	size_t len = strlen(lc->v[i].name);
	size_t j;

	/* Inferiors sort after the name; only names sharing the prefix and
	 * a byte below the delimiter can stand between. */
	for (j = i + 1; j < lc->n; j++) {
		const char *o = lc->v[j].name;

		if (strncmp(o, lc->v[i].name, len) != 0)
			return false;
		if (o[len] == STORE_DELIM)
			return true;
		if ((unsigned char)o[len] > STORE_DELIM)
			return false;
	}
	return false;
}

/* The root for LIST ref "": "" or the reference's first level + delim. */
static void
list_root(struct session *s, const uint8_t *ref, size_t refn)
{
	const uint8_t *d = memchr(ref, STORE_DELIM, refn);

	resp_begin(s);
	resp_add(s, "LIST (\\Noselect) \"/\" ");
	resp_add_astring(s, ref, d == NULL ? 0 : (size_t)(d - ref) + 1);
	resp_end(s);
}

/* A LIST command as read: the reference, its patterns, its options. */
struct list_req {
	const uint8_t *ref;
	size_t refn;
	const uint8_t **pats;	/* npats of them, lengths in patns */
	size_t *patns;
	size_t npats;
	bool special_use;	/* the SPECIAL-USE selection option */
};

static void
list_req_free(struct list_req *r)
{
	xfree(&r->pats);
	xfree(&r->patns);
}

/*
 * Reads LIST's arguments (RFC 3501 §6.3.8, and the extended forms of RFC
 * 5258 as far as RFC 6154 §2 and §6 need them):
 *   LIST [SP "(" [option *(SP option)] ")"] SP mailbox SP mbox-or-pat
 *        [SP "RETURN" SP "(" [option *(SP option)] ")"]
 * where mbox-or-pat is a list-mailbox or "(" list-mailbox *(SP
 * list-mailbox) ")" and SPECIAL-USE is the only option. An unknown
 * selection option must be refused with BAD; so is an unknown return
 * option, as we cannot honour it. Without the SPECIAL-USE capability
 * (turned off by `capabilities`) only the plain form is accepted.
 * On false the client has been answered.
 */
static bool
list_ext_args(struct session *s, struct args *a, struct list_req *r)
{
	bool ext = capa_has(s->capa, CAPA_SPECIAL_USE);
	size_t i, total = 0;

	memset(r, 0, sizeof(*r));
	if (ext && args_list_open(a)) {
		while (!args_list_close(a)) {
			if (!args_word(a, "SPECIAL-USE")) {
				cmd_bad_args(s, "LIST selection options "
				    "(SPECIAL-USE)");
				return false;
			}
			r->special_use = true;
		}
	}
	/* No more patterns than arguments left. */
	r->pats = xreallocarray(NULL, a->n - a->i + 1, sizeof(*r->pats));
	r->patns = xreallocarray(NULL, a->n - a->i + 1, sizeof(*r->patns));
	if (!args_astring(a, &r->ref, &r->refn))
		goto bad_pattern;
	if (ext && args_list_open(a)) {
		do {
			if (!args_list_mailbox(a, &r->pats[r->npats],
			    &r->patns[r->npats]))
				goto bad_pattern;
			r->npats++;
		} while (!args_list_close(a));
	} else if (args_list_mailbox(a, &r->pats[0], &r->patns[0])) {
		r->npats = 1;
	} else {
		goto bad_pattern;
	}
	if (ext && args_word(a, "RETURN")) {
		if (!args_list_open(a))
			goto bad_return;
		while (!args_list_close(a)) {
			/* Plain LIST already shows the special-use
			 * attributes (RFC 6154 §2 allows it), so the
			 * option asks for nothing more. */
			if (!args_word(a, "SPECIAL-USE"))
				goto bad_return;
		}
	}
	if (!cmd_args_end(s, a))
		return false;
	for (i = 0; i < r->npats; i++) {
		if (r->refn + r->patns[i] > 2 * STORE_NAME_MAX) {
			resp_bad(s, "Pattern too long");
			return false;
		}
		if (r->patns[i] > 0)
			total += r->refn + r->patns[i];
	}
	/* Every name is matched against every pattern: bound the work a
	 * list of patterns (literals, each up to the limit above) can ask
	 * for to a small multiple of one long pattern's. */
	if (total > LIST_PATTERNS_BYTES_MAX) {
		resp_bad(s, "Too many patterns");
		return false;
	}
	return true;
bad_pattern:
	cmd_bad_args(s, "reference and mailbox pattern");
	return false;
bad_return:
	cmd_bad_args(s, "RETURN (SPECIAL-USE)");
	return false;
}

static bool
list_args(struct session *s, struct args *a, const uint8_t **ref,
    size_t *refn, const uint8_t **pat, size_t *patn)
{
	if (!args_astring(a, ref, refn) || !args_list_mailbox(a, pat, patn)) {
		cmd_bad_args(s, "reference and mailbox pattern");
		return false;
	}
	if (!cmd_args_end(s, a))
		return false;
	if (*refn + *patn > 2 * STORE_NAME_MAX) {
		resp_bad(s, "Pattern too long");
		return false;
	}
	return true;
}

/* True if name matches one of the n patterns (none empty). */
static bool
list_match_any(const struct list_pattern *lps, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (list_match(&lps[i], name))
			return true;
	}
	return false;
}

void
cmd_list(struct session *s, struct args *a)
{
	struct list_req r;
	struct list_pattern *lps = NULL;
	struct list_ctx lc = { NULL, 0, 0 };
	size_t i, nlps = 0, prefixn = 0;
	bool root = false;
	enum store_err e;
	char *prefix;

	if (!list_ext_args(s, a, &r))
		goto out;
	lps = xreallocarray(NULL, r.npats, sizeof(*lps));
	for (i = 0; i < r.npats; i++) {
		size_t pn;

		/* An empty pattern asks for the delimiter and the root
		 * (RFC 3501 §6.3.8); the root is no mailbox, so it has no
		 * special use and the SPECIAL-USE selection leaves it out
		 * (RFC 6154 §2). */
		if (r.patns[i] == 0) {
			root = !r.special_use;
			continue;
		}
		list_pattern_init(&lps[nlps], r.ref, r.refn, r.pats[i],
		    r.patns[i]);
		/* Only names starting with what all the patterns share
		 * before their first wildcard can match. */
		pn = list_pattern_prefix(&lps[nlps]);
		if (nlps == 0)
			prefixn = pn;
		else {
			size_t j = 0;

			while (j < prefixn && j < pn &&
			    lps[nlps].pat[j] == lps[0].pat[j])
				j++;
			prefixn = j;
		}
		nlps++;
	}
	if (root)
		list_root(s, r.ref, r.refn);
	if (nlps == 0) {
		resp_ok(s, "LIST completed");
		goto out;
	}
	/* A prefix longer than any name matches nothing: an empty list,
	 * not an error about a name nobody asked to create. */
	prefix = xmemdup0(lps[0].pat, prefixn);
	e = prefixn > STORE_NAME_MAX ? STORE_OK :
	    store_mbox_list(s->store, s->user, prefix, list_collect, &lc);
	free(prefix);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		goto out;
	}
	for (i = 0; i < lc.n; i++) {
		bool noselect = (lc.v[i].flags & STORE_MBOX_NOSELECT) != 0;

		if (r.special_use && (lc.v[i].flags & LIST_SPECIAL_USE_FLAGS)
		    == 0)
			continue;
		if (!list_match_any(lps, nlps, lc.v[i].name))
			continue;
		resp_begin(s);
		resp_add(s, "LIST (%s", noselect ? "\\Noselect" : "");
		/* The attributes of extensions that `capabilities` left on
		 * (RFC 3348, RFC 6154), the same for every form of LIST. */
		if (capa_has(s->capa, CAPA_CHILDREN))
			resp_add(s, "%s%s", noselect ? " " : "",
			    list_has_children(&lc, i) ? "\\HasChildren" :
			    "\\HasNoChildren");
		if (capa_has(s->capa, CAPA_SPECIAL_USE))
			list_special_use(s, lc.v[i].flags, noselect ||
			    capa_has(s->capa, CAPA_CHILDREN) ? " " : "");
		resp_add(s, ") \"/\" ");
		resp_add_mailbox(s, lc.v[i].name);
		resp_end(s);
	}
	resp_ok(s, "LIST completed");
out:
	list_ctx_free(&lc);
	for (i = 0; i < nlps; i++)
		list_pattern_free(&lps[i]);
	free(lps);
	list_req_free(&r);
}

static int
lsub_collect(void *ctx, const char *name)
{
	return list_collect(ctx, name, NULL);
}

static int
lsub_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
lsub_contains(char **sorted, size_t n, const char *name)
{
	return bsearch(&name, sorted, n, sizeof(char *), lsub_cmp) != NULL;
}

void
cmd_lsub(struct session *s, struct args *a)
{
	const uint8_t *ref, *pat;
	size_t refn, patn, i, nout = 0, j;
	struct list_pattern lp;
	struct list_ctx lc = { NULL, 0, 0 };
	char **subs = NULL, **out = NULL;
	bool trailing_pct;
	enum store_err e;

	if (!list_args(s, a, &ref, &refn, &pat, &patn))
		return;
	if (patn == 0) {
		resp_ok(s, "LSUB completed");
		return;
	}
	list_pattern_init(&lp, ref, refn, pat, patn);
	trailing_pct = lp.pat[lp.len - 1] == '%';
	e = store_sub_list(s->store, s->user, lsub_collect, &lc);
	if (e != STORE_OK) {
		cmd_store_error(s, e);
		goto done;
	}
	subs = xreallocarray(NULL, lc.n, sizeof(char *));
	for (i = 0; i < lc.n; i++)
		subs[i] = lc.v[i].name;
	qsort(subs, lc.n, sizeof(char *), lsub_cmp);
	/* Every name we answer, so that an ancestor comes out once. */
	out = xreallocarray(NULL, lc.n * 2 + 1, sizeof(char *));
	for (i = 0; i < lc.n; i++) {
		const char *name = subs[i];
		struct store_mbox mb;
		bool noselect = false;

		if (list_match(&lp, name)) {
			if (store_mbox_get(s->store, s->user, name, &mb) ==
			    STORE_OK)
				noselect = (mb.flags & STORE_MBOX_NOSELECT) != 0;
			resp_begin(s);
			resp_add(s, "LSUB (%s) \"/\" ", noselect ?
			    "\\Noselect" : "");
			resp_add_mailbox(s, name);
			resp_end(s);
			continue;
		}
		if (!trailing_pct)
			continue;
		/* RFC 3501 §6.3.9: with a trailing '%', an unsubscribed
		 * superior of a subscribed name that matches is listed as
		 * \Noselect. */
		for (j = strlen(name); j > 0; j--) {
			char *anc;
			size_t k;
			bool seen = false;

			if (name[j - 1] != STORE_DELIM)
				continue;
			anc = xmemdup0(name, j - 1);
			if (!list_match(&lp, anc) ||
			    lsub_contains(subs, lc.n, anc)) {
				free(anc);
				continue;
			}
			for (k = 0; k < nout; k++)
				seen = seen || strcmp(out[k], anc) == 0;
			if (seen) {
				free(anc);
				continue;
			}
			resp_begin(s);
			resp_add(s, "LSUB (\\Noselect) \"/\" ");
			resp_add_mailbox(s, anc);
			resp_end(s);
			out[nout++] = anc;
			break;
		}
	}
	resp_ok(s, "LSUB completed");
done:
	for (i = 0; i < nout; i++)
		free(out[i]);
	free(out);
	free(subs);
	list_ctx_free(&lc);
	list_pattern_free(&lp);
}
