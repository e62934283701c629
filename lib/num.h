/*
 * num.h: strict decimal number parsing (no sign, no spaces, no leading '+').
 */
#ifndef REFIMAPD_NUM_H
#define REFIMAPD_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if all n bytes are digits and the value fits; overflow is checked
 * before every multiplication. n == 0 is false. */
bool num_parse_u32(const uint8_t *s, size_t n, uint32_t *r);
bool num_parse_u64(const uint8_t *s, size_t n, uint64_t *r);
/* The same for a NUL-terminated string. */
bool num_parse_u32_str(const char *s, uint32_t *r);

#endif
