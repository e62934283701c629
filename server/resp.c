/*
 * resp.c: queueing and sending responses (RFC 3501 §7). The output buffer
 * has no fixed maximum (a response is as large as the data asked for); it
 * is flushed at every command boundary and whenever it passes 64 KiB.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../lib/imapstr.h"
#include "../lib/log.h"
#include "../store/store.h"
#include "resp.h"
#include "resync.h"
#include "tls.h"
#include "trace.h"

/* The output buffer has no maximum, so buf_* cannot fail on it; a failure
 * would be an internal error. */
static void
resp_check(struct session *s, int r)
{
	if (r < 0) {
		log_msg(LOG_CRIT, "response buffer overflow");
		session_close(s);
	}
}

static void
resp_vaddf(struct session *s, const char *fmt, va_list ap)
{
	resp_check(s, buf_vaddf(&s->out, fmt, ap));
}

void
resp_add(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	resp_vaddf(s, fmt, ap);
	va_end(ap);
}

void
resp_tagged(struct session *s, const char *status, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	resync_modseq_notice(s);	/* RFC 7162 §3.2 */
	resp_add(s, "%s %s ", s->tag[0] != '\0' ? s->tag : "*", status);
	if (code != NULL)
		resp_add(s, "[%s] ", code);
	va_start(ap, fmt);
	resp_vaddf(s, fmt, ap);
	va_end(ap);
	resp_check(s, buf_add(&s->out, "\r\n", 2));
}

void
resp_untagged(struct session *s, const char *fmt, ...)
{
	va_list ap;

	resp_check(s, buf_add(&s->out, "* ", 2));
	va_start(ap, fmt);
	resp_vaddf(s, fmt, ap);
	va_end(ap);
	resp_check(s, buf_add(&s->out, "\r\n", 2));
}

void
resp_begin(struct session *s)
{
	resp_check(s, buf_add(&s->out, "* ", 2));
}

void
resp_end(struct session *s)
{
	resp_check(s, buf_add(&s->out, "\r\n", 2));
}

void
resp_add_bytes(struct session *s, const void *p, size_t n)
{
	resp_check(s, buf_add(&s->out, p, n));
}

void
resp_add_str(struct session *s, const char *str)
{
	resp_check(s, buf_add(&s->out, str, strlen(str)));
}

void
resp_add_u64(struct session *s, uint64_t n)
{
	char digits[20], *p = digits + sizeof(digits);

	do {
		*--p = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	resp_check(s, buf_add(&s->out, p, (size_t)(digits + sizeof(digits) -
	    p)));
}

void
resp_add_astring(struct session *s, const uint8_t *p, size_t n)
{
	resp_check(s, imapstr_astring(&s->out, p, n));
}

void
resp_add_string(struct session *s, const uint8_t *p, size_t n)
{
	resp_check(s, imapstr_string(&s->out, p, n));
}

void
resp_add_nstring(struct session *s, const uint8_t *p, size_t n)
{
	resp_check(s, imapstr_nstring(&s->out, p, n));
}

void
resp_add_mailbox(struct session *s, const char *name)
{
	resp_add_astring(s, (const uint8_t *)name, strlen(name));
}

void
resp_continue(struct session *s, const char *text)
{
	resp_add(s, "+ %s\r\n", text);
	(void)resp_flush(s);
}

static int resp_write_out(struct session *s);

/* A client that does not read blocks the write: that is no store hang,
 * so the watchdog mark is paused meanwhile (store.h). */
int
resp_flush(struct session *s)
{
	int64_t watch = store_watch_pause();
	int r = resp_write_out(s);

	store_watch_resume(watch);
	return r;
}

static int
resp_write_out(struct session *s)
{
	size_t off = 0;

	/* The trace holds what is sent, before TLS (trace.h). */
	trace_server(s->trace, s->out.data, s->out.len);
	if (s->tls != NULL && s->out.len > 0 &&
	    tls_write(s->tls, s->out.data, s->out.len) < 0) {
		log_msg(LOG_INFO, "disconnected: TLS write: %s",
		    strerror(errno));
		buf_reset(&s->out);
		session_close(s);
		return -1;
	}
	if (s->tls != NULL)
		off = s->out.len;
	while (off < s->out.len) {
		ssize_t n = write(s->fd_out, s->out.data + off,
		    s->out.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_msg(LOG_INFO, "disconnected: write: %s",
			    n < 0 ? strerror(errno) : "closed");
			buf_reset(&s->out);
			session_close(s);
			return -1;
		}
		off += (size_t)n;
	}
	s->bytes_out += s->out.len;
	if (s->out.cap > 256 * 1024)
		buf_free(&s->out);
	else
		buf_reset(&s->out);
	return 0;
}
