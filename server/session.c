/*
 * session.c: the session loop of one IMAP connection (RFC 3501 §2.2, §3,
 * §5.4). Reads bytes, feeds the parser, collects a command's arguments,
 * sends continuation requests for literals, dispatches through the command
 * table, and enforces the idle timers and the bad-command limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "../store/store.h"
#include "capa.h"
#include "cmd.h"
#include "cmd_util.h"
#include "fault.h"
#include "parse.h"
#include "resp.h"
#include "session.h"
#include "tls.h"
#include "trace.h"

#define SESSION_INBUF_SIZE	(32 * 1024)
#define SESSION_ARENA_KEEP	(64 * 1024)	/* arena kept between commands */

static volatile sig_atomic_t session_shutdown;
/* The signal mask while waiting for input: SIGTERM is blocked at all other
 * times, so a shutdown request cannot slip in just before ppoll(). */
static sigset_t session_wait_mask;

void
session_request_shutdown(void)
{
	session_shutdown = 1;
}

static void
session_apply_limits(struct session *s)
{
	struct parse_limits lim;
	bool pre = s->state == SESSION_NOTAUTH;

	lim.line_max = pre ? s->cfg->line_max_preauth : s->cfg->line_max;
	lim.literal_max = pre ? s->cfg->literal_max_preauth :
	    s->cfg->literal_max;
	lim.depth_max = s->cfg->depth_max;
	lim.tokens_max = pre ? 64 : s->cfg->tokens_max;
	parse_set_limits(s->parser, &lim);
}

void
session_peer_from_fd(int fd, struct session_peer *peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(peer, 0, sizeof(*peer));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
		/* Not a socket: a pipe from a local program. */
		(void)snprintf(peer->addr, sizeof(peer->addr), "local");
		peer->local = true;
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, peer->addr,
		    sizeof(peer->addr));
		peer->local = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, peer->addr,
		    sizeof(peer->addr));
		peer->local = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
		    sin6->sin6_addr.s6_addr[12] == 127);
	} else {
		/* AF_UNIX and the like: local by construction. */
		(void)snprintf(peer->addr, sizeof(peer->addr), "local");
		peer->local = true;
	}
}

static time_t
session_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

struct session *
session_new(int fd_in, int fd_out, const struct config *cfg,
    const struct session_peer *peer, unsigned id)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->fd_in = fd_in;
	s->fd_out = fd_out;
	s->cfg = cfg;
	s->peer = *peer;
	s->id = id;
	s->state = SESSION_NOTAUTH;
	s->cmd_since = session_now();
	s->parser = parse_new(&(struct parse_limits){ 1024, 0, 1, 1 });
	session_apply_limits(s);
	s->insize = SESSION_INBUF_SIZE;
	s->inbuf = xmalloc(s->insize);
	buf_init(&s->out, SIZE_MAX);
	buf_init(&s->arena, cfg->command_max);
	buf_init(&s->line, cfg->line_max);
	log_set_context("session=%u peer=%s", id, s->peer.addr);
	/* Checked when the config was read (main.c). */
	if (capa_parse(cfg->capabilities, &s->capa, NULL, 0) < 0)
		s->capa = CAPA_ALL;
	parse_set_literal_plus(s->parser, capa_has(s->capa,
	    CAPA_LITERALPLUS));
	s->trace = trace_open(cfg->trace_dir, cfg->trace_literal_max, id,
	    s->peer.addr);
	return s;
}

void
session_free(struct session **sp)
{
	struct session *s = *sp;

	if (s == NULL)
		return;
	store_close(&s->store);
	xfree(&s->selected);
	uidmap_free(&s->uidmap);
	xfree(&s->own);
	xfree(&s->pending);
	xfree(&s->vanished);
	xfree(&s->recent);
	tls_close(&s->tls);
	trace_close(&s->trace);
	parse_free(&s->parser);
	xfree(&s->inbuf);
	buf_free(&s->out);
	buf_free(&s->arena);
	buf_free(&s->line);
	xfree(&s->args);
	if (s->user != NULL) {
		explicit_bzero(s->user, strlen(s->user));
		xfree(&s->user);
	}
	free(s);
	*sp = NULL;
}

/* The text lives in a static buffer (one session per process), valid
 * until the next call. */
const char *
session_capabilities(const struct session *s)
{
	static char text[512];
	bool auth_ok = s->tls != NULL || s->peer.local ||
	    s->cfg->allow_plaintext;
	size_t n;

	/* The extensions left by `capabilities` (capa.h). */
	if (capa_format(s->capa, text, sizeof(text)) < 0)
		return "IMAP4rev1";
	if (s->state != SESSION_NOTAUTH)
		return text;
	/* RFC 3501 §6.2.1, RFC 2595 §3.1: STARTTLS only before TLS and
	 * login; inside TLS the earlier list no longer holds. SASL-IR goes
	 * with the mechanism. */
	n = strlen(text);
	(void)snprintf(text + n, sizeof(text) - n, "%s%s%s",
	    s->tls == NULL && s->tls_ctx != NULL ? " STARTTLS" : "",
	    auth_ok && capa_has(s->capa, CAPA_SASL_IR) ? " SASL-IR" : "",
	    auth_ok ? " AUTH=PLAIN" : " LOGINDISABLED");
	return text;
}

void
session_end_if_store_spent(struct session *s)
{
	if (store_can_open())
		return;
	resp_untagged(s, "BYE Mail store being recovered, please reconnect");
	log_msg(LOG_NOTICE, "disconnected: the store needs recovery");
	session_close(s);
}

void
session_expect_line(struct session *s, session_line_fn *fn)
{
	s->line_fn = fn;
	buf_reset(&s->line);
}

void
session_close(struct session *s)
{
	s->closing = true;
	s->state = SESSION_LOGOUT;
}

void
session_count_bad(struct session *s)
{
	unsigned max = s->cfg->bad_commands_max;

	if (s->state == SESSION_NOTAUTH && max > 5)
		max = 5;
	if (++s->bad_commands < max)
		return;
	resp_untagged(s, "BYE Too many invalid commands");
	log_msg(LOG_NOTICE, "disconnected: too many invalid commands");
	session_close(s);
}


/* Forgets the command being collected. */
static void
session_cmd_reset(struct session *s)
{
	s->cmd_since = session_now();
	if (s->cmd_state != NULL && s->cmd_state_free != NULL)
		s->cmd_state_free(s->cmd_state);
	s->cmd_state = NULL;
	s->cmd_state_free = NULL;
	s->stream_fn = NULL;
	s->cmd = NULL;
	s->uid = false;
	s->cmd_failed = false;
	s->nargs = 0;
	s->tag[0] = '\0';
	if (s->arena.cap > SESSION_ARENA_KEEP)
		buf_free(&s->arena);
	else
		buf_reset(&s->arena);
}

/* Refuses the command being collected: the parser skips the rest. */
static void
session_cmd_reject(struct session *s)
{
	parse_abort_command(s->parser);
	session_count_bad(s);
	session_cmd_reset(s);
}

static void
session_add_arg(struct session *s, enum arg_type type, bool literal)
{
	struct arg *a;

	if (s->nargs == s->argcap) {
		s->argcap = s->argcap == 0 ? 16 : s->argcap * 2;
		s->args = xreallocarray(s->args, s->argcap, sizeof(*s->args));
	}
	a = &s->args[s->nargs++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->literal = literal;
	a->off = s->arena.len;
}

/* Appends argument bytes; false if the command outgrew command_max. */
static bool
session_arena_add(struct session *s, const uint8_t *p, size_t n)
{
	if (buf_add(&s->arena, p, n) < 0) {
		resp_no(s, "TOOBIG", "Command too large (at most %zu bytes)",
		    s->cfg->command_max);
		session_cmd_reject(s);
		return false;
	}
	return true;
}

static void
session_finish_arg(struct session *s)
{
	struct arg *a = &s->args[s->nargs - 1];

	a->len = s->arena.len - a->off;
	/* A NUL after every argument, so text can be read as C strings. */
	(void)session_arena_add(s, (const uint8_t *)"", 1);
}

static void
session_args(struct session *s, struct args *a)
{
	size_t i;

	for (i = 0; i < s->nargs; i++)
		s->args[i].data = s->arena.data == NULL ?
		    (const uint8_t *)"" : s->arena.data + s->args[i].off;
	a->v = s->args;
	a->n = s->nargs;
	a->i = 0;
}

/* A literal of a streaming command (APPEND): the handler decides. */
static void
session_stream_begin(struct session *s, const struct parse_token *tok)
{
	struct args a;

	session_args(s, &a);
	if (!s->cmd->literal(s, &a, tok->literal_size)) {
		session_cmd_reject(s);
		return;
	}
	session_add_arg(s, ARG_STREAMED, true);
	if (!tok->literal_nonsync)
		resp_continue(s, "Ready for literal data");
}

static void
session_dispatch(struct session *s)
{
	struct args a;

	session_args(s, &a);
	s->commands++;
	if (fault_session_refuse(s)) {	/* refimapctl fault no, bye */
		session_cmd_reset(s);
		return;
	}
	/* Other sessions' changes reach the client at every command
	 * boundary; EXPUNGE waits while sequence numbers are in use
	 * (RFC 3501 §7.4.1). */
	if (s->state == SESSION_SELECTED &&
	    (s->cmd->flags & CMD_F_NOSYNC) == 0)
		select_sync(s, s->uid || (s->cmd->flags & CMD_F_SEQ) == 0);
	if (s->closing)
		return;		/* the mailbox went away: BYE was sent */
	s->cmd->fn(s, &a);
	if (s->line_fn != NULL)
		return;		/* the command goes on with raw lines */
	session_cmd_reset(s);
	session_apply_limits(s);
}

static void
session_command_name(struct session *s, const struct parse_token *tok)
{
	const struct cmd_def *def;

	if (tok->type != PARSE_TOK_ATOM) {
		resp_bad(s, "Missing command name");
		session_cmd_reject(s);
		return;
	}
	def = cmd_lookup(tok->data, tok->len);
	if (!s->uid && tok->len == 3 &&
	    strncasecmp((const char *)tok->data, "UID", 3) == 0) {
		s->uid = true;
		return;
	}
	/* A command of an extension that `capabilities` removed is as
	 * unknown as any other (capa.h). */
	if (def == NULL || !capa_command(s->capa, def->name, false)) {
		resp_bad(s, "Unknown command");
		session_cmd_reject(s);
		return;
	}
	if (s->uid && ((def->flags & (CMD_F_UID | CMD_F_UID_ONLY)) == 0 ||
	    !capa_command(s->capa, def->name, true))) {
		resp_bad(s, "%s has no UID form", def->name);
		session_cmd_reject(s);
		return;
	}
	if (!s->uid && (def->flags & CMD_F_UID_ONLY) != 0) {
		resp_bad(s, "%s exists only as UID %s", def->name, def->name);
		session_cmd_reject(s);
		return;
	}
	if ((def->states & s->state) == 0) {
		resp_bad(s, "%s", def->states == SESSION_NOTAUTH ?
		    "Command allowed only before login" :
		    s->state == SESSION_NOTAUTH ?
		    "Command not allowed before login" :
		    def->states == SESSION_SELECTED ?
		    "Command needs a selected mailbox" :
		    "Command not allowed in this state");
		session_cmd_reject(s);
		return;
	}
	/* A logged-in session opens the store's databases at its first
	 * command that may use them (store_ready): before its literals
	 * stream, and once. */
	if (s->store != NULL && (def->flags & CMD_F_NOSTORE) == 0 &&
	    store_ready(s->store) != STORE_OK) {
		resp_no(s, "UNAVAILABLE", "Mail store unavailable");
		parse_abort_command(s->parser);
		session_cmd_reset(s);
		session_end_if_store_spent(s);
		return;
	}
	s->cmd = def;
}

static void
session_token(struct session *s, const struct parse_token *tok)
{
	if (tok->index == 0) {
		(void)snprintf(s->tag, sizeof(s->tag), "%s",
		    parse_tag(s->parser));
		return;
	}
	if (s->cmd == NULL) {
		if (tok->type == PARSE_TOK_EOL) {
			resp_bad(s, "Missing command name");
			session_count_bad(s);
			session_cmd_reset(s);
			return;
		}
		session_command_name(s, tok);
		return;
	}
	switch (tok->type) {
	case PARSE_TOK_ATOM:
	case PARSE_TOK_QUOTED:
		session_add_arg(s, tok->type == PARSE_TOK_ATOM ? ARG_ATOM :
		    ARG_STRING, false);
		if (session_arena_add(s, tok->data, tok->len))
			session_finish_arg(s);
		break;
	case PARSE_TOK_LITERAL_BEGIN:
		if (s->cmd->literal != NULL) {
			session_stream_begin(s, tok);
			break;
		}
		if (tok->literal_size >= s->cfg->command_max - s->arena.len) {
			resp_no(s, "TOOBIG", "Literal too big for this command"
			    " (at most %zu bytes)", s->cfg->command_max);
			session_cmd_reject(s);
			break;
		}
		session_add_arg(s, ARG_STRING, true);
		if (!tok->literal_nonsync)
			resp_continue(s, "Ready for literal data");
		break;
	case PARSE_TOK_LITERAL_DATA:
		if (s->stream_fn != NULL)
			s->stream_fn(s, tok->data, tok->len);
		else
			(void)session_arena_add(s, tok->data, tok->len);
		break;
	case PARSE_TOK_LITERAL_END:
		if (s->stream_fn != NULL) {
			s->stream_fn = NULL;
			s->args[s->nargs - 1].off = s->arena.len;
			s->args[s->nargs - 1].len = 0;
			break;
		}
		session_finish_arg(s);
		break;
	case PARSE_TOK_LIST_OPEN:
		session_add_arg(s, ARG_LIST_OPEN, false);
		break;
	case PARSE_TOK_LIST_CLOSE:
		session_add_arg(s, ARG_LIST_CLOSE, false);
		break;
	case PARSE_TOK_EOL:
		session_dispatch(s);
		break;
	}
}

static void
session_parse_error(struct session *s)
{
	const char *tag = parse_tag(s->parser);
	const char *msg = parse_error(s->parser);

	if (tag[0] != '\0')
		(void)snprintf(s->tag, sizeof(s->tag), "%s", tag);
	if (parse_errcode(s->parser) == PARSE_ERR_LITERAL_TOO_BIG)
		resp_tagged(s, "NO", "TOOBIG", "%s", msg);
	else if (s->tag[0] == '\0')
		resp_untagged(s, "BAD %s", msg);
	else
		resp_tagged(s, "BAD", NULL, "%s", msg);
	session_count_bad(s);
	session_cmd_reset(s);
}

/* Collects a raw line for line_fn (a continuation of the current command). */
static void
session_raw_line(struct session *s)
{
	uint8_t *start = s->inbuf + s->inpos;
	size_t avail = s->inlen - s->inpos;
	uint8_t *lf = memchr(start, '\n', avail);
	size_t n = lf == NULL ? avail : (size_t)(lf - start);
	session_line_fn *fn;

	trace_client_line(s->trace, start, lf == NULL ? n : n + 1);
	s->inpos += lf == NULL ? n : n + 1;
	if (!s->line_skip && buf_add(&s->line, start, n) < 0)
		s->line_skip = true;
	if (lf == NULL)
		return;
	fn = s->line_fn;
	s->line_fn = NULL;
	if (s->line_skip) {
		s->line_skip = false;
		resp_bad(s, "Line too long");
		session_count_bad(s);
	} else {
		if (s->line.len > 0 && s->line.data[s->line.len - 1] == '\r')
			buf_truncate(&s->line, s->line.len - 1);
		fn(s, s->line.data == NULL ? (const uint8_t *)"" :
		    s->line.data, s->line.len);
	}
	if (s->line.data != NULL)
		explicit_bzero(s->line.data, s->line.cap);
	if (s->line.cap > SESSION_ARENA_KEEP)
		buf_free(&s->line);
	else
		buf_reset(&s->line);
	if (s->line_fn == NULL) {
		session_cmd_reset(s);
		session_apply_limits(s);
	}
}

static void
session_process_input(struct session *s)
{
	while (s->inpos < s->inlen && !s->closing) {
		struct parse_token tok;
		size_t used = 0;
		enum parse_result r;

		if (s->line_fn != NULL) {
			session_raw_line(s);
			continue;
		}
		r = parse_next(s->parser, s->inbuf + s->inpos,
		    s->inlen - s->inpos, &used, &tok);
		trace_client(s->trace, s->inbuf + s->inpos, used);
		s->inpos += used;
		if (r == PARSE_MORE)
			break;
		if (r == PARSE_ERROR)
			session_parse_error(s);
		else
			session_token(s, &tok);
		if (s->out.len >= 64 * 1024 && resp_flush(s) < 0)
			return;
	}
}


/*
 * Memory a session gives back once it has changed state (logged in,
 * selected or closed a mailbox) and the client has then gone quiet for
 * SESSION_TRIM_WAIT_MS. Those commands free much of what they used (the
 * 32 KiB work area of the password hash, the buffers of the store open and
 * of SELECT), but the allocator keeps freed memory below its trim
 * threshold; and the pages of the store's shared regions that the open and
 * the command touched stay mapped (store_release_maps). A session may then
 * sit idle for hours with all of it. A client that goes on at once pays
 * nothing; other commands leave it alone, as they come in quick succession
 * and would pay for giving memory back and taking it again.
 */
#define SESSION_TRIM_WAIT_MS	20

static enum session_state session_trimmed_state = SESSION_NOTAUTH;
static const char *session_trimmed_selected;

static bool
session_trim_pending(const struct session *s)
{
	return s->state != session_trimmed_state ||
	    s->selected != session_trimmed_selected;
}

/* Bytes of the input buffer that reads have filled since it was wiped. */
static size_t session_in_dirty;

/* Pages kept below the trimming frame, for the calls it still makes. */
#define SESSION_STACK_KEEP	(2 * 4096)

/*
 * The stack keeps every page its deepest call touched (the store's open,
 * the password hash's callers, a large SELECT). Those below the current
 * frame hold nothing live: give them back. The kernel maps zero pages
 * again when a later call goes as deep. Only the stack's own mapping is
 * touched, found in /proc/self/maps.
 */
static void
session_trim_stack(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t lo, hi, top, found = 0;
	char line[512];
	FILE *f;

	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (found == 0 && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 &&
		    lo <= sp && sp < hi)
			found = lo;
	}
	(void)fclose(f);
	top = (sp & ~(uintptr_t)4095) - SESSION_STACK_KEEP;
	if (found != 0 && top > found)
		(void)madvise((void *)found, top - found, MADV_DONTNEED);
}

static void
session_trim(struct session *s)
{
	session_trimmed_state = s->state;
	session_trimmed_selected = s->selected;
	/* What the client sent is consumed (the trim waits for input): the
	 * buffer may still hold a password. It goes until input comes. */
	explicit_bzero(s->inbuf, session_in_dirty);
	session_in_dirty = 0;
	xfree(&s->inbuf);
	/* First: finding the mappings allocates (and frees) a little. */
	store_release_maps(s->store);
	session_trim_stack();
	(void)malloc_trim(0);
}

/* While IDLE, how often the selected mailbox is looked at (RFC 2177): an
 * update reaches the client within this, plus the time to send it. */
#define SESSION_IDLE_POLL_MS	200

/*
 * Waits for input. 1: bytes read, 0: EOF or closed, -1: error, timeout or
 * shutdown. While IDLE (RFC 2177) it wakes every SESSION_IDLE_POLL_MS to
 * report what other sessions changed.
 */
static int
session_read(struct session *s)
{
	struct pollfd pfd;
	/*
	 * Before login the limit runs from the end of the last command, so a
	 * client cannot hold a session by sending a byte now and then (slow
	 * loris); after login it is the silence between reads (a large
	 * APPEND over a slow link may take long).
	 */
	time_t limit, start = s->state == SESSION_NOTAUTH ? s->cmd_since :
	    session_now();
	ssize_t n;

	limit = s->state == SESSION_NOTAUTH ? s->cfg->idle_timeout_preauth :
	    s->cfg->idle_timeout;
	pfd.fd = s->fd_in;
	pfd.events = POLLIN;
	for (;;) {
		time_t left = limit - (session_now() - start);
		struct timespec ts;
		bool trim;
		int r;

		if (fault_session_check(s) < 0)
			return -1;	/* refimapctl fault bye, disconnect */
		if (session_shutdown) {
			resp_untagged(s, "BYE Server shutting down");
			log_msg(LOG_INFO, "disconnected: server shutdown");
			return -1;
		}
		if (left <= 0) {
			resp_untagged(s, "BYE Autologout; idle for too long");
			log_msg(LOG_INFO, "disconnected: idle timeout");
			return -1;
		}
		trim = session_trim_pending(s);
		ts.tv_sec = s->idling || trim ? 0 : left;
		ts.tv_nsec = trim ? SESSION_TRIM_WAIT_MS * 1000000L :
		    s->idling ? SESSION_IDLE_POLL_MS * 1000000L : 0;
		/* Bytes OpenSSL already decrypted are not on the fd: poll
		 * would wait for more while they sit there. */
		if (s->tls != NULL && tls_pending(s->tls) > 0)
			r = 1;
		else
			r = ppoll(&pfd, 1, &ts, &session_wait_mask);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_msg(LOG_ERR, "poll: %s", strerror(errno));
			return -1;
		}
		if (r == 0 && trim) {
			session_trim(s);
			continue;
		}
		if (r == 0) {
			if (s->idling) {
				select_sync_if_changed(s);
				fault_session_delay(s, &session_wait_mask);
				if (resp_flush(s) < 0 || s->closing)
					return -1;
			}
			continue;
		}
		if (s->inbuf == NULL)
			s->inbuf = xmalloc(s->insize);
		n = s->tls != NULL ? tls_read(s->tls, s->inbuf, s->insize) :
		    read(s->fd_in, s->inbuf, s->insize);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			log_msg(LOG_INFO, "disconnected: read: %s",
			    strerror(errno));
			return -1;
		}
		if (n == 0) {
			log_msg(LOG_INFO, "disconnected: connection closed by "
			    "client");
			return 0;
		}
		s->inpos = 0;
		s->inlen = (size_t)n;
		if (s->inlen > session_in_dirty)
			session_in_dirty = s->inlen;
		s->bytes_in += (uint64_t)n;
		return 1;
	}
}

void
session_run(struct session *s)
{
	sigset_t term;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &term, &session_wait_mask);
	sigdelset(&session_wait_mask, SIGTERM);
	fault_session_start(s, &session_wait_mask);
	if (s->tls != NULL)
		trace_note(s->trace, "tls %s", tls_describe(s->tls));
	resp_untagged(s, "OK [CAPABILITY %s] refimapd ready",
	    session_capabilities(s));
	while (!s->closing) {
		fault_session_update(s);
		fault_session_delay(s, &session_wait_mask);
		if (resp_flush(s) < 0)
			break;
		if (s->inpos >= s->inlen && session_read(s) <= 0)
			break;
		session_process_input(s);
	}
	(void)resp_flush(s);
	fault_session_end(s);
	/* The pair of the "login" line (cmd_auth.c): who, from where, how
	 * much; never what. */
	if (s->user != NULL)
		log_msg(LOG_INFO, "logout: in=%llu out=%llu commands=%lu",
		    (unsigned long long)s->bytes_in,
		    (unsigned long long)s->bytes_out, s->commands);
}
