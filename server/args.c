/*
 * args.c: typed readers over the collected arguments of a command
 * (RFC 3501 §9 forms: atom, astring, string, nstring, number, lists).
 */
#include <string.h>
#include <strings.h>

#include "../lib/imapstr.h"
#include "../lib/num.h"
#include "args.h"

static const struct arg *
args_peek(const struct args *a)
{
	return a->i < a->n ? &a->v[a->i] : NULL;
}

bool
args_end(const struct args *a)
{
	return a->i >= a->n;
}

bool
args_atom(struct args *a, const uint8_t **p_r, size_t *n_r)
{
	const struct arg *g = args_peek(a);

	if (g == NULL || g->type != ARG_ATOM)
		return false;
	*p_r = g->data;
	*n_r = g->len;
	a->i++;
	return true;
}

bool
args_word(struct args *a, const char *word)
{
	const struct arg *g = args_peek(a);
	size_t n = strlen(word);

	if (g == NULL || g->type != ARG_ATOM || g->len != n ||
	    strncasecmp((const char *)g->data, word, n) != 0)
		return false;
	a->i++;
	return true;
}

static bool
args_chars_ok(const struct arg *g, bool wildcards)
{
	size_t i;

	for (i = 0; i < g->len; i++) {
		uint8_t c = g->data[i];

		if (imapstr_is_astring_char(c))
			continue;
		if (wildcards && (c == '%' || c == '*'))
			continue;
		return false;
	}
	return true;
}

bool
args_astring(struct args *a, const uint8_t **p_r, size_t *n_r)
{
	const struct arg *g = args_peek(a);

	if (g == NULL || (g->type != ARG_ATOM && g->type != ARG_STRING))
		return false;
	if (g->type == ARG_ATOM && !args_chars_ok(g, false))
		return false;
	*p_r = g->data;
	*n_r = g->len;
	a->i++;
	return true;
}

bool
args_list_mailbox(struct args *a, const uint8_t **p_r, size_t *n_r)
{
	const struct arg *g = args_peek(a);

	if (g == NULL || (g->type != ARG_ATOM && g->type != ARG_STRING))
		return false;
	if (g->type == ARG_ATOM && !args_chars_ok(g, true))
		return false;
	*p_r = g->data;
	*n_r = g->len;
	a->i++;
	return true;
}

bool
args_string(struct args *a, const uint8_t **p_r, size_t *n_r)
{
	const struct arg *g = args_peek(a);

	if (g == NULL || g->type != ARG_STRING)
		return false;
	*p_r = g->data;
	*n_r = g->len;
	a->i++;
	return true;
}

bool
args_nstring(struct args *a, const uint8_t **p_r, size_t *n_r)
{
	if (args_word(a, "NIL")) {
		*p_r = NULL;
		*n_r = 0;
		return true;
	}
	return args_string(a, p_r, n_r);
}

bool
args_number(struct args *a, uint32_t *r)
{
	const struct arg *g = args_peek(a);

	if (g == NULL || g->type != ARG_ATOM ||
	    !num_parse_u32(g->data, g->len, r))
		return false;
	a->i++;
	return true;
}

bool
args_list_open(struct args *a)
{
	const struct arg *g = args_peek(a);

	if (g == NULL || g->type != ARG_LIST_OPEN)
		return false;
	a->i++;
	return true;
}

bool
args_list_close(struct args *a)
{
	const struct arg *g = args_peek(a);

	if (g == NULL || g->type != ARG_LIST_CLOSE)
		return false;
	a->i++;
	return true;
}

bool
args_peek_list(const struct args *a)
{
	const struct arg *g = args_peek(a);

	return g != NULL && g->type == ARG_LIST_OPEN;
}
