/*
 * test_mime_text.c: decoded text for SEARCH (store/mime_text.c): RFC 2047
 * encoded words, transfer encodings (RFC 2045 §6.7 quoted-printable with
 * soft line breaks, §6.8 base64) and charsets decoded across chunk
 * boundaries, only text parts read, and the case-insensitive streaming
 * matcher (RFC 3501 §6.4.4), also on a real store.
 */
#include <sys/stat.h>

#include <CUnit/CUnit.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/buf.h"
#include "../../lib/xalloc.h"
#include "../../store/mime.h"
#include "../../store/mime_text.h"
#include "../../store/store.h"

/* Prototypes for -Wmissing-prototypes ("extern": see test_mime.c). */
extern int mime_text_suite_init(void);
extern int mime_text_suite_clean(void);
extern void test_mime_text_header_b_and_q(void);
extern void test_mime_text_header_charsets(void);
extern void test_mime_text_header_adjacent(void);
extern void test_mime_text_header_invalid(void);
extern void test_mime_text_qp_soft_breaks(void);
extern void test_mime_text_base64_chunks(void);
extern void test_mime_text_body_charsets(void);
extern void test_mime_text_skips_attachments(void);
extern void test_mime_text_headers_too(void);
extern void test_mime_text_nested_message(void);
extern void test_mime_text_fold(void);
extern void test_mime_text_contains(void);
extern void test_mime_text_match_spans_chunks(void);
extern void test_mime_text_stop_early(void);
extern void test_mime_text_store_search(void);

#define MAX	((size_t)64 * 1024 * 1024)

static char tmpdir[] = "/tmp/refimapd-test-mime-text-XXXXXX";

int mime_text_suite_init(void)
{
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

int mime_text_suite_clean(void)
{
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Decodes a header value; the result as a C string in a static buffer. */
static const char *
dec_hdr(const char *v)
{
	static char res[4096];
	struct buf out = BUF_INITIALIZER(MAX);

	CU_ASSERT_EQUAL_FATAL(mime_text_decode_header((const uint8_t *)v,
	    strlen(v), &out), 0);
	CU_ASSERT_FATAL(out.len < sizeof(res));
	if (out.len > 0)
		memcpy(res, out.data, out.len);
	res[out.len] = '\0';
	buf_free(&out);
	return res;
}

void test_mime_text_header_b_and_q(void)
{
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?UTF-8?B?SGVsbG8gV8O2cmxk?="),
	    "Hello W\xc3\xb6rld");
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?Q?Gr=C3=BC=C3=9Fe_aus_K="
	    "C3=B6ln?="), "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln");
	/* Lower-case b and q, text around the word kept. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("Re: =?utf-8?q?caf=C3=A9?= and more"),
	    "Re: caf\xc3\xa9 and more");
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?b?w6k=?= x"), "\xc3\xa9 x");
	/* RFC 2231 §5 language suffix. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8*en?q?English?="), "English");
	/* No encoded word: unchanged, 8-bit bytes too. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("plain \xe9 text"), "plain \xe9 text");
	CU_ASSERT_STRING_EQUAL(dec_hdr(""), "");
}

void test_mime_text_header_charsets(void)
{
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?ISO-8859-1?Q?Caf=E9_cr=E8me?="),
	    "Caf\xc3\xa9 cr\xc3\xa8me");
	/* Windows-1252 0x93 0x94 0x96 and 0x80 are quotes, dash, euro. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?windows-1252?Q?=93q=94_=96_=80?="),
	    "\xe2\x80\x9cq\xe2\x80\x9d \xe2\x80\x93 \xe2\x82\xac");
	/* KOI8-R "Привет". */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?koi8-r?B?8NLJ18XU?="),
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	/* ISO-8859-15 0xA4 is the euro sign. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?iso-8859-15?q?=A4?="),
	    "\xe2\x82\xac");
	/* ISO-2022-JP (stateful): "こんにちは". */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxso"
	    "Qg==?="), "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1"
	    "\xe3\x81\xaf");
	/* An unknown charset: UTF-8 if valid, else Latin-1. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?x-nonsense?q?=C3=A9?="), "\xc3\xa9");
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?x-nonsense?q?=E9?="), "\xc3\xa9");
	/* us-ascii labelled 8-bit: the same lenient reading. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?us-ascii?q?=E9t=C3=A9?="),
	    "\xc3\xa9t\xc3\xa9");
}

void test_mime_text_header_adjacent(void)
{
	/* RFC 2047 §6.2: white space between adjacent words is dropped,
	 * also across a fold; not between a word and plain text. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?q?one?= =?utf-8?q?_two?=\r\n"
	    " =?utf-8?b?IHRocmVl?="), "one two three");
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?q?a?= b =?utf-8?q?c?="),
	    "a b c");
	/* A UTF-8 character split between two B words survives. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?B?w6nD?= =?utf-8?B?qQ==?="),
	    "\xc3\xa9\xc3\xa9");
	/* Adjacent words in different charsets. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?iso-8859-1?q?=E9?= "
	    "=?koi8-r?b?8A==?="), "\xc3\xa9\xd0\x9f");
}

void test_mime_text_header_invalid(void)
{
	/* Malformed words are left as they are (RFC 2047 §6.3). */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?x?bad?="), "=?utf-8?x?bad?=");
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?q?ok?"), "=?utf-8?q?ok?");
	CU_ASSERT_STRING_EQUAL(dec_hdr("=??q?x?="), "=??q?x?=");
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?b?!!!?="), "=?utf-8?b?!!!?=");
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?q?=ZZ?="), "=?utf-8?q?=ZZ?=");
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?q?a b?="), "=?utf-8?q?a b?=");
	/* A bad word next to a good one: only the good one decoded. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-8?q?=ZZ?= =?utf-8?q?ok?="),
	    "=?utf-8?q?=ZZ?= ok");
	/* Invalid bytes in an iconv charset become U+FFFD. */
	CU_ASSERT_STRING_EQUAL(dec_hdr("=?utf-16le?b?QQ==?="),
	    "\xef\xbf\xbd");
}

/* An in-memory message read through mime_text_walk_reader. */
struct mem {
	const char *msg;
	size_t len;
	/* Bytes read, and a range that must never be read. */
	uint64_t nread;
	uint64_t forbid_off, forbid_len;
	bool forbidden_read;
	struct buf text;
	size_t ncalls;
	size_t stop_after;	/* 0: never stop */
};

static enum store_err
mem_read(void *rctx, uint64_t off, size_t n, struct buf *out)
{
	struct mem *m = rctx;

	if (off >= m->len)
		return STORE_OK;
	if (n > m->len - off)
		n = (size_t)(m->len - off);
	if (m->forbid_len > 0 && off < m->forbid_off + m->forbid_len &&
	    off + n > m->forbid_off)
		m->forbidden_read = true;
	m->nread += n;
	return buf_add(out, m->msg + off, n) < 0 ? STORE_ERR_IO : STORE_OK;
}

static int
collect(void *ctx, const uint8_t *p, size_t n)
{
	struct mem *m = ctx;

	CU_ASSERT(n > 0);
	m->ncalls++;
	CU_ASSERT_EQUAL_FATAL(buf_add(&m->text, p, n), 0);
	return m->stop_after > 0 && m->ncalls >= m->stop_after;
}

/* Walks msg with the given chunk size; the text as a C string (static). */
static const char *
walk(struct mem *m, const char *msg, bool headers_too, size_t chunk)
{
	static char res[65536];
	struct buf blob = BUF_INITIALIZER(MAX);
	enum store_err e;

	m->msg = msg;
	m->len = strlen(msg);
	buf_init(&m->text, MAX);
	CU_ASSERT_EQUAL_FATAL(mime_parse((const uint8_t *)msg, m->len, &blob),
	    0);
	e = mime_text_walk_reader(blob.data, blob.len, headers_too, mem_read,
	    m, chunk, collect, m);
	CU_ASSERT_EQUAL(e, STORE_OK);
	CU_ASSERT_FATAL(m->text.len < sizeof(res));
	if (m->text.len > 0)
		memcpy(res, m->text.data, m->text.len);
	res[m->text.len] = '\0';
	buf_free(&m->text);
	buf_free(&blob);
	return res;
}

/* The same text for every chunk size from 1 to 40 and the default. */
static void
check_walk(const char *msg, bool headers_too, const char *want)
{
	struct mem m;
	size_t chunk;

	for (chunk = 1; chunk <= 41; chunk++) {
		const char *got;

		memset(&m, 0, sizeof(m));
		got = walk(&m, msg, headers_too, chunk == 41 ? 0 : chunk);
		CU_ASSERT_STRING_EQUAL(got, want);
		if (strcmp(got, want) != 0) {
			/* Show both once, then stop repeating the failure. */
			fprintf(stderr, "\nchunk %zu:\n got  [%s]\n"
			    " want [%s]\n", chunk, got, want);
			break;
		}
	}
}

void test_mime_text_qp_soft_breaks(void)
{
	check_walk("Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Caf=E9 cr=\r\n"
	    "=E8me br=FB=\n"
	    "l=E9e, soft break with blanks=  \t\r\n"
	    "here; lower hex =e9; bad =ZZ and =4 end=3D=\r\n"
	    "x\r\n", false,
	    "Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9"
	    "e, soft break with blankshere; lower hex \xc3\xa9; bad =ZZ and "
	    "=4 end=x\r\n\n");
	/* A trailing "=" at the very end is a soft break; "=A" is kept. */
	check_walk("Content-Transfer-Encoding: Quoted-Printable\r\n\r\n"
	    "abc=", false, "abc\n");
	check_walk("Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "abc=A", false, "abc=A\n");
}

void test_mime_text_base64_chunks(void)
{
	/* "Grüße, base64 across chunks: ünïcödé\n" in UTF-8, with line
	 * breaks and junk between the characters. */
	check_walk("Content-Type: text/plain; charset=\"UTF-8\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "R3LDvMOfZSwgYmFzZTY0IGFjcm9z\r\ncyBjaHVua3M6I*MO8bsOvY8O2\r\n"
	    "ZMOpCg==\r\n", false,
	    "Gr\xc3\xbc\xc3\x9f" "e, base64 across chunks: "
	    "\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9\n\n");
}

void test_mime_text_body_charsets(void)
{
	check_walk("Content-Type: text/plain; charset=windows-1252\r\n\r\n"
	    "\x93" "smart\x94 \x80 5\r\n", false,
	    "\xe2\x80\x9csmart\xe2\x80\x9d \xe2\x82\xac 5\r\n\n");
	check_walk("Content-Type: text/plain; charset=koi8-r\r\n\r\n"
	    "\xf0\xd2\xc9\xd7\xc5\xd4\r\n", false,
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\r\n\n");
	check_walk("Content-Type: text/plain; charset=ISO-8859-1\r\n\r\n"
	    "na\xefve\r\n", false, "na\xc3\xafve\r\n\n");
	/* A multibyte charset split across chunks: Shift_JIS "テスト". */
	check_walk("Content-Type: text/plain; charset=shift_jis\r\n\r\n"
	    "\x83\x65\x83\x58\x83\x67", false,
	    "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88\n");
	/* No charset, 8-bit: UTF-8 where valid, else Latin-1. */
	check_walk("Subject: x\r\n\r\n\xc3\xa9 and \xe9\r\n", false,
	    "\xc3\xa9 and \xc3\xa9\r\n\n");
	/* A charset iconv does not know: the same lenient reading. */
	check_walk("Content-Type: text/plain; charset=x-martian\r\n\r\n"
	    "\xe9\r\n", false, "\xc3\xa9\r\n\n");
}

void test_mime_text_skips_attachments(void)
{
	static const char msg[] =
	    "Subject: =?utf-8?q?r=C3=A9sum=C3=A9?=\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "preamble\r\n"
	    "--b\r\n"
	    "Content-Type: text/plain\r\n\r\n"
	    "first part\r\n"
	    "--b\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "QVRUQUNITUVOVA==\r\n"
	    "--b\r\n"
	    "Content-Type: image/png\r\n\r\n"
	    "PNGDATA\r\n"
	    "--b\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "PHA+c2Vjb25kPC9wPg==\r\n"
	    "--b--\r\n"
	    "epilogue\r\n";
	struct mem m;
	const char *att = strstr(msg, "QVRU"), *png = strstr(msg, "PNGDATA");

	memset(&m, 0, sizeof(m));
	m.forbid_off = (uint64_t)(att - msg);
	m.forbid_len = 16;
	CU_ASSERT_STRING_EQUAL(walk(&m, msg, false, 4),
	    "first part\n<p>second</p>\n");
	CU_ASSERT_FALSE(m.forbidden_read);
	memset(&m, 0, sizeof(m));
	m.forbid_off = (uint64_t)(png - msg);
	m.forbid_len = 7;
	CU_ASSERT_STRING_EQUAL(walk(&m, msg, false, 0),
	    "first part\n<p>second</p>\n");
	CU_ASSERT_FALSE(m.forbidden_read);
	/* Headers of parts and bodies of text parts only: less than the
	 * whole message was read. */
	CU_ASSERT(m.nread < sizeof(msg) - 1);
}

void test_mime_text_headers_too(void)
{
	check_walk("From: =?iso-8859-1?q?Andr=E9?= <a@example.org>\r\n"
	    "Subject: =?utf-8?q?one?=\r\n =?utf-8?q?_two?=\r\n\r\n"
	    "body\r\n", true,
	    "From: Andr\xc3\xa9 <a@example.org>\n"
	    "Subject: one two\n\nbody\r\n\n");
}

void test_mime_text_nested_message(void)
{
	/* message/rfc822 inside multipart, and its own multipart: every
	 * text leaf, in part order (1, 2.1, 2.2). */
	check_walk("Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\n\r\nouter\r\n"
	    "--o\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: inner\r\n"
	    "Content-Type: multipart/alternative; boundary=i\r\n\r\n"
	    "--i\r\nContent-Type: text/plain\r\n\r\ninner plain\r\n"
	    "--i\r\nContent-Type: text/html\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "<b>inner=20html</b>\r\n"
	    "--i--\r\n"
	    "--o--\r\n", false,
	    "outer\nSubject: inner\n"
	    "Content-Type: multipart/alternative; boundary=i\n\n"
	    "inner plain\n<b>inner html</b>\n");
	/* A top-level message/rfc822 with a plain body; the embedded
	 * header is body text of the outer message, decoded. */
	check_walk("Content-Type: message/rfc822\r\n\r\n"
	    "Subject: =?utf-8?q?in_it?=\r\n\r\ndeep text\r\n", false,
	    "Subject: in it\n\ndeep text\r\n\n");
}

void test_mime_text_fold(void)
{
	CU_ASSERT_EQUAL(mime_text_fold('A'), 'a');
	CU_ASSERT_EQUAL(mime_text_fold('z'), 'z');
	CU_ASSERT_EQUAL(mime_text_fold(0xc9), 0xe9);	/* É */
	CU_ASSERT_EQUAL(mime_text_fold(0xd7), 0xd7);	/* × */
	CU_ASSERT_EQUAL(mime_text_fold(0xdf), 0xdf);	/* ß */
	CU_ASSERT_EQUAL(mime_text_fold(0x160), 0x161);	/* Š */
	CU_ASSERT_EQUAL(mime_text_fold(0x141), 0x142);	/* Ł */
	CU_ASSERT_EQUAL(mime_text_fold(0x178), 0xff);	/* Ÿ */
	CU_ASSERT_EQUAL(mime_text_fold(0x17d), 0x17e);	/* Ž */
	CU_ASSERT_EQUAL(mime_text_fold(0x3a3), 0x3c3);	/* Σ */
	CU_ASSERT_EQUAL(mime_text_fold(0x3c2), 0x3c3);	/* ς */
	CU_ASSERT_EQUAL(mime_text_fold(0x41f), 0x43f);	/* П */
	CU_ASSERT_EQUAL(mime_text_fold(0x401), 0x451);	/* Ё */
}

#define CONTAINS(h, n) mime_text_contains((const uint8_t *)(h), strlen(h), \
	(const uint8_t *)(n), strlen(n))

void test_mime_text_contains(void)
{
	CU_ASSERT_TRUE(CONTAINS("Hello World", "lo wor"));
	CU_ASSERT_TRUE(CONTAINS("Hello World", "HELLO WORLD"));
	CU_ASSERT_FALSE(CONTAINS("Hello World", "worlds"));
	CU_ASSERT_TRUE(CONTAINS("anything", ""));
	CU_ASSERT_TRUE(CONTAINS("aaab", "aab"));	/* KMP fallback */
	CU_ASSERT_TRUE(CONTAINS("abababc", "ababc"));
	CU_ASSERT_FALSE(CONTAINS("ababab", "ababc"));
	/* Latin-1 and Latin Extended letters, Cyrillic, Greek. */
	CU_ASSERT_TRUE(CONTAINS("\xc3\x89" "COLE", "\xc3\xa9" "cole"));
	CU_ASSERT_TRUE(CONTAINS("\xc5\xbd" "UT", "\xc5\xbe" "ut"));
	CU_ASSERT_TRUE(CONTAINS("\xd0\x9f\xd0\xa0\xd0\x98", "\xd0\xbf\xd1\x80"
	    "\xd0\xb8"));
	CU_ASSERT_TRUE(CONTAINS("\xce\xa3\xce\x9f\xce\xa6\xce\x9f\xce\xa3",
	    "\xcf\x83\xce\xbf\xcf\x86\xce\xbf\xcf\x82"));
	/* é does not match e; an invalid byte matches only itself. */
	CU_ASSERT_FALSE(CONTAINS("caf\xc3\xa9", "cafe"));
	CU_ASSERT_TRUE(CONTAINS("a\xff" "b", "\xff" "B"));
	CU_ASSERT_FALSE(CONTAINS("a\xc3" "b", "\xc3\xa9"));
}

void test_mime_text_match_spans_chunks(void)
{
	static const char hay[] = "Grüße aus KÖLN am Rhein";
	struct mime_text_match m;
	size_t n = strlen(hay), a, b;

	/* Every split into three pieces, even inside a character. */
	for (a = 0; a <= n; a++) {
		for (b = a; b <= n; b++) {
			mime_text_match_init(&m, (const uint8_t *)"ÜßE AUS köln",
			    strlen("ÜßE AUS köln"));
			CU_ASSERT_FALSE(m.found);
			(void)mime_text_match_feed(&m, (const uint8_t *)hay, a);
			(void)mime_text_match_feed(&m, (const uint8_t *)hay + a,
			    b - a);
			CU_ASSERT_TRUE(mime_text_match_feed(&m,
			    (const uint8_t *)hay + b, n - b));
			mime_text_match_free(&m);
		}
	}
	/* An invalid sequence cut by the chunks: the bytes that came with
	 * an earlier chunk are matched again, each as itself. */
	{
		static const char bad[] = "x\xe0\xa0" "Ab\xf0\x9f" "Z";
		static const char *const needles[] = { "Ab", "\xe0\xa0" "A",
		    "\x9f" "Z", "b\xf0" };
		size_t k, bn = strlen(bad);

		for (k = 0; k < 4; k++) {
			CU_ASSERT_TRUE(CONTAINS(bad, needles[k]));
			for (a = 0; a <= bn; a++) {
				for (b = a; b <= bn; b++) {
					mime_text_match_init(&m, (const uint8_t *)
					    needles[k], strlen(needles[k]));
					(void)mime_text_match_feed(&m,
					    (const uint8_t *)bad, a);
					(void)mime_text_match_feed(&m,
					    (const uint8_t *)bad + a, b - a);
					CU_ASSERT_TRUE(mime_text_match_feed(&m,
					    (const uint8_t *)bad + b, bn - b));
					mime_text_match_free(&m);
				}
			}
		}
	}
	/* One byte at a time, no match. */
	mime_text_match_init(&m, (const uint8_t *)"rheinland", 9);
	for (a = 0; a < n; a++)
		CU_ASSERT_FALSE(mime_text_match_feed(&m,
		    (const uint8_t *)hay + a, 1));
	mime_text_match_free(&m);
	CU_ASSERT_PTR_NULL(m.pat);
}

void test_mime_text_stop_early(void)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\nfirst\r\n--b\r\n\r\nsecond\r\n--b--\r\n";
	struct mem m;

	memset(&m, 0, sizeof(m));
	m.stop_after = 1;
	CU_ASSERT_STRING_EQUAL(walk(&m, msg, false, 0), "first\n");
	CU_ASSERT_EQUAL(m.ncalls, 1);
}

void test_mime_text_store_search(void)
{
	static const char msg[] =
	    "Subject: =?koi8-r?B?8NLJ18XU?=\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Bient=F4t =E0 Montr=\r\n=E9al\r\n"
	    "--b\r\nContent-Type: application/pdf\r\n\r\nNEEDLE\r\n"
	    "--b--\r\n";
	struct store_options opt = { .create = true, .nosync = true };
	struct store *st = NULL;
	struct store_mbox mb;
	struct store_append *ap = NULL;
	struct store_msg sm;
	struct buf blob = BUF_INITIALIZER(MAX);
	const char *error;
	uint32_t uid = 0, uidv = 0;
	bool found;

	CU_ASSERT_EQUAL_FATAL(store_open(tmpdir, &opt, &st, &error),
	    STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_mbox_create(st, "u", "INBOX", 0, &mb),
	    STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_append_begin(st, sizeof(msg) - 1, &ap),
	    STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_append_data(ap, (const uint8_t *)msg,
	    sizeof(msg) - 1), STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_append_commit(ap, "u", "INBOX", 0, 0, 0,
	    1700000000, 0, &uid, &uidv), STORE_OK);
	store_append_free(&ap);
	CU_ASSERT_EQUAL_FATAL(store_msg_get(st, "u", "INBOX", 0, uid, &sm),
	    STORE_OK);
	CU_ASSERT_EQUAL_FATAL(store_mime_get(st, sm.body_id, sm.size, &blob),
	    STORE_OK);

	/* A match across the soft line break, any case. */
	CU_ASSERT_EQUAL(mime_text_search(st, &sm, blob.data, blob.len, false,
	    (const uint8_t *)"MONTRÉAL", strlen("MONTRÉAL"), &found),
	    STORE_OK);
	CU_ASSERT_TRUE(found);
	CU_ASSERT_EQUAL(mime_text_search(st, &sm, blob.data, blob.len, false,
	    (const uint8_t *)"bientôt à", strlen("bientôt à"), &found),
	    STORE_OK);
	CU_ASSERT_TRUE(found);
	/* Not in the attachment, not in the header unless asked. */
	CU_ASSERT_EQUAL(mime_text_search(st, &sm, blob.data, blob.len, true,
	    (const uint8_t *)"needle", 6, &found), STORE_OK);
	CU_ASSERT_FALSE(found);
	CU_ASSERT_EQUAL(mime_text_search(st, &sm, blob.data, blob.len, false,
	    (const uint8_t *)"привет", strlen("привет"), &found), STORE_OK);
	CU_ASSERT_FALSE(found);
	CU_ASSERT_EQUAL(mime_text_search(st, &sm, blob.data, blob.len, true,
	    (const uint8_t *)"ПРИВЕТ", strlen("ПРИВЕТ"), &found), STORE_OK);
	CU_ASSERT_TRUE(found);
	/* A corrupt blob is an error, not a crash. */
	CU_ASSERT_EQUAL(mime_text_search(st, &sm, (const uint8_t *)"xx", 2,
	    false, (const uint8_t *)"a", 1, &found), STORE_ERR_IO);
	buf_free(&blob);
	store_close(&st);
}
