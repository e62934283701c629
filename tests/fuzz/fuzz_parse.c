/*
 * fuzz_parse.c: libFuzzer target for the command tokenizer (server/parse.c).
 *
 * The first 4 bytes configure the run: a seed for the split sizes, the
 * limits, allow_nul and whether to abort commands after literal
 * announcements. The rest is fed in pieces, each copied into its own
 * exactly-sized allocation so that AddressSanitizer catches any token that
 * points outside the input or the parser's memory. Checked on every call:
 * used <= len, MORE only when all was used, progress, literal data inside
 * the piece, literal sizes add up, list depths match, tag at most 64 bytes.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *       server/parse.c lib/[a-z]*.c tests/fuzz/fuzz_parse.c -o /tmp/fuzz_parse
 *   /tmp/fuzz_parse -dict=tests/fuzz/imap.dict tests/fuzz/corpus/parse
 */
#include <stdlib.h>
#include <string.h>

#include "../../server/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static uint32_t
next_rand(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

struct state {
	struct parser *p;
	struct parse_limits lim;
	bool abort_sync, abort_mid;
	bool in_literal;
	uint64_t lit_size, lit_seen;
	unsigned depth;
	unsigned sum;		/* forces reads of token data */
	unsigned tokens;
};

static void
check_token(struct state *st, const uint8_t *in, size_t len,
    const struct parse_token *t)
{
	size_t i;

	switch (t->type) {
	case PARSE_TOK_ATOM:
	case PARSE_TOK_QUOTED:
		CHECK(!st->in_literal);
		CHECK(t->len <= st->lim.line_max);
		CHECK(t->data != NULL || t->len == 0);
		CHECK(t->type == PARSE_TOK_QUOTED || t->len > 0);
		if (t->index == 0 && t->type == PARSE_TOK_ATOM)
			CHECK(t->len <= 64);
		break;
	case PARSE_TOK_LITERAL_BEGIN:
		CHECK(!st->in_literal);
		CHECK(t->literal_size <= st->lim.literal_max);
		st->in_literal = true;
		st->lit_size = t->literal_size;
		st->lit_seen = 0;
		break;
	case PARSE_TOK_LITERAL_DATA:
		CHECK(st->in_literal);
		CHECK(t->len > 0);
		CHECK(t->data >= in && t->data + t->len <= in + len);
		st->lit_seen += t->len;
		CHECK(st->lit_seen <= st->lit_size);
		break;
	case PARSE_TOK_LITERAL_END:
		CHECK(st->in_literal);
		CHECK(st->lit_seen == st->lit_size);
		st->in_literal = false;
		break;
	case PARSE_TOK_LIST_OPEN:
		CHECK(!st->in_literal);
		CHECK(t->depth == st->depth);
		st->depth++;
		CHECK(st->depth <= st->lim.depth_max);
		break;
	case PARSE_TOK_LIST_CLOSE:
		CHECK(!st->in_literal && st->depth > 0);
		st->depth--;
		CHECK(t->depth == st->depth);
		break;
	case PARSE_TOK_EOL:
		CHECK(!st->in_literal && st->depth == 0);
		CHECK(parse_at_command_start(st->p));
		break;
	default:
		abort();
	}
	if (t->type == PARSE_TOK_ATOM || t->type == PARSE_TOK_QUOTED ||
	    t->type == PARSE_TOK_LITERAL_DATA) {
		for (i = 0; i < t->len; i++)
			st->sum += t->data[i];
	}
	if (t->type != PARSE_TOK_LITERAL_DATA &&
	    t->type != PARSE_TOK_LITERAL_END &&
	    t->type != PARSE_TOK_LIST_CLOSE && t->type != PARSE_TOK_EOL)
		CHECK(t->index < st->lim.tokens_max);
}

/* One piece of input, until the parser asks for more. */
static void
feed(struct state *st, const uint8_t *in, size_t len)
{
	size_t pos = 0;
	unsigned stalls = 0;

	for (;;) {
		struct parse_token t;
		enum parse_result r;
		size_t used = (size_t)-1;

		r = parse_next(st->p, in + pos, len - pos, &used, &t);
		CHECK(used <= len - pos);
		CHECK(strlen(parse_tag(st->p)) <= 64);
		if (r == PARSE_MORE) {
			CHECK(used == len - pos);
			return;
		}
		pos += used;
		stalls = used == 0 ? stalls + 1 : 0;
		CHECK(stalls <= 3);
		if (r == PARSE_ERROR) {
			CHECK(parse_errcode(st->p) != PARSE_ERR_NONE);
			CHECK(parse_error(st->p)[0] != '\0');
			CHECK(!parse_at_command_start(st->p));
			st->in_literal = false;
			st->depth = 0;
			continue;
		}
		CHECK(r == PARSE_TOKEN);
		check_token(st, in, len, &t);
		st->tokens++;
		if (t.type == PARSE_TOK_EOL) {
			st->depth = 0;
		} else if (t.type == PARSE_TOK_LITERAL_BEGIN &&
		    ((st->abort_sync && !t.literal_nonsync) ||
		    (st->abort_mid && (st->tokens & 3) == 0))) {
			parse_abort_command(st->p);
			st->in_literal = false;
			st->depth = 0;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state st;
	uint32_t seed;
	size_t pos;

	if (size < 4)
		return 0;
	memset(&st, 0, sizeof(st));
	seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 | 0x10000u;
	st.lim.line_max = data[2] & 0x80 ? 8192 : 1 + (data[2] & 0x7f);
	st.lim.literal_max = data[3] & 0x40 ? 1u << 20 : (data[3] & 0x3f);
	st.lim.depth_max = 1 + (data[2] & 7);
	st.lim.tokens_max = data[3] & 0x80 ? 1000 : 2 + (data[2] & 0x1f);
	st.abort_sync = data[1] & 0x80;
	st.abort_mid = data[1] & 0x40;
	st.p = parse_new(&st.lim);
	parse_set_allow_nul(st.p, data[3] & 0x20);
	data += 4;
	size -= 4;
	for (pos = 0; pos < size;) {
		uint32_t r = next_rand(&seed);
		size_t n = (r & 0x100) ? r % 4 : r % 64;
		uint8_t *piece;

		if ((r & 0xf000) == 0)
			n = size - pos;
		if (n > size - pos)
			n = size - pos;
		piece = malloc(n > 0 ? n : 1);
		CHECK(piece != NULL);
		memcpy(piece, data + pos, n);
		feed(&st, piece, n);
		free(piece);
		pos += n;
	}
	/* An empty read at the end flushes a pending LITERAL_END. */
	feed(&st, (const uint8_t *)"", 0);
	parse_free(&st.p);
	CHECK(st.p == NULL);
	return (int)(st.sum & 0);
}
