/**
 * What one deployment is told through CDK context (`-c key=value`, or `context` in cdk.json), read and
 * checked once, before any construct exists: a bad value stops `cdk synth` with the key and the reason.
 *
 * The analysts' config file is validated here too (config/load.ts): a bad value is refused with its
 * path and reason before anything reaches CloudFormation, let alone AppConfig.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfigFile } from '#config/load.ts';
import type { AnalystConfig } from '#config/schema.ts';
import { DeploymentSettingError } from './errors.ts';

/** The context keys this app reads (docs/deploy.md describes each). */
export const CONTEXT_KEYS = {
  senderEmail: 'senderEmail',
  sesConfigurationSet: 'sesConfigurationSet',
  pushPlatformApplicationArns: 'pushPlatformApplicationArns',
  smsSenderId: 'smsSenderId',
  smsOriginationNumber: 'smsOriginationNumber',
  alarmEmail: 'alarmEmail',
  configFile: 'configFile',
} as const;

export const DEFAULT_CONFIG_FILE = 'config/default.json';

/** An SNS mobile platform application (push): its ARN and the ARN pattern of the endpoints under it. */
export interface PlatformApplication {
  readonly arn: string;
  /** `arn:<partition>:sns:<region>:<account>:endpoint/<platform>/<name>/*`: one endpoint per device, made at runtime */
  readonly endpointArnPattern: string;
}

export interface DeploymentSettings {
  /** SES sender (bare address). Absent: the stack asks for it as the `SenderEmail` parameter at deploy time. */
  readonly senderEmail?: string;
  readonly sesConfigurationSet?: string;
  readonly pushPlatformApplications: readonly PlatformApplication[];
  readonly smsSenderId?: string;
  readonly smsOriginationNumber?: string;
  /** Where alarm notifications go; without it alarms only change state (visible on the dashboard). */
  readonly alarmEmail?: string;
  /** Absolute path of the analysts' config file. */
  readonly configFile: string;
  /** The file's text exactly as written: what AppConfig hosts. */
  readonly configText: string;
  /** The same, validated with defaults filled in. */
  readonly config: AnalystConfig;
}

/** The part of a construct node settings are read from (`app.node`, or a test's plain record). */
export interface ContextSource {
  tryGetContext(key: string): unknown;
}

/** Anything with an @ between non-blank parts and a dot in the domain; SES itself is the real check. */
export const EMAIL_PATTERN = '^[^@\\s<>"]+@[^@\\s<>"]+\\.[^@\\s<>"]+$';
const EMAIL = new RegExp(EMAIL_PATTERN);
const CONFIGURATION_SET = /^[A-Za-z0-9_-]{1,64}$/;
// SNS: up to 11 alphanumeric characters with at least one letter, no spaces
const SENDER_ID = /^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$/;
const E164 = /^\+[1-9]\d{1,14}$/;
const PLATFORM_APPLICATION_ARN =
  /^arn:(aws[a-z-]*):sns:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):app\/(ADM|APNS|APNS_SANDBOX|BAIDU|GCM|MACOS|MACOS_SANDBOX|MPNS|WNS)\/([A-Za-z0-9_.-]{1,256})$/;

function optionalString(source: ContextSource, key: string): string | undefined {
  const value = source.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new DeploymentSettingError(key, `must be a string, got ${typeof value}`);
  return value.trim() || undefined;
}

function matching(source: ContextSource, key: string, pattern: RegExp, expected: string): string | undefined {
  const value = optionalString(source, key);
  if (value !== undefined && !pattern.test(value)) {
    throw new DeploymentSettingError(key, `'${value}' is not ${expected}`);
  }
  return value;
}

/**
 * Parses one SNS platform application ARN.
 * @example platformApplication('arn:aws:sns:eu-west-1:123456789012:app/GCM/shop').endpointArnPattern
 *   // 'arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/shop/*'
 */
export function platformApplication(arn: string, key: string = CONTEXT_KEYS.pushPlatformApplicationArns) {
  const match = PLATFORM_APPLICATION_ARN.exec(arn);
  if (!match) {
    throw new DeploymentSettingError(
      key,
      `'${arn}' is not an SNS platform application ARN (arn:aws:sns:<region>:<account>:app/<GCM|APNS|...>/<name>)`,
    );
  }
  const [, partition, region, account, platform, name] = match;
  return { arn, endpointArnPattern: `arn:${partition}:sns:${region}:${account}:endpoint/${platform}/${name}/*` };
}

function platformApplications(source: ContextSource): PlatformApplication[] {
  const key = CONTEXT_KEYS.pushPlatformApplicationArns;
  const value = source.tryGetContext(key);
  if (value === undefined || value === null || value === '') return [];
  // cdk.json can hold a list; `-c key=a,b` on the command line is a string
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
  if (!items?.every((item) => typeof item === 'string')) {
    throw new DeploymentSettingError(key, 'must be a list of ARNs or a comma-separated string of them');
  }
  const arns = [...new Set(items.map((item) => item.trim()).filter((item) => item !== ''))];
  return arns.map((arn) => platformApplication(arn, key));
}

function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new DeploymentSettingError(CONTEXT_KEYS.configFile, `cannot read ${file}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/**
 * Reads and checks every context value; throws DeploymentSettingError (bad context value) or the config
 * loader's ConfigError / InvalidConfigError (bad config file: its path, each field path and reason).
 * @example const settings = readDeploymentSettings(app.node); // app.node.tryGetContext(...)
 */
export function readDeploymentSettings(source: ContextSource, cwd: string = process.cwd()): DeploymentSettings {
  const configFile = resolve(cwd, optionalString(source, CONTEXT_KEYS.configFile) ?? DEFAULT_CONFIG_FILE);
  const configText = readConfigText(configFile);
  const config = loadConfigFile(configFile);
  return {
    senderEmail: matching(source, CONTEXT_KEYS.senderEmail, EMAIL, 'an email address (bare, e.g. news@example.com)'),
    sesConfigurationSet: matching(
      source,
      CONTEXT_KEYS.sesConfigurationSet,
      CONFIGURATION_SET,
      'an SES configuration set name (letters, digits, _ and -, at most 64)',
    ),
    pushPlatformApplications: platformApplications(source),
    smsSenderId: matching(
      source,
      CONTEXT_KEYS.smsSenderId,
      SENDER_ID,
      'an SMS sender id (1 to 11 letters and digits, at least one letter)',
    ),
    smsOriginationNumber: matching(
      source,
      CONTEXT_KEYS.smsOriginationNumber,
      E164,
      'a phone number in E.164 form, e.g. +14255550100',
    ),
    alarmEmail: matching(source, CONTEXT_KEYS.alarmEmail, EMAIL, 'an email address'),
    configFile,
    configText,
    config,
  };
}
