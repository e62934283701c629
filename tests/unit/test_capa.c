/*
 * Unit tests for capability profiles (server/capa.c) and, since they share
 * the masking rules of a test target, the trace writer (server/trace.c).
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../server/capa.h"
#include "../../server/trace.h"

static char *
fmt(uint32_t set)
{
	static char out[512];

	if (capa_format(set, out, sizeof(out)) < 0)
		return "(too small)";
	return out;
}

void
test_capa_parse_all_by_default(void)
{
	uint32_t set = 0;
	char err[256] = "";

	CU_ASSERT_EQUAL(capa_parse(NULL, &set, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(set, CAPA_ALL);
	CU_ASSERT_EQUAL(capa_parse(" , ", &set, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(set, CAPA_ALL);
	CU_ASSERT_STRING_EQUAL(fmt(set), "IMAP4rev1 LITERAL+ ID IDLE "
	    "NAMESPACE CHILDREN UNSELECT UIDPLUS MOVE ENABLE CONDSTORE QRESYNC "
	    "ESEARCH SPECIAL-USE");
}

void
test_capa_parse_removals_and_prerequisites(void)
{
	uint32_t set = 0;
	char err[256] = "";

	CU_ASSERT_EQUAL(capa_parse("-qresync, -CondStore -LITERAL+ -IDLE",
	    &set, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(fmt(set), "IMAP4rev1 ID NAMESPACE CHILDREN "
	    "UNSELECT UIDPLUS MOVE ENABLE ESEARCH SPECIAL-USE");
	CU_ASSERT_TRUE(capa_has(set, CAPA_SASL_IR));
	/* QRESYNC needs CONDSTORE and ENABLE: removing either removes it. */
	CU_ASSERT_EQUAL(capa_parse("-CONDSTORE", &set, err, sizeof(err)), 0);
	CU_ASSERT_FALSE(capa_has(set, CAPA_QRESYNC));
	CU_ASSERT_TRUE(capa_has(set, CAPA_ENABLE));
	CU_ASSERT_EQUAL(capa_parse("-ENABLE", &set, err, sizeof(err)), 0);
	CU_ASSERT_FALSE(capa_has(set, CAPA_QRESYNC));
	CU_ASSERT_TRUE(capa_has(set, CAPA_CONDSTORE));
}

void
test_capa_parse_kept_list(void)
{
	uint32_t set = 0;
	char err[256] = "";

	CU_ASSERT_EQUAL(capa_parse("IMAP4rev1", &set, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(set, 0);
	CU_ASSERT_STRING_EQUAL(fmt(set), "IMAP4rev1");
	CU_ASSERT_EQUAL(capa_parse("uidplus IDLE sasl-ir", &set, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(set, CAPA_UIDPLUS | CAPA_IDLE | CAPA_SASL_IR);
	CU_ASSERT_STRING_EQUAL(fmt(set), "IMAP4rev1 IDLE UIDPLUS");
	CU_ASSERT_EQUAL(capa_parse("CONDSTORE ENABLE QRESYNC", &set, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(fmt(set), "IMAP4rev1 ENABLE CONDSTORE "
	    "QRESYNC");
}

void
test_capa_parse_errors(void)
{
	uint32_t set = 0;
	char err[256] = "";

	CU_ASSERT_EQUAL(capa_parse("-QRESYNC -XYZZY", &set, err, sizeof(err)),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown extension 'XYZZY'"));
	CU_ASSERT_EQUAL(capa_parse("-QRESYNC IDLE", &set, err, sizeof(err)),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not both"));
	CU_ASSERT_EQUAL(capa_parse("-IMAP4rev1", &set, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(capa_parse("QRESYNC CONDSTORE", &set, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "QRESYNC needs"));
	CU_ASSERT_EQUAL(capa_parse("-", &set, err, sizeof(err)), -1);
	/* No error text wanted: still a clean failure. */
	CU_ASSERT_EQUAL(capa_parse("FOO", &set, NULL, 0), -1);
}

void
test_capa_format_small_buffer(void)
{
	char out[12];

	CU_ASSERT_EQUAL(capa_format(CAPA_ALL, out, sizeof(out)), -1);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(capa_format(0, out, sizeof(out)), 9);
}

void
test_capa_commands(void)
{
	uint32_t none = 0;

	CU_ASSERT_TRUE(capa_command(CAPA_ALL, "MOVE", false));
	CU_ASSERT_TRUE(capa_command(CAPA_ALL, "expunge", true));
	CU_ASSERT_FALSE(capa_command(none, "move", false));
	CU_ASSERT_FALSE(capa_command(none, "IDLE", false));
	CU_ASSERT_FALSE(capa_command(none, "ID", false));
	CU_ASSERT_FALSE(capa_command(none, "NAMESPACE", false));
	CU_ASSERT_FALSE(capa_command(none, "UNSELECT", false));
	CU_ASSERT_FALSE(capa_command(none, "ENABLE", false));
	/* UID EXPUNGE is UIDPLUS's; EXPUNGE is RFC 3501's. */
	CU_ASSERT_FALSE(capa_command(none, "EXPUNGE", true));
	CU_ASSERT_TRUE(capa_command(none, "EXPUNGE", false));
	CU_ASSERT_TRUE(capa_command(CAPA_UIDPLUS, "EXPUNGE", true));
	CU_ASSERT_TRUE(capa_command(none, "FETCH", true));
	CU_ASSERT_TRUE(capa_command(none, "CAPABILITY", false));
}

/* ---- the trace writer ---- */

static char trace_dir[64];

/* Feeds a conversation; returns the trace file's text (malloc'd). */
static char *
trace_run(size_t literal_max, const char *const *steps)
{
	struct trace *t;
	char path[256], *text;
	FILE *f;
	long n;
	size_t i;

	(void)snprintf(trace_dir, sizeof(trace_dir),
	    "/tmp/refimapd-trace-XXXXXX");
	if (mkdtemp(trace_dir) == NULL)
		return NULL;
	t = trace_open(trace_dir, literal_max, 7, "192.0.2.1");
	if (t == NULL)
		return NULL;
	(void)snprintf(path, sizeof(path), "%s", trace_path(t));
	/* "C..." client bytes, "R..." a raw client line, "S..." server. */
	for (i = 0; steps[i] != NULL; i++) {
		const uint8_t *p = (const uint8_t *)steps[i] + 1;
		size_t len = strlen(steps[i]) - 1;

		if (steps[i][0] == 'C')
			trace_client(t, p, len);
		else if (steps[i][0] == 'R')
			trace_client_line(t, p, len);
		else
			trace_server(t, p, len);
	}
	trace_close(&t);
	CU_ASSERT_PTR_NULL(t);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	if (text != NULL && fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		text = NULL;
	}
	fclose(f);
	unlink(path);
	rmdir(trace_dir);
	return text;
}

/* The records of text without their times, for exact comparison. */
static char *
trace_records(const char *text)
{
	size_t n = strlen(text);
	char *out = calloc(1, n + 1), *o = out;
	const char *p = text;

	while (out != NULL && *p != '\0') {
		const char *e = strchr(p, '\n');
		size_t len = e != NULL ? (size_t)(e - p) + 1 : strlen(p);

		if (*p != '#' && len > 13) {
			memcpy(o, p + 13, len - 13);
			o += len - 13;
		}
		p += len;
	}
	return out;
}

void
test_capa_trace_masks_login_and_literals(void)
{
	static const char *const steps[] = {
		"S* OK ready\r\n",
		/* The parser takes bytes token by token. */
		"Ca1 LOG", "CIN \"us", "Cer\" \"pa\\\"ss\"\r\n",
		"Sa1 NO nope\r\n",
		"Ca2 login user sEcReT\r\n",
		"Sa2 NO nope\r\n",
		"Ca3 LOGIN {4}\r\n", "S+ go\r\n", "Cuser {6}\r\n",
		"S+ go\r\n", "Csecret", "C\r\n",
		"Sa3 OK hi\r\n",
		"Ca4 APPEND INBOX {10}\r\n", "S+ go\r\n",
		"C0123456789\r\n",
		"Sa4 OK\r\n",
		/* A synchronizing literal refused: its data never comes. */
		"Ca5 APPEND INBOX {99}\r\n", "Sa5 NO [TOOBIG] big\r\n",
		"Ca6 UID LOGIN u {3+}\r\npw1\r\n",
		NULL,
	};
	char *text = trace_run(4, steps), *rec;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NULL(strstr(text, "pa\\\\\"ss"));
	CU_ASSERT_PTR_NULL(strstr(text, "sEcReT"));
	CU_ASSERT_PTR_NULL(strstr(text, "secret"));
	CU_ASSERT_PTR_NULL(strstr(text, "pw1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# session 7 pid "));
	rec = trace_records(text);
	CU_ASSERT_STRING_EQUAL(rec,
	    "S: * OK ready\n"
	    "C: a1 LOGIN \"user\" \\*\n"
	    "S: a1 NO nope\n"
	    "C: a2 login user \\*\n"
	    "S: a2 NO nope\n"
	    "C: a3 LOGIN {4}\n"
	    "S: + go\n"
	    "C= user\n"
	    "C:  {6}\n"
	    "S: + go\n"
	    "C= \\*\n"
	    "C: \n"
	    "S: a3 OK hi\n"
	    "C: a4 APPEND INBOX {10}\n"
	    "S: + go\n"
	    "C= 0123\n"
	    "C~ 6\n"
	    "C: \n"
	    "S: a4 OK\n"
	    "C: a5 APPEND INBOX {99}\n"
	    "S: a5 NO [TOOBIG] big\n"
	    "C: a6 UID LOGIN u {3+}\n"
	    "C= \\*\n"
	    "C: \n"
	    "-- end\n");
	free(rec);
	free(text);
}

void
test_capa_trace_masks_sasl(void)
{
	static const char *const steps[] = {
		"S* OK ready\r\n",
		"Cb1 AUTHENTICATE PLAIN AHUAcHc=\r\n",
		"Sb1 NO bad\r\n",
		"Cb2 AUTHENTICATE PLAIN\r\n", "S+ \r\n",
		"RAHUAcH", "Rc=\r\n",
		"S+ \r\n", "R*\r\n",
		"Sb2 BAD cancelled\r\n",
		/* A client that does not wait for "+": masked all the same. */
		"Cb3 AUTHENTICATE PLAIN\r\n",
		"CAHUAcHc=\r\n",
		"S+ \r\n",
		"Sb3 BAD x\r\n",
		"Cb4 IDLE\r\n", "S+ idling\r\n", "RDONE\r\n", "Sb4 OK\r\n",
		"Cbinary \x01\xff\\\r",
		NULL,
	};
	char *text = trace_run(4096, steps), *rec;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NULL(strstr(text, "AHUAcH"));
	rec = trace_records(text);
	CU_ASSERT_STRING_EQUAL(rec,
	    "S: * OK ready\n"
	    "C: b1 AUTHENTICATE PLAIN \\*\n"
	    "S: b1 NO bad\n"
	    "C: b2 AUTHENTICATE PLAIN\n"
	    "S: + \n"
	    "C: \\*\n"
	    "S: + \n"
	    "C: \\*\n"
	    "S: b2 BAD cancelled\n"
	    "C: b3 AUTHENTICATE PLAIN\n"
	    "C: \\*\n"
	    "S: + \n"
	    "S: b3 BAD x\n"
	    "C: b4 IDLE\n"
	    "S: + idling\n"
	    "C: DONE\n"
	    "S: b4 OK\n"
	    "C- binary \\x01\\xff\\\\\\r\n"
	    "-- end\n");
	free(rec);
	free(text);
}

void
test_capa_trace_server_literals(void)
{
	static const char *const steps[] = {
		"S* 1 FETCH (BODY[] {12}\r\nHello\r\nWorld)\r\n",
		"S* 2 FETCH (BODY[] {3}\r\nab", "Sc)\r\n",
		"Sbare\n",
		NULL,
	};
	char *text = trace_run(8, steps), *rec;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	rec = trace_records(text);
	CU_ASSERT_STRING_EQUAL(rec,
	    "S: * 1 FETCH (BODY[] {12}\n"
	    "S= Hello\\r\\nW\n"
	    "S~ 4\n"
	    "S: )\n"
	    "S: * 2 FETCH (BODY[] {3}\n"
	    "S= ab\n"
	    "S= c\n"
	    "S: )\n"
	    "S- bare\\n\n"
	    "-- end\n");
	free(rec);
	free(text);
}

void
test_capa_trace_unwritable_dir(void)
{
	/* A path under a regular file: no trace, no crash. */
	CU_ASSERT_PTR_NULL(trace_open("/dev/null/traces", 10, 1, "x"));
	CU_ASSERT_PTR_NULL(trace_open(NULL, 10, 1, "x"));
	trace_client(NULL, (const uint8_t *)"x", 1);
	trace_server(NULL, (const uint8_t *)"x", 1);
	trace_note(NULL, "%s", "x");
}
