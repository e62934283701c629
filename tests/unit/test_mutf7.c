/*
 * Unit tests for modified UTF-7 validation (RFC 3501 §5.1.3) and mailbox
 * name normalisation (server/mboxname.c).
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "../../lib/mutf7.h"
#include "../../server/mboxname.h"

static bool
valid(const char *s)
{
	return mutf7_valid((const uint8_t *)s, strlen(s), NULL);
}

void
test_mutf7_valid_names(void)
{
	CU_ASSERT_TRUE(valid("INBOX"));
	CU_ASSERT_TRUE(valid("a b/c.d"));
	CU_ASSERT_TRUE(valid("Tom &- Jerry"));
	/* RFC 3501's example: ~peter/mail/台北/日本語 */
	CU_ASSERT_TRUE(valid("~peter/mail/&U,BTFw-/&ZeVnLIqe-"));
	/* é: U+00E9 */
	CU_ASSERT_TRUE(valid("caf&AOk-"));
	/* U+1F600 as a surrogate pair */
	CU_ASSERT_TRUE(valid("&2D3eAA-"));
}

void
test_mutf7_invalid_names(void)
{
	CU_ASSERT_FALSE(valid("caf\xc3\xa9"));		/* raw UTF-8 */
	CU_ASSERT_FALSE(valid("a&"));			/* unterminated */
	CU_ASSERT_FALSE(valid("a&AOk"));		/* no '-' */
	CU_ASSERT_FALSE(valid("&AGE-"));		/* encodes 'a' */
	CU_ASSERT_FALSE(valid("&AOk-&AOk-"));		/* adjacent shifts */
	CU_ASSERT_FALSE(valid("&2D0-"));		/* lone high surrogate */
	CU_ASSERT_FALSE(valid("&3gA-"));		/* lone low surrogate */
	CU_ASSERT_FALSE(valid("&AO!-"));		/* bad base64 char */
	CU_ASSERT_FALSE(valid("&AOl-"));		/* leftover bits set */
	CU_ASSERT_FALSE(valid("tab\there"));
}

static const char *
norm(const char *in, enum mboxname_use use)
{
	static char out[STORE_NAME_MAX + 1];
	const char *why;

	if (!mboxname_parse((const uint8_t *)in, strlen(in), use, out, &why))
		return NULL;
	return out;
}

void
test_mutf7_mboxname_rules(void)
{
	CU_ASSERT_STRING_EQUAL(norm("inbox", MBOXNAME_EXISTING), "INBOX");
	CU_ASSERT_STRING_EQUAL(norm("InBox/Sub", MBOXNAME_EXISTING),
	    "INBOX/Sub");
	CU_ASSERT_STRING_EQUAL(norm("inboxes", MBOXNAME_EXISTING), "inboxes");
	CU_ASSERT_STRING_EQUAL(norm("a/b/", MBOXNAME_NEW), "a/b");
	CU_ASSERT_PTR_NULL(norm("a/b/", MBOXNAME_EXISTING));
	CU_ASSERT_PTR_NULL(norm("", MBOXNAME_EXISTING));
	CU_ASSERT_PTR_NULL(norm("/a", MBOXNAME_NEW));
	CU_ASSERT_PTR_NULL(norm("a//b", MBOXNAME_NEW));
	CU_ASSERT_PTR_NULL(norm("a%b", MBOXNAME_NEW));
	CU_ASSERT_PTR_NULL(norm("a*", MBOXNAME_NEW));
	CU_ASSERT_PTR_NULL(norm("caf\xc3\xa9", MBOXNAME_NEW));
}
