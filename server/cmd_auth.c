/*
 * cmd_auth.c: authentication, allowed in the not-authenticated state:
 *   LOGIN (RFC 3501 §6.2.3), AUTHENTICATE PLAIN (§6.2.2, RFC 4616) with an
 *   initial response (SASL-IR, RFC 4959).
 *
 * Plaintext mechanisms are refused on a connection that is neither local
 * nor protected unless the config allows them (RFC 3501 §6.2.3,
 * LOGINDISABLED). A failure costs a delay; too many end the connection.
 * Passwords never reach a log, and are wiped after use.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>
#include <sys/mman.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../auth/passwd.h"
#include "../auth/sasl.h"
#include "../lib/base64.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "resp.h"

#define AUTH_STORE_TRIES	40	/* of AUTH_STORE_WAIT_MS: 10 s */
#define AUTH_STORE_WAIT_MS	250
#define AUTH_OPEN_STACK		(256 * 1024)

static bool
auth_plaintext_allowed(const struct session *s)
{
	return s->tls != NULL || s->peer.local || s->cfg->allow_plaintext;
}

static void
auth_delay(unsigned ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
auth_failed(struct session *s, const char *code, const char *text)
{
	auth_delay(s->cfg->auth_fail_delay_ms);
	resp_no(s, code, "%s", text);
	if (++s->auth_failures >= s->cfg->auth_max_failures) {
		resp_untagged(s, "BYE Too many authentication failures");
		log_msg(LOG_NOTICE, "disconnected: %u authentication "
		    "failures", s->auth_failures);
		session_close(s);
	}
}

/*
 * Opens the store for the session. Under the daemon, a store that needs
 * recovery (a process died in it) is the master's to recover: ask it to
 * look now (SIGUSR1) and wait for it, a few seconds at most.
 */
static enum store_err
auth_store_open(struct session *s, const struct store_options *opt,
    const char **error_r)
{
	enum store_err e;
	unsigned tries;

	for (tries = 0;; tries++) {
		e = store_open(s->cfg->data_dir, opt, &s->store, error_r);
		if (e != STORE_ERR_TRYAGAIN || !opt->no_recovery ||
		    tries == AUTH_STORE_TRIES)
			return e;
		if (tries == 0)
			(void)kill(getppid(), SIGUSR1);
		auth_delay(AUTH_STORE_WAIT_MS);
	}
}

/* The store's open, run on a thread of its own during a login. */
struct auth_open {
	struct session *s;
	const struct store_options *opt;
	const char *error;
	char errbuf[512];	/* the store's message is the thread's own */
	enum store_err result;
	pthread_t thread;
	void *stack;
};

static void *
auth_open_run(void *arg)
{
	struct auth_open *o = arg;

	const char *error = NULL;

	o->result = auth_store_open(o->s, o->opt, &error);
	/* The store keeps its error text per thread, in this thread's
	 * storage, which goes with it. */
	if (error != NULL) {
		(void)snprintf(o->errbuf, sizeof(o->errbuf), "%s", error);
		o->error = o->errbuf;
	}
	return NULL;
}

/*
 * Starts the store's open on a second thread while this one hashes the
 * password (the bulk of a login: yescrypt spends its memory and time on
 * purpose). The hash stays on this thread, which is running already: a
 * new thread waits first for an idle CPU to wake, and the open is the one
 * that can afford the wait. Only under the daemon, whose sessions leave
 * recovery to the master: an open that recovers forks children, and
 * those must belong to the main thread.
 *
 * The thread gets a stack of our own, unmapped when it ends, and shares
 * the one malloc arena, so a session keeps nothing of it; it blocks every
 * signal, which stay the main thread's. Berkeley DB keeps a slot for it
 * in the thread table until the process ends (store_isalive asks by
 * process). The store is shared: nothing of a user's is read before the
 * password has been checked. Returns false when no thread could be made.
 */
static bool
auth_open_start(struct auth_open *o)
{
	static bool one_arena;
	pthread_attr_t attr;
	sigset_t all, old;
	bool ok = false;

	if (!o->opt->no_recovery)
		return false;
	if (!one_arena) {
		(void)mallopt(M_ARENA_MAX, 1);
		one_arena = true;
	}
	o->stack = mmap(NULL, AUTH_OPEN_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (o->stack == MAP_FAILED)
		return false;
	if (pthread_attr_init(&attr) != 0)
		goto out;
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	ok = pthread_attr_setstack(&attr, o->stack, AUTH_OPEN_STACK) == 0 &&
	    pthread_create(&o->thread, &attr, auth_open_run, o) == 0;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)pthread_attr_destroy(&attr);
out:
	if (!ok)
		(void)munmap(o->stack, AUTH_OPEN_STACK);
	return ok;
}

static enum store_err
auth_open_wait(struct auth_open *o, const char **error_r)
{
	(void)pthread_join(o->thread, NULL);
	(void)munmap(o->stack, AUTH_OPEN_STACK);
	*error_r = o->error;
	return o->result;
}

/* Checks the password and, if it is right, moves to AUTHENTICATED. */
static void
auth_attempt(struct session *s, const char *user, const uint8_t *pass,
    size_t passlen)
{
	/* The path on the heap: a session's stack keeps every page it has
	 * ever touched, and this frame sits above the deepest calls. */
	struct buf path = BUF_INITIALIZER(SIZE_MAX);
	char esc[PASSWD_USER_MAX * 4 + 8];
	struct store_options opt = { .create = false, .nosync = false };
	struct auth_open op = { .s = s, .opt = &opt };
	const char *error = NULL;
	enum passwd_result pr;
	enum store_err e = STORE_OK;
	bool threaded;

	log_escape((const uint8_t *)user, strlen(user), esc, sizeof(esc));
	if (buf_addf(&path, "%s/passwd", s->cfg->data_dir) < 0) {
		buf_free(&path);
		cmd_store_error(s, STORE_ERR_IO);
		return;
	}
	opt.nosync = !s->cfg->fsync;
	/* Flag changes wait for the master's checkpoint to be fsynced:
	 * without one (inetd) they are fsynced at once. */
	opt.sync_flags = s->cfg->fsync_flags || !s->cfg->master_checkpoints;
	opt.no_checkpoint = s->cfg->master_checkpoints;
	opt.no_recovery = s->cfg->master_checkpoints;
	opt.lazy = true;
	threaded = auth_open_start(&op);
	pr = passwd_check(buf_cstr(&path), user, pass, passlen);
	if (threaded)
		e = auth_open_wait(&op, &error);
	if (pr == PASSWD_IOERR) {
		log_msg(LOG_ERR, "passwd file %s unreadable",
		    buf_cstr(&path));
		buf_free(&path);
		store_close(&s->store);
		resp_no(s, "UNAVAILABLE", "Authentication unavailable");
		return;
	}
	buf_free(&path);
	if (pr != PASSWD_OK) {
		store_close(&s->store);
		log_msg(LOG_NOTICE, "authentication failed for user=%s", esc);
		auth_failed(s, "AUTHENTICATIONFAILED",
		    "Authentication failed");
		return;
	}
	if (!threaded)
		e = auth_store_open(s, &opt, &error);
	if (e == STORE_OK)
		e = s->cfg->special_use_mailboxes ?
		    store_user_init_special(s->store, user) :
		    store_user_init(s->store, user);
	if (e != STORE_OK) {
		log_msg(LOG_ERR, "store for user=%s: %s", esc,
		    error != NULL ? error : store_strerror(e));
		store_close(&s->store);
		resp_no(s, "UNAVAILABLE", "Mail store unavailable");
		session_end_if_store_spent(s);
		return;
	}
	s->user = xstrdup(user);
	s->state = SESSION_AUTH;
	log_set_context("session=%u user=%s peer=%s", s->id, esc,
	    s->peer.addr);
	log_msg(LOG_INFO, "login");
	resp_ok(s, "[CAPABILITY %s] Logged in", session_capabilities(s));
}

void
cmd_login(struct session *s, struct args *a)
{
	const uint8_t *user, *pass;
	size_t un, pn;
	char ubuf[PASSWD_USER_MAX + 1];

	if (!args_astring(a, &user, &un) || !args_astring(a, &pass, &pn)) {
		cmd_bad_args(s, "user name and password");
		return;
	}
	if (!cmd_args_end(s, a))
		goto wipe;
	if (!auth_plaintext_allowed(s)) {
		resp_no(s, "PRIVACYREQUIRED", "LOGIN is disabled on an "
		    "unencrypted connection");
		goto wipe;
	}
	if (un > PASSWD_USER_MAX || memchr(user, '\0', un) != NULL) {
		auth_failed(s, "AUTHENTICATIONFAILED",
		    "Authentication failed");
		goto wipe;
	}
	memcpy(ubuf, user, un);
	ubuf[un] = '\0';
	auth_attempt(s, ubuf, pass, pn);
wipe:
	explicit_bzero((void *)(uintptr_t)pass, pn);
}

static void
auth_plain_message(struct session *s, const uint8_t *b64, size_t n)
{
	struct buf dec = BUF_INITIALIZER(4096);
	struct sasl_plain msg;
	const char *error;

	if (n == 1 && b64[0] == '*') {
		resp_bad(s, "Authentication cancelled");
		return;
	}
	if (base64_decode(b64, n, &dec) < 0) {
		resp_bad(s, "Invalid base64 in SASL response");
		session_count_bad(s);
		goto out;
	}
	if (sasl_plain_decode(dec.data == NULL ? (const uint8_t *)"" :
	    dec.data, dec.len, &msg, &error) < 0) {
		resp_bad(s, "Invalid SASL PLAIN message: %s", error);
		session_count_bad(s);
		goto out;
	}
	if (msg.authzid[0] != '\0' && strcmp(msg.authzid, msg.authcid) != 0)
		auth_failed(s, "AUTHORIZATIONFAILED",
		    "Authorization identity must be the user");
	else
		auth_attempt(s, msg.authcid, (const uint8_t *)msg.passwd,
		    msg.passwd_len);
	sasl_plain_wipe(&msg);
out:
	if (dec.data != NULL)
		explicit_bzero(dec.data, dec.cap);
	buf_free(&dec);
}

static void
auth_plain_line(struct session *s, const uint8_t *line, size_t n)
{
	auth_plain_message(s, line, n);
}

void
cmd_authenticate(struct session *s, struct args *a)
{
	const uint8_t *mech, *ir = NULL;
	size_t mn, irn = 0;

	if (!args_atom(a, &mech, &mn)) {
		cmd_bad_args(s, "SASL mechanism name");
		return;
	}
	/* Without SASL-IR an initial response is one argument too many. */
	if (!args_end(a) && capa_has(s->capa, CAPA_SASL_IR) &&
	    !args_atom(a, &ir, &irn)) {
		cmd_bad_args(s, "base64 initial response");
		return;
	}
	if (!cmd_args_end(s, a))
		return;
	if (mn != 5 || strncasecmp((const char *)mech, "PLAIN", 5) != 0) {
		resp_no(s, "CANNOT", "Unsupported authentication mechanism");
		return;
	}
	if (!auth_plaintext_allowed(s)) {
		resp_no(s, "PRIVACYREQUIRED", "AUTHENTICATE PLAIN is disabled "
		    "on an unencrypted connection");
		return;
	}
	if (ir == NULL) {
		resp_continue(s, "");
		session_expect_line(s, auth_plain_line);
		return;
	}
	/* RFC 4959: "=" is an empty initial response. */
	if (irn == 1 && ir[0] == '=')
		irn = 0;
	auth_plain_message(s, ir, irn);
	explicit_bzero((void *)(uintptr_t)ir, irn);
}
