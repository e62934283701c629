/*
 * test_base64.c: lib/base64.c against the RFC 4648 section 10 vectors, the
 * strictness rules (padding, alphabet, unused bits) and buffer limits.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "../../lib/base64.h"

/*
 * Prototypes for -Wmissing-prototypes. "extern" keeps gen_registry.sh,
 * which registers lines starting "void test_", from counting them twice.
 */
extern void test_base64_rfc4648_encode(void);
extern void test_base64_rfc4648_decode(void);
extern void test_base64_binary_round_trip(void);
extern void test_base64_decode_rejects(void);
extern void test_base64_decode_rejects_nul_and_high_bytes(void);
extern void test_base64_decode_error_keeps_earlier_contents(void);
extern void test_base64_buffer_max(void);
extern void test_base64_sasl_plain_example(void);


struct base64_vector {
	const char *plain;
	const char *coded;
};

/* RFC 4648 section 10. */
static const struct base64_vector base64_rfc[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static int
base64_dec_str(const char *s, struct buf *out)
{
	return base64_decode((const uint8_t *)s, strlen(s), out);
}

void test_base64_rfc4648_encode(void)
{
	size_t i;

	for (i = 0; i < N_ELEMENTS(base64_rfc); i++) {
		struct buf b = BUF_INITIALIZER(64);
		const char *p = base64_rfc[i].plain;

		CU_ASSERT_EQUAL(base64_encode((const uint8_t *)p, strlen(p),
		    &b), 0);
		CU_ASSERT_STRING_EQUAL(buf_cstr(&b), base64_rfc[i].coded);
		CU_ASSERT_EQUAL(b.len, strlen(base64_rfc[i].coded));
		buf_free(&b);
	}
}

void test_base64_rfc4648_decode(void)
{
	size_t i;

	for (i = 0; i < N_ELEMENTS(base64_rfc); i++) {
		struct buf b = BUF_INITIALIZER(64);

		CU_ASSERT_EQUAL(base64_dec_str(base64_rfc[i].coded, &b), 0);
		CU_ASSERT_EQUAL(b.len, strlen(base64_rfc[i].plain));
		CU_ASSERT_STRING_EQUAL(buf_cstr(&b), base64_rfc[i].plain);
		buf_free(&b);
	}
}

void test_base64_binary_round_trip(void)
{
	uint8_t all[256];
	struct buf enc = BUF_INITIALIZER(1024);
	struct buf dec = BUF_INITIALIZER(1024);
	size_t i, n;

	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)(255 - i);
	/* Every length so each padding case meets every byte value. */
	for (n = 0; n <= sizeof(all); n++) {
		buf_reset(&enc);
		buf_reset(&dec);
		CU_ASSERT_EQUAL_FATAL(base64_encode(all, n, &enc), 0);
		CU_ASSERT_EQUAL(enc.len, (n + 2) / 3 * 4);
		CU_ASSERT_EQUAL_FATAL(base64_decode(enc.data, enc.len, &dec),
		    0);
		CU_ASSERT_EQUAL(dec.len, n);
		CU_ASSERT(n == 0 || memcmp(dec.data, all, n) == 0);
	}
	buf_free(&enc);
	buf_free(&dec);
}

void test_base64_decode_rejects(void)
{
	static const char *const bad[] = {
		"Zg",		/* no padding */
		"Zg=",		/* short padding */
		"Z===",		/* three '=' */
		"====",		/* only padding */
		"Zg==Zg==",	/* padding before the end */
		"Z=g=",		/* data after padding */
		"Zh==",		/* unused bits set (RFC 4648 3.5) */
		"Zm9=",		/* unused bits set */
		"Zm9v ",	/* whitespace */
		"Zm 9v",
		"Zm9v\r\n",
		"Zm9-",		/* base64url alphabet */
		"Zm9_",
		"Zm9.",
		"Zg==\n",
		"A",
	};
	size_t i;

	for (i = 0; i < N_ELEMENTS(bad); i++) {
		struct buf b = BUF_INITIALIZER(64);

		CU_ASSERT_EQUAL(base64_dec_str(bad[i], &b), -1);
		CU_ASSERT_EQUAL(b.len, 0);
		buf_free(&b);
	}
}

void test_base64_decode_rejects_nul_and_high_bytes(void)
{
	static const uint8_t withnul[] = { 'Z', 'm', '9', '\0' };
	static const uint8_t high[] = { 'Z', 'm', '9', 0xc3 };
	struct buf b = BUF_INITIALIZER(64);

	CU_ASSERT_EQUAL(base64_decode(withnul, sizeof(withnul), &b), -1);
	CU_ASSERT_EQUAL(base64_decode(high, sizeof(high), &b), -1);
	CU_ASSERT_EQUAL(b.len, 0);
	buf_free(&b);
}

void test_base64_decode_error_keeps_earlier_contents(void)
{
	struct buf b = BUF_INITIALIZER(64);

	CU_ASSERT_EQUAL(buf_adds(&b, "keep"), 0);
	/* Two good groups, then a bad one: nothing of them stays. */
	CU_ASSERT_EQUAL(base64_dec_str("Zm9vYmFyZm9*", &b), -1);
	CU_ASSERT_EQUAL(b.len, 4);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "keep");
	/* A good decode appends. */
	CU_ASSERT_EQUAL(base64_dec_str("Zm9v", &b), 0);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "keepfoo");
	buf_free(&b);
}

void test_base64_buffer_max(void)
{
	struct buf b = BUF_INITIALIZER(5);

	/* "foobar" is 6 bytes: one more than allowed. */
	CU_ASSERT_EQUAL(base64_dec_str("Zm9vYmFy", &b), -1);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(base64_dec_str("Zm9vYmE=", &b), 0);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "fooba");
	buf_free(&b);

	buf_init(&b, 7);
	CU_ASSERT_EQUAL(base64_encode((const uint8_t *)"foob", 4, &b), -1);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(base64_encode((const uint8_t *)"foo", 3, &b), 0);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), "Zm9v");
	buf_free(&b);
}

void test_base64_sasl_plain_example(void)
{
	/* RFC 4616 section 4: "\0tim\0tanstaaftanstaaf". */
	static const uint8_t msg[] = "\0tim\0tanstaaftanstaaf";
	static const char coded[] = "AHRpbQB0YW5zdGFhZnRhbnN0YWFm";
	struct buf b = BUF_INITIALIZER(64);

	CU_ASSERT_EQUAL(base64_encode(msg, sizeof(msg) - 1, &b), 0);
	CU_ASSERT_STRING_EQUAL(buf_cstr(&b), coded);
	buf_reset(&b);
	CU_ASSERT_EQUAL(base64_dec_str(coded, &b), 0);
	CU_ASSERT_EQUAL(b.len, sizeof(msg) - 1);
	CU_ASSERT(memcmp(b.data, msg, sizeof(msg) - 1) == 0);
	buf_free(&b);
}
