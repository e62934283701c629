#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_ident = "refimapd";
static bool log_stderr = true;
static int log_level = LOG_INFO;
static char log_context[256];

void
log_open(const char *ident, bool to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(int prio)
{
	log_level = prio;
}

void
log_set_context(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(log_context, sizeof(log_context), fmt, ap);
	va_end(ap);
	if (n < 0)
		log_context[0] = '\0';
}

void
log_msg(int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (log_stderr) {
		fprintf(stderr, "%s[%ld]: %s%s%s\n", log_ident, (long)getpid(),
		    log_context, log_context[0] != '\0' ? ": " : "", line);
		fflush(stderr);
	} else {
		syslog(prio, "%s%s%s", log_context,
		    log_context[0] != '\0' ? ": " : "", line);
	}
}

const char *
log_escape(const uint8_t *p, size_t n, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (outlen == 0)
		return out;
	for (i = 0; i < n; i++) {
		uint8_t c = p[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;

		if (o + need + 4 > outlen) {
			if (o + 4 <= outlen) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
