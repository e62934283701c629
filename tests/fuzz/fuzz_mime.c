/*
 * fuzz_mime.c: libFuzzer target for the MIME parser (store/mime.c,
 * store/mime_addr.c).
 *
 * Each input is parsed as a message (copied into an exactly-sized
 * allocation so that AddressSanitizer sees any read past it); then every
 * reader runs on the blob, mime_section on paths taken from the input, and
 * the readers again on a copy of the blob with bytes flipped at places
 * chosen by the input. Checked: parsing succeeds, texts lie inside the
 * blob and are balanced "(...)" with CR, LF, NUL and 8-bit bytes only in
 * literals, ranges lie inside the message and the header of a part is
 * followed by its body.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 \
 *       -D_GNU_SOURCE store/mime*.c lib/buf.c lib/xalloc.c lib/log.c \
 *       lib/imapstr.c lib/num.c tests/fuzz/fuzz_mime.c -o /tmp/fuzz_mime
 *   /tmp/fuzz_mime -dict=tests/fuzz/mime.dict tests/fuzz/corpus/mime
 */
#include <stdlib.h>
#include <string.h>

#include "../../store/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

/* Parentheses outside quoted strings and literals balance. */
static void
check_balanced(const uint8_t *s, size_t n)
{
	size_t i, depth = 0, lit;

	CHECK(n >= 2 && s[0] == '(' && s[n - 1] == ')');
	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			for (i++; i < n && s[i] != '"'; i++) {
				if (s[i] == '\\')
					i++;
				CHECK(i < n && s[i] != '\0' && s[i] != '\r' &&
				    s[i] != '\n' && s[i] < 0x80);
			}
			CHECK(i < n);
		} else if (s[i] == '{') {
			lit = 0;
			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
				lit = lit * 10 + (size_t)(s[i] - '0');
			CHECK(i + 2 < n && s[i] == '}' && s[i + 1] == '\r' &&
			    s[i + 2] == '\n');
			i += 2;
			CHECK(lit <= n - i - 1);
			i += lit;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')') {
			CHECK(depth > 0);
			depth--;
			if (depth == 0)
				CHECK(i == n - 1);
		} else {
			/* CR, LF, NUL and 8-bit only inside literals. */
			CHECK(s[i] != '\0' && s[i] != '\r' && s[i] != '\n' &&
			    s[i] < 0x80);
		}
	}
	CHECK(depth == 0);
}

static void
readers(const uint8_t *blob, size_t n, size_t msg_len, const uint32_t *paths,
    size_t npaths, bool strict)
{
	const uint8_t *s;
	size_t len, d;
	struct mime_range r;
	uint64_t size;
	bool ok;

	if (mime_envelope(blob, n, &s, &len)) {
		CHECK(s >= blob && len <= n && s + len <= blob + n);
		if (strict)
			check_balanced(s, len);
	} else
		CHECK(!strict);
	for (d = 0; d < 2; d++) {
		if (mime_body(blob, n, d == 1, &s, &len)) {
			CHECK(s >= blob && s + len <= blob + n);
			if (strict)
				check_balanced(s, len);
		} else
			CHECK(!strict);
	}
	ok = mime_msg_size(blob, n, &size);
	CHECK(!strict || (ok && size == msg_len));
	if (!ok)
		return;
	for (d = 0; d <= npaths; d++) {
		if (!mime_section(blob, n, paths, d, &r))
			continue;
		CHECK(r.mime_off + r.mime_len <= size);
		CHECK(r.hdr_off + r.hdr_len <= size);
		CHECK(r.text_off + r.text_len <= size);
		CHECK(r.body_off + r.body_len <= size);
		if (strict) {
			CHECK(r.text_off + r.text_len <= r.body_off +
			    r.body_len);
			CHECK(r.text_off >= r.body_off);
			if (!r.is_message || d > 0)
				CHECK(r.mime_off + r.mime_len == r.body_off);
			CHECK(r.hdr_off + r.hdr_len == r.text_off);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INITIALIZER((size_t)64 * 1024 * 1024);
	uint32_t paths[8];
	uint8_t *msg, *copy;
	size_t i;

	msg = malloc(size > 0 ? size : 1);
	if (msg == NULL)
		return 0;
	memcpy(msg, data, size);
	CHECK(mime_parse(msg, size, &out) == 0);
	/* Paths: small numbers from the last bytes of the input. */
	for (i = 0; i < 8; i++)
		paths[i] = size > i ? (uint32_t)(data[size - 1 - i] % 5) + 1 :
		    1;
	readers(out.data, out.len, size, paths, 8, true);
	for (i = 0; i < 8; i++)
		paths[i] = 1;
	readers(out.data, out.len, size, paths, 8, true);

	/* A corrupted copy: flip bytes, and truncate. */
	copy = malloc(out.len);
	if (copy != NULL) {
		memcpy(copy, out.data, out.len);
		for (i = 0; i < 8 && i < size; i++)
			copy[(data[i] * 131u + i * 977u) % out.len] ^=
			    (uint8_t)(data[i] | 1);
		readers(copy, out.len, size, paths, 8, false);
		readers(copy, out.len / 2, size, paths, 8, false);
		free(copy);
	}
	buf_free(&out);
	free(msg);
	return 0;
}
