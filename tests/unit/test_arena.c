/*
 * test_arena — the per-request bump allocator.
 */
#include <check.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "tests/unit/suites.h"

START_TEST(arena_alignment)
{
	struct arena a;

	arena_init(&a, 256);
	for (size_t n = 0; n < 200; n++) {
		unsigned char *p = arena_alloc(&a, n % 37);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		memset(p, 0xAB, n % 37);
	}
	arena_fini(&a);
}
END_TEST

START_TEST(arena_many_chunks)
{
	struct arena a;
	unsigned char *ptrs[2000];

	arena_init(&a, 128);
	for (size_t i = 0; i < 2000; i++) {
		ptrs[i] = arena_alloc(&a, 24);
		memset(ptrs[i], (int)(i & 0xFF), 24);
	}
	/* nothing was overwritten by a later allocation */
	for (size_t i = 0; i < 2000; i++)
		for (size_t k = 0; k < 24; k++)
			ck_assert_uint_eq(ptrs[i][k], i & 0xFF);
	ck_assert_uint_eq(a.used_total, 2000u * 32u);
	arena_fini(&a);
}
END_TEST

START_TEST(arena_oversized)
{
	struct arena a;
	char *small1, *big, *small2;

	arena_init(&a, 64);
	small1 = arena_strdup(&a, "before");
	big = arena_alloc(&a, 10000);
	memset(big, 'b', 10000);
	small2 = arena_strdup(&a, "after");
	ck_assert_uint_eq((uintptr_t)big % 16, 0);
	ck_assert_str_eq(small1, "before");
	ck_assert_str_eq(small2, "after");
	for (size_t i = 0; i < 10000; i++)
		ck_assert_int_eq(big[i], 'b');
	arena_fini(&a);
	/* an oversized first allocation */
	arena_init(&a, 64);
	big = arena_alloc(&a, 5000);
	memset(big, 'c', 5000);
	ck_assert_str_eq(arena_strdup(&a, "x"), "x");
	arena_fini(&a);
}
END_TEST

START_TEST(arena_reset_reuse)
{
	struct arena a;

	arena_init(&a, 0); /* default chunk size */
	ck_assert_uint_gt(a.chunk_size, 0);
	arena_reset(&a); /* reset before any allocation */
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 100; i++) {
			char *s = arena_printf(&a, "round %d item %d", round, i);
			ck_assert_ptr_nonnull(s);
		}
		(void)arena_alloc(&a, 100000);
		ck_assert_uint_gt(a.used_total, 100000);
		arena_reset(&a);
		ck_assert_uint_eq(a.used_total, 0);
		ck_assert_str_eq(arena_strdup(&a, "fresh"), "fresh");
	}
	arena_fini(&a);
	arena_fini(&a); /* idempotent */
	arena_reset(NULL);
	arena_fini(NULL);
}
END_TEST

/* Owned by a checked fixture, so a failed assertion does not leak it in no-fork mode. */
static struct arena arena_fix;

static void arena_fix_setup(void)
{
	memset(&arena_fix, 0, sizeof(arena_fix));
}

static void arena_fix_teardown(void)
{
	arena_fini(&arena_fix);
}

/*
 * arena.h: a reset "frees every chunk but the first".  After one oversized allocation into
 * an arena holding a single chunk, the chunk kept must still be that first one; keeping the
 * oversized chunk instead means a worker holds on to its largest request body forever.
 * The first chunk is recognisable: after a reset, allocation starts again at its start.
 */
START_TEST(arena_reset_keeps_first_chunk)
{
	char *first, *big, *again;

	arena_init(&arena_fix, 4096);
	first = arena_strdup(&arena_fix, "first");
	big = arena_alloc(&arena_fix, 1u << 20);
	memset(big, 'b', 1u << 20);
	arena_reset(&arena_fix);
	again = arena_alloc(&arena_fix, 16);
	ck_assert_msg(again == first,
	              "after reset the arena allocates from the %s chunk, not the first one",
	              again == big ? "1 MiB oversized" : "another");
}
END_TEST

START_TEST(arena_reset_keeps_first_chunk_many)
{
	char *first;

	/* several default chunks plus oversized ones: still the first chunk */
	arena_init(&arena_fix, 256);
	first = arena_alloc(&arena_fix, 200);
	for (int i = 0; i < 20; i++)
		(void)arena_alloc(&arena_fix, i % 5 == 0 ? 5000 : 200);
	arena_reset(&arena_fix);
	ck_assert_ptr_eq(arena_alloc(&arena_fix, 8), first);
}
END_TEST

START_TEST(arena_strings)
{
	struct arena a;
	char *s;

	arena_init(&a, 64);
	ck_assert_ptr_null(arena_strdup(&a, NULL));
	ck_assert_str_eq(arena_strdup(&a, ""), "");
	ck_assert_str_eq(arena_strndup(&a, "abcdef", 3), "abc");
	ck_assert_str_eq(arena_strndup(&a, "ab", 10), "ab");
	s = arena_printf(&a, "%s-%d-%05.1f", "x", 42, 3.14159);
	ck_assert_str_eq(s, "x-42-003.1");
	s = arena_printf(&a, "%s", "");
	ck_assert_str_eq(s, "");
	/* longer than a chunk */
	s = arena_printf(&a, "%0300d", 7);
	ck_assert_uint_eq(strlen(s), 300);
	ck_assert_int_eq(s[299], '7');
	s = arena_zalloc(&a, 100);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(s[i], 0);
	arena_fini(&a);
}
END_TEST

/* arena_alloc never fails: a size that cannot be honoured must abort, not wrap around to a
 * tiny block the caller would then overrun. */
START_TEST(arena_huge_request_aborts)
{
	int status = 0;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct arena a;
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		arena_init(&a, 64);
		/* reaching the exit below means a block came back for an impossible size */
		_exit(arena_alloc(&a, SIZE_MAX - 7) != NULL ? 3 : 4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 3),
	              "arena_alloc(SIZE_MAX - 7) returned a block instead of aborting");
}
END_TEST

Suite *arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = tcase_create("alloc");

	tcase_add_test(tc, arena_alignment);
	tcase_add_test(tc, arena_many_chunks);
	tcase_add_test(tc, arena_oversized);
	tcase_add_test(tc, arena_reset_reuse);
	tcase_add_test(tc, arena_strings);
	tcase_add_test(tc, arena_huge_request_aborts);
	suite_add_tcase(s, tc);
	tc = tcase_create("reset");
	tcase_add_checked_fixture(tc, arena_fix_setup, arena_fix_teardown);
	tcase_add_test(tc, arena_reset_keeps_first_chunk);
	tcase_add_test(tc, arena_reset_keeps_first_chunk_many);
	suite_add_tcase(s, tc);
	return s;
}
