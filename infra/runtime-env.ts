/**
 * Environment variable names the functions read besides the table and queue ones (those are in
 * resources.ts: TABLES.x.envVar, QUEUES.x.urlEnvVar), and the metrics namespace. One definition, read by
 * the functions and by the CDK stack that sets them, as resources.ts is: no import side effects here.
 */

/** Where lambdas/shared/config-source.ts finds the deployed analysts' config (AppConfig data API). */
export const APPCONFIG_ENV = {
  applicationId: 'STO_APPCONFIG_APPLICATION_ID',
  environmentId: 'STO_APPCONFIG_ENVIRONMENT_ID',
  profileId: 'STO_APPCONFIG_PROFILE_ID',
} as const;

/** The dispatch function's SES and SMS settings (lambdas/dispatch/index.ts). */
export const DISPATCH_ENV = {
  fromEmailAddress: 'DISPATCH_FROM_EMAIL_ADDRESS',
  configurationSetName: 'DISPATCH_SES_CONFIGURATION_SET',
  smsSenderId: 'DISPATCH_SMS_SENDER_ID',
  smsOriginationNumber: 'DISPATCH_SMS_ORIGINATION_NUMBER',
} as const;

/** CloudWatch namespace of the functions' Powertools metrics (lambdas/shared/metrics.ts). */
export const METRICS_NAMESPACE = 'SendTimeOptimizer';
