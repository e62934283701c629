/*
 * mailsrc.h: reading and writing mail files (mbox, Maildir, .eml), with no
 * dependency on the store: pure parsing and formatting of bytes.
 *
 * Line ends. IMAP messages are CRLF; files on disk are LF. Reading, every
 * LF that is not already preceded by CR becomes CRLF; an existing CRLF
 * stays as it is, and a CR that is not followed by LF (a bare CR) is kept
 * as a bare CR. Writing, every CRLF becomes LF and any other CR is kept.
 * So a file with LF line ends makes the round trip byte for byte; a file
 * that had CRLF line ends comes back with LF; bare CRs survive both ways,
 * except a stored CR right before CRLF: written as CR LF, it reads back as
 * one CRLF. A message stored without a final line end gets one in mbox.
 *
 * mbox. A message begins with a "From SENDER DATE" line (DATE as
 * asctime(3), "Www Mmm dd hh:mm:ss yyyy", optionally with a numeric zone
 * "+hhmm" after the year or a zone before it; no zone means UTC) and ends
 * before the next one; the empty line before the next "From " line belongs
 * to the file, not the message. Only a "From " line with such a date starts
 * a message. Quoting of body lines that begin with "From ":
 *   mboxrd: writing adds one '>' to every line matching ^>*From , reading
 *           removes one from every line matching ^>+From  (reversible);
 *   mboxo:  writing adds '>' to ^From , reading removes it from ^>From 
 *           (not reversible for lines that began with ">From ").
 * Flags travel in Status: (R = \Seen; O = old, ignored), X-Status:
 * (A \Answered, F \Flagged, T \Draft, D \Deleted) and X-Keywords: (names
 * separated by spaces or commas) headers: reading removes them from the
 * header (with their continuation lines), writing adds them, in that order,
 * at the end of the header and only when they are not empty ("Status: RO",
 * "X-Status: AFTD" letters in that order, "X-Keywords: a b").
 *
 * Maildir. Flags are the info part of the file name ":2,LETTERS":
 * D \Draft, F \Flagged, P passed (keyword $Forwarded), R \Answered,
 * S \Seen, T \Deleted; lowercase a..z are Dovecot keywords, numbered in
 * the folder's dovecot-keywords file ("N name" lines, 0 = a). Maildir++
 * folders are the root's subdirectories ".a.b" for the mailbox "a/b".
 */
#ifndef REFIMAPD_MAILSRC_H
#define REFIMAPD_MAILSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "compat.h"

/* The IMAP system flags, with the same values as the store's. */
#define MAILSRC_SEEN		0x01u
#define MAILSRC_ANSWERED	0x02u
#define MAILSRC_FLAGGED		0x04u
#define MAILSRC_DELETED		0x08u
#define MAILSRC_DRAFT		0x10u

#define MAILSRC_KEYWORDS_MAX	64
#define MAILSRC_KEYWORD_LEN_MAX	128
/* Maildir "P" (passed) has no IMAP system flag: this keyword stands in. */
#define MAILSRC_KW_FORWARDED	"$Forwarded"

/* Flags and keywords of one message. */
struct mailsrc_meta {
	uint32_t flags;			/* MAILSRC_* */
	size_t nkeywords;
	char *keywords[MAILSRC_KEYWORDS_MAX];	/* owned, distinct */
};

/* Adds a keyword (copied) unless present (case-insensitive), too long,
 * not an atom, or the list is full (false then). */
bool mailsrc_meta_add_keyword(struct mailsrc_meta *m, const char *kw,
    size_t n);
void mailsrc_meta_free(struct mailsrc_meta *m);

/* ---- line ends ---- */

/* Appends in with every LF not preceded by CR made CRLF (*cr: whether the
 * byte before in was CR; updated, so chunks may follow). 0 or -1 (full). */
int mailsrc_lf_to_crlf(struct buf *out, const uint8_t *in, size_t n,
    bool *cr) ATTR_WUR;
/* Appends in with every CRLF made LF (*cr: a CR is pending from the
 * previous chunk; call with in == NULL, n == 0 at the end). */
int mailsrc_crlf_to_lf(struct buf *out, const uint8_t *in, size_t n,
    bool *cr) ATTR_WUR;

/* ---- headers ---- */

/* Length of the header section of msg, including the empty line that ends
 * it (LF or CRLF); all of msg when it has none. */
size_t mailsrc_header_len(const uint8_t *msg, size_t n);
/* The first header field called name (case-insensitive), unfolded, with
 * blanks at both ends removed, into out (replacing its contents); false
 * when there is none. */
bool mailsrc_header_get(const uint8_t *msg, size_t n, const char *name,
    struct buf *out);

/* ---- mbox ---- */

/*
 * Parses a "From " line (without its line end): true with the time and
 * zone (minutes east of UTC), false if it is not a valid From_ line.
 */
bool mailsrc_mbox_from_parse(const uint8_t *line, size_t n, int64_t *t_r,
    int32_t *tzoff_r);

/* One message of an mbox held in memory. */
struct mailsrc_mbox_msg {
	const uint8_t *from;	/* the "From " line, without line end */
	size_t from_len;
	const uint8_t *data;	/* the message as in the file (quoted) */
	size_t len;
	int64_t time;
	int32_t tzoff;
};

/*
 * Iterates over the messages of an mbox in p[0..n): *pos starts at 0.
 * 1 with *m filled, 0 at the end, -1 when the data does not begin with a
 * valid From_ line (not an mbox).
 */
int mailsrc_mbox_next(const uint8_t *p, size_t n, size_t *pos,
    struct mailsrc_mbox_msg *m);

/*
 * The message of an mbox in its stored form: quoting undone (mboxo or
 * mboxrd), the Status:, X-Status: and X-Keywords: headers removed and
 * turned into *meta (which the caller frees), CRLF line ends. Appends to
 * out; 0 or -1 (out full).
 */
int mailsrc_mbox_decode(const uint8_t *p, size_t n, bool mboxo,
    struct buf *out, struct mailsrc_meta *meta) ATTR_WUR;

/*
 * Appends one mbox message: the From_ line (sender, or MAILER-DAEMON when
 * NULL or unusable; the date in the zone tzoff, with "+hhmm" after the
 * year unless the zone is UTC), the message (CRLF made LF, status headers
 * added, quoted), a final LF if it lacked one, and the empty separator
 * line. 0 or -1.
 */
int mailsrc_mbox_encode(struct buf *out, const char *sender, int64_t t,
    int32_t tzoff, const uint8_t *msg, size_t n,
    const struct mailsrc_meta *meta, bool mboxo) ATTR_WUR;

/* ---- Maildir ---- */

/* Dovecot keyword names of a folder: index 0..25 = letter a..z. */
struct mailsrc_kwmap {
	char *names[26];
};
/* Parses a dovecot-keywords file's contents. */
void mailsrc_kwmap_parse(struct mailsrc_kwmap *k, const uint8_t *p, size_t n);
/* Formats one ("N name\n" lines). */
int mailsrc_kwmap_format(const struct mailsrc_kwmap *k, struct buf *out)
    ATTR_WUR;
/* The letter's index of kw, adding it if there is room; -1 when full. */
int mailsrc_kwmap_index(struct mailsrc_kwmap *k, const char *kw);
void mailsrc_kwmap_free(struct mailsrc_kwmap *k);

/*
 * Flags of a Maildir file name ("...:2,FRS" or with no info part: none).
 * Letters a..z become keywords through k (unknown letters are dropped);
 * P adds $Forwarded.
 */
void mailsrc_maildir_flags(const char *name, const struct mailsrc_kwmap *k,
    struct mailsrc_meta *meta);
/*
 * Appends the info part ":2,LETTERS" for meta (ASCII order, keywords
 * through k, which gets new letters; keywords beyond 26 are dropped and
 * *dropped_r counts them). $Forwarded is written both as P and as a
 * keyword letter, since Dovecot ignores P.
 */
int mailsrc_maildir_info(struct buf *out, const struct mailsrc_meta *meta,
    struct mailsrc_kwmap *k, size_t *dropped_r) ATTR_WUR;

/*
 * Dovecot's dovecot-uidlist: the UID of each file, so that a Maildir
 * written by Dovecot is read in its UID order. Lines "UID [fields]
 * :NAME" (version 3) or "UID NAME" (version 1) after the header line.
 */
struct mailsrc_uidlist_entry {
	char *base;		/* file name without its ":2," info */
	uint32_t uid;
};
struct mailsrc_uidlist {
	struct mailsrc_uidlist_entry *v;	/* sorted by base */
	size_t n;
};
void mailsrc_uidlist_parse(struct mailsrc_uidlist *u, const uint8_t *p,
    size_t n);
/* The UID of a file name (its info part ignored), 0 when unknown. */
uint32_t mailsrc_uidlist_uid(const struct mailsrc_uidlist *u,
    const char *name);
void mailsrc_uidlist_free(struct mailsrc_uidlist *u);

/*
 * Maildir++: the mailbox name ("a/b") of a folder directory name (".a.b")
 * into out; false when it is not one (no leading '.', empty part, "." or
 * ".."). The reverse: false when a part of the name holds '.' or is empty.
 */
bool mailsrc_maildirpp_to_name(const char *dir, struct buf *out);
bool mailsrc_name_to_maildirpp(const char *name, struct buf *out);

/*
 * Compares names with runs of digits compared as numbers (so "9.x" sorts
 * before "10.x"): the order to read a Maildir's files in.
 */
int mailsrc_namecmp(const char *a, const char *b);

#endif
