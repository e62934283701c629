/*
 * test_uidmap.c: server/uidmap.c, the sequence number map kept as runs,
 * against hand-worked cases at the edges of runs and against a plain
 * array under a fixed-seed random mix of appends, removals and lookups.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/uidmap.h"

/*
 * Prototypes for -Wmissing-prototypes. "extern" keeps gen_registry.sh,
 * which registers lines starting "void test_", from counting them twice.
 */
extern void test_uidmap_empty(void);
extern void test_uidmap_load_runs(void);
extern void test_uidmap_load_joins_and_refuses(void);
extern void test_uidmap_lookups_at_run_edges(void);
extern void test_uidmap_append(void);
extern void test_uidmap_remove_from_runs(void);
extern void test_uidmap_remove_until_empty(void);
extern void test_uidmap_iterator(void);
extern void test_uidmap_random_against_array(void);

/* Checks every lookup of map against the n ascending UIDs of a. */
static void
uidmap_check(const struct uidmap *map, const uint32_t *a, size_t n)
{
	struct uidmap_iter it;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(uidmap_count(map), n);
	CU_ASSERT_EQUAL(uidmap_last(map), n > 0 ? a[n - 1] : 0);
	CU_ASSERT_EQUAL(uidmap_uid(map, 0), 0);
	CU_ASSERT_EQUAL(uidmap_uid(map, (uint32_t)n + 1), 0);
	uidmap_iter_seq(&it, map, 1);
	for (i = 0; i < n; i++) {
		uint32_t seq = (uint32_t)i + 1;

		CU_ASSERT_EQUAL(uidmap_uid(map, seq), a[i]);
		CU_ASSERT_EQUAL(uidmap_seq(map, a[i]), seq);
		CU_ASSERT_EQUAL(uidmap_lower(map, a[i]), seq);
		/* The UID just below is absent unless it is the previous
		 * one; either way the lower bound is this message or it. */
		if (i == 0 || a[i - 1] != a[i] - 1) {
			CU_ASSERT_EQUAL(uidmap_seq(map, a[i] - 1), 0);
			CU_ASSERT_EQUAL(uidmap_lower(map, a[i] - 1), seq);
		}
		CU_ASSERT_TRUE_FATAL(uidmap_iter_valid(&it));
		CU_ASSERT_EQUAL(it.seq, seq);
		CU_ASSERT_EQUAL(it.uid, a[i]);
		uidmap_iter_next(&it);
	}
	CU_ASSERT_FALSE(uidmap_iter_valid(&it));
	CU_ASSERT_EQUAL(it.seq, n + 1);
	if (n > 0) {
		CU_ASSERT_EQUAL(uidmap_seq(map, a[n - 1] + 1), 0);
		CU_ASSERT_EQUAL(uidmap_lower(map, a[n - 1] + 1), n + 1);
	}
}

void test_uidmap_empty(void)
{
	struct uidmap map = UIDMAP_INITIALIZER;
	struct uidmap_iter it;

	uidmap_check(&map, NULL, 0);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 1), 0);
	CU_ASSERT_EQUAL(uidmap_lower(&map, 1), 1);
	CU_ASSERT_EQUAL(uidmap_remove(&map, 1), -1);
	uidmap_iter_uid(&it, &map, 5);
	CU_ASSERT_FALSE(uidmap_iter_valid(&it));
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, NULL, 0), 0);
	uidmap_check(&map, NULL, 0);
	uidmap_free(&map);
}

void test_uidmap_load_runs(void)
{
	/* 3:5, 9, 20:22 */
	static const uint32_t pairs[] = { 3, 5, 9, 9, 20, 22 };
	static const uint32_t a[] = { 3, 4, 5, 9, 20, 21, 22 };
	struct uidmap map;

	uidmap_init(&map);
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, pairs, 3), 0);
	CU_ASSERT_EQUAL(map.n, 3);
	uidmap_check(&map, a, N_ELEMENTS(a));
	/* Loading again replaces what was there. */
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, pairs, 1), 0);
	uidmap_check(&map, a, 3);
	uidmap_clear(&map);
	uidmap_check(&map, NULL, 0);
	uidmap_free(&map);
	CU_ASSERT_PTR_NULL(map.r);
}

void test_uidmap_load_joins_and_refuses(void)
{
	static const uint32_t adjacent[] = { 1, 3, 4, 6, 8, 8 };
	static const uint32_t a[] = { 1, 2, 3, 4, 5, 6, 8 };
	static const uint32_t overlap[] = { 1, 5, 5, 6 };
	static const uint32_t backwards[] = { 10, 12, 1, 2 };
	static const uint32_t reversed[] = { 5, 4 };
	static const uint32_t zero[] = { 0, 4 };
	static const uint32_t whole[] = { 1, UINT32_MAX };
	static const uint32_t top[] = { UINT32_MAX - 1, UINT32_MAX };
	struct uidmap map = UIDMAP_INITIALIZER;

	CU_ASSERT_EQUAL(uidmap_load_runs(&map, adjacent, 3), 0);
	CU_ASSERT_EQUAL(map.n, 2);
	uidmap_check(&map, a, N_ELEMENTS(a));
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, overlap, 2), -1);
	uidmap_check(&map, NULL, 0);
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, backwards, 2), -1);
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, reversed, 1), -1);
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, zero, 1), -1);
	/* 2^32 - 1 messages: one too many for count + 1 to fit. */
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, whole, 1), -1);
	uidmap_check(&map, NULL, 0);
	/* The highest UID works, and nothing can follow it. */
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, top, 1), 0);
	CU_ASSERT_EQUAL(uidmap_seq(&map, UINT32_MAX), 2);
	CU_ASSERT_EQUAL(uidmap_uid(&map, 2), UINT32_MAX);
	CU_ASSERT_EQUAL(uidmap_last(&map), UINT32_MAX);
	CU_ASSERT_EQUAL(uidmap_append(&map, UINT32_MAX), -1);
	uidmap_free(&map);
}

void test_uidmap_lookups_at_run_edges(void)
{
	/* 10:19, 30, 40:41, 100:100000 */
	static const uint32_t pairs[] = { 10, 19, 30, 30, 40, 41, 100, 100000 };
	struct uidmap map = UIDMAP_INITIALIZER;
	struct uidmap_iter it;

	CU_ASSERT_EQUAL(uidmap_load_runs(&map, pairs, 4), 0);
	CU_ASSERT_EQUAL(uidmap_count(&map), 10 + 1 + 2 + 99901);
	CU_ASSERT_EQUAL(uidmap_uid(&map, 1), 10);
	CU_ASSERT_EQUAL(uidmap_uid(&map, 10), 19);
	CU_ASSERT_EQUAL(uidmap_uid(&map, 11), 30);
	CU_ASSERT_EQUAL(uidmap_uid(&map, 12), 40);
	CU_ASSERT_EQUAL(uidmap_uid(&map, 13), 41);
	CU_ASSERT_EQUAL(uidmap_uid(&map, 14), 100);
	CU_ASSERT_EQUAL(uidmap_uid(&map, uidmap_count(&map)), 100000);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 9), 0);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 10), 1);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 19), 10);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 20), 0);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 29), 0);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 30), 11);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 31), 0);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 41), 13);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 99), 0);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 100), 14);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 50000), 14 + 49900);
	CU_ASSERT_EQUAL(uidmap_seq(&map, 100001), 0);
	CU_ASSERT_EQUAL(uidmap_lower(&map, 1), 1);
	CU_ASSERT_EQUAL(uidmap_lower(&map, 20), 11);
	CU_ASSERT_EQUAL(uidmap_lower(&map, 31), 12);
	CU_ASSERT_EQUAL(uidmap_lower(&map, 42), 14);
	CU_ASSERT_EQUAL(uidmap_lower(&map, 100001), uidmap_count(&map) + 1);
	CU_ASSERT_EQUAL(uidmap_lower(&map, UINT32_MAX),
	    uidmap_count(&map) + 1);
	/* Skipping forward lands on the next UID held, never goes back. */
	uidmap_iter_uid(&it, &map, 0);
	CU_ASSERT_EQUAL(it.seq, 1);
	CU_ASSERT_EQUAL(it.uid, 10);
	uidmap_iter_skip(&it, 15);
	CU_ASSERT_EQUAL(it.seq, 6);
	CU_ASSERT_EQUAL(it.uid, 15);
	uidmap_iter_skip(&it, 12);
	CU_ASSERT_EQUAL(it.uid, 15);
	uidmap_iter_skip(&it, 20);
	CU_ASSERT_EQUAL(it.seq, 11);
	CU_ASSERT_EQUAL(it.uid, 30);
	uidmap_iter_skip(&it, 41);
	CU_ASSERT_EQUAL(it.seq, 13);
	CU_ASSERT_EQUAL(it.uid, 41);
	uidmap_iter_skip(&it, 99999);
	CU_ASSERT_EQUAL(it.seq, uidmap_count(&map) - 1);
	CU_ASSERT_EQUAL(it.uid, 99999);
	uidmap_iter_skip(&it, 100001);
	CU_ASSERT_FALSE(uidmap_iter_valid(&it));
	CU_ASSERT_EQUAL(it.seq, uidmap_count(&map) + 1);
	uidmap_iter_seq(&it, &map, 13);
	CU_ASSERT_EQUAL(it.uid, 41);
	uidmap_iter_next(&it);
	CU_ASSERT_EQUAL(it.seq, 14);
	CU_ASSERT_EQUAL(it.uid, 100);
	uidmap_iter_seq(&it, &map, uidmap_count(&map) + 1);
	CU_ASSERT_FALSE(uidmap_iter_valid(&it));
	uidmap_free(&map);
}

void test_uidmap_append(void)
{
	static const uint32_t a[] = { 5, 6, 7, 9, 10, 20 };
	struct uidmap map = UIDMAP_INITIALIZER;
	size_t i;

	for (i = 0; i < N_ELEMENTS(a); i++)
		CU_ASSERT_EQUAL(uidmap_append(&map, a[i]), 0);
	/* 5:7, 9:10, 20 */
	CU_ASSERT_EQUAL(map.n, 3);
	uidmap_check(&map, a, N_ELEMENTS(a));
	/* Not above the last: refused, nothing changes. */
	CU_ASSERT_EQUAL(uidmap_append(&map, 20), -1);
	CU_ASSERT_EQUAL(uidmap_append(&map, 8), -1);
	CU_ASSERT_EQUAL(uidmap_append(&map, 0), -1);
	uidmap_check(&map, a, N_ELEMENTS(a));
	/* After a load, appends extend the last run. */
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, (const uint32_t[]){ 1, 3 }, 1),
	    0);
	CU_ASSERT_EQUAL(uidmap_append(&map, 4), 0);
	CU_ASSERT_EQUAL(map.n, 1);
	CU_ASSERT_EQUAL(uidmap_append(&map, 6), 0);
	CU_ASSERT_EQUAL(map.n, 2);
	uidmap_check(&map, (const uint32_t[]){ 1, 2, 3, 4, 6 }, 5);
	uidmap_free(&map);
}

void test_uidmap_remove_from_runs(void)
{
	/* 1:5, 8, 10:12 */
	static const uint32_t pairs[] = { 1, 5, 8, 8, 10, 12 };
	struct uidmap map = UIDMAP_INITIALIZER;

	CU_ASSERT_EQUAL(uidmap_load_runs(&map, pairs, 3), 0);
	/* The start of a run. */
	CU_ASSERT_EQUAL(uidmap_remove(&map, 1), 0);
	uidmap_check(&map, (const uint32_t[]){ 2, 3, 4, 5, 8, 10, 11, 12 },
	    8);
	CU_ASSERT_EQUAL(map.n, 3);
	/* The middle: the run splits. */
	CU_ASSERT_EQUAL(uidmap_remove(&map, 2), 0);
	uidmap_check(&map, (const uint32_t[]){ 2, 4, 5, 8, 10, 11, 12 }, 7);
	CU_ASSERT_EQUAL(map.n, 4);
	/* The end of a run. */
	CU_ASSERT_EQUAL(uidmap_remove(&map, 3), 0);
	uidmap_check(&map, (const uint32_t[]){ 2, 4, 8, 10, 11, 12 }, 6);
	CU_ASSERT_EQUAL(map.n, 4);
	/* A whole one-message run. */
	CU_ASSERT_EQUAL(uidmap_remove(&map, 3), 0);
	uidmap_check(&map, (const uint32_t[]){ 2, 4, 10, 11, 12 }, 5);
	CU_ASSERT_EQUAL(map.n, 3);
	/* The last message, then the first one-message run. */
	CU_ASSERT_EQUAL(uidmap_remove(&map, 5), 0);
	uidmap_check(&map, (const uint32_t[]){ 2, 4, 10, 11 }, 4);
	CU_ASSERT_EQUAL(uidmap_remove(&map, 1), 0);
	uidmap_check(&map, (const uint32_t[]){ 4, 10, 11 }, 3);
	CU_ASSERT_EQUAL(map.n, 2);
	CU_ASSERT_EQUAL(uidmap_remove(&map, 4), -1);
	CU_ASSERT_EQUAL(uidmap_remove(&map, 0), -1);
	uidmap_check(&map, (const uint32_t[]){ 4, 10, 11 }, 3);
	/* Appending after removals still extends the last run. */
	CU_ASSERT_EQUAL(uidmap_append(&map, 12), 0);
	CU_ASSERT_EQUAL(map.n, 2);
	uidmap_check(&map, (const uint32_t[]){ 4, 10, 11, 12 }, 4);
	uidmap_free(&map);
}

void test_uidmap_remove_until_empty(void)
{
	static const uint32_t pairs[] = { 1, 4, 7, 9 };
	struct uidmap map = UIDMAP_INITIALIZER;
	uint32_t n;

	/* From the front, from the back, then from the middle. */
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, pairs, 2), 0);
	for (n = uidmap_count(&map); n > 0; n--)
		CU_ASSERT_EQUAL(uidmap_remove(&map, 1), 0);
	uidmap_check(&map, NULL, 0);
	CU_ASSERT_EQUAL(map.n, 0);
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, pairs, 2), 0);
	for (n = uidmap_count(&map); n > 0; n--)
		CU_ASSERT_EQUAL(uidmap_remove(&map, n), 0);
	uidmap_check(&map, NULL, 0);
	CU_ASSERT_EQUAL(uidmap_load_runs(&map, pairs, 2), 0);
	for (n = uidmap_count(&map); n > 0; n--)
		CU_ASSERT_EQUAL(uidmap_remove(&map, (n + 1) / 2), 0);
	uidmap_check(&map, NULL, 0);
	CU_ASSERT_EQUAL(map.n, 0);
	/* An emptied map takes new messages. */
	CU_ASSERT_EQUAL(uidmap_append(&map, 3), 0);
	uidmap_check(&map, (const uint32_t[]){ 3 }, 1);
	uidmap_free(&map);
}

void test_uidmap_iterator(void)
{
	/* 2:3, 6, 8:10 */
	static const uint32_t pairs[] = { 2, 3, 6, 6, 8, 10 };
	static const uint32_t a[] = { 2, 3, 6, 8, 9, 10 };
	struct uidmap map = UIDMAP_INITIALIZER;
	struct uidmap_iter it;
	uint32_t uid;
	size_t k;

	CU_ASSERT_EQUAL(uidmap_load_runs(&map, pairs, 3), 0);
	/* From every UID, the walk visits exactly the UIDs at or above. */
	for (uid = 0; uid <= 12; uid++) {
		for (k = 0; k < N_ELEMENTS(a) && a[k] < uid; k++)
			;
		for (uidmap_iter_uid(&it, &map, uid); uidmap_iter_valid(&it);
		    uidmap_iter_next(&it), k++) {
			CU_ASSERT_TRUE_FATAL(k < N_ELEMENTS(a));
			CU_ASSERT_EQUAL(it.uid, a[k]);
			CU_ASSERT_EQUAL(it.seq, k + 1);
		}
		CU_ASSERT_EQUAL(k, N_ELEMENTS(a));
		CU_ASSERT_EQUAL(it.seq, N_ELEMENTS(a) + 1);
	}
	/* Skipping from every position to every UID. */
	for (k = 1; k <= N_ELEMENTS(a); k++) {
		for (uid = 0; uid <= 12; uid++) {
			size_t j;

			uidmap_iter_seq(&it, &map, (uint32_t)k);
			uidmap_iter_skip(&it, uid);
			for (j = k - 1; j < N_ELEMENTS(a) && a[j] < uid; j++)
				;
			CU_ASSERT_EQUAL(it.seq, j + 1);
			CU_ASSERT_EQUAL(it.uid, j < N_ELEMENTS(a) ? a[j] : 0);
		}
	}
	uidmap_free(&map);
}

/* A small deterministic generator, so that a failure repeats. */
static uint32_t
uidmap_rand(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

void test_uidmap_random_against_array(void)
{
	enum { MAXN = 600, ROUNDS = 3000 };
	static uint32_t a[MAXN];
	struct uidmap map = UIDMAP_INITIALIZER;
	uint32_t state = 20261124, next = 1;
	size_t n = 0, round;

	for (round = 0; round < ROUNDS; round++) {
		uint32_t r = uidmap_rand(&state) % 100;

		if (r < 2) {
			/* Reload from the array's own runs. */
			uint32_t pairs[2 * MAXN];
			size_t np = 0, i = 0;

			while (i < n) {
				size_t j = i;

				while (j + 1 < n && a[j + 1] == a[j] + 1)
					j++;
				pairs[2 * np] = a[i];
				pairs[2 * np + 1] = a[j];
				np++;
				i = j + 1;
			}
			CU_ASSERT_EQUAL_FATAL(uidmap_load_runs(&map, pairs, np),
			    0);
		} else if (r < 50 && n < MAXN) {
			/* Mostly the next UID, sometimes after a gap. */
			next += uidmap_rand(&state) % 4 == 0 ?
			    1 + uidmap_rand(&state) % 5 : 0;
			CU_ASSERT_EQUAL_FATAL(uidmap_append(&map, next), 0);
			a[n++] = next++;
		} else if (n > 0) {
			size_t i = uidmap_rand(&state) % n;

			CU_ASSERT_EQUAL_FATAL(uidmap_remove(&map,
			    (uint32_t)i + 1), 0);
			memmove(&a[i], &a[i + 1], (n - i - 1) * sizeof(a[0]));
			n--;
		}
		if (round % 50 == 0 || n < 20)
			uidmap_check(&map, a, n);
		else
			CU_ASSERT_EQUAL_FATAL(uidmap_count(&map), n);
	}
	uidmap_check(&map, a, n);
	uidmap_free(&map);
}
