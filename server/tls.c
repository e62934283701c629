/*
 * tls.c: TLS over a session's fds with OpenSSL (RFC 8446, RFC 5246): the
 * server context from tls_cert / tls_key, the bounded handshake, and
 * non-blocking reads and bounded writes for the session loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "tls.h"

struct tls_ctx {
	SSL_CTX *ssl_ctx;
};

struct tls_conn {
	SSL *ssl;
	int fd_in, fd_out;
	bool failed;		/* a fatal error: no close_notify */
	char desc[96];
};

/* The oldest error in OpenSSL's queue as text (or fallback), and clears
 * the queue. */
static const char *
tls_error_text(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (e == 0) {
		(void)snprintf(buf, len, "%s", fallback);
	} else {
		const char *reason = ERR_reason_error_string(e);

		if (reason != NULL)
			(void)snprintf(buf, len, "%s", reason);
		else
			ERR_error_string_n(e, buf, len);
	}
	ERR_clear_error();
	return buf;
}

/* A key with a passphrase cannot be used: never prompt on a terminal. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

/* Checks that path can be opened for reading, for a clear message. */
static int
tls_check_file(const char *what, const char *path, char *errbuf,
    size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		(void)snprintf(errbuf, errlen, "%s %s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

struct tls_ctx *
tls_ctx_new(const char *cert, const char *key, char *errbuf, size_t errlen)
{
	struct tls_ctx *ctx;
	SSL_CTX *sc;
	char why[256];

	if (tls_check_file("tls_cert", cert, errbuf, errlen) < 0 ||
	    tls_check_file("tls_key", key, errbuf, errlen) < 0)
		return NULL;
	ERR_clear_error();
	if ((sc = SSL_CTX_new(TLS_server_method())) == NULL) {
		(void)snprintf(errbuf, errlen, "TLS: %s",
		    tls_error_text(why, sizeof(why), "cannot make a context"));
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION) != 1) {
		(void)snprintf(errbuf, errlen, "TLS: cannot require TLS 1.2: "
		    "%s", tls_error_text(why, sizeof(why), "unknown error"));
		goto fail;
	}
	(void)SSL_CTX_set_options(sc, SSL_OP_NO_COMPRESSION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	(void)SSL_CTX_set_mode(sc, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(sc, tls_no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(sc, cert) != 1) {
		(void)snprintf(errbuf, errlen, "tls_cert %s: cannot load the "
		    "certificate (PEM expected): %s", cert,
		    tls_error_text(why, sizeof(why), "unknown error"));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
		    ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH)) {
			(void)snprintf(errbuf, errlen, "tls_key %s does not "
			    "match the certificate in tls_cert %s", key, cert);
			goto fail;
		}
		(void)snprintf(errbuf, errlen, "tls_key %s: cannot load the "
		    "private key (PEM without a passphrase expected): %s", key,
		    tls_error_text(why, sizeof(why), "unknown error"));
		goto fail;
	}
	if (SSL_CTX_check_private_key(sc) != 1) {
		(void)snprintf(errbuf, errlen, "tls_key %s does not match the "
		    "certificate in tls_cert %s: %s", key, cert,
		    tls_error_text(why, sizeof(why), "unknown error"));
		goto fail;
	}
	ERR_clear_error();
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->ssl_ctx = sc;
	return ctx;
fail:
	SSL_CTX_free(sc);
	ERR_clear_error();
	return NULL;
}

const char *
tls_library_version(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

void
tls_ctx_free(struct tls_ctx **ctxp)
{
	struct tls_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
	*ctxp = NULL;
}

static long
tls_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Waits until fd is ready for events or deadline (monotonic ms) passes.
 * 1: ready; 0: timed out; -1: poll failed, or a signal interrupted it and
 * eintr_fails.
 */
static int
tls_wait(int fd, short events, long deadline, bool eintr_fails)
{
	struct pollfd pfd;

	pfd.fd = fd;
	pfd.events = events;
	for (;;) {
		long left = deadline - tls_now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR || eintr_fails)
			return -1;
	}
}

static int
tls_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

struct tls_conn *
tls_accept(struct tls_ctx *ctx, int fd_in, int fd_out, unsigned timeout)
{
	long deadline = tls_now_ms() + (long)timeout * 1000;
	struct tls_conn *c;
	char why[256];
	SSL *ssl;

	if (tls_set_nonblock(fd_in) < 0 || tls_set_nonblock(fd_out) < 0) {
		log_msg(LOG_ERR, "TLS: fcntl: %s", strerror(errno));
		return NULL;
	}
	ERR_clear_error();
	if ((ssl = SSL_new(ctx->ssl_ctx)) == NULL ||
	    (fd_in == fd_out ? SSL_set_fd(ssl, fd_in) != 1 :
	    (SSL_set_rfd(ssl, fd_in) != 1 || SSL_set_wfd(ssl, fd_out) != 1))) {
		log_msg(LOG_ERR, "TLS: cannot make a connection: %s",
		    tls_error_text(why, sizeof(why), "unknown error"));
		SSL_free(ssl);
		return NULL;
	}
	for (;;) {
		int r, w = 0;

		ERR_clear_error();
		errno = 0;
		if ((r = SSL_accept(ssl)) == 1)
			break;
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			w = tls_wait(fd_in, POLLIN, deadline, true);
			break;
		case SSL_ERROR_WANT_WRITE:
			w = tls_wait(fd_out, POLLOUT, deadline, true);
			break;
		case SSL_ERROR_ZERO_RETURN:
			log_msg(LOG_INFO, "TLS handshake failed: connection "
			    "closed by client");
			goto fail;
		case SSL_ERROR_SYSCALL:
			log_msg(LOG_INFO, "TLS handshake failed: %s",
			    errno != 0 ? strerror(errno) :
			    tls_error_text(why, sizeof(why),
			    "connection closed by client"));
			goto fail;
		default:
			log_msg(LOG_INFO, "TLS handshake failed: %s",
			    tls_error_text(why, sizeof(why), "protocol error"));
			goto fail;
		}
		if (w == 0) {
			log_msg(LOG_INFO, "TLS handshake failed: no progress "
			    "in %u s", timeout);
			goto fail;
		}
		if (w < 0) {
			log_msg(LOG_INFO, "TLS handshake failed: %s",
			    errno == EINTR ? "interrupted" : strerror(errno));
			goto fail;
		}
	}
	c = xcalloc(1, sizeof(*c));
	c->ssl = ssl;
	c->fd_in = fd_in;
	c->fd_out = fd_out;
	(void)snprintf(c->desc, sizeof(c->desc), "%s %s",
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return c;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

ssize_t
tls_read(struct tls_conn *c, void *p, size_t n)
{
	long deadline = tls_now_ms() + TLS_WRITE_TIMEOUT * 1000L;
	char why[256];

	for (;;) {
		int r, w;

		ERR_clear_error();
		errno = 0;
		r = SSL_read(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
		if (r > 0)
			return r;
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		case SSL_ERROR_WANT_READ:
			errno = EAGAIN;
			return -1;
		case SSL_ERROR_WANT_WRITE:
			/* OpenSSL has something to send first (a key
			 * update's answer): let it, then read again. */
			w = tls_wait(c->fd_out, POLLOUT, deadline, false);
			if (w > 0)
				continue;
			errno = w == 0 ? ETIMEDOUT : errno;
			return -1;
		case SSL_ERROR_SYSCALL:
			c->failed = true;
			if (errno == 0)
				return 0;
			return -1;
		default:
			c->failed = true;
			log_msg(LOG_DEBUG, "TLS read: %s", tls_error_text(why,
			    sizeof(why), "protocol error"));
			errno = EIO;
			return -1;
		}
	}
}

size_t
tls_pending(const struct tls_conn *c)
{
	int n = SSL_pending(c->ssl);

	return n > 0 ? (size_t)n : 0;
}

int
tls_write(struct tls_conn *c, const void *p, size_t n)
{
	const unsigned char *q = p;
	long deadline = tls_now_ms() + TLS_WRITE_TIMEOUT * 1000L;
	size_t off = 0;
	char why[256];

	while (off < n) {
		size_t chunk = n - off > INT_MAX ? INT_MAX : n - off;
		int r, w;

		ERR_clear_error();
		errno = 0;
		r = SSL_write(c->ssl, q + off, (int)chunk);
		if (r > 0) {
			off += (size_t)r;
			deadline = tls_now_ms() + TLS_WRITE_TIMEOUT * 1000L;
			continue;
		}
		/* A retry after WANT_* repeats the same pointer and length,
		 * as OpenSSL requires. */
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_WRITE:
			w = tls_wait(c->fd_out, POLLOUT, deadline, false);
			break;
		case SSL_ERROR_WANT_READ:
			w = tls_wait(c->fd_in, POLLIN, deadline, false);
			break;
		case SSL_ERROR_ZERO_RETURN:
			errno = EPIPE;
			return -1;
		case SSL_ERROR_SYSCALL:
			c->failed = true;
			if (errno == 0)
				errno = EPIPE;
			return -1;
		default:
			c->failed = true;
			log_msg(LOG_DEBUG, "TLS write: %s", tls_error_text(why,
			    sizeof(why), "protocol error"));
			errno = EIO;
			return -1;
		}
		if (w == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (w < 0)
			return -1;
	}
	return 0;
}

const char *
tls_describe(const struct tls_conn *c)
{
	return c->desc;
}

void
tls_close(struct tls_conn **cp)
{
	struct tls_conn *c = *cp;

	if (c == NULL)
		return;
	ERR_clear_error();
	/* One non-blocking attempt: the peer's close_notify is not awaited
	 * (RFC 8446 §6.1 allows closing the read side at once). */
	if (!c->failed)
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	SSL_free(c->ssl);
	free(c);
	*cp = NULL;
}
