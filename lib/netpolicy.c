/* netpolicy — see netpolicy.h. */
#include "lib/netpolicy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

bool netpolicy_url_allowed(const char *url, bool development)
{
	if (url == NULL)
		return false;
	return strncmp(url, "https://", 8) == 0 || (development && strncmp(url, "http://", 7) == 0);
}

const char *netpolicy_protocols(bool development)
{
	return development ? "http,https" : "https";
}

/* An IPv4 address (host order) a production connection must not reach. */
static bool netpolicy_v4_private(uint32_t ip)
{
	return (ip >> 24) == 127 || (ip >> 24) == 10 || (ip >> 24) == 0 ||
	       (ip >> 20) == 0xAC1 /* 172.16/12 */ || (ip >> 16) == 0xC0A8 /* 192.168/16 */ ||
	       (ip >> 22) == 0x191 /* 100.64/10 */ || (ip >> 28) >= 0xE /* multicast, 240/4 */;
}

static bool netpolicy_v4_refused(uint32_t ip, bool development)
{
	if ((ip >> 16) == 0xA9FE) /* 169.254/16: link-local, cloud metadata */
		return true;
	return !development && netpolicy_v4_private(ip);
}

static bool netpolicy_v6_refused(const unsigned char *b, bool development)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char zero[12] = {0};

	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return true; /* fe80::/10 */
	if (memcmp(b, mapped, sizeof(mapped)) == 0) {
		uint32_t ip = ((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) |
		              ((uint32_t)b[14] << 8) | (uint32_t)b[15];
		return netpolicy_v4_refused(ip, development);
	}
	if (development)
		return false;
	/* fc00::/7 unique-local, ff00::/8 multicast, ::/96 (::, ::1, IPv4-compatible) */
	return (b[0] & 0xfe) == 0xfc || b[0] == 0xff || memcmp(b, zero, sizeof(zero)) == 0;
}

bool netpolicy_addr_refused(const struct sockaddr *sa, bool development)
{
	if (sa == NULL)
		return true;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return netpolicy_v4_refused(ntohl(in->sin_addr.s_addr), development);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		return netpolicy_v6_refused(in6->sin6_addr.s6_addr, development);
	}
	return true;
}
