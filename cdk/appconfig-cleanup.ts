/**
 * Lets `cdk destroy` delete the AppConfig profile in one go. The stack retains every hosted configuration
 * version (an automatic rollback must find the previous one: cdk/analyst-config.ts), and AppConfig
 * refuses to delete a profile that still has versions. This custom resource depends on the profile, so
 * CloudFormation deletes it first; its handler (cdk/appconfig-cleanup.cjs) then deletes every version of
 * the profile, but only when the whole stack is being deleted. Create and Update do nothing.
 *
 * One Lambda-backed custom resource, no provider framework: the handler is inline code on the runtime's
 * AWS SDK (no bundling, no asset) and answers CloudFormation itself, so there is no second function with
 * a managed policy and an invoke wildcard. Like the service functions it runs nodejs22.x on arm64 with its
 * own log group and a role that holds only what it uses.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { CfnApplication, CfnConfigurationProfile } from 'aws-cdk-lib/aws-appconfig';
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PROJECT_ROOT } from './bundling.ts';

/** The handler's source, relative to the project root: deployed as it is (inline code). */
export const CLEANUP_HANDLER_FILE = 'cdk/appconfig-cleanup.cjs';

/** The handler's budget; short of it, the handler stops and answers FAILED (a second delete does the rest). */
export const CLEANUP_TIMEOUT = Duration.minutes(5);

const CLEANUP_FUNCTION_ACKNOWLEDGEMENTS = [
  {
    id: 'AwsSolutions-L1',
    reason:
      'nodejs22.x like the service functions: the inline handler is unit-tested on Node 22 ' +
      '(test/cdk/stack.test.ts) and uses only the AWS SDK v3 that nodejs22.x ships; a newer runtime is a ' +
      'tested change of its own',
  },
  {
    id: 'Serverless-LambdaLatestVersion',
    reason: 'nodejs22.x on purpose: the runtime the inline handler is tested on (see AwsSolutions-L1)',
  },
  {
    id: 'Serverless-LambdaTracing',
    reason:
      'Runs once, when the stack is deleted: its answer to CloudFormation (a stack event) and its log line are ' +
      "the record; tracing would need xray:PutTraceSegments on Resource '*' for no trace consumer",
  },
  {
    id: 'Serverless-LambdaDLQ',
    reason:
      'Only CloudFormation invokes it, and CloudFormation waits for its answer: a failure shows as the ' +
      "resource's DELETE_FAILED stack event (or FAILED after serviceTimeout); a DLQ message would reach nobody",
  },
] as const;

export interface HostedVersionCleanupProps {
  readonly application: CfnApplication;
  readonly profile: CfnConfigurationProfile;
}

/**
 * Deletes the profile's hosted configuration versions when the stack is deleted, before the profile.
 * @example new HostedVersionCleanup(this, 'Cleanup', { application, profile });
 */
export class HostedVersionCleanup extends Construct {
  readonly function: LambdaFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: HostedVersionCleanupProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const applicationArn = stack.formatArn({
      service: 'appconfig',
      resource: 'application',
      resourceName: props.application.attrApplicationId,
    });
    const profileArn = `${applicationArn}/configurationprofile/${props.profile.attrConfigurationProfileId}`;
    const versionsArn = `${profileArn}/hostedconfigurationversion/*`;

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // inline policies: part of the role, so they exist for as long as the function does
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: "AppConfig cleanup: deletes this stack's profile's hosted configuration versions",
      inlinePolicies: {
        DeleteHostedVersions: new PolicyDocument({
          statements: [
            // AppConfig authorises these against the application and the profile (and the version)
            new PolicyStatement({
              sid: 'ListVersions',
              actions: ['appconfig:ListHostedConfigurationVersions'],
              resources: [applicationArn, profileArn],
            }),
            new PolicyStatement({
              sid: 'DeleteVersions',
              actions: ['appconfig:DeleteHostedConfigurationVersion'],
              resources: [applicationArn, profileArn, versionsArn],
            }),
            new PolicyStatement({
              sid: 'ReadOwnStackStatus',
              actions: ['cloudformation:DescribeStacks'],
              resources: [stack.stackId],
            }),
            new PolicyStatement({
              sid: 'WriteOwnLogs',
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [this.logGroup.logGroupArn],
            }),
          ],
        }),
      },
    });

    this.function = new LambdaFunction(this, 'Function', {
      description: "On stack deletion, deletes the AppConfig profile's hosted versions so the profile can go",
      code: Code.fromInline(readFileSync(join(PROJECT_ROOT, CLEANUP_HANDLER_FILE), 'utf8')),
      handler: 'index.handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: 256,
      timeout: CLEANUP_TIMEOUT,
      role: this.role,
      logGroup: this.logGroup,
    });

    // it depends on the application and the profile: CloudFormation creates it after them and deletes it
    // (running the cleanup) before them
    this.resource = new CustomResource(this, 'Resource', {
      resourceType: 'Custom::AppConfigHostedVersionCleanup',
      serviceToken: this.function.functionArn,
      // the handler answers within its timeout; if it never does, fail after this instead of an hour
      serviceTimeout: CLEANUP_TIMEOUT.plus(Duration.minutes(1)),
      properties: {
        ApplicationId: props.application.attrApplicationId,
        ConfigurationProfileId: props.profile.attrConfigurationProfileId,
      },
    });
    // explicit as well: the order must not hang on which properties happen to refer to the profile
    this.resource.node.addDependency(props.profile);

    // how cdk-nag spells the versions' ARN in its finding
    const nagVersionsArn =
      'arn:<AWS::Partition>:appconfig:<AWS::Region>:<AWS::AccountId>:' +
      `application/<${stack.getLogicalId(props.application)}.ApplicationId>/` +
      `configurationprofile/<${stack.getLogicalId(props.profile)}.ConfigurationProfileId>/hostedconfigurationversion/*`;
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagVersionsArn}]`,
      reason:
        'AppConfig numbers a hosted configuration version when a config deploy creates it, so no ARN can name ' +
        "them in advance. The wildcard covers only the versions of this stack's one profile, for " +
        'appconfig:DeleteHostedConfigurationVersion alone',
    });
    for (const acknowledgement of CLEANUP_FUNCTION_ACKNOWLEDGEMENTS) {
      Validations.of(this.function).acknowledge(acknowledgement);
    }
  }
}
