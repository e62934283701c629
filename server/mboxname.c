/*
 * mboxname.c: validating and normalising mailbox names.
 */
#include <string.h>
#include <strings.h>

#include "../lib/mutf7.h"
#include "mboxname.h"

bool
mboxname_is_inbox(const char *name)
{
	return strcmp(name, "INBOX") == 0;
}

static bool
mboxname_fail(const char **why_r, const char *why)
{
	*why_r = why;
	return false;
}

bool
mboxname_parse(const uint8_t *p, size_t n, enum mboxname_use use,
    char *out, const char **why_r)
{
	size_t i;

	if (use == MBOXNAME_NEW && n > 1 && p[n - 1] == STORE_DELIM)
		n--;
	if (n == 0)
		return mboxname_fail(why_r, "Empty mailbox name");
	if (n > STORE_NAME_MAX)
		return mboxname_fail(why_r, "Mailbox name too long");
	if (!mutf7_valid(p, n, why_r))
		return false;
	if (p[0] == STORE_DELIM || p[n - 1] == STORE_DELIM)
		return mboxname_fail(why_r,
		    "Mailbox name starts or ends with the delimiter");
	for (i = 0; i + 1 < n; i++) {
		if (p[i] == STORE_DELIM && p[i + 1] == STORE_DELIM)
			return mboxname_fail(why_r,
			    "Empty level of hierarchy in mailbox name");
	}
	if (use == MBOXNAME_NEW && (memchr(p, '%', n) != NULL ||
	    memchr(p, '*', n) != NULL))
		return mboxname_fail(why_r,
		    "Mailbox name contains a LIST wildcard (% or *)");
	memcpy(out, p, n);
	out[n] = '\0';
	if (strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == STORE_DELIM))
		memcpy(out, "INBOX", 5);
	return true;
}
