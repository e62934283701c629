/*
 * sandbox.c: refimapd --sandbox (see sandbox.h): a throw-away data
 * directory with its users and preloaded mail, a machine-readable ready
 * line, and removal of everything when the server stops.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../auth/passwd.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "../store/import.h"
#include "../store/store.h"
#include "sandbox.h"

#define SANDBOX_MAX_ITEMS	64

struct sandbox_user {
	char *name;
	char *pass;
};

static struct {
	bool active;
	bool stdin_lifetime;
	struct sandbox_user users[SANDBOX_MAX_ITEMS];
	size_t nusers;
	char *preloads[SANDBOX_MAX_ITEMS];
	size_t npreloads;
	char dir[PATH_MAX];	/* the data directory, "" until made */
	pid_t master;		/* the process that made it */
} sandbox;

int
sandbox_option(int opt, const char *arg)
{
	const char *colon;

	switch (opt) {
	case SANDBOX_OPT_SANDBOX:
		sandbox.active = true;
		return 0;
	case SANDBOX_OPT_STDIN:
		sandbox.stdin_lifetime = true;
		return 0;
	case SANDBOX_OPT_USER:
		colon = strchr(arg, ':');
		if (sandbox.nusers == SANDBOX_MAX_ITEMS || colon == NULL ||
		    colon[1] == '\0') {
			fprintf(stderr, "refimapd: --user NAME:PASSWORD "
			    "expected\n");
			return -1;
		}
		sandbox.users[sandbox.nusers].name = xmemdup0(arg,
		    (size_t)(colon - arg));
		sandbox.users[sandbox.nusers].pass = xstrdup(colon + 1);
		if (!passwd_valid_user(sandbox.users[sandbox.nusers].name)) {
			fprintf(stderr, "refimapd: --user: invalid user name "
			    "(letters, digits and ._@+- only)\n");
			return -1;
		}
		sandbox.nusers++;
		return 0;
	case SANDBOX_OPT_PRELOAD:
		if (sandbox.npreloads == SANDBOX_MAX_ITEMS || arg[0] == '\0') {
			fprintf(stderr, "refimapd: --preload [MAILBOX=]PATH "
			    "expected\n");
			return -1;
		}
		sandbox.preloads[sandbox.npreloads++] = xstrdup(arg);
		return 0;
	}
	return -1;
}

bool
sandbox_active(void)
{
	return sandbox.active;
}

int
sandbox_check_options(void)
{
	if (sandbox.active || (sandbox.nusers == 0 &&
	    sandbox.npreloads == 0 && !sandbox.stdin_lifetime))
		return 0;
	fprintf(stderr, "refimapd: --user, --preload and --stdin-lifetime "
	    "need --sandbox\n");
	return -1;
}

static int
sandbox_rm(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)f;
	if (type == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

void
sandbox_cleanup(void)
{
	if (sandbox.dir[0] == '\0' || getpid() != sandbox.master)
		return;
	if (nftw(sandbox.dir, sandbox_rm, 16, FTW_DEPTH | FTW_PHYS) < 0)
		log_msg(LOG_WARNING, "sandbox: cannot remove %s: %s",
		    sandbox.dir, strerror(errno));
	sandbox.dir[0] = '\0';
}

/* Adds the users to passwd and gives each an INBOX (and the special-use
 * mailboxes when configured). */
static int
sandbox_users(const struct config *cfg, struct store *st)
{
	char path[PATH_MAX + 16], hash[PASSWD_HASH_MAX];
	size_t i;
	int fd;

	(void)snprintf(path, sizeof(path), "%s/passwd", sandbox.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || close(fd) < 0) {
		log_msg(LOG_ERR, "sandbox: %s: %s", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < sandbox.nusers; i++) {
		const struct sandbox_user *u = &sandbox.users[i];
		enum store_err e;

		if (passwd_hash(u->pass, NULL, hash, sizeof(hash)) !=
		    PASSWD_OK || passwd_set(path, u->name, hash, false) !=
		    PASSWD_OK) {
			log_msg(LOG_ERR, "sandbox: cannot add user %s",
			    u->name);
			return -1;
		}
		e = cfg->special_use_mailboxes ?
		    store_user_init_special(st, u->name) :
		    store_user_init(st, u->name);
		if (e != STORE_OK) {
			log_msg(LOG_ERR, "sandbox: user %s: %s", u->name,
			    store_strerror(e));
			return -1;
		}
	}
	return 0;
}

/* Loads each --preload into the first user's mailboxes. */
static int
sandbox_preload(struct store *st)
{
	const char *user = sandbox.users[0].name;
	size_t i;

	for (i = 0; i < sandbox.npreloads; i++) {
		struct import_opts opts = { false, false, false };
		struct import_stats stats;
		char *arg = sandbox.preloads[i], *mailbox = NULL, err[512];
		const char *path = arg;
		struct stat sb;
		char *eq;

		/* MAILBOX=PATH, unless the whole argument names a file. */
		if (stat(arg, &sb) < 0 && (eq = strchr(arg, '=')) != NULL &&
		    eq != arg) {
			mailbox = xmemdup0(arg, (size_t)(eq - arg));
			path = eq + 1;
			if (strcasecmp(mailbox, "INBOX") == 0)
				(void)snprintf(mailbox, 6, "INBOX");
		}
		memset(&stats, 0, sizeof(stats));
		if (import_path(st, user, mailbox, path, &opts, &stats, err,
		    sizeof(err)) < 0) {
			log_msg(LOG_ERR, "sandbox: --preload %s: %s", arg, err);
			free(mailbox);
			return -1;
		}
		log_msg(LOG_INFO, "sandbox: %llu message(s) from %s into %s",
		    (unsigned long long)stats.messages, path,
		    mailbox != NULL ? mailbox : "INBOX");
		free(mailbox);
	}
	return 0;
}

int
sandbox_setup(struct config *cfg, bool keep_listen, bool keep_port,
    bool keep_tls_port)
{
	struct store_options opt = { .create = true, .nosync = true };
	struct store *st = NULL;
	const char *tmp = getenv("TMPDIR"), *why = NULL;
	char err[256];
	enum store_err e;
	int n, r;

	if (tmp == NULL || tmp[0] != '/')
		tmp = "/tmp";
	n = snprintf(sandbox.dir, sizeof(sandbox.dir),
	    "%s/refimapd-sandbox-XXXXXX", tmp);
	if (n < 0 || (size_t)n >= sizeof(sandbox.dir) ||
	    mkdtemp(sandbox.dir) == NULL) {
		log_msg(LOG_ERR, "sandbox: cannot create a directory in %s: "
		    "%s", tmp, strerror(errno));
		sandbox.dir[0] = '\0';
		return -1;
	}
	sandbox.master = getpid();
	(void)atexit(sandbox_cleanup);
	if (sandbox.nusers == 0) {
		sandbox.users[0].name = xstrdup("test");
		sandbox.users[0].pass = xstrdup("test");
		sandbox.nusers = 1;
	}
	free(cfg->user);
	cfg->user = NULL;	/* the caller's own directory: no drop */
	free(cfg->pid_file);
	cfg->pid_file = NULL;	/* never the installed server's */
	if (config_set(cfg, "data_dir", sandbox.dir, err, sizeof(err)) < 0 ||
	    config_set(cfg, "fsync", "no", err, sizeof(err)) < 0 ||
	    (!keep_listen &&
	    config_set(cfg, "listen", "127.0.0.1", err, sizeof(err)) < 0) ||
	    (!keep_port &&
	    config_set(cfg, "port", "0", err, sizeof(err)) < 0) ||
	    (!keep_tls_port &&
	    config_set(cfg, "tls_port", "none", err, sizeof(err)) < 0)) {
		log_msg(LOG_ERR, "sandbox: %s", err);
		sandbox_cleanup();
		return -1;
	}
	e = store_open(sandbox.dir, &opt, &st, &why);
	if (e != STORE_OK) {
		log_msg(LOG_ERR, "sandbox: cannot create the store: %s",
		    why != NULL ? why : store_strerror(e));
		sandbox_cleanup();
		return -1;
	}
	r = sandbox_users(cfg, st);
	if (r == 0)
		r = sandbox_preload(st);
	store_close(&st);
	if (r < 0)
		sandbox_cleanup();
	return r;
}

void
sandbox_ready(const int *lfds, size_t n)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!sandbox.active || n == 0)
		return;
	if (getsockname(lfds[0], (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		log_msg(LOG_ERR, "sandbox: cannot tell the listening port");
		return;
	}
	printf("refimapd ready host=%s port=%s data=%s\n", host, port,
	    sandbox.dir);
	if (fflush(stdout) != 0)
		log_msg(LOG_WARNING, "sandbox: cannot write the ready line");
}

int
sandbox_stdin_fd(void)
{
	return sandbox.active && sandbox.stdin_lifetime ? STDIN_FILENO : -1;
}

bool
sandbox_stdin_closed(void)
{
	char buf[4096];
	ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	return r <= 0;
}

void
sandbox_child(void)
{
	if (!sandbox.active)
		return;
#ifdef __linux__
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* The master may have died before the line above. */
	if (getppid() != sandbox.master)
		_exit(0);
#endif
}
