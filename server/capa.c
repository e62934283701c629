/*
 * capa.c: capability profiles (see capa.h): the names of the extensions,
 * the `capabilities` value, and which commands each extension brings.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "capa.h"

/* In the order CAPABILITY lists them. */
static const struct {
	const char *name;
	uint32_t bit;
	uint32_t needs;		/* removed with any of these */
} capa_names[] = {
	{ "LITERAL+", CAPA_LITERALPLUS, 0 },
	{ "ID", CAPA_ID, 0 },
	{ "IDLE", CAPA_IDLE, 0 },
	{ "NAMESPACE", CAPA_NAMESPACE, 0 },
	{ "CHILDREN", CAPA_CHILDREN, 0 },
	{ "UNSELECT", CAPA_UNSELECT, 0 },
	{ "UIDPLUS", CAPA_UIDPLUS, 0 },
	{ "MOVE", CAPA_MOVE, 0 },
	{ "ENABLE", CAPA_ENABLE, 0 },
	{ "CONDSTORE", CAPA_CONDSTORE, 0 },
	/* RFC 7162 §3.2.3: QRESYNC is turned on with ENABLE and implies
	 * CONDSTORE. */
	{ "QRESYNC", CAPA_QRESYNC, CAPA_CONDSTORE | CAPA_ENABLE },
	{ "ESEARCH", CAPA_ESEARCH, 0 },
	{ "SPECIAL-USE", CAPA_SPECIAL_USE, 0 },
	{ "SASL-IR", CAPA_SASL_IR, 0 },
};

/* Commands that an extension brings. */
static const struct {
	const char *name;
	uint32_t bit;
} capa_commands[] = {
	{ "ENABLE", CAPA_ENABLE },
	{ "ID", CAPA_ID },
	{ "IDLE", CAPA_IDLE },
	{ "MOVE", CAPA_MOVE },
	{ "NAMESPACE", CAPA_NAMESPACE },
	{ "UNSELECT", CAPA_UNSELECT },
};

uint32_t
capa_bit(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < N_ELEMENTS(capa_names); i++) {
		if (strlen(capa_names[i].name) == len &&
		    strncasecmp(capa_names[i].name, name, len) == 0)
			return capa_names[i].bit;
	}
	return 0;
}

/* Drops the extensions whose prerequisites are gone. */
static uint32_t
capa_close(uint32_t set)
{
	size_t i;

	for (i = 0; i < N_ELEMENTS(capa_names); i++) {
		if (!capa_has(set, capa_names[i].needs))
			set &= ~capa_names[i].bit;
	}
	return set;
}

int
capa_parse(const char *text, uint32_t *set_r, char *errbuf, size_t errlen)
{
	uint32_t removed = 0, kept = 0;
	bool minus = false, plain = false;
	const char *p = text;
	size_t i;

	*set_r = CAPA_ALL;
	if (text == NULL)
		return 0;
	for (;;) {
		size_t n;
		uint32_t bit;
		bool neg;

		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		n = strcspn(p, " \t,");
		neg = *p == '-';
		if (neg)
			minus = true;
		else
			plain = true;
		if (minus && plain) {
			(void)snprintf(errbuf, errlen, "capabilities: either "
			    "a list of extensions to remove (each with '-') "
			    "or the list to keep, not both");
			return -1;
		}
		if (n - neg == 9 && strncasecmp(p + neg, "IMAP4rev1", 9) == 0) {
			if (neg) {
				(void)snprintf(errbuf, errlen, "capabilities: "
				    "IMAP4rev1 cannot be removed");
				return -1;
			}
			p += n;
			continue;
		}
		if ((bit = capa_bit(p + neg, n - neg)) == 0) {
			(void)snprintf(errbuf, errlen, "capabilities: unknown "
			    "extension '%.*s' (known: LITERAL+ ID IDLE "
			    "NAMESPACE CHILDREN UNSELECT UIDPLUS MOVE ENABLE "
			    "CONDSTORE QRESYNC ESEARCH SPECIAL-USE SASL-IR)",
			    (int)(n - neg > 40 ? 40 : n - neg), p + neg);
			return -1;
		}
		if (neg)
			removed |= bit;
		else
			kept |= bit;
		p += n;
	}
	if (minus) {
		*set_r = capa_close(CAPA_ALL & ~removed);
		return 0;
	}
	if (!plain)
		return 0;	/* only separators: everything */
	for (i = 0; i < N_ELEMENTS(capa_names); i++) {
		if ((kept & capa_names[i].bit) &&
		    !capa_has(kept, capa_names[i].needs)) {
			(void)snprintf(errbuf, errlen, "capabilities: %s needs "
			    "CONDSTORE and ENABLE in the list too",
			    capa_names[i].name);
			return -1;
		}
	}
	*set_r = kept;
	return 0;
}

int
capa_format(uint32_t set, char *out, size_t outlen)
{
	size_t len, i;
	int n;

	n = snprintf(out, outlen, "IMAP4rev1");
	if (n < 0 || (size_t)n >= outlen)
		goto toosmall;
	len = (size_t)n;
	for (i = 0; i < N_ELEMENTS(capa_names); i++) {
		if ((set & capa_names[i].bit) == 0 ||
		    capa_names[i].bit == CAPA_SASL_IR)
			continue;
		n = snprintf(out + len, outlen - len, " %s",
		    capa_names[i].name);
		if (n < 0 || (size_t)n >= outlen - len)
			goto toosmall;
		len += (size_t)n;
	}
	return (int)len;
toosmall:
	if (outlen > 0)
		out[0] = '\0';
	return -1;
}

bool
capa_command(uint32_t set, const char *name, bool uid)
{
	size_t i;

	/* RFC 4315 §2.1 */
	if (uid && strcasecmp(name, "EXPUNGE") == 0)
		return capa_has(set, CAPA_UIDPLUS);
	for (i = 0; i < N_ELEMENTS(capa_commands); i++) {
		if (strcasecmp(name, capa_commands[i].name) == 0)
			return capa_has(set, capa_commands[i].bit);
	}
	return true;
}
