/*
 * export.c: refimapctl export USER [MAILBOX] PATH --format mbox|maildir
 *
 *   --format mbox (or mboxrd, or mboxo): MAILBOX (default INBOX) into the
 *	new file PATH; flags in Status:, X-Status:, X-Keywords: headers,
 *	INTERNALDATE on the From_ line (lib/mailsrc.h has the details).
 *   --format maildir: MAILBOX (default INBOX) as the Maildir PATH, with
 *	every mailbox below it (every other mailbox when MAILBOX is not
 *	given) as a Maildir++ folder ".a.b"; flags in the ":2," info of the
 *	file names, keywords in each folder's dovecot-keywords, INTERNALDATE
 *	as the file's mtime and the name's leading timestamp.
 *
 * PATH must not exist (a Maildir may be an existing empty directory).
 * Message bytes are the stored ones with CRLF made LF, so an export of an
 * import of LF files gives back the same bytes per message.
 * Exit codes: 0; EX_NOUSER; EX_NOINPUT no such mailbox; EX_CANTCREAT
 * PATH exists or cannot be made; EX_IOERR write errors; EX_DATAERR a
 * mailbox whose name cannot be a Maildir++ folder (holds '.'; the others
 * are still written); EX_TEMPFAIL store busy.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/mailsrc.h"
#include "../lib/xalloc.h"
#include "ctl.h"

struct ctl_exp {
	struct store *st;
	const char *user;
	/* the mailbox being written */
	struct store_msg *msgs;
	size_t n, cap;
	char *kw[STORE_KEYWORDS_MAX];
	/* every mailbox of the user */
	char **names;
	size_t nnames, capnames;
	char host[128];
};

static int
ctl_exp_msg_cb(void *ctx, const struct store_msg *m)
{
	struct ctl_exp *e = ctx;

	if (e->n == e->cap) {
		e->cap = e->cap == 0 ? 256 : e->cap * 2;
		e->msgs = xreallocarray(e->msgs, e->cap, sizeof(*e->msgs));
	}
	e->msgs[e->n++] = *m;
	return 0;
}

static int
ctl_exp_kw_cb(void *ctx, unsigned index, const char *keyword)
{
	struct ctl_exp *e = ctx;

	if (index < STORE_KEYWORDS_MAX) {
		xfree(&e->kw[index]);
		e->kw[index] = xstrdup(keyword);
	}
	return 0;
}

static int
ctl_exp_name_cb(void *ctx, const char *name, const struct store_mbox *mb)
{
	struct ctl_exp *e = ctx;

	if (mb->flags & STORE_MBOX_NOSELECT)
		return 0;
	if (e->nnames == e->capnames) {
		e->capnames = e->capnames == 0 ? 16 : e->capnames * 2;
		e->names = xreallocarray(e->names, e->capnames,
		    sizeof(*e->names));
	}
	e->names[e->nnames++] = xstrdup(name);
	return 0;
}

static void
ctl_exp_clear(struct ctl_exp *e)
{
	size_t i;

	xfree(&e->msgs);
	e->n = e->cap = 0;
	for (i = 0; i < STORE_KEYWORDS_MAX; i++)
		xfree(&e->kw[i]);
}

/* Loads the records and keywords of a mailbox; 0 or an exit code. */
static int
ctl_exp_load(struct ctl_exp *e, const char *name)
{
	struct store_mbox mb;
	enum store_err se;

	ctl_exp_clear(e);
	se = store_mbox_get(e->st, e->user, name, &mb);
	if (se == STORE_ERR_NOTFOUND || (se == STORE_OK &&
	    (mb.flags & STORE_MBOX_NOSELECT))) {
		ctl_err("no such mailbox: %s", name);
		return EX_NOINPUT;
	}
	if (se == STORE_OK)
		se = store_keyword_list(e->st, e->user, name, mb.id,
		    ctl_exp_kw_cb, e);
	if (se == STORE_OK)
		se = store_msg_list(e->st, e->user, name, mb.id, 1,
		    ctl_exp_msg_cb, e);
	if (se != STORE_OK) {
		ctl_err("cannot read %s: %s", name, store_strerror(se));
		return ctl_store_exit(se);
	}
	return 0;
}

/* The body and the flags of message i; 0 or an exit code. */
static int
ctl_exp_message(struct ctl_exp *e, size_t i, struct buf *body,
    struct mailsrc_meta *meta)
{
	const struct store_msg *m = &e->msgs[i];
	enum store_err se;
	unsigned k;

	buf_free(body);
	buf_init(body, (size_t)m->size);
	se = store_body_read(e->st, m->body_id, 0, (size_t)m->size, body);
	if (se != STORE_OK) {
		ctl_err("cannot read message %u: %s", m->uid,
		    store_strerror(se));
		return ctl_store_exit(se);
	}
	memset(meta, 0, sizeof(*meta));
	meta->flags = m->flags;
	for (k = 0; k < STORE_KEYWORDS_MAX; k++)
		if ((m->keywords >> k & 1) && e->kw[k] != NULL)
			(void)mailsrc_meta_add_keyword(meta, e->kw[k],
			    strlen(e->kw[k]));
	return 0;
}

static int
ctl_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- mbox ---- */

/* The envelope sender for the From_ line, from Return-Path. */
static void
ctl_exp_sender(const struct buf *body, struct buf *out)
{
	size_t i, s = 0, n;

	if (!mailsrc_header_get(body->data, body->len, "Return-Path", out)) {
		buf_reset(out);
		return;
	}
	n = out->len;
	if (n >= 2 && out->data[0] == '<' && out->data[n - 1] == '>') {
		s = 1;
		n--;
	}
	for (i = s; i < n; i++)
		out->data[i - s] = out->data[i];
	buf_truncate(out, n - s);
}

static int
ctl_exp_mbox(struct ctl_exp *e, const char *name, const char *path,
    bool mboxo)
{
	struct buf body = BUF_INITIALIZER(0), out, sender;
	struct mailsrc_meta meta;
	size_t i;
	int fd, ret;

	if ((ret = ctl_exp_load(e, name)) != 0)
		return ret;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ctl_err("cannot create %s: %s", path, strerror(errno));
		return EX_CANTCREAT;
	}
	buf_init(&out, SIZE_MAX / 2);
	buf_init(&sender, 4096);
	for (i = 0; ret == 0 && i < e->n; i++) {
		if ((ret = ctl_exp_message(e, i, &body, &meta)) != 0)
			break;
		ctl_exp_sender(&body, &sender);
		buf_reset(&out);
		if (mailsrc_mbox_encode(&out, buf_cstr(&sender),
		    e->msgs[i].internaldate, e->msgs[i].tzoff, body.data,
		    body.len, &meta, mboxo) < 0) {
			ctl_err("message %u too large", e->msgs[i].uid);
			ret = EX_SOFTWARE;
		} else if (ctl_write_all(fd, out.data, out.len) < 0) {
			ctl_err("writing %s: %s", path, strerror(errno));
			ret = EX_IOERR;
		}
		mailsrc_meta_free(&meta);
	}
	if (ret == 0 && fsync(fd) < 0) {
		ctl_err("writing %s: %s", path, strerror(errno));
		ret = EX_IOERR;
	}
	if (close(fd) < 0 && ret == 0) {
		ctl_err("writing %s: %s", path, strerror(errno));
		ret = EX_IOERR;
	}
	if (ret == 0)
		printf("exported %zu messages\n", e->n);
	buf_free(&body);
	buf_free(&out);
	buf_free(&sender);
	return ret;
}

/* ---- Maildir ---- */

static int
ctl_exp_mkdir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ctl_err("cannot create %s: %s", dir, strerror(errno));
		return EX_CANTCREAT;
	}
	return 0;
}

/* Writes the file dir/name with data; mtime t when set. */
static int
ctl_exp_file(const char *path, const uint8_t *p, size_t n, bool settime,
    int64_t t)
{
	struct timespec ts[2];
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ctl_write_all(fd, p, n) < 0)
		goto fail;
	if (settime) {
		ts[0].tv_sec = (time_t)t;
		ts[0].tv_nsec = 0;
		ts[1] = ts[0];
		if (futimens(fd, ts) < 0)
			goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	ctl_err("cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return EX_IOERR;
}

/* One mailbox as the Maildir dir (sub: a Maildir++ folder). */
static int
ctl_exp_folder(struct ctl_exp *e, const char *name, const char *dir,
    bool sub)
{
	struct buf body = BUF_INITIALIZER(0), lf, info, kwf;
	struct mailsrc_kwmap k;
	struct mailsrc_meta meta;
	char p[4096], q[4096];
	size_t i, dropped, total = 0;
	bool cr;
	int ret;

	if ((ret = ctl_exp_load(e, name)) != 0)
		return ret;
	if ((ret = ctl_exp_mkdir(dir)) != 0)
		return ret;
	for (i = 0; i < 3; i++) {
		static const char *const parts[3] = { "cur", "new", "tmp" };

		(void)snprintf(p, sizeof(p), "%s/%s", dir, parts[i]);
		if ((ret = ctl_exp_mkdir(p)) != 0)
			return ret;
	}
	if (sub) {
		(void)snprintf(p, sizeof(p), "%s/maildirfolder", dir);
		if ((ret = ctl_exp_file(p, (const uint8_t *)"", 0, false,
		    0)) != 0)
			return ret;
	}
	memset(&k, 0, sizeof(k));
	buf_init(&lf, SIZE_MAX / 2);
	buf_init(&info, 256);
	buf_init(&kwf, 1 << 20);
	for (i = 0; ret == 0 && i < e->n; i++) {
		const struct store_msg *m = &e->msgs[i];
		int n1, n2;

		if ((ret = ctl_exp_message(e, i, &body, &meta)) != 0)
			break;
		buf_reset(&lf);
		buf_reset(&info);
		cr = false;
		if (mailsrc_crlf_to_lf(&lf, body.data, body.len, &cr) < 0 ||
		    mailsrc_crlf_to_lf(&lf, NULL, 0, &cr) < 0 ||
		    mailsrc_maildir_info(&info, &meta, &k, &dropped) < 0) {
			ret = EX_SOFTWARE;
		} else {
			total += dropped;
			n1 = snprintf(p, sizeof(p), "%s/tmp/%lld.M%uP%ld.%s,"
			    "S=%zu", dir, (long long)m->internaldate, m->uid,
			    (long)getpid(), e->host, lf.len);
			n2 = snprintf(q, sizeof(q), "%s/cur/%s%s", dir,
			    strrchr(p, '/') + 1, buf_cstr(&info));
			if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(p) ||
			    (size_t)n2 >= sizeof(q)) {
				ctl_err("path too long under %s", dir);
				ret = EX_CANTCREAT;
			} else if ((ret = ctl_exp_file(p, lf.data, lf.len,
			    true, m->internaldate)) == 0 && rename(p, q) < 0) {
				ctl_err("cannot rename %s: %s", p,
				    strerror(errno));
				ret = EX_IOERR;
			}
		}
		mailsrc_meta_free(&meta);
	}
	if (total > 0)
		ctl_err("%s: %zu keywords beyond the 26 a Maildir folder can "
		    "hold were left out", name, total);
	if (ret == 0 && mailsrc_kwmap_format(&k, &kwf) == 0 && kwf.len > 0) {
		(void)snprintf(p, sizeof(p), "%s/dovecot-keywords", dir);
		ret = ctl_exp_file(p, kwf.data, kwf.len, false, 0);
	}
	mailsrc_kwmap_free(&k);
	buf_free(&body);
	buf_free(&lf);
	buf_free(&info);
	buf_free(&kwf);
	return ret;
}

static bool
ctl_exp_dir_empty(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	bool empty = true;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

static int
ctl_exp_maildir(struct ctl_exp *e, const char *root, bool whole,
    const char *path)
{
	struct buf pp = BUF_INITIALIZER(STORE_NAME_MAX + 2);
	struct stat sb;
	char dir[4096];
	size_t i, rl = strlen(root), folders = 0, msgs = 0;
	enum store_err se;
	int ret = 0, bad = 0, fd;

	if (stat(path, &sb) == 0 && !(S_ISDIR(sb.st_mode) &&
	    ctl_exp_dir_empty(path))) {
		ctl_err("%s exists (give a new path or an empty directory)",
		    path);
		return EX_CANTCREAT;
	}
	se = store_mbox_list(e->st, e->user, "", ctl_exp_name_cb, e);
	if (se != STORE_OK) {
		ctl_err("cannot list the mailboxes: %s", store_strerror(se));
		return ctl_store_exit(se);
	}
	if (ctl_mkdirs(path, 0700) < 0) {
		ctl_err("cannot create %s: %s", path, strerror(errno));
		return EX_CANTCREAT;
	}
	if ((ret = ctl_exp_folder(e, root, path, false)) != 0)
		return ret;
	folders++;
	msgs += e->n;
	for (i = 0; ret == 0 && i < e->nnames; i++) {
		const char *name = e->names[i], *rel;

		if (strcmp(name, root) == 0)
			continue;
		if (whole)
			rel = name;
		else if (strncmp(name, root, rl) == 0 && name[rl] == '/')
			rel = name + rl + 1;
		else
			continue;
		if (!mailsrc_name_to_maildirpp(rel, &pp)) {
			ctl_err("mailbox %s left out: a Maildir++ folder name "
			    "cannot hold '.'", name);
			bad = EX_DATAERR;
			continue;
		}
		if (snprintf(dir, sizeof(dir), "%s/%s", path,
		    buf_cstr(&pp)) >= (int)sizeof(dir)) {
			ctl_err("path too long for %s", name);
			bad = EX_DATAERR;
			continue;
		}
		ret = ctl_exp_folder(e, name, dir, true);
		folders++;
		msgs += e->n;
	}
	buf_free(&pp);
	if (ret == 0 && (fd = open(path, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0) {
		if (syncfs(fd) < 0) {
			ctl_err("writing %s: %s", path, strerror(errno));
			ret = EX_IOERR;
		}
		close(fd);
	}
	if (ret == 0)
		printf("exported %zu messages in %zu folders\n", msgs,
		    folders);
	return ret != 0 ? ret : bad;
}

int
ctl_export(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_exp e;
	const char *format = NULL, *user, *mailbox = NULL, *path;
	bool mboxo = false;
	size_t i;
	int n, ret;

	if ((n = ctl_mail_args(argc, argv, &format, &mboxo, NULL)) < 0)
		return EX_USAGE;
	if (n < 2 || n > 3 || format == NULL) {
		ctl_err("usage: refimapctl export USER [MAILBOX] PATH "
		    "--format mbox|mboxrd|mboxo|maildir");
		return EX_USAGE;
	}
	if (strcmp(format, "mboxo") == 0)
		mboxo = true;
	else if (strcmp(format, "mbox") != 0 && strcmp(format, "mboxrd") != 0 &&
	    strcmp(format, "maildir") != 0) {
		ctl_err("unknown format %s (mbox, mboxrd, mboxo or maildir)",
		    format);
		return EX_USAGE;
	}
	user = argv[0];
	if (n == 3)
		mailbox = strcasecmp(argv[1], "INBOX") == 0 ? "INBOX" : argv[1];
	path = argv[n - 1];
	if ((ret = ctl_mail_user(ctl, user)) != 0)
		return ret;
	memset(&e, 0, sizeof(e));
	e.user = user;
	if (gethostname(e.host, sizeof(e.host) - 1) < 0 || e.host[0] == '\0')
		(void)snprintf(e.host, sizeof(e.host), "localhost");
	for (i = 0; e.host[i] != '\0'; i++)
		if (e.host[i] == '/' || e.host[i] == ':' || e.host[i] == ',' ||
		    (unsigned char)e.host[i] <= 0x20 ||
		    (unsigned char)e.host[i] >= 0x7f)
			e.host[i] = '_';
	if ((ret = ctl_store_open(ctl, &e.st)) != 0)
		return ret;
	if (strcmp(format, "maildir") == 0)
		ret = ctl_exp_maildir(&e, mailbox != NULL ? mailbox : "INBOX",
		    mailbox == NULL, path);
	else
		ret = ctl_exp_mbox(&e, mailbox != NULL ? mailbox : "INBOX",
		    path, mboxo);
	store_close(&e.st);
	ctl_exp_clear(&e);
	for (i = 0; i < e.nnames; i++)
		xfree(&e.names[i]);
	free(e.names);
	return ret;
}
