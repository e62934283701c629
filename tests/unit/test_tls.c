/*
 * Unit tests for the TLS layer (server/tls.c): context loading and its
 * error messages, and a server connection over a socketpair with a forked
 * OpenSSL client: tls_read, tls_pending, tls_write of more than the socket
 * holds, end of stream, and a refused TLS 1.1 client. The certificates are
 * made here, in memory, and written to a temp dir (EC P-256, self-signed).
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "../../server/tls.h"

extern int tls_suite_init(void);
extern int tls_suite_clean(void);

static char tls_dir[64];
static char tls_cert[128], tls_key[128], tls_key2[128], tls_junk[128];

#define TLS_BIG	(1024 * 1024)

static int
tls_path(char *out, size_t len, const char *name)
{
	int n = snprintf(out, len, "%s/%s", tls_dir, name);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
tls_write_key(EVP_PKEY *k, const char *path)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return -1;
	ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	return fclose(f) == 0 && ok == 1 ? 0 : -1;
}

int
tls_suite_init(void)
{
	EVP_PKEY *k1 = NULL, *k2 = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	FILE *f;
	int ret = -1;

	(void)snprintf(tls_dir, sizeof(tls_dir), "/tmp/refimapd-tls.XXXXXX");
	if (mkdtemp(tls_dir) == NULL ||
	    tls_path(tls_cert, sizeof(tls_cert), "cert.pem") < 0 ||
	    tls_path(tls_key, sizeof(tls_key), "key.pem") < 0 ||
	    tls_path(tls_key2, sizeof(tls_key2), "other-key.pem") < 0 ||
	    tls_path(tls_junk, sizeof(tls_junk), "junk.pem") < 0)
		return -1;
	if ((k1 = EVP_EC_gen("P-256")) == NULL ||
	    (k2 = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, k1);
	if (X509_sign(x, k1, EVP_sha256()) == 0)
		goto out;
	if ((f = fopen(tls_cert, "w")) == NULL)
		goto out;
	if (PEM_write_X509(f, x) != 1) {
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0 || tls_write_key(k1, tls_key) < 0 ||
	    tls_write_key(k2, tls_key2) < 0)
		goto out;
	if ((f = fopen(tls_junk, "w")) == NULL)
		goto out;
	fputs("not a certificate\n", f);
	if (fclose(f) != 0)
		goto out;
	ret = 0;
out:
	X509_free(x);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	return ret;
}

int
tls_suite_clean(void)
{
	(void)unlink(tls_cert);
	(void)unlink(tls_key);
	(void)unlink(tls_key2);
	(void)unlink(tls_junk);
	(void)rmdir(tls_dir);
	return 0;
}

void
test_tls_ctx_loads(void)
{
	char err[512] = "";
	struct tls_ctx *ctx = tls_ctx_new(tls_cert, tls_key, err, sizeof(err));

	CU_ASSERT_PTR_NOT_NULL(ctx);
	CU_ASSERT_STRING_EQUAL(err, "");
	tls_ctx_free(&ctx);
	CU_ASSERT_PTR_NULL(ctx);
	tls_ctx_free(&ctx);
}

/* tls_ctx_new must fail with a message that starts with want. */
static void
tls_ctx_fails(const char *cert, const char *key, const char *want)
{
	char err[512] = "";
	struct tls_ctx *ctx = tls_ctx_new(cert, key, err, sizeof(err));

	CU_ASSERT_PTR_NULL(ctx);
	tls_ctx_free(&ctx);
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));
}

void
test_tls_ctx_errors_name_the_file(void)
{
	char want[512], none[128];

	CU_ASSERT_FATAL(tls_path(none, sizeof(none), "none.pem") == 0);
	(void)snprintf(want, sizeof(want), "tls_cert %s: No such file or "
	    "directory", none);
	tls_ctx_fails(none, tls_key, want);
	(void)snprintf(want, sizeof(want), "tls_key %s: No such file or "
	    "directory", none);
	tls_ctx_fails(tls_cert, none, want);
	(void)snprintf(want, sizeof(want), "tls_cert %s: cannot load the "
	    "certificate", tls_junk);
	tls_ctx_fails(tls_junk, tls_key, want);
	(void)snprintf(want, sizeof(want), "tls_key %s: cannot load the "
	    "private key", tls_junk);
	tls_ctx_fails(tls_cert, tls_junk, want);
	(void)snprintf(want, sizeof(want), "tls_key %s does not match the "
	    "certificate in tls_cert %s", tls_key2, tls_cert);
	tls_ctx_fails(tls_cert, tls_key2, want);
}

/*
 * The client, in a forked child, on fd. Its exit status is the test
 * result: 0 for success. mode selects the script.
 */
enum tls_client_mode {
	TLS_CLIENT_ECHO,	/* sends "ping" and a 100-byte record, reads
				   TLS_BIG bytes slowly, closes cleanly */
	TLS_CLIENT_OLD,		/* TLS 1.1 only: must be refused */
};

static int
tls_client(int fd, enum tls_client_mode mode)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	unsigned char buf[16384];
	size_t got = 0;
	SSL *ssl;
	int r;

	if (c == NULL || (ssl = SSL_new(c)) == NULL || SSL_set_fd(ssl, fd) != 1)
		return 10;
	if (mode == TLS_CLIENT_OLD) {
		SSL_set_security_level(ssl, 0);
		SSL_set_min_proto_version(ssl, TLS1_VERSION);
		SSL_set_max_proto_version(ssl, TLS1_1_VERSION);
		if (SSL_connect(ssl) == 1)
			return 11;
		/* Refused by the server's alert, not by our own rules. */
		return ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ? 0 : 17;
	}
	if (SSL_connect(ssl) != 1)
		return 12;
	memset(buf, 'x', 100);
	if (SSL_write(ssl, "ping", 4) != 4 || SSL_write(ssl, buf, 100) != 100)
		return 13;
	while (got < TLS_BIG) {
		struct timespec ts = { 0, 1000 * 1000 };

		r = SSL_read(ssl, buf, sizeof(buf));
		if (r <= 0)
			return 14;
		for (int i = 0; i < r; i++) {
			if (buf[i] != (unsigned char)('a' + (got + i) % 26))
				return 15;
		}
		got += (size_t)r;
		if (got < 64 * 1024)
			nanosleep(&ts, NULL);	/* the server fills up */
	}
	r = SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(c);
	return r >= 0 ? 0 : 16;
}

static pid_t
tls_fork_client(int *fd_r, enum tls_client_mode mode)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		close(sv[0]);
		_exit(tls_client(sv[1], mode));
	}
	close(sv[1]);
	*fd_r = sv[0];
	return pid;
}

static int
tls_child_status(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* Reads exactly n bytes, waiting with poll as the session loop does. */
static int
tls_read_exact(struct tls_conn *c, int fd, unsigned char *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (tls_pending(c) == 0 && poll(&pfd, 1, 5000) != 1)
			return -1;
		r = tls_read(c, p + got, n - got);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

void
test_tls_read_pending_write_eof(void)
{
	char err[512];
	struct tls_ctx *ctx = tls_ctx_new(tls_cert, tls_key, err, sizeof(err));
	unsigned char buf[128], *big;
	struct tls_conn *c;
	ssize_t r;
	size_t i;
	pid_t pid;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	pid = tls_fork_client(&fd, TLS_CLIENT_ECHO);
	CU_ASSERT_FATAL(pid > 0);
	c = tls_accept(ctx, fd, fd, 5);
	CU_ASSERT_PTR_NOT_NULL(c);
	if (c != NULL) {
		CU_ASSERT_EQUAL(strncmp(tls_describe(c), "TLSv1.3 ", 8), 0);
		CU_ASSERT_EQUAL(tls_read_exact(c, fd, buf, 4), 0);
		CU_ASSERT_EQUAL(memcmp(buf, "ping", 4), 0);
		/* Part of the 100-byte record: the rest stays inside
		 * OpenSSL, where poll cannot see it. */
		CU_ASSERT_EQUAL(tls_read_exact(c, fd, buf, 10), 0);
		CU_ASSERT_EQUAL(tls_pending(c), 90);
		r = tls_read(c, buf, sizeof(buf));
		CU_ASSERT_EQUAL(r, 90);
		CU_ASSERT_EQUAL(tls_pending(c), 0);
		CU_ASSERT_EQUAL(buf[89], 'x');
		/* More than a socketpair holds: tls_write must wait. */
		big = malloc(TLS_BIG);
		CU_ASSERT_PTR_NOT_NULL_FATAL(big);
		for (i = 0; i < TLS_BIG; i++)
			big[i] = (unsigned char)('a' + i % 26);
		CU_ASSERT_EQUAL(tls_write(c, big, TLS_BIG), 0);
		free(big);
		/* The client's close_notify: end of stream. */
		do {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			(void)poll(&pfd, 1, 5000);
			r = tls_read(c, buf, sizeof(buf));
		} while (r < 0 && errno == EAGAIN);
		CU_ASSERT_EQUAL(r, 0);
		tls_close(&c);
		CU_ASSERT_PTR_NULL(c);
	}
	close(fd);
	CU_ASSERT_EQUAL(tls_child_status(pid), 0);
	tls_ctx_free(&ctx);
}

void
test_tls_refuses_tls11(void)
{
	char err[512];
	struct tls_ctx *ctx = tls_ctx_new(tls_cert, tls_key, err, sizeof(err));
	struct tls_conn *c;
	pid_t pid;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	pid = tls_fork_client(&fd, TLS_CLIENT_OLD);
	CU_ASSERT_FATAL(pid > 0);
	c = tls_accept(ctx, fd, fd, 5);
	CU_ASSERT_PTR_NULL(c);
	tls_close(&c);
	close(fd);
	CU_ASSERT_EQUAL(tls_child_status(pid), 0);
	tls_ctx_free(&ctx);
}

void
test_tls_handshake_timeout(void)
{
	char err[512];
	struct tls_ctx *ctx = tls_ctx_new(tls_cert, tls_key, err, sizeof(err));
	struct timespec t0, t1;
	struct tls_conn *c;
	int sv[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The client never says hello. */
	c = tls_accept(ctx, sv[0], sv[0], 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT(t1.tv_sec - t0.tv_sec >= 0 && t1.tv_sec - t0.tv_sec <= 2);
	close(sv[0]);
	close(sv[1]);
	tls_ctx_free(&ctx);
}
