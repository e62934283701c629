/*
 * session.h: one IMAP connection (RFC 3501 §3), the same code for a forked
 * daemon child and for inetd mode (fd 0/1).
 */
#ifndef REFIMAPD_SESSION_H
#define REFIMAPD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../lib/buf.h"
#include "../lib/config.h"
#include "../store/store.h"
#include "uidmap.h"

/* RFC 3501 §3 states, as bits so the command table can hold sets. */
enum session_state {
	SESSION_NOTAUTH = 1 << 0,
	SESSION_AUTH = 1 << 1,
	SESSION_SELECTED = 1 << 2,
	SESSION_LOGOUT = 1 << 3,
};

struct cmd_def;
struct tls_ctx;
struct tls_conn;
struct fault_state;
struct parser;
struct store;
struct session;
struct trace;

/* An argument of the command being run (args.h reads them). */
enum arg_type {
	ARG_ATOM,
	ARG_STRING,	/* quoted or literal */
	ARG_LIST_OPEN,
	ARG_LIST_CLOSE,
	ARG_STREAMED,	/* a literal whose bytes went to stream_fn */
};

struct arg {
	enum arg_type type;
	bool literal;
	size_t off;		/* into the command arena while collecting */
	const uint8_t *data;	/* set at dispatch; NUL-terminated */
	size_t len;
};

/* Receives the bytes of a streamed literal (see cmd_literal_fn). */
typedef void session_data_fn(struct session *s, const uint8_t *p, size_t n);
/* Releases a command's private state (cmd_state) when the command ends. */
typedef void session_state_free_fn(void *state);

/* Called with each raw line sent after a continuation request (the SASL
 * exchange, IDLE's DONE). The line excludes CRLF. */
typedef void session_line_fn(struct session *s, const uint8_t *line,
    size_t len);

struct session_peer {
	char addr[64];		/* numeric address, or "local" */
	bool local;		/* loopback or not a socket (a pipe) */
};

struct session {
	int fd_in, fd_out;
	struct tls_ctx *tls_ctx;	/* set: TLS is configured (STARTTLS) */
	struct tls_conn *tls;		/* set: the connection is TLS */
	enum session_state state;
	const struct config *cfg;
	struct session_peer peer;
	unsigned id;

	struct parser *parser;
	uint8_t *inbuf;
	size_t inpos, inlen, insize;

	struct buf out;

	/* The command being collected or run. */
	char tag[65];
	const struct cmd_def *cmd;
	bool uid;		/* "UID FETCH" etc. */
	bool cmd_failed;	/* a BAD/NO was sent while collecting */
	struct buf arena;	/* argument bytes */
	struct arg *args;
	size_t nargs, argcap;

	session_data_fn *stream_fn;	/* set while a literal streams */
	void *cmd_state;		/* the command's own state */
	session_state_free_fn *cmd_state_free;

	session_line_fn *line_fn;	/* raw continuation line handler */
	struct buf line;
	bool line_skip;		/* the raw line is too long: drop it */

	char *user;
	struct store *store;
	char *selected;		/* name of the selected mailbox */
	bool readonly;		/* EXAMINE */
	uint32_t mbox_id;	/* the selected mailbox's store id */
	uint64_t modseq;	/* changes up to this MODSEQ are reported */
	struct uidmap uidmap;	/* sequence numbers to UIDs (uidmap.h) */
	struct session_range {	/* UIDs [lo, hi) that are \Recent here */
		uint32_t lo, hi;
	} *recent;
	size_t nrecent, caprecent;
	uint32_t recent_reported;	/* the last RECENT count sent */
	struct session_own {	/* our own changes, not to be echoed */
		uint32_t uid;
		uint64_t modseq;
	} *own;
	size_t nown, capown;
	uint32_t *pending;	/* expunged UIDs not yet reported (§7.4.1) */
	size_t npending, cappending;
	uint64_t pending_modseq;	/* with some pending: all reported up
					   to this MODSEQ (RFC 7162 §3.2) */
	uint64_t modseq_sent;	/* highest FETCH MODSEQ sent since the last
				   tagged response */
	bool condstore;		/* RFC 7162 §3.1: MODSEQ in untagged FETCH */
	bool qresync;		/* §3.2: ENABLE QRESYNC; VANISHED for EXPUNGE */
	uint32_t *vanished;	/* expunged UIDs whose VANISHED is pending */
	size_t nvanished, capvanished;
	unsigned auth_failures;
	unsigned bad_commands;
	bool closing;		/* BYE sent; end after flushing */
	bool idling;		/* in IDLE, waiting for DONE */
	time_t cmd_since;	/* when the last command ended */
	uint32_t capa;		/* extensions on (capa.h, `capabilities`) */
	struct trace *trace;	/* protocol trace (trace.h), or NULL */
	/* For the logout log line: bytes read and written (TLS payload, not
	 * records) and commands dispatched. */
	uint64_t bytes_in, bytes_out;
	unsigned long commands;
	struct fault_state *fault;	/* registry and injected faults
					   (fault.c) */
};

struct session *session_new(int fd_in, int fd_out, const struct config *cfg,
    const struct session_peer *peer, unsigned id);
void session_free(struct session **s);
/* Sends the greeting and serves commands until LOGOUT, EOF, timeout or a
 * fatal error. */
void session_run(struct session *s);
/* Set from a signal handler: the session says BYE and ends. */
void session_request_shutdown(void);

/* Fills peer from a connected fd (getpeername). */
void session_peer_from_fd(int fd, struct session_peer *peer);

/* The capability list for the current state, without "* CAPABILITY ". */
const char *session_capabilities(const struct session *s);

/* Makes the session read the next line raw (see session_line_fn). */
void session_expect_line(struct session *s, session_line_fn *fn);
/* Ends the connection after what is already queued has been sent. */
void session_close(struct session *s);
/* Ends the session (BYE) when this process may not open the store again
 * (store_can_open): its client comes back in a new process. */
void session_end_if_store_spent(struct session *s);
/* Counts a protocol error; says BYE and closes past the limit. */
void session_count_bad(struct session *s);

#endif
