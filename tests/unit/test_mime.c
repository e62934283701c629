/*
 * Unit tests for the MIME parser (store/mime.c, store/mime_addr.c): exact
 * ENVELOPE, BODY and BODYSTRUCTURE texts (RFC 3501 §7.4.2) and the byte
 * ranges of section parts (RFC 3501 §6.4.5), checked against the message.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../lib/buf.h"
#include "../../lib/xalloc.h"
#include "../../store/mime.h"

/*
 * Prototypes for -Wmissing-prototypes. "extern" keeps gen_registry.sh,
 * which registers lines starting "void test_", from counting them twice.
 */
extern void test_mime_simple_text(void);
extern void test_mime_rfc3501_example(void);
extern void test_mime_alternative(void);
extern void test_mime_nested_multipart(void);
extern void test_mime_message_rfc822(void);
extern void test_mime_address_groups(void);
extern void test_mime_addresses_odd(void);
extern void test_mime_missing_headers(void);
extern void test_mime_bare_lf(void);
extern void test_mime_missing_boundary(void);
extern void test_mime_unterminated_boundary(void);
extern void test_mime_depth_limit(void);
extern void test_mime_part_limit(void);
extern void test_mime_rfc2231_params(void);
extern void test_mime_big_attachment(void);
extern void test_mime_section_nonexistent(void);
extern void test_mime_corrupt_blob(void);
extern void test_mime_8bit_headers(void);
extern void test_mime_odd_headers(void);
extern void test_mime_digest_default(void);
extern void test_mime_out_max(void);
extern void test_mime_empty_message(void);

#define BLOB_MAX	((size_t)256 * 1024 * 1024)

struct parsed {
	struct buf blob;
	const char *msg;
	size_t len;
};

static void
parse_n(struct parsed *ps, const char *msg, size_t len)
{
	ps->msg = msg;
	ps->len = len;
	buf_init(&ps->blob, BLOB_MAX);
	CU_ASSERT_EQUAL_FATAL(mime_parse((const uint8_t *)msg, len,
	    &ps->blob), 0);
}

static void
parse(struct parsed *ps, const char *msg)
{
	parse_n(ps, msg, strlen(msg));
}

static void
done(struct parsed *ps)
{
	buf_free(&ps->blob);
}

/* Compares a returned text with the expected one, printing both. */
static void
check_bytes(const uint8_t *s, size_t len, const char *want, size_t wlen,
    int line)
{
	bool ok = len == wlen && memcmp(s, want, len) == 0;

	if (!ok)
		fprintf(stderr, "\nline %d:\n got  [%.*s] (%zu)\n want [%.*s] "
		    "(%zu)\n", line, (int)len, (const char *)s, len,
		    (int)wlen, want, wlen);
	CU_ASSERT_TRUE(ok);
}

static void
check_env_(struct parsed *ps, const char *want, int line)
{
	const uint8_t *s;
	size_t len;

	CU_ASSERT_TRUE_FATAL(mime_envelope(ps->blob.data, ps->blob.len, &s,
	    &len));
	check_bytes(s, len, want, strlen(want), line);
}

static void
check_body_(struct parsed *ps, bool ext, const char *want, int line)
{
	const uint8_t *s;
	size_t len;

	CU_ASSERT_TRUE_FATAL(mime_body(ps->blob.data, ps->blob.len, ext, &s,
	    &len));
	check_bytes(s, len, want, strlen(want), line);
}

#define check_env(ps, w)	check_env_(ps, w, __LINE__)
#define check_body(ps, w)	check_body_(ps, false, w, __LINE__)
#define check_bs(ps, w)		check_body_(ps, true, w, __LINE__)

/* Resolves "1.2" ("" = whole message). */
static bool
section(struct parsed *ps, const char *spec, struct mime_range *r)
{
	uint32_t path[64];
	size_t depth = 0;
	const char *q = spec;
	char *e;

	while (*q != '\0' && depth < 64) {
		path[depth++] = (uint32_t)strtoul(q, &e, 10);
		q = *e == '.' ? e + 1 : e;
	}
	return mime_section(ps->blob.data, ps->blob.len, path, depth, r);
}

/* The range [off, off+len) of the message must hold exactly want. */
static void
check_range_(struct parsed *ps, uint64_t off, uint64_t len,
    const char *want, int line)
{
	CU_ASSERT_TRUE_FATAL(off <= ps->len && len <= ps->len - off);
	check_bytes((const uint8_t *)ps->msg + off, len, want, strlen(want),
	    line);
}

#define check_range(ps, o, l, w)	check_range_(ps, o, l, w, __LINE__)

/* The offset of the unique occurrence of s in the message. */
static uint64_t
offset_of(struct parsed *ps, const char *s)
{
	const char *p = strstr(ps->msg, s);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NULL(strstr(p + 1, s));
	return (uint64_t)(p - ps->msg);
}

void
test_mime_simple_text(void)
{
	struct parsed ps;
	struct mime_range r;

	parse(&ps,
	    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
	    "From: Terry Gray <gray@cac.washington.edu>\r\n"
	    "Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
	    "To: imap@cac.washington.edu\r\n"
	    "cc: minutes@CNRI.Reston.VA.US,\r\n"
	    "    John Klensin <KLENSIN@MIT.EDU>\r\n"
	    "Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
	    "\r\n"
	    "Hello\r\nworld\r\n");
	check_env(&ps,
	    "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
	    "\"IMAP4rev1 WG mtg summary and minutes\" "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "((NIL NIL \"imap\" \"cac.washington.edu\")) "
	    "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
	    "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
	    "\"<B27397-0100000@cac.washington.edu>\")");
	check_body(&ps, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7bit\" 14 2)");
	check_bs(&ps, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7bit\" 14 2 NIL NIL NIL NIL)");
	CU_ASSERT_TRUE_FATAL(section(&ps, "", &r));
	CU_ASSERT_TRUE(r.is_message);
	CU_ASSERT_EQUAL(r.body_off, 0);
	CU_ASSERT_EQUAL(r.body_len, ps.len);
	CU_ASSERT_EQUAL(r.hdr_off, 0);
	CU_ASSERT_EQUAL(r.hdr_len, offset_of(&ps, "Hello"));
	check_range(&ps, r.text_off, r.text_len, "Hello\r\nworld\r\n");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1", &r));
	CU_ASSERT_FALSE(r.is_message);
	check_range(&ps, r.body_off, r.body_len, "Hello\r\nworld\r\n");
	CU_ASSERT_FALSE(section(&ps, "2", &r));
	CU_ASSERT_FALSE(section(&ps, "1.1", &r));
	CU_ASSERT_FALSE(section(&ps, "0", &r));
	done(&ps);
}

/* The shape of RFC 3501 §7.4.2's BODYSTRUCTURE example. */
void
test_mime_rfc3501_example(void)
{
	struct parsed ps;
	struct mime_range r;

	parse(&ps,
	    "From: a@b.example\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: MULTIPART/MIXED; BOUNDARY=\"b1\"\r\n"
	    "\r\n"
	    "This is a multi-part message.\r\n"
	    "--b1\r\n"
	    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
	    "\r\n"
	    "line one\r\n"
	    "line two\r\n"
	    "--b1\r\n"
	    "Content-Type: APPLICATION/OCTET-STREAM; NAME=\"x.bin\"\r\n"
	    "Content-Transfer-Encoding: BASE64\r\n"
	    "Content-ID: <id1@example>\r\n"
	    "Content-Description: a file\r\n"
	    "Content-Disposition: attachment; filename=\"x.bin\"\r\n"
	    "\r\n"
	    "AAECAwQFBgcICQ==\r\n"
	    "--b1--\r\n"
	    "epilogue\r\n");
	check_body(&ps,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" "
	    "18 2)(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"x.bin\") "
	    "\"<id1@example>\" \"a file\" \"BASE64\" 16) \"MIXED\")");
	check_bs(&ps,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" "
	    "18 2 NIL NIL NIL NIL)(\"APPLICATION\" \"OCTET-STREAM\" "
	    "(\"NAME\" \"x.bin\") \"<id1@example>\" \"a file\" \"BASE64\" 16 "
	    "NIL (\"attachment\" (\"filename\" \"x.bin\")) NIL NIL) "
	    "\"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1", &r));
	/* The CRLF before a delimiter belongs to the delimiter. */
	check_range(&ps, r.body_off, r.body_len, "line one\r\nline two");
	check_range(&ps, r.mime_off, r.mime_len,
	    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n");
	CU_ASSERT_TRUE_FATAL(section(&ps, "2", &r));
	check_range(&ps, r.body_off, r.body_len, "AAECAwQFBgcICQ==");
	CU_ASSERT_EQUAL(r.body_off, offset_of(&ps, "AAEC"));
	CU_ASSERT_FALSE(r.is_message);
	CU_ASSERT_FALSE(section(&ps, "3", &r));
	CU_ASSERT_FALSE(section(&ps, "2.1", &r));
	CU_ASSERT_TRUE_FATAL(section(&ps, "", &r));
	CU_ASSERT_TRUE(r.is_multipart);
	done(&ps);
}

void
test_mime_alternative(void)
{
	struct parsed ps;
	struct mime_range r;

	parse(&ps,
	    "Content-Type: multipart/alternative; boundary=alt\r\n"
	    "\r\n"
	    "--alt\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "caf=C3=A9\r\n"
	    "--alt\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "\r\n"
	    "<p>caf\xc3\xa9</p>\r\n"
	    "\r\n"
	    "--alt--\r\n");
	check_body(&ps,
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	    "\"quoted-printable\" 9 1)(\"text\" \"html\" (\"charset\" "
	    "\"utf-8\") NIL NIL \"7bit\" 14 1) \"alternative\")");
	CU_ASSERT_TRUE_FATAL(section(&ps, "2", &r));
	check_range(&ps, r.body_off, r.body_len, "<p>caf\xc3\xa9</p>\r\n");
	done(&ps);
}

void
test_mime_nested_multipart(void)
{
	struct parsed ps;
	struct mime_range r;

	parse(&ps,
	    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
	    "\r\n"
	    "--outer\r\n"
	    "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
	    "\r\n"
	    "--inner\r\n"
	    "\r\n"
	    "plain\r\n"
	    "--inner\r\n"
	    "Content-Type: text/html\r\n"
	    "\r\n"
	    "<b>html</b>\r\n"
	    "--inner--\r\n"
	    "--outer\r\n"
	    "Content-Type: image/png\r\n"
	    "\r\n"
	    "PNG\r\n"
	    "--outer--\r\n");
	check_body(&ps,
	    "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "5 1)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 11 1) \"alternative\")(\"image\" \"png\" NIL NIL NIL "
	    "\"7bit\" 3) \"mixed\")");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1", &r));
	CU_ASSERT_TRUE(r.is_multipart);
	check_range(&ps, r.body_off, r.body_len, "--inner\r\n\r\nplain\r\n"
	    "--inner\r\nContent-Type: text/html\r\n\r\n<b>html</b>\r\n"
	    "--inner--");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1.1", &r));
	check_range(&ps, r.body_off, r.body_len, "plain");
	check_range(&ps, r.mime_off, r.mime_len, "\r\n");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1.2", &r));
	check_range(&ps, r.body_off, r.body_len, "<b>html</b>");
	check_range(&ps, r.mime_off, r.mime_len,
	    "Content-Type: text/html\r\n\r\n");
	CU_ASSERT_TRUE_FATAL(section(&ps, "2", &r));
	check_range(&ps, r.body_off, r.body_len, "PNG");
	CU_ASSERT_FALSE(section(&ps, "1.3", &r));
	CU_ASSERT_FALSE(section(&ps, "1.1.1", &r));
	CU_ASSERT_FALSE(section(&ps, "3", &r));
	done(&ps);
}

void
test_mime_message_rfc822(void)
{
	struct parsed ps;
	struct mime_range r;

	parse(&ps,
	    "From: outer@example.com\r\n"
	    "Subject: fwd\r\n"
	    "Content-Type: multipart/mixed; boundary=B\r\n"
	    "\r\n"
	    "--B\r\n"
	    "\r\n"
	    "see attached\r\n"
	    "--B\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "From: Inner Person <inner@example.org>\r\n"
	    "Subject: original\r\n"
	    "Content-Type: multipart/mixed; boundary=C\r\n"
	    "\r\n"
	    "--C\r\n"
	    "\r\n"
	    "inner text\r\n"
	    "--C\r\n"
	    "Content-Type: application/pdf\r\n"
	    "\r\n"
	    "PDF\r\n"
	    "--C--\r\n"
	    "--B--\r\n");
	check_body(&ps,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "12 1)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 171 "
	    "(NIL \"original\" ((\"Inner Person\" NIL \"inner\" "
	    "\"example.org\")) ((\"Inner Person\" NIL \"inner\" "
	    "\"example.org\")) ((\"Inner Person\" NIL \"inner\" "
	    "\"example.org\")) NIL NIL NIL NIL NIL) "
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 10 1)(\"application\" \"pdf\" NIL NIL NIL \"7bit\" 3) "
	    "\"mixed\") 12) \"mixed\")");
	CU_ASSERT_TRUE_FATAL(section(&ps, "2", &r));
	CU_ASSERT_TRUE(r.is_message);
	CU_ASSERT_EQUAL(r.body_off, offset_of(&ps, "From: Inner"));
	CU_ASSERT_EQUAL(r.body_len, 171);
	check_range(&ps, r.mime_off, r.mime_len,
	    "Content-Type: message/rfc822\r\n\r\n");
	check_range(&ps, r.hdr_off, r.hdr_len,
	    "From: Inner Person <inner@example.org>\r\n"
	    "Subject: original\r\n"
	    "Content-Type: multipart/mixed; boundary=C\r\n\r\n");
	check_range(&ps, r.text_off, r.text_len,
	    "--C\r\n\r\ninner text\r\n--C\r\nContent-Type: application/pdf\r\n"
	    "\r\nPDF\r\n--C--");
	CU_ASSERT_TRUE_FATAL(section(&ps, "2.1", &r));
	check_range(&ps, r.body_off, r.body_len, "inner text");
	CU_ASSERT_FALSE(r.is_message);
	CU_ASSERT_TRUE_FATAL(section(&ps, "2.2", &r));
	check_range(&ps, r.body_off, r.body_len, "PDF");
	check_range(&ps, r.mime_off, r.mime_len,
	    "Content-Type: application/pdf\r\n\r\n");
	CU_ASSERT_FALSE(section(&ps, "2.3", &r));
	CU_ASSERT_FALSE(section(&ps, "2.2.1", &r));
	done(&ps);

	/* A non-multipart embedded message: 1.1 is its body. */
	parse(&ps,
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "Subject: in\r\n"
	    "\r\n"
	    "body\r\n");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1", &r));
	CU_ASSERT_TRUE(r.is_message);
	check_range(&ps, r.hdr_off, r.hdr_len, "Subject: in\r\n\r\n");
	check_range(&ps, r.body_off, r.body_len,
	    "Subject: in\r\n\r\nbody\r\n");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1.1", &r));
	check_range(&ps, r.body_off, r.body_len, "body\r\n");
	CU_ASSERT_FALSE(section(&ps, "1.2", &r));
	check_body(&ps, "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 21 "
	    "(NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
	    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1) 3)");
	done(&ps);
}

void
test_mime_address_groups(void)
{
	struct parsed ps;

	parse(&ps,
	    "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
	    "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one."
	    "test>;\r\n"
	    "Cc: Undisclosed recipients:;\r\n"
	    "Bcc: Friends: \"Mary\" <mary@x.test>; , other@y.test\r\n"
	    "\r\n");
	check_env(&ps,
	    "(NIL NIL "
	    "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	    "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	    "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	    "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")"
	    "(NIL NIL \"joe\" \"where.test\")(\"John\" NIL \"jdoe\" "
	    "\"one.test\")(NIL NIL NIL NIL)) "
	    "((NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) "
	    "((NIL NIL \"Friends\" NIL)(\"Mary\" NIL \"mary\" \"x.test\")"
	    "(NIL NIL NIL NIL)(NIL NIL \"other\" \"y.test\")) NIL NIL)");
	done(&ps);
}

void
test_mime_addresses_odd(void)
{
	struct parsed ps;

	parse(&ps,
	    "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his "
	    "host)>\r\n"
	    "Sender: <@relay1.test,@relay2.test:joe@final.test>\r\n"
	    "Reply-To: \"a \\\"quoted\\\" name\" <\"x y\"@[1.2.3.4]>\r\n"
	    "To: nodomain, , <>\r\n"
	    "Cc: \r\n"
	    "In-Reply-To: <a@b>\r\n"
	    "\r\n");
	check_env(&ps,
	    "(NIL NIL ((\"Pete\" NIL \"pete\" \"silly.test\")) "
	    "((NIL \"@relay1.test,@relay2.test\" \"joe\" \"final.test\")) "
	    "((\"a \\\"quoted\\\" name\" NIL \"x y\" \"[1.2.3.4]\")) "
	    "((NIL NIL \"nodomain\" \"\")(NIL NIL \"\" \"\")) NIL NIL "
	    "\"<a@b>\" NIL)");
	done(&ps);
}

void
test_mime_missing_headers(void)
{
	struct parsed ps;

	parse(&ps, "X-Nothing: here\r\n\r\nbody");
	check_env(&ps, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	check_bs(&ps, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7bit\" 4 1 NIL NIL NIL NIL)");
	done(&ps);
	/* Present but empty fields are empty strings, not NIL. */
	parse(&ps, "Subject:\r\nDate:   \r\n\r\n");
	check_env(&ps, "(\"\" \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	done(&ps);
}

void
test_mime_bare_lf(void)
{
	struct parsed ps;
	struct mime_range r;

	parse(&ps,
	    "Subject: lf\n"
	    "Content-Type: multipart/mixed; boundary=x\n"
	    "\n"
	    "--x\n"
	    "\n"
	    "one\ntwo\nthree\n"
	    "--x\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "last line without newline\n"
	    "--x--\n");
	check_body(&ps,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "13 3)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 25 1) \"mixed\")");
	CU_ASSERT_TRUE_FATAL(section(&ps, "", &r));
	check_range(&ps, r.hdr_off, r.hdr_len, "Subject: lf\n"
	    "Content-Type: multipart/mixed; boundary=x\n\n");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1", &r));
	check_range(&ps, r.body_off, r.body_len, "one\ntwo\nthree");
	check_range(&ps, r.mime_off, r.mime_len, "\n");
	CU_ASSERT_TRUE_FATAL(section(&ps, "2", &r));
	check_range(&ps, r.body_off, r.body_len, "last line without newline");
	check_range(&ps, r.mime_off, r.mime_len,
	    "Content-Type: text/plain\n\n");
	done(&ps);
}

void
test_mime_missing_boundary(void)
{
	struct parsed ps;
	struct mime_range r;

	/* No boundary parameter: one text/plain part, the whole body. */
	parse(&ps, "Content-Type: multipart/mixed\r\n\r\nsome text\r\n");
	check_body(&ps, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7bit\" 11 1) \"mixed\")");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1", &r));
	check_range(&ps, r.body_off, r.body_len, "some text\r\n");
	CU_ASSERT_EQUAL(r.mime_len, 0);
	CU_ASSERT_FALSE(section(&ps, "2", &r));
	done(&ps);

	/* A boundary that never occurs: the same. */
	parse(&ps, "Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
	    "--zzz\r\nno delimiter\r\n");
	check_body(&ps, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7bit\" 21 2) \"mixed\")");
	done(&ps);

	/* Only a close delimiter: no parts, the same. */
	parse(&ps, "Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
	    "--zz--\r\n");
	check_body(&ps, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7bit\" 8 1) \"mixed\")");
	done(&ps);
}

void
test_mime_unterminated_boundary(void)
{
	struct parsed ps;
	struct mime_range r;

	parse(&ps,
	    "Content-Type: multipart/mixed; boundary=\"q r\"\r\n"
	    "\r\n"
	    "--q r \t\r\n"
	    "\r\n"
	    "first\r\n"
	    "--q r\r\n"
	    "Content-Type: text/x-last\r\n"
	    "\r\n"
	    "runs to the end\r\n"
	    "--q rx\r\n"
	    "still last\r\n");
	check_body(&ps,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "5 1)(\"text\" \"x-last\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 37 3) \"mixed\")");
	CU_ASSERT_TRUE_FATAL(section(&ps, "2", &r));
	check_range(&ps, r.body_off, r.body_len,
	    "runs to the end\r\n--q rx\r\nstill last\r\n");
	done(&ps);
}

void
test_mime_depth_limit(void)
{
	struct buf m = BUF_INITIALIZER(1 << 20);
	struct parsed ps;
	struct mime_range r;
	uint32_t path[64];
	const uint8_t *s;
	size_t len, i, opens = 0;
	int k;

	/* 40 nested multiparts, each holding the next as its one part. */
	for (k = 0; k < 40; k++)
		CU_ASSERT_EQUAL(buf_addf(&m, "Content-Type: multipart/mixed; "
		    "boundary=b%d\r\n\r\n--b%d\r\n", k, k), 0);
	CU_ASSERT_EQUAL(buf_adds(&m, "\r\ndeep\r\n"), 0);
	for (k = 39; k >= 0; k--)
		CU_ASSERT_EQUAL(buf_addf(&m, "\r\n--b%d--\r\n", k), 0);
	parse(&ps, buf_cstr(&m));
	CU_ASSERT_TRUE_FATAL(mime_body(ps.blob.data, ps.blob.len, true, &s,
	    &len));
	for (i = 0; i < len; i++)
		opens += s[i] == '(';
	/* MIME_DEPTH_MAX multiparts, then one opaque leaf; each multipart
	 * writes "(" and "(\"boundary\" ...)", the leaf one "(". */
	CU_ASSERT_EQUAL(opens, 2 * MIME_DEPTH_MAX + 1);
	CU_ASSERT_PTR_NOT_NULL(memmem(s, len, "(\"application\" "
	    "\"octet-stream\" NIL", 33));
	for (k = 0; k < 64; k++)
		path[k] = 1;
	CU_ASSERT_TRUE(mime_section(ps.blob.data, ps.blob.len, path,
	    MIME_DEPTH_MAX, &r));
	CU_ASSERT_FALSE(r.is_multipart);	/* the opaque leaf */
	CU_ASSERT_TRUE_FATAL(r.body_len > 14);
	check_range(&ps, r.body_off, 7, "--b20\r\n");
	check_range(&ps, r.body_off + r.body_len - 9, 9, "--b20--\r\n");
	check_range(&ps, r.mime_off, r.mime_len,
	    "Content-Type: multipart/mixed; boundary=b20\r\n\r\n");
	CU_ASSERT_FALSE(mime_section(ps.blob.data, ps.blob.len, path,
	    MIME_DEPTH_MAX + 1, &r));
	done(&ps);
	buf_free(&m);

	/* Nested message/rfc822 the same way. */
	buf_init(&m, 1 << 20);
	for (k = 0; k < 40; k++)
		CU_ASSERT_EQUAL(buf_adds(&m, "Content-Type: message/rfc822\r\n"
		    "\r\n"), 0);
	CU_ASSERT_EQUAL(buf_adds(&m, "\r\nend\r\n"), 0);
	parse(&ps, buf_cstr(&m));
	CU_ASSERT_TRUE(mime_section(ps.blob.data, ps.blob.len, path,
	    MIME_DEPTH_MAX, &r));
	CU_ASSERT_TRUE(mime_section(ps.blob.data, ps.blob.len, path,
	    MIME_DEPTH_MAX + 1, &r));	/* the opaque entity's body */
	CU_ASSERT_FALSE(mime_section(ps.blob.data, ps.blob.len, path,
	    MIME_DEPTH_MAX + 2, &r));
	done(&ps);
	buf_free(&m);
}

void
test_mime_part_limit(void)
{
	struct buf m = BUF_INITIALIZER(4 << 20);
	struct parsed ps;
	struct mime_range r;
	uint32_t n;
	clock_t t0;

	CU_ASSERT_EQUAL(buf_adds(&m, "Content-Type: multipart/mixed; "
	    "boundary=p\r\n\r\n"), 0);
	for (n = 1; n <= MIME_PARTS_MAX + 500; n++)
		CU_ASSERT_EQUAL(buf_addf(&m, "--p\r\n\r\npart %u\r\n", n), 0);
	CU_ASSERT_EQUAL(buf_adds(&m, "--p--\r\n"), 0);
	t0 = clock();
	parse(&ps, buf_cstr(&m));
	CU_ASSERT_TRUE((clock() - t0) / (CLOCKS_PER_SEC / 1000) < 2000);
	/* The multipart itself is one of the parts. */
	n = MIME_PARTS_MAX - 1;
	CU_ASSERT_TRUE_FATAL(mime_section(ps.blob.data, ps.blob.len, &n, 1,
	    &r));
	check_range(&ps, r.body_off, r.body_len, "part 9999");
	n++;
	CU_ASSERT_FALSE(mime_section(ps.blob.data, ps.blob.len, &n, 1, &r));
	done(&ps);
	buf_free(&m);
}

void
test_mime_rfc2231_params(void)
{
	struct parsed ps;

	parse(&ps,
	    "Content-Type: application/x-stuff;\r\n"
	    " title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
	    " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n"
	    " title*2=\"isn't it!\"\r\n"
	    "Content-Disposition: attachment;\r\n"
	    "  filename*=UTF-8''na%C3%AFve.txt\r\n"
	    "\r\nx");
	check_bs(&ps,
	    "(\"application\" \"x-stuff\" (\"title*0*\" "
	    "\"us-ascii'en'This%20is%20even%20more%20\" \"title*1*\" "
	    "\"%2A%2A%2Afun%2A%2A%2A%20\" \"title*2\" \"isn't it!\") NIL NIL "
	    "\"7bit\" 1 NIL (\"attachment\" (\"filename*\" "
	    "\"UTF-8''na%C3%AFve.txt\")) NIL NIL)");
	done(&ps);
}

void
test_mime_big_attachment(void)
{
	static const char head[] =
	    "Subject: big\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_big\"\r\n"
	    "\r\n"
	    "--=_big\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "see attachment\r\n"
	    "--=_big\r\n"
	    "Content-Type: application/zip\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n";
	static const char tail[] = "\r\n--=_big--\r\n";
	size_t lines = 5 * 1024 * 1024 / 78, i, body_len = lines * 78, n;
	char *msg;
	struct parsed ps;
	struct mime_range r;
	clock_t t0;
	char want[128];
	const uint8_t *s;
	size_t len;
	int w;

	n = strlen(head) + body_len + strlen(tail);
	msg = xmalloc(n + 1);
	memcpy(msg, head, strlen(head));
	for (i = 0; i < lines; i++) {
		memset(msg + strlen(head) + i * 78, 'A' + (int)(i % 26), 76);
		memcpy(msg + strlen(head) + i * 78 + 76, "\r\n", 2);
	}
	/* The last CRLF of the body belongs to the delimiter. */
	memcpy(msg + strlen(head) + body_len - 2, tail, strlen(tail));
	n -= 2;
	msg[n] = '\0';
	t0 = clock();
	parse_n(&ps, msg, n);
	CU_ASSERT_TRUE((clock() - t0) / (CLOCKS_PER_SEC / 1000) < 500);
	CU_ASSERT_TRUE_FATAL(section(&ps, "2", &r));
	CU_ASSERT_EQUAL(r.body_off, strlen(head));
	CU_ASSERT_EQUAL(r.body_len, body_len - 2);
	CU_ASSERT_EQUAL(msg[r.body_off], 'A');
	CU_ASSERT_EQUAL(msg[r.body_off + r.body_len - 1],
	    'A' + (int)((lines - 1) % 26));
	CU_ASSERT_EQUAL(memcmp(msg + r.body_off + r.body_len, "\r\n--=_big--",
	    11), 0);
	CU_ASSERT_TRUE_FATAL(section(&ps, "1", &r));
	check_range(&ps, r.body_off, r.body_len, "see attachment");
	w = snprintf(want, sizeof(want), "(\"application\" \"zip\" NIL NIL "
	    "NIL \"base64\" %zu)", body_len - 2);
	CU_ASSERT_TRUE_FATAL(w > 0 && (size_t)w < sizeof(want));
	CU_ASSERT_TRUE_FATAL(mime_body(ps.blob.data, ps.blob.len, false, &s,
	    &len));
	CU_ASSERT_PTR_NOT_NULL(memmem(s, len, want, (size_t)w));
	done(&ps);
	free(msg);
}

void
test_mime_section_nonexistent(void)
{
	struct parsed ps;
	struct mime_range r;
	uint32_t big = 0xffffffffu;

	parse(&ps, "Content-Type: multipart/mixed; boundary=a\r\n\r\n"
	    "--a\r\n\r\nx\r\n--a--\r\n");
	CU_ASSERT_TRUE(section(&ps, "1", &r));
	CU_ASSERT_FALSE(section(&ps, "2", &r));
	CU_ASSERT_FALSE(section(&ps, "0", &r));
	CU_ASSERT_FALSE(section(&ps, "1.1", &r));
	CU_ASSERT_FALSE(mime_section(ps.blob.data, ps.blob.len, &big, 1, &r));
	CU_ASSERT_FALSE(mime_section(ps.blob.data, ps.blob.len, NULL, 1, &r));
	CU_ASSERT_TRUE(mime_section(ps.blob.data, ps.blob.len, NULL, 0, &r));
	done(&ps);
}

void
test_mime_corrupt_blob(void)
{
	struct parsed ps;
	struct mime_range r;
	const uint8_t *s;
	size_t len, i;
	uint8_t *copy;
	uint64_t size;

	parse(&ps, "Content-Type: multipart/mixed; boundary=a\r\n\r\n"
	    "--a\r\n\r\nx\r\n--a\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: s\r\n\r\ny\r\n--a--\r\n");
	CU_ASSERT_TRUE(mime_msg_size(ps.blob.data, ps.blob.len, &size));
	CU_ASSERT_EQUAL(size, ps.len);
	/* Every truncation is refused or stays inside the blob. */
	for (i = 0; i < ps.blob.len; i++) {
		copy = xmalloc(i + 1);
		memcpy(copy, ps.blob.data, i);
		if (mime_envelope(copy, i, &s, &len))
			CU_ASSERT_TRUE(s >= copy && s + len <= copy + i);
		if (mime_body(copy, i, true, &s, &len))
			CU_ASSERT_TRUE(s >= copy && s + len <= copy + i);
		if (mime_section(copy, i, (const uint32_t[]){2, 1}, 2, &r))
			CU_ASSERT_TRUE(r.body_off + r.body_len <= ps.len);
		free(copy);
	}
	CU_ASSERT_FALSE(mime_envelope(ps.blob.data, 10, &s, &len));
	CU_ASSERT_FALSE(mime_envelope(NULL, 0, &s, &len));
	/* A part claiming a range past the message is refused. */
	copy = xmalloc(ps.blob.len);
	memcpy(copy, ps.blob.data, ps.blob.len);
	memset(copy + 40 + 16, 0xff, 8);
	CU_ASSERT_FALSE(mime_section(copy, ps.blob.len, NULL, 0, &r));
	memcpy(copy, ps.blob.data, ps.blob.len);
	memset(copy + 40 + 48 + 4, 0, 4);	/* part 1 subtree 0 */
	CU_ASSERT_FALSE(mime_section(copy, ps.blob.len,
	    (const uint32_t[]){2}, 1, &r));
	free(copy);
	done(&ps);
}

void
test_mime_8bit_headers(void)
{
	static const char msg[] =
	    "Subject: caf\xc3\xa9 \"x\" \\ y\r\n"
	    "From: =?UTF-8?Q?J=C3=B6rg?= <j@x.test>\r\n"
	    "To: \"nul\0name\" <n@x.test>\r\n"
	    "\r\nbody";
	static const char want[] =
	    "(NIL {13}\r\ncaf\xc3\xa9 \"x\" \\ y "
	    "((\"=?UTF-8?Q?J=C3=B6rg?=\" NIL \"j\" \"x.test\")) "
	    "((\"=?UTF-8?Q?J=C3=B6rg?=\" NIL \"j\" \"x.test\")) "
	    "((\"=?UTF-8?Q?J=C3=B6rg?=\" NIL \"j\" \"x.test\")) "
	    "(({8}\r\nnul\0name NIL \"n\" \"x.test\")) NIL NIL NIL NIL)";
	struct parsed ps;
	const uint8_t *s;
	size_t len;

	parse_n(&ps, msg, sizeof(msg) - 1);
	CU_ASSERT_TRUE_FATAL(mime_envelope(ps.blob.data, ps.blob.len, &s,
	    &len));
	check_bytes(s, len, want, sizeof(want) - 1, __LINE__);
	done(&ps);
}

void
test_mime_odd_headers(void)
{
	struct buf m = BUF_INITIALIZER(1 << 20);
	struct parsed ps;
	struct mime_range r;
	const uint8_t *s;
	size_t len;
	int k;

	/* Lines without a colon are skipped; names may have WSP before the
	 * colon; the first field wins; comments are ignored. */
	parse(&ps,
	    " orphan continuation\r\n"
	    "no colon here\r\n"
	    "Subject : first\r\n"
	    "Subject: second\r\n"
	    "Content-Type: (comment) text / html (c) ; (c) charset = "
	    "\"a\\\"b\" ; junk ; =x; q=\r\n"
	    "\r\n");
	check_env(&ps, "(NIL \"first\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	check_body(&ps, "(\"text\" \"html\" (\"charset\" \"a\\\"b\" \"q\" "
	    "\"\") NIL NIL \"7bit\" 0 0)");
	done(&ps);

	/* Thousands of parameters: capped at MIME_PARAMS_MAX. */
	CU_ASSERT_EQUAL(buf_adds(&m, "Content-Type: text/plain"), 0);
	for (k = 0; k < 3000; k++)
		CU_ASSERT_EQUAL(buf_addf(&m, ";\r\n p%d=v%d", k, k), 0);
	CU_ASSERT_EQUAL(buf_adds(&m, "\r\n\r\nx"), 0);
	parse(&ps, buf_cstr(&m));
	CU_ASSERT_TRUE_FATAL(mime_body(ps.blob.data, ps.blob.len, false, &s,
	    &len));
	CU_ASSERT_PTR_NOT_NULL(memmem(s, len, "\"p63\" \"v63\")", 12));
	CU_ASSERT_PTR_NULL(memmem(s, len, "\"p64\"", 5));
	done(&ps);

	/* Fields past MIME_HDR_MAX are ignored; the header range is exact. */
	buf_reset(&m);
	CU_ASSERT_EQUAL(buf_adds(&m, "Subject: early\r\n"), 0);
	while (m.len < MIME_HDR_MAX + 1000)
		CU_ASSERT_EQUAL(buf_adds(&m, "X-Filler: 0123456789abcdef\r\n"),
		    0);
	CU_ASSERT_EQUAL(buf_adds(&m, "From: late@x.test\r\n\r\nbody"), 0);
	parse(&ps, buf_cstr(&m));
	check_env(&ps, "(NIL \"early\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	CU_ASSERT_TRUE_FATAL(section(&ps, "", &r));
	CU_ASSERT_EQUAL(r.hdr_len, m.len - 4);
	check_range(&ps, r.text_off, r.text_len, "body");
	done(&ps);

	/* One huge field with no blank line: all header, value cut. */
	buf_reset(&m);
	CU_ASSERT_EQUAL(buf_adds(&m, "Subject: "), 0);
	while (m.len < MIME_HDR_MAX + 5000)
		CU_ASSERT_EQUAL(buf_adds(&m, "0123456789\r\n "), 0);
	parse(&ps, buf_cstr(&m));
	CU_ASSERT_TRUE_FATAL(section(&ps, "", &r));
	CU_ASSERT_EQUAL(r.hdr_len, m.len);
	CU_ASSERT_EQUAL(r.text_len, 0);
	done(&ps);

	/* An invalid type gives the default. */
	parse(&ps, "Content-Type: garbage\r\n\r\nx");
	check_body(&ps, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7bit\" 1 1)");
	done(&ps);
	buf_free(&m);
}

void
test_mime_digest_default(void)
{
	struct parsed ps;
	struct mime_range r;

	parse(&ps,
	    "Content-Type: multipart/digest; boundary=d\r\n"
	    "\r\n"
	    "--d\r\n"
	    "\r\n"
	    "Subject: one\r\n"
	    "\r\n"
	    "first\r\n"
	    "--d\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "plain\r\n"
	    "--d--\r\n");
	check_body(&ps,
	    "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 21 (NIL \"one\" "
	    "NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
	    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1) 3)"
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "5 1) \"digest\")");
	CU_ASSERT_TRUE_FATAL(section(&ps, "1.1", &r));
	check_range(&ps, r.body_off, r.body_len, "first");
	done(&ps);
}

void
test_mime_out_max(void)
{
	static const char msg[] = "Subject: hello\r\n\r\nbody\r\n";
	struct buf b = BUF_INITIALIZER(100);
	size_t need;

	CU_ASSERT_EQUAL(buf_adds(&b, "keep"), 0);
	CU_ASSERT_EQUAL(mime_parse((const uint8_t *)msg, strlen(msg), &b), -1);
	CU_ASSERT_EQUAL(b.len, 4);
	CU_ASSERT_EQUAL(memcmp(b.data, "keep", 4), 0);
	buf_free(&b);
	buf_init(&b, 1 << 20);
	CU_ASSERT_EQUAL(mime_parse((const uint8_t *)msg, strlen(msg), &b), 0);
	need = b.len;
	buf_free(&b);
	buf_init(&b, need);
	CU_ASSERT_EQUAL(mime_parse((const uint8_t *)msg, strlen(msg), &b), 0);
	buf_free(&b);
	buf_init(&b, need - 1);
	CU_ASSERT_EQUAL(mime_parse((const uint8_t *)msg, strlen(msg), &b), -1);
	CU_ASSERT_EQUAL(b.len, 0);
	buf_free(&b);
}

void
test_mime_empty_message(void)
{
	struct parsed ps;
	struct mime_range r;

	parse_n(&ps, "", 0);
	check_env(&ps, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	check_body(&ps, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7bit\" 0 0)");
	CU_ASSERT_TRUE(section(&ps, "1", &r));
	CU_ASSERT_EQUAL(r.body_len, 0);
	done(&ps);
	/* No blank line: all header, empty body. */
	parse(&ps, "Subject: only\r\n");
	CU_ASSERT_TRUE_FATAL(section(&ps, "", &r));
	CU_ASSERT_EQUAL(r.hdr_len, ps.len);
	CU_ASSERT_EQUAL(r.text_len, 0);
	CU_ASSERT_EQUAL(r.text_off, ps.len);
	done(&ps);
}
