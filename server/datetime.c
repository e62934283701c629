/*
 * datetime.c: IMAP date-time values for APPEND and INTERNALDATE.
 */
#include <string.h>
#include <strings.h>

#include "datetime.h"

static const char datetime_months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool
datetime_digits(const uint8_t *p, size_t n, int *r)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*r = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
datetime_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
datetime_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool
datetime_parse(const uint8_t *p, size_t n, int64_t *t_r, int32_t *tzoff_r)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	int day, mon, year, hh, mm, ss, zh, zm;
	size_t dl;
	int32_t off;

	/* " d-", "d-" or "dd-" */
	if (n > 0 && p[0] == ' ') {
		p++;
		n--;
	}
	dl = n > 1 && p[1] == '-' ? 1 : 2;
	if (n != dl + 24 || !datetime_digits(p, dl, &day) || p[dl] != '-')
		return false;
	p += dl + 1;
	for (mon = 0; mon < 12; mon++) {
		if (strncasecmp((const char *)p, datetime_months[mon], 3) == 0)
			break;
	}
	if (mon == 12 || p[3] != '-' || !datetime_digits(p + 4, 4, &year) ||
	    p[8] != ' ' || !datetime_digits(p + 9, 2, &hh) || p[11] != ':' ||
	    !datetime_digits(p + 12, 2, &mm) || p[14] != ':' ||
	    !datetime_digits(p + 15, 2, &ss) || p[17] != ' ' ||
	    (p[18] != '+' && p[18] != '-') ||
	    !datetime_digits(p + 19, 2, &zh) ||
	    !datetime_digits(p + 21, 2, &zm))
		return false;
	if (day < 1 || day > mdays[mon] ||
	    (mon == 1 && day == 29 && !datetime_leap(year)) ||
	    hh > 23 || mm > 59 || ss > 60 || zm > 59 || year < 1000)
		return false;
	off = (int32_t)(zh * 60 + zm) * (p[18] == '-' ? -1 : 1);
	*t_r = datetime_days(year, mon + 1, day) * 86400 + hh * 3600 +
	    mm * 60 + ss - (int64_t)off * 60;
	*tzoff_r = off;
	return true;
}

int
datetime_format(struct buf *b, int64_t t, int32_t tzoff)
{
	int64_t local = t + (int64_t)tzoff * 60;
	int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	int64_t secs = local - days * 86400;
	int64_t z = days + 719468, era, doe, yoe, y, doy, mp, d, m;
	int32_t a = tzoff < 0 ? -tzoff : tzoff;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp + (mp < 10 ? 3 : -9);
	y += m <= 2;
	return buf_addf(b, "\"%02d-%s-%04d %02d:%02d:%02d %c%02d%02d\"",
	    (int)d, datetime_months[m - 1], (int)y, (int)(secs / 3600),
	    (int)(secs / 60 % 60), (int)(secs % 60), tzoff < 0 ? '-' : '+',
	    (int)(a / 60), (int)(a % 60));
}
