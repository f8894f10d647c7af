#include <criterion/criterion.h>
#include <string.h>

#include "gm/signature.h"

static gm_secret_t secret(const char *s)
{
    return (gm_secret_t){.source = "literal", .value = (unsigned char *)s, .len = strlen(s)};
}

#define VECTOR_SIG "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

Test(signature, github_documented_vector)
{
    char out[72];
    const char *key = "It's a Secret to Everybody";
    gm_sig_sign((const unsigned char *)key, strlen(key), "Hello, World!", 13, out);
    cr_assert_str_eq(out, VECTOR_SIG);

    gm_secret_t s = secret(key);
    cr_assert_eq(gm_sig_verify(&s, 1, VECTOR_SIG, strlen(VECTOR_SIG), "Hello, World!", 13), 0);
}

Test(signature, wrong_body_or_secret_fails)
{
    gm_secret_t s = secret("It's a Secret to Everybody");
    cr_assert_eq(gm_sig_verify(&s, 1, VECTOR_SIG, strlen(VECTOR_SIG), "Hello, World?", 13), -1);
    gm_secret_t other = secret("another secret");
    cr_assert_eq(gm_sig_verify(&other, 1, VECTOR_SIG, strlen(VECTOR_SIG), "Hello, World!", 13), -1);
}

Test(signature, any_configured_secret_may_match)
{
    gm_secret_t s[3] = {secret("old"), secret("It's a Secret to Everybody"), secret("new")};
    cr_assert_eq(gm_sig_verify(s, 3, VECTOR_SIG, strlen(VECTOR_SIG), "Hello, World!", 13), 1);
}

Test(signature, malformed_headers_fail)
{
    gm_secret_t s = secret("It's a Secret to Everybody");
    const char *bad[] = {
        "",
        "sha256=",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",   /* short */
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e177", /* long */
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",  /* not hex */
        "SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(gm_sig_verify(&s, 1, bad[i], strlen(bad[i]), "Hello, World!", 13), -1, "accepted: %s", bad[i]);
    cr_assert_eq(gm_sig_verify(&s, 1, NULL, 0, "Hello, World!", 13), -1);
}

Test(signature, uppercase_hex_is_the_same_mac)
{
    gm_secret_t s = secret("It's a Secret to Everybody");
    const char *up = "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17";
    cr_assert_eq(gm_sig_verify(&s, 1, up, strlen(up), "Hello, World!", 13), 0);
}

Test(signature, empty_body_is_signed_too)
{
    char out[72];
    gm_sig_sign((const unsigned char *)"k", 1, "", 0, out);
    gm_secret_t s = secret("k");
    cr_assert_eq(gm_sig_verify(&s, 1, out, strlen(out), "", 0), 0);
}
