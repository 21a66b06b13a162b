/**
 * The AppConfig config source, against the real AppConfig Data client with its commands mocked by
 * aws-sdk-client-mock (there is no AppConfig emulator): sessions, tokens, the refresh interval, unchanged
 * answers, refused configs, failures and the fallback.
 */
import {
  AppConfigDataClient,
  BadRequestException,
  GetLatestConfigurationCommand,
  type GetLatestConfigurationCommandOutput,
  InternalServerException,
  ResourceNotFoundException,
  StartConfigurationSessionCommand,
} from '@aws-sdk/client-appconfigdata';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '#config/load.ts';
import type { AnalystConfig, AnalystConfigInput } from '#config/schema.ts';
import {
  APPCONFIG_ENV,
  APPCONFIG_MIN_POLL_INTERVAL_SECONDS,
  AppConfigSource,
  type ConfigSourceLogger,
  configSourceFromEnv,
} from '#lambdas/shared/config-source.ts';

const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);
const IDS = { applicationId: 'app1234', environmentId: 'env5678', profileId: 'prof9012' };
const ENV = {
  [APPCONFIG_ENV.applicationId]: IDS.applicationId,
  [APPCONFIG_ENV.environmentId]: IDS.environmentId,
  [APPCONFIG_ENV.profileId]: IDS.profileId,
};

interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  extra: unknown[];
}
interface RecordingLogger extends ConfigSourceLogger {
  lines: LogLine[];
}
function recordingLogger(): RecordingLogger {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (message: unknown, ...extra: unknown[]) =>
      void lines.push({ level, message: String(message), extra });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') } as RecordingLogger;
}

type Blob = NonNullable<GetLatestConfigurationCommandOutput['Configuration']>;

/** The bytes of an AppConfig answer (the SDK hands a Uint8Array subclass; the source reads only the bytes). */
function blob(text: string): Blob {
  return new TextEncoder().encode(text) as Blob;
}

/** A config as an analyst writes it (defaults left out), with a version and overrides. */
function deployed(version: string, change: (c: AnalystConfigInput) => void = () => {}): Blob {
  const config = structuredClone(defaultConfig()) as AnalystConfigInput;
  config.version = version;
  change(config);
  return blob(JSON.stringify(config));
}

const appConfig = mockClient(AppConfigDataClient);
let clock: number;
let logger: RecordingLogger;
const fallback = defaultConfig();

function source(options: { minimumPollIntervalSeconds?: number } = {}) {
  return new AppConfigSource({
    client: new AppConfigDataClient({ region: 'eu-west-1' }),
    ...IDS,
    fallback: () => fallback,
    now: () => clock,
    logger,
    ...options,
  });
}

/** Scripts the session: each StartConfigurationSession answers token `s<n>`; each poll answers next token `<token>+`. */
function scriptSession() {
  let sessions = 0;
  appConfig.on(StartConfigurationSessionCommand).callsFake(async () => ({
    InitialConfigurationToken: `s${++sessions}`,
  }));
}

function answers(...configs: (Blob | Error)[]) {
  let call = 0;
  appConfig.on(GetLatestConfigurationCommand).callsFake(async (input: { ConfigurationToken: string }) => {
    const next = configs[Math.min(call++, configs.length - 1)];
    if (next instanceof Error) throw next;
    return {
      Configuration: next,
      ContentType: 'application/json',
      NextPollConfigurationToken: `${input.ConfigurationToken}+`,
      NextPollIntervalInSeconds: APPCONFIG_MIN_POLL_INTERVAL_SECONDS,
      VersionLabel: next.length ? 'v-label' : undefined,
    };
  });
}

const UNCHANGED = blob('');
const tokensPolled = () =>
  appConfig.commandCalls(GetLatestConfigurationCommand).map((c) => c.args[0].input.ConfigurationToken);

beforeEach(() => {
  appConfig.reset();
  clock = T0;
  logger = recordingLogger();
  scriptSession();
});
afterEach(() => {
  appConfig.reset();
});

describe('AppConfigSource', () => {
  it('first fetch: starts one session with the ids and polls with its token; defaults are filled in', async () => {
    // Prepare
    answers(deployed('analyst-7', (c) => delete c.holdout));
    // Act
    const config = await source().current();
    // Assess
    const [start] = appConfig.commandCalls(StartConfigurationSessionCommand);
    expect(start.args[0].input).toEqual({
      ApplicationIdentifier: IDS.applicationId,
      EnvironmentIdentifier: IDS.environmentId,
      ConfigurationProfileIdentifier: IDS.profileId,
      RequiredMinimumPollIntervalInSeconds: APPCONFIG_MIN_POLL_INTERVAL_SECONDS,
    });
    expect(tokensPolled()).toEqual(['s1']);
    expect(config.version).toBe('analyst-7');
    expect(config.holdout).toEqual({ share: 0.05, policy: 'heuristic', fixedLocalHour: 10, salt: 'holdout-v1' });
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        message: 'config applied',
        extra: [expect.objectContaining({ configVersion: 'analyst-7' })],
      }),
    );
  });

  it('polls no more often than model.refreshIntervalSeconds, with the next token each time', async () => {
    // Prepare
    answers(
      deployed('a', (c) => {
        c.model = { refreshIntervalSeconds: 120 };
      }),
      deployed('b', (c) => {
        c.model = { refreshIntervalSeconds: 30 };
      }),
      UNCHANGED,
    );
    const configs = source();
    // Act + Assess
    expect((await configs.current()).version).toBe('a');
    clock = T0 + 119_999;
    expect((await configs.current()).version).toBe('a');
    expect(configs.polls).toBe(1);
    clock = T0 + 120_000;
    expect((await configs.current()).version).toBe('b');
    // the new config's own interval paces the next poll
    clock = T0 + 120_000 + 29_999;
    await configs.current();
    expect(configs.polls).toBe(2);
    clock = T0 + 150_000;
    await configs.current();
    expect(tokensPolled()).toEqual(['s1', 's1+', 's1++']);
    expect(configs.sessions).toBe(1);
  });

  it("never polls sooner than AppConfig's next-poll interval, nor more than once for concurrent batches", async () => {
    // Prepare
    appConfig.on(GetLatestConfigurationCommand).resolves({
      Configuration: deployed('a', (c) => {
        c.model = { refreshIntervalSeconds: 5 };
      }),
      NextPollConfigurationToken: 'next',
      NextPollIntervalInSeconds: 60,
    });
    const configs = source();
    // Act
    const [one, two] = await Promise.all([configs.current(), configs.current()]);
    clock = T0 + 59_000;
    await configs.current();
    // Assess
    expect(one).toBe(two);
    expect(configs.polls).toBe(1);
    clock = T0 + 60_000;
    await configs.current();
    expect(configs.polls).toBe(2);
  });

  it('an empty answer means unchanged: the same object, so handlers can cache on it', async () => {
    // Prepare
    answers(deployed('a'), UNCHANGED);
    const configs = source();
    // Act
    const first = await configs.current();
    clock += 60_000;
    const second = await configs.current();
    // Assess
    expect(second).toBe(first);
    expect(tokensPolled()).toEqual(['s1', 's1+']);
    expect(logger.lines.filter((l) => l.message === 'config applied')).toHaveLength(1);
  });

  it('a config equal to the one in use, sent again in full by a new session, keeps the same object', async () => {
    // Prepare
    answers(deployed('a'), new InternalServerException({ message: 'internal', $metadata: {} }), deployed('a'));
    const configs = source();
    // Act
    const first = await configs.current();
    clock += 60_000;
    await configs.current(); // fails; the next refresh starts a new session
    clock += 60_000;
    const third = await configs.current();
    // Assess
    expect(third).toBe(first);
    expect(configs.sessions).toBe(2);
    expect(logger.lines.filter((l) => l.message.includes('refused'))).toEqual([]);
  });

  it('refuses an invalid config, naming path and reason but no value, and keeps the last good one', async () => {
    // Prepare
    answers(
      deployed('a'),
      deployed('b', (c) => {
        c.bandit.explorationFloor = 0.9;
        c.holdout = { salt: '' };
        c.guardrails.defaultTimeZone = 'lena@example.com';
      }),
      UNCHANGED,
    );
    const configs = source();
    const good = await configs.current();
    // Act
    clock += 60_000;
    const afterBad = await configs.current();
    clock += 60_000;
    const afterUnchanged = await configs.current();
    // Assess
    expect(afterBad).toBe(good);
    expect(afterUnchanged).toBe(good);
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toBe('invalid config from AppConfig refused; keeping the last good config');
    const { problems } = warnings[0].extra[0] as { problems: { path: string; reason: string }[] };
    expect(problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['bandit.explorationFloor', 'holdout.salt', 'guardrails.defaultTimeZone']),
    );
    expect(problems.every((p) => p.reason.length > 0)).toBe(true);
    expect(JSON.stringify(logger.lines)).not.toContain('lena@example.com');
  });

  it('refuses text that is not JSON without quoting it', async () => {
    // Prepare
    answers(deployed('a'), blob('{"version": "b", "contact": "+447700900123"'));
    const configs = source();
    const good = await configs.current();
    // Act
    clock += 60_000;
    const after = await configs.current();
    // Assess
    expect(after).toBe(good);
    expect(logger.lines.find((l) => l.level === 'warn')?.extra[0]).toMatchObject({
      problems: [{ path: '(root)', reason: 'not valid UTF-8 JSON' }],
    });
    expect(JSON.stringify(logger.lines)).not.toContain('447700900123');
  });

  it('refuses a changed config that kept its version (decisions would name the wrong config)', async () => {
    // Prepare
    answers(
      deployed('a'),
      deployed('a', (c) => {
        c.holdout = { share: 0.2 };
      }),
    );
    const configs = source();
    const good = await configs.current();
    // Act
    clock += 60_000;
    const after = await configs.current();
    // Assess
    expect(after).toBe(good);
    expect(after.holdout.share).toBe(0.05);
    expect(logger.lines.find((l) => l.level === 'warn')?.extra[0]).toMatchObject({
      problems: [{ path: 'version' }],
    });
  });

  it('the first fetch failing falls back to the bundled config with an error; a later good fetch replaces it', async () => {
    // Prepare
    appConfig
      .on(StartConfigurationSessionCommand)
      .rejectsOnce(new ResourceNotFoundException({ message: 'no deployment', $metadata: {} }))
      .resolves({ InitialConfigurationToken: 'later' });
    answers(deployed('deployed-1'));
    const configs = source();
    // Act
    const first = await configs.current();
    clock += fallback.model.refreshIntervalSeconds * 1000;
    const second = await configs.current();
    // Assess
    expect(first).toBe(fallback);
    expect(logger.lines[0]).toMatchObject({
      level: 'error',
      message: expect.stringContaining('config fetch from AppConfig failed; using the bundled config'),
      extra: [expect.objectContaining({ error: 'ResourceNotFoundException', configVersion: fallback.version })],
    });
    expect(second.version).toBe('deployed-1');
    expect(tokensPolled()).toEqual(['later']);
  });

  it('a first config that is invalid also falls back, with an error naming its problems', async () => {
    // Prepare
    answers(
      deployed('a', (c) => {
        c.channels.sms.cost = -1;
      }),
    );
    // Act
    const config = await source().current();
    // Assess
    expect(config).toBe(fallback);
    expect(logger.lines[0]).toMatchObject({
      level: 'error',
      extra: [{ problems: [expect.objectContaining({ path: 'channels.sms.cost' })] }],
    });
  });

  it('a failed refresh keeps the last good config, warns, and retries only after the interval', async () => {
    // Prepare
    answers(deployed('a'), new InternalServerException({ message: 'internal', $metadata: {} }), deployed('b'));
    const configs = source();
    const good = await configs.current();
    // Act
    clock += 60_000;
    const afterFailure = await configs.current();
    clock += 59_000;
    await configs.current();
    const pollsBeforeInterval = configs.polls;
    clock += 1_000;
    const recovered = await configs.current();
    // Assess
    expect(afterFailure).toBe(good);
    expect(pollsBeforeInterval).toBe(2);
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'config refresh from AppConfig failed; keeping the last good config',
        extra: [expect.objectContaining({ error: 'InternalServerException', configVersion: 'a' })],
      }),
    );
    expect(recovered.version).toBe('b');
    // the token sent with the failed call may be spent: a new session, not a retry with it
    expect(tokensPolled()).toEqual(['s1', 's1+', 's2']);
  });

  it('an expired token (BadRequestException) starts a new session and polls again in the same refresh', async () => {
    // Prepare
    appConfig
      .on(GetLatestConfigurationCommand, { ConfigurationToken: 's1' })
      .resolves({ Configuration: deployed('a'), NextPollConfigurationToken: 'old', NextPollIntervalInSeconds: 15 })
      .on(GetLatestConfigurationCommand, { ConfigurationToken: 'old' })
      .rejects(new BadRequestException({ message: 'token expired', Reason: 'InvalidParameters', $metadata: {} }))
      .on(GetLatestConfigurationCommand, { ConfigurationToken: 's2' })
      .resolves({ Configuration: deployed('b'), NextPollConfigurationToken: 's2+', NextPollIntervalInSeconds: 15 });
    const configs = source();
    await configs.current();
    // Act
    clock += 25 * 60 * 60 * 1000;
    const config = await configs.current();
    // Assess
    expect(config.version).toBe('b');
    expect(tokensPolled()).toEqual(['s1', 'old', 's2']);
    expect(configs.sessions).toBe(2);
    expect(logger.lines.some((l) => l.level === 'warn' || l.level === 'error')).toBe(false);
  });

  it('a BadRequestException on a new session is not retried in a loop', async () => {
    // Prepare
    answers(new BadRequestException({ message: 'bad identifiers', $metadata: {} }));
    const configs = source();
    // Act
    const config = await configs.current();
    // Assess
    expect(config).toBe(fallback);
    expect(configs.sessions).toBe(1);
    expect(configs.polls).toBe(1);
  });
});

describe('configSourceFromEnv', () => {
  it('reads AppConfig when the three STO_APPCONFIG_* variables are set', async () => {
    // Prepare
    answers(deployed('from-appconfig'));
    // Act
    const configs = configSourceFromEnv(ENV, {
      client: new AppConfigDataClient({ region: 'eu-west-1' }),
      logger,
      now: () => clock,
    });
    // Assess
    expect(configs).toBeInstanceOf(AppConfigSource);
    expect((await configs.current()).version).toBe('from-appconfig');
  });

  it('without them, serves STO_CONFIG_JSON (or the bundled default) as it is', async () => {
    // Prepare
    const own: AnalystConfig = { ...defaultConfig(), version: 'from-env' };
    // Act
    const configs = configSourceFromEnv({ STO_CONFIG_JSON: JSON.stringify(own) });
    // Assess
    expect((await configs.current()).version).toBe('from-env');
    expect(await configs.current()).toBe(await configs.current());
    expect((await configSourceFromEnv({}).current()).version).toBe(defaultConfig().version);
    expect(appConfig.calls()).toHaveLength(0);
  });

  it('fails the cold start naming the variables missing when only some are set', () => {
    expect(() => configSourceFromEnv({ [APPCONFIG_ENV.applicationId]: 'app' })).toThrow(
      `${APPCONFIG_ENV.environmentId}, ${APPCONFIG_ENV.profileId} not set`,
    );
  });
});
