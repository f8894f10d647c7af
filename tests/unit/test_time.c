/* Unit tests for processing/time.c: RFC 3339 parsing and formatting. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "gm/record.h"

static int64_t parse_ok(const char *s)
{
    int64_t ms = -12345;
    cr_assert_eq(gm_time_parse_iso8601(s, &ms), 0, "should parse: %s", s);
    return ms;
}

static void parse_bad(const char *s)
{
    int64_t ms = 777;
    cr_expect_eq(gm_time_parse_iso8601(s, &ms), -1, "should refuse: %s", s);
}

static void fmt_is(int64_t ms, const char *want)
{
    char buf[32];
    gm_time_format_iso8601(ms, buf, sizeof(buf));
    cr_expect_str_eq(buf, want, "format %lld", (long long)ms);
}

Test(time_parse, epoch_and_known_values)
{
    cr_expect_eq(parse_ok("1970-01-01T00:00:00Z"), 0);
    /* date -u -d 2021-08-05T10:33:58Z +%s → 1628159638 */
    cr_expect_eq(parse_ok("2021-08-05T10:33:58Z"), INT64_C(1628159638000));
    cr_expect_eq(parse_ok("2020-10-05T16:33:24Z"), INT64_C(1601915604000));
    cr_expect_eq(parse_ok("2000-01-01T00:00:00Z"), INT64_C(946684800000));
    cr_expect_eq(parse_ok("1969-12-31T23:59:59Z"), -1000);
    cr_expect_eq(parse_ok("1900-01-01T00:00:00Z"), INT64_C(-2208988800000));
    cr_expect_eq(parse_ok("9999-12-31T23:59:59Z"), INT64_C(253402300799000));
    cr_expect_eq(parse_ok("0000-01-01T00:00:00Z"), INT64_C(-62167219200000));
}

Test(time_parse, differences_are_durations)
{
    /* The workflow_job completed example. */
    int64_t c = parse_ok("2021-08-05T10:33:58Z");
    int64_t s = parse_ok("2021-08-05T10:34:58Z");
    int64_t e = parse_ok("2021-08-05T10:38:16Z");
    cr_expect_eq(s - c, 60000);
    cr_expect_eq(e - s, 198000);
    /* Across midnight and a month end. */
    cr_expect_eq(parse_ok("2021-03-01T00:00:05Z") - parse_ok("2021-02-28T23:59:55Z"), 10000);
}

Test(time_parse, fractions)
{
    int64_t base = parse_ok("2020-10-02T12:42:30Z");
    cr_expect_eq(parse_ok("2020-10-02T12:42:30.000Z"), base);
    cr_expect_eq(parse_ok("2020-10-02T12:42:30.5Z"), base + 500);
    cr_expect_eq(parse_ok("2020-10-02T12:42:30.05Z"), base + 50);
    cr_expect_eq(parse_ok("2020-10-02T12:42:30.123Z"), base + 123);
    /* Beyond milliseconds: truncated, not rounded. */
    cr_expect_eq(parse_ok("2020-10-02T12:42:30.123999Z"), base + 123);
    cr_expect_eq(parse_ok("2020-10-02T12:42:30.999999999Z"), base + 999);
    cr_expect_eq(parse_ok("1969-12-31T23:59:59.250Z"), -750);
}

Test(time_parse, offsets)
{
    int64_t utc = parse_ok("2021-08-05T10:33:58Z");
    cr_expect_eq(parse_ok("2021-08-05T12:33:58+02:00"), utc);
    cr_expect_eq(parse_ok("2021-08-05T05:03:58-05:30"), utc);
    cr_expect_eq(parse_ok("2021-08-05T10:33:58+00:00"), utc);
    cr_expect_eq(parse_ok("2021-08-05T10:33:58-00:00"), utc);
    /* An offset that moves across a day and a year. */
    cr_expect_eq(parse_ok("2021-01-01T01:00:00+02:00"), parse_ok("2020-12-31T23:00:00Z"));
    cr_expect_eq(parse_ok("2020-12-31T22:00:00-23:59"), parse_ok("2021-01-01T21:59:00Z"));
    /* Fraction and offset together. */
    cr_expect_eq(parse_ok("2021-08-05T12:33:58.250+02:00"), utc + 250);
    /* RFC 3339 allows lower-case t and z. */
    cr_expect_eq(parse_ok("2021-08-05t10:33:58z"), utc);
}

Test(time_parse, leap_years)
{
    cr_expect_eq(parse_ok("2020-03-01T00:00:00Z") - parse_ok("2020-02-29T00:00:00Z"), 86400000);
    cr_expect_eq(parse_ok("2000-03-01T00:00:00Z") - parse_ok("2000-02-29T00:00:00Z"), 86400000);
    cr_expect_eq(parse_ok("2024-12-31T00:00:00Z") - parse_ok("2024-01-01T00:00:00Z"), INT64_C(365) * 86400000);
    cr_expect_eq(parse_ok("2023-12-31T00:00:00Z") - parse_ok("2023-01-01T00:00:00Z"), INT64_C(364) * 86400000);
    parse_bad("2021-02-29T00:00:00Z");
    parse_bad("1900-02-29T00:00:00Z"); /* divisible by 100, not by 400 */
    parse_bad("2100-02-29T00:00:00Z");
}

Test(time_parse, rejections)
{
    parse_bad("");
    parse_bad("2021-08-05");
    parse_bad("2021-08-05T10:33:58");       /* no zone */
    parse_bad("2021-08-05 10:33:58Z");      /* space separator */
    parse_bad("2021-08-05T10:33Z");         /* no seconds */
    parse_bad("2021-08-05T10:33:58ZZ");     /* trailing garbage */
    parse_bad("2021-08-05T10:33:58Z ");     /* trailing space */
    parse_bad(" 2021-08-05T10:33:58Z");     /* leading space */
    parse_bad("2021-08-05T10:33:58.Z");     /* dot without digits */
    parse_bad("2021-08-05T10:33:58.12aZ");  /* junk in the fraction */
    parse_bad("2021-08-05T10:33:58+0200");  /* offset without colon */
    parse_bad("2021-08-05T10:33:58+02");    /* short offset */
    parse_bad("2021-08-05T10:33:58+24:00"); /* offset hour out of range */
    parse_bad("2021-08-05T10:33:58+02:60"); /* offset minute out of range */
    parse_bad("2021-13-05T10:33:58Z");
    parse_bad("2021-00-05T10:33:58Z");
    parse_bad("2021-08-00T10:33:58Z");
    parse_bad("2021-08-32T10:33:58Z");
    parse_bad("2021-04-31T10:33:58Z");
    parse_bad("2021-08-05T24:00:00Z");
    parse_bad("2021-08-05T10:60:58Z");
    parse_bad("2021-08-05T10:33:60Z");
    parse_bad("21-08-05T10:33:58Z");
    parse_bad("+2021-08-05T10:33:58Z");
    parse_bad("2021-8-05T10:33:58Z");
    parse_bad("2021-08-05T1:33:58Z");
    parse_bad("2021/08/05T10:33:58Z");
    parse_bad("2021-08-05T10:33:58.123"); /* fraction, no zone */
    parse_bad("not a time");
    cr_expect_eq(gm_time_parse_iso8601(NULL, &(int64_t){0}), -1);
    cr_expect_eq(gm_time_parse_iso8601("2021-08-05T10:33:58Z", NULL), -1);
}

Test(time_format, values)
{
    fmt_is(0, "1970-01-01T00:00:00Z");
    fmt_is(INT64_C(1628159638000), "2021-08-05T10:33:58Z");
    fmt_is(INT64_C(1628159638123), "2021-08-05T10:33:58.123Z");
    fmt_is(INT64_C(1628159638005), "2021-08-05T10:33:58.005Z");
    fmt_is(-1, "1969-12-31T23:59:59.999Z");
    fmt_is(-1000, "1969-12-31T23:59:59Z");
    fmt_is(INT64_C(951782400000), "2000-02-29T00:00:00Z");
    fmt_is(INT64_C(253402300799000), "9999-12-31T23:59:59Z");
}

Test(time_format, extremes_do_not_crash)
{
    char buf[32];
    gm_time_format_iso8601(INT64_MAX, buf, sizeof(buf));
    cr_expect_gt(strlen(buf), 0);
    gm_time_format_iso8601(INT64_MIN, buf, sizeof(buf));
    cr_expect_gt(strlen(buf), 0);
    /* A short buffer is truncated, still NUL-terminated. */
    char small[8];
    gm_time_format_iso8601(0, small, sizeof(small));
    cr_expect_str_eq(small, "1970-01");
    gm_time_format_iso8601(0, NULL, 0); /* no crash */
}

Test(time_roundtrip, format_then_parse)
{
    /* Every day of several years, including leap days and pre-1970, at a
     * time of day and millisecond that change with the day. */
    int64_t start = parse_ok("1968-01-01T00:00:00Z");
    int64_t end = parse_ok("2030-01-01T00:00:00Z");
    char buf[32];
    int n = 0;
    for (int64_t t = start; t < end; t += 86400000 + 3601001) {
        gm_time_format_iso8601(t, buf, sizeof(buf));
        int64_t back = 0;
        cr_assert_eq(gm_time_parse_iso8601(buf, &back), 0, "%s", buf);
        cr_assert_eq(back, t, "%s: %lld != %lld", buf, (long long)back, (long long)t);
        n++;
    }
    cr_expect_gt(n, 10000);
}

Test(time_roundtrip, parse_then_format)
{
    static const char *const cases[] = {
        "2021-08-05T10:33:58Z", "2020-02-29T23:59:59.999Z", "1999-12-31T23:59:59Z",
        "2038-01-19T03:14:08Z", "1970-01-01T00:00:00.001Z", "1601-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        gm_time_format_iso8601(parse_ok(cases[i]), buf, sizeof(buf));
        cr_expect_str_eq(buf, cases[i]);
    }
    /* Offsets and long fractions normalise to UTC milliseconds. */
    char buf[32];
    gm_time_format_iso8601(parse_ok("2021-08-05T12:33:58.1239+02:00"), buf, sizeof(buf));
    cr_expect_str_eq(buf, "2021-08-05T10:33:58.123Z");
}
