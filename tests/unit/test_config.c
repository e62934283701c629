/*
 * Unit tests for the configuration file reader (lib/config.c).
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <syslog.h>

#include "../../lib/config.h"

static char config_path[64];

static int
write_conf(const char *text)
{
	FILE *f;
	int fd;

	(void)snprintf(config_path, sizeof(config_path),
	    "/tmp/refimapd-conf-XXXXXX");
	if ((fd = mkstemp(config_path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	return 0;
}

void
test_config_reads_keys_and_comments(void)
{
	struct config cfg;
	char err[256] = "";

	config_defaults(&cfg);
	CU_ASSERT_EQUAL_FATAL(write_conf("# a comment\n\n"
	    "data_dir = /srv/mail\n  port=1143  \nfsync = no\n"
	    "max_sessions = 7\nlog_level = debug\nliteral_max = 2048\n"), 0);
	CU_ASSERT_EQUAL(config_read(&cfg, config_path, false, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_STRING_EQUAL(cfg.data_dir, "/srv/mail");
	CU_ASSERT_STRING_EQUAL(cfg.port, "1143");
	CU_ASSERT_FALSE(cfg.fsync);
	CU_ASSERT_EQUAL(cfg.max_sessions, 7);
	CU_ASSERT_EQUAL(cfg.log_level, LOG_DEBUG);
	CU_ASSERT_EQUAL(cfg.literal_max, 2048);
	CU_ASSERT_EQUAL(cfg.idle_timeout, 1800);
	unlink(config_path);
	config_free(&cfg);
}

static void
expect_error(const char *text, const char *want)
{
	struct config cfg;
	char err[256] = "";

	config_defaults(&cfg);
	CU_ASSERT_EQUAL_FATAL(write_conf(text), 0);
	CU_ASSERT_EQUAL(config_read(&cfg, config_path, false, err,
	    sizeof(err)), -1);
	/* The message names the file and the line. */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, config_path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	if (strstr(err, want) == NULL)
		fprintf(stderr, "\n  got '%s', want '%s'\n", err, want);
	unlink(config_path);
	config_free(&cfg);
}

void
test_config_errors_name_the_line(void)
{
	expect_error("port = 143\nbogus = 1\n", ":2: unknown key 'bogus'");
	expect_error("no equals sign\n", ":1: expected 'key = value'");
	expect_error("\n\nmax_sessions = lots\n", ":3: 'max_sessions' must be");
	expect_error("max_sessions = 0\n", "'max_sessions' must be");
	expect_error("fsync = maybe\n", "'fsync' must be yes, all or no, "
	    "not 'maybe'");
	expect_error("\nfsync = flags\n", ":2: 'fsync' must be yes, all or no");
	expect_error("data_dir =\n", "'data_dir' needs a value");
	expect_error("max_sessions = 99999999999999999999999\n", "must be");
}

/* fsync takes three values: flag-only commits are fsynced only with "all". */
void
test_config_fsync_values(void)
{
	static const struct {
		const char *value;
		bool fsync, flags;
	} cases[] = {
		{ "yes", true, false }, { "all", true, true },
		{ "no", false, false }, { "ALL", true, true },
		{ "true", true, false }, { "0", false, false },
	};
	struct config cfg;
	char err[256];
	size_t i;

	config_defaults(&cfg);
	CU_ASSERT_TRUE(cfg.fsync);
	CU_ASSERT_FALSE(cfg.fsync_flags);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Start from the opposite so that each field is really set. */
		cfg.fsync = !cases[i].fsync;
		cfg.fsync_flags = !cases[i].flags;
		CU_ASSERT_EQUAL(config_set(&cfg, "fsync", cases[i].value, err,
		    sizeof(err)), 0);
		CU_ASSERT_EQUAL(cfg.fsync, cases[i].fsync);
		CU_ASSERT_EQUAL(cfg.fsync_flags, cases[i].flags);
	}
	CU_ASSERT_EQUAL(config_set(&cfg, "fsync", "some", err, sizeof(err)),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'fsync' must be yes, all or no"));
	config_free(&cfg);
}

void
test_config_missing_file(void)
{
	struct config cfg;
	char err[256] = "";

	config_defaults(&cfg);
	CU_ASSERT_EQUAL(config_read(&cfg, "/nonexistent/refimapd.conf", true,
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(config_read(&cfg, "/nonexistent/refimapd.conf", false,
	    err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/refimapd.conf"));
	config_free(&cfg);
}
