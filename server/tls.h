/*
 * tls.h: the TLS layer (OpenSSL) under a session: a server context loaded
 * once from the configured certificate and key, and one connection per
 * session over its fds, for STARTTLS (RFC 3501 §6.2.1, RFC 2595) and for
 * implicit TLS (RFC 8314 §3.3, port 993).
 *
 * TLS 1.2 is the oldest version accepted; ciphers are OpenSSL's defaults.
 * A connection's fds are made non-blocking: tls_read never blocks, and
 * tls_write waits (bounded) until everything is sent.
 */
#ifndef REFIMAPD_TLS_H
#define REFIMAPD_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "../lib/compat.h"

/* Bounds the handshake: a client that stalls is dropped after this many
 * seconds, or sooner when the pre-login idle limit is shorter. */
#define TLS_HANDSHAKE_TIMEOUT	30
#define TLS_HANDSHAKE_LIMIT(preauth_idle) \
	((preauth_idle) < TLS_HANDSHAKE_TIMEOUT ? (preauth_idle) : \
	TLS_HANDSHAKE_TIMEOUT)
/* Bounds a write that makes no progress (a client that stopped reading). */
#define TLS_WRITE_TIMEOUT	300

struct tls_ctx;
struct tls_conn;

/*
 * Loads the certificate chain (PEM) and the private key (PEM) and checks
 * that they match. Call in the master before dropping privileges: the key
 * file may be readable by root only, and children inherit the context.
 * Returns the context (free with tls_ctx_free), or NULL with a message
 * naming the file and what is wrong in errbuf.
 */
struct tls_ctx *tls_ctx_new(const char *cert, const char *key, char *errbuf,
    size_t errlen) ATTR_WUR;
void tls_ctx_free(struct tls_ctx **ctx);
/* The OpenSSL library this process runs with (OpenSSL_version()). */
const char *tls_library_version(void);

/*
 * Runs the server side of a handshake over fd_in/fd_out (the same fd for a
 * socket; 0 and 1 under inetd), after making them non-blocking. Gives up
 * after timeout seconds, at EOF, on a protocol error, or when a signal
 * interrupts the wait (the caller's signal mask decides which can).
 * Returns the connection, or NULL after logging why.
 */
struct tls_conn *tls_accept(struct tls_ctx *ctx, int fd_in, int fd_out,
    unsigned timeout) ATTR_WUR;

/*
 * Reads decrypted bytes. Returns n > 0; 0 at the end of the stream
 * (close_notify or EOF); -1 with errno EAGAIN when no complete record is
 * there yet (poll fd_in for POLLIN and call again), or with another errno
 * on an error (logged at debug level).
 */
ssize_t tls_read(struct tls_conn *c, void *p, size_t n) ATTR_WUR;

/*
 * Bytes already decrypted and held inside OpenSSL: tls_read returns them
 * without reading the fd, so poll must not wait while this is non-zero.
 */
size_t tls_pending(const struct tls_conn *c);

/*
 * Writes all n bytes, waiting while the socket is full (at most
 * TLS_WRITE_TIMEOUT seconds without progress). Returns 0, or -1 with
 * errno set (EPIPE when the peer closed, ETIMEDOUT, EIO).
 */
int tls_write(struct tls_conn *c, const void *p, size_t n) ATTR_WUR;

/* The negotiated protocol and cipher, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"
 * (static storage inside the connection). */
const char *tls_describe(const struct tls_conn *c);

/*
 * Sends close_notify (best effort, without waiting for the peer's) and
 * frees the connection; *c becomes NULL. The fds are not closed.
 */
void tls_close(struct tls_conn **c);

#endif
