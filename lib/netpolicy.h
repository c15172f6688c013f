/*
 * netpolicy — which outbound URLs and addresses the service may reach (DESIGN §5, §7).
 *
 * Every outbound transfer (lib/httpc.c: WeChat, WeChat Pay, AI providers and their result
 * downloads) goes through this policy twice: the URL's scheme before the transfer starts,
 * and each resolved address when its socket is opened (after DNS, so a name that resolves
 * to a private address is refused too).
 *
 *   production   https:// only; loopback, private (10/8, 172.16/12, 192.168/16), CGNAT
 *                (100.64/10), "this network" (0/8), multicast and reserved (224/3), link-local;
 *                IPv6 unique-local, multicast, link-local and ::/96 (unspecified, loopback,
 *                IPv4-compatible) are refused.
 *   development  (AIPHOTO_ENV=development) http:// too, and any address but link-local
 *                (169.254/16, fe80::/10: cloud metadata), which stays refused.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as their IPv4 address.
 */
#ifndef AIPHOTO_NETPOLICY_H
#define AIPHOTO_NETPOLICY_H

#include <stdbool.h>
#include <sys/socket.h>

/* True when url's scheme may be fetched: https://, or http:// in development. */
bool netpolicy_url_allowed(const char *url, bool development);

/* libcurl's CURLOPT_PROTOCOLS_STR value for the mode: "https" or "http,https". */
const char *netpolicy_protocols(bool development);

/* True when a connection to sa must not be opened; families other than IPv4 and IPv6 are
 * refused. */
bool netpolicy_addr_refused(const struct sockaddr *sa, bool development);

#endif
