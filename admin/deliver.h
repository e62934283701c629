/*
 * deliver.h: local delivery of one message from an MTA (Postfix's
 * mailbox_command, a pipe(8) transport, procmail-style use).
 */
#ifndef REFIMAPD_DELIVER_H
#define REFIMAPD_DELIVER_H

#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/compat.h"
#include "../store/store.h"

enum deliver_result {
	DELIVER_OK = 0,
	DELIVER_TOOBIG,		/* over max bytes */
	DELIVER_READ,		/* reading the input failed (errno) */
	DELIVER_STORE,		/* the store said no: see *store_err_r */
};

/*
 * Reads a message from fd to its end into *msg (initialised here; freed
 * on failure), drops a leading mbox "From " line and turns bare LF line
 * ends into CRLF (IMAP messages are CRLF).
 */
enum deliver_result deliver_read_fd(int fd, uint64_t max, struct buf *msg)
    ATTR_WUR;
/*
 * Appends msg to user's mailbox, or to INBOX when that mailbox does not
 * exist (the name used is returned in *used_r, static or mailbox). INBOX
 * is created if the user has none.
 */
enum deliver_result deliver_store(struct store *st, const char *user,
    const char *mailbox, const struct buf *msg, uint32_t *uid_r,
    const char **used_r, enum store_err *store_err_r) ATTR_WUR;

#endif
