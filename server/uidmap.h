/*
 * uidmap.h: a selected session's map from sequence numbers to UIDs
 * (RFC 3501 §2.3.1.1, §2.3.1.2), kept as runs of consecutive UIDs.
 *
 * A mailbox nobody has expunged from is one run, whatever its size, and
 * each expunge in the middle of a run adds one more: memory and the cost of
 * building the map follow the runs, not the messages. Lookups either way
 * are a binary search over the runs, with the last run tried first (new
 * messages, and a mailbox that is one run, need no search). Walks over
 * many messages use an iterator that steps within a run.
 */
#ifndef REFIMAPD_UIDMAP_H
#define REFIMAPD_UIDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/compat.h"

struct uidmap_run {
	uint32_t first;		/* its lowest UID */
	uint32_t count;		/* UIDs first .. first + count - 1 */
	uint32_t before;	/* messages in the runs before it: its first
				   sequence number is before + 1 */
};

struct uidmap {
	struct uidmap_run *r;	/* ascending, none empty, none adjacent */
	size_t n, cap;
	uint32_t total;		/* messages, the highest sequence number */
};

/*
 * A position in the map: sequence number seq holds UID uid and lies in run
 * `run`. Past the last message, seq is total + 1, run is n and uid 0.
 */
struct uidmap_iter {
	const struct uidmap *map;
	size_t run;
	uint32_t seq, uid;
};

#define UIDMAP_INITIALIZER	{ NULL, 0, 0, 0 }

void uidmap_init(struct uidmap *map);
/* Empties the map and keeps its memory. */
void uidmap_clear(struct uidmap *map);
/* Releases the memory; the map is then empty and may be used again. */
void uidmap_free(struct uidmap *map);

/*
 * Replaces the map by npairs runs given as [first, last] pairs (pairs[2i],
 * pairs[2i + 1]), as store_mbox_uid_runs gives them; adjacent runs are
 * joined. Returns -1, leaving the map empty, if the pairs are not
 * ascending and disjoint, contain UID 0 or hold more than 2^32 - 1 UIDs.
 */
int uidmap_load_runs(struct uidmap *map, const uint32_t *pairs,
    size_t npairs) ATTR_WUR;

static inline uint32_t
uidmap_count(const struct uidmap *map)
{
	return map->total;
}

/* The highest UID, 0 when the map is empty. */
static inline uint32_t
uidmap_last(const struct uidmap *map)
{
	const struct uidmap_run *l;

	if (map->n == 0)
		return 0;
	l = &map->r[map->n - 1];
	return l->first + l->count - 1;
}

/* The UID of sequence number seq (1 .. count), 0 if out of range. */
uint32_t uidmap_uid(const struct uidmap *map, uint32_t seq);
/* The sequence number of uid, 0 if the map does not hold it. */
uint32_t uidmap_seq(const struct uidmap *map, uint32_t uid);
/* The first sequence number whose UID is >= uid; count + 1 if none. */
uint32_t uidmap_lower(const struct uidmap *map, uint32_t uid);

/*
 * Adds uid as the last message. It must be above every UID held: returns
 * -1 and changes nothing otherwise (or if the map is full).
 */
int uidmap_append(struct uidmap *map, uint32_t uid);
/*
 * Removes sequence number seq (1 .. count), as an expunge does: later
 * messages move down by one. Costs up to the number of runs. Returns -1
 * if seq is out of range.
 */
int uidmap_remove(struct uidmap *map, uint32_t seq);

/* Positions it at sequence number seq (1 .. count + 1; more is the end). */
void uidmap_iter_seq(struct uidmap_iter *it, const struct uidmap *map,
    uint32_t seq);
/* Positions it at the first message whose UID is >= uid (or the end). */
void uidmap_iter_uid(struct uidmap_iter *it, const struct uidmap *map,
    uint32_t uid);
/* True while it stands on a message. */
static inline bool
uidmap_iter_valid(const struct uidmap_iter *it)
{
	return it->run < it->map->n;
}

/* The out-of-line part of uidmap_iter_skip (which see). */
void uidmap_iter_skip_on(struct uidmap_iter *it, uint32_t uid);

/*
 * Moves it forward, never back, to the first message whose UID is >= uid:
 * a walk in UID order pays for the runs it passes, not the messages. When
 * it already stands there (a walk over the same messages) this costs a
 * comparison.
 */
static inline void
uidmap_iter_skip(struct uidmap_iter *it, uint32_t uid)
{
	if (uidmap_iter_valid(it) && it->uid < uid)
		uidmap_iter_skip_on(it, uid);
}

/* Steps to the next message (or the end). it must be valid. */
static inline void
uidmap_iter_next(struct uidmap_iter *it)
{
	const struct uidmap_run *r = &it->map->r[it->run];

	it->seq++;
	if (it->seq <= r->before + r->count) {
		it->uid++;
		return;
	}
	if (++it->run < it->map->n)
		it->uid = r[1].first;
	else
		it->uid = 0;
}

#endif
