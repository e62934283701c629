/*
 * imapstr.h: IMAP string forms for server output (RFC 3501 §4.1-§4.3, §9).
 *
 * The form is chosen by content, never by the caller: an atom when every
 * byte is an ATOM-CHAR (and the text is not NIL), a quoted string for other
 * 7-bit text without CR, LF or NUL, a literal for everything else.
 */
#ifndef REFIMAPD_IMAPSTR_H
#define REFIMAPD_IMAPSTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"

/* RFC 3501 ATOM-CHAR: any CHAR except atom-specials. */
bool imapstr_is_atom_char(uint8_t c);
/* ASTRING-CHAR: ATOM-CHAR or ']'. */
bool imapstr_is_astring_char(uint8_t c);
/* True if s[0..n) may be sent as a quoted string. */
bool imapstr_quotable(const uint8_t *s, size_t n);

/* astring: atom, quoted or literal. Returns 0 or -1 (buffer max). */
int imapstr_astring(struct buf *b, const uint8_t *s, size_t n) ATTR_WUR;
/* string: quoted or literal (never an atom). */
int imapstr_string(struct buf *b, const uint8_t *s, size_t n) ATTR_WUR;
/* nstring: NIL for s == NULL, else a string. */
int imapstr_nstring(struct buf *b, const uint8_t *s, size_t n) ATTR_WUR;
/* Always a quoted string; the caller guarantees imapstr_quotable. */
int imapstr_quoted(struct buf *b, const uint8_t *s, size_t n) ATTR_WUR;
/* Always a literal {n}CRLF + bytes. */
int imapstr_literal(struct buf *b, const uint8_t *s, size_t n) ATTR_WUR;

#endif
