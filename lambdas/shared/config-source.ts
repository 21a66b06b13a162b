/**
 * Where a running function gets the analysts' config. Handlers ask a ConfigSource for the current config
 * at the start of every batch, so a config deployed while the container lives reaches it on the next
 * refresh, without a redeploy of the function.
 *
 * Deployed: AWS AppConfig (the stack's hosted configuration), read with the AppConfig Data API when the
 * STO_APPCONFIG_* variables are set. Otherwise (tests, the demo, the local stack): the config of the
 * environment (STO_CONFIG_JSON) or the bundled default (runtime-config.ts).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  AppConfigDataClient,
  GetLatestConfigurationCommand,
  type GetLatestConfigurationCommandOutput,
  StartConfigurationSessionCommand,
} from '@aws-sdk/client-appconfigdata';
import { ConfigError, InvalidConfigError } from '#config/errors.ts';
import { parseConfig } from '#config/load.ts';
import type { AnalystConfig } from '#config/schema.ts';
import { APPCONFIG_ENV } from '#infra/runtime-env.ts';
import { createLogger } from './logger.ts';
import { runtimeConfig } from './runtime-config.ts';

export interface ConfigSource {
  /** the config to use for the next batch; validated (a bad deployed config never reaches a handler) */
  current(): Promise<AnalystConfig>;
}

/**
 * A source that always returns the same config (tests, the demo, the local stack).
 * @example const source = staticConfigSource(defaultConfig());
 */
export function staticConfigSource(config: AnalystConfig): ConfigSource {
  return { current: async () => config };
}

/** Environment variables naming the AppConfig configuration a function reads (the stack sets all three). */
export { APPCONFIG_ENV };

/** The least RequiredMinimumPollIntervalInSeconds AppConfig accepts; the config's refresh interval paces polls. */
export const APPCONFIG_MIN_POLL_INTERVAL_SECONDS = 15;

export type ConfigSourceLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** The AppConfig Data answer carried no usable configuration (empty on a session's first poll). */
export class ConfigFetchError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFetchError';
  }
}

export interface AppConfigSourceOptions {
  client: AppConfigDataClient;
  applicationId: string;
  environmentId: string;
  profileId: string;
  /** the config to use when the very first fetch fails: STO_CONFIG_JSON or the bundled default */
  fallback: () => AnalystConfig;
  /** injectable clock (ms since the epoch) */
  now: () => number;
  logger: ConfigSourceLogger;
  /** RequiredMinimumPollIntervalInSeconds of the session; default APPCONFIG_MIN_POLL_INTERVAL_SECONDS */
  minimumPollIntervalSeconds?: number;
}

/**
 * The config deployed with AWS AppConfig, polled through the AppConfig Data API: one session
 * (StartConfigurationSession), then GetLatestConfiguration with each answer's next token, at most once
 * per `model.refreshIntervalSeconds` of the config in use (and never sooner than AppConfig's own next-poll
 * interval), so at most once per batch.
 *
 * - An empty answer means unchanged; a new config that equals the one in use keeps the same object, so
 *   handlers may cache on its identity.
 * - A new config is validated with parseConfig; an invalid one (or one whose content changed while its
 *   `version` did not) is refused with a warning naming paths and reasons, never values, and the last good
 *   config stays. A failed poll keeps the last good config too; the next refresh starts a new session.
 * - The very first fetch failing (or delivering an invalid config) falls back to `fallback` with an error.
 * - An expired or spent token (BadRequestException) starts a new session and polls again at once.
 * @example
 *   const source = new AppConfigSource({ client: new AppConfigDataClient({}), applicationId, environmentId,
 *     profileId, fallback: () => runtimeConfig(process.env), now: Date.now, logger });
 *   const config = await source.current();
 */
export class AppConfigSource implements ConfigSource {
  private config: AnalystConfig | undefined;
  /** JSON of `config`, to recognise an equal config delivered again (a new session sends it in full) */
  private configJson = '';
  private fromAppConfig = false;
  private token: string | undefined;
  private nextPollAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<AnalystConfig> | undefined;
  private readonly options: AppConfigSourceOptions;

  /** GetLatestConfiguration calls so far */
  polls = 0;
  /** StartConfigurationSession calls so far */
  sessions = 0;

  constructor(options: AppConfigSourceOptions) {
    this.options = options;
  }

  async current(): Promise<AnalystConfig> {
    if (this.config && this.options.now() < this.nextPollAt) return this.config;
    // concurrent callers share one refresh
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async refresh(): Promise<AnalystConfig> {
    const startedAt = this.options.now();
    let nextPollSeconds = 0;
    try {
      const answer = await this.poll();
      nextPollSeconds = answer.NextPollIntervalInSeconds ?? 0;
      this.apply(answer);
    } catch (error) {
      this.keepOrFallBack(error);
    }
    const config = this.config as AnalystConfig;
    const intervalSeconds = Math.max(config.model.refreshIntervalSeconds, nextPollSeconds);
    this.nextPollAt = startedAt + intervalSeconds * 1000;
    return config;
  }

  private async poll(): Promise<GetLatestConfigurationCommandOutput> {
    const hadSession = this.token !== undefined;
    try {
      return await this.getLatest(await this.sessionToken());
    } catch (error) {
      if (!hadSession || (error as Error).name !== 'BadRequestException') throw error;
      this.options.logger.info('AppConfig session token expired or spent; starting a new session', {
        reason: (error as { Reason?: string }).Reason,
      });
      return await this.getLatest(await this.sessionToken());
    }
  }

  private async sessionToken(): Promise<string> {
    if (this.token) return this.token;
    this.sessions++;
    const session = await this.options.client.send(
      new StartConfigurationSessionCommand({
        ApplicationIdentifier: this.options.applicationId,
        EnvironmentIdentifier: this.options.environmentId,
        ConfigurationProfileIdentifier: this.options.profileId,
        RequiredMinimumPollIntervalInSeconds:
          this.options.minimumPollIntervalSeconds ?? APPCONFIG_MIN_POLL_INTERVAL_SECONDS,
      }),
    );
    if (!session.InitialConfigurationToken) {
      throw new ConfigFetchError('StartConfigurationSession answered without a token');
    }
    return session.InitialConfigurationToken;
  }

  private async getLatest(token: string): Promise<GetLatestConfigurationCommandOutput> {
    // a token is good for one call, whatever its outcome: without a next token the next poll starts a session
    this.token = undefined;
    this.polls++;
    const answer = await this.options.client.send(new GetLatestConfigurationCommand({ ConfigurationToken: token }));
    this.token = answer.NextPollConfigurationToken;
    return answer;
  }

  private apply(answer: GetLatestConfigurationCommandOutput): void {
    const bytes = answer.Configuration;
    if (!bytes || bytes.length === 0) {
      if (this.config) return; // unchanged since the last answer of this session
      throw new ConfigFetchError('AppConfig answered without a configuration on the first poll');
    }
    const label = answer.VersionLabel;
    let candidate: AnalystConfig;
    try {
      candidate = parseConfig(decodeJson(bytes), 'AppConfig');
    } catch (error) {
      const problems =
        error instanceof InvalidConfigError ? error.problems : [{ path: '(root)', reason: (error as Error).message }];
      this.refuse('invalid config', problems, label);
      return;
    }
    const json = JSON.stringify(candidate);
    if (json === this.configJson) {
      this.fromAppConfig = true;
      return;
    }
    if (this.fromAppConfig && this.config && candidate.version === this.config.version) {
      this.refuse(
        'config changed without a new version',
        [{ path: 'version', reason: 'content differs from the config in use with the same version; raise version' }],
        label,
      );
      return;
    }
    const previous = this.config?.version;
    this.config = candidate;
    this.configJson = json;
    this.fromAppConfig = true;
    this.options.logger.info('config applied', {
      configVersion: candidate.version,
      previousConfigVersion: previous,
      appConfigVersionLabel: label,
    });
  }

  private refuse(what: string, problems: { path: string; reason: string }[], label: string | undefined): void {
    if (this.config) {
      this.options.logger.warn(`${what} from AppConfig refused; keeping the last good config`, {
        problems,
        appConfigVersionLabel: label,
        configVersion: this.config.version,
      });
      return;
    }
    this.useFallback(`${what} from AppConfig`, { problems, appConfigVersionLabel: label });
  }

  private keepOrFallBack(error: unknown): void {
    const cause = { error: (error as Error).name, reason: (error as Error).message };
    if (this.config) {
      this.options.logger.warn('config refresh from AppConfig failed; keeping the last good config', {
        ...cause,
        configVersion: this.config.version,
      });
      return;
    }
    this.useFallback('config fetch from AppConfig failed', cause);
  }

  private useFallback(what: string, detail: Record<string, unknown>): void {
    const fallback = this.options.fallback();
    this.config = fallback;
    this.configJson = JSON.stringify(fallback);
    this.fromAppConfig = false;
    this.options.logger.error(`${what}; using the bundled config until a good one arrives`, {
      ...detail,
      configVersion: fallback.version,
    });
  }
}

/** The JSON of an AppConfig answer; a parse error's message can quote content, so only its kind is kept. */
function decodeJson(bytes: Uint8Array): unknown {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ConfigFetchError('not valid UTF-8 JSON');
  }
  return value;
}

/**
 * The source a Lambda entry uses, chosen by its environment: AppConfig when the STO_APPCONFIG_* variables
 * are set (all three, or the cold start fails naming the missing ones), else STO_CONFIG_JSON or the bundled
 * default, validated now so a bad value fails the cold start with its path and reason.
 * @example const configSource = configSourceFromEnv(process.env, { logger }); const config = await configSource.current();
 */
export function configSourceFromEnv(
  env: Record<string, string | undefined>,
  options: { logger?: ConfigSourceLogger; client?: AppConfigDataClient; now?: () => number } = {},
): ConfigSource {
  const ids = Object.values(APPCONFIG_ENV).map((name) => [name, env[name]] as const);
  const missing = ids.filter(([, value]) => !value).map(([name]) => name);
  if (missing.length === ids.length) return staticConfigSource(runtimeConfig(env));
  if (missing.length) throw new ConfigError(`AppConfig is partly configured: ${missing.join(', ')} not set`);
  return new AppConfigSource({
    client:
      options.client ??
      // a hung AppConfig must not eat the batch's time: the last good config serves meanwhile
      new AppConfigDataClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 } }),
    applicationId: env[APPCONFIG_ENV.applicationId] as string,
    environmentId: env[APPCONFIG_ENV.environmentId] as string,
    profileId: env[APPCONFIG_ENV.profileId] as string,
    fallback: () => runtimeConfig(env),
    now: options.now ?? Date.now,
    logger: options.logger ?? createLogger('config'),
  });
}
