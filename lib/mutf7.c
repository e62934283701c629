/*
 * mutf7.c: validating modified UTF-7 mailbox names.
 */
#include "mutf7.h"

static int
mutf7_b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static bool
mutf7_fail(const char **why_r, const char *why)
{
	if (why_r != NULL)
		*why_r = why;
	return false;
}

bool
mutf7_valid(const uint8_t *s, size_t n, const char **why_r)
{
	size_t i = 0;
	bool last_was_shift = false;

	while (i < n) {
		uint32_t bits = 0, high = 0;
		unsigned nbits = 0, units = 0;

		if (s[i] < 0x20 || s[i] > 0x7e)
			return mutf7_fail(why_r, "non-ASCII or control byte "
			    "(use modified UTF-7)");
		if (s[i] != '&') {
			i++;
			last_was_shift = false;
			continue;
		}
		i++;
		if (i < n && s[i] == '-') {
			i++;
			last_was_shift = false;
			continue;
		}
		if (last_was_shift)
			return mutf7_fail(why_r, "adjacent shift sequences");
		for (; i < n && s[i] != '-'; i++) {
			int v = mutf7_b64val(s[i]);

			if (v < 0)
				return mutf7_fail(why_r,
				    "invalid character in shift sequence");
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			{
				uint32_t u = (bits >> nbits) & 0xffff;

				units++;
				if (high != 0) {
					if (u < 0xdc00 || u > 0xdfff)
						return mutf7_fail(why_r,
						    "unpaired surrogate");
					high = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					high = u;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					return mutf7_fail(why_r,
					    "unpaired surrogate");
				} else if (u >= 0x20 && u <= 0x7e) {
					return mutf7_fail(why_r,
					    "encoded printable ASCII");
				}
			}
		}
		if (i >= n)
			return mutf7_fail(why_r, "unterminated shift sequence");
		if (units == 0 || high != 0 || nbits >= 6 ||
		    (bits & ((1u << nbits) - 1)) != 0)
			return mutf7_fail(why_r, "bad shift sequence");
		i++;	/* the '-' */
		last_was_shift = true;
	}
	return true;
}
