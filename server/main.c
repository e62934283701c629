/*
 * main.c: refimapd's entry point. Two ways to run:
 *   refimapd -i      one session on fd 0/1, for inetd (RFC 3501 over
 *                    whatever inetd accepted); with --tls, TLS first
 *                    (imaps, RFC 8314);
 *   refimapd         a daemon: config, log, bind, load TLS, drop
 *                    privileges, store recovery, then one forked child per
 *                    connection, with max_sessions and a per-address limit.
 *                    With tls_cert set it also listens on tls_port
 *                    (implicit TLS) and offers STARTTLS on port. SIGTERM
 *                    stops it and its sessions (each says BYE).
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../lib/config.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "../store/store.h"
#include "pidfile.h"
#include "sandbox.h"
#include "capa.h"
#include "session.h"
#include "tls.h"
#include "version.h"

/* Long options without a short form (the sandbox's start at 0x300). */
#define MAIN_OPT_TLS	0x200
#define MAIN_OPT_CAPA	0x201

#define MAIN_LISTEN_MAX	16	/* plain and TLS sockets together */
#define MAIN_STOP_WAIT_MS 3000

struct main_child {
	pid_t pid;
	char addr[64];
	size_t slot;	/* its watchdog mark in main_watch; SIZE_MAX none */
};

/*
 * The watchdog marks of the sessions (store.h store_watch_set), in memory
 * shared with them: one slot per possible session, 0 while the session is
 * outside the store.
 */
static volatile int64_t *main_watch;
static size_t main_nwatch;

static volatile sig_atomic_t main_got_term, main_got_chld, main_got_hup;
static volatile sig_atomic_t main_got_usr1;
static struct main_child *main_children;
static size_t main_nchildren, main_capchildren;
/* Loaded before privileges are dropped; children inherit it. */
static struct tls_ctx *main_tls;

static void
main_usage(void)
{
	fprintf(stderr, "usage: refimapd [-c FILE] [-d DATA_DIR] [-l ADDR] "
	    "[-p PORT] [-P TLS_PORT] [-f] [-i [--tls]] [-V]\n"
	    "                [-T DIR] [--capabilities LIST]\n"
	    "  -c FILE      config file (default %s)\n"
	    "  -d DIR       data_dir\n"
	    "  -l ADDR      listen (address to bind, * for all)\n"
	    "  -p PORT      port (plain IMAP with STARTTLS; 0: any free port)\n"
	    "  -P PORT      tls_port (implicit TLS, needs tls_cert and "
	    "tls_key;\n"
	    "               0: any free port; none: no TLS listener)\n"
	    "  -f           foreground, log to stderr\n"
	    "  -i           one session on stdin/stdout (inetd)\n"
	    "  --tls        with -i: TLS handshake first (imaps under inetd)\n"
	    "  -T DIR       trace_dir: a protocol trace of each session in DIR\n"
	    "  --capabilities LIST\n"
	    "               extensions to remove (-QRESYNC -IDLE ...) or to "
	    "keep\n"
	    "  -V           print the version\n"
	    "  --sandbox [--user NAME:PASSWORD]... [--preload [MAILBOX=]PATH]..."
	    "\n               [--stdin-lifetime]: a throw-away server on a "
	    "fresh store\n               (see README: Testing your IMAP "
	    "client)\n", CONFIG_DEFAULT_FILE);
	exit(EX_USAGE);
}

static void
main_on_signal(int sig)
{
	if (sig == SIGTERM || sig == SIGINT)
		main_got_term = 1;
	else if (sig == SIGCHLD)
		main_got_chld = 1;
	else if (sig == SIGHUP)
		main_got_hup = 1;
	else if (sig == SIGUSR1)
		main_got_usr1 = 1;
}

static void
main_session_on_term(int sig)
{
	(void)sig;
	session_request_shutdown();
}

static void
main_set_handler(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(sig, &sa, NULL);
}

#define MAIN_CHECK_TRIES	5
#define MAIN_CHECK_PAUSE_MS	200

/*
 * Checks that the data directory and its store can be opened, running
 * Berkeley DB recovery if a process died holding it. Each attempt is a
 * child: Berkeley DB allows one DB_REGISTER open per process, and a
 * process of the daemon that ran before (a store check it had forked, a
 * session) may still be dying and hand the store one more recovery.
 */
static void
main_check_store(const struct config *cfg)
{
	struct timespec pause = { 0, MAIN_CHECK_PAUSE_MS * 1000 * 1000 };
	unsigned attempt;
	int status = 0;

	for (attempt = 0; attempt < MAIN_CHECK_TRIES; attempt++) {
		pid_t pid = fork();

		if (pid < 0) {
			log_msg(LOG_ERR, "fork: %s", strerror(errno));
			exit(EX_OSERR);
		}
		if (pid == 0) {
			struct store_options opt = { .create = false,
			    .nosync = !cfg->fsync };
			struct store *st = NULL;
			const char *error = NULL;
			enum store_err e;

			e = store_open(cfg->data_dir, &opt, &st, &error);
			if (e != STORE_OK && e != STORE_ERR_TRYAGAIN)
				log_msg(LOG_ERR, "cannot open the store in "
				    "%s: %s (run 'refimapctl -d %s init' "
				    "first?)", cfg->data_dir, error != NULL ?
				    error : store_strerror(e), cfg->data_dir);
			store_close(&st);
			_exit(e == STORE_OK ? 0 : e == STORE_ERR_TRYAGAIN ?
			    EX_TEMPFAIL : EX_CONFIG);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != EX_TEMPFAIL)
			break;
		(void)nanosleep(&pause, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
		log_msg(LOG_ERR, "cannot open the store in %s: it still "
		    "needs recovery after %u attempts", cfg->data_dir,
		    MAIN_CHECK_TRIES);
	exit(EX_CONFIG);
}

/*
 * Responses are collected and written whole (resp_flush), so nothing is
 * gained by the kernel holding back a short last segment until the
 * previous ones are acknowledged (Nagle); with a client that delays its
 * acknowledgements, the tail of a large response waited 40 ms that way.
 * Not a TCP socket (a pipe under inetd's "nowait" tests, a Unix socket):
 * the call fails and nothing changes.
 */
static void
main_socket_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* implicit_tls: the handshake comes before the greeting (RFC 8314 §3.3);
 * a failed or stalled one ends the session without a word. */
static void
main_run_session(int fd_in, int fd_out, const struct config *cfg,
    unsigned id, bool implicit_tls)
{
	struct session_peer peer;
	struct session *s;

	main_set_handler(SIGPIPE, SIG_IGN);
	/* A file over RLIMIT_FSIZE (a trace, a spool) fails its write
	 * (EFBIG) instead of killing the session. */
	main_set_handler(SIGXFSZ, SIG_IGN);
	main_set_handler(SIGTERM, main_session_on_term);
	main_set_handler(SIGINT, SIG_DFL);
	main_set_handler(SIGHUP, SIG_IGN);
	main_set_handler(SIGUSR1, SIG_IGN);
	main_set_handler(SIGCHLD, SIG_DFL);
	session_peer_from_fd(fd_in, &peer);
	main_socket_nodelay(fd_out);
	s = session_new(fd_in, fd_out, cfg, &peer, id);
	s->tls_ctx = main_tls;
	log_msg(LOG_DEBUG, "connect%s", implicit_tls ? " (tls)" : "");
	if (implicit_tls) {
		s->tls = tls_accept(main_tls, fd_in, fd_out,
		    TLS_HANDSHAKE_LIMIT(cfg->idle_timeout_preauth));
		if (s->tls == NULL) {
			session_free(&s);
			return;
		}
		log_msg(LOG_INFO, "TLS: %s", tls_describe(s->tls));
	}
	session_run(s);
	session_free(&s);
}

static void
main_drop_privileges(const char *user)
{
	struct passwd *pw;

	if (user == NULL)
		return;
	if (geteuid() != 0) {
		log_msg(LOG_WARNING, "not root: 'user = %s' ignored", user);
		return;
	}
	if ((pw = getpwnam(user)) == NULL) {
		log_msg(LOG_ERR, "unknown user '%s' in config", user);
		exit(EX_CONFIG);
	}
	if (setgroups(1, &pw->pw_gid) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		log_msg(LOG_ERR, "cannot drop privileges to %s: %s", user,
		    strerror(errno));
		exit(EX_OSERR);
	}
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
	    getgid() != pw->pw_gid || getegid() != pw->pw_gid) {
		log_msg(LOG_ERR, "privileges not dropped to %s", user);
		exit(EX_OSERR);
	}
	log_msg(LOG_INFO, "running as %s", user);
}

/*
 * Sessions hold people's mail and parse what the network sends: never as
 * root, unless the config says allow_root = yes (a throw-away test
 * server, say). Exits with EX_CONFIG and a clear message.
 */
static void
main_refuse_root(const struct config *cfg, bool inetd)
{
	static const char bye[] = "* BYE Server misconfigured: it will not "
	    "serve mail as root\r\n";

	if (geteuid() != 0 || cfg->allow_root)
		return;
	if (inetd)
		(void)!write(1, bye, sizeof(bye) - 1);
	log_msg(LOG_ERR, "refusing to run sessions as root: set user = "
	    "(the service user) in the config, or allow_root = yes");
	fprintf(stderr, "refimapd: refusing to run sessions as root: set "
	    "user = (the service user) in the config, or allow_root = yes\n");
	exit(EX_CONFIG);
}

/* Binds addr/port (one socket per address found) into fds[n...]; returns
 * the new count. Exits when none could be bound. */
static size_t
main_listen(const char *addr, const char *port, bool tls, int *fds,
    size_t n)
{
	struct addrinfo hints, *res, *ai;
	const char *host = strcmp(addr, "*") == 0 ? NULL : addr;
	size_t n0 = n;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_msg(LOG_ERR, "listen %s port %s%s: %s", addr, port,
		    tls ? " (tls)" : "", gai_strerror(r));
		exit(EX_CONFIG);
	}
	for (ai = res; ai != NULL && n < MAIN_LISTEN_MAX; ai = ai->ai_next) {
		char hbuf[NI_MAXHOST], sbuf[NI_MAXSERV];
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd, one = 1;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, 128) < 0) {
			log_msg(LOG_ERR, "bind %s port %s%s: %s", addr, port,
			    tls ? " (tls)" : "", strerror(errno));
			close(fd);
			continue;
		}
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
		    getnameinfo((struct sockaddr *)&ss, sl, hbuf,
		    sizeof(hbuf), sbuf, sizeof(sbuf),
		    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			log_msg(LOG_NOTICE, "listening on %s port %s%s", hbuf,
			    sbuf, tls ? " (tls)" : "");
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	if (n == n0) {
		log_msg(LOG_ERR, "no address to listen on%s",
		    tls ? " for TLS" : "");
		exit(EX_OSERR);
	}
	return n;
}

static const struct config *main_cfg;

#define MAIN_CHECKPOINT_SECS	30
#define MAIN_WATCH_SECS		2	/* a look for processes that died
					   outside our sight (deliver) */
#define MAIN_RECOVER_WAIT_MS	300
#define MAIN_VISIT_WAIT_MS	1500	/* a store check */
#define MAIN_CHECKPOINT_WAIT_MS	10000	/* a checkpoint writes pages */

/*
 * Opens the store (a check, or recovery when allowed), optionally
 * takes a checkpoint, and closes it again, in a short-lived child: the
 * master itself keeps no Berkeley DB state between visits, so a failed or
 * recovering open leaves nothing behind in it.
 */
static enum store_err
main_store_visit(const struct config *cfg, bool failchk_only, bool checkpoint,
    bool force)
{
	pid_t pid = fork();
	unsigned waited;
	int status;

	if (pid < 0) {
		log_msg(LOG_ERR, "fork: %s", strerror(errno));
		return STORE_ERR_IO;
	}
	if (pid == 0) {
		/* The master does the recovering itself: no precheck in
		 * the child (no_recovery). */
		struct store_options opt = { .create = false,
		    .nosync = !cfg->fsync, .failchk_only = failchk_only,
		    .no_recovery = !failchk_only && !force,
		    .force_recovery = force };
		struct store *st = NULL;
		const char *error = NULL;
		enum store_err e;

		e = store_open(cfg->data_dir, &opt, &st, &error);
		if (e == STORE_OK && checkpoint)
			e = store_checkpoint(st);
		if (e != STORE_OK && e != STORE_ERR_TRYAGAIN)
			log_msg(LOG_ERR, "store: %s", error != NULL ? error :
			    store_strerror(e));
		store_close(&st);
		_exit(e == STORE_OK ? 0 : e == STORE_ERR_TRYAGAIN ?
		    EX_TEMPFAIL : EX_SOFTWARE);
	}
	/*
	 * A visit stuck on a lock that a dead process held is the sign
	 * that only recovery can help. Checks and checkpoints are bounded;
	 * recovery itself is not.
	 */
	for (waited = 0;; waited += 20) {
		pid_t r = waitpid(pid, &status, force ? 0 : WNOHANG);
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return STORE_ERR_IO;
		if (waited >= (failchk_only ? MAIN_VISIT_WAIT_MS :
		    MAIN_CHECKPOINT_WAIT_MS)) {
			log_msg(LOG_WARNING, "store %s stuck on a lock",
			    failchk_only ? "check" : "checkpoint");
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, NULL, 0);
			return STORE_ERR_TRYAGAIN;
		}
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return STORE_OK;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
		return STORE_ERR_TRYAGAIN;
	return STORE_ERR_IO;
}

static bool main_stopping;
static void main_stop_children(unsigned wait_ms);
static void main_store_watch(void);
static bool main_watch_stuck(const struct config *cfg);
static size_t main_watch_slot(void);


/*
 * Reaps ended sessions. One that died by a signal may have left locks and
 * a transaction behind in the store, which would block every other
 * session: an open of the environment (DB_REGISTER) finds it dead in the
 * register, and the master recovers the store.
 */
static void
main_reap(void)
{
	bool died = false;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		size_t i;

		for (i = 0; i < main_nchildren; i++) {
			if (main_children[i].pid == pid) {
				main_children[i] =
				    main_children[--main_nchildren];
				break;
			}
		}
		if (WIFSIGNALED(status)) {
			log_msg(LOG_WARNING, "session %ld killed by signal %d",
			    (long)pid, WTERMSIG(status));
			died = true;
		}
	}
	if (died)
		main_store_watch();
}

/*
 * Looks at the store through a short open (DB_REGISTER): it finds
 * processes that died with the store open (a killed session, or a deliver
 * killed by its MTA, which the master never sees); then, or when a session
 * is stuck inside the store, it ends every session and recovers.
 */
static void
main_store_watch(void)
{
	if (main_cfg == NULL || main_stopping)
		return;
	if (main_store_visit(main_cfg, true, false, false) !=
	    STORE_ERR_TRYAGAIN && !main_watch_stuck(main_cfg))
		return;
	/*
	 * A process died with the store open: what it held (locks, a
	 * transaction, perhaps a region mutex) only recovery releases
	 * safely, and recovery needs every process out of the store. End
	 * the sessions (BYE to the idle ones), recover, and serve again.
	 * Nothing committed is lost; the clients reconnect.
	 */
	log_msg(LOG_WARNING, "store needs recovery: ending all sessions");
	main_stop_children(MAIN_RECOVER_WAIT_MS);
	(void)main_store_visit(main_cfg, false, false, true);
}

/* Refuses a connection with a BYE (RFC 3501 §7.1.5) and closes it; on the
 * TLS port, where plaintext would be noise to the client, just closes. */
static void
main_refuse(int fd, bool tls, const char *why)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "* BYE %s\r\n", why);

	if (n > 0 && !tls)
		(void)!write(fd, line, (size_t)n);
	close(fd);
}

/* tls: lfd is the implicit TLS listener. */
static void
main_accept(int lfd, bool tls, const struct config *cfg, int *lfds,
    size_t nl, unsigned *next_id)
{
	struct session_peer peer;
	size_t i, same = 0, slot;
	pid_t pid;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_msg(LOG_ERR, "accept: %s", strerror(errno));
		return;
	}
	session_peer_from_fd(fd, &peer);
	for (i = 0; i < main_nchildren; i++)
		same += strcmp(main_children[i].addr, peer.addr) == 0;
	if (main_nchildren >= cfg->max_sessions) {
		log_msg(LOG_WARNING, "refused %s: max_sessions (%u) reached",
		    peer.addr, cfg->max_sessions);
		main_refuse(fd, tls, "Too many sessions, try again later");
		return;
	}
	if (same >= cfg->max_sessions_per_ip) {
		log_msg(LOG_WARNING, "refused %s: max_sessions_per_ip (%u) "
		    "reached", peer.addr, cfg->max_sessions_per_ip);
		main_refuse(fd, tls, "Too many sessions from your address");
		return;
	}
	(*next_id)++;
	slot = main_watch_slot();
	if (slot != SIZE_MAX)
		main_watch[slot] = 0;
	pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERR, "fork: %s", strerror(errno));
		main_refuse(fd, tls, "Server busy, try again later");
		return;
	}
	if (pid == 0) {
		sigset_t none;

		for (i = 0; i < nl; i++)
			close(lfds[i]);
		free(main_children);
		pidfile_forget();
		sigemptyset(&none);
		main_set_handler(SIGCHLD, SIG_DFL);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		if (slot != SIZE_MAX)
			store_watch_set(&main_watch[slot]);
		sandbox_child();
		main_run_session(fd, fd, cfg, *next_id, tls);
		_exit(0);
	}
	close(fd);
	if (main_nchildren == main_capchildren) {
		main_capchildren = main_capchildren == 0 ? 16 :
		    main_capchildren * 2;
		main_children = xreallocarray(main_children, main_capchildren,
		    sizeof(*main_children));
	}
	main_children[main_nchildren].pid = pid;
	main_children[main_nchildren].slot = slot;
	(void)snprintf(main_children[main_nchildren].addr,
	    sizeof(main_children[main_nchildren].addr), "%s", peer.addr);
	main_nchildren++;
}

/* A free watchdog slot (SIZE_MAX when all are taken: no watch then). */
static size_t
main_watch_slot(void)
{
	size_t slot, i;

	for (slot = 0; slot < main_nwatch; slot++) {
		for (i = 0; i < main_nchildren; i++)
			if (main_children[i].slot == slot)
				break;
		if (i == main_nchildren)
			return slot;
	}
	return SIZE_MAX;
}

/* Seconds the child has been inside one store call (0: outside). */
static int64_t
main_child_in_store(const struct main_child *c)
{
	struct timespec ts;
	int64_t since;

	if (c->slot == SIZE_MAX || main_watch == NULL ||
	    (since = main_watch[c->slot]) == 0 ||
	    clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return ts.tv_sec > since ? ts.tv_sec - since : 1;
}

/*
 * A session that stays inside one store call longer than
 * store_stuck_timeout waits for a lock or mutex that a killed process
 * held and that nobody has noticed dead yet: only recovery frees it. True when one is found (logged).
 */
static bool
main_watch_stuck(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < main_nchildren; i++) {
		int64_t secs = main_child_in_store(&main_children[i]);

		if (secs > (int64_t)cfg->store_stuck_timeout) {
			log_msg(LOG_WARNING, "session %ld inside the store for "
			    "%lld s: taken for stuck on a dead process's lock",
			    (long)main_children[i].pid, (long long)secs);
			return true;
		}
	}
	return false;
}

/* SIGTERM to every session (each says BYE), SIGKILL to those still there
 * after wait_ms (one stuck in the store cannot act on SIGTERM: it gets
 * SIGKILL at once, which loses nothing that was acknowledged). */
static void
main_stop_children(unsigned wait_ms)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	unsigned waited = 0;
	size_t i;

	main_stopping = true;
	for (i = 0; i < main_nchildren; i++)
		(void)kill(main_children[i].pid,
		    main_child_in_store(&main_children[i]) ? SIGKILL : SIGTERM);
	while (main_nchildren > 0 && waited < wait_ms) {
		nanosleep(&ts, NULL);
		waited += 50;
		main_reap();
	}
	for (i = 0; i < main_nchildren; i++)
		(void)kill(main_children[i].pid, SIGKILL);
	while (main_nchildren > 0) {
		(void)waitpid(main_children[0].pid, NULL, 0);
		main_children[0] = main_children[--main_nchildren];
	}
	main_stopping = false;
}

static void
main_daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0) {
		log_msg(LOG_ERR, "fork: %s", strerror(errno));
		exit(EX_OSERR);
	}
	if (pid > 0) {
		/* The file holds the daemon's pid when the command returns
		 * (service managers read it then). */
		(void)pidfile_write(pid);
		_exit(0);
	}
	(void)setsid();
	if (chdir("/") < 0)
		exit(EX_OSERR);
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		(void)dup2(fd, 0);
		(void)dup2(fd, 1);
		(void)dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* Where the config comes from: read at start and again on SIGHUP. */
static struct {
	const char *file;
	bool missing_ok;
	const char *dir, *listen, *port, *tls_port;	/* options, win */
	const char *trace_dir, *capabilities;	/* -T, --capabilities */
} main_src;

/* Fills *cfg from the file and the command-line options; 0, or -1 with
 * errbuf (*cfg then still needs config_free). */
static int
main_config_load(struct config *cfg, char *err, size_t errlen)
{
	uint32_t capa;

	config_defaults(cfg);
	if (config_read(cfg, main_src.file, main_src.missing_ok, err,
	    errlen) < 0 ||
	    (main_src.dir != NULL &&
	    config_set(cfg, "data_dir", main_src.dir, err, errlen) < 0) ||
	    (main_src.listen != NULL &&
	    config_set(cfg, "listen", main_src.listen, err, errlen) < 0) ||
	    (main_src.port != NULL &&
	    config_set(cfg, "port", main_src.port, err, errlen) < 0) ||
	    (main_src.tls_port != NULL &&
	    config_set(cfg, "tls_port", main_src.tls_port, err, errlen) < 0) ||
	    (main_src.trace_dir != NULL &&
	    config_set(cfg, "trace_dir", main_src.trace_dir, err, errlen) < 0) ||
	    (main_src.capabilities != NULL && config_set(cfg, "capabilities",
	    main_src.capabilities, err, errlen) < 0))
		return -1;
	/* Sessions parse it again; a value that does not parse stops the
	 * server here (main_capa_check has said where it was). */
	return capa_parse(cfg->capabilities, &capa, err, errlen);
}

/* config_capabilities_check: the value parses. */
static int
main_capa_check(const char *value, char *err, size_t errlen)
{
	uint32_t capa;

	return capa_parse(value, &capa, err, errlen);
}

/* A key that is used only at start (sockets, privileges, the TLS context,
 * the store's place, the pid file): the running value stays. */
static void
main_reload_keep(const char *key, char **old, char **new)
{
	if (*old == NULL ? *new != NULL :
	    *new == NULL || strcmp(*old, *new) != 0)
		log_msg(LOG_WARNING, "reload: '%s' changed; it takes effect "
		    "at the next restart", key);
	free(*new);
	*new = *old;
	*old = NULL;
}

/*
 * SIGHUP: reads the config again. New sessions get the new one; running
 * sessions keep the copy they were forked with. A config that does not
 * load is logged and the running one kept.
 */
static void
main_reload(struct config *cfg)
{
	struct config n;
	char err[512];

	if (sandbox_active()) {
		log_msg(LOG_NOTICE, "SIGHUP ignored (--sandbox)");
		return;
	}
	if (main_config_load(&n, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "reload failed, running config kept: %s", err);
		config_free(&n);
		return;
	}
	main_reload_keep("data_dir", &cfg->data_dir, &n.data_dir);
	main_reload_keep("listen", &cfg->listen, &n.listen);
	main_reload_keep("port", &cfg->port, &n.port);
	main_reload_keep("user", &cfg->user, &n.user);
	main_reload_keep("pid_file", &cfg->pid_file, &n.pid_file);
	main_reload_keep("tls_cert", &cfg->tls_cert, &n.tls_cert);
	main_reload_keep("tls_key", &cfg->tls_key, &n.tls_key);
	main_reload_keep("tls_listen", &cfg->tls_listen, &n.tls_listen);
	main_reload_keep("tls_port", &cfg->tls_port, &n.tls_port);
	/* Whether serving as root is allowed was decided at start, where
	 * the daemon refuses it or drops to user. */
	if (n.allow_root != cfg->allow_root) {
		log_msg(LOG_WARNING, "reload: 'allow_root' changed; it takes "
		    "effect at the next restart");
		n.allow_root = cfg->allow_root;
	}
	n.master_checkpoints = cfg->master_checkpoints;
	config_free(cfg);
	*cfg = n;
	log_set_level(cfg->log_level);
	log_msg(LOG_NOTICE, "reloaded %s", main_src.file);
}

static void
main_daemon(struct config *cfg, bool foreground)
{
	struct pollfd pfds[MAIN_LISTEN_MAX + 1];	/* + sandbox stdin */
	time_t last_checkpoint, last_watch;
	int lfds[MAIN_LISTEN_MAX];
	sigset_t block, old;
	unsigned next_id = 0;
	size_t nl, nplain, i;

	nl = nplain = main_listen(cfg->listen, cfg->port, false, lfds, 0);
	if (main_tls != NULL && strcmp(cfg->tls_port, "none") != 0)
		nl = main_listen(cfg->tls_listen != NULL ? cfg->tls_listen :
		    cfg->listen, cfg->tls_port, true, lfds, nl);
	if (cfg->pid_file != NULL && pidfile_open(cfg->pid_file) < 0)
		exit(EX_UNAVAILABLE);
	main_drop_privileges(cfg->user);
	main_refuse_root(cfg, false);
	main_check_store(cfg);
	main_cfg = cfg;
	main_nwatch = cfg->max_sessions;
	main_watch = mmap(NULL, main_nwatch * sizeof(*main_watch),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (main_watch == MAP_FAILED) {
		log_msg(LOG_WARNING, "no store watchdog: mmap: %s",
		    strerror(errno));
		main_watch = NULL;
		main_nwatch = 0;
	}
	last_checkpoint = last_watch = time(NULL);
	if (!foreground)
		main_daemonize();
	if (pidfile_write(getpid()) < 0)
		exit(EX_OSERR);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	(void)sigprocmask(SIG_BLOCK, &block, &old);
	main_set_handler(SIGTERM, main_on_signal);
	main_set_handler(SIGINT, main_on_signal);
	main_set_handler(SIGCHLD, main_on_signal);
	main_set_handler(SIGHUP, main_on_signal);
	main_set_handler(SIGUSR1, main_on_signal);
	main_set_handler(SIGPIPE, SIG_IGN);
	for (i = 0; i < nl; i++) {
		pfds[i].fd = lfds[i];
		pfds[i].events = POLLIN;
	}
	pfds[nl].fd = sandbox_stdin_fd();	/* -1: ignored by ppoll */
	pfds[nl].events = POLLIN;
	log_msg(LOG_INFO, "refimapd %s started", REFIMAPD_VERSION);
	sandbox_ready(lfds, nplain);
	while (!main_got_term) {
		struct timespec tick = { MAIN_WATCH_SECS, 0 };
		int r = ppoll(pfds, nl + 1, &tick, &old);
		time_t now = time(NULL);

		bool check_now = false;

		if (now - last_checkpoint >= MAIN_CHECKPOINT_SECS) {
			last_checkpoint = now;
			/* One that cannot finish means trouble: look now. */
			check_now = main_store_visit(cfg, false, true, false) !=
			    STORE_OK;
		}
		if (main_got_usr1 || check_now ||
		    now - last_watch >= MAIN_WATCH_SECS) {
			main_got_usr1 = 0;
			last_watch = now;
			main_store_watch();
		}

		if (main_got_chld) {
			main_got_chld = 0;
			main_reap();
		}
		if (main_got_hup) {
			main_got_hup = 0;
			main_reload(cfg);
		}
		if (r <= 0)
			continue;
		if (pfds[nl].revents != 0 && sandbox_stdin_closed())
			main_got_term = 1;	/* --stdin-lifetime: EOF */
		for (i = 0; i < nl; i++) {
			if (pfds[i].revents & POLLIN)
				main_accept(lfds[i], i >= nplain, cfg, lfds,
				    nl, &next_id);
		}
	}
	log_msg(LOG_INFO, "stopping: %zu session(s) to end",
	    main_nchildren);
	for (i = 0; i < nl; i++)
		close(lfds[i]);
	main_stop_children(MAIN_STOP_WAIT_MS);
	free(main_children);
	pidfile_remove();
	log_msg(LOG_INFO, "stopped");
}

/* Loads the TLS context when the config names a certificate (or --tls
 * asks for one). 0, or -1 with a message naming the file in errbuf. */
static int
main_load_tls(const struct config *cfg, bool required, char *errbuf,
    size_t errlen)
{
	if (cfg->tls_cert == NULL && cfg->tls_key == NULL && !required)
		return 0;
	if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
		(void)snprintf(errbuf, errlen, "TLS needs both tls_cert and "
		    "tls_key%s", required ? " (for --tls)" : "");
		return -1;
	}
	main_tls = tls_ctx_new(cfg->tls_cert, cfg->tls_key, errbuf, errlen);
	return main_tls == NULL ? -1 : 0;
}

int
main(int argc, char **argv)
{
	const char *conffile = NULL, *opt_dir = NULL, *opt_listen = NULL;
	const char *opt_port = NULL, *opt_tls_port = NULL;
	bool foreground = false, inetd = false, inetd_tls = false;
	static const struct option longopts[] = {
		{ "tls", no_argument, NULL, MAIN_OPT_TLS },
		{ "capabilities", required_argument, NULL, MAIN_OPT_CAPA },
		{ "sandbox", no_argument, NULL, SANDBOX_OPT_SANDBOX },
		{ "user", required_argument, NULL, SANDBOX_OPT_USER },
		{ "preload", required_argument, NULL, SANDBOX_OPT_PRELOAD },
		{ "stdin-lifetime", no_argument, NULL, SANDBOX_OPT_STDIN },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "c:d:l:p:P:T:fiVh", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'c': conffile = optarg; break;
		case 'd': opt_dir = optarg; break;
		case 'l': opt_listen = optarg; break;
		case 'p': opt_port = optarg; break;
		case 'P': opt_tls_port = optarg; break;
		case MAIN_OPT_TLS: inetd_tls = true; break;
		case 'T': main_src.trace_dir = optarg; break;
		case MAIN_OPT_CAPA: main_src.capabilities = optarg; break;
		case 'f': foreground = true; break;
		case 'i': inetd = true; break;
		case SANDBOX_OPT_SANDBOX:
		case SANDBOX_OPT_USER:
		case SANDBOX_OPT_PRELOAD:
		case SANDBOX_OPT_STDIN:
			if (sandbox_option(c, optarg) < 0)
				main_usage();
			break;
		case 'V':
			printf("refimapd %s\n%s\n%s\n", REFIMAPD_VERSION,
			    store_db_version(), tls_library_version());
			return 0;
		default: main_usage();
		}
	}
	if (optind != argc || (inetd_tls && !inetd))
		main_usage();
	if (sandbox_check_options() < 0 || (sandbox_active() && inetd))
		main_usage();
	if (sandbox_active()) {
		foreground = true;
		if (conffile == NULL)
			conffile = "/dev/null";	/* not the system's config */
	}
	if (inetd && !foreground) {
		/* inetd ties fd 2 to the socket: never write there. */
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0 && fd != 2) {
			(void)dup2(fd, 2);
			close(fd);
		}
	}
	log_open("refimapd", foreground);
	main_src.file = conffile != NULL ? conffile : CONFIG_DEFAULT_FILE;
	main_src.missing_ok = conffile == NULL;
	main_src.dir = opt_dir;
	main_src.listen = opt_listen;
	main_src.port = opt_port;
	main_src.tls_port = opt_tls_port;
	/* --capabilities replaces the file's value: that one is not
	 * checked then. */
	if (main_src.capabilities == NULL)
		config_capabilities_check = main_capa_check;
	if (main_config_load(&cfg, err, sizeof(err)) < 0 ||
	    main_load_tls(&cfg, inetd_tls, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "config: %s", err);
		if (!foreground)
			fprintf(stderr, "refimapd: config: %s\n", err);
		config_free(&cfg);
		return EX_CONFIG;
	}
	log_set_level(cfg.log_level);
	if (sandbox_active() && sandbox_setup(&cfg, opt_listen != NULL,
	    opt_port != NULL, opt_tls_port != NULL) < 0) {
		config_free(&cfg);
		return EX_CANTCREAT;
	}
	if (sandbox_active())
		cfg.allow_root = true;	/* its own temporary store */
	if (inetd) {
		/* inetd gave us root: the configured user, or nothing. */
		if (geteuid() == 0)
			main_drop_privileges(cfg.user);
		main_refuse_root(&cfg, true);
		main_run_session(0, 1, &cfg, (unsigned)getpid(), inetd_tls);
	} else {
		cfg.master_checkpoints = true;
		main_daemon(&cfg, foreground);
		sandbox_cleanup();
	}
	tls_ctx_free(&main_tls);
	config_free(&cfg);
	return 0;
}
