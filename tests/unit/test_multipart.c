/*
 * test_multipart — placeholder (being written).
 */
#include <check.h>

#include "tests/unit/suites.h"

Suite *multipart_suite(void)
{
	return suite_create("multipart");
}
