/*
 * imapstr.c: choosing and writing the IMAP form of a string.
 */
#include <string.h>
#include <strings.h>

#include "imapstr.h"

/* Quoted strings longer than this go out as literals, which are cheaper
 * for clients to read. */
#define IMAPSTR_QUOTED_MAX 1024

bool
imapstr_is_atom_char(uint8_t c)
{
	if (c <= 0x1f || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case ' ': case '%': case '*':
	case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

bool
imapstr_is_astring_char(uint8_t c)
{
	return c == ']' || imapstr_is_atom_char(c);
}

bool
imapstr_quotable(const uint8_t *s, size_t n)
{
	size_t i;

	if (n > IMAPSTR_QUOTED_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n' ||
		    s[i] >= 0x80)
			return false;
	}
	return true;
}

int
imapstr_quoted(struct buf *b, const uint8_t *s, size_t n)
{
	size_t i, start = 0;

	if (buf_addc(b, '"') < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (buf_add(b, s + start, i - start) < 0 ||
		    buf_addc(b, '\\') < 0)
			return -1;
		start = i;
	}
	if (buf_add(b, s + start, n - start) < 0)
		return -1;
	return buf_addc(b, '"');
}

int
imapstr_literal(struct buf *b, const uint8_t *s, size_t n)
{
	if (buf_addf(b, "{%zu}\r\n", n) < 0)
		return -1;
	return buf_add(b, s, n);
}

int
imapstr_string(struct buf *b, const uint8_t *s, size_t n)
{
	if (imapstr_quotable(s, n))
		return imapstr_quoted(b, s, n);
	return imapstr_literal(b, s, n);
}

int
imapstr_nstring(struct buf *b, const uint8_t *s, size_t n)
{
	if (s == NULL)
		return buf_adds(b, "NIL");
	return imapstr_string(b, s, n);
}

int
imapstr_astring(struct buf *b, const uint8_t *s, size_t n)
{
	size_t i;

	if (n == 0 || (n == 3 && strncasecmp((const char *)s, "NIL", 3) == 0))
		return imapstr_string(b, s, n);
	for (i = 0; i < n; i++) {
		if (!imapstr_is_astring_char(s[i]))
			return imapstr_string(b, s, n);
	}
	return buf_add(b, s, n);
}
