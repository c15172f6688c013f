/*
 * test_prompt — placeholder (being written).
 */
#include <check.h>

#include "tests/unit/suites.h"

Suite *prompt_suite(void)
{
	return suite_create("prompt");
}
