/**
 * The providers on their own: what each sends (SES v2 SendEmail, SNS Publish to an endpoint or a phone
 * number), and what each provider failure means. The failures are produced by the real SDK clients
 * reading scripted HTTP answers (SNS's query-protocol XML, SES v2's REST-JSON), real socket resets,
 * hung requests and refused connections, so the classification is checked against the shapes the SDK
 * really produces, not against hand-built objects.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifyProviderError,
  DECISION_ID_EMAIL_TAG,
  DECISION_ID_HEADER,
  decisionIdFromEmailTag,
  emailTagValue,
  type ProviderFailure,
  pushMessage,
  SesEmailProvider,
  SnsPushProvider,
  SnsSmsProvider,
  smsType,
} from '#lambdas/dispatch/providers.ts';

const ENDPOINT_ARN = 'arn:aws:sns:us-east-1:000000000000:endpoint/GCM/shop-app/0f1e2d3c';
const EMAIL_CONTENT = { subject: 'Your basket', text: 'Still there', html: '<p>Still there</p>' };
const PUSH_CONTENT = { title: 'Basket', body: '10% off', data: { deepLink: 'shop://basket' } };

describe('what the providers send', () => {
  it('sends an email from the configured sender, tagged and headed with the decision id', async () => {
    // Prepare
    const ses = mockClient(SESv2Client);
    ses.on(SendEmailCommand).resolves({ MessageId: 'ses-1' });
    const provider = new SesEmailProvider(new SESv2Client({ region: 'us-east-1' }), {
      fromEmailAddress: 'news@shop.example.com',
      configurationSetName: 'engagement',
    });
    // Act
    const accepted = await provider.send({
      channel: 'email',
      decisionId: 'dec_req:winback.1',
      kind: 'promotional',
      to: 'lena@example.com',
      content: EMAIL_CONTENT,
    });
    // Assess
    expect(accepted).toEqual({ providerMessageId: 'ses-1' });
    const [call] = ses.commandCalls(SendEmailCommand);
    const input = call.args[0].input;
    expect(input.FromEmailAddress).toBe('news@shop.example.com');
    expect(input.ConfigurationSetName).toBe('engagement');
    expect(input.Destination?.ToAddresses).toEqual(['lena@example.com']);
    expect(input.Content?.Simple?.Subject?.Data).toBe('Your basket');
    expect(input.Content?.Simple?.Body?.Html?.Data).toBe('<p>Still there</p>');
    expect(input.Content?.Simple?.Headers).toEqual([{ Name: DECISION_ID_HEADER, Value: 'dec_req:winback.1' }]);
    const tag = input.EmailTags?.find((t) => t.Name === DECISION_ID_EMAIL_TAG);
    expect(tag && decisionIdFromEmailTag(tag.Value as string)).toBe('dec_req:winback.1');
    ses.restore();
  });

  it('publishes a push per platform to the endpoint, with the decision id in the app data', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: 'sns-1' });
    const provider = new SnsPushProvider(new SNSClient({ region: 'us-east-1' }));
    await provider.send({
      channel: 'push',
      decisionId: 'dec_1',
      kind: 'reminder',
      endpointArn: ENDPOINT_ARN,
      content: PUSH_CONTENT,
    });
    const input = sns.commandCalls(PublishCommand)[0].args[0].input;
    expect(input.TargetArn).toBe(ENDPOINT_ARN);
    expect(input.PhoneNumber).toBeUndefined();
    expect(input.MessageStructure).toBe('json');
    const message = JSON.parse(input.Message as string);
    expect(message.default).toBe('10% off');
    const fcm = JSON.parse(message.GCM).fcmV1Message.message;
    expect(fcm.notification).toEqual({ title: 'Basket', body: '10% off' });
    expect(fcm.data).toEqual({ deepLink: 'shop://basket', decisionId: 'dec_1' });
    const apns = JSON.parse(message.APNS);
    expect(apns.aps.alert).toEqual({ title: 'Basket', body: '10% off' });
    expect(apns.decisionId).toBe('dec_1');
    expect(message.APNS_SANDBOX).toBe(message.APNS);
    sns.restore();
  });

  it('sends SMS to the phone number as Transactional only for transactional requests', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: 'sns-2' });
    const provider = new SnsSmsProvider(new SNSClient({ region: 'us-east-1' }), { senderId: 'SHOP' });
    for (const kind of ['transactional', 'promotional']) {
      await provider.send({
        channel: 'sms',
        decisionId: 'dec_2',
        kind,
        phoneNumber: '+14155550123',
        content: { text: 'Your code is 1234' },
      });
    }
    const [transactional, promotional] = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(transactional.PhoneNumber).toBe('+14155550123');
    expect(transactional.TargetArn).toBeUndefined();
    expect(transactional.MessageAttributes?.['AWS.SNS.SMS.SMSType']?.StringValue).toBe('Transactional');
    expect(transactional.MessageAttributes?.['AWS.SNS.SMS.SenderID']?.StringValue).toBe('SHOP');
    expect(promotional.MessageAttributes?.['AWS.SNS.SMS.SMSType']?.StringValue).toBe('Promotional');
    expect(smsType('digest')).toBe('Promotional');
    sns.restore();
  });

  it('treats an answer without a message id as ambiguous (acceptance unproven)', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({});
    const provider = new SnsSmsProvider(new SNSClient({ region: 'us-east-1' }));
    const error = await provider
      .send({ channel: 'sms', decisionId: 'd', kind: 'reminder', phoneNumber: '+14155550123', content: { text: 'x' } })
      .catch((e: unknown) => e);
    expect(classifyProviderError(error, 'sms').kind).toBe('ambiguous');
    sns.restore();
  });

  it('encodes any contract decision id as a valid SES tag value and back', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/), (requestId) => {
        const decisionId = `dec_${requestId}`;
        const tag = emailTagValue(decisionId);
        expect(tag).toMatch(/^[A-Za-z0-9_-]{1,256}$/);
        expect(decisionIdFromEmailTag(tag)).toBe(decisionId);
      }),
    );
  });

  it('keeps producer data but never lets it overwrite the decision id or the alert', () => {
    const message = JSON.parse(
      pushMessage({ title: 'T', body: 'B', data: { decisionId: 'forged', aps: 'x' } as never }, 'dec_real'),
    );
    expect(JSON.parse(message.GCM).fcmV1Message.message.data.decisionId).toBe('dec_real');
    expect(JSON.parse(message.APNS).decisionId).toBe('dec_real');
    expect(JSON.parse(message.APNS).aps).toEqual({ alert: { title: 'T', body: 'B' } });
  });
});

// ---------------------------------------------------------------------------------------------
// Failures as the real SDK produces them
// ---------------------------------------------------------------------------------------------

type Script = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server;
let script: Script = (_req, res) => res.end();
let port = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => script(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function snsError(status: number, code: string, message: string): Script {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(
      `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>` +
        `<Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`,
    );
  };
}

function sesError(status: number, type: string, message: string): Script {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
    res.end(JSON.stringify({ message }));
  };
}

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
function clients(endpoint = `http://127.0.0.1:${port}`) {
  const options = {
    region: 'us-east-1',
    endpoint,
    credentials,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 500, requestTimeout: 300, throwOnRequestTimeout: true },
  };
  return { ses: new SESv2Client(options), sns: new SNSClient(options) };
}

async function smsFailure(s: Script, endpoint?: string): Promise<ProviderFailure> {
  script = s;
  const { sns } = clients(endpoint);
  const provider = new SnsSmsProvider(sns);
  const error = await provider
    .send({ channel: 'sms', decisionId: 'd', kind: 'reminder', phoneNumber: '+14155550123', content: { text: 'x' } })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  sns.destroy();
  expect(error, 'the call must fail').toBeDefined();
  return classifyProviderError(error, 'sms');
}

async function pushFailure(s: Script): Promise<ProviderFailure> {
  script = s;
  const { sns } = clients();
  const error = await new SnsPushProvider(sns)
    .send({ channel: 'push', decisionId: 'd', kind: 'reminder', endpointArn: ENDPOINT_ARN, content: PUSH_CONTENT })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  sns.destroy();
  expect(error, 'the call must fail').toBeDefined();
  return classifyProviderError(error, 'push');
}

async function emailFailure(s: Script): Promise<ProviderFailure> {
  script = s;
  const { ses } = clients();
  const error = await new SesEmailProvider(ses, { fromEmailAddress: 'news@shop.example.com' })
    .send({ channel: 'email', decisionId: 'd', kind: 'digest', to: 'lena@example.com', content: EMAIL_CONTENT })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  ses.destroy();
  expect(error, 'the call must fail').toBeDefined();
  return classifyProviderError(error, 'email');
}

describe('what a provider failure means', () => {
  it('accepts a real answer (the scripted server works)', async () => {
    script = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-9</MessageId>' +
          '</PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>',
      );
    };
    const { sns } = clients();
    const accepted = await new SnsSmsProvider(sns).send({
      channel: 'sms',
      decisionId: 'd',
      kind: 'reminder',
      phoneNumber: '+14155550123',
      content: { text: 'x' },
    });
    sns.destroy();
    expect(accepted).toEqual({ providerMessageId: 'm-9' });
  });

  it('sees throttling in SNS and SES answers', async () => {
    expect(await smsFailure(snsError(400, 'Throttled', 'Rate exceeded'))).toMatchObject({ kind: 'throttled' });
    expect(await smsFailure(snsError(400, 'Throttling', 'Rate exceeded'))).toMatchObject({ kind: 'throttled' });
    expect(await emailFailure(sesError(429, 'TooManyRequestsException', 'Maximum sending rate exceeded'))).toEqual({
      kind: 'throttled',
      code: 'TooManyRequestsException',
    });
    expect(await emailFailure(sesError(400, 'LimitExceededException', 'Daily quota exceeded'))).toMatchObject({
      kind: 'throttled',
    });
  });

  it("suppresses the channel only when the user's endpoint is at fault", async () => {
    expect(await pushFailure(snsError(400, 'EndpointDisabled', 'Endpoint is disabled'))).toEqual({
      kind: 'rejected',
      code: 'EndpointDisabledException',
      suppress: 'bounced',
    });
    expect(await smsFailure(snsError(400, 'InvalidParameter', 'Invalid parameter: PhoneNumber Reason: x'))).toEqual({
      kind: 'rejected',
      code: 'InvalidParameterException:endpoint',
      suppress: 'bounced',
    });
    expect(await smsFailure(snsError(400, 'OptedOut', 'Phone number is opted out'))).toMatchObject({
      kind: 'rejected',
      suppress: 'unsubscribed',
    });
    expect(await emailFailure(sesError(400, 'MessageRejected', 'Address blacklisted.'))).toEqual({
      kind: 'rejected',
      code: 'MessageRejected',
      suppress: 'bounced',
    });
    expect(await emailFailure(sesError(400, 'BadRequestException', "Missing final '@domain'"))).toMatchObject({
      kind: 'rejected',
      suppress: 'bounced',
    });
    // our payload, not the user's endpoint: failed, channel left alone
    const tooLong = await smsFailure(snsError(400, 'InvalidParameter', 'Invalid parameter: Message too long'));
    expect(tooLong).toEqual({ kind: 'rejected', code: 'InvalidParameterException' });
  });

  it("waits (not accepted, not the user's fault) when the account cannot send", async () => {
    for (const type of ['SendingPausedException', 'AccountSuspendedException', 'MailFromDomainNotVerifiedException']) {
      expect(await emailFailure(sesError(400, type, 'account'))).toEqual({ kind: 'not_accepted', code: type });
    }
    // the SES sandbox answers MessageRejected for an unverified recipient: ours to fix, not a bounce
    expect(await emailFailure(sesError(400, 'MessageRejected', 'Email address is not verified.'))).toMatchObject({
      kind: 'not_accepted',
    });
    expect(await smsFailure(snsError(403, 'AuthorizationError', 'not authorized'))).toMatchObject({
      kind: 'not_accepted',
    });
  });

  it('calls every answer that may hide an acceptance ambiguous', async () => {
    expect(await smsFailure(snsError(500, 'InternalError', 'oops'))).toMatchObject({ kind: 'ambiguous' });
    expect(await emailFailure(sesError(500, 'InternalServiceErrorException', 'oops'))).toMatchObject({
      kind: 'ambiguous',
    });
    expect(await emailFailure(sesError(503, 'ServiceUnavailable', 'try later'))).toMatchObject({ kind: 'ambiguous' });
    // the connection is cut after the request was read
    expect(await smsFailure((_req, res) => res.socket?.destroy())).toMatchObject({ kind: 'ambiguous' });
    // no answer within the request timeout
    expect(await smsFailure(() => {})).toEqual({ kind: 'ambiguous', code: 'TimeoutError' });
  });

  it('knows a refused connection never reached the provider', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await smsFailure(() => {}, `http://127.0.0.1:${closedPort}`)).toEqual({
      kind: 'not_accepted',
      code: 'ECONNREFUSED',
    });
  });
});
