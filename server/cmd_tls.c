/*
 * cmd_tls.c: STARTTLS (RFC 3501 §6.2.1, RFC 2595 §3.1), in the
 * not-authenticated state of a connection that is not yet TLS.
 *
 * After the tagged OK the server forgets everything the client sent after
 * the command line (plaintext bytes must never be taken as if they came
 * through TLS), starts a fresh parser on the TLS stream, and the capability
 * list changes (session_capabilities looks at s->tls). A failed handshake
 * ends the connection without another word: the stream is in an unknown
 * state, and no plaintext may follow.
 */
#include "../lib/log.h"
#include "cmd.h"
#include "cmd_util.h"
#include "parse.h"
#include "resp.h"
#include "tls.h"
#include "trace.h"

void
cmd_starttls(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	if (s->tls != NULL) {
		resp_bad(s, "TLS is already active");
		session_count_bad(s);
		return;
	}
	if (s->tls_ctx == NULL) {
		resp_bad(s, "STARTTLS is not available: no TLS certificate "
		    "configured");
		session_count_bad(s);
		return;
	}
	resp_ok(s, "Begin TLS negotiation now");
	if (resp_flush(s) < 0)
		return;
	/* Against plaintext command injection: drop what was read after
	 * the command line; it did not come through TLS. */
	if (s->inpos < s->inlen) {
		log_msg(LOG_NOTICE, "STARTTLS: %zu byte(s) sent before the "
		    "handshake discarded", s->inlen - s->inpos);
		trace_note(s->trace, "starttls: %zu client byte(s) after the "
		    "command discarded", s->inlen - s->inpos);
	}
	s->inpos = s->inlen;
	parse_reset(s->parser);
	s->tls = tls_accept(s->tls_ctx, s->fd_in, s->fd_out,
	    TLS_HANDSHAKE_LIMIT(s->cfg->idle_timeout_preauth));
	if (s->tls == NULL) {
		/* Already logged; nothing more may be said in plaintext. */
		session_close(s);
		return;
	}
	log_msg(LOG_INFO, "STARTTLS: %s", tls_describe(s->tls));
	trace_note(s->trace, "tls %s", tls_describe(s->tls));
}
