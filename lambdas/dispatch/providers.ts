/**
 * The providers a decision is sent through, behind one small interface so tests inject mocks and the
 * local stack injects its sink: SES v2 for email, SNS for push (platform endpoint) and SMS (phone number).
 *
 * A provider call either resolves with the provider's message id (accepted) or throws the provider's
 * own error, which `classifyProviderError` sorts into what dispatch does next. Error messages are never
 * stored or logged by dispatch: SES quotes addresses in some of them; only error names (codes) are.
 *
 * Give the SES and SNS clients `maxAttempts: 1` (see index.ts): the SDK's own retry would resend a
 * request that timed out after the provider accepted it. Dispatch retries only what is provably not
 * accepted (throttling), itself.
 */
import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { ChannelName } from '#config/schema.ts';
import type { EmailContent, PushContent, SmsContent } from '#events/index.ts';
import { TRANSACTIONAL_KIND } from '#model/guardrails.ts';
import type { SuppressionReason } from '#model/user-state.ts';
import { LocalSinkError } from './errors.ts';

interface SendBase {
  decisionId: string;
  /** request kind: 'transactional' SMS go out as Transactional, everything else Promotional */
  kind: string;
}

export interface EmailSend extends SendBase {
  channel: 'email';
  /** recipient address (personal data: never logged) */
  to: string;
  content: EmailContent;
}

export interface PushSend extends SendBase {
  channel: 'push';
  /** SNS platform endpoint ARN of the user's device (personal data: never logged) */
  endpointArn: string;
  content: PushContent;
}

export interface SmsSend extends SendBase {
  channel: 'sms';
  /** E.164 phone number (personal data: never logged) */
  phoneNumber: string;
  content: SmsContent;
}

/** One send handed to a provider. */
export type ProviderSend = EmailSend | PushSend | SmsSend;

/** The provider accepted the message. */
export interface ProviderAcceptance {
  providerMessageId: string;
}

/** Sends one channel's messages; throws the provider's error when it does not accept one. */
export interface ChannelProvider<S extends ProviderSend = ProviderSend> {
  send(message: S): Promise<ProviderAcceptance>;
}

/** A provider per channel. */
export type DispatchProviders = { [C in ChannelName]: ChannelProvider<Extract<ProviderSend, { channel: C }>> };

/** Email header carrying the decision id, as sent (SES event publishing can include headers). */
export const DECISION_ID_HEADER = 'X-STO-Decision-Id';
/** SES message tag carrying the decision id, base64url-encoded (tag values allow only A-Z a-z 0-9 _ -). */
export const DECISION_ID_EMAIL_TAG = 'sto-decision-id';
/** SNS message attribute and push data key carrying the decision id. */
export const DECISION_ID_KEY = 'decisionId';

/**
 * The SES tag value of a decision id: base64url without padding. Decision ids may hold `.` and `:`,
 * which SES refuses in tag values; base64url is reversible and within 256 characters for any id
 * (`dec_` + a 128-character request id encodes to 176 characters).
 * @example emailTagValue('dec_req:1') // 'ZGVjX3JlcTox'
 */
export function emailTagValue(decisionId: string): string {
  return Buffer.from(decisionId, 'utf8').toString('base64url');
}

/**
 * The decision id of an SES event's `sto-decision-id` tag (for whoever turns SES events into engagement events).
 * @example decisionIdFromEmailTag('ZGVjX3JlcTox') // 'dec_req:1'
 */
export function decisionIdFromEmailTag(tagValue: string): string {
  return Buffer.from(tagValue, 'base64url').toString('utf8');
}

/** Settings of the SES email provider. */
export interface SesEmailSettings {
  /** verified sender, e.g. 'Shop <news@shop.example.com>' */
  fromEmailAddress: string;
  /** SES configuration set that publishes delivery / open / click / bounce events; optional */
  configurationSetName?: string;
}

/**
 * Email through SES v2 SendEmail, tagged and headed with the decision id so engagement can be attributed.
 * @example const email = new SesEmailProvider(new SESv2Client({ maxAttempts: 1 }), { fromEmailAddress: 'news@shop.example.com' });
 */
export class SesEmailProvider implements ChannelProvider<EmailSend> {
  constructor(
    private readonly ses: Pick<SESv2Client, 'send'>,
    private readonly settings: SesEmailSettings,
  ) {}

  async send(message: EmailSend): Promise<ProviderAcceptance> {
    const { content, decisionId } = message;
    const result = await this.ses.send(
      new SendEmailCommand({
        FromEmailAddress: this.settings.fromEmailAddress,
        Destination: { ToAddresses: [message.to] },
        Content: {
          Simple: {
            Subject: { Data: content.subject, Charset: 'UTF-8' },
            Body: {
              Text: { Data: content.text, Charset: 'UTF-8' },
              ...(content.html !== undefined && { Html: { Data: content.html, Charset: 'UTF-8' } }),
            },
            Headers: [{ Name: DECISION_ID_HEADER, Value: decisionId }],
          },
        },
        EmailTags: [{ Name: DECISION_ID_EMAIL_TAG, Value: emailTagValue(decisionId) }],
        ...(this.settings.configurationSetName && { ConfigurationSetName: this.settings.configurationSetName }),
      }),
    );
    return { providerMessageId: requireMessageId(result.MessageId, 'SES SendEmail') };
  }
}

/**
 * The SNS message of a push: one JSON per platform (MessageStructure 'json'), the decision id in the
 * app's data. FCM gets the HTTP v1 shape (`fcmV1Message`): the legacy FCM API is shut down.
 * @example JSON.parse(pushMessage({ title: 'Hi', body: 'Sale' }, 'dec_1')).default // 'Sale'
 */
export function pushMessage(content: PushContent, decisionId: string): string {
  const data: Record<string, string> = { ...content.data, [DECISION_ID_KEY]: decisionId };
  const alert = { title: content.title, body: content.body };
  const apns = JSON.stringify({ ...data, aps: { alert } });
  return JSON.stringify({
    default: content.body,
    GCM: JSON.stringify({ fcmV1Message: { message: { notification: alert, data } } }),
    APNS: apns,
    APNS_SANDBOX: apns,
  });
}

/** The SNS SMSType of a request kind: transactional messages get the reliable route, the rest the cheap one. */
export function smsType(kind: string): 'Transactional' | 'Promotional' {
  return kind === TRANSACTIONAL_KIND ? 'Transactional' : 'Promotional';
}

/**
 * Push through SNS Publish to the user's platform endpoint.
 * @example const push = new SnsPushProvider(new SNSClient({ maxAttempts: 1 }));
 */
export class SnsPushProvider implements ChannelProvider<PushSend> {
  constructor(private readonly sns: Pick<SNSClient, 'send'>) {}

  async send(message: PushSend): Promise<ProviderAcceptance> {
    const result = await this.sns.send(
      new PublishCommand({
        TargetArn: message.endpointArn,
        MessageStructure: 'json',
        Message: pushMessage(message.content, message.decisionId),
      }),
    );
    return { providerMessageId: requireMessageId(result.MessageId, 'SNS Publish (push)') };
  }
}

/** Settings of the SNS SMS provider. */
export interface SnsSmsSettings {
  /** alphanumeric sender id where countries support it */
  senderId?: string;
  /** origination number (E.164) registered for the account */
  originationNumber?: string;
}

/**
 * SMS through SNS Publish to a phone number; SMSType follows the request kind.
 * @example const sms = new SnsSmsProvider(new SNSClient({ maxAttempts: 1 }), { senderId: 'SHOP' });
 */
export class SnsSmsProvider implements ChannelProvider<SmsSend> {
  constructor(
    private readonly sns: Pick<SNSClient, 'send'>,
    private readonly settings: SnsSmsSettings = {},
  ) {}

  async send(message: SmsSend): Promise<ProviderAcceptance> {
    const attributes: NonNullable<ConstructorParameters<typeof PublishCommand>[0]['MessageAttributes']> = {
      'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: smsType(message.kind) },
    };
    if (this.settings.senderId) {
      attributes['AWS.SNS.SMS.SenderID'] = { DataType: 'String', StringValue: this.settings.senderId };
    }
    if (this.settings.originationNumber) {
      attributes['AWS.MM.SMS.OriginationNumber'] = { DataType: 'String', StringValue: this.settings.originationNumber };
    }
    const result = await this.sns.send(
      new PublishCommand({
        PhoneNumber: message.phoneNumber,
        Message: message.content.text,
        MessageAttributes: attributes,
      }),
    );
    return { providerMessageId: requireMessageId(result.MessageId, 'SNS Publish (sms)') };
  }
}

/**
 * LOCAL STACK ONLY. fauxqs accepts SNS Publish to a topic but refuses publishes to phone numbers and
 * platform endpoints, so on the local stack push and SMS go to one SNS topic instead, where the demo and
 * the tests count them. It publishes the same body the real provider would (platform JSON, SMS text)
 * with the channel and decision id as message attributes, and never the recipient. It proves nothing
 * about SNS's acceptance rules: those are exercised with aws-sdk-client-mock against the real SDK.
 * @example const sink = new TopicBackedPushSmsSinkForLocalStack(stack.clients.sns, topicArn);
 *          const providers = { email, push: sink, sms: sink };
 */
export class TopicBackedPushSmsSinkForLocalStack implements ChannelProvider<PushSend | SmsSend> {
  constructor(
    private readonly sns: Pick<SNSClient, 'send'>,
    readonly topicArn: string,
  ) {
    if (!topicArn.startsWith('arn:')) throw new LocalSinkError('the local push/SMS sink needs an SNS topic ARN');
  }

  async send(message: PushSend | SmsSend): Promise<ProviderAcceptance> {
    const body = message.channel === 'push' ? pushMessage(message.content, message.decisionId) : message.content.text;
    const result = await this.sns.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Message: body,
        MessageAttributes: {
          channel: { DataType: 'String', StringValue: message.channel },
          [DECISION_ID_KEY]: { DataType: 'String', StringValue: message.decisionId },
          ...(message.channel === 'sms' && {
            'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: smsType(message.kind) },
          }),
        },
      }),
    );
    return { providerMessageId: requireMessageId(result.MessageId, 'local sink Publish') };
  }
}

function requireMessageId(id: string | undefined, call: string): string {
  // An accepted call always has one; without it we cannot prove acceptance, so it is ambiguous (see below).
  if (!id) throw Object.assign(new Error(`${call} answered without a MessageId`), { name: 'MissingMessageId' });
  return id;
}

// ---------------------------------------------------------------------------------------------
// What a provider failure means
// ---------------------------------------------------------------------------------------------

/**
 * - `throttled`: refused for rate, provably not accepted: retried with backoff inside the invocation,
 *   then handed back to SQS with the decision returned to `enqueued`.
 * - `not_accepted`: refused for a reason that is not the user's (account sending paused or suspended,
 *   sender not verified, permissions, the connection never established): provably not accepted, retried
 *   later by SQS, without in-invocation retries. A decision that never gets through ends `stopped`
 *   (outside_window) by the re-check once its window has passed.
 * - `ambiguous`: the provider may have accepted (timeout, socket reset, 5xx, an answer without an id):
 *   `maybe_sent`, never retried.
 * - `rejected`: permanent for this message: `failed`; with `suppress`, the user's endpoint is at fault and
 *   the channel is suppressed for the user.
 */
export type ProviderFailureKind = 'throttled' | 'not_accepted' | 'ambiguous' | 'rejected';

export interface ProviderFailure {
  kind: ProviderFailureKind;
  /** the error's name (or network code): safe to log and to store as the failure reason */
  code: string;
  /** for `rejected`: the suppression the user's channel gets, when the endpoint is at fault */
  suppress?: SuppressionReason;
}

const THROTTLING = new Set([
  // SES v2
  'TooManyRequestsException',
  'LimitExceededException',
  // SNS
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'KMSThrottlingException',
  'RequestLimitExceeded',
]);

/** Not the user's fault and not accepted: wait (SQS redelivery), do not burn the user's channel. */
const NOT_ACCEPTED = new Set([
  'SendingPausedException',
  'AccountSuspendedException',
  'MailFromDomainNotVerifiedException',
  'AuthorizationErrorException',
  'AccessDeniedException',
  'PlatformApplicationDisabledException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'InvalidSecurityException',
  'InvalidClientTokenId',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'CredentialsProviderError',
]);

const SERVER_ERRORS = new Set(['InternalServiceErrorException', 'InternalErrorException', 'InternalFailure']);

/** Network failures before a byte of the request could reach the provider. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

interface SdkLikeError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

/**
 * What a provider's error means for the send (see ProviderFailureKind). Unknown errors default to the
 * safe side for "at most once": ambiguous, unless the provider answered a 4xx (it refused the request).
 * @example classifyProviderError(new TooManyRequestsException({ message: 'slow down', $metadata: {} })) // { kind: 'throttled', code: 'TooManyRequestsException' }
 */
export function classifyProviderError(error: unknown, channel?: ChannelName): ProviderFailure {
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkLikeError;
  const name = typeof e.name === 'string' && e.name !== 'Error' ? e.name : (e.code ?? 'UnknownError');
  const message = typeof e.message === 'string' ? e.message : '';
  const status = e.$metadata?.httpStatusCode;

  if (THROTTLING.has(name) || e.$retryable?.throttling === true || status === 429)
    return { kind: 'throttled', code: name };
  if (NOT_ACCEPTED.has(name)) return { kind: 'not_accepted', code: name };
  if (SERVER_ERRORS.has(name)) return { kind: 'ambiguous', code: name };

  switch (name) {
    case 'MessageRejected':
      // SES's sandbox and unverified identities answer MessageRejected too: our configuration, not the user.
      if (/not verified/i.test(message)) return { kind: 'not_accepted', code: name };
      return { kind: 'rejected', code: name, suppress: 'bounced' };
    case 'BadRequestException':
      // SES v2 names a malformed recipient in a BadRequest ("Illegal address", "Missing final '@domain'").
      if (/address|recipient|mailbox|@domain/i.test(message)) {
        return { kind: 'rejected', code: 'InvalidAddress', suppress: 'bounced' };
      }
      return { kind: 'rejected', code: name };
    case 'EndpointDisabledException':
      return { kind: 'rejected', code: name, suppress: 'bounced' };
    case 'OptedOutException':
      return { kind: 'rejected', code: name, suppress: 'unsubscribed' };
    case 'InvalidParameterException':
    case 'InvalidParameterValueException':
    case 'ValidationException':
      // SNS names the parameter: a bad TargetArn or PhoneNumber is the user's endpoint; anything else is our payload.
      if (/TargetArn|PhoneNumber|endpoint/i.test(message)) {
        return { kind: 'rejected', code: `${name}:endpoint`, suppress: 'bounced' };
      }
      return { kind: 'rejected', code: name };
    case 'NotFoundException':
      // SNS: the platform endpoint was deleted. SES v2: the configuration set is missing (ours to fix).
      if (channel === 'push') return { kind: 'rejected', code: name, suppress: 'bounced' };
      return { kind: 'not_accepted', code: name };
  }

  if (e.$fault === 'server' || (status !== undefined && status >= 500)) return { kind: 'ambiguous', code: name };
  if (e.$fault === 'client' || (status !== undefined && status >= 400)) return { kind: 'not_accepted', code: name };
  if (e.code && NOT_CONNECTED.has(e.code)) return { kind: 'not_accepted', code: e.code };
  if (name === 'TimeoutError' && /did not establish a connection/i.test(message)) {
    return { kind: 'not_accepted', code: 'ConnectionTimeout' };
  }
  return { kind: 'ambiguous', code: name };
}
