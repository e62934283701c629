/*
 * datetime.h: IMAP date-time (RFC 3501 §9), "dd-Mon-yyyy hh:mm:ss +zzzz".
 */
#ifndef REFIMAPD_DATETIME_H
#define REFIMAPD_DATETIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/compat.h"

/*
 * Parses a date-time (without the quotes): the day may be " d" or "dd"
 * (date-day-fixed) or a single digit, the month name is
 * case-insensitive, the zone is +hhmm or -hhmm. Returns false for any
 * other form or an impossible date. *t_r is UTC seconds, *tzoff_r the
 * zone in minutes east of UTC.
 */
bool datetime_parse(const uint8_t *p, size_t n, int64_t *t_r,
    int32_t *tzoff_r);
/* Writes t as a date-time in the zone tzoff, with the quotes. */
int datetime_format(struct buf *b, int64_t t, int32_t tzoff) ATTR_WUR;

#endif
