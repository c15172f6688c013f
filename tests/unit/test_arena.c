/*
 * test_arena — the per-request bump allocator.
 */
#include <check.h>
#include <malloc.h>
#include <signal.h>
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

/*
 * arena.c keeps "the oldest chunk: it is the default size" across a reset.  After one
 * oversized allocation into an arena holding a single chunk, the oversized chunk must not
 * be the one kept, or a worker holds on to its largest request body forever.
 */
START_TEST(arena_reset_frees_oversized)
{
	struct arena a;
	size_t before, after;

	/* sizes well above the mmap threshold, so glibc returns them to the system */
	arena_init(&a, 4096);
	(void)arena_strdup(&a, "first");
	before = mallinfo2().hblkhd;
	(void)arena_alloc(&a, 32u << 20);
	ck_assert_uint_ge(mallinfo2().hblkhd, before + (32u << 20));
	arena_reset(&a);
	after = mallinfo2().hblkhd;
	ck_assert_msg(after < before + (1u << 20),
	              "a 32 MiB chunk survived arena_reset (%zu bytes mapped before, %zu after)",
	              before, after);
	arena_fini(&a);
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
	struct arena a;
	unsigned char *p;

	arena_init(&a, 64);
	p = arena_alloc(&a, SIZE_MAX - 7);
	/* only reached when the size wrapped: make the overrun visible */
	ck_assert_msg(p == NULL, "arena_alloc(SIZE_MAX - 7) returned a block");
	arena_fini(&a);
}
END_TEST

Suite *arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = tcase_create("alloc");
	const char *fork_mode = getenv("CK_FORK");

	tcase_add_test(tc, arena_alignment);
	tcase_add_test(tc, arena_many_chunks);
	tcase_add_test(tc, arena_oversized);
	tcase_add_test(tc, arena_reset_reuse);
	tcase_add_test(tc, arena_reset_frees_oversized);
	tcase_add_test(tc, arena_strings);
	/* a test that must abort needs its own process */
	if (fork_mode == NULL || strcmp(fork_mode, "no") != 0)
		tcase_add_test_raise_signal(tc, arena_huge_request_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}
