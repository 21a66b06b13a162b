/**
 * Delivery of the analysts' config through AWS AppConfig: one hosted configuration profile whose JSON
 * Schema validator refuses a bad version before it is deployed, a linear rollout with a bake time, and an
 * environment that rolls a deployment back when the functions start failing (the rollback alarm).
 *
 * `cdk deploy` with a changed config file changes only the hosted version and its deployment; the
 * functions read the config through the AppConfig data API at run time (lambdas/shared/config-source.ts),
 * so no function is updated.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  CfnApplication,
  CfnConfigurationProfile,
  CfnDeployment,
  CfnDeploymentStrategy,
  CfnEnvironment,
  CfnHostedConfigurationVersion,
} from 'aws-cdk-lib/aws-appconfig';
import type { IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { HostedVersionCleanup } from './appconfig-cleanup.ts';
import { DeploymentError } from './errors.ts';
import { APPCONFIG_ENV } from './runtime-env.ts';

/** AppConfig's limit on a validator's content. */
export const MAX_VALIDATOR_CHARS = 32_768;

/** How a config version rolls out: linear over a few minutes, then a bake during which alarms still roll back. */
export const CONFIG_ROLLOUT = { durationMinutes: 4, growthFactorPercent: 25, finalBakeMinutes: 5 } as const;

export interface AnalystConfigDeliveryProps {
  /** The config file's text as the analysts wrote it (validated before it gets here). */
  readonly configText: string;
  /** The config's own `version` field, shown as the hosted version's label. */
  readonly configVersion: string;
  /** JSON Schema of the config (AppConfig validates with draft 4). */
  readonly jsonSchema: object;
  /** While a deployment or its bake runs, this alarm going off rolls the deployment back. */
  readonly rollbackAlarm: IAlarm;
}

/**
 * The AppConfig application, environment, profile, hosted version, strategy and deployment.
 * @example const delivery = new AnalystConfigDelivery(this, 'AnalystConfig', { configText, configVersion, jsonSchema, rollbackAlarm });
 *          fn.addEnvironment(...delivery.environmentVariables()); role.addToPolicy(delivery.allowRead());
 */
export class AnalystConfigDelivery extends Construct {
  readonly application: CfnApplication;
  readonly environment: CfnEnvironment;
  readonly profile: CfnConfigurationProfile;
  readonly hostedVersion: CfnHostedConfigurationVersion;
  readonly strategy: CfnDeploymentStrategy;
  readonly deployment: CfnDeployment;
  /** Deletes the retained versions when the stack is deleted, so the profile can be deleted too. */
  readonly cleanup: HostedVersionCleanup;

  constructor(scope: Construct, id: string, props: AnalystConfigDeliveryProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const validator = JSON.stringify(props.jsonSchema);
    if (validator.length > MAX_VALIDATOR_CHARS) {
      throw new DeploymentError(
        `the config's JSON Schema is ${validator.length} characters; an AppConfig validator holds at most ${MAX_VALIDATOR_CHARS}`,
      );
    }

    this.application = new CfnApplication(this, 'Application', {
      name: stack.stackName,
      description: "Send-time optimizer: the analysts' config (bandit, rewards, guardrails)",
    });

    const alarmRole = new Role(this, 'RollbackAlarmRole', {
      description: 'AppConfig reads the rollback alarm during config deployments',
      assumedBy: new ServicePrincipal('appconfig.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': stack.account },
      }),
      inlinePolicies: {
        ReadRollbackAlarm: new PolicyDocument({
          statements: [
            new PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: [props.rollbackAlarm.alarmArn] }),
          ],
        }),
      },
    });

    this.environment = new CfnEnvironment(this, 'Environment', {
      applicationId: this.application.attrApplicationId,
      name: 'live',
      description: 'What the deployed functions read',
      monitors: [{ alarmArn: props.rollbackAlarm.alarmArn, alarmRoleArn: alarmRole.roleArn }],
    });

    this.profile = new CfnConfigurationProfile(this, 'Profile', {
      applicationId: this.application.attrApplicationId,
      name: 'analyst-config',
      description: 'config/*.json, validated against the same schema as `npx sto config validate`',
      locationUri: 'hosted',
      type: 'AWS.Freeform',
      validators: [{ type: 'JSON_SCHEMA', content: validator }],
    });

    this.hostedVersion = new CfnHostedConfigurationVersion(this, 'Version', {
      applicationId: this.application.attrApplicationId,
      configurationProfileId: this.profile.attrConfigurationProfileId,
      content: props.configText,
      contentType: 'application/json',
      ...(props.configVersion.length <= 64 && { versionLabel: props.configVersion }),
    });
    // an automatic rollback returns to the previous version: it must still exist after CloudFormation
    // replaces this resource with the next one (the AppConfig L2 construct does the same)
    this.hostedVersion.applyRemovalPolicy(RemovalPolicy.RETAIN);
    // ...and AppConfig deletes no profile that still has versions: on stack deletion, this deletes them first
    this.cleanup = new HostedVersionCleanup(this, 'Cleanup', { application: this.application, profile: this.profile });

    this.strategy = new CfnDeploymentStrategy(this, 'Strategy', {
      name: `${stack.stackName}-linear-${CONFIG_ROLLOUT.durationMinutes}min-bake-${CONFIG_ROLLOUT.finalBakeMinutes}min`,
      description: 'Linear rollout to every function container, then a bake; the rollback alarm is watched throughout',
      deploymentDurationInMinutes: CONFIG_ROLLOUT.durationMinutes,
      growthType: 'LINEAR',
      growthFactor: CONFIG_ROLLOUT.growthFactorPercent,
      finalBakeTimeInMinutes: CONFIG_ROLLOUT.finalBakeMinutes,
      replicateTo: 'NONE',
    });

    this.deployment = new CfnDeployment(this, 'Deployment', {
      applicationId: this.application.attrApplicationId,
      environmentId: this.environment.attrEnvironmentId,
      configurationProfileId: this.profile.attrConfigurationProfileId,
      configurationVersion: this.hostedVersion.attrVersionNumber,
      deploymentStrategyId: this.strategy.attrId,
      description: `config version ${props.configVersion}`,
    });
  }

  /** The ARN the AppConfig data API authorises against: this environment's view of this profile. */
  get configurationArn(): string {
    return Stack.of(this).formatArn({
      service: 'appconfig',
      resource: 'application',
      resourceName: `${this.application.attrApplicationId}/environment/${this.environment.attrEnvironmentId}/configuration/${this.profile.attrConfigurationProfileId}`,
    });
  }

  /** What a function needs to read the deployed config, and nothing else. */
  allowRead(): PolicyStatement {
    return new PolicyStatement({
      actions: ['appconfig:StartConfigurationSession', 'appconfig:GetLatestConfiguration'],
      resources: [this.configurationArn],
    });
  }

  /** The variables lambdas/shared/config-source.ts reads. */
  environmentVariables(): Record<string, string> {
    return {
      [APPCONFIG_ENV.applicationId]: this.application.attrApplicationId,
      [APPCONFIG_ENV.environmentId]: this.environment.attrEnvironmentId,
      [APPCONFIG_ENV.profileId]: this.profile.attrConfigurationProfileId,
    };
  }
}
