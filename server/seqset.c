/*
 * seqset.c: parsing and resolving sequence sets.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/num.h"
#include "../lib/xalloc.h"
#include "seqset.h"

static bool
seqset_number(const uint8_t *p, size_t n, uint32_t *r)
{
	if (n == 1 && p[0] == '*') {
		*r = SEQSET_STAR;
		return true;
	}
	if (n == 0 || p[0] == '0')
		return false;
	return num_parse_u32(p, n, r);
}

static void
seqset_push(struct seqset *set, uint32_t lo, uint32_t hi)
{
	if (set->n == set->cap) {
		set->cap = set->cap == 0 ? 8 : set->cap * 2;
		set->r = xreallocarray(set->r, set->cap, sizeof(*set->r));
	}
	set->r[set->n].lo = lo;
	set->r[set->n].hi = hi;
	set->n++;
}

bool
seqset_parse(const uint8_t *p, size_t n, struct seqset *set)
{
	size_t i = 0;

	memset(set, 0, sizeof(*set));
	while (i <= n) {
		size_t start = i, colon = SIZE_MAX;
		uint32_t lo, hi;

		while (i < n && p[i] != ',') {
			if (p[i] == ':') {
				if (colon != SIZE_MAX)
					goto fail;
				colon = i;
			}
			i++;
		}
		if (colon == SIZE_MAX) {
			if (!seqset_number(p + start, i - start, &lo))
				goto fail;
			hi = lo;
		} else if (!seqset_number(p + start, colon - start, &lo) ||
		    !seqset_number(p + colon + 1, i - colon - 1, &hi)) {
			goto fail;
		}
		if (set->n >= SEQSET_RANGES_MAX)
			goto fail;
		seqset_push(set, lo, hi);
		if (i == n)
			return true;
		i++;	/* the ',' */
		if (i == n)
			goto fail;
	}
fail:
	seqset_free(set);
	return false;
}

void
seqset_free(struct seqset *set)
{
	xfree(&set->r);
	set->n = set->cap = 0;
}

static int
seqset_cmp(const void *a, const void *b)
{
	const struct seqrange *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void
seqset_resolve(struct seqset *set, uint32_t star)
{
	size_t i, o = 0;

	for (i = 0; i < set->n; i++) {
		struct seqrange *r = &set->r[i];

		if (r->lo == SEQSET_STAR)
			r->lo = star;
		if (r->hi == SEQSET_STAR)
			r->hi = star;
		if (r->lo > r->hi) {
			uint32_t t = r->lo;

			r->lo = r->hi;
			r->hi = t;
		}
	}
	qsort(set->r, set->n, sizeof(*set->r), seqset_cmp);
	for (i = 0; i < set->n; i++) {
		if (o > 0 && (set->r[o - 1].hi == UINT32_MAX ||
		    set->r[i].lo <= set->r[o - 1].hi + 1)) {
			if (set->r[i].hi > set->r[o - 1].hi)
				set->r[o - 1].hi = set->r[i].hi;
			continue;
		}
		set->r[o++] = set->r[i];
	}
	set->n = o;
}

bool
seqset_contains(const struct seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v < set->r[mid].lo)
			hi = mid;
		else if (v > set->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static void
seqset_add_ref(struct msgref **refs, size_t *n, size_t *cap, uint32_t seq,
    uint32_t uid)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		*refs = xreallocarray(*refs, *cap, sizeof(**refs));
	}
	(*refs)[*n].seq = seq;
	(*refs)[*n].uid = uid;
	(*n)++;
}

bool
seqset_refs(const struct session *s, struct seqset *set, bool uid,
    struct msgref **refs_r, size_t *n_r, const char **why_r)
{
	const struct uidmap *map = &s->uidmap;
	struct uidmap_iter it;
	struct msgref *refs = NULL;
	size_t n = 0, cap = 0, i;

	*refs_r = NULL;
	*n_r = 0;
	if (uid) {
		seqset_resolve(set, uidmap_last(map));
		/* The ranges ascend: one walk, skipping to each. */
		uidmap_iter_uid(&it, map, set->n > 0 ? set->r[0].lo : 1);
		for (i = 0; i < set->n; i++) {
			uidmap_iter_skip(&it, set->r[i].lo);
			for (; uidmap_iter_valid(&it) &&
			    it.uid <= set->r[i].hi; uidmap_iter_next(&it))
				seqset_add_ref(&refs, &n, &cap, it.seq,
				    it.uid);
		}
	} else {
		if (uidmap_count(map) == 0) {
			*why_r = "No messages in the mailbox";
			return false;
		}
		seqset_resolve(set, uidmap_count(map));
		if (set->n > 0 && set->r[set->n - 1].hi > uidmap_count(map)) {
			*why_r = "Sequence number beyond the last message";
			return false;
		}
		for (i = 0; i < set->n; i++) {
			uint32_t q;

			uidmap_iter_seq(&it, map, set->r[i].lo);
			for (q = set->r[i].lo; q <= set->r[i].hi; q++) {
				seqset_add_ref(&refs, &n, &cap, q, it.uid);
				uidmap_iter_next(&it);
			}
		}
	}
	*refs_r = refs;
	*n_r = n;
	return true;
}

int
seqset_format(struct buf *out, const uint32_t *uids, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (i > 0 && buf_addc(out, ',') < 0)
			return -1;
		if (j == i ? buf_addf(out, "%u", uids[i]) < 0 :
		    buf_addf(out, "%u:%u", uids[i], uids[j]) < 0)
			return -1;
		i = j + 1;
	}
	return 0;
}
