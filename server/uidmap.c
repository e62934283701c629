/*
 * uidmap.c: the sequence number map as runs of consecutive UIDs.
 */
#include <string.h>

#include "../lib/xalloc.h"
#include "uidmap.h"

/* Sequence numbers are 32-bit and count + 1 must still be one. */
#define UIDMAP_MAX	(UINT32_MAX - 1)

void
uidmap_init(struct uidmap *map)
{
	memset(map, 0, sizeof(*map));
}

void
uidmap_clear(struct uidmap *map)
{
	map->n = 0;
	map->total = 0;
}

void
uidmap_free(struct uidmap *map)
{
	xfree(&map->r);
	uidmap_init(map);
}

static void
uidmap_grow(struct uidmap *map, size_t need)
{
	size_t cap;

	if (need <= map->cap)
		return;
	cap = map->cap == 0 ? 4 : map->cap;
	while (cap < need)
		cap *= 2;
	map->r = xreallocarray(map->r, cap, sizeof(*map->r));
	map->cap = cap;
}

int
uidmap_load_runs(struct uidmap *map, const uint32_t *pairs, size_t npairs)
{
	uint64_t total = 0;
	size_t i;

	uidmap_clear(map);
	/* Exactly what is needed: a map loaded once is rarely split. */
	if (npairs > map->cap) {
		map->r = xreallocarray(map->r, npairs, sizeof(*map->r));
		map->cap = npairs;
	}
	for (i = 0; i < npairs; i++) {
		uint32_t first = pairs[2 * i], last = pairs[2 * i + 1];
		uint32_t prev = uidmap_last(map);	/* 0: none yet */
		uint64_t count = (uint64_t)last - first + 1;

		if (first == 0 || last < first || first <= prev)
			goto bad;
		total += count;
		if (total > UIDMAP_MAX)
			goto bad;
		if (prev != 0 && first - 1 == prev) {
			map->r[map->n - 1].count += (uint32_t)count;
			continue;
		}
		map->r[map->n].first = first;
		map->r[map->n].count = (uint32_t)count;
		map->r[map->n].before = (uint32_t)(total - count);
		map->n++;
	}
	map->total = (uint32_t)total;
	return 0;
bad:
	uidmap_clear(map);
	return -1;
}

/* The run holding sequence number seq (1 .. total). */
static size_t
uidmap_run_of_seq(const struct uidmap *map, uint32_t seq)
{
	size_t lo = 0, hi = map->n;

	/* The last run: a single-run mailbox, or the newest messages. */
	if (map->r[map->n - 1].before < seq)
		return map->n - 1;
	/* The last run whose first sequence number is <= seq. */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (map->r[mid].before < seq)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * How many runs start at or below uid, searching from run lo on: the
 * runs before lo must all start at or below it.
 */
static size_t
uidmap_runs_upto(const struct uidmap *map, size_t lo, uint32_t uid)
{
	size_t hi = map->n;

	if (hi > lo && map->r[hi - 1].first <= uid)
		return hi;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (map->r[mid].first <= uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* True if run i holds uid (which must be >= its first UID). */
static inline bool
uidmap_run_has(const struct uidmap *map, size_t i, uint32_t uid)
{
	return uid - map->r[i].first < map->r[i].count;
}

uint32_t
uidmap_uid(const struct uidmap *map, uint32_t seq)
{
	const struct uidmap_run *r;

	if (seq == 0 || seq > map->total)
		return 0;
	r = &map->r[uidmap_run_of_seq(map, seq)];
	return r->first + (seq - 1 - r->before);
}

uint32_t
uidmap_seq(const struct uidmap *map, uint32_t uid)
{
	size_t k = uidmap_runs_upto(map, 0, uid);

	if (k == 0 || !uidmap_run_has(map, k - 1, uid))
		return 0;
	return map->r[k - 1].before + (uid - map->r[k - 1].first) + 1;
}

uint32_t
uidmap_lower(const struct uidmap *map, uint32_t uid)
{
	struct uidmap_iter it;

	uidmap_iter_uid(&it, map, uid);
	return it.seq;
}

int
uidmap_append(struct uidmap *map, uint32_t uid)
{
	struct uidmap_run *l;

	if (uid == 0 || uid <= uidmap_last(map) || map->total == UIDMAP_MAX)
		return -1;
	l = map->n > 0 ? &map->r[map->n - 1] : NULL;
	if (l != NULL && uid - 1 == l->first + (l->count - 1)) {
		l->count++;
	} else {
		uidmap_grow(map, map->n + 1);
		l = &map->r[map->n++];
		l->first = uid;
		l->count = 1;
		l->before = map->total;
	}
	map->total++;
	return 0;
}

int
uidmap_remove(struct uidmap *map, uint32_t seq)
{
	struct uidmap_run *r;
	size_t i, j;
	uint32_t off;

	if (seq == 0 || seq > map->total)
		return -1;
	i = uidmap_run_of_seq(map, seq);
	r = &map->r[i];
	off = seq - 1 - r->before;
	if (r->count == 1) {
		/* The whole run goes. */
		memmove(r, r + 1, (map->n - i - 1) * sizeof(*r));
		map->n--;
		j = i;
	} else if (off == 0) {
		r->first++;
		r->count--;
		j = i + 1;
	} else if (off == r->count - 1) {
		r->count--;
		j = i + 1;
	} else {
		/* From the middle: the UIDs after it become a run of their
		 * own. */
		uidmap_grow(map, map->n + 1);
		r = &map->r[i];
		memmove(r + 2, r + 1, (map->n - i - 1) * sizeof(*r));
		map->n++;
		r[1].first = r->first + off + 1;
		r[1].count = r->count - off - 1;
		r[1].before = r->before + off + 1;
		r->count = off;
		j = i + 1;
	}
	for (; j < map->n; j++)
		map->r[j].before--;
	map->total--;
	return 0;
}

/* Places it on uid, or on the first UID above it, given the number k of
 * runs that start at or below uid. */
static void
uidmap_iter_place(struct uidmap_iter *it, size_t k, uint32_t uid)
{
	const struct uidmap *map = it->map;

	if (k > 0 && uidmap_run_has(map, k - 1, uid)) {
		it->run = k - 1;
		it->seq = map->r[k - 1].before + (uid - map->r[k - 1].first) +
		    1;
		it->uid = uid;
	} else if (k < map->n) {
		it->run = k;
		it->seq = map->r[k].before + 1;
		it->uid = map->r[k].first;
	} else {
		it->run = map->n;
		it->seq = map->total + 1;
		it->uid = 0;
	}
}

void
uidmap_iter_seq(struct uidmap_iter *it, const struct uidmap *map,
    uint32_t seq)
{
	const struct uidmap_run *r;

	it->map = map;
	if (seq == 0)
		seq = 1;
	if (seq > map->total) {
		it->run = map->n;
		it->seq = map->total + 1;
		it->uid = 0;
		return;
	}
	it->run = uidmap_run_of_seq(map, seq);
	r = &map->r[it->run];
	it->seq = seq;
	it->uid = r->first + (seq - 1 - r->before);
}

void
uidmap_iter_uid(struct uidmap_iter *it, const struct uidmap *map,
    uint32_t uid)
{
	it->map = map;
	uidmap_iter_place(it, uidmap_runs_upto(map, 0, uid), uid);
}

void
uidmap_iter_skip_on(struct uidmap_iter *it, uint32_t uid)
{
	const struct uidmap *map = it->map;
	size_t k;

	if (!uidmap_iter_valid(it) || it->uid >= uid)
		return;
	if (uidmap_run_has(map, it->run, uid)) {
		it->seq += uid - it->uid;
		it->uid = uid;
		return;
	}
	/* Past this run: usually into the next one, else a search. */
	k = it->run + 1;
	if (k < map->n && map->r[k].first <= uid)
		k = uidmap_runs_upto(map, k + 1, uid);
	uidmap_iter_place(it, k, uid);
}
