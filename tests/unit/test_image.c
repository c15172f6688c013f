/*
 * test_image — placeholder (being written).
 */
#include <check.h>

#include "tests/unit/suites.h"

Suite *image_suite(void)
{
	return suite_create("image");
}
