/*
 * Unit tests for IMAP date-time parsing and formatting
 * (server/datetime.c, RFC 3501 §9 date-time).
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "../../server/datetime.h"

static bool
parse(const char *s, int64_t *t, int32_t *tz)
{
	return datetime_parse((const uint8_t *)s, strlen(s), t, tz);
}

void
test_datetime_parse_forms(void)
{
	int64_t t;
	int32_t tz;

	/* RFC 3501's example from §6.3.11 */
	CU_ASSERT_TRUE(parse("17-Jul-1996 02:44:25 -0700", &t, &tz));
	CU_ASSERT_EQUAL(t, 837596665);
	CU_ASSERT_EQUAL(tz, -420);
	CU_ASSERT_TRUE(parse(" 7-Jul-1996 02:44:25 +0000", &t, &tz));
	CU_ASSERT_EQUAL(t, 836707465);
	CU_ASSERT_TRUE(parse("7-jul-1996 02:44:25 +0000", &t, &tz));
	CU_ASSERT_EQUAL(t, 836707465);
	CU_ASSERT_TRUE(parse("29-Feb-2024 23:59:59 +0530", &t, &tz));
	CU_ASSERT_EQUAL(tz, 330);
	CU_ASSERT_EQUAL(t, 1709251199 - 330 * 60);
	CU_ASSERT_TRUE(parse("01-Jan-1970 00:00:00 +0000", &t, &tz));
	CU_ASSERT_EQUAL(t, 0);
}

void
test_datetime_parse_rejects(void)
{
	int64_t t;
	int32_t tz;

	CU_ASSERT_FALSE(parse("", &t, &tz));
	CU_ASSERT_FALSE(parse("29-Feb-2023 00:00:00 +0000", &t, &tz));
	CU_ASSERT_FALSE(parse("31-Apr-2023 00:00:00 +0000", &t, &tz));
	CU_ASSERT_FALSE(parse("17-Jux-1996 02:44:25 -0700", &t, &tz));
	CU_ASSERT_FALSE(parse("17-Jul-1996 24:44:25 -0700", &t, &tz));
	CU_ASSERT_FALSE(parse("17-Jul-1996 02:44:25 0700", &t, &tz));
	CU_ASSERT_FALSE(parse("17-Jul-1996 02:44:25 -07000", &t, &tz));
	CU_ASSERT_FALSE(parse("17-Jul-96 02:44:25 -0700", &t, &tz));
	CU_ASSERT_FALSE(parse("017-Jul-1996 02:44:25 -0700", &t, &tz));
	CU_ASSERT_FALSE(parse("17-Jul-1996 2:44:25 -0700", &t, &tz));
}

void
test_datetime_format_round_trip(void)
{
	static const char *const cases[] = {
		"\"17-Jul-1996 02:44:25 -0700\"",
		"\"01-Jan-1970 00:00:00 +0000\"",
		"\"29-Feb-2024 23:59:59 +0530\"",
		"\"31-Dec-2099 12:00:00 -1200\"",
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INITIALIZER(64);
		int64_t t;
		int32_t tz;

		CU_ASSERT_TRUE_FATAL(datetime_parse((const uint8_t *)cases[i] +
		    1, strlen(cases[i]) - 2, &t, &tz));
		CU_ASSERT_EQUAL(datetime_format(&b, t, tz), 0);
		CU_ASSERT_STRING_EQUAL(buf_cstr(&b), cases[i]);
		buf_free(&b);
	}
}
