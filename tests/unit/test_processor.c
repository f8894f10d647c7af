#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "gm/processor.h"

static char *decode(const char *body, size_t *len)
{
    return gm_form_payload(body, strlen(body), len);
}

Test(form, decodes_payload_field)
{
    size_t len = 0;
    char *p = decode("payload=%7B%22a%22%3A+1%7D", &len);
    cr_assert_not_null(p);
    cr_assert_str_eq(p, "{\"a\": 1}");
    cr_assert_eq(len, 8);
    free(p);
}

Test(form, finds_payload_among_other_fields)
{
    size_t len = 0;
    char *p = decode("x=1&payload=%5B%5D&y=2", &len);
    cr_assert_not_null(p);
    cr_assert_str_eq(p, "[]");
    free(p);
}

Test(form, keeps_nul_bytes_and_reports_length)
{
    size_t len = 0;
    char *p = decode("payload=a%00b", &len);
    cr_assert_not_null(p);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(p, "a\0b", 3), 0);
    free(p);
}

Test(form, refuses_missing_field_and_bad_escapes)
{
    size_t len = 0;
    const char *bad[] = {"", "payloa=1", "xpayload=1", "payload=%", "payload=%4", "payload=%zz", "payload=%4g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_null(decode(bad[i], &len), "accepted: %s", bad[i]);
}

Test(form, empty_payload_is_an_empty_string)
{
    size_t len = 7;
    char *p = decode("payload=", &len);
    cr_assert_not_null(p);
    cr_assert_eq(len, 0);
    free(p);
}
