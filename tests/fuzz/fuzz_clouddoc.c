/*
 * fuzz_clouddoc — one line of a WeChat cloud database export through clouddoc: the line
 * parser, the _id guess, the row of every collection, and the ISO 8601 reader, checking the
 * documented contract on every result (a row or a reason, never both; a row's _id is the
 * document's).
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "lib/clouddoc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct arena fuzz_arena;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	arena_init(&fuzz_arena, 4096);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the input as a C string (clouddoc_parse_line wants its NUL), whatever it holds */
	char *copy = arena_alloc(&fuzz_arena, size + 1);
	const char *why = NULL, *guess;
	json_object *doc;
	int64_t ms;

	memcpy(copy, data, size);
	copy[size] = '\0';
	guess = clouddoc_guess_id(&fuzz_arena, copy, size);
	assert(guess == NULL || (*guess != '\0' && strchr(guess, '"') == NULL));
	if (clouddoc_iso_ms(copy, &ms) == 0) {
		char back[32];
		clouddoc_format_ms(ms, back);
		assert(strlen(back) == 24);
	}
	doc = clouddoc_parse_line(&fuzz_arena, copy, strlen(copy), &why);
	assert((doc == NULL) == (why != NULL));
	for (int k = 0; doc != NULL && k < CLOUDDOC__MAX; k++) {
		const char *id = NULL, *reason = NULL;
		json_object *row =
		    clouddoc_row(&fuzz_arena, (enum clouddoc_kind)k, doc, &id, &reason);
		json_object *lid;

		assert((row == NULL) == (reason != NULL));
		if (row != NULL) {
			assert(id != NULL && json_object_object_get_ex(row, "lid", &lid));
			assert(strcmp(json_object_get_string(lid), id) == 0);
			assert(json_object_to_json_string(row) != NULL);
		}
		json_object_put(row);
	}
	json_object_put(doc);
	arena_reset(&fuzz_arena);
	return 0;
}
