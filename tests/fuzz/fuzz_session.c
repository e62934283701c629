/*
 * fuzz_session.c: libFuzzer target for a whole IMAP session. The input is
 * what a client sends; it goes through a pipe into the real session loop
 * (parser, command table, handlers, store), and the responses go to
 * /dev/null. No network. One store, made once in a temporary directory
 * with the user test/test and two mailboxes, serves every run, so inputs
 * that log in reach SELECT, FETCH, STORE, SEARCH, APPEND and the rest.
 *
 * Inputs are capped below a pipe's capacity (the whole input is written
 * before the session reads it).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "../../auth/passwd.h"
#include "../../lib/config.h"
#include "../../lib/log.h"
#include "../../server/session.h"
#include "../../store/store.h"

#define FUZZ_INPUT_MAX	(60 * 1024)

static struct config fuzz_cfg;
static char fuzz_dir[] = "/tmp/refimapd-fuzz-XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_die(const char *what)
{
	fprintf(stderr, "fuzz_session: %s\n", what);
	exit(1);
}

static void
fuzz_make_store(void)
{
	struct store_options opt = { .create = true, .nosync = true };
	struct store *st = NULL;
	char path[256], hash[256];
	const char *why;

	if (mkdtemp(fuzz_dir) == NULL)
		fuzz_die("mkdtemp");
	if (store_open(fuzz_dir, &opt, &st, &why) != STORE_OK ||
	    store_user_init(st, "test") != STORE_OK ||
	    store_mbox_create(st, "test", "Archive", 0, NULL) != STORE_OK ||
	    store_mbox_create(st, "test", "a/b", 0, NULL) != STORE_OK)
		fuzz_die("cannot make the store");
	store_close(&st);
	(void)snprintf(path, sizeof(path), "%s/passwd", fuzz_dir);
	/* The cheapest hash libcrypt offers: the fuzzer logs in often. */
	if (passwd_hash("test", "$1$", hash, sizeof(hash)) != PASSWD_OK &&
	    passwd_hash("test", NULL, hash, sizeof(hash)) != PASSWD_OK)
		fuzz_die("passwd_hash");
	if (passwd_set(path, "test", hash, false) != PASSWD_OK)
		fuzz_die("passwd_set");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	log_open("fuzz_session", true);
	log_set_level(LOG_CRIT);
	fuzz_make_store();
	config_defaults(&fuzz_cfg);
	if (config_set(&fuzz_cfg, "data_dir", fuzz_dir, err, sizeof(err)) < 0 ||
	    config_set(&fuzz_cfg, "fsync", "no", err, sizeof(err)) < 0 ||
	    config_set(&fuzz_cfg, "auth_fail_delay_ms", "0", err,
	    sizeof(err)) < 0 ||
	    config_set(&fuzz_cfg, "allow_plaintext", "yes", err,
	    sizeof(err)) < 0)
		fuzz_die(err);
	/* Like a daemon's session: the store is recovered by someone else
	 * (it needs none here), and no child is forked per login. */
	fuzz_cfg.master_checkpoints = true;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session_peer peer = { "127.0.0.1", true };
	struct session *s;
	int in[2], out;

	if (size > FUZZ_INPUT_MAX)
		size = FUZZ_INPUT_MAX;
	if (pipe(in) < 0)
		fuzz_die("pipe");
	if (size > 0 && write(in[1], data, size) != (ssize_t)size)
		fuzz_die("write");
	close(in[1]);
	if ((out = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		fuzz_die("/dev/null");
	s = session_new(in[0], out, &fuzz_cfg, &peer, 1);
	session_run(s);
	session_free(&s);
	close(in[0]);
	close(out);
	return 0;
}
