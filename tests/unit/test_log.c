/*
 * test_log — the log file (log_open) and its reopening after a SIGHUP, as logrotate's rename
 * + SIGHUP needs it: lines before the signal stay in the renamed file, lines after go to a
 * new file of the same name, none is lost or cut.  Each test runs in its own process (check
 * forks), so redirecting stderr does not outlive it.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "tests/unit/suites.h"

/* The whole file at path (static buffer), "" when missing. */
static const char *test_log_read(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static void test_log_tmpdir(char dir[64])
{
	snprintf(dir, 64, "/tmp/aiphoto-test-log-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

START_TEST(log_reopens_its_file_after_sighup)
{
	char dir[64], path[128], rotated[128];
	const char *text;
	struct stat st;

	test_log_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/app.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/app.log.1", dir);
	umask(0);
	log_init("unit", LOG_INFO);
	ck_assert_int_eq(log_open(path), 0);
	log_reopen_on_hup();
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);
	log_info("line one");
	ck_assert_int_eq(rename(path, rotated), 0);
	log_info("line two, after the rename, before the signal");
	ck_assert_int_eq(raise(SIGHUP), 0); /* the process lives on */
	log_info("line three");
	log_info("line four");

	text = test_log_read(rotated);
	ck_assert_ptr_nonnull(strstr(text, "\"msg\":\"line one\"}\n"));
	ck_assert_ptr_nonnull(
	    strstr(text, "\"msg\":\"line two, after the rename, before the signal\"}\n"));
	ck_assert_ptr_null(strstr(text, "line three"));
	text = test_log_read(path);
	ck_assert_ptr_nonnull(strstr(text, "\"msg\":\"line three\"}\n"));
	ck_assert_ptr_nonnull(strstr(text, "\"msg\":\"line four\"}\n"));
	ck_assert_ptr_null(strstr(text, "line one"));
	ck_assert_ptr_null(strstr(text, "line two"));
	/* the reopen is done once per signal, by the first line after it */
	ck_assert_int_eq(unlink(path), 0);
	log_info("line five");
	ck_assert_int_eq(access(path, F_OK), -1);
	log_close();
	unlink(rotated);
	rmdir(dir);
}
END_TEST

START_TEST(log_sighup_without_a_file_is_harmless)
{
	log_init("unit", LOG_ERROR);
	log_close(); /* no file, whatever an earlier test opened (CK_FORK=no: one process) */
	log_reopen_on_hup();
	ck_assert_int_eq(raise(SIGHUP), 0);
	ck_assert_int_eq(log_reopen(), 0);
	log_info("not written: below the level");
}
END_TEST

START_TEST(log_open_failure_keeps_the_old_file)
{
	char dir[64], path[128];

	test_log_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/app.log", dir);
	log_init("unit", LOG_INFO);
	ck_assert_int_eq(log_open(path), 0);
	errno = 0;
	ck_assert_int_eq(log_open("/nonexistent-aiphoto-dir/app.log"), -1);
	ck_assert_int_eq(errno, ENOENT);
	log_info("still here");
	/* a reopen goes on with the file that worked */
	ck_assert_int_eq(log_reopen(), 0);
	log_info("and here");
	ck_assert_ptr_nonnull(strstr(test_log_read(path), "still here"));
	ck_assert_ptr_nonnull(strstr(test_log_read(path), "and here"));
	/* closed: stderr is what it was, and the file gets nothing more */
	log_close();
	log_info("after the close");
	ck_assert_ptr_null(strstr(test_log_read(path), "after the close"));
	unlink(path);
	rmdir(dir);
}
END_TEST

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("reopen");

	tcase_add_test(tc, log_reopens_its_file_after_sighup);
	tcase_add_test(tc, log_sighup_without_a_file_is_harmless);
	tcase_add_test(tc, log_open_failure_keeps_the_old_file);
	suite_add_tcase(s, tc);
	return s;
}
