#include <string.h>

#include "num.h"

bool
num_parse_u64(const uint8_t *s, size_t n, uint64_t *r)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*r = v;
	return true;
}

bool
num_parse_u32(const uint8_t *s, size_t n, uint32_t *r)
{
	uint64_t v;

	if (n > 10 || !num_parse_u64(s, n, &v) || v > UINT32_MAX)
		return false;
	*r = (uint32_t)v;
	return true;
}

bool
num_parse_u32_str(const char *s, uint32_t *r)
{
	return num_parse_u32((const uint8_t *)s, strlen(s), r);
}
