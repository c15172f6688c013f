/*
 * admin — `aiphotoctl admin …`: the operator's hand on the admin accounts (docs/admin.md).
 *
 *   admin add USERNAME [--role owner|operator|support|viewer]   (default viewer)
 *   admin role USERNAME ROLE
 *   admin disable USERNAME | admin enable USERNAME
 *   admin password USERNAME
 *   admin list
 * add and password read the password from the first line of standard input (PASSWORD_MIN to
 * PASSWORD_MAX bytes).  A new role, a disabling and a new password end the admin's sessions
 * at once.  Every change is written to the audit log as made by aiphotoctl, and none may
 * leave the service without an active owner.
 */
#ifndef AIPHOTO_CTL_ADMIN_H
#define AIPHOTO_CTL_ADMIN_H

#include "lib/arena.h"

/* argv holds the words after "admin"; the database is configured.  Exit status: 0 done,
 * 1 refused or failed, 2 usage. */
int ctl_admin(struct arena *a, int argc, char **argv);

#endif
