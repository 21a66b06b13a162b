/**
 * Environment variable names the stack sets besides the table and queue ones (those come from
 * infra/resources.ts: TABLES.x.envVar, QUEUES.x.urlEnvVar).
 *
 * cdk/ never imports lambdas/ code (an entry module creates its clients and reads its environment when
 * loaded), so the names the functions read are repeated here; test/cdk/stack.test.ts loads the
 * function modules and fails if a name here and there drift apart.
 */

/** lambdas/dispatch/index.ts DISPATCH_ENV. */
export const DISPATCH_ENV = {
  fromEmailAddress: 'DISPATCH_FROM_EMAIL_ADDRESS',
  configurationSetName: 'DISPATCH_SES_CONFIGURATION_SET',
  smsSenderId: 'DISPATCH_SMS_SENDER_ID',
  smsOriginationNumber: 'DISPATCH_SMS_ORIGINATION_NUMBER',
} as const;

/** Where lambdas/shared/config-source.ts finds the deployed analysts' config (AppConfig data API). */
export const APPCONFIG_ENV = {
  applicationId: 'STO_APPCONFIG_APPLICATION_ID',
  environmentId: 'STO_APPCONFIG_ENVIRONMENT_ID',
  profileId: 'STO_APPCONFIG_PROFILE_ID',
} as const;

/** CloudWatch namespace of the functions' Powertools metrics (lambdas/shared/metrics.ts METRICS_NAMESPACE). */
export const METRICS_NAMESPACE = 'SendTimeOptimizer';
