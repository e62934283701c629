/*
 * refimapctl.c: the admin tool.
 *
 *	refimapctl [-c FILE] [-d DATA_DIR] VERB [ARGS]
 *
 * Verbs live in one table (ctl_verbs), one function each; a verb may be
 * more than one word ("user add"). Exit codes come from <sysexits.h> so
 * that scripts and MTAs can tell a retry (EX_TEMPFAIL) from a refusal.
 * Messages go to stderr prefixed "refimapctl: "; stdout carries only what
 * a verb was asked to print (user list).
 *
 * Passwords are read as one line from stdin: silently, without a prompt,
 * when stdin is not a terminal (scripts: echo pw | refimapctl user add u);
 * with echo off, a prompt on stderr and a second prompt to confirm when it
 * is one. The password buffer is wiped before exit.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "../auth/passwd.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "../store/store.h"
#include "ctl.h"
#include "deliver.h"

static ctl_verb_fn ctl_deliver;
static ctl_verb_fn ctl_init, ctl_user_add, ctl_user_passwd, ctl_user_del,
    ctl_user_list;

static const struct ctl_verb ctl_verbs[] = {
	{ "init", 0, 0, "",
	    "create the data directory, passwd file and store", ctl_init },
	{ "user add", 1, 1, "NAME",
	    "add a user (password: one line on stdin)", ctl_user_add },
	{ "user passwd", 1, 1, "NAME",
	    "set a user's password (one line on stdin)", ctl_user_passwd },
	{ "user del", 1, 1, "NAME",
	    "remove a user and all of the user's mail", ctl_user_del },
	{ "user list", 0, 0, "",
	    "print the user names, one per line", ctl_user_list },
	{ "deliver", 1, 2, "USER [MAILBOX]",
	    "store the message on stdin (for an MTA)", ctl_deliver },
	/* import / export (admin/import.c, admin/export.c) */
	{ "import", 2, 5, "USER [MAILBOX] PATH [--mboxo] [--all]",
	    "import an mbox, Maildir (tree) or .eml folder", ctl_import },
	{ "export", 3, 6, "USER [MAILBOX] PATH --format mbox|maildir",
	    "export a mailbox as mbox, or as a Maildir++ tree", ctl_export },
	/* backup / restore / verify (admin/backup.c, admin/verify.c) */
	{ "backup", 1, 1, "DIR",
	    "hot backup of the store and passwd into DIR (new or empty), "
	    "while the server runs", ctl_backup },
	{ "restore", 1, 2, "[--force] DIR",
	    "make the backup in DIR the store (server stopped; --force "
	    "replaces an existing store, kept aside)", ctl_restore },
	{ "verify", 0, 0, "",
	    "check the databases and the store's invariants (exit 0: OK)",
	    ctl_verify },
	/* status and fault injection (admin/fault.c) */
	{ "status", 0, 0, "",
	    "list the logged-in sessions (pid, user, peer, state, idle "
	    "seconds, mailbox)", ctl_status },
	{ "fault uidvalidity", 2, 2, "USER MAILBOX",
	    "new UIDVALIDITY, UIDs renumbered from 1 (selecting sessions "
	    "get BYE)", ctl_fault_uidvalidity },
	{ "fault disconnect", 1, 1, "USER",
	    "drop the user's connections at once, without BYE",
	    ctl_fault_disconnect },
	{ "fault bye", 1, 1, "USER",
	    "send * BYE to the user's sessions and close them",
	    ctl_fault_bye },
	{ "fault delay", 2, 2, "USER MS",
	    "every response to the user's sessions waits MS ms (0: none)",
	    ctl_fault_delay },
	{ "fault no", 2, 3, "USER N [CODE]",
	    "the user's next N commands get NO [CODE] (default "
	    "UNAVAILABLE)", ctl_fault_no },
	{ "fault clear", 1, 1, "USER",
	    "remove the user's delay and NO faults", ctl_fault_clear },
	{ "expunge", 3, 3, "USER MAILBOX UIDSET",
	    "expunge messages as another session would", ctl_expunge },
	{ "flag", 5, 64, "USER MAILBOX UIDSET +FLAGS|-FLAGS (FLAG...)",
	    "change flags as another session would", ctl_flag },
	{ "reset", 1, 1, "USER",
	    "empty INBOX, delete the user's other mailboxes", ctl_reset },
	/* trace (admin/trace.c) */
	{ "trace show", 1, 4, "[--client|--server] [--absolute] FILE",
	    "print a protocol trace (trace_dir, refimapd -T) for reading",
	    ctl_trace_show },
};


static void
ctl_usage(FILE *f)
{
	size_t i;

	fputs("usage: refimapctl [-c FILE] [-d DATA_DIR] VERB [ARGS]\n"
	    "  -c FILE      read data_dir and special_use_mailboxes from this"
	    " configuration file\n"
	    "  -d DATA_DIR  data directory (default " CTL_DEFAULT_DATA_DIR
	    "; wins over -c)\n"
	    "verbs:\n", f);
	for (i = 0; i < N_ELEMENTS(ctl_verbs); i++) {
		char head[64];

		if (snprintf(head, sizeof(head), "%s%s%s", ctl_verbs[i].name,
		    ctl_verbs[i].args[0] != '\0' ? " " : "",
		    ctl_verbs[i].args) < 0)
			head[0] = '\0';
		fprintf(f, "  %-18s %s\n", head, ctl_verbs[i].help);
	}
}

/* ---- configuration ---- */

/* s without leading and trailing blanks (changes s). */
static char *
ctl_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/*
 * Looks for "data_dir = PATH" in a "key = value" file ('#' comments); the
 * last one counts. "special_use_mailboxes = no" (or false, 0) clears
 * *special_r. Other keys are the server's business and are skipped.
 * Returns 0 (*dir_r is NULL if the file has none; free it) or an exit code.
 */
static int
ctl_config_data_dir(const char *path, char **dir_r, bool *special_r)
{
	FILE *f;
	char *line = NULL, *s, *eq;
	size_t cap = 0;
	int ret = 0;

	*dir_r = NULL;
	if ((f = fopen(path, "re")) == NULL) {
		ctl_err("cannot open %s: %s", path, strerror(errno));
		return EX_CONFIG;
	}
	while (getline(&line, &cap, f) >= 0) {
		s = ctl_trim(line);
		if (*s == '\0' || *s == '#' || (eq = strchr(s, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcmp(ctl_trim(s), "special_use_mailboxes") == 0) {
			s = ctl_trim(eq + 1);
			*special_r = !(strcasecmp(s, "no") == 0 ||
			    strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0);
			continue;
		}
		if (strcmp(ctl_trim(s), "data_dir") != 0)
			continue;
		s = ctl_trim(eq + 1);
		if (*s == '\0') {
			ctl_err("%s: data_dir is empty", path);
			ret = EX_CONFIG;
			break;
		}
		free(*dir_r);
		*dir_r = xstrdup(s);
	}
	if (ret == 0 && ferror(f)) {
		ctl_err("cannot read %s: %s", path, strerror(errno));
		ret = EX_CONFIG;
	}
	if (ret != 0) {
		free(*dir_r);
		*dir_r = NULL;
	}
	free(line);
	fclose(f);
	return ret;
}

/* ---- passwords from stdin ---- */

enum ctl_pw {
	CTL_PW_OK,
	CTL_PW_EMPTY,
	CTL_PW_TOOLONG,
	CTL_PW_BADCHAR,	/* NUL or a lone CR */
	CTL_PW_IOERR,
	CTL_PW_MISMATCH,
};

static volatile sig_atomic_t ctl_signal;

static void
ctl_on_signal(int signo)
{
	ctl_signal = signo;
}

static const int ctl_tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/*
 * Reads one line from fd 0 a byte at a time (so nothing past it is
 * consumed or left in a stdio buffer), without its "\n" or "\r\n". EOF
 * ends the line too.
 */
static enum ctl_pw
ctl_read_line(char *out, size_t outsize, size_t *len_r)
{
	size_t n = 0;
	ssize_t r;
	char c;

	for (;;) {
		r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR && ctl_signal == 0)
			continue;
		if (r < 0)
			return CTL_PW_IOERR;
		if (r == 0 || c == '\n')
			break;
		if (n + 1 >= outsize) {
			c = 0;
			return CTL_PW_TOOLONG;
		}
		out[n++] = c;
	}
	c = 0;
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	*len_r = n;
	if (n == 0)
		return CTL_PW_EMPTY;
	if (memchr(out, '\0', n) != NULL || memchr(out, '\r', n) != NULL)
		return CTL_PW_BADCHAR;
	return CTL_PW_OK;
}

/* Prompts on stderr and reads a line with echo off. */
static enum ctl_pw
ctl_read_tty(const char *prompt, char *out, size_t outsize, size_t *len_r)
{
	struct termios old, quiet;
	struct sigaction sa, saved[N_ELEMENTS(ctl_tty_signals)];
	enum ctl_pw r;
	size_t i;

	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return CTL_PW_IOERR;
	/* Restore the terminal before any of these signals kills us. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < N_ELEMENTS(ctl_tty_signals); i++)
		sigaction(ctl_tty_signals[i], &sa, &saved[i]);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0) {
		r = CTL_PW_IOERR;
	} else {
		r = ctl_read_line(out, outsize, len_r);
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	}
	for (i = 0; i < N_ELEMENTS(ctl_tty_signals); i++)
		sigaction(ctl_tty_signals[i], &saved[i], NULL);
	if (ctl_signal != 0) {
		explicit_bzero(out, outsize);
		fputc('\n', stderr);
		raise(ctl_signal);
	}
	return r;
}

/*
 * The new password into out (outsize bytes, wiped by the caller): one line
 * of stdin, or from a terminal asked twice.
 */
static enum ctl_pw
ctl_read_password(char *out, size_t outsize)
{
	char again[PASSWD_PASS_MAX + 2];
	size_t len, len2;
	enum ctl_pw r;

	if (!isatty(STDIN_FILENO))
		return ctl_read_line(out, outsize, &len);
	r = ctl_read_tty("Password: ", out, outsize, &len);
	if (r != CTL_PW_OK)
		return r;
	r = ctl_read_tty("Retype password: ", again, sizeof(again), &len2);
	if (r == CTL_PW_OK && (len != len2 || memcmp(out, again, len) != 0))
		r = CTL_PW_MISMATCH;
	explicit_bzero(again, sizeof(again));
	return r;
}

/* ---- the verbs ---- */

static int
ctl_init(struct ctl *ctl, int argc, char **argv)
{
	struct store_options opt = { .create = true };
	struct store *st = NULL;
	const char *why = NULL;
	enum store_err e;
	struct stat sb;
	int fd, ret;

	if (ctl_mkdirs(ctl->data_dir, 0700) < 0) {
		ctl_err("cannot create %s: %s", ctl->data_dir,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	if (stat(ctl->data_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		ctl_err("%s is not a directory", ctl->data_dir);
		return EX_CANTCREAT;
	}
	if ((ret = ctl_act_as_owner(ctl)) != 0)
		return ret;
	fd = open(ctl->passwd_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (fsync(fd) < 0 || close(fd) < 0 ||
		    ctl_sync_dir(ctl->data_dir) < 0) {
			ctl_err("cannot create %s: %s", ctl->passwd_path,
			    strerror(errno));
			return EX_IOERR;
		}
	} else if (errno != EEXIST) {
		ctl_err("cannot create %s: %s", ctl->passwd_path,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	e = store_open(ctl->data_dir, &opt, &st, &why);
	if (e != STORE_OK) {
		ctl_err("cannot create the store in %s: %s", ctl->db_path,
		    why != NULL ? why : store_strerror(e));
		return ctl_store_exit(e);
	}
	store_close(&st);
	return 0;
}

/* user add and user passwd. */
static int
ctl_user_set(struct ctl *ctl, const char *user, bool replace)
{
	char pass[PASSWD_PASS_MAX + 2];
	char hash[PASSWD_HASH_MAX];
	struct store *st = NULL;
	enum passwd_result pr;
	enum ctl_pw rr;
	enum store_err e;
	bool exists = false;
	int ret;

	if ((ret = ctl_check_name(user)) != 0)
		return ret;
	if (!replace && (ret = ctl_need_store(ctl)) != 0)
		return ret;
	/* Say so before asking for a password that would be thrown away. */
	if ((ret = ctl_user_exists(ctl, user, &exists)) != 0)
		return ret;
	if (!replace && exists) {
		ctl_err("user %s already exists", user);
		return EX_DATAERR;
	}
	if (replace && !exists) {
		ctl_err("no such user: %s", user);
		return EX_NOUSER;
	}

	rr = ctl_read_password(pass, sizeof(pass));
	if (rr == CTL_PW_OK) {
		pr = passwd_hash(pass, NULL, hash, sizeof(hash));
	} else {
		pr = PASSWD_INVALID;
	}
	explicit_bzero(pass, sizeof(pass));
	switch (rr) {
	case CTL_PW_OK:
		break;
	case CTL_PW_EMPTY:
		ctl_err("empty password refused");
		return EX_DATAERR;
	case CTL_PW_TOOLONG:
		ctl_err("password longer than %d bytes", PASSWD_PASS_MAX);
		return EX_DATAERR;
	case CTL_PW_BADCHAR:
		ctl_err("password holds a NUL or CR byte");
		return EX_DATAERR;
	case CTL_PW_MISMATCH:
		ctl_err("the passwords do not match");
		return EX_DATAERR;
	case CTL_PW_IOERR:
		ctl_err("cannot read the password: %s", strerror(errno));
		return EX_IOERR;
	}
	if (pr == PASSWD_INVALID) {
		ctl_err("password refused (too long for crypt, or holds CR "
		    "or LF)");
		return EX_DATAERR;
	}
	if (pr != PASSWD_OK) {
		ctl_err("cannot hash the password: %s", strerror(errno));
		return EX_SOFTWARE;
	}

	/*
	 * INBOX first: if the passwd step then fails the user cannot log in
	 * and the empty INBOX is harmless (user add again reuses it).
	 */
	if (!replace) {
		if ((ret = ctl_store_open(ctl, &st)) != 0)
			return ret;
		e = ctl->special_use ? store_user_init_special(st, user) :
		    store_user_init(st, user);
		store_close(&st);
		if (e != STORE_OK) {
			ctl_err("cannot create the INBOX of %s: %s", user,
			    store_strerror(e));
			return ctl_store_exit(e);
		}
	}

	pr = passwd_set(ctl->passwd_path, user, hash, replace);
	switch (pr) {
	case PASSWD_OK:
		return 0;
	case PASSWD_EXISTS:
		ctl_err("user %s already exists", user);
		break;
	case PASSWD_NOUSER:
		ctl_err("no such user: %s", user);
		break;
	default:
		ctl_err("cannot update %s: %s", ctl->passwd_path,
		    strerror(errno));
		break;
	}
	return ctl_passwd_exit(pr);
}

static int
ctl_user_add(struct ctl *ctl, int argc, char **argv)
{
	return ctl_user_set(ctl, argv[0], false);
}

static int
ctl_user_passwd(struct ctl *ctl, int argc, char **argv)
{
	return ctl_user_set(ctl, argv[0], true);
}

static int
ctl_user_del(struct ctl *ctl, int argc, char **argv)
{
	const char *user = argv[0];
	struct store *st = NULL;
	enum passwd_result pr;
	enum store_err e;
	int ret;

	if ((ret = ctl_check_name(user)) != 0)
		return ret;
	if ((ret = ctl_need_store(ctl)) != 0)
		return ret;
	/* No more logins first, then the mail. */
	pr = passwd_delete(ctl->passwd_path, user);
	if (pr != PASSWD_OK && pr != PASSWD_NOUSER) {
		ctl_err("cannot update %s: %s", ctl->passwd_path,
		    strerror(errno));
		return ctl_passwd_exit(pr);
	}
	/*
	 * Also for a user already gone from passwd: that finishes a delete
	 * whose store step failed before.
	 */
	if ((ret = ctl_store_open(ctl, &st)) != 0)
		return ret;
	e = store_user_delete(st, user);
	store_close(&st);
	if (e != STORE_OK) {
		ctl_err("cannot remove the mail of %s: %s", user,
		    store_strerror(e));
		return ctl_store_exit(e);
	}
	if (pr == PASSWD_NOUSER) {
		ctl_err("no such user: %s", user);
		return EX_NOUSER;
	}
	return 0;
}

static void
ctl_print_user(void *ctx, const char *user)
{
	printf("%s\n", user);
}

static int
ctl_user_list(struct ctl *ctl, int argc, char **argv)
{
	enum passwd_result r;

	r = passwd_list(ctl->passwd_path, ctl_print_user, NULL);
	if (r != PASSWD_OK) {
		ctl_err("cannot read %s: %s", ctl->passwd_path,
		    strerror(errno));
		return ctl_passwd_exit(r);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_err("cannot write the list: %s", strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

/* ---- main ---- */

/*
 * The verb whose words begin argv (argc words), or NULL; *nwords_r gets
 * how many words it took.
 */
static const struct ctl_verb *
ctl_find_verb(int argc, char **argv, int *nwords_r)
{
	size_t i;

	for (i = 0; i < N_ELEMENTS(ctl_verbs); i++) {
		const char *p = ctl_verbs[i].name;
		int w = 0;

		for (;;) {
			size_t n = strcspn(p, " ");

			if (w >= argc || strlen(argv[w]) != n ||
			    memcmp(argv[w], p, n) != 0)
				break;
			w++;
			if (p[n] == '\0') {
				*nwords_r = w;
				return &ctl_verbs[i];
			}
			p += n + 1;
		}
	}
	return NULL;
}

static int
ctl_set_paths(struct ctl *ctl, const char *data_dir)
{
	int n1, n2;

	ctl->data_dir = data_dir;
	n1 = snprintf(ctl->passwd_path, sizeof(ctl->passwd_path), "%s/passwd",
	    data_dir);
	n2 = snprintf(ctl->db_path, sizeof(ctl->db_path), "%s/db", data_dir);
	if (data_dir[0] == '\0' || n1 < 0 ||
	    (size_t)n1 >= sizeof(ctl->passwd_path) || n2 < 0 ||
	    (size_t)n2 >= sizeof(ctl->db_path)) {
		ctl_err("bad data directory \"%s\"", data_dir);
		return EX_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *config_file = NULL, *dir_opt = NULL;
	const struct ctl_verb *v;
	char *config_dir = NULL;
	struct ctl ctl;
	int ch, nwords, nargs, ret;

	log_open("refimapctl", true);
	/* '+': options end at the verb, whose operands may start with '-'. */
	while ((ch = getopt(argc, argv, "+c:d:h")) != -1) {
		switch (ch) {
		case 'c':
			config_file = optarg;
			break;
		case 'd':
			dir_opt = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return 0;
		default:
			ctl_usage(stderr);
			return EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;

	if ((v = ctl_find_verb(argc, argv, &nwords)) == NULL) {
		if (argc > 0 && strcmp(argv[0], "help") == 0) {
			ctl_usage(stdout);
			return 0;
		}
		if (argc > 0)
			ctl_err("unknown verb: %s", argv[0]);
		ctl_usage(stderr);
		return EX_USAGE;
	}
	nargs = argc - nwords;
	if (nargs < v->min_args || nargs > v->max_args) {
		ctl_err("usage: refimapctl %s%s%s", v->name,
		    v->args[0] != '\0' ? " " : "", v->args);
		return EX_USAGE;
	}

	ctl.special_use = true;
	if (config_file != NULL && (ret = ctl_config_data_dir(config_file,
	    &config_dir, &ctl.special_use)) != 0)
		return ret;
	ret = ctl_set_paths(&ctl, dir_opt != NULL ? dir_opt :
	    config_dir != NULL ? config_dir : CTL_DEFAULT_DATA_DIR);
	if (ret == 0)
		ret = v->fn(&ctl, nargs, argv + nwords);
	free(config_dir);
	return ret;
}

/* Largest message deliver accepts. */
#define CTL_DELIVER_MAX	((uint64_t)64 << 20)

/*
 * SIGBUS: a page of the store's shared regions that the file system could
 * not back (full, or failing). Nothing uncommitted is kept (the next open
 * recovers), so the MTA may try again later.
 */
static void
ctl_deliver_sigbus(int sig)
{
	static const char msg[] = "refimapctl: cannot store the message: "
	    "the mail store's file system is full or failing (SIGBUS)\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(EX_TEMPFAIL);
	_exit(EX_TEMPFAIL);
}

/*
 * How long deliver may take from the moment the message has been read.
 * Storing one takes milliseconds; a deliver still at it after this waits
 * on something a killed process left behind (a mutex only recovery
 * frees). It then gives up with EX_TEMPFAIL, so the MTA tries again
 * later, and its own death inside the store makes the next store check
 * recover.
 */
#define CTL_DELIVER_SECS	10

static void
ctl_deliver_timeout(int sig)
{
	static const char msg[] = "refimapctl: cannot store the message: "
	    "the mail store did not answer in time\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(EX_TEMPFAIL);
	_exit(EX_TEMPFAIL);
}

/*
 * deliver USER [MAILBOX]: exit codes an MTA understands: EX_NOUSER bounces
 * an unknown user, EX_TEMPFAIL keeps the mail queued while the store is
 * busy or full, EX_DATAERR refuses an oversized message.
 */
static int
ctl_deliver(struct ctl *ctl, int argc, char **argv)
{
	const char *user = argv[0];
	const char *mailbox = argc > 1 ? argv[1] : "INBOX";
	enum deliver_result r;
	enum store_err se = STORE_OK;
	struct sigaction sa;
	struct store *st = NULL;
	const char *used = mailbox;
	struct buf msg;
	uint32_t uid = 0;
	bool found;
	int rc;

	if (!passwd_valid_user(user)) {
		ctl_err("no such user");
		return EX_NOUSER;
	}
	if ((rc = ctl_user_exists(ctl, user, &found)) != 0)
		return rc == EX_SOFTWARE ? EX_TEMPFAIL : rc;
	if (!found) {
		ctl_err("no such user: %s", user);
		return EX_NOUSER;
	}
	if ((rc = ctl_need_store(ctl)) != 0)
		return EX_TEMPFAIL;
	/* The message first: the store is opened only once all of it is
	 * here, and the time limit does not count the MTA's writing. */
	if ((r = deliver_read_fd(0, CTL_DELIVER_MAX, &msg)) != DELIVER_OK)
		goto done;
	sa.sa_handler = ctl_deliver_sigbus;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	(void)sigaction(SIGBUS, &sa, NULL);
	sa.sa_handler = ctl_deliver_timeout;
	(void)sigaction(SIGALRM, &sa, NULL);
	(void)alarm(CTL_DELIVER_SECS);
	if (ctl_store_open(ctl, &st) != 0) {
		buf_free(&msg);
		return EX_TEMPFAIL;
	}
	r = deliver_store(st, user, mailbox, &msg, &uid, &used, &se);
	store_close(&st);
	(void)alarm(0);
	buf_free(&msg);
done:
	switch (r) {
	case DELIVER_OK:
		log_msg(LOG_INFO, "delivered to %s/%s uid=%u", user, used,
		    uid);
		return 0;
	case DELIVER_TOOBIG:
		ctl_err("message larger than %llu bytes",
		    (unsigned long long)CTL_DELIVER_MAX);
		return EX_DATAERR;
	case DELIVER_READ:
		ctl_err("reading the message: %s", strerror(errno));
		return EX_TEMPFAIL;
	case DELIVER_STORE:
		break;
	}
	ctl_err("cannot store the message: %s", store_strerror(se));
	return EX_TEMPFAIL;
}
