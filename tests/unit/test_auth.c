/*
 * test_auth.c: auth/passwd.c (hashing, checking, refused hash kinds, file
 * edits that keep other lines, concurrent writers, timing of unknown users)
 * and auth/sasl.c (RFC 4616 PLAIN decoding).
 *
 * Every file lives in a fresh directory under /tmp. Few hashes are made:
 * one yescrypt hash in the fixture, reused by the tests.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <CUnit/CUnit.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../auth/passwd.h"
#include "../../auth/sasl.h"
#include "../../lib/xalloc.h"

/*
 * Prototypes for -Wmissing-prototypes. "extern" keeps gen_registry.sh,
 * which registers lines starting "void test_", from counting them twice.
 */
extern int auth_suite_init(void);
extern int auth_suite_clean(void);
extern void test_auth_hash_then_check(void);
extern void test_auth_hash_salts_differ_and_prefix(void);
extern void test_auth_hash_refuses(void);
extern void test_auth_valid_user(void);
extern void test_auth_rejected_hash_kinds(void);
extern void test_auth_check_odd_input(void);
extern void test_auth_set_replace_delete_keep_other_lines(void);
extern void test_auth_set_then_check(void);
extern void test_auth_list_in_file_order(void);
extern void test_auth_concurrent_set(void);
extern void test_auth_unknown_user_costs_like_known(void);
extern void test_auth_sasl_good(void);
extern void test_auth_sasl_bad(void);
extern void test_auth_sasl_sizes(void);


static char auth_dir[64];
static char auth_path[128];
/* yescrypt hash of "secret", made once. */
static char auth_hash[PASSWD_HASH_MAX];

static void
auth_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fputs(text, f) >= 0, 1);
	CU_ASSERT_EQUAL(fclose(f), 0);
}

/* The whole file as a string (caller frees), or NULL if missing. */
static char *
auth_slurp(const char *path)
{
	char tmp[4096];
	char *s;
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	n = fread(tmp, 1, sizeof(tmp) - 1, f);
	fclose(f);
	s = xmemdup0(tmp, n);
	return s;
}

static enum passwd_result
auth_check(const char *user, const char *pass)
{
	return passwd_check(auth_path, user, (const uint8_t *)pass,
	    strlen(pass));
}

int auth_suite_init(void)
{
	int n;

	n = snprintf(auth_dir, sizeof(auth_dir), "/tmp/refimapd-auth.XXXXXX");
	if (n < 0 || (size_t)n >= sizeof(auth_dir) || mkdtemp(auth_dir) == NULL)
		return -1;
	n = snprintf(auth_path, sizeof(auth_path), "%s/passwd", auth_dir);
	if (n < 0 || (size_t)n >= sizeof(auth_path))
		return -1;
	if (passwd_hash("secret", NULL, auth_hash, sizeof(auth_hash)) !=
	    PASSWD_OK)
		return -1;
	return 0;
}

int auth_suite_clean(void)
{
	char p[192];
	static const char *const leftovers[] = { "passwd", "passwd.lock",
	    "passwd.tmp", "other" };
	size_t i;

	for (i = 0; i < N_ELEMENTS(leftovers); i++) {
		if (snprintf(p, sizeof(p), "%s/%s", auth_dir, leftovers[i]) > 0)
			unlink(p);
	}
	rmdir(auth_dir);
	return 0;
}

/* A file holding only "alice:<hash of secret>". */
static void
auth_alice_only(void)
{
	char text[PASSWD_HASH_MAX + 16];

	CU_ASSERT(snprintf(text, sizeof(text), "alice:%s\n", auth_hash) > 0);
	auth_write(auth_path, text);
}

void test_auth_hash_then_check(void)
{
	CU_ASSERT_EQUAL(strncmp(auth_hash, "$y$", 3), 0);
	auth_alice_only();
	CU_ASSERT_EQUAL(auth_check("alice", "secret"), PASSWD_OK);
	CU_ASSERT_EQUAL(auth_check("alice", "Secret"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("alice", "secret "), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("bob", "secret"), PASSWD_NOUSER);
	CU_ASSERT_EQUAL(auth_check("Alice", "secret"), PASSWD_NOUSER);
}

void test_auth_hash_salts_differ_and_prefix(void)
{
	char h1[PASSWD_HASH_MAX], h2[PASSWD_HASH_MAX];

	/* sha512crypt is cheap at its default cost and shows the prefix. */
	CU_ASSERT_EQUAL_FATAL(passwd_hash("pw", "$6$", h1, sizeof(h1)),
	    PASSWD_OK);
	CU_ASSERT_EQUAL_FATAL(passwd_hash("pw", "$6$", h2, sizeof(h2)),
	    PASSWD_OK);
	CU_ASSERT_EQUAL(strncmp(h1, "$6$", 3), 0);
	CU_ASSERT_NOT_EQUAL(strcmp(h1, h2), 0);
}

void test_auth_hash_refuses(void)
{
	char big[600], out[PASSWD_HASH_MAX], tiny[10];

	CU_ASSERT_EQUAL(passwd_hash("", NULL, out, sizeof(out)),
	    PASSWD_INVALID);
	CU_ASSERT_EQUAL(passwd_hash("a\nb", NULL, out, sizeof(out)),
	    PASSWD_INVALID);
	CU_ASSERT_EQUAL(passwd_hash("ab\r", NULL, out, sizeof(out)),
	    PASSWD_INVALID);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(passwd_hash(big, NULL, out, sizeof(out)),
	    PASSWD_INVALID);
	/* An output buffer too small and an unknown scheme are errors. */
	CU_ASSERT_EQUAL(passwd_hash("pw", "$6$", tiny, sizeof(tiny)),
	    PASSWD_IOERR);
	CU_ASSERT_EQUAL(passwd_hash("pw", "$zz$", out, sizeof(out)),
	    PASSWD_IOERR);
}

void test_auth_valid_user(void)
{
	char longname[PASSWD_USER_MAX + 2];

	CU_ASSERT_TRUE(passwd_valid_user("alice"));
	CU_ASSERT_TRUE(passwd_valid_user("a.b_c-d+e@example.org"));
	CU_ASSERT_TRUE(passwd_valid_user("0"));
	CU_ASSERT_FALSE(passwd_valid_user(""));
	CU_ASSERT_FALSE(passwd_valid_user(".hidden"));
	CU_ASSERT_FALSE(passwd_valid_user("a:b"));
	CU_ASSERT_FALSE(passwd_valid_user("a b"));
	CU_ASSERT_FALSE(passwd_valid_user("a/b"));
	CU_ASSERT_FALSE(passwd_valid_user("a\nb"));
	CU_ASSERT_FALSE(passwd_valid_user("#x"));
	CU_ASSERT_FALSE(passwd_valid_user("caf\xc3\xa9"));
	memset(longname, 'a', PASSWD_USER_MAX);
	longname[PASSWD_USER_MAX] = '\0';
	CU_ASSERT_TRUE(passwd_valid_user(longname));
	longname[PASSWD_USER_MAX] = 'a';
	longname[PASSWD_USER_MAX + 1] = '\0';
	CU_ASSERT_FALSE(passwd_valid_user(longname));
}

void test_auth_rejected_hash_kinds(void)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char des[64], md5[128], text[2048];
	const char *r;

	/* Real hashes of "secret", so only their kind can make them fail. */
	r = crypt_r("secret", "ab", cd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_FATAL(r[0] != '*' && strlen(r) < sizeof(des));
	memcpy(des, r, strlen(r) + 1);
	r = crypt_r("secret", "$1$saltsalt$", cd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_FATAL(strncmp(r, "$1$", 3) == 0 && strlen(r) < sizeof(md5));
	memcpy(md5, r, strlen(r) + 1);
	free(cd);

	CU_ASSERT_FATAL(snprintf(text, sizeof(text),
	    "empty:\n"
	    "star:*\n"
	    "bang:!%s\n"
	    "bangonly:!\n"
	    "des:%s\n"
	    "des2:abJnggxhB/yWI\n"
	    "md5:%s\n"
	    "good:%s\n",
	    auth_hash, des, md5, auth_hash) > 0);
	auth_write(auth_path, text);
	CU_ASSERT_EQUAL(auth_check("empty", "secret"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("empty", "x"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("star", "secret"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("star", "*"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("bang", "secret"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("bangonly", "secret"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("des", "secret"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("des2", "secret"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("md5", "secret"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(auth_check("good", "secret"), PASSWD_OK);
}

void test_auth_check_odd_input(void)
{
	static const uint8_t withnul[] = { 's', 'e', 'c', 'r', 'e', 't', 0,
	    'x' };
	char text[2 * PASSWD_HASH_MAX + 64];
	uint8_t *big;
	char *missing;

	auth_alice_only();
	/* A NUL must not cut the password short to "secret". */
	CU_ASSERT_EQUAL(passwd_check(auth_path, "alice", withnul,
	    sizeof(withnul)), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(passwd_check(auth_path, "alice", withnul, 0),
	    PASSWD_BADPASS);
	big = xmalloc(PASSWD_PASS_MAX + 1);
	memset(big, 'a', PASSWD_PASS_MAX + 1);
	CU_ASSERT_EQUAL(passwd_check(auth_path, "alice", big,
	    PASSWD_PASS_MAX + 1), PASSWD_BADPASS);
	free(big);
	CU_ASSERT_EQUAL(auth_check("al:ice", "secret"), PASSWD_NOUSER);
	CU_ASSERT_EQUAL(auth_check("", "secret"), PASSWD_NOUSER);

	/* Comments, blank lines, CRLF; the first line of a user counts. */
	CU_ASSERT_FATAL(snprintf(text, sizeof(text),
	    "# users\n\nbob:*\r\nalice:%s\r\nalice:!locked\n# alice:x\n",
	    auth_hash) > 0);
	auth_write(auth_path, text);
	CU_ASSERT_EQUAL(auth_check("alice", "secret"), PASSWD_OK);
	CU_ASSERT_EQUAL(auth_check("# alice", "x"), PASSWD_NOUSER);

	missing = xmemdup0(auth_path, strlen(auth_path));
	missing[strlen(missing) - 1] = 'X';
	CU_ASSERT_EQUAL(passwd_check(missing, "alice", (const uint8_t *)"x",
	    1), PASSWD_IOERR);
	free(missing);
}

void test_auth_set_replace_delete_keep_other_lines(void)
{
	char want[4096], tmp[192];
	char *got;
	struct stat st;

	auth_write(auth_path, "# site users\n\nbob:$y$bobhash\n  \n#end");
	CU_ASSERT_EQUAL(passwd_set(auth_path, "alice", "$y$h1", false),
	    PASSWD_OK);
	got = auth_slurp(auth_path);
	CU_ASSERT_STRING_EQUAL(got, "# site users\n\nbob:$y$bobhash\n  \n#end\n"
	    "alice:$y$h1\n");
	free(got);
	CU_ASSERT_EQUAL(stat(auth_path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT(snprintf(tmp, sizeof(tmp), "%s.tmp", auth_path) > 0);
	CU_ASSERT_EQUAL(access(tmp, F_OK), -1);

	CU_ASSERT_EQUAL(passwd_set(auth_path, "alice", "$y$h2", false),
	    PASSWD_EXISTS);
	CU_ASSERT_EQUAL(passwd_set(auth_path, "carol", "$y$h2", true),
	    PASSWD_NOUSER);
	CU_ASSERT_EQUAL(passwd_set(auth_path, "bob", "$y$h3", true), PASSWD_OK);
	got = auth_slurp(auth_path);
	CU_ASSERT_STRING_EQUAL(got, "# site users\n\nbob:$y$h3\n  \n#end\n"
	    "alice:$y$h1\n");
	free(got);

	CU_ASSERT_EQUAL(passwd_set(auth_path, "carol", "$y$h4", false),
	    PASSWD_OK);
	CU_ASSERT_EQUAL(passwd_delete(auth_path, "alice"), PASSWD_OK);
	CU_ASSERT_EQUAL(passwd_delete(auth_path, "alice"), PASSWD_NOUSER);
	got = auth_slurp(auth_path);
	CU_ASSERT(snprintf(want, sizeof(want), "%s",
	    "# site users\n\nbob:$y$h3\n  \n#end\ncarol:$y$h4\n") > 0);
	CU_ASSERT_STRING_EQUAL(got, want);
	free(got);

	/* Bad names and hashes change nothing. */
	CU_ASSERT_EQUAL(passwd_set(auth_path, "a:b", "$y$h", false),
	    PASSWD_INVALID);
	CU_ASSERT_EQUAL(passwd_set(auth_path, "dave", "$y$a:b", false),
	    PASSWD_INVALID);
	CU_ASSERT_EQUAL(passwd_set(auth_path, "dave", "$y$a\nevil:x", false),
	    PASSWD_INVALID);
	CU_ASSERT_EQUAL(passwd_set(auth_path, "dave", "", false),
	    PASSWD_INVALID);
	CU_ASSERT_EQUAL(passwd_delete(auth_path, "../x"), PASSWD_INVALID);
	got = auth_slurp(auth_path);
	CU_ASSERT_STRING_EQUAL(got, want);
	free(got);
}

void test_auth_set_then_check(void)
{
	unlink(auth_path);
	CU_ASSERT_EQUAL(passwd_set(auth_path, "erin", auth_hash, false),
	    PASSWD_OK);
	CU_ASSERT_EQUAL(auth_check("erin", "secret"), PASSWD_OK);
	CU_ASSERT_EQUAL(passwd_set(auth_path, "erin", "!locked", true),
	    PASSWD_OK);
	CU_ASSERT_EQUAL(auth_check("erin", "secret"), PASSWD_BADPASS);
	CU_ASSERT_EQUAL(passwd_delete(auth_path, "erin"), PASSWD_OK);
	CU_ASSERT_EQUAL(auth_check("erin", "secret"), PASSWD_NOUSER);
}

struct auth_names {
	char names[64][PASSWD_USER_MAX + 1];
	size_t n;
};

static void
auth_collect(void *ctx, const char *user)
{
	struct auth_names *an = ctx;

	if (an->n < N_ELEMENTS(an->names)) {
		CU_ASSERT(snprintf(an->names[an->n], sizeof(an->names[0]),
		    "%s", user) > 0);
	}
	an->n++;
}

void test_auth_list_in_file_order(void)
{
	struct auth_names an = { .n = 0 };

	unlink(auth_path);
	CU_ASSERT_EQUAL(passwd_list(auth_path, auth_collect, &an), PASSWD_OK);
	CU_ASSERT_EQUAL(an.n, 0);

	auth_write(auth_path, "# c\nzed:$y$1\n\nbad name:$y$2\nnocolon\n"
	    "amy:$y$3\n.dot:$y$4\nmia:!\n");
	CU_ASSERT_EQUAL(passwd_list(auth_path, auth_collect, &an), PASSWD_OK);
	CU_ASSERT_EQUAL_FATAL(an.n, 3);
	CU_ASSERT_STRING_EQUAL(an.names[0], "zed");
	CU_ASSERT_STRING_EQUAL(an.names[1], "amy");
	CU_ASSERT_STRING_EQUAL(an.names[2], "mia");
}

/* Adds 20 users named PREFIX0..PREFIX19; exits with the failure count. */
static void
auth_child_adds(const char *prefix)
{
	char name[32];
	int i, failed = 0;

	for (i = 0; i < 20; i++) {
		if (snprintf(name, sizeof(name), "%s%d", prefix, i) <= 0 ||
		    passwd_set(auth_path, name, "$y$concurrent", false) !=
		    PASSWD_OK)
			failed++;
	}
	_exit(failed);
}

void test_auth_concurrent_set(void)
{
	struct auth_names an = { .n = 0 };
	pid_t pa, pb;
	int sa = -1, sb = -1, i, j, found;
	char name[32];
	char *got;

	auth_write(auth_path, "# kept\nroot:!\n");
	if ((pa = fork()) == 0)
		auth_child_adds("pa");
	CU_ASSERT_FATAL(pa > 0);
	if ((pb = fork()) == 0)
		auth_child_adds("pb");
	CU_ASSERT_FATAL(pb > 0);
	CU_ASSERT_EQUAL(waitpid(pa, &sa, 0), pa);
	CU_ASSERT_EQUAL(waitpid(pb, &sb, 0), pb);
	CU_ASSERT(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
	CU_ASSERT(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);

	CU_ASSERT_EQUAL(passwd_list(auth_path, auth_collect, &an), PASSWD_OK);
	CU_ASSERT_EQUAL_FATAL(an.n, 41);
	CU_ASSERT_STRING_EQUAL(an.names[0], "root");
	for (j = 0; j < 2; j++) {
		for (i = 0; i < 20; i++) {
			size_t k;

			CU_ASSERT(snprintf(name, sizeof(name), "%s%d",
			    j == 0 ? "pa" : "pb", i) > 0);
			found = 0;
			for (k = 0; k < an.n; k++)
				found += strcmp(an.names[k], name) == 0;
			CU_ASSERT_EQUAL(found, 1);
		}
	}
	got = auth_slurp(auth_path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(strncmp(got, "# kept\nroot:!\n", 14), 0);
	free(got);
}

static double
auth_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void test_auth_unknown_user_costs_like_known(void)
{
	double known = 1e9, unknown = 1e9, t;
	int i;

	auth_alice_only();
	/* Interleaved; the fastest run of each is the least disturbed. */
	for (i = 0; i < 4; i++) {
		t = auth_seconds();
		CU_ASSERT_EQUAL(auth_check("alice", "wrong"), PASSWD_BADPASS);
		t = auth_seconds() - t;
		if (t < known)
			known = t;
		t = auth_seconds();
		CU_ASSERT_EQUAL(auth_check("nobody", "wrong"), PASSWD_NOUSER);
		t = auth_seconds() - t;
		if (t < unknown)
			unknown = t;
	}
	CU_ASSERT(unknown >= 0.5 * known);
	if (unknown < 0.5 * known)
		fprintf(stderr, "unknown %.6fs known %.6fs\n", unknown, known);
}

/* ---- SASL PLAIN (RFC 4616) ---- */

static int
auth_sasl(const void *msg, size_t len, struct sasl_plain *r,
    const char **err)
{
	*err = NULL;
	return sasl_plain_decode(msg, len, r, err);
}

void test_auth_sasl_good(void)
{
	static const uint8_t msg[] = "\0tim\0tanstaaftanstaaf";
	static const uint8_t withz[] = "admin\0alice\0p\xc3\xa4ss";
	struct sasl_plain sp;
	const char *err;

	CU_ASSERT_EQUAL_FATAL(auth_sasl(msg, sizeof(msg) - 1, &sp, &err), 0);
	CU_ASSERT_STRING_EQUAL(sp.authzid, "");
	CU_ASSERT_STRING_EQUAL(sp.authcid, "tim");
	CU_ASSERT_STRING_EQUAL(sp.passwd, "tanstaaftanstaaf");
	CU_ASSERT_EQUAL(sp.passwd_len, 16);
	sasl_plain_wipe(&sp);
	CU_ASSERT_EQUAL(sp.passwd[0], '\0');
	CU_ASSERT_EQUAL(sp.authcid[0], '\0');
	CU_ASSERT_EQUAL(sp.passwd_len, 0);

	CU_ASSERT_EQUAL_FATAL(auth_sasl(withz, sizeof(withz) - 1, &sp, &err),
	    0);
	CU_ASSERT_STRING_EQUAL(sp.authzid, "admin");
	CU_ASSERT_STRING_EQUAL(sp.authcid, "alice");
	CU_ASSERT_STRING_EQUAL(sp.passwd, "p\xc3\xa4ss");
	CU_ASSERT_EQUAL(sp.passwd_len, 5);
	sasl_plain_wipe(&sp);
}

void test_auth_sasl_bad(void)
{
	static const struct {
		const char *msg;
		size_t len;
	} bad[] = {
		{ "alice\0secret", 12 },		/* one NUL */
		{ "alicesecret", 11 },			/* none */
		{ "\0alice\0sec\0ret", 14 },		/* three NULs */
		{ "\0\0alice\0secret", 14 },
		{ "\0\0secret", 8 },			/* empty authcid */
		{ "\0alice\0", 7 },			/* empty passwd */
		{ "\0\0", 2 },
		{ "", 0 },
		{ "\0alice\0sec\rret", 14 },		/* CR in passwd */
		{ "\0alice\0secret\r\n", 15 },
		{ "\0al\nice\0secret", 14 },		/* LF in authcid */
		{ "ad\rmin\0alice\0secret", 19 },	/* CR in authzid */
	};
	struct sasl_plain sp;
	const char *err;
	size_t i;

	for (i = 0; i < N_ELEMENTS(bad); i++) {
		memset(&sp, 'x', sizeof(sp));
		CU_ASSERT_EQUAL(auth_sasl(bad[i].msg, bad[i].len, &sp, &err),
		    -1);
		CU_ASSERT_PTR_NOT_NULL(err);
		/* Nothing of a refused message stays behind. */
		CU_ASSERT_EQUAL(sp.passwd[0], '\0');
		CU_ASSERT_EQUAL(sp.passwd[5], '\0');
	}
}

/* "\0" + authcid of alen bytes + "\0" + passwd of plen bytes, authzid zlen. */
static int
auth_sasl_sized(size_t zlen, size_t alen, size_t plen)
{
	uint8_t *m = xmalloc(zlen + alen + plen + 2);
	struct sasl_plain sp;
	const char *err;
	int r;

	memset(m, 'z', zlen);
	m[zlen] = '\0';
	memset(m + zlen + 1, 'a', alen);
	m[zlen + 1 + alen] = '\0';
	memset(m + zlen + alen + 2, 'p', plen);
	r = auth_sasl(m, zlen + alen + plen + 2, &sp, &err);
	if (r == 0) {
		CU_ASSERT_EQUAL(strlen(sp.authzid), zlen);
		CU_ASSERT_EQUAL(strlen(sp.authcid), alen);
		CU_ASSERT_EQUAL(strlen(sp.passwd), plen);
		CU_ASSERT_EQUAL(sp.passwd_len, plen);
	}
	sasl_plain_wipe(&sp);
	free(m);
	return r;
}

void test_auth_sasl_sizes(void)
{
	CU_ASSERT_EQUAL(auth_sasl_sized(0, 128, 1024), 0);
	CU_ASSERT_EQUAL(auth_sasl_sized(128, 1, 1), 0);
	CU_ASSERT_EQUAL(auth_sasl_sized(0, 129, 1), -1);
	CU_ASSERT_EQUAL(auth_sasl_sized(0, 1, 1025), -1);
	CU_ASSERT_EQUAL(auth_sasl_sized(129, 1, 1), -1);
	CU_ASSERT_EQUAL(auth_sasl_sized(0, 1, 100000), -1);
}
