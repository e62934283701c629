/*
 * main.c: refimapd's entry point. Two ways to run:
 *   refimapd -i      one session on fd 0/1, for inetd (RFC 3501 over
 *                    whatever inetd accepted);
 *   refimapd         a daemon: config, log, bind, drop privileges, store
 *                    recovery, then one forked child per connection, with
 *                    max_sessions and a per-address limit. SIGTERM stops it
 *                    and its sessions (each says BYE).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
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
#include "session.h"
#include "version.h"

#define MAIN_LISTEN_MAX	8
#define MAIN_STOP_WAIT_MS 5000

struct main_child {
	pid_t pid;
	char addr[64];
};

static volatile sig_atomic_t main_got_term, main_got_chld, main_got_hup;
static struct main_child *main_children;
static size_t main_nchildren, main_capchildren;

static void
main_usage(void)
{
	fprintf(stderr, "usage: refimapd [-c FILE] [-d DATA_DIR] [-l ADDR] "
	    "[-p PORT] [-f] [-i] [-V]\n");
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

/* Checks that the data directory and its store can be opened, running
 * Berkeley DB recovery if a process died holding it. */
static void
main_check_store(const struct config *cfg)
{
	struct store_options opt = { .create = false, .nosync = !cfg->fsync };
	struct store *st = NULL;
	const char *error = NULL;

	if (store_open(cfg->data_dir, &opt, &st, &error) != STORE_OK) {
		log_msg(LOG_ERR, "cannot open the store in %s: %s (run "
		    "'refimapctl -d %s init' first?)", cfg->data_dir,
		    error != NULL ? error : "unknown error", cfg->data_dir);
		exit(EX_CONFIG);
	}
	store_close(&st);
}

static void
main_run_session(int fd_in, int fd_out, const struct config *cfg,
    unsigned id)
{
	struct session_peer peer;
	struct session *s;

	main_set_handler(SIGPIPE, SIG_IGN);
	main_set_handler(SIGTERM, main_session_on_term);
	main_set_handler(SIGINT, SIG_DFL);
	main_set_handler(SIGHUP, SIG_IGN);
	main_set_handler(SIGCHLD, SIG_DFL);
	session_peer_from_fd(fd_in, &peer);
	s = session_new(fd_in, fd_out, cfg, &peer, id);
	log_msg(LOG_DEBUG, "connect");
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

static size_t
main_listen(const struct config *cfg, int *fds)
{
	struct addrinfo hints, *res, *ai;
	const char *host = strcmp(cfg->listen, "*") == 0 ? NULL : cfg->listen;
	size_t n = 0;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((r = getaddrinfo(host, cfg->port, &hints, &res)) != 0) {
		log_msg(LOG_ERR, "listen %s port %s: %s", cfg->listen,
		    cfg->port, gai_strerror(r));
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
			log_msg(LOG_ERR, "bind %s port %s: %s", cfg->listen,
			    cfg->port, strerror(errno));
			close(fd);
			continue;
		}
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
		    getnameinfo((struct sockaddr *)&ss, sl, hbuf,
		    sizeof(hbuf), sbuf, sizeof(sbuf),
		    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			log_msg(LOG_NOTICE, "listening on %s port %s", hbuf,
			    sbuf);
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	if (n == 0) {
		log_msg(LOG_ERR, "no address to listen on");
		exit(EX_OSERR);
	}
	return n;
}

static void
main_reap(void)
{
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
		if (WIFSIGNALED(status))
			log_msg(LOG_WARNING, "session %ld killed by signal %d",
			    (long)pid, WTERMSIG(status));
	}
}

/* Refuses a connection with a BYE (RFC 3501 §7.1.5) and closes it. */
static void
main_refuse(int fd, const char *why)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "* BYE %s\r\n", why);

	if (n > 0)
		(void)!write(fd, line, (size_t)n);
	close(fd);
}

static void
main_accept(int lfd, const struct config *cfg, int *lfds, size_t nl,
    unsigned *next_id)
{
	struct session_peer peer;
	size_t i, same = 0;
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
		main_refuse(fd, "Too many sessions, try again later");
		return;
	}
	if (same >= cfg->max_sessions_per_ip) {
		log_msg(LOG_WARNING, "refused %s: max_sessions_per_ip (%u) "
		    "reached", peer.addr, cfg->max_sessions_per_ip);
		main_refuse(fd, "Too many sessions from your address");
		return;
	}
	(*next_id)++;
	pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERR, "fork: %s", strerror(errno));
		main_refuse(fd, "Server busy, try again later");
		return;
	}
	if (pid == 0) {
		sigset_t none;

		for (i = 0; i < nl; i++)
			close(lfds[i]);
		free(main_children);
		sigemptyset(&none);
		main_set_handler(SIGCHLD, SIG_DFL);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		main_run_session(fd, fd, cfg, *next_id);
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
	(void)snprintf(main_children[main_nchildren].addr,
	    sizeof(main_children[main_nchildren].addr), "%s", peer.addr);
	main_nchildren++;
}

static void
main_stop_children(void)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	unsigned waited = 0;
	size_t i;

	for (i = 0; i < main_nchildren; i++)
		(void)kill(main_children[i].pid, SIGTERM);
	while (main_nchildren > 0 && waited < MAIN_STOP_WAIT_MS) {
		nanosleep(&ts, NULL);
		waited += 50;
		main_reap();
	}
	for (i = 0; i < main_nchildren; i++)
		(void)kill(main_children[i].pid, SIGKILL);
	while (main_nchildren > 0 && waitpid(-1, NULL, 0) > 0)
		main_reap();
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
	if (pid > 0)
		_exit(0);
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

static void
main_daemon(const struct config *cfg, bool foreground)
{
	struct pollfd pfds[MAIN_LISTEN_MAX];
	int lfds[MAIN_LISTEN_MAX];
	sigset_t block, old;
	unsigned next_id = 0;
	size_t nl, i;

	nl = main_listen(cfg, lfds);
	main_drop_privileges(cfg->user);
	main_check_store(cfg);
	if (!foreground)
		main_daemonize();
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGHUP);
	(void)sigprocmask(SIG_BLOCK, &block, &old);
	main_set_handler(SIGTERM, main_on_signal);
	main_set_handler(SIGINT, main_on_signal);
	main_set_handler(SIGCHLD, main_on_signal);
	main_set_handler(SIGHUP, main_on_signal);
	main_set_handler(SIGPIPE, SIG_IGN);
	for (i = 0; i < nl; i++) {
		pfds[i].fd = lfds[i];
		pfds[i].events = POLLIN;
	}
	log_msg(LOG_INFO, "refimapd %s started", REFIMAPD_VERSION);
	while (!main_got_term) {
		int r = ppoll(pfds, nl, NULL, &old);

		if (main_got_chld) {
			main_got_chld = 0;
			main_reap();
		}
		if (main_got_hup) {
			main_got_hup = 0;
			log_msg(LOG_NOTICE, "SIGHUP ignored (reload is not "
			    "supported yet)");
		}
		if (r <= 0)
			continue;
		for (i = 0; i < nl; i++) {
			if (pfds[i].revents & POLLIN)
				main_accept(lfds[i], cfg, lfds, nl, &next_id);
		}
	}
	log_msg(LOG_INFO, "stopping: %zu session(s) to end",
	    main_nchildren);
	for (i = 0; i < nl; i++)
		close(lfds[i]);
	main_stop_children();
	free(main_children);
	log_msg(LOG_INFO, "stopped");
}

int
main(int argc, char **argv)
{
	const char *conffile = NULL, *opt_dir = NULL, *opt_listen = NULL;
	const char *opt_port = NULL;
	bool foreground = false, inetd = false;
	struct config cfg;
	char err[512];
	int c;

	while ((c = getopt(argc, argv, "c:d:l:p:fiVh")) != -1) {
		switch (c) {
		case 'c': conffile = optarg; break;
		case 'd': opt_dir = optarg; break;
		case 'l': opt_listen = optarg; break;
		case 'p': opt_port = optarg; break;
		case 'f': foreground = true; break;
		case 'i': inetd = true; break;
		case 'V':
			printf("refimapd %s\n", REFIMAPD_VERSION);
			return 0;
		default: main_usage();
		}
	}
	if (optind != argc)
		main_usage();
	if (inetd && !foreground) {
		/* inetd ties fd 2 to the socket: never write there. */
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0 && fd != 2) {
			(void)dup2(fd, 2);
			close(fd);
		}
	}
	log_open("refimapd", foreground);
	config_defaults(&cfg);
	if (config_read(&cfg, conffile != NULL ? conffile :
	    CONFIG_DEFAULT_FILE, conffile == NULL, err, sizeof(err)) < 0 ||
	    (opt_dir != NULL &&
	    config_set(&cfg, "data_dir", opt_dir, err, sizeof(err)) < 0) ||
	    (opt_listen != NULL &&
	    config_set(&cfg, "listen", opt_listen, err, sizeof(err)) < 0) ||
	    (opt_port != NULL &&
	    config_set(&cfg, "port", opt_port, err, sizeof(err)) < 0)) {
		log_msg(LOG_ERR, "config: %s", err);
		if (!foreground)
			fprintf(stderr, "refimapd: config: %s\n", err);
		config_free(&cfg);
		return EX_CONFIG;
	}
	log_set_level(cfg.log_level);
	if (inetd)
		main_run_session(0, 1, &cfg, (unsigned)getpid());
	else
		main_daemon(&cfg, foreground);
	config_free(&cfg);
	return 0;
}
