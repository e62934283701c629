/*
 * passwd.h: the user file DATA_DIR/passwd, "user:hash" lines.
 *
 * Hashes come from libcrypt (yescrypt by default) and are checked with
 * crypt_r. Hashes that are empty, "*", "!..." , DES or MD5 ("$1$") are
 * refused as if the password were wrong. The file is rewritten atomically
 * (temporary file, fsync, rename) with mode 0600.
 */
#ifndef REFIMAPD_PASSWD_H
#define REFIMAPD_PASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/compat.h"

#define PASSWD_USER_MAX		128
#define PASSWD_PASS_MAX		1024
#define PASSWD_HASH_MAX		512

enum passwd_result {
	PASSWD_OK = 0,
	PASSWD_NOUSER,		/* from check: reported like BADPASS to clients */
	PASSWD_BADPASS,
	PASSWD_EXISTS,
	PASSWD_INVALID,		/* bad user name or password (empty, CR/LF, NUL) */
	PASSWD_IOERR,		/* errno is set; logged */
};

/* [A-Za-z0-9._@+-]+, no leading '.', at most PASSWD_USER_MAX bytes. */
bool passwd_valid_user(const char *user);

/*
 * Checks a password. Costs one crypt_r whether or not the user exists (a
 * fixed dummy hash for unknown users), and compares in constant time.
 * The password is bytes (may be any length up to PASSWD_PASS_MAX; longer
 * is PASSWD_BADPASS); the caller wipes its copy.
 */
enum passwd_result passwd_check(const char *path, const char *user,
    const uint8_t *pass, size_t passlen) ATTR_WUR;

/*
 * Hashes a password with a fresh salt (crypt_gensalt_rn; prefix NULL picks
 * libcrypt's default, yescrypt). Writes at most outlen bytes with the NUL.
 */
enum passwd_result passwd_hash(const char *pass, const char *prefix,
    char *out, size_t outlen) ATTR_WUR;

/* Adds a user (PASSWD_EXISTS if present) or, with replace, sets the hash of
 * an existing one (PASSWD_NOUSER if absent). */
enum passwd_result passwd_set(const char *path, const char *user,
    const char *hash, bool replace) ATTR_WUR;
enum passwd_result passwd_delete(const char *path, const char *user) ATTR_WUR;
/* Calls cb for each user in file order; a missing file lists nothing. */
typedef void passwd_list_cb(void *ctx, const char *user);
enum passwd_result passwd_list(const char *path, passwd_list_cb *cb,
    void *ctx) ATTR_WUR;

#endif
