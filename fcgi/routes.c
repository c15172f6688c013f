/*
 * routes — the whole API surface: every resource's route table, in match order.
 * Each table lives beside its handlers in handlers/<resource>.c.
 */
#include "fcgi/router.h"
#include "handlers/handlers.h"

const struct route_table *const router_tables[] = {
    &health_routes,        &metrics_routes,        &credits_routes,      &scenes_routes,
    &user_routes,          &events_routes,         &auth_routes,         &wechat_routes,
    &admin_routes,         &payment_routes,        &uploads_routes,      &prompts_routes,
    &tasks_routes,         &media_routes,          &works_routes,        &config_routes,
    &cloud_routes,         &admin_accounts_routes, &admin_users_routes,  &admin_stats_routes,
    &admin_content_routes, &admin_models_routes,   &admin_config_routes, &admin_tasks_routes,
    &migrate_routes,       &admin_refunds_routes,
};

const size_t router_ntables = sizeof(router_tables) / sizeof(router_tables[0]);
