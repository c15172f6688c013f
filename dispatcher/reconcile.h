/*
 * reconcile — orders still unpaid some time after creation are queried at WeChat Pay and
 * settled through the same guarded path as the notify (model/orders orders_apply); those
 * unpaid after expire_s are closed there and here.  Used by aiphoto-dispatch (each run, under
 * its maintenance lock) and by `aiphotoctl reconcile-orders`.
 */
#ifndef AIPHOTO_DISPATCHER_RECONCILE_H
#define AIPHOTO_DISPATCHER_RECONCILE_H

#include <stddef.h>

#include "lib/arena.h"

struct reconcile_stats {
	size_t checked, settled, closed, waiting, failed;
};

/* Handles up to 500 orders created at least older_s seconds ago; one log line per change.
 * Redis must be initialised (the Pay client needs nothing else from it, but the caller's
 * configuration is shared).  Returns 0 when every order was handled, -1 otherwise. */
int reconcile_orders(struct arena *a, long older_s, long expire_s, struct reconcile_stats *st);

#endif
