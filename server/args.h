/*
 * args.h: typed readers over a command's arguments.
 *
 * Each reader returns true and advances when the next argument has the
 * wanted form, and returns false without advancing otherwise. Readers
 * never write to the client: a handler answers a false with one BAD.
 * Returned pointers stay valid until the command ends; strings are
 * NUL-terminated (a literal may hold other bytes, so use the length).
 */
#ifndef REFIMAPD_ARGS_H
#define REFIMAPD_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

struct args {
	const struct arg *v;
	size_t n;
	size_t i;
};

/* True when every argument has been read. */
bool args_end(const struct args *a);
/* An atom (not quoted). */
bool args_atom(struct args *a, const uint8_t **p_r, size_t *n_r);
/* An atom equal to word, case-insensitively. */
bool args_word(struct args *a, const char *word);
/* astring: an atom of ASTRING-CHARs, a quoted string or a literal. */
bool args_astring(struct args *a, const uint8_t **p_r, size_t *n_r);
/* string: quoted or literal only. */
bool args_string(struct args *a, const uint8_t **p_r, size_t *n_r);
/* nstring: NIL (*p_r = NULL) or a string. */
bool args_nstring(struct args *a, const uint8_t **p_r, size_t *n_r);
/* list-mailbox (RFC 3501 §9): like astring, and '%' '*' allowed in atoms. */
bool args_list_mailbox(struct args *a, const uint8_t **p_r, size_t *n_r);
/* number (RFC 3501 §9: 32-bit unsigned). */
bool args_number(struct args *a, uint32_t *r);
bool args_list_open(struct args *a);
bool args_list_close(struct args *a);
/* True if the next argument is "(" (does not advance). */
bool args_peek_list(const struct args *a);

#endif
