/*
 * cmd_any.c: commands valid in every state (RFC 3501 §6.1):
 *   CAPABILITY (§6.1.1), NOOP (§6.1.2), LOGOUT (§6.1.3), ID (RFC 2971);
 * and IDLE (RFC 2177), in the authenticated and selected states.
 */
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "cmd.h"
#include "cmd_util.h"
#include "resp.h"
#include "version.h"

#define ID_PAIRS_MAX	30
#define ID_KEY_MAX	30
#define ID_VALUE_MAX	1024

void
cmd_capability(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	resp_untagged(s, "CAPABILITY %s", session_capabilities(s));
	resp_ok(s, "CAPABILITY completed");
}

void
cmd_noop(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	select_sync(s, true);
	resp_ok(s, "NOOP completed");
}

void
cmd_logout(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	resp_untagged(s, "BYE Logging out");
	resp_ok(s, "LOGOUT completed");
	/* The "logout" line with the session's counts comes at its end
	 * (session.c), however it ends. */
	log_msg(LOG_DEBUG, "LOGOUT");
	session_close(s);
}

/* RFC 2971: ID ("key" value ...) or ID NIL. */
void
cmd_id(struct session *s, struct args *a)
{
	const uint8_t *k, *v;
	size_t kn, vn;
	unsigned pairs = 0;

	if (!args_word(a, "NIL")) {
		if (!args_list_open(a)) {
			cmd_bad_args(s, "NIL or a list of field-value pairs");
			return;
		}
		while (!args_list_close(a)) {
			if (!args_string(a, &k, &kn) ||
			    !args_nstring(a, &v, &vn)) {
				cmd_bad_args(s, "string field, nstring value");
				return;
			}
			if (kn > ID_KEY_MAX || vn > ID_VALUE_MAX ||
			    ++pairs > ID_PAIRS_MAX) {
				resp_bad(s, "ID field, value or list too long");
				session_count_bad(s);
				return;
			}
		}
	}
	if (!cmd_args_end(s, a))
		return;
	resp_untagged(s, "ID (\"name\" \"refimapd\" \"version\" \"%s\")",
	    REFIMAPD_VERSION);
	resp_ok(s, "ID completed");
}

static void
idle_done(struct session *s, const uint8_t *line, size_t n)
{
	s->idling = false;
	if (n == 4 && strncasecmp((const char *)line, "DONE", 4) == 0) {
		resp_ok(s, "IDLE terminated");
		return;
	}
	resp_bad(s, "Expected DONE to end IDLE");
	session_count_bad(s);
}

/*
 * IDLE: "+ idling", then, while the client is silent, what other sessions
 * and deliveries change in the selected mailbox reaches it within a second
 * (session_read wakes up for it). The line DONE ends it.
 */
void
cmd_idle(struct session *s, struct args *a)
{
	if (!cmd_args_end(s, a))
		return;
	resp_continue(s, "idling");
	s->idling = true;
	session_expect_line(s, idle_done);
}
