/*
 * flags.c: parsing flag lists.
 */
#include <string.h>
#include <strings.h>

#include "../lib/imapstr.h"
#include "flags.h"

const struct flags_name flags_system[FLAGS_NSYSTEM] = {
	{ "\\Answered", STORE_FLAG_ANSWERED },
	{ "\\Flagged", STORE_FLAG_FLAGGED },
	{ "\\Deleted", STORE_FLAG_DELETED },
	{ "\\Seen", STORE_FLAG_SEEN },
	{ "\\Draft", STORE_FLAG_DRAFT },
};

static bool
flags_fail(const char **why_r, const char *why)
{
	*why_r = why;
	return false;
}

bool
flags_parse_list(struct args *a, struct flags_list *fl, const char **why_r)
{
	const uint8_t *p;
	size_t n, i;

	memset(fl, 0, sizeof(*fl));
	if (!args_list_open(a))
		return flags_fail(why_r, "expected a flag list");
	while (!args_list_close(a)) {
		if (!args_atom(a, &p, &n))
			return flags_fail(why_r, "flags must be atoms");
		if (p[0] == '\\') {
			for (i = 0; i < N_ELEMENTS(flags_system); i++) {
				if (strlen(flags_system[i].name) == n &&
				    strncasecmp((const char *)p,
				    flags_system[i].name, n) == 0)
					break;
			}
			if (i == N_ELEMENTS(flags_system))
				return flags_fail(why_r, n == 7 &&
				    strncasecmp((const char *)p, "\\Recent",
				    7) == 0 ? "\\Recent cannot be set" :
				    "unknown system flag");
			fl->system |= flags_system[i].bit;
			continue;
		}
		if (n > STORE_KEYWORD_LEN_MAX)
			return flags_fail(why_r, "keyword too long");
		for (i = 0; i < n; i++) {
			if (!imapstr_is_atom_char(p[i]))
				return flags_fail(why_r,
				    "invalid character in keyword");
		}
		for (i = 0; i < fl->nkeywords; i++) {
			if (strcasecmp(fl->keywords[i], (const char *)p) == 0)
				break;
		}
		if (i < fl->nkeywords)
			continue;
		if (fl->nkeywords == STORE_KEYWORDS_MAX)
			return flags_fail(why_r, "too many keywords");
		fl->keywords[fl->nkeywords++] = (const char *)p;
	}
	return true;
}
