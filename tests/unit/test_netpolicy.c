/*
 * test_netpolicy — the outbound address policy: schemes by mode, and every refused and
 * allowed address range in production and development, IPv4, IPv6 and IPv4-mapped.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/netpolicy.h"
#include "tests/unit/suites.h"

/* Whether the textual address (IPv4 or IPv6) is refused in the mode. */
static bool np_refused(const char *text, bool development)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

	if (inet_pton(AF_INET, text, &in.sin_addr) == 1)
		return netpolicy_addr_refused((const struct sockaddr *)(const void *)&in,
		                              development);
	ck_assert_msg(inet_pton(AF_INET6, text, &in6.sin6_addr) == 1, "bad address %s", text);
	return netpolicy_addr_refused((const struct sockaddr *)(const void *)&in6, development);
}

START_TEST(netpolicy_urls)
{
	ck_assert(netpolicy_url_allowed("https://api.weixin.qq.com/x", false));
	ck_assert(!netpolicy_url_allowed("http://api.weixin.qq.com/x", false));
	ck_assert(netpolicy_url_allowed("http://127.0.0.1:9000/x", true));
	ck_assert(netpolicy_url_allowed("https://h/x", true));
	ck_assert(!netpolicy_url_allowed("ftp://h/x", true));
	ck_assert(!netpolicy_url_allowed("file:///etc/passwd", true));
	ck_assert(!netpolicy_url_allowed("HTTPS://h/x", false)); /* as written by us: lower case */
	ck_assert(!netpolicy_url_allowed("", false));
	ck_assert(!netpolicy_url_allowed(NULL, true));
	ck_assert_str_eq(netpolicy_protocols(false), "https");
	ck_assert_str_eq(netpolicy_protocols(true), "http,https");
}
END_TEST

/* Refused in production, allowed in development. */
static const char *const np_private[] = {
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fdff::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "::ffff:192.168.0.1",
};

/* Refused in both modes: link-local, where cloud metadata lives. */
static const char *const np_link_local[] = {
    "169.254.169.254", "169.254.0.1", "fe80::1", "febf::1", "::ffff:169.254.169.254",
};

/* Allowed in both modes: public addresses, and the edges just outside each private range. */
static const char *const np_public[] = {
    "8.8.8.8",         "1.1.1.1",         "172.15.255.255", "172.32.0.1",      "192.167.255.255",
    "192.169.0.1",     "100.63.255.255",  "100.128.0.1",    "11.0.0.1",        "9.255.255.255",
    "223.255.255.255", "169.253.255.255", "169.255.0.1",    "2001:4860::8888", "2400:3200::1",
    "fec0::1",         "::ffff:8.8.8.8",
};

START_TEST(netpolicy_private)
{
	ck_assert_msg(np_refused(np_private[_i], false), "%s allowed in production",
	              np_private[_i]);
	ck_assert_msg(!np_refused(np_private[_i], true), "%s refused in development",
	              np_private[_i]);
}
END_TEST

START_TEST(netpolicy_link_local)
{
	ck_assert_msg(np_refused(np_link_local[_i], false), "%s allowed", np_link_local[_i]);
	ck_assert_msg(np_refused(np_link_local[_i], true), "%s allowed in development",
	              np_link_local[_i]);
}
END_TEST

START_TEST(netpolicy_public)
{
	ck_assert_msg(!np_refused(np_public[_i], false), "%s refused", np_public[_i]);
	ck_assert_msg(!np_refused(np_public[_i], true), "%s refused in development", np_public[_i]);
}
END_TEST

START_TEST(netpolicy_other_families)
{
	struct sockaddr sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	ck_assert(netpolicy_addr_refused(&sa, false));
	ck_assert(netpolicy_addr_refused(&sa, true));
	ck_assert(netpolicy_addr_refused(NULL, true));
}
END_TEST

#define NP_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *netpolicy_suite(void)
{
	Suite *s = suite_create("netpolicy");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, netpolicy_urls);
	tcase_add_loop_test(tc, netpolicy_private, 0, NP_COUNT(np_private));
	tcase_add_loop_test(tc, netpolicy_link_local, 0, NP_COUNT(np_link_local));
	tcase_add_loop_test(tc, netpolicy_public, 0, NP_COUNT(np_public));
	tcase_add_test(tc, netpolicy_other_families);
	suite_add_tcase(s, tc);
	return s;
}
