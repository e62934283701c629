/*
 * deliver.c: reading a message from an MTA and storing it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/mailsrc.h"
#include "deliver.h"

/* Appends in[0..n) to out with every bare LF made CRLF; *cr carries
 * whether the previous byte was a CR across calls. */
static enum deliver_result
deliver_read(int fd, uint64_t max, struct buf *msg)
{
	uint8_t chunk[65536];
	bool cr = false, first = true;
	struct buf line = BUF_INITIALIZER(4096);

	buf_init(msg, max > SIZE_MAX ? SIZE_MAX : (size_t)max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		const uint8_t *p = chunk;
		size_t len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			buf_free(&line);
			return DELIVER_READ;
		}
		if (n == 0)
			break;
		len = (size_t)n;
		if (first) {
			/* Collect the first line to see if it is "From ". */
			const uint8_t *lf = memchr(p, '\n', len);
			size_t take = lf == NULL ? len : (size_t)(lf - p) + 1;

			if (buf_add(&line, p, take) < 0)
				lf = p;		/* too long: not a From_ line */
			if (lf == NULL)
				continue;
			first = false;
			if (line.len < 5 || memcmp(line.data, "From ", 5) != 0) {
				if (mailsrc_lf_to_crlf(msg, line.data, line.len,
				    &cr) < 0) {
					buf_free(&line);
					return DELIVER_TOOBIG;
				}
			}
			p += take;
			len -= take;
		}
		if (mailsrc_lf_to_crlf(msg, p, len, &cr) < 0) {
			buf_free(&line);
			return DELIVER_TOOBIG;
		}
	}
	if (first && line.len > 0 &&
	    (line.len < 5 || memcmp(line.data, "From ", 5) != 0) &&
	    mailsrc_lf_to_crlf(msg, line.data, line.len, &cr) < 0) {
		buf_free(&line);
		return DELIVER_TOOBIG;
	}
	buf_free(&line);
	return DELIVER_OK;
}

enum deliver_result
deliver_read_fd(int fd, uint64_t max, struct buf *msg)
{
	enum deliver_result r = deliver_read(fd, max, msg);

	if (r != DELIVER_OK)
		buf_free(msg);
	return r;
}

enum deliver_result
deliver_store(struct store *st, const char *user, const char *mailbox,
    const struct buf *msg, uint32_t *uid_r, const char **used_r,
    enum store_err *store_err_r)
{
	struct store_append *ap = NULL;
	enum store_err e;
	uint32_t uidvalidity;

	*store_err_r = STORE_OK;
	*used_r = mailbox;
	e = store_user_init(st, user);
	if (e == STORE_OK && strcmp(mailbox, "INBOX") != 0) {
		struct store_mbox mb;

		e = store_mbox_get(st, user, mailbox, &mb);
		if (e == STORE_ERR_NOTFOUND ||
		    (e == STORE_OK && (mb.flags & STORE_MBOX_NOSELECT))) {
			log_msg(LOG_NOTICE, "deliver: no mailbox %s for %s, "
			    "using INBOX", mailbox, user);
			*used_r = "INBOX";
			e = STORE_OK;
		}
	}
	if (e == STORE_OK)
		e = store_append_begin(st, msg->len, &ap);
	if (e == STORE_OK && msg->len > 0)
		e = store_append_data(ap, msg->data, msg->len);
	if (e == STORE_OK)
		e = store_append_commit(ap, user, *used_r, 0, 0, 0,
		    (int64_t)time(NULL), 0, uid_r, &uidvalidity);
	store_append_free(&ap);
	*store_err_r = e;
	return e == STORE_OK ? DELIVER_OK : DELIVER_STORE;
}
