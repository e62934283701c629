/*
 * Unit tests for the response writer's string forms (lib/imapstr.c) and
 * the growable buffer under them (lib/buf.c).
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "../../lib/buf.h"
#include "../../lib/imapstr.h"

static void
check_astring_n(const char *in, size_t n, const char *want, size_t wn)
{
	struct buf b = BUF_INITIALIZER(4096);

	CU_ASSERT_EQUAL_FATAL(imapstr_astring(&b, (const uint8_t *)in, n), 0);
	CU_ASSERT_EQUAL(b.len, wn);
	CU_ASSERT_TRUE(b.len == wn && memcmp(b.data, want, wn) == 0);
	buf_free(&b);
}

static void
check_astring(const char *in, size_t n, const char *want)
{
	check_astring_n(in, n, want, strlen(want));
}

void
test_imapstr_astring_forms(void)
{
	check_astring("INBOX", 5, "INBOX");
	check_astring("foo/bar", 7, "foo/bar");
	check_astring("a]b", 3, "a]b");
	check_astring("", 0, "\"\"");
	check_astring("NIL", 3, "\"NIL\"");
	check_astring("nil", 3, "\"nil\"");
	check_astring("two words", 9, "\"two words\"");
	check_astring("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	check_astring("50%", 3, "\"50%\"");
	check_astring("a*", 2, "\"a*\"");
	check_astring("x(y)", 4, "\"x(y)\"");
	check_astring("line\r\nbreak", 11, "{11}\r\nline\r\nbreak");
	check_astring("caf\xc3\xa9", 5, "{5}\r\ncaf\xc3\xa9");
	check_astring_n("nul\0x", 5, "{5}\r\nnul\0x", 10);
}

void
test_imapstr_nstring_and_string(void)
{
	struct buf b = BUF_INITIALIZER(4096);

	CU_ASSERT_EQUAL(imapstr_nstring(&b, NULL, 0), 0);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "NIL");
	buf_reset(&b);
	CU_ASSERT_EQUAL(imapstr_string(&b, (const uint8_t *)"atom", 4), 0);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "\"atom\"");
	buf_free(&b);
}

void
test_imapstr_long_text_is_literal(void)
{
	struct buf b = BUF_INITIALIZER(8192);
	char text[2000];

	memset(text, 'a', sizeof(text));
	text[10] = ' ';
	CU_ASSERT_EQUAL(imapstr_string(&b, (const uint8_t *)text,
	    sizeof(text)), 0);
	CU_ASSERT_NSTRING_EQUAL(buf_cstr(&b), "{2000}\r\n", 8);
	CU_ASSERT_EQUAL(b.len, 8 + sizeof(text));
	buf_free(&b);
}

void
test_imapstr_buffer_max_is_an_error(void)
{
	struct buf b = BUF_INITIALIZER(8);

	CU_ASSERT_EQUAL(buf_adds(&b, "12345678"), 0);
	CU_ASSERT_EQUAL(buf_addc(&b, '9'), -1);
	CU_ASSERT_EQUAL(b.len, 8);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "12345678");
	CU_ASSERT_EQUAL(buf_addf(&b, "%d", 1), -1);
	buf_consume(&b, 3);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "45678");
	CU_ASSERT_EQUAL(buf_add_u64(&b, 123), 0);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "45678123");
	buf_free(&b);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "");
}
