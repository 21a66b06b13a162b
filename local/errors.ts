/** Base class of every error thrown by the local stack and the local SQS poller. */
export class LocalStackError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An emulator did not start or did not answer in time; carries the tail of its output. */
export class EmulatorStartError extends LocalStackError {
  readonly emulator: string;
  readonly output: string;

  constructor(emulator: string, reason: string, output = '', options?: ErrorOptions) {
    super(`${emulator} did not start: ${reason}${output ? `\n--- last output ---\n${output}` : ''}`, options);
    this.emulator = emulator;
    this.output = output;
  }
}

/** The stack was used after stop(), or a resource could not be provisioned. */
export class LocalStackStateError extends LocalStackError {}

/** The SES inbox of aws-ses-v2-local could not be read. */
export class SesInboxError extends LocalStackError {}

/** Misuse of the SQS event source poller (bad options, drain before start). */
export class PollerError extends LocalStackError {
  readonly queueUrl: string;

  constructor(queueUrl: string, message: string, options?: ErrorOptions) {
    super(`${message} (queue ${queueUrl})`, options);
    this.queueUrl = queueUrl;
  }
}

/** A handler ran longer than its Lambda timeout: its whole batch counts as failed, as on Lambda. */
export class HandlerTimeoutError extends PollerError {
  readonly messageIds: string[];

  constructor(queueUrl: string, timeoutMs: number, messageIds: string[]) {
    super(queueUrl, `handler timed out after ${timeoutMs} ms; the batch of ${messageIds.length} returns to the queue`);
    this.messageIds = messageIds;
  }
}

/** The handler's response is not a valid SQSBatchResponse: Lambda fails the whole batch then. */
export class InvalidBatchResponseError extends PollerError {
  constructor(queueUrl: string, reason: string) {
    super(queueUrl, `invalid batchItemFailures response (${reason}); the whole batch returns to the queue`);
  }
}

/** drain() did not see the queue empty before its timeout. */
export class DrainTimeoutError extends PollerError {
  readonly remaining: { visible: number; inFlight: number; delayed: number; inHandler: number };

  constructor(queueUrl: string, timeoutMs: number, remaining: DrainTimeoutError['remaining']) {
    super(
      queueUrl,
      `not drained after ${timeoutMs} ms: ${remaining.visible} visible, ${remaining.inFlight} in flight, ` +
        `${remaining.delayed} delayed, ${remaining.inHandler} in the handler`,
    );
    this.remaining = remaining;
  }
}
