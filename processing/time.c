/* gm_time: RFC 3339 timestamps <-> epoch milliseconds.
 *
 * GitHub sends "2021-08-05T10:33:58Z" (and, in some objects,
 * "2020-10-02T12:42:30.000Z" or "2021-08-05T12:33:58+02:00"). The parser is
 * strict on purpose: a timestamp that is not exactly
 *
 *     YYYY-MM-DD 'T' HH:MM:SS [ '.' 1*DIGIT ] ( 'Z' | ('+'|'-') HH:MM )
 *
 * is refused rather than guessed at, because a guessed time turns into a
 * wrong duration on a dashboard. 'T' and 'Z' may be lower case (RFC 3339
 * section 5.6 allows it). Fractions are truncated to milliseconds. Seconds
 * must be 00..59: GitHub never sends leap seconds and RFC 3339's 60 would
 * only ever be a mistake here.
 *
 * The calendar arithmetic is Howard Hinnant's days_from_civil /
 * civil_from_days (proleptic Gregorian), so nothing depends on TZ, the C
 * library's timegm or the range of time_t. */
#include "gm/record.h"

#include <stdio.h>

/* Days since 1970-01-01 of the civil date y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);                       /* [0, 399] */
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    const unsigned mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n decimal digits at *p; advances *p. Returns -1 if any of
 * them is not a digit. */
static int digits(const char **p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

int gm_time_parse_iso8601(const char *s, int64_t *out_ms)
{
    if (s == NULL || out_ms == NULL)
        return -1;

    const char *p = s;
    unsigned year, mon, day, hour, min, sec, ms = 0;
    if (digits(&p, 4, &year) || expect(&p, '-') || digits(&p, 2, &mon) || expect(&p, '-') || digits(&p, 2, &day))
        return -1;
    if (*p != 'T' && *p != 't')
        return -1;
    p++;
    if (digits(&p, 2, &hour) || expect(&p, ':') || digits(&p, 2, &min) || expect(&p, ':') || digits(&p, 2, &sec))
        return -1;

    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1; /* "." with no digits */
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                ms = ms * 10 + (unsigned)(*p - '0');
        for (; n < 3; n++)
            ms *= 10;
    }

    int64_t offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        unsigned oh, om;
        p++;
        if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        offset_min = sign * (int64_t)(oh * 60 + om);
    } else {
        return -1; /* no zone: local time is meaningless to a server */
    }
    if (*p != '\0')
        return -1;

    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 || min > 59 || sec > 59)
        return -1;

    int64_t days = days_from_civil(year, mon, day);
    int64_t secs = days * 86400 + (int64_t)hour * 3600 + (int64_t)min * 60 + sec - offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return 0;
}

void gm_time_format_iso8601(int64_t ms, char *buf, size_t buflen)
{
    if (buf == NULL || buflen == 0)
        return;

    /* Floor division, so that times before 1970 format correctly; written
     * so that no intermediate overflows even for INT64_MIN. */
    int64_t days = ms / 86400000;
    int64_t rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned msec = (unsigned)(rem % 1000);
    unsigned s = (unsigned)(rem / 1000);

    if (msec != 0)
        snprintf(buf, buflen, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m, d, s / 3600, s / 60 % 60,
                 s % 60, msec);
    else
        snprintf(buf, buflen, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d, s / 3600, s / 60 % 60, s % 60);
}
