/**
 * The production stack as CloudFormation receives it, built by the same buildApp() as `cdk synth`: every
 * property the design promises, checked over every resource of its type (test/cdk/template-checks.ts),
 * each check also shown to notice a broken copy of the template; cdk-nag with zero unacknowledged
 * findings, and shown to be live; a masked snapshot; and a bad config file or context value stopping the
 * build with its path or key and the reason.
 *
 * Two builds, once each: the default context, bundled (what a fresh clone deploys; its assets are read
 * to see which bundles carry the TF.js wasm), and every optional context value set, not bundled (push,
 * SMS, SES configuration set, alarm e-mail, a config file of its own).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StackStatus } from '@aws-sdk/client-cloudformation';
import { type App, type CfnElement, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { IConstruct } from 'constructs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, InvalidConfigError } from '#config/errors.ts';
import { appConfigValidatorJsonSchema } from '#config/json-schema.ts';
import { QUEUE_NAMES, QUEUES, type QueueDefinition, TABLE_NAMES, TABLES } from '#infra/resources.ts';
import { CLEANUP_HANDLER_FILE, CLEANUP_TIMEOUT } from '../../cdk/appconfig-cleanup.ts';
import { buildApp, STACK_NAME } from '../../cdk/build.ts';
import { PROJECT_ROOT } from '../../cdk/bundling.ts';
import { DeploymentSettingError } from '../../cdk/errors.ts';
import { FUNCTION_NAMES, type FunctionName } from '../../cdk/functions.ts';
import { nagPacks } from '../../cdk/nag.ts';
import { CUSTOM_METRICS } from '../../cdk/observability.ts';
import { DISPATCH_ENV, METRICS_NAMESPACE } from '../../cdk/runtime-env.ts';
import { CONTEXT_KEYS, DEFAULT_CONFIG_FILE } from '../../cdk/settings.ts';
import type { SendTimeOptimizerStack } from '../../cdk/stack.ts';
import {
  alarmMetrics,
  alarmProblems,
  type CfnTemplate,
  deadLetterQueueIds,
  eventSourceMappingProblems,
  getAttId,
  iamProblems,
  identityStatements,
  lambdaProblems,
  type Properties,
  queueProblems,
  refId,
  resourcesOfType,
  tableProblems,
  visibilityProblems,
  type WildcardResourceException,
  wildcardResourceStatements,
  workQueueIds,
} from './template-checks.ts';

const run = promisify(execFile);

/** Skips bundling (CDK's own switch): for builds whose assets the test does not read. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] } as const;

const PUSH_APPS = [
  'arn:aws:sns:eu-west-1:123456789012:app/GCM/shop',
  'arn:aws:sns:eu-west-1:123456789012:app/APNS/shop',
];

/** Every optional context value set (the config file is written in beforeAll). */
const FULL_CONTEXT = {
  [CONTEXT_KEYS.senderEmail]: 'news@shop.example.com',
  [CONTEXT_KEYS.sesConfigurationSet]: 'sto-sends',
  [CONTEXT_KEYS.pushPlatformApplicationArns]: PUSH_APPS.join(','),
  [CONTEXT_KEYS.smsSenderId]: 'Shop',
  [CONTEXT_KEYS.smsOriginationNumber]: '+14255550100',
  [CONTEXT_KEYS.alarmEmail]: 'oncall@shop.example.com',
};

interface Built {
  readonly app: App;
  readonly stack: SendTimeOptimizerStack;
  readonly template: Template;
  readonly json: CfnTemplate;
  readonly outdir: string;
}

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** buildApp() as cdk/app.ts calls it, plus an outdir and context; synth throws on any cdk-nag finding. */
function build(context: Record<string, unknown>): Built {
  const outdir = tempDir('sto-stack-test-');
  const { app, stack } = buildApp({ outdir, cwd: PROJECT_ROOT, context });
  app.synth();
  const template = Template.fromStack(stack);
  return { app, stack, template, json: template.toJSON() as CfnTemplate, outdir };
}

function logicalId(stack: SendTimeOptimizerStack, construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** Logical ids of what the stack made, by the names infra/resources.ts and cdk/bundling.ts give them. */
function idsOf(stack: SendTimeOptimizerStack) {
  const by = <K extends string>(names: readonly K[], pick: (name: K) => IConstruct) =>
    Object.fromEntries(names.map((name) => [name, logicalId(stack, pick(name))])) as Record<K, string>;
  return {
    queues: by(QUEUE_NAMES, (name) => stack.queues[name].queue),
    deadLetterQueues: by(QUEUE_NAMES, (name) => stack.queues[name].deadLetterQueue),
    tables: by(TABLE_NAMES, (name) => stack.tables[name].table),
    functions: by(FUNCTION_NAMES, (name) => stack.functions[name].function),
    roles: by(FUNCTION_NAMES, (name) => stack.functions[name].role),
  };
}

/** Logical ids of the AppConfig cleanup custom resource, its function and its role. */
function cleanupIds(stack: SendTimeOptimizerStack) {
  const { cleanup } = stack.analystConfig;
  return {
    resource: logicalId(stack, cleanup.resource),
    function: logicalId(stack, cleanup.function),
    role: logicalId(stack, cleanup.role),
    logGroup: logicalId(stack, cleanup.logGroup),
  };
}

function smsException(built: Built): WildcardResourceException {
  return { roleId: idsOf(built.stack).roles.dispatch, actions: ['sns:Publish'] };
}

function expectedTables(built: Built) {
  const ids = idsOf(built.stack).tables;
  return Object.fromEntries(TABLE_NAMES.map((name) => [ids[name], TABLES[name]]));
}

/** Rule ids acknowledged anywhere in the app (Validations.of(x).acknowledge), with their reasons. */
function acknowledgements(app: App): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const construct of app.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [qualified, reason] of Object.entries(entry.data as Record<string, string>)) {
        const id = qualified.replace(/^annotation::/i, '');
        found.set(id, [...(found.get(id) ?? []), reason]);
      }
    }
  }
  return found;
}

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
  }[];
}

function readValidationReport(outdir: string): ValidationReport {
  return JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport;
}

let plain: Built;
let full: Built;
let fullConfigFile: string;
let fullConfigText: string;

beforeAll(() => {
  plain = build({});
  const configDir = tempDir('sto-stack-config-');
  fullConfigFile = join(configDir, 'campaign.json');
  const config = JSON.parse(readFileSync(join(PROJECT_ROOT, DEFAULT_CONFIG_FILE), 'utf8'));
  fullConfigText = `${JSON.stringify({ ...config, version: 'stack-test-1', holdout: { share: 0.1 } }, null, 2)}\n`;
  writeFileSync(fullConfigFile, fullConfigText);
  full = build({ ...NO_BUNDLING, ...FULL_CONTEXT, [CONTEXT_KEYS.configFile]: fullConfigFile });
}, 120_000);

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const VARIANTS = ['default context', 'every context value'] as const;
type Variant = (typeof VARIANTS)[number];
const built = (variant: Variant): Built => (variant === 'default context' ? plain : full);

describe('SQS', () => {
  it.each(VARIANTS)('%s: every work queue redrives to a DLQ; every queue has SSE and refuses non-TLS access', (v) => {
    const { json } = built(v);
    expect(queueProblems(json)).toEqual([]);
    // the check saw what it should: one work queue and one DLQ per queue of infra/resources.ts
    expect(workQueueIds(json)).toHaveLength(QUEUE_NAMES.length);
    expect(deadLetterQueueIds(json).size).toBe(QUEUE_NAMES.length);
  });

  it.each(VARIANTS)("%s: each queue's visibility timeout is at least 6x its consumer's timeout", (v) => {
    const { json } = built(v);
    expect(visibilityProblems(json)).toEqual([]);
    expect(resourcesOfType(json, 'AWS::Lambda::EventSourceMapping')).toHaveLength(QUEUE_NAMES.length);
  });

  it('follows infra/resources.ts: visibility timeout, retention, maxReceiveCount, batching, consumer', () => {
    const { json, stack } = plain;
    const ids = idsOf(stack);
    const queues = new Map(resourcesOfType(json, 'AWS::SQS::Queue'));
    const mappings = resourcesOfType(json, 'AWS::Lambda::EventSourceMapping');
    for (const name of QUEUE_NAMES) {
      const definition: QueueDefinition = QUEUES[name];
      expect(queues.get(ids.queues[name]), name).toMatchObject({
        VisibilityTimeout: definition.visibilityTimeoutSeconds,
        MessageRetentionPeriod: definition.messageRetentionSeconds,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [ids.deadLetterQueues[name], 'Arn'] },
          maxReceiveCount: definition.deadLetter.maxReceiveCount,
        },
      });
      expect(queues.get(ids.deadLetterQueues[name])?.MessageRetentionPeriod, name).toBe(
        definition.deadLetter.messageRetentionSeconds,
      );
      const mapping = mappings.filter(([, m]) => getAttId(m.EventSourceArn, 'Arn') === ids.queues[name]);
      expect(mapping, name).toHaveLength(1);
      const [, props] = mapping[0];
      expect(refId(props.FunctionName), name).toBe(ids.functions[definition.consumer.functionName as FunctionName]);
      expect(props.BatchSize, name).toBe(definition.consumer.batchSize);
      expect(props.MaximumBatchingWindowInSeconds ?? 0, name).toBe(definition.consumer.maxBatchingWindowSeconds);
      expect((props.ScalingConfig as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency, name).toBe(
        definition.consumer.maxConcurrency,
      );
    }
  });
});

describe('Lambda', () => {
  it.each(VARIANTS)('%s: every event source mapping reports batch item failures', (v) => {
    expect(eventSourceMappingProblems(built(v).json)).toEqual([]);
  });

  it.each(VARIANTS)('%s: every function runs nodejs22.x on arm64', (v) => {
    const { json, stack } = built(v);
    expect(lambdaProblems(json)).toEqual([]);
    // the five service functions and the AppConfig cleanup's handler, nothing else
    expect(
      resourcesOfType(json, 'AWS::Lambda::Function')
        .map(([id]) => id)
        .sort(),
    ).toEqual([...Object.values(idsOf(stack).functions), cleanupIds(stack).function].sort());
  });

  it('only the decide bundle carries the TF.js wasm binaries', () => {
    const { json, outdir } = plain;
    const inline = cleanupIds(plain.stack).function;
    const bundles = resourcesOfType(json, 'AWS::Lambda::Function')
      .filter(([id]) => id !== inline)
      .map(([, props]) => {
        const key = (props.Code as { S3Key: string }).S3Key;
        const files = readdirSync(join(outdir, `asset.${key.replace(/\.zip$/, '')}`));
        return { name: String(props.FunctionName).replace(`${STACK_NAME}-`, ''), files };
      });
    expect(bundles.map((b) => b.name).sort()).toEqual([...FUNCTION_NAMES].sort());
    for (const { name, files } of bundles) expect(files, name).toContain('index.mjs');
    const withWasm = bundles.filter((b) => b.files.some((f) => f.endsWith('.wasm')));
    expect(withWasm.map((b) => b.name)).toEqual(['decide']);
    for (const { name, files } of withWasm) {
      expect(
        files.filter((f) => f.endsWith('.wasm')).every((f) => /^tfjs-backend-wasm.*\.wasm$/.test(f)),
        name,
      ).toBe(true);
    }
  });

  it('the sweeper runs on an EventBridge schedule, allowed to invoke it', () => {
    const { template, stack } = plain;
    const sweeper = idsOf(stack).functions.sweeper;
    const rules = template.findResources('AWS::Events::Rule', {
      Properties: {
        ScheduleExpression: Match.stringLikeRegexp('^(rate|cron)\\('),
        State: 'ENABLED',
        Targets: Match.arrayWith([Match.objectLike({ Arn: { 'Fn::GetAtt': [sweeper, 'Arn'] } })]),
      },
    });
    const ruleIds = Object.keys(rules);
    expect(ruleIds).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [sweeper, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ruleIds[0], 'Arn'] },
    });
  });

  it('sets the dispatch function every SES / SMS setting of the context, under the names it reads', () => {
    full.template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: `${STACK_NAME}-dispatch`,
      Environment: {
        Variables: Match.objectLike({
          [DISPATCH_ENV.fromEmailAddress]: FULL_CONTEXT.senderEmail,
          [DISPATCH_ENV.configurationSetName]: FULL_CONTEXT.sesConfigurationSet,
          [DISPATCH_ENV.smsSenderId]: FULL_CONTEXT.smsSenderId,
          [DISPATCH_ENV.smsOriginationNumber]: FULL_CONTEXT.smsOriginationNumber,
        }),
      },
    });
  });
});

describe('DynamoDB', () => {
  it.each(VARIANTS)('%s: every table is on-demand with PITR, SSE, and TTL where infra/resources.ts has one', (v) => {
    const b = built(v);
    expect(tableProblems(b.json, expectedTables(b))).toEqual([]);
    expect(resourcesOfType(b.json, 'AWS::DynamoDB::Table')).toHaveLength(TABLE_NAMES.length);
  });
});

describe('IAM', () => {
  it.each(VARIANTS)("%s: no '*' or service-wide action; Resource '*' only for sns:Publish (SMS) in dispatch", (v) => {
    const b = built(v);
    expect(iamProblems(b.json, smsException(b))).toEqual([]);
    // exactly one such statement, and it is the acknowledged one
    const wildcards = wildcardResourceStatements(b.json);
    expect(wildcards.map((w) => ({ roleIds: w.roleIds, sid: w.statement.Sid, action: w.statement.Action }))).toEqual([
      { roleIds: [idsOf(b.stack).roles.dispatch], sid: 'SmsToPhoneNumbers', action: 'sns:Publish' },
    ]);
    expect(acknowledgements(b.app).get('AwsSolutions-IAM5[Resource::*]')?.join(' ')).toMatch(/SMS/);
  });

  it('push is allowed on the endpoints of the configured platform applications only', () => {
    const ids = idsOf(full.stack);
    const push = resourcesOfType(full.json, 'AWS::IAM::Policy')
      .filter(([, p]) => (p.Roles as unknown[]).some((r) => refId(r) === ids.roles.dispatch))
      .flatMap(([, p]) => (p.PolicyDocument as { Statement: Properties[] }).Statement)
      .filter((s) => s.Sid === 'PushToPlatformEndpoints');
    expect(push).toEqual([
      {
        Sid: 'PushToPlatformEndpoints',
        Effect: 'Allow',
        Action: 'sns:Publish',
        Resource: PUSH_APPS.map((arn) => `${arn.replace(':app/', ':endpoint/')}/*`),
      },
    ]);
  });
});

describe('AppConfig', () => {
  it.each(VARIANTS)("%s: the analysts' config is hosted, validated with the Draft-04 schema, deployed", (v) => {
    const { template, json } = built(v);
    for (const type of ['Application', 'Environment', 'ConfigurationProfile', 'DeploymentStrategy', 'Deployment']) {
      template.resourceCountIs(`AWS::AppConfig::${type}`, 1);
    }
    const [[applicationId]] = resourcesOfType(json, 'AWS::AppConfig::Application');
    const [[environmentId]] = resourcesOfType(json, 'AWS::AppConfig::Environment');
    const [[strategyId, strategy]] = resourcesOfType(json, 'AWS::AppConfig::DeploymentStrategy');
    const [[profileId, profile]] = resourcesOfType(json, 'AWS::AppConfig::ConfigurationProfile');
    expect(profile).toMatchObject({
      ApplicationId: { 'Fn::GetAtt': [applicationId, 'ApplicationId'] },
      LocationUri: 'hosted',
    });
    const validators = profile.Validators as { Type: string; Content: string }[];
    expect(validators.map((validator) => validator.Type)).toEqual(['JSON_SCHEMA']);
    const schema = JSON.parse(validators[0].Content);
    expect(schema.$schema).toBe('http://json-schema.org/draft-04/schema#');
    expect(schema).toEqual(appConfigValidatorJsonSchema());

    const versions = resourcesOfType(json, 'AWS::AppConfig::HostedConfigurationVersion');
    expect(versions).toHaveLength(1);
    const [[versionId, version]] = versions;
    const configText =
      v === 'default context' ? readFileSync(join(PROJECT_ROOT, DEFAULT_CONFIG_FILE), 'utf8') : fullConfigText;
    expect(version).toMatchObject({
      ConfigurationProfileId: { 'Fn::GetAtt': [profileId, 'ConfigurationProfileId'] },
      ContentType: 'application/json',
      Content: configText,
    });
    expect(strategy.DeploymentDurationInMinutes).toBeGreaterThan(0);
    template.hasResourceProperties('AWS::AppConfig::Deployment', {
      ApplicationId: { 'Fn::GetAtt': [applicationId, 'ApplicationId'] },
      EnvironmentId: { 'Fn::GetAtt': [environmentId, 'EnvironmentId'] },
      ConfigurationProfileId: { 'Fn::GetAtt': [profileId, 'ConfigurationProfileId'] },
      ConfigurationVersion: { 'Fn::GetAtt': [versionId, 'VersionNumber'] },
      DeploymentStrategyId: { 'Fn::GetAtt': [strategyId, 'Id'] },
    });
  });

  it('a config deployment rolls back when any function errors (the environment monitors that alarm)', () => {
    const { json } = plain;
    const [[, environment]] = resourcesOfType(json, 'AWS::AppConfig::Environment');
    const monitors = environment.Monitors as { AlarmArn: unknown; AlarmRoleArn: unknown }[];
    expect(monitors).toHaveLength(1);
    const compositeId = getAttId(monitors[0].AlarmArn, 'Arn') as string;
    const roleId = getAttId(monitors[0].AlarmRoleArn, 'Arn') as string;
    expect(json.Resources[compositeId]?.Type).toBe('AWS::CloudWatch::CompositeAlarm');
    // the rule names every function's Errors alarm
    const rule = JSON.stringify(json.Resources[compositeId].Properties?.AlarmRule);
    const errorAlarms = new Set(
      alarmMetrics(json)
        .filter((m) => m.metricName === 'Errors')
        .map((m) => m.alarmId),
    );
    expect(errorAlarms.size).toBe(FUNCTION_NAMES.length);
    for (const alarmId of errorAlarms) expect(rule).toContain(JSON.stringify({ 'Fn::GetAtt': [alarmId, 'Arn'] }));
    // AppConfig may read that alarm, and nothing else
    expect(json.Resources[roleId].Properties).toMatchObject({
      AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'appconfig.amazonaws.com' } }] },
      Policies: [
        {
          PolicyDocument: {
            Statement: [
              {
                Effect: 'Allow',
                Action: 'cloudwatch:DescribeAlarms',
                Resource: { 'Fn::GetAtt': [compositeId, 'Arn'] },
              },
            ],
          },
        },
      ],
    });
  });
});

describe('AppConfig cleanup on stack deletion', () => {
  it.each(VARIANTS)('%s: a custom resource on the profile, deleted (so run) before the profile', (v) => {
    const { json, template, stack } = built(v);
    const ids = cleanupIds(stack);
    const [[applicationId]] = resourcesOfType(json, 'AWS::AppConfig::Application');
    const [[profileId]] = resourcesOfType(json, 'AWS::AppConfig::ConfigurationProfile');
    template.resourceCountIs('Custom::AppConfigHostedVersionCleanup', 1);
    // CloudFormation deletes a resource before anything it depends on, by DependsOn or by reference
    template.hasResource('Custom::AppConfigHostedVersionCleanup', {
      DependsOn: Match.arrayWith([profileId]),
      Properties: {
        ServiceToken: { 'Fn::GetAtt': [ids.function, 'Arn'] },
        ServiceTimeout: String(CLEANUP_TIMEOUT.toSeconds() + 60),
        ApplicationId: { 'Fn::GetAtt': [applicationId, 'ApplicationId'] },
        ConfigurationProfileId: { 'Fn::GetAtt': [profileId, 'ConfigurationProfileId'] },
      },
    });
    expect(Object.keys(template.findResources('Custom::AppConfigHostedVersionCleanup'))).toEqual([ids.resource]);
    // updates still keep every version: the cleanup is what deletes them, on stack deletion only
    const [[versionId]] = resourcesOfType(json, 'AWS::AppConfig::HostedConfigurationVersion');
    expect(json.Resources[versionId]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('its handler is the inline text of cdk/appconfig-cleanup.cjs, with its own role and log group', () => {
    const { json, stack } = plain;
    const ids = cleanupIds(stack);
    expect(json.Resources[ids.function].Properties).toMatchObject({
      Code: { ZipFile: readFileSync(join(PROJECT_ROOT, CLEANUP_HANDLER_FILE), 'utf8') },
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Timeout: CLEANUP_TIMEOUT.toSeconds(),
      Role: { 'Fn::GetAtt': [ids.role, 'Arn'] },
      LoggingConfig: { LogGroup: { Ref: ids.logGroup } },
    });
    // its permissions are the role's inline policy alone: no managed policy, and no policy resource of its
    // own that CloudFormation could delete before the cleanup has run
    expect(json.Resources[ids.role].Properties?.ManagedPolicyArns).toBeUndefined();
    const attached = identityStatements(json).filter((s) => s.roleIds.includes(ids.role));
    expect(new Set(attached.map((s) => s.policyId))).toEqual(new Set([ids.role]));
  });

  it.each(VARIANTS)('%s: its role may list and delete the versions of this profile, and nothing else', (v) => {
    const { json, stack } = built(v);
    const ids = cleanupIds(stack);
    const [[applicationId]] = resourcesOfType(json, 'AWS::AppConfig::Application');
    const [[profileId]] = resourcesOfType(json, 'AWS::AppConfig::ConfigurationProfile');
    const arn = (...rest: unknown[]) => ({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':appconfig:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':application/',
          { 'Fn::GetAtt': [applicationId, 'ApplicationId'] },
          ...rest,
        ],
      ],
    });
    const application = arn();
    const profile = arn('/configurationprofile/', { 'Fn::GetAtt': [profileId, 'ConfigurationProfileId'] });
    const versions = arn(
      '/configurationprofile/',
      { 'Fn::GetAtt': [profileId, 'ConfigurationProfileId'] },
      '/hostedconfigurationversion/*',
    );
    const bySid = (a: { Sid?: string }, b: { Sid?: string }) => String(a.Sid).localeCompare(String(b.Sid));
    const sorted = (resources: unknown) => [...(resources as unknown[])].map((r) => JSON.stringify(r)).sort();
    const statements = identityStatements(json)
      .filter((s) => s.roleIds.includes(ids.role))
      .map((s) => s.statement)
      .sort(bySid);
    expect(statements.map((s) => [s.Sid, s.Effect, s.Action])).toEqual([
      ['DeleteVersions', 'Allow', 'appconfig:DeleteHostedConfigurationVersion'],
      ['ListVersions', 'Allow', 'appconfig:ListHostedConfigurationVersions'],
      ['ReadOwnStackStatus', 'Allow', 'cloudformation:DescribeStacks'],
      ['WriteOwnLogs', 'Allow', ['logs:CreateLogStream', 'logs:PutLogEvents']],
    ]);
    const [deleteVersions, listVersions, readStack, writeLogs] = statements;
    expect(sorted(deleteVersions.Resource)).toEqual(sorted([application, profile, versions]));
    expect(sorted(listVersions.Resource)).toEqual(sorted([application, profile]));
    expect(readStack.Resource).toEqual({ Ref: 'AWS::StackId' });
    expect(writeLogs.Resource).toEqual({ 'Fn::GetAtt': [ids.logGroup, 'Arn'] });
    // and no other role may delete or list hosted versions
    const others = identityStatements(json).filter(
      (s) => !s.roleIds.includes(ids.role) && JSON.stringify(s.statement.Action).includes('HostedConfigurationVersion'),
    );
    expect(others).toEqual([]);
  });
});

describe('the AppConfig cleanup handler, against the mocked AWS SDK', () => {
  // The handler require()s the SDK's CommonJS build, as Lambda loads inline code: mock those classes
  // (an ESM import would give other class objects, and their mocks would not apply).
  const requireCjs = createRequire(import.meta.url);
  const appConfigSdk = requireCjs('@aws-sdk/client-appconfig') as typeof import('@aws-sdk/client-appconfig');
  const cloudFormationSdk = requireCjs(
    '@aws-sdk/client-cloudformation',
  ) as typeof import('@aws-sdk/client-cloudformation');
  const { DeleteHostedConfigurationVersionCommand, ListHostedConfigurationVersionsCommand, ResourceNotFoundException } =
    appConfigSdk;
  const { DescribeStacksCommand } = cloudFormationSdk;
  type Handler = (
    event: CloudFormationCustomResourceEvent,
    context: Pick<Context, 'getRemainingTimeInMillis'>,
  ) => Promise<void>;
  const { handler } = requireCjs(join(PROJECT_ROOT, CLEANUP_HANDLER_FILE)) as { handler: Handler };

  const appConfig = mockClient(appConfigSdk.AppConfigClient);
  const cloudFormation = mockClient(cloudFormationSdk.CloudFormationClient);
  afterAll(() => {
    appConfig.restore();
    cloudFormation.restore();
  });

  const PROFILE = { ApplicationId: 'app1234', ConfigurationProfileId: 'prf5678' };
  const STACK_ID = 'arn:aws:cloudformation:eu-west-1:123456789012:stack/SendTimeOptimizer/0c1d2e3f';
  const RESPONSE_URL = 'https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x?X-Amz-Signature=ab';
  const PHYSICAL_ID = 'AnalystConfigCleanup2CEE5E69-first-request';
  const common = {
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:cleanup',
    ResponseURL: RESPONSE_URL,
    StackId: STACK_ID,
    RequestId: 'request-2',
    LogicalResourceId: 'AnalystConfigCleanup2CEE5E69',
    ResourceType: 'Custom::AppConfigHostedVersionCleanup',
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:cleanup', ...PROFILE },
  };
  const EVENTS = {
    Create: { ...common, RequestType: 'Create' },
    Update: {
      ...common,
      RequestType: 'Update',
      PhysicalResourceId: PHYSICAL_ID,
      OldResourceProperties: common.ResourceProperties,
    },
    Delete: { ...common, RequestType: 'Delete', PhysicalResourceId: PHYSICAL_ID },
  } satisfies Record<string, CloudFormationCustomResourceEvent>;
  const plenty = { getRemainingTimeInMillis: () => 290_000 };

  interface Answer {
    readonly url: string;
    readonly init: RequestInit;
    readonly body: Record<string, unknown>;
  }
  let answers: Answer[];
  beforeEach(() => {
    appConfig.reset();
    cloudFormation.reset();
    answers = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        answers.push({ url, init, body: JSON.parse(Buffer.from(init.body as Uint8Array).toString('utf8')) });
        return new Response(null, { status: 200 });
      }),
    );
    vi.spyOn(console, 'log').mockImplementation(() => {});
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.mocked(console.log).mockRestore();
  });

  const stackIs = (StackStatus: StackStatus) =>
    cloudFormation
      .on(DescribeStacksCommand, { StackName: STACK_ID })
      .resolves({ Stacks: [{ StackName: 'SendTimeOptimizer', StackStatus, CreationTime: new Date(0) }] });
  const versions = (...numbers: number[]) => numbers.map((VersionNumber) => ({ ...PROFILE, VersionNumber }));
  const deleted = () => appConfig.commandCalls(DeleteHostedConfigurationVersionCommand).map((c) => c.args[0].input);
  const notFound = () => new ResourceNotFoundException({ message: 'not found', $metadata: {} });

  /** The one answer sent, to the pre-signed URL as CloudFormation expects it. */
  function answer(): Answer['body'] {
    expect(answers).toHaveLength(1);
    const [{ url, init, body }] = answers;
    expect(url).toBe(RESPONSE_URL);
    expect(init.method).toBe('PUT');
    // the URL is signed without a content type: none is sent
    expect(init.headers).toBeUndefined();
    expect(body).toMatchObject({
      StackId: STACK_ID,
      RequestId: 'request-2',
      LogicalResourceId: common.LogicalResourceId,
    });
    return body;
  }

  it.each(['Create', 'Update'] as const)('%s does nothing but answer SUCCESS', async (requestType) => {
    await handler(EVENTS[requestType], plenty);

    expect(appConfig.calls()).toHaveLength(0);
    expect(cloudFormation.calls()).toHaveLength(0);
    expect(answer()).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: requestType === 'Create' ? `${common.LogicalResourceId}-request-2` : PHYSICAL_ID,
    });
  });

  it.each(['DELETE_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS'] as const)(
    'Delete while the stack is %s: every version of every page, one already gone',
    async (status) => {
      stackIs(status);
      appConfig
        .on(ListHostedConfigurationVersionsCommand)
        .resolvesOnce({ Items: versions(5, 4), NextToken: 'page-2' })
        .resolvesOnce({ Items: versions(3, 2), NextToken: 'page-3' })
        .resolvesOnce({ Items: versions(1) });
      appConfig.on(DeleteHostedConfigurationVersionCommand).resolves({});
      appConfig.on(DeleteHostedConfigurationVersionCommand, { VersionNumber: 3 }).rejects(notFound());

      await handler(EVENTS.Delete, plenty);

      const listed = appConfig.commandCalls(ListHostedConfigurationVersionsCommand).map((c) => c.args[0].input);
      expect(listed).toEqual([
        { ...PROFILE, NextToken: undefined },
        { ...PROFILE, NextToken: 'page-2' },
        { ...PROFILE, NextToken: 'page-3' },
      ]);
      expect(deleted()).toEqual(versions(5, 4, 3, 2, 1));
      expect(answer()).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: PHYSICAL_ID });
    },
  );

  it.each(['UPDATE_COMPLETE_CLEANUP_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS'] as const)(
    'Delete while the stack is %s (renamed, removed or rolled back): versions kept',
    async (status) => {
      stackIs(status);
      appConfig.on(ListHostedConfigurationVersionsCommand).resolves({ Items: versions(1) });

      await handler(EVENTS.Delete, plenty);

      expect(appConfig.calls()).toHaveLength(0);
      expect(answer()).toMatchObject({ Status: 'SUCCESS', Reason: expect.stringContaining('versions kept') });
    },
  );

  it('Delete when the profile is already gone: SUCCESS', async () => {
    stackIs('DELETE_IN_PROGRESS');
    appConfig.on(ListHostedConfigurationVersionsCommand).rejects(notFound());

    await handler(EVENTS.Delete, plenty);

    expect(deleted()).toEqual([]);
    expect(answer()).toMatchObject({ Status: 'SUCCESS', Reason: 'the profile is already gone' });
  });

  it('any other error fails the delete, with the error as the reason, and stops there', async () => {
    stackIs('DELETE_IN_PROGRESS');
    appConfig.on(ListHostedConfigurationVersionsCommand).resolves({ Items: versions(3, 2, 1) });
    appConfig.on(DeleteHostedConfigurationVersionCommand).resolves({});
    appConfig
      .on(DeleteHostedConfigurationVersionCommand, { VersionNumber: 2 })
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));

    await handler(EVENTS.Delete, plenty);

    expect(deleted()).toEqual(versions(3, 2));
    expect(answer()).toMatchObject({ Status: 'FAILED', Reason: 'AccessDeniedException: not authorized' });
  });

  it('a stack status it cannot read fails the delete rather than guessing', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(Object.assign(new Error('throttled'), { name: 'Throttling' }));

    await handler(EVENTS.Delete, plenty);

    expect(appConfig.calls()).toHaveLength(0);
    expect(answer()).toMatchObject({ Status: 'FAILED', Reason: 'Throttling: throttled' });
  });

  it('near its timeout it stops and answers FAILED, so CloudFormation does not wait in vain', async () => {
    stackIs('DELETE_IN_PROGRESS');
    appConfig.on(ListHostedConfigurationVersionsCommand).resolves({ Items: versions(2, 1) });
    appConfig.on(DeleteHostedConfigurationVersionCommand).resolves({});
    let left = 16_000;
    const context = { getRemainingTimeInMillis: () => (left -= 1_000) };

    await handler(EVENTS.Delete, context);

    expect(deleted()).toEqual(versions(2));
    expect(answer()).toMatchObject({
      Status: 'FAILED',
      Reason: 'Error: out of time, 1 of 2 versions left: delete again',
    });
  });
});

describe('CloudWatch', () => {
  it.each(VARIANTS)("%s: alarms on each DLQ's depth, each queue's oldest message, each function's errors", (v) => {
    const { json, stack } = built(v);
    // the cleanup runs while the stack, alarms included, is being deleted: an alarm on it could tell no one
    expect(alarmProblems(json, [cleanupIds(stack).function])).toEqual([]);
  });

  it.each(VARIANTS)('%s: a dashboard charts every queue, DLQ and function', (v) => {
    const { json, stack } = built(v);
    const dashboards = resourcesOfType(json, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0][1].DashboardBody);
    for (const [id] of resourcesOfType(json, 'AWS::SQS::Queue')) {
      expect(body).toContain(JSON.stringify({ 'Fn::GetAtt': [id, 'QueueName'] }));
    }
    // every function but the cleanup's handler, which only runs while the dashboard is being deleted
    const charted = resourcesOfType(json, 'AWS::Lambda::Function').filter(([id]) => id !== cleanupIds(stack).function);
    expect(charted).toHaveLength(FUNCTION_NAMES.length);
    for (const [, props] of charted) expect(body).toContain(String(props.FunctionName));
  });

  it('the dashboard charts every custom metric by its name, and each is a name a function emits', () => {
    const [[, dashboard]] = resourcesOfType(plain.json, 'AWS::CloudWatch::Dashboard');
    const strings = (value: unknown): string[] =>
      typeof value === 'string'
        ? [value]
        : typeof value === 'object' && value
          ? Object.values(value).flatMap(strings)
          : [];
    const body = strings(dashboard.DashboardBody).join('');
    const handlers = FUNCTION_NAMES.map((name) =>
      readFileSync(join(PROJECT_ROOT, 'lambdas', name, 'handler.ts'), 'utf8'),
    ).join('\n');
    for (const name of Object.values(CUSTOM_METRICS)) {
      const prefix = name === CUSTOM_METRICS.noArmPrefix;
      expect(body, name).toContain(
        prefix ? `Namespace=\\"${METRICS_NAMESPACE}\\" ${name}'` : `MetricName=\\"${name}\\"`,
      );
      expect(handlers, name).toContain(prefix ? `\`${name}_` : `'${name}'`);
    }
  });

  it('with alarmEmail, every alarm notifies an encrypted topic with that e-mail subscribed', () => {
    const { json } = full;
    const [[topicId, topic]] = resourcesOfType(json, 'AWS::SNS::Topic');
    expect(getAttId(topic.KmsMasterKeyId, 'Arn')).toBeDefined();
    const alarms = resourcesOfType(json, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThan(0);
    for (const [id, props] of alarms) {
      expect(props.AlarmActions, id).toEqual([{ Ref: topicId }]);
      expect(props.OKActions, id).toEqual([{ Ref: topicId }]);
    }
    full.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: FULL_CONTEXT.alarmEmail,
      TopicArn: { Ref: topicId },
    });
    expect(resourcesOfType(plain.json, 'AWS::SNS::Topic')).toEqual([]);
  });
});

describe('outputs and parameters', () => {
  it('producer queue URLs, every DLQ URL, the table names, the dashboard and the AppConfig ids are outputs', () => {
    const { json, stack } = plain;
    const ids = idsOf(stack);
    const outputs = json.Outputs ?? {};
    expect(outputs.EventsQueueUrl?.Value).toEqual({ Ref: ids.queues.events });
    expect(outputs.RequestsQueueUrl?.Value).toEqual({ Ref: ids.queues.requests });
    for (const name of QUEUE_NAMES) {
      const key = `${name.charAt(0).toUpperCase()}${name.slice(1)}DeadLetterQueueUrl`;
      expect(outputs[key]?.Value, key).toEqual({ Ref: ids.deadLetterQueues[name] });
    }
    // the tables' generated names: sto export / pretrain --table and teardown read them here
    expect(Object.keys(outputs).filter((key) => key.endsWith('TableName'))).toHaveLength(TABLE_NAMES.length);
    for (const name of TABLE_NAMES) {
      const key = `${name.charAt(0).toUpperCase()}${name.slice(1)}TableName`;
      expect(outputs[key]?.Value, key).toEqual({ Ref: ids.tables[name] });
    }
    for (const key of [
      'DashboardName',
      'AppConfigApplicationId',
      'AppConfigEnvironmentId',
      'AppConfigProfileId',
      'AppConfigDeploymentStrategyId',
    ]) {
      expect(outputs[key], key).toBeDefined();
    }
    expect(full.json.Outputs?.AlarmTopicArn).toBeDefined();
  });

  it('asks for the SenderEmail parameter only when the senderEmail context value is absent', () => {
    expect(Object.keys(plain.json.Parameters ?? {})).toContain('SenderEmail');
    expect(Object.keys(full.json.Parameters ?? {})).not.toContain('SenderEmail');
  });
});

describe('cdk-nag (AwsSolutions and Serverless packs)', () => {
  it.each(VARIANTS)('%s: synth passed the packs with zero unacknowledged findings, warnings included', (v) => {
    const { app, outdir } = built(v);
    // synth (beforeAll) ran the packs as validation plugins and wrote their report: no failing plugin
    expect(readValidationReport(outdir).pluginReports).toEqual([]);
    // the packs run directly report warnings as well, which would not fail synth
    for (const pack of nagPacks(app)) {
      expect(pack.validateScope(app).violations, pack.readPackName).toEqual([]);
    }
  });

  it('every acknowledgement carries a reason, and the list is the one docs/deploy.md explains', () => {
    const found = acknowledgements(full.app);
    for (const [id, reasons] of found) {
      for (const reason of reasons) expect(reason.length, id).toBeGreaterThan(40);
    }
    const { application, profile } = full.stack.analystConfig;
    const hostedVersions =
      'arn:<AWS::Partition>:appconfig:<AWS::Region>:<AWS::AccountId>:' +
      `application/<${full.stack.getLogicalId(application)}.ApplicationId>/` +
      `configurationprofile/<${full.stack.getLogicalId(profile)}.ConfigurationProfileId>/hostedconfigurationversion/*`;
    expect([...found.keys()].sort()).toEqual(
      [
        'AwsSolutions-IAM5[Resource::*]',
        `AwsSolutions-IAM5[Resource::${hostedVersions}]`,
        ...PUSH_APPS.map((arn) => `AwsSolutions-IAM5[Resource::${arn.replace(':app/', ':endpoint/')}/*]`),
        'AwsSolutions-L1',
        'Serverless-EventBusDLQ',
        'Serverless-LambdaDLQ',
        'Serverless-LambdaEventSourceMappingDestination',
        'Serverless-LambdaLatestVersion',
        'Serverless-LambdaTracing',
        'Serverless-SNSRedrivePolicy',
        'Serverless-SQSRedrivePolicy',
      ].sort(),
    );
  });

  it('is live: a queue without a DLQ or TLS enforcement added to the stack stops synth, naming its rules', () => {
    // Prepare: the app exactly as cdk/app.ts builds it, plus one non-compliant resource
    const outdir = tempDir('sto-stack-nag-');
    const { app, stack } = buildApp({ outdir, cwd: PROJECT_ROOT, context: { ...NO_BUNDLING } });
    new Queue(stack, 'Unprotected', { enforceSSL: false });
    const quiet = [vi.spyOn(console, 'error'), vi.spyOn(console, 'log')].map((spy) => spy.mockImplementation(() => {}));

    // Act
    let error: unknown;
    try {
      app.synth();
    } catch (caught) {
      error = caught;
    } finally {
      for (const spy of quiet) spy.mockRestore();
    }

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toMatch(/validation ?failed/i);
    const violations = readValidationReport(outdir).pluginReports.flatMap((report) => report.violations);
    expect(violations.map((violation) => violation.ruleName).sort()).toEqual(
      ['AwsSolutions-SQS3', 'AwsSolutions-SQS4', 'Serverless-SQSRedrivePolicy'].sort(),
    );
    const paths = new Set(violations.flatMap((v) => v.violatingConstructs.map((c) => c.constructPath)));
    expect([...paths]).toEqual([`${STACK_NAME}/Unprotected/Resource`]);
  });
});

describe('every check notices a broken template', () => {
  type Mutable = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  const props = (t: Mutable, id: string) => t.Resources[id].Properties;
  const ids = () => idsOf(plain.stack);
  const firstAlarm = (t: Mutable, metricName: string, matches: (dimension: unknown) => boolean) => {
    const metric = alarmMetrics(t as CfnTemplate).find(
      (m) => m.metricName === metricName && [...m.dimensions.values()].some(matches),
    );
    if (!metric) throw new Error(`no ${metricName} alarm to remove`);
    return metric.alarmId;
  };
  const checks = {
    queues: (t: CfnTemplate) => queueProblems(t),
    visibility: (t: CfnTemplate) => visibilityProblems(t),
    mappings: (t: CfnTemplate) => eventSourceMappingProblems(t),
    lambdas: (t: CfnTemplate) => lambdaProblems(t),
    tables: (t: CfnTemplate) => tableProblems(t, expectedTables(plain)),
    iam: (t: CfnTemplate) => iamProblems(t, smsException(plain)),
    alarms: (t: CfnTemplate) => alarmProblems(t, [cleanupIds(plain.stack).function]),
  };
  const BREAKAGES: { what: string; check: keyof typeof checks; breakIt: (t: Mutable) => void; expected: RegExp }[] = [
    {
      what: 'a work queue without its redrive policy',
      check: 'queues',
      breakIt: (t) => delete props(t, ids().queues.events).RedrivePolicy,
      expected: /not a DLQ, yet no RedrivePolicy/,
    },
    {
      what: 'a redrive policy without maxReceiveCount',
      check: 'queues',
      breakIt: (t) => delete (props(t, ids().queues.dispatch).RedrivePolicy as Properties).maxReceiveCount,
      expected: /maxReceiveCount is undefined/,
    },
    {
      what: 'a DLQ without encryption',
      check: 'queues',
      breakIt: (t) => delete props(t, ids().deadLetterQueues.requests).SqsManagedSseEnabled,
      expected: /no server-side encryption/,
    },
    {
      what: 'a queue policy that allows plain HTTP',
      check: 'queues',
      breakIt: (t) => {
        for (const [, policy] of resourcesOfType(t as CfnTemplate, 'AWS::SQS::QueuePolicy')) {
          const [statement] = (policy.PolicyDocument as { Statement: { Condition: unknown }[] }).Statement;
          if ((policy.Queues as unknown[]).some((q) => refId(q) === ids().queues.rewards)) {
            statement.Condition = { Bool: { 'aws:SecureTransport': 'true' } };
          }
        }
      },
      expected: /no queue policy denies aws:SecureTransport=false/,
    },
    {
      what: 'a visibility timeout under 6x the consumer timeout',
      check: 'visibility',
      breakIt: (t) => {
        props(t, ids().functions.learner).Timeout = QUEUES.rewards.visibilityTimeoutSeconds / 6 + 1;
      },
      expected: /VisibilityTimeout 365 < 6 x/,
    },
    {
      what: 'a work queue nobody consumes',
      check: 'visibility',
      breakIt: (t) => {
        const [[mappingId]] = resourcesOfType(t as CfnTemplate, 'AWS::Lambda::EventSourceMapping');
        delete t.Resources[mappingId];
      },
      expected: /no Lambda event source mapping consumes it/,
    },
    {
      what: 'an event source mapping without ReportBatchItemFailures',
      check: 'mappings',
      breakIt: (t) => {
        const mappings = resourcesOfType(t as CfnTemplate, 'AWS::Lambda::EventSourceMapping');
        delete mappings[mappings.length - 1][1].FunctionResponseTypes;
      },
      expected: /FunctionResponseTypes undefined/,
    },
    {
      what: 'a function on another runtime',
      check: 'lambdas',
      breakIt: (t) => {
        props(t, ids().functions.sweeper).Runtime = 'nodejs20.x';
      },
      expected: /Runtime "nodejs20.x"/,
    },
    {
      what: 'a function on x86_64',
      check: 'lambdas',
      breakIt: (t) => {
        props(t, ids().functions.decide).Architectures = ['x86_64'];
      },
      expected: /Architectures \["x86_64"\]/,
    },
    {
      what: 'a table without PITR',
      check: 'tables',
      breakIt: (t) => {
        props(t, ids().tables.model).PointInTimeRecoverySpecification = { PointInTimeRecoveryEnabled: false };
      },
      expected: /point-in-time recovery not enabled/,
    },
    {
      what: 'a provisioned table without SSE',
      check: 'tables',
      breakIt: (t) => {
        props(t, ids().tables.users).BillingMode = 'PROVISIONED';
        delete props(t, ids().tables.users).SSESpecification;
      },
      expected: /BillingMode PROVISIONED[\s\S]*SSEEnabled is not true/,
    },
    {
      what: 'a table without the TTL infra/resources.ts defines',
      check: 'tables',
      breakIt: (t) => delete props(t, ids().tables.decisions).TimeToLiveSpecification,
      expected: /TTL on expiresAt expected/,
    },
    {
      what: 'a service-wide action',
      check: 'iam',
      breakIt: (t) => {
        const [[, policy]] = resourcesOfType(t as CfnTemplate, 'AWS::IAM::Policy');
        (policy.PolicyDocument as { Statement: Properties[] }).Statement.push({
          Effect: 'Allow',
          Action: 'dynamodb:*',
          Resource: { 'Fn::GetAtt': [ids().tables.users, 'Arn'] },
        });
      },
      expected: /Action dynamodb:\*/,
    },
    {
      what: "Resource '*' beyond the SMS exception",
      check: 'iam',
      breakIt: (t) => {
        for (const [, policy] of resourcesOfType(t as CfnTemplate, 'AWS::IAM::Policy')) {
          for (const statement of (policy.PolicyDocument as { Statement: Properties[] }).Statement) {
            if (statement.Sid === 'SmsToPhoneNumbers') statement.Action = ['sns:Publish', 'sns:CreateTopic'];
          }
        }
      },
      expected: /Resource '\*' for sns:Publish, sns:CreateTopic/,
    },
    {
      what: 'a DLQ without its depth alarm',
      check: 'alarms',
      breakIt: (t) => {
        delete t.Resources[firstAlarm(t, 'ApproximateNumberOfMessagesVisible', () => true)];
      },
      expected: /no alarm on the DLQ's depth/,
    },
    {
      what: 'a queue without its oldest-message alarm',
      check: 'alarms',
      breakIt: (t) => {
        delete t.Resources[firstAlarm(t, 'ApproximateAgeOfOldestMessage', () => true)];
      },
      expected: /no alarm on ApproximateAgeOfOldestMessage/,
    },
    {
      what: 'a function without its errors alarm',
      check: 'alarms',
      breakIt: (t) => {
        delete t.Resources[firstAlarm(t, 'Errors', (d) => d === `${STACK_NAME}-ingest`)];
      },
      expected: /no alarm on its Errors/,
    },
  ];

  it.each(BREAKAGES)('$check: $what', ({ check, breakIt, expected }) => {
    const broken = structuredClone(plain.json) as unknown as Mutable;
    breakIt(broken);
    expect(checks[check](broken as unknown as CfnTemplate).join('\n')).toMatch(expected);
  });
});

describe('snapshot', () => {
  /**
   * Asset hashes change with every edit of the functions' code (the cleanup's inline code too), and the
   * config and its schema with every analyst or schema change; those are asserted against their sources
   * above, so the snapshot holds what is left: the infrastructure.
   */
  function masked(template: CfnTemplate): unknown {
    const copy = structuredClone(template) as unknown as { Resources: Record<string, { Properties: Properties }> };
    for (const resource of Object.values(copy.Resources)) {
      const p = resource.Properties;
      if (p?.Code && typeof (p.Code as Properties).S3Key === 'string') (p.Code as Properties).S3Key = '<asset>.zip';
      if (p?.Code && typeof (p.Code as Properties).ZipFile === 'string') {
        (p.Code as Properties).ZipFile = `<${CLEANUP_HANDLER_FILE}>`;
      }
      if (Array.isArray(p?.Validators)) {
        for (const v of p.Validators as Properties[]) v.Content = '<appConfigValidatorJsonSchema()>';
      }
      if (typeof p?.Content === 'string') p.Content = `<${DEFAULT_CONFIG_FILE}>`;
    }
    // anything else that looks like an asset hash
    return JSON.parse(JSON.stringify(copy).replace(/\b[0-9a-f]{64}\b/g, '<hash>'));
  }

  it('the template (default context) matches the committed snapshot', () => {
    expect(masked(plain.json)).toMatchSnapshot();
  });
});

describe('a bad config file or context value stops the build', () => {
  function badConfig(change: (config: Record<string, Record<string, unknown>>) => void): string {
    const config = JSON.parse(readFileSync(join(PROJECT_ROOT, DEFAULT_CONFIG_FILE), 'utf8'));
    change(config);
    const file = join(tempDir('sto-bad-config-'), 'bad.json');
    writeFileSync(file, JSON.stringify(config));
    return file;
  }

  function buildError(context: Record<string, unknown>): unknown {
    try {
      buildApp({ outdir: tempDir('sto-bad-build-'), cwd: PROJECT_ROOT, context: { ...NO_BUNDLING, ...context } });
    } catch (error) {
      return error;
    }
    throw new Error('buildApp accepted it');
  }

  it.each([
    {
      what: 'holdout share 2',
      change: (c: Record<string, Record<string, unknown>>) => {
        c.holdout.share = 2;
      },
      path: 'holdout.share',
      reason: /too big.*<=\s*0\.5/i,
    },
    {
      what: 'a string where a number belongs',
      change: (c: Record<string, Record<string, unknown>>) => {
        c.bandit.explorationFloor = 'high';
      },
      path: 'bandit.explorationFloor',
      reason: /expected number/i,
    },
    {
      what: 'an unknown field',
      change: (c: Record<string, Record<string, unknown>>) => {
        c.guardrails.quietHour = { start: '22:00', end: '07:00' };
      },
      path: 'guardrails',
      reason: /unrecognized key.*quietHour/i,
    },
  ])('config: $what, named by file, field path and reason', ({ change, path, reason }) => {
    const file = badConfig(change);
    const error = buildError({ [CONTEXT_KEYS.configFile]: file });
    expect(error).toBeInstanceOf(InvalidConfigError);
    const message = (error as Error).message;
    expect(message).toContain(file);
    expect(message).toContain(`${path}:`);
    expect(message).toMatch(reason);
  });

  it('config: a file that does not exist, named with the key', () => {
    const error = buildError({ [CONTEXT_KEYS.configFile]: 'config/nowhere.json' });
    expect(error).toBeInstanceOf(DeploymentSettingError);
    expect((error as Error).message).toMatch(/^context 'configFile': cannot read .*config\/nowhere\.json/);
  });

  it('config: a file that is not JSON, named with its path', () => {
    const file = join(tempDir('sto-bad-config-'), 'broken.json');
    writeFileSync(file, '{ "version": ');
    const error = buildError({ [CONTEXT_KEYS.configFile]: file });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`Config file ${file} is not valid JSON`);
  });

  it.each([
    { key: CONTEXT_KEYS.senderEmail, value: 'news at example.com', reason: /is not an email address/ },
    { key: CONTEXT_KEYS.sesConfigurationSet, value: 'my config set', reason: /is not an SES configuration set name/ },
    {
      key: CONTEXT_KEYS.pushPlatformApplicationArns,
      value: 'arn:aws:sns:eu-west-1:123456789012:alarms',
      reason: /is not an SNS platform application ARN/,
    },
    { key: CONTEXT_KEYS.smsSenderId, value: 'ShopNotifications', reason: /is not an SMS sender id/ },
    { key: CONTEXT_KEYS.smsOriginationNumber, value: '0151 234567', reason: /is not a phone number in E\.164 form/ },
    { key: CONTEXT_KEYS.alarmEmail, value: 'oncall', reason: /is not an email address/ },
    { key: CONTEXT_KEYS.alarmEmail, value: 42, reason: /must be a string, got number/ },
  ])('context $key = $value, named by its key', ({ key, value, reason }) => {
    const error = buildError({ [key]: value });
    expect(error).toBeInstanceOf(DeploymentSettingError);
    expect((error as DeploymentSettingError).key).toBe(key);
    expect((error as Error).message).toMatch(new RegExp(`^context '${key}': `));
    expect((error as Error).message).toMatch(reason);
  });

  /** `cdk synth` through the pinned CLI, as a user runs it; it fails before anything is bundled. */
  async function cdkSynth(...args: string[]) {
    const cli = join(PROJECT_ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk');
    const env = {
      ...process.env,
      PATH: `${join(PROJECT_ROOT, 'node_modules', '.bin')}:${process.env.PATH}`,
      CDK_DISABLE_CLI_TELEMETRY: 'true',
    };
    const output = tempDir('sto-cdk-cli-');
    try {
      await run(process.execPath, [cli, 'synth', '--quiet', '--no-notices', '--output', output, ...args], {
        cwd: PROJECT_ROOT,
        env,
      });
      return { code: 0, stderr: '' };
    } catch (error) {
      const failure = error as { code?: number; stderr?: string };
      return { code: failure.code, stderr: failure.stderr ?? '' };
    }
  }

  it('`npx cdk synth -c configFile=<bad>` exits non-zero with the file, the field path and the reason', {
    timeout: 60_000,
  }, async () => {
    const file = badConfig((c) => {
      c.holdout.share = 2;
    });
    const { code, stderr } = await cdkSynth('-c', `${CONTEXT_KEYS.configFile}=${file}`);
    expect(code).not.toBe(0);
    expect(stderr).toContain(`Invalid config in ${file}`);
    expect(stderr).toMatch(/holdout\.share: Too big/);
  });

  it('`npx cdk synth -c senderEmail=<bad>` exits non-zero naming the key', { timeout: 60_000 }, async () => {
    const { code, stderr } = await cdkSynth('-c', `${CONTEXT_KEYS.senderEmail}=nope`);
    expect(code).not.toBe(0);
    expect(stderr).toContain("context 'senderEmail': 'nope' is not an email address");
  });
});
