/*
 * routes — the whole API surface: every resource's route table, in match order.
 * Each table lives beside its handlers in handlers/<resource>.c.
 */
#include "fcgi/router.h"
#include "handlers/handlers.h"

const struct route_table *const router_tables[] = {
    &health_routes,  &metrics_routes, &credits_routes, &scenes_routes, &user_routes,
    &events_routes,  &auth_routes,    &wechat_routes,  &admin_routes,  &payment_routes,
    &uploads_routes, &prompts_routes, &tasks_routes,   &works_routes,  &config_routes,
    &cloud_routes,   &migrate_routes,
};

const size_t router_ntables = sizeof(router_tables) / sizeof(router_tables[0]);
