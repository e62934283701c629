/*
 * sandbox.h: refimapd --sandbox, a throw-away server for client tests.
 *
 *   refimapd --sandbox [--user NAME:PASSWORD]... [--preload [MAILBOX=]PATH]...
 *            [--stdin-lifetime] [-p PORT] [-l ADDR] [-c FILE]
 *
 * A fresh data directory under $TMPDIR (or /tmp), its users (default
 * test/test), messages loaded from mbox files, Maildirs or folders of
 * .eml files (store/import.h) into the first user's mailboxes, fsync off,
 * listening on 127.0.0.1 port 0 (a free one) unless -l/-p say otherwise,
 * in the foreground. When it accepts connections it prints one line on
 * stdout and flushes it:
 *
 *   refimapd ready host=127.0.0.1 port=NNNN data=DIR
 * (DIR last: it runs to the end of the line, spaces included)
 *
 * SIGTERM or SIGINT (or, with --stdin-lifetime, end of file on stdin) ends
 * the sessions and removes the directory. Sessions also end when the
 * master dies, so a harness killed with SIGKILL leaves nothing behind
 * when it gave the sandbox a pipe as stdin and --stdin-lifetime.
 */
#ifndef REFIMAPD_SANDBOX_H
#define REFIMAPD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "../lib/config.h"

/* getopt_long values of the sandbox's long options. */
enum {
	SANDBOX_OPT_SANDBOX = 0x300,
	SANDBOX_OPT_USER,
	SANDBOX_OPT_PRELOAD,
	SANDBOX_OPT_STDIN,
};

/* Records one of the options above. -1 with a message on stderr when its
 * argument is malformed. */
int sandbox_option(int opt, const char *arg);
/* --sandbox was given. Options other than --sandbox without it: false, and
 * sandbox_check_options says so. */
bool sandbox_active(void);
/* 0, or -1 with a message when --user, --preload or --stdin-lifetime came
 * without --sandbox. */
int sandbox_check_options(void);

/*
 * Makes the temporary data directory, passwd file, store, users and
 * preloaded mail, and points cfg at it (data_dir, listen and port unless
 * given on the command line, fsync off, no privilege drop). 0, or -1
 * (logged; nothing left behind).
 */
int sandbox_setup(struct config *cfg, bool keep_listen, bool keep_port,
    bool keep_tls_port);
/* Prints the ready line for the first listener (no-op without --sandbox). */
void sandbox_ready(const int *lfds, size_t n);
/* The fd to watch for end of file (stdin), or -1. */
int sandbox_stdin_fd(void);
/* Reads what is there on it; true once it reached end of file. */
bool sandbox_stdin_closed(void);
/* In a forked session: end with the master (SIGTERM when it dies). */
void sandbox_child(void);
/* In the master, at the end: removes the data directory. Safe to call
 * more than once and from other processes (does nothing there). */
void sandbox_cleanup(void);

#endif
