/*
 * Unit tests for lib/mailsrc.c: line ends, mbox splitting and From_ dates,
 * mboxrd and mboxo quoting, status headers, Maildir flags and Maildir++
 * names.
 */
#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../lib/mailsrc.h"

#define S(s)	((const uint8_t *)(s)), (sizeof(s) - 1)

static bool
buf_is(struct buf *b, const char *want)
{
	bool ok = b->len == strlen(want) && memcmp(b->data, want, b->len) == 0;

	if (!ok)
		fprintf(stderr, "\n  got  [%s]\n  want [%s]\n", buf_cstr(b),
		    want);
	return ok;
}

void
test_mailsrc_line_ends(void)
{
	struct buf b = BUF_INITIALIZER(1 << 20);
	const char *in = "a\nb\r\nc\rd\n\n";
	bool cr = false;
	size_t i;

	CU_ASSERT_EQUAL(mailsrc_lf_to_crlf(&b, S("a\nb\r\nc\rd\n\n"), &cr), 0);
	CU_ASSERT_TRUE(buf_is(&b, "a\r\nb\r\nc\rd\r\n\r\n"));
	/* The same byte at a time: a CR at the end of a chunk counts. */
	buf_reset(&b);
	cr = false;
	for (i = 0; in[i] != '\0'; i++)
		CU_ASSERT_EQUAL(mailsrc_lf_to_crlf(&b, (const uint8_t *)in + i,
		    1, &cr), 0);
	CU_ASSERT_TRUE(buf_is(&b, "a\r\nb\r\nc\rd\r\n\r\n"));

	/* Back: CRLF -> LF, bare CR kept, also split between CR and LF. */
	in = "a\r\nb\r\nc\rd\r\n\r\r\n";
	buf_reset(&b);
	cr = false;
	CU_ASSERT_EQUAL(mailsrc_crlf_to_lf(&b, (const uint8_t *)in,
	    strlen(in), &cr), 0);
	CU_ASSERT_EQUAL(mailsrc_crlf_to_lf(&b, NULL, 0, &cr), 0);
	CU_ASSERT_TRUE(buf_is(&b, "a\nb\nc\rd\n\r\n"));
	buf_reset(&b);
	cr = false;
	for (i = 0; in[i] != '\0'; i++)
		CU_ASSERT_EQUAL(mailsrc_crlf_to_lf(&b, (const uint8_t *)in + i,
		    1, &cr), 0);
	CU_ASSERT_EQUAL(mailsrc_crlf_to_lf(&b, NULL, 0, &cr), 0);
	CU_ASSERT_TRUE(buf_is(&b, "a\nb\nc\rd\n\r\n"));
	/* A trailing CR is kept when the data ends. */
	buf_reset(&b);
	cr = false;
	CU_ASSERT_EQUAL(mailsrc_crlf_to_lf(&b, S("x\r"), &cr), 0);
	CU_ASSERT_EQUAL(mailsrc_crlf_to_lf(&b, NULL, 0, &cr), 0);
	CU_ASSERT_TRUE(buf_is(&b, "x\r"));
	buf_free(&b);
}

static bool
from_date(const char *line, int64_t want_t, int32_t want_tz)
{
	int64_t t = -1;
	int32_t tz = -1;

	if (!mailsrc_mbox_from_parse((const uint8_t *)line, strlen(line), &t,
	    &tz))
		return false;
	if (t != want_t || tz != want_tz)
		fprintf(stderr, "\n  %s: got %lld %d\n", line, (long long)t,
		    (int)tz);
	return t == want_t && tz == want_tz;
}

void
test_mailsrc_from_dates(void)
{
	CU_ASSERT_TRUE(from_date("From a@b Thu Jan  1 00:00:00 1970", 0, 0));
	CU_ASSERT_TRUE(from_date("From MAILER-DAEMON Fri Jul  8 12:08:34 2011",
	    1310126914, 0));
	/* A zone after the year, or before it. */
	CU_ASSERT_TRUE(from_date("From x Fri Jan  1 10:00:00 2100 +0130",
	    4102444800 + 10 * 3600 - 90 * 60, 90));
	CU_ASSERT_TRUE(from_date("From god Tue Jun 17 13:11:33 EDT 1997",
	    866567493, -240));
	CU_ASSERT_TRUE(from_date("From x Mon Dec 31 23:59 1969 -0000",
	    -60, 0));
	/* No sender; blanks in it. */
	CU_ASSERT_TRUE(from_date("From  Thu Jan  1 00:00:01 1970", 1, 0));
	CU_ASSERT_TRUE(from_date("From a b c Thu Jan  1 00:00:01 1970", 1, 0));
	/* Not From_ lines: body text that begins with "From ". */
	CU_ASSERT_FALSE(from_date("From here on it is all downhill", 0, 0));
	CU_ASSERT_FALSE(from_date("From: someone", 0, 0));
	CU_ASSERT_FALSE(from_date("From x Thu Jan 32 00:00:00 1970", 0, 0));
	CU_ASSERT_FALSE(from_date("From x Thu Jan  1 25:00:00 1970", 0, 0));
	CU_ASSERT_FALSE(from_date("From x Thu Jan  1 00:00:00", 0, 0));
}

void
test_mailsrc_mbox_split(void)
{
	static const char mbox[] =
	    "From a Thu Jan  1 00:00:00 1970\n"
	    "Subject: 1\n\nFrom here on\n>From there\n\n"
	    "From b Thu Jan  1 00:00:01 1970\n"
	    "Subject: 2\n\nno final blank line\n"
	    "From c Thu Jan  1 00:00:02 1970\n"
	    "\n"
	    "From d Thu Jan  1 00:00:03 1970\n"
	    "Subject: 4\n\n";
	struct mailsrc_mbox_msg m;
	size_t pos = 0;

	CU_ASSERT_EQUAL(mailsrc_mbox_next(S(mbox), &pos, &m), 1);
	CU_ASSERT_EQUAL(m.time, 0);
	CU_ASSERT_EQUAL(m.len, strlen("Subject: 1\n\nFrom here on\n"
	    ">From there\n"));
	CU_ASSERT_EQUAL(memcmp(m.data, "Subject: 1\n", 11), 0);
	CU_ASSERT_EQUAL(m.from_len, strlen("From a Thu Jan  1 00:00:00 1970"));
	CU_ASSERT_EQUAL(mailsrc_mbox_next(S(mbox), &pos, &m), 1);
	CU_ASSERT_EQUAL(m.time, 1);
	CU_ASSERT_EQUAL(m.len, strlen("Subject: 2\n\nno final blank line\n"));
	/* An empty message. */
	CU_ASSERT_EQUAL(mailsrc_mbox_next(S(mbox), &pos, &m), 1);
	CU_ASSERT_EQUAL(m.time, 2);
	CU_ASSERT_EQUAL(m.len, 0);
	CU_ASSERT_EQUAL(mailsrc_mbox_next(S(mbox), &pos, &m), 1);
	CU_ASSERT_EQUAL(m.len, strlen("Subject: 4\n"));
	CU_ASSERT_EQUAL(mailsrc_mbox_next(S(mbox), &pos, &m), 0);

	pos = 0;
	CU_ASSERT_EQUAL(mailsrc_mbox_next(S("Subject: not an mbox\n"), &pos,
	    &m), -1);
	pos = 0;
	CU_ASSERT_EQUAL(mailsrc_mbox_next(S(""), &pos, &m), 0);
}

static void
decode_is(const char *in, bool mboxo, const char *want)
{
	struct buf b = BUF_INITIALIZER(1 << 20);
	struct mailsrc_meta meta;

	memset(&meta, 0, sizeof(meta));
	CU_ASSERT_EQUAL(mailsrc_mbox_decode((const uint8_t *)in, strlen(in),
	    mboxo, &b, &meta), 0);
	CU_ASSERT_TRUE(buf_is(&b, want));
	mailsrc_meta_free(&meta);
	buf_free(&b);
}

void
test_mailsrc_mbox_quoting(void)
{
	struct buf b = BUF_INITIALIZER(1 << 20);
	const char *body = "S: x\r\n\r\nFrom a\r\n>From b\r\n>>From c\r\n"
	    "From\r\n>From\r\n";

	/* Reading: mboxrd takes one '>' off every >+From line ... */
	decode_is("S: x\n\n>From a\n>>From b\n>>>From c\n>From\n",
	    false, "S: x\r\n\r\nFrom a\r\n>From b\r\n>>From c\r\n>From\r\n");
	/* ... mboxo only off >From (one '>'). */
	decode_is("S: x\n\n>From a\n>>From b\n>>>From c\n", true,
	    "S: x\r\n\r\nFrom a\r\n>>From b\r\n>>>From c\r\n");

	/* Writing: mboxrd quotes ^>*From, mboxo only ^From. */
	CU_ASSERT_EQUAL(mailsrc_mbox_encode(&b, "a@b", 0, 0,
	    (const uint8_t *)body, strlen(body), NULL, false), 0);
	CU_ASSERT_TRUE(buf_is(&b, "From a@b Thu Jan  1 00:00:00 1970\n"
	    "S: x\n\n>From a\n>>From b\n>>>From c\nFrom\n>From\n\n"));
	buf_reset(&b);
	CU_ASSERT_EQUAL(mailsrc_mbox_encode(&b, NULL, 0, 0,
	    (const uint8_t *)body, strlen(body), NULL, true), 0);
	CU_ASSERT_TRUE(buf_is(&b, "From MAILER-DAEMON Thu Jan  1 00:00:00 1970"
	    "\nS: x\n\n>From a\n>From b\n>>From c\nFrom\n>From\n\n"));
	buf_free(&b);
}

void
test_mailsrc_mbox_status_headers(void)
{
	static const char in[] =
	    "From: a\nStatus: RO\nX-Status: AF\n X-folded: D\n"
	    "Subject: s\nX-Keywords: $Forwarded, work  todo\n\n"
	    "Status: body text is left alone\n";
	struct buf b = BUF_INITIALIZER(1 << 20), enc = BUF_INITIALIZER(1 << 20);
	struct mailsrc_meta meta;
	struct mailsrc_mbox_msg m;
	size_t pos = 0;

	memset(&meta, 0, sizeof(meta));
	CU_ASSERT_EQUAL(mailsrc_mbox_decode(S(in), false, &b, &meta), 0);
	CU_ASSERT_TRUE(buf_is(&b, "From: a\r\nSubject: s\r\n\r\n"
	    "Status: body text is left alone\r\n"));
	CU_ASSERT_EQUAL(meta.flags, MAILSRC_SEEN | MAILSRC_ANSWERED |
	    MAILSRC_FLAGGED | MAILSRC_DELETED);
	CU_ASSERT_EQUAL(meta.nkeywords, 3);
	if (meta.nkeywords == 3) {
		CU_ASSERT_STRING_EQUAL(meta.keywords[0], "$Forwarded");
		CU_ASSERT_STRING_EQUAL(meta.keywords[1], "work");
		CU_ASSERT_STRING_EQUAL(meta.keywords[2], "todo");
	}
	/* Written back at the end of the header, in a fixed form. */
	CU_ASSERT_EQUAL(mailsrc_mbox_encode(&enc, "x", 1, 0, b.data, b.len,
	    &meta, false), 0);
	CU_ASSERT_TRUE(buf_is(&enc, "From x Thu Jan  1 00:00:01 1970\n"
	    "From: a\nSubject: s\nStatus: RO\nX-Status: AFD\n"
	    "X-Keywords: $Forwarded work todo\n\n"
	    "Status: body text is left alone\n\n"));
	/* And read again: the same stored bytes and flags. */
	mailsrc_meta_free(&meta);
	CU_ASSERT_EQUAL(mailsrc_mbox_next(enc.data, enc.len, &pos, &m), 1);
	buf_reset(&b);
	CU_ASSERT_EQUAL(mailsrc_mbox_decode(m.data, m.len, false, &b, &meta),
	    0);
	CU_ASSERT_TRUE(buf_is(&b, "From: a\r\nSubject: s\r\n\r\n"
	    "Status: body text is left alone\r\n"));
	CU_ASSERT_EQUAL(meta.flags, MAILSRC_SEEN | MAILSRC_ANSWERED |
	    MAILSRC_FLAGGED | MAILSRC_DELETED);
	CU_ASSERT_EQUAL(meta.nkeywords, 3);
	mailsrc_meta_free(&meta);
	buf_free(&b);
	buf_free(&enc);
}

void
test_mailsrc_mbox_roundtrip_dates(void)
{
	static const int64_t times[] = { 0, -86400 * 365, 4102444800LL,
	    253402300799LL - 3 * 86400, 1700000000 };
	static const int32_t zones[] = { 0, 90, -600, 840, -59 };
	struct buf b = BUF_INITIALIZER(1 << 20);
	struct mailsrc_mbox_msg m;
	size_t i, j, pos;

	for (i = 0; i < N_ELEMENTS(times); i++) {
		for (j = 0; j < N_ELEMENTS(zones); j++) {
			buf_reset(&b);
			pos = 0;
			CU_ASSERT_EQUAL(mailsrc_mbox_encode(&b, "s", times[i],
			    zones[j], S("X: y\r\n\r\nz\r\n"), NULL, false), 0);
			CU_ASSERT_EQUAL(mailsrc_mbox_next(b.data, b.len, &pos,
			    &m), 1);
			CU_ASSERT_EQUAL(m.time, times[i]);
			CU_ASSERT_EQUAL(m.tzoff, zones[j]);
		}
	}
	buf_free(&b);
}

void
test_mailsrc_maildir_flags(void)
{
	struct mailsrc_kwmap k;
	struct mailsrc_meta meta;
	struct buf b = BUF_INITIALIZER(4096);
	size_t dropped = 9;

	memset(&k, 0, sizeof(k));
	mailsrc_kwmap_parse(&k, S("0 work\n1 $Junk\nbad line\n30 far\n"
	    "3 later\n"));
	CU_ASSERT_STRING_EQUAL(k.names[0], "work");
	CU_ASSERT_STRING_EQUAL(k.names[1], "$Junk");
	CU_ASSERT_PTR_NULL(k.names[2]);
	CU_ASSERT_STRING_EQUAL(k.names[3], "later");

	memset(&meta, 0, sizeof(meta));
	mailsrc_maildir_flags("1700000000.M1P2.host,S=10:2,DFPRSTadz", &k,
	    &meta);
	CU_ASSERT_EQUAL(meta.flags, MAILSRC_DRAFT | MAILSRC_FLAGGED |
	    MAILSRC_ANSWERED | MAILSRC_SEEN | MAILSRC_DELETED);
	/* P -> $Forwarded, a -> work, d -> later; z is unknown. */
	CU_ASSERT_EQUAL(meta.nkeywords, 3);
	if (meta.nkeywords == 3) {
		CU_ASSERT_STRING_EQUAL(meta.keywords[0], "$Forwarded");
		CU_ASSERT_STRING_EQUAL(meta.keywords[1], "work");
		CU_ASSERT_STRING_EQUAL(meta.keywords[2], "later");
	}
	CU_ASSERT_EQUAL(mailsrc_maildir_info(&b, &meta, &k, &dropped), 0);
	/* $Forwarded: P, and a letter for Dovecot (c, the first free one). */
	CU_ASSERT_TRUE(buf_is(&b, ":2,DFPRSTacd"));
	CU_ASSERT_EQUAL(dropped, 0);
	mailsrc_meta_free(&meta);

	/* No info part, or an experimental one: no flags. */
	mailsrc_maildir_flags("1700000000.M1P2.host", &k, &meta);
	CU_ASSERT_EQUAL(meta.flags, 0);
	mailsrc_maildir_flags("1700000000.M1P2.host:1,S", &k, &meta);
	CU_ASSERT_EQUAL(meta.flags, 0);
	mailsrc_maildir_flags("1700000000.M1P2.host:2,", &k, &meta);
	CU_ASSERT_EQUAL(meta.flags, 0);
	CU_ASSERT_EQUAL(meta.nkeywords, 0);

	/* A new keyword takes the first free letter (e). */
	CU_ASSERT_TRUE(mailsrc_meta_add_keyword(&meta, "new", 3));
	meta.flags = MAILSRC_SEEN;
	buf_reset(&b);
	CU_ASSERT_EQUAL(mailsrc_maildir_info(&b, &meta, &k, &dropped), 0);
	CU_ASSERT_TRUE(buf_is(&b, ":2,Se"));
	buf_reset(&b);
	CU_ASSERT_EQUAL(mailsrc_kwmap_format(&k, &b), 0);
	CU_ASSERT_TRUE(buf_is(&b, "0 work\n1 $Junk\n2 $Forwarded\n3 later\n"
	    "4 new\n"));
	/* Keywords that are not atoms are refused. */
	CU_ASSERT_FALSE(mailsrc_meta_add_keyword(&meta, "a b", 3));
	CU_ASSERT_FALSE(mailsrc_meta_add_keyword(&meta, "\\Seen", 5));
	mailsrc_meta_free(&meta);
	mailsrc_kwmap_free(&k);
	buf_free(&b);
}

static const char *
pp(const char *dir)
{
	static struct buf b = BUF_INITIALIZER(4096);

	return mailsrc_maildirpp_to_name(dir, &b) ? buf_cstr(&b) : NULL;
}

void
test_mailsrc_maildirpp_names(void)
{
	struct buf b = BUF_INITIALIZER(4096);

	CU_ASSERT_STRING_EQUAL(pp(".a"), "a");
	CU_ASSERT_STRING_EQUAL(pp(".a.b"), "a/b");
	CU_ASSERT_STRING_EQUAL(pp(".Sent Items.2024"), "Sent Items/2024");
	CU_ASSERT_STRING_EQUAL(pp(".caf&AOk-"), "caf&AOk-");
	CU_ASSERT_PTR_NULL(pp("."));
	CU_ASSERT_PTR_NULL(pp(".."));
	CU_ASSERT_PTR_NULL(pp("a.b"));
	CU_ASSERT_PTR_NULL(pp(".a..b"));
	CU_ASSERT_PTR_NULL(pp(".a."));

	CU_ASSERT_TRUE(mailsrc_name_to_maildirpp("a/b", &b));
	CU_ASSERT_TRUE(buf_is(&b, ".a.b"));
	CU_ASSERT_TRUE(mailsrc_name_to_maildirpp("INBOX", &b));
	CU_ASSERT_TRUE(buf_is(&b, ".INBOX"));
	CU_ASSERT_FALSE(mailsrc_name_to_maildirpp("v1.2", &b));
	CU_ASSERT_FALSE(mailsrc_name_to_maildirpp("a//b", &b));
	CU_ASSERT_FALSE(mailsrc_name_to_maildirpp("", &b));
	buf_free(&b);

	/* The order files are read in. */
	CU_ASSERT_TRUE(mailsrc_namecmp("9.M1.h", "10.M1.h") < 0);
	CU_ASSERT_TRUE(mailsrc_namecmp("10.M9.h", "10.M10.h") < 0);
	CU_ASSERT_TRUE(mailsrc_namecmp("a", "b") < 0);
	CU_ASSERT_TRUE(mailsrc_namecmp("007", "7") == 0);
	CU_ASSERT_TRUE(mailsrc_namecmp("x", "x1") < 0);
}

void
test_mailsrc_header_get(void)
{
	struct buf v = BUF_INITIALIZER(4096);
	static const char msg[] = "Subject: a\r\nmessage-id:\r\n  <x@y>  \r\n"
	    "\r\nMessage-ID: <body@z>\r\n";

	CU_ASSERT_TRUE(mailsrc_header_get(S(msg), "Message-ID", &v));
	CU_ASSERT_TRUE(buf_is(&v, "<x@y>"));
	CU_ASSERT_TRUE(mailsrc_header_get(S(msg), "subject", &v));
	CU_ASSERT_TRUE(buf_is(&v, "a"));
	/* Only the header counts. */
	CU_ASSERT_FALSE(mailsrc_header_get(S("A: b\n\nMessage-ID: <q>\n"),
	    "Message-ID", &v));
	CU_ASSERT_EQUAL(mailsrc_header_len(S(msg)), strlen("Subject: a\r\n"
	    "message-id:\r\n  <x@y>  \r\n\r\n"));
	CU_ASSERT_EQUAL(mailsrc_header_len(S("A: b")), 4);
	buf_free(&v);
}

void
test_mailsrc_dovecot_uidlist(void)
{
	struct mailsrc_uidlist u;

	mailsrc_uidlist_parse(&u, S("3 V1700000000 N20 G0123\n"
	    "7 :1700000003.M1P9.host,S=10,W=12\n"
	    "3 G01ab W12 :1700000009.M2P9.host,S=10\n"
	    "junk\n"
	    "12 1700000001.M3P9.host\n"));
	CU_ASSERT_EQUAL(u.n, 3);
	CU_ASSERT_EQUAL(mailsrc_uidlist_uid(&u,
	    "1700000003.M1P9.host,S=10,W=12:2,S"), 7);
	CU_ASSERT_EQUAL(mailsrc_uidlist_uid(&u, "1700000009.M2P9.host,S=10"),
	    3);
	CU_ASSERT_EQUAL(mailsrc_uidlist_uid(&u, "1700000001.M3P9.host:2,"),
	    12);
	CU_ASSERT_EQUAL(mailsrc_uidlist_uid(&u, "1700000002.M9P9.host:2,"),
	    0);
	mailsrc_uidlist_free(&u);
	mailsrc_uidlist_parse(&u, NULL, 0);
	CU_ASSERT_EQUAL(u.n, 0);
	CU_ASSERT_EQUAL(mailsrc_uidlist_uid(&u, "x"), 0);
}
