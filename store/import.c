/*
 * import.c: filling a store from mbox files, Maildirs and .eml files (see
 * import.h). The formats are lib/mailsrc.c's; this file walks the source,
 * decides which mailbox each message goes to, skips duplicates and
 * appends through store.h like any other client of the store.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/mailsrc.h"
#include "../lib/mutf7.h"
#include "../lib/xalloc.h"
#include "import.h"

_Static_assert(MAILSRC_SEEN == STORE_FLAG_SEEN &&
    MAILSRC_ANSWERED == STORE_FLAG_ANSWERED &&
    MAILSRC_FLAGGED == STORE_FLAG_FLAGGED &&
    MAILSRC_DELETED == STORE_FLAG_DELETED &&
    MAILSRC_DRAFT == STORE_FLAG_DRAFT, "mailsrc flags are the store's");

/* Largest message taken from a file. */
#define IMPORT_MSG_MAX		((size_t)256 << 20)
/* Bytes of a stored message read to find its Message-ID. */
#define IMPORT_HEAD_MAX		65536
/* Directory depth followed. */
#define IMPORT_DEPTH_MAX	32

static volatile sig_atomic_t import_stop;
static enum import_err import_err_last;
static enum store_err import_store_err_last;

/* A message already in the target mailbox. */
struct import_dup {
	uint64_t size;
	uint64_t body_id;
	char *msgid;		/* "" when it has none */
	bool used;		/* matched by a source message already */
};

struct import_ctx {
	struct store *st;
	const char *user;
	const struct import_opts *o;
	struct import_stats *stats;
	char *err;
	size_t errlen;

	/* the mailbox being filled */
	char name[STORE_NAME_MAX + 1];
	uint32_t mbox_id;
	struct import_dup *dups;
	size_t ndups, capdups;
	unsigned targets;	/* mailboxes filled so far */

	/* progress */
	struct timespec last;
	bool shown;
	uint64_t done, total;	/* bytes of it (mbox) or messages */
};

void
import_interrupt(void)
{
	import_stop = 1;
}

enum import_err
import_last_error(enum store_err *store_err_r)
{
	if (store_err_r != NULL)
		*store_err_r = import_store_err_last;
	return import_err_last;
}

static int ATTR_PRINTF(3, 4)
import_fail(struct import_ctx *c, enum import_err kind, const char *fmt, ...)
{
	va_list ap;

	import_err_last = kind;
	va_start(ap, fmt);
	(void)vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
import_store_fail(struct import_ctx *c, enum store_err e, const char *what)
{
	import_store_err_last = e;
	return import_fail(c, IMPORT_ERR_STORE, "%s (%s): %s", what, c->name,
	    store_strerror(e));
}

/* ---- progress ---- */

static void
import_progress(struct import_ctx *c, bool final)
{
	struct timespec now;
	double dt;

	if (!c->o->progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - c->last.tv_sec) +
	    (double)(now.tv_nsec - c->last.tv_nsec) / 1e9;
	if (!final && c->shown && dt < 0.25)
		return;
	c->last = now;
	c->shown = true;
	fprintf(stderr, "\rimport: %llu stored, %llu skipped, %s %3u%%\033[K",
	    (unsigned long long)c->stats->messages,
	    (unsigned long long)c->stats->skipped, c->name,
	    c->total > 0 ? (unsigned)(c->done * 100 / c->total) : 100u);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

/* ---- the target mailbox and its duplicates ---- */

static void
import_dups_free(struct import_ctx *c)
{
	size_t i;

	for (i = 0; i < c->ndups; i++)
		xfree(&c->dups[i].msgid);
	xfree(&c->dups);
	c->ndups = c->capdups = 0;
}

static int
import_dup_cmp(const void *a, const void *b)
{
	const struct import_dup *x = a, *y = b;

	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return strcmp(x->msgid, y->msgid);
}

static int
import_dup_cb(void *ctx, const struct store_msg *msg)
{
	struct import_ctx *c = ctx;
	struct import_dup *d;

	if (c->ndups == c->capdups) {
		c->capdups = c->capdups == 0 ? 64 : c->capdups * 2;
		c->dups = xreallocarray(c->dups, c->capdups, sizeof(*c->dups));
	}
	d = &c->dups[c->ndups++];
	d->size = msg->size;
	d->body_id = msg->body_id;
	d->msgid = NULL;
	d->used = false;
	return 0;
}

/* Reads the Message-ID of every message already in the mailbox. */
static int
import_dups_load(struct import_ctx *c)
{
	struct buf head = BUF_INITIALIZER(IMPORT_HEAD_MAX);
	struct buf v = BUF_INITIALIZER(1 << 20);
	enum store_err e;
	size_t i;

	import_dups_free(c);
	e = store_msg_list(c->st, c->user, c->name, c->mbox_id, 1,
	    import_dup_cb, c);
	for (i = 0; e == STORE_OK && i < c->ndups; i++) {
		struct import_dup *d = &c->dups[i];

		buf_reset(&head);
		e = store_body_read(c->st, d->body_id, 0,
		    d->size < IMPORT_HEAD_MAX ? (size_t)d->size :
		    IMPORT_HEAD_MAX, &head);
		if (e == STORE_OK && head.len > 0 &&
		    mailsrc_header_get(head.data, head.len, "Message-ID", &v))
			d->msgid = xstrdup(buf_cstr(&v));
		else
			d->msgid = xstrdup("");
	}
	for (; i < c->ndups; i++)
		c->dups[i].msgid = xstrdup("");
	buf_free(&head);
	buf_free(&v);
	if (e != STORE_OK)
		return import_store_fail(c, e, "reading the messages");
	if (c->ndups > 1)
		qsort(c->dups, c->ndups, sizeof(*c->dups), import_dup_cmp);
	return 0;
}

/*
 * Whether msg (stored form) is already in the mailbox and not yet matched
 * by another source message; marks the one it matches. 1, 0 or -1.
 */
static int
import_dup_find(struct import_ctx *c, const struct buf *msg)
{
	struct buf v = BUF_INITIALIZER(1 << 20), body;
	struct import_dup key, *d;
	size_t lo = 0, hi = c->ndups, mid;
	enum store_err e;
	int found = 0;

	if (c->ndups == 0)
		return 0;
	key.size = msg->len;
	key.msgid = mailsrc_header_get(msg->data, msg->len, "Message-ID", &v) ?
	    (char *)buf_cstr(&v) : (char *)"";
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (import_dup_cmp(&c->dups[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; found == 0 && lo < c->ndups &&
	    import_dup_cmp(&c->dups[lo], &key) == 0; lo++) {
		d = &c->dups[lo];
		if (d->used)
			continue;
		buf_init(&body, (size_t)d->size);
		e = store_body_read(c->st, d->body_id, 0, (size_t)d->size,
		    &body);
		if (e != STORE_OK) {
			buf_free(&body);
			found = import_store_fail(c, e, "reading a message");
			break;
		}
		if (body.len == msg->len && (msg->len == 0 ||
		    memcmp(body.data, msg->data, msg->len) == 0)) {
			d->used = true;
			found = 1;
		}
		buf_free(&body);
	}
	buf_free(&v);
	return found;
}

/* Makes name the target: creates it if needed, loads its messages. */
static int
import_target(struct import_ctx *c, const char *name)
{
	struct store_mbox mb;
	enum store_err e;
	size_t n = strlen(name);
	const char *why = NULL;

	if (n == 0 || n > STORE_NAME_MAX)
		return import_fail(c, IMPORT_ERR_FORMAT,
		    "bad mailbox name \"%s\"", name);
	if (!mutf7_valid((const uint8_t *)name, n, &why))
		return import_fail(c, IMPORT_ERR_FORMAT,
		    "mailbox name \"%.200s\" is not modified UTF-7: %s", name,
		    why);
	if (strcmp(c->name, name) == 0 && c->mbox_id != 0)
		return 0;
	memcpy(c->name, name, n + 1);
	c->mbox_id = 0;
	c->targets++;
	import_dups_free(c);
	if (strcmp(name, "INBOX") == 0 &&
	    (e = store_user_init(c->st, c->user)) != STORE_OK)
		return import_store_fail(c, e, "creating INBOX");
	e = store_mbox_get(c->st, c->user, name, &mb);
	if (e == STORE_ERR_NOTFOUND ||
	    (e == STORE_OK && (mb.flags & STORE_MBOX_NOSELECT))) {
		e = store_mbox_create(c->st, c->user, name, 0, &mb);
		if (e == STORE_OK)
			c->stats->mailboxes++;
		else if (e == STORE_ERR_EXISTS)
			e = store_mbox_get(c->st, c->user, name, &mb);
	}
	if (e != STORE_OK)
		return import_store_fail(c, e, "opening the mailbox");
	c->mbox_id = mb.id;
	if (c->o->skip_duplicates && mb.messages > 0)
		return import_dups_load(c);
	return 0;
}

/* "parent/child", or child alone under INBOX. */
static int
import_child_name(struct import_ctx *c, const char *parent, const char *child,
    char *out)
{
	int r;

	if (strcmp(parent, "INBOX") == 0)
		r = snprintf(out, STORE_NAME_MAX + 1, "%s", child);
	else
		r = snprintf(out, STORE_NAME_MAX + 1, "%s/%s", parent, child);
	if (r < 0 || r > STORE_NAME_MAX)
		return import_fail(c, IMPORT_ERR_FORMAT,
		    "mailbox name too long under %s", parent);
	return 0;
}

/* ---- one message ---- */

/* Stores msg (CRLF, the store's form) in the target mailbox. */
static int
import_one(struct import_ctx *c, const struct buf *msg,
    const struct mailsrc_meta *meta, int64_t t, int32_t tzoff)
{
	struct store_append *ap = NULL;
	uint64_t keywords = 0;
	uint32_t uid, uidvalidity;
	enum store_err e;
	unsigned idx;
	size_t i;
	int r;

	if (import_stop)
		return import_fail(c, IMPORT_ERR_INTERRUPTED, "interrupted");
	if (c->o->skip_duplicates && (r = import_dup_find(c, msg)) != 0) {
		if (r < 0)
			return -1;
		c->stats->skipped++;
		import_progress(c, false);
		return 0;
	}
	for (i = 0; i < meta->nkeywords; i++) {
		e = store_keyword_index(c->st, c->user, c->name, c->mbox_id,
		    meta->keywords[i], true, &idx);
		if (e == STORE_ERR_INVALID) {
			log_msg(LOG_WARNING, "import: %s: keyword %s dropped "
			    "(64 keywords per mailbox)", c->name,
			    meta->keywords[i]);
			continue;
		}
		if (e != STORE_OK)
			return import_store_fail(c, e, "adding a keyword");
		keywords |= (uint64_t)1 << idx;
	}
	e = store_append_begin(c->st, msg->len, &ap);
	if (e == STORE_OK && msg->len > 0)
		e = store_append_data(ap, msg->data, msg->len);
	if (e == STORE_OK)
		e = store_append_commit(ap, c->user, c->name, c->mbox_id,
		    meta->flags & STORE_FLAGS_ALL, keywords, t, tzoff, &uid,
		    &uidvalidity);
	store_append_free(&ap);
	if (e != STORE_OK)
		return import_store_fail(c, e, "storing a message");
	c->stats->messages++;
	import_progress(c, false);
	return 0;
}

/* ---- files ---- */

/* The whole file into out; 0 or -1 (errno, or EFBIG). */
static int
import_read_file(int fd, struct buf *out)
{
	uint8_t chunk[65536];
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (buf_add(out, chunk, (size_t)n) < 0) {
			errno = EFBIG;
			return -1;
		}
	}
}

/* One message file (.eml or Maildir): LF made CRLF, date from mtime. */
static int
import_msg_file(struct import_ctx *c, const char *path,
    const struct mailsrc_meta *meta)
{
	struct buf raw = BUF_INITIALIZER(IMPORT_MSG_MAX);
	struct buf msg = BUF_INITIALIZER(IMPORT_MSG_MAX);
	struct stat sb;
	bool cr = false;
	int fd, ret;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return import_fail(c, IMPORT_ERR_NOINPUT, "%s: %s", path,
		    strerror(errno));
	if (fstat(fd, &sb) < 0 || import_read_file(fd, &raw) < 0) {
		ret = import_fail(c, errno == EFBIG ? IMPORT_ERR_FORMAT :
		    IMPORT_ERR_NOINPUT, "%s: %s", path, strerror(errno));
		close(fd);
		buf_free(&raw);
		return ret;
	}
	close(fd);
	if (mailsrc_lf_to_crlf(&msg, raw.data, raw.len, &cr) < 0)
		ret = import_fail(c, IMPORT_ERR_FORMAT, "%s: too large", path);
	else
		ret = import_one(c, &msg, meta, (int64_t)sb.st_mtim.tv_sec, 0);
	buf_free(&raw);
	buf_free(&msg);
	return ret;
}

/* An mbox file (already mapped) into the target mailbox. */
static int
import_mbox_data(struct import_ctx *c, const char *path, const uint8_t *p,
    size_t n)
{
	struct mailsrc_mbox_msg m;
	struct mailsrc_meta meta;
	struct buf msg = BUF_INITIALIZER(IMPORT_MSG_MAX);
	size_t pos = 0;
	int r, ret = 0;

	c->total = n;
	while (ret == 0 && (r = mailsrc_mbox_next(p, n, &pos, &m)) > 0) {
		c->done = pos;
		memset(&meta, 0, sizeof(meta));
		buf_reset(&msg);
		if (mailsrc_mbox_decode(m.data, m.len, c->o->mboxo, &msg,
		    &meta) < 0)
			ret = import_fail(c, IMPORT_ERR_FORMAT,
			    "%s: a message over %zu bytes", path,
			    IMPORT_MSG_MAX);
		else
			ret = import_one(c, &msg, &meta, m.time, m.tzoff);
		mailsrc_meta_free(&meta);
	}
	if (ret == 0 && r < 0)
		ret = import_fail(c, IMPORT_ERR_FORMAT,
		    "%s: not an mbox (no \"From \" line at byte %zu)", path,
		    pos);
	buf_free(&msg);
	return ret;
}

/*
 * Whether the file at path begins like an mbox: 1, 0 (not one), -1 (cannot
 * read it).
 */
static int
import_file_is_mbox(const char *path)
{
	char head[1024];
	int64_t t;
	int32_t tz;
	ssize_t n;
	char *lf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (n < 0)
		return -1;
	head[n] = '\0';
	lf = memchr(head, '\n', (size_t)n);
	return mailsrc_mbox_from_parse((const uint8_t *)head,
	    lf != NULL ? (size_t)(lf - head) : (size_t)n, &t, &tz) ? 1 : 0;
}

/* A regular file: an mbox, or one message. */
static int
import_file(struct import_ctx *c, const char *mailbox, const char *path)
{
	struct mailsrc_meta meta;
	struct stat sb;
	void *map;
	int fd, ret, kind;

	if ((kind = import_file_is_mbox(path)) < 0 || stat(path, &sb) < 0)
		return import_fail(c, IMPORT_ERR_NOINPUT, "%s: %s", path,
		    strerror(errno));
	if (import_target(c, mailbox) < 0)
		return -1;
	/* An empty file is an empty mbox (what export writes for an empty
	 * mailbox), not an empty message. */
	if (sb.st_size == 0)
		return 0;
	if (kind == 0) {
		memset(&meta, 0, sizeof(meta));
		c->total = 1;
		c->done = 1;
		return import_msg_file(c, path, &meta);
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0) {
		ret = import_fail(c, IMPORT_ERR_NOINPUT, "%s: %s", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (sb.st_size == 0) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return import_fail(c, IMPORT_ERR_NOINPUT, "%s: mmap: %s", path,
		    strerror(errno));
	ret = import_mbox_data(c, path, map, (size_t)sb.st_size);
	munmap(map, (size_t)sb.st_size);
	return ret;
}

/* ---- directories ---- */

struct import_entry {
	char *name;
	char *path;
	uint32_t uid;		/* from dovecot-uidlist; 0 unknown, last */
};

static int
import_entry_cmp(const void *a, const void *b)
{
	const struct import_entry *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid == 0 ? 1 : y->uid == 0 ? -1 :
		    x->uid < y->uid ? -1 : 1;
	return mailsrc_namecmp(x->name, y->name);
}

static void
import_entries_free(struct import_entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		xfree(&v[i].name);
		xfree(&v[i].path);
	}
	free(v);
}

/*
 * Adds the entries of dir (not "." and "..", not hidden unless dots) to
 * *v. 0, or -1 with errno.
 */
static int
import_list(const char *dir, bool dots, struct import_entry **v, size_t *n,
    size_t *cap)
{
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct import_entry *e;
		size_t len;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (!dots && de->d_name[0] == '.'))
			continue;
		if (*n == *cap) {
			*cap = *cap == 0 ? 64 : *cap * 2;
			*v = xreallocarray(*v, *cap, sizeof(**v));
		}
		e = &(*v)[(*n)++];
		e->uid = 0;
		e->name = xstrdup(de->d_name);
		len = strlen(dir) + strlen(de->d_name) + 2;
		e->path = xmalloc(len);
		(void)snprintf(e->path, len, "%s/%s", dir, de->d_name);
	}
	closedir(d);
	return errno != 0 ? -1 : 0;
}

static bool
import_is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool
import_is_maildir(const char *dir)
{
	char p[4096];

	if (snprintf(p, sizeof(p), "%s/cur", dir) < (int)sizeof(p) &&
	    import_is_dir(p))
		return true;
	return snprintf(p, sizeof(p), "%s/new", dir) < (int)sizeof(p) &&
	    import_is_dir(p);
}

/* The contents of dir/name into b (left empty when it cannot be read). */
static void
import_read_small(const char *dir, const char *name, struct buf *b)
{
	char p[4096];
	int fd;

	if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
		return;
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	if (import_read_file(fd, b) < 0)
		buf_reset(b);
	close(fd);
}

/* The messages of one Maildir (cur/ and new/) into the target mailbox:
 * in dovecot-uidlist order when there is one, else in name order. */
static int
import_maildir_msgs(struct import_ctx *c, const char *dir)
{
	struct mailsrc_kwmap kw;
	struct mailsrc_uidlist ul;
	struct import_entry *v = NULL;
	struct buf b = BUF_INITIALIZER((size_t)64 << 20);
	size_t n = 0, cap = 0, i;
	char p[4096];
	int ret = 0;

	memset(&kw, 0, sizeof(kw));
	import_read_small(dir, "dovecot-keywords", &b);
	mailsrc_kwmap_parse(&kw, b.data, b.len);
	buf_reset(&b);
	import_read_small(dir, "dovecot-uidlist", &b);
	mailsrc_uidlist_parse(&ul, b.data, b.len);
	buf_free(&b);
	if (snprintf(p, sizeof(p), "%s/cur", dir) < (int)sizeof(p) &&
	    import_list(p, false, &v, &n, &cap) < 0 && errno != ENOENT)
		ret = import_fail(c, IMPORT_ERR_NOINPUT, "%s: %s", p,
		    strerror(errno));
	if (ret == 0 && snprintf(p, sizeof(p), "%s/new", dir) <
	    (int)sizeof(p) && import_list(p, false, &v, &n, &cap) < 0 &&
	    errno != ENOENT)
		ret = import_fail(c, IMPORT_ERR_NOINPUT, "%s: %s", p,
		    strerror(errno));
	for (i = 0; i < n; i++)
		v[i].uid = mailsrc_uidlist_uid(&ul, v[i].name);
	mailsrc_uidlist_free(&ul);
	if (n > 1)
		qsort(v, n, sizeof(*v), import_entry_cmp);
	c->total = n;
	for (i = 0; ret == 0 && i < n; i++) {
		struct mailsrc_meta meta;
		struct stat sb;

		c->done = i + 1;
		if (stat(v[i].path, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		memset(&meta, 0, sizeof(meta));
		mailsrc_maildir_flags(v[i].name, &kw, &meta);
		ret = import_msg_file(c, v[i].path, &meta);
		mailsrc_meta_free(&meta);
	}
	import_entries_free(v, n);
	mailsrc_kwmap_free(&kw);
	return ret;
}

static bool
import_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && strcasecmp(s + n - k, suffix) == 0;
}

static int import_dir(struct import_ctx *c, const char *mailbox,
    const char *dir, unsigned depth);

/*
 * A directory: a Maildir (its messages, its Maildir++ folders, its
 * LAYOUT=fs subfolders) or a folder of .eml files and mbox files.
 */
static int
import_dir(struct import_ctx *c, const char *mailbox, const char *dir,
    unsigned depth)
{
	struct import_entry *v = NULL;
	struct buf sub = BUF_INITIALIZER(STORE_NAME_MAX);
	char child[STORE_NAME_MAX + 1];
	size_t n = 0, cap = 0, i;
	bool maildir = import_is_maildir(dir), emls = false;
	int ret = 0;

	if (depth > IMPORT_DEPTH_MAX)
		return import_fail(c, IMPORT_ERR_FORMAT,
		    "%s: folders nested too deep", dir);
	if (import_list(dir, true, &v, &n, &cap) < 0)
		return import_fail(c, IMPORT_ERR_NOINPUT, "%s: %s", dir,
		    strerror(errno));
	if (n > 1)
		qsort(v, n, sizeof(*v), import_entry_cmp);
	if (maildir) {
		if (import_target(c, mailbox) < 0 ||
		    import_maildir_msgs(c, dir) < 0)
			ret = -1;
	} else {
		/* The .eml files are this folder's messages. */
		for (i = 0; ret == 0 && i < n; i++) {
			struct mailsrc_meta meta;
			struct stat sb;

			if (v[i].name[0] == '.' ||
			    !import_has_suffix(v[i].name, ".eml") ||
			    stat(v[i].path, &sb) < 0 || !S_ISREG(sb.st_mode))
				continue;
			if (!emls && import_target(c, mailbox) < 0) {
				ret = -1;
				break;
			}
			emls = true;
			memset(&meta, 0, sizeof(meta));
			ret = import_msg_file(c, v[i].path, &meta);
		}
	}
	for (i = 0; ret == 0 && i < n; i++) {
		const char *name = v[i].name;
		bool isdir = import_is_dir(v[i].path);

		if (maildir && name[0] == '.' && isdir) {
			/* Maildir++ folder ".a.b" */
			if (!import_is_maildir(v[i].path) ||
			    !mailsrc_maildirpp_to_name(name, &sub))
				continue;
			if (import_child_name(c, mailbox, buf_cstr(&sub),
			    child) < 0 || import_target(c, child) < 0 ||
			    import_maildir_msgs(c, v[i].path) < 0)
				ret = -1;
			continue;
		}
		if (name[0] == '.')
			continue;
		if (isdir) {
			if (maildir && (strcmp(name, "cur") == 0 ||
			    strcmp(name, "new") == 0 ||
			    strcmp(name, "tmp") == 0))
				continue;
			/* Dovecot LAYOUT=fs folder, or a plain folder. */
			if (import_child_name(c, mailbox, name, child) < 0 ||
			    import_dir(c, child, v[i].path, depth + 1) < 0)
				ret = -1;
			continue;
		}
		if (!import_has_suffix(name, ".eml") &&
		    import_file_is_mbox(v[i].path) == 1) {
			/* An mbox file beside the folders. */
			if (import_child_name(c, mailbox, name, child) < 0 ||
			    import_file(c, child, v[i].path) < 0)
				ret = -1;
		}
	}
	import_entries_free(v, n);
	buf_free(&sub);
	return ret;
}

int
import_path(struct store *st, const char *user, const char *mailbox,
    const char *path, const struct import_opts *o, struct import_stats *stats,
    char *err, size_t errlen)
{
	struct import_ctx c;
	struct stat sb;
	int ret;

	memset(&c, 0, sizeof(c));
	memset(stats, 0, sizeof(*stats));
	c.st = st;
	c.user = user;
	c.o = o;
	c.stats = stats;
	c.err = err;
	c.errlen = errlen;
	import_err_last = IMPORT_OK;
	import_store_err_last = STORE_OK;
	if (errlen > 0)
		err[0] = '\0';
	if (mailbox == NULL || strcasecmp(mailbox, "INBOX") == 0)
		mailbox = "INBOX";
	if (stat(path, &sb) < 0)
		return import_fail(&c, IMPORT_ERR_NOINPUT, "%s: %s", path,
		    strerror(errno));
	if (S_ISREG(sb.st_mode)) {
		ret = import_file(&c, mailbox, path);
	} else if (S_ISDIR(sb.st_mode)) {
		ret = import_dir(&c, mailbox, path, 0);
		if (ret == 0 && c.targets == 0)
			ret = import_fail(&c, IMPORT_ERR_FORMAT, "%s: no "
			    "Maildir, mbox or .eml files in it", path);
	} else {
		ret = import_fail(&c, IMPORT_ERR_FORMAT,
		    "%s: neither a file nor a directory", path);
	}
	if (c.shown)
		import_progress(&c, true);
	import_dups_free(&c);
	return ret;
}
