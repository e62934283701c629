/*
 * trace.c: refimapctl trace show [--client|--server] [--absolute] FILE
 *
 * Prints a protocol trace (format in server/trace.h) for reading: times
 * relative to the first record (or the clock times with --absolute), the
 * direction, the text as sent; literal data as indented "|" lines cut at
 * its line ends, with how much of it the trace left out; masked secrets as
 * "***". --client or --server keeps one direction (notes stay). FILE "-"
 * is stdin. Lines that are not records are printed as they are.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"

struct trace_show {
	bool client, server, absolute;
	bool have_t0;
	long t0, prev, days;	/* ms of the day; days passed */
};

/* Milliseconds of the day of "HH:MM:SS.mmm", or -1. */
static long
trace_show_time(const char *p)
{
	int h, m, s, ms;
	char c;

	if (strlen(p) < 12 || p[2] != ':' || p[5] != ':' || p[8] != '.' ||
	    sscanf(p, "%2d:%2d:%2d.%3d%c", &h, &m, &s, &ms, &c) != 5 ||
	    c != ' ')
		return -1;
	return ((h * 60L + m) * 60L + s) * 1000L + ms;
}

static void
trace_show_stamp(struct trace_show *ts, const char *clock, long ms)
{
	long rel;

	if (ts->absolute) {
		printf("%.12s ", clock);
		return;
	}
	if (!ts->have_t0) {
		ts->have_t0 = true;
		ts->t0 = ts->prev = ms;
	}
	if (ms < ts->prev)
		ts->days++;	/* past midnight */
	ts->prev = ms;
	rel = ms + ts->days * 86400000L - ts->t0;
	printf("%+9.3f ", (double)rel / 1000.0);
}

/* Prints escaped text with "\*" shown as "***". */
static void
trace_show_text(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n && p[i + 1] == '*') {
			fputs("***", stdout);
			i++;
		} else if (p[i] == '\\' && i + 1 < n) {
			putchar(p[i]);
			putchar(p[++i]);
		} else {
			putchar(p[i]);
		}
	}
}

/* Literal data: one "|" line per line of the data, cut after each LF; a
 * CRLF at the cut is not shown. */
static void
trace_show_literal(const char *p, size_t n, const char *indent)
{
	size_t i, start = 0, cr = SIZE_MAX;	/* where a "\r" escape is */
	bool first = true;

	for (i = 0; i + 1 < n; i++) {
		if (p[i] != '\\')
			continue;
		if (p[i + 1] == 'r')
			cr = i;
		if (p[i + 1] == 'n') {
			size_t end = cr != SIZE_MAX && cr + 2 == i ? cr : i + 2;

			printf("%s| ", first ? "" : indent);
			trace_show_text(p + start, end - start);
			putchar('\n');
			first = false;
			start = i + 2;
		}
		i++;		/* the escaped character */
	}
	if (start < n || first) {
		printf("%s| ", first ? "" : indent);
		trace_show_text(p + start, n - start);
		putchar('\n');
	}
}

static void
trace_show_line(struct trace_show *ts, char *line)
{
	/* Under the "|" of the first line: the time and "C     ". */
	const char *indent = ts->absolute ? "                   " :
	    "                ";
	size_t n = strlen(line);
	long ms;
	char d, k;
	const char *text;

	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (line[0] == '#') {
		printf("%s\n", line);
		return;
	}
	if ((ms = trace_show_time(line)) < 0 || n < 15) {
		printf("%s\n", line);
		return;
	}
	d = line[13];
	k = line[14];
	text = n > 16 ? line + 16 : "";
	if (d == '-' && k == '-') {
		trace_show_stamp(ts, line, ms);
		printf("--  %s\n", text);
		return;
	}
	if ((d != 'C' && d != 'S') || (d == 'C' && !ts->client) ||
	    (d == 'S' && !ts->server))
		return;
	trace_show_stamp(ts, line, ms);
	switch (k) {
	case ':':
		printf("%c   ", d);
		trace_show_text(text, strlen(text));
		putchar('\n');
		break;
	case '-':
		printf("%c   ", d);
		trace_show_text(text, strlen(text));
		fputs("  [no line end]\n", stdout);
		break;
	case '=':
		printf("%c     ", d);
		trace_show_literal(text, strlen(text), indent);
		break;
	case '~':
		printf("%c     | [%s more literal bytes not traced]\n", d,
		    text);
		break;
	default:
		printf("%c%c  %s\n", d, k, text);
		break;
	}
}

int
ctl_trace_show(struct ctl *ctl, int argc, char **argv)
{
	struct trace_show ts = { true, true, false, false, 0, 0, 0 };
	const char *path = NULL;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int i;

	(void)ctl;
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--client") == 0) {
			ts.server = false;
		} else if (strcmp(argv[i], "--server") == 0) {
			ts.client = false;
		} else if (strcmp(argv[i], "--absolute") == 0) {
			ts.absolute = true;
		} else if (path == NULL && (argv[i][0] != '-' ||
		    strcmp(argv[i], "-") == 0)) {
			path = argv[i];
		} else {
			ctl_err("usage: refimapctl trace show "
			    "[--client|--server] [--absolute] FILE");
			return EX_USAGE;
		}
	}
	if (path == NULL || (!ts.client && !ts.server)) {
		ctl_err("usage: refimapctl trace show [--client|--server] "
		    "[--absolute] FILE");
		return EX_USAGE;
	}
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL) {
		ctl_err("%s: %s", path, strerror(errno));
		return EX_NOINPUT;
	}
	while (getline(&line, &cap, f) >= 0)
		trace_show_line(&ts, line);
	free(line);
	if (ferror(f)) {
		ctl_err("%s: read error", path);
		if (f != stdin)
			fclose(f);
		return EX_IOERR;
	}
	if (f != stdin)
		fclose(f);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_err("cannot write: %s", strerror(errno));
		return EX_IOERR;
	}
	return 0;
}
