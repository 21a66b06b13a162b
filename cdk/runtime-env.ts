/**
 * Environment variable names the stack sets besides the table and queue ones, and the metrics namespace:
 * defined once in infra/runtime-env.ts, which the functions read too (as infra/resources.ts for tables and
 * queues), so the names cannot drift apart.
 */
export { APPCONFIG_ENV, DISPATCH_ENV, METRICS_NAMESPACE } from '#infra/runtime-env.ts';
