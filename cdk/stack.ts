/**
 * The production stack: tables and queues from infra/resources.ts, the five functions with exactly the
 * permissions their code uses, the sweeper's schedule, the analysts' config in AppConfig, alarms and
 * the dashboard. Environment-agnostic (no account, no region, no lookups): `cdk synth` runs offline.
 *
 * Who may do what (least privilege; each line is one statement on one resource):
 *   ingest   users: GetItem UpdateItem          decisions: GetItem UpdateItem (reward attribution)
 *   decide   users: BatchGetItem GetItem UpdateItem (send log)   decisions: PutItem GetItem   model: Query
 *   sweeper  decisions: GetItem UpdateItem (claims, the closer's watermark), Query on byDue and byRewardWindow
 *            sqs:SendMessage to dispatch, requests, rewards
 *   dispatch decisions: GetItem UpdateItem      users: GetItem UpdateItem
 *            ses:SendEmail on the sender identity (and configuration set)
 *            sns:Publish on the push platform applications' endpoints, and on * for SMS to phone numbers
 *   learner  model: Query PutItem
 *   all      their own log group; the AppConfig data API on this environment's config profile
 * The AppConfig cleanup's function (cdk/appconfig-cleanup.ts; acts on stack deletion only) lists and deletes
 * the hosted versions of this profile, reads this stack's status and writes to its own log group.
 * Consumers also get what their SQS event source needs on their own queue (added by the event source).
 */
import { Aws, CfnOutput, CfnParameter, Duration, Fn, Stack, type StackProps, Token, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Construct } from 'constructs';
import {
  QUEUE_NAMES,
  QUEUES,
  type QueueDefinition,
  type QueueLogicalName,
  TABLE_NAMES,
  TABLES,
  type TableLogicalName,
} from '#infra/resources.ts';
import { AnalystConfigDelivery } from './analyst-config.ts';
import { DeploymentError } from './errors.ts';
import { FUNCTION_NAMES, type FunctionName, ServiceFunction } from './functions.ts';
import { pascalCase } from './names.ts';
import { Observability } from './observability.ts';
import { createQueues, type MessageQueues } from './queues.ts';
import { DISPATCH_ENV } from './runtime-env.ts';
import { type DeploymentSettings, EMAIL_PATTERN } from './settings.ts';
import { createTables, type StateTables } from './tables.ts';

/** The queues producers send to; their URLs are stack outputs. */
export const PRODUCER_QUEUES: readonly QueueLogicalName[] = ['events', 'requests'];

export interface SendTimeOptimizerStackProps extends StackProps {
  readonly settings: DeploymentSettings;
  /** JSON Schema of the analysts' config, for the AppConfig validator. */
  readonly configJsonSchema: object;
}

const RUNTIME_ACKNOWLEDGEMENTS = [
  {
    id: 'AwsSolutions-L1',
    reason:
      'nodejs22.x on purpose: the project builds and tests on Node 22 (engines >=22, the node@22 toolchain); ' +
      'moving to a newer runtime is a tested change of its own, not a side effect of a deploy',
  },
  {
    id: 'Serverless-LambdaLatestVersion',
    reason: 'nodejs22.x on purpose: the runtime the code is built and tested on (see AwsSolutions-L1)',
  },
  {
    id: 'Serverless-LambdaTracing',
    reason:
      'No X-Ray: the functions emit structured logs and EMF metrics (Powertools); active tracing would need ' +
      "xray:PutTraceSegments on Resource '*' in every role for no trace consumer",
  },
] as const;

const QUEUE_CONSUMER_ACKNOWLEDGEMENTS = [
  {
    id: 'Serverless-LambdaDLQ',
    reason:
      'Invoked synchronously by its SQS event source: a function DeadLetterConfig only applies to asynchronous ' +
      "invocations; failed records go to the source queue's DLQ through its redrive policy",
  },
  {
    id: 'Serverless-LambdaEventSourceMappingDestination',
    reason:
      'SQS event source mappings take no on-failure destination (only stream and Kafka sources do); the ' +
      "queue's redrive policy to its DLQ is the failure destination",
  },
] as const;

export class SendTimeOptimizerStack extends Stack {
  readonly tables: StateTables;
  readonly queues: MessageQueues;
  readonly functions: Readonly<Record<FunctionName, ServiceFunction>>;
  readonly analystConfig: AnalystConfigDelivery;
  readonly observability: Observability;
  /** The SES sender: the context value, or the SenderEmail parameter's value. */
  private readonly sender: string;

  constructor(scope: Construct, id: string, props: SendTimeOptimizerStackProps) {
    super(scope, id, props);
    const { settings } = props;

    this.tables = createTables(this);
    this.queues = createQueues(this);
    for (const name of QUEUE_NAMES) {
      Validations.of(this.queues[name].deadLetterQueue).acknowledge({
        id: 'Serverless-SQSRedrivePolicy',
        reason: `This is the ${name} queue's DLQ: a DLQ of a DLQ would only move the same message once more`,
      });
    }

    // Physical names, so alarms can name the functions without referring to them (see observability.ts).
    const functionNames = Object.fromEntries(FUNCTION_NAMES.map((name) => [name, `${this.stackName}-${name}`])) as {
      [F in FunctionName]: string;
    };
    this.observability = new Observability(this, 'Observability', {
      queues: this.queues,
      functionNames,
      dashboardName: `${this.stackName}-${Aws.REGION}`,
      alarmEmail: settings.alarmEmail,
    });

    this.analystConfig = new AnalystConfigDelivery(this, 'AnalystConfig', {
      configText: settings.configText,
      configVersion: settings.config.version,
      jsonSchema: props.configJsonSchema,
      rollbackAlarm: this.observability.rollbackAlarm,
    });

    this.sender = this.senderEmail(settings);
    this.functions = this.createFunctions(settings, functionNames);
    this.connectQueues();
    this.scheduleSweeper();
    this.grantPermissions(settings);
    this.addOutputs();
  }

  private tableEnvironment(...names: TableLogicalName[]): Record<string, string> {
    return Object.fromEntries(names.map((name) => [TABLES[name].envVar, this.tables[name].table.tableName]));
  }

  private queueEnvironment(...names: QueueLogicalName[]): Record<string, string> {
    return Object.fromEntries(names.map((name) => [QUEUES[name].urlEnvVar, this.queues[name].queue.queueUrl]));
  }

  private senderEmail(settings: DeploymentSettings): string {
    if (settings.senderEmail) return settings.senderEmail;
    // No sender in context: synth still works (offline, fresh clone); deploy asks for the parameter.
    return new CfnParameter(this, 'SenderEmail', {
      type: 'String',
      description: 'SES-verified sender address (or an address of a verified domain) of notification emails',
      allowedPattern: EMAIL_PATTERN,
      constraintDescription: 'a bare email address, e.g. news@example.com',
    }).valueAsString;
  }

  private createFunctions(settings: DeploymentSettings, functionNames: Record<FunctionName, string>) {
    const dispatchEnvironment = {
      [DISPATCH_ENV.fromEmailAddress]: this.sender,
      ...(settings.sesConfigurationSet && { [DISPATCH_ENV.configurationSetName]: settings.sesConfigurationSet }),
      ...(settings.smsSenderId && { [DISPATCH_ENV.smsSenderId]: settings.smsSenderId }),
      ...(settings.smsOriginationNumber && { [DISPATCH_ENV.smsOriginationNumber]: settings.smsOriginationNumber }),
    };
    const environments: Record<FunctionName, Record<string, string>> = {
      ingest: this.tableEnvironment('users', 'decisions'),
      decide: this.tableEnvironment('users', 'decisions', 'model'),
      sweeper: {
        ...this.tableEnvironment('decisions', 'users'),
        ...this.queueEnvironment('dispatch', 'requests', 'rewards'),
      },
      dispatch: { ...this.tableEnvironment('decisions', 'users'), ...dispatchEnvironment },
      learner: this.tableEnvironment('model'),
    };
    const entries = FUNCTION_NAMES.map((name) => {
      const fn = new ServiceFunction(this, pascalCase(name), {
        name,
        functionName: functionNames[name],
        environment: { ...environments[name], ...this.analystConfig.environmentVariables() },
      });
      for (const acknowledgement of RUNTIME_ACKNOWLEDGEMENTS) Validations.of(fn).acknowledge(acknowledgement);
      return [name, fn] as const;
    });
    return Object.fromEntries(entries) as Record<FunctionName, ServiceFunction>;
  }

  private connectQueues(): void {
    for (const name of QUEUE_NAMES) {
      const { consumer }: QueueDefinition = QUEUES[name];
      if (!(FUNCTION_NAMES as readonly string[]).includes(consumer.functionName)) {
        throw new DeploymentError(`queue ${name}: no function '${consumer.functionName}' in cdk/functions.ts`);
      }
      const fn = this.functions[consumer.functionName as FunctionName];
      fn.function.addEventSource(
        new SqsEventSource(this.queues[name].queue, {
          batchSize: consumer.batchSize,
          ...(consumer.maxBatchingWindowSeconds > 0 && {
            maxBatchingWindow: Duration.seconds(consumer.maxBatchingWindowSeconds),
          }),
          ...(consumer.maxConcurrency !== undefined && { maxConcurrency: consumer.maxConcurrency }),
          reportBatchItemFailures: consumer.reportBatchItemFailures,
        }),
      );
      for (const acknowledgement of QUEUE_CONSUMER_ACKNOWLEDGEMENTS) Validations.of(fn).acknowledge(acknowledgement);
    }
  }

  private scheduleSweeper(): void {
    const sweeper = this.functions.sweeper;
    const rule = new Rule(this, 'SweepSchedule', {
      description: 'Runs the sweeper every minute: due sends, deferred requests, reward windows',
      schedule: Schedule.rate(Duration.minutes(1)),
    });
    // a tick carries no data and the next one comes in a minute: retrying an old tick for hours is pointless
    rule.addTarget(new LambdaFunction(sweeper.function, { retryAttempts: 2, maxEventAge: Duration.minutes(2) }));
    const reason =
      'A schedule tick carries no data: a lost or failed sweep is redone by the next tick a minute later ' +
      '(claims are conditional writes), and failures raise the sweeper Errors alarm';
    Validations.of(rule).acknowledge({ id: 'Serverless-EventBusDLQ', reason });
    Validations.of(sweeper).acknowledge({ id: 'Serverless-LambdaDLQ', reason });
  }

  private grantPermissions(settings: DeploymentSettings): void {
    const { users, decisions, model } = this.tables;
    const { ingest, decide, sweeper, dispatch, learner } = this.functions;

    ingest.allow(users.allow(['GetItem', 'UpdateItem']), decisions.allow(['GetItem', 'UpdateItem']));
    decide.allow(
      users.allow(['BatchGetItem', 'GetItem', 'UpdateItem']),
      decisions.allow(['PutItem', 'GetItem']),
      model.allow(['Query']),
    );
    sweeper.allow(
      // GetItem and UpdateItem: claims, and the reward closer's watermark item
      decisions.allow(['GetItem', 'UpdateItem']),
      decisions.allow(['Query'], ['byDue', 'byRewardWindow']),
      this.queues.dispatch.allowSend(),
      this.queues.requests.allowSend(),
      this.queues.rewards.allowSend(),
    );
    dispatch.allow(
      decisions.allow(['GetItem', 'UpdateItem']),
      users.allow(['GetItem', 'UpdateItem']),
      ...this.dispatchProviderStatements(settings, dispatch),
    );
    learner.allow(model.allow(['Query', 'PutItem']));

    for (const name of FUNCTION_NAMES) this.functions[name].allow(this.analystConfig.allowRead());
  }

  private dispatchProviderStatements(settings: DeploymentSettings, dispatch: ServiceFunction): PolicyStatement[] {
    const sender = this.sender;
    const senderDomain = Token.isUnresolved(sender) ? Fn.select(1, Fn.split('@', sender)) : sender.split('@')[1];
    const identityArn = (identity: string) =>
      this.formatArn({ service: 'ses', resource: 'identity', resourceName: identity });
    const statements = [
      new PolicyStatement({
        sid: 'EmailFromSenderIdentity',
        actions: ['ses:SendEmail'],
        // SES authorises against the address's identity, or its domain's when the domain is what is verified
        resources: [
          identityArn(sender),
          identityArn(senderDomain),
          ...(settings.sesConfigurationSet
            ? [
                this.formatArn({
                  service: 'ses',
                  resource: 'configuration-set',
                  resourceName: settings.sesConfigurationSet,
                }),
              ]
            : []),
        ],
      }),
    ];
    if (settings.pushPlatformApplications.length > 0) {
      statements.push(
        new PolicyStatement({
          sid: 'PushToPlatformEndpoints',
          actions: ['sns:Publish'],
          resources: settings.pushPlatformApplications.map((app) => app.endpointArnPattern),
        }),
      );
      for (const app of settings.pushPlatformApplications) {
        Validations.of(dispatch.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${app.endpointArnPattern}]`,
          reason:
            `Push endpoints are created per device at run time under ${app.arn}; ` +
            'the wildcard covers only that platform application',
        });
      }
    }
    statements.push(
      new PolicyStatement({
        sid: 'SmsToPhoneNumbers',
        actions: ['sns:Publish'],
        // IAM has no resource for a phone number: SNS authorises SMS publishes against '*'
        resources: ['*'],
      }),
    );
    Validations.of(dispatch.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "sns:Publish to a phone number (SMS) has no resource ARN: IAM only accepts Resource '*' for it. " +
        'The statement allows sns:Publish alone, and only the dispatch function has it',
    });
    return statements;
  }

  private addOutputs(): void {
    for (const name of PRODUCER_QUEUES) {
      new CfnOutput(this, `${pascalCase(name)}QueueUrl`, {
        description: `Producers send ${name} here (events/json-schema/, events/README.md)`,
        value: this.queues[name].queue.queueUrl,
      });
    }
    for (const name of QUEUE_NAMES) {
      new CfnOutput(this, `${pascalCase(name)}DeadLetterQueueUrl`, {
        description: `Dead-letter queue of the ${name} queue`,
        value: this.queues[name].deadLetterQueue.queueUrl,
      });
    }
    // CloudFormation names the tables; `sto export --table`, `sto pretrain --table` and teardown need the names
    for (const name of TABLE_NAMES) {
      new CfnOutput(this, `${pascalCase(name)}TableName`, {
        description:
          `The ${name} table (${TABLES[name].envVar} of the functions and the sto CLI)` +
          (TABLES[name].retainOnDelete ? '; retained when the stack is deleted' : ''),
        value: this.tables[name].table.tableName,
      });
    }
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
    const appConfig = this.analystConfig;
    new CfnOutput(this, 'AppConfigApplicationId', { value: appConfig.application.attrApplicationId });
    new CfnOutput(this, 'AppConfigEnvironmentId', { value: appConfig.environment.attrEnvironmentId });
    new CfnOutput(this, 'AppConfigProfileId', { value: appConfig.profile.attrConfigurationProfileId });
    new CfnOutput(this, 'AppConfigDeploymentStrategyId', { value: appConfig.strategy.attrId });
    if (this.observability.alarmTopic) {
      new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.alarmTopic.topicArn });
    }
  }
}
