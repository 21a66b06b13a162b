/** Base class of every event-contract error. */
export class EventContractError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EventContractError';
  }
}

/** Which top-level contract a body was read against. */
export type ContractName = 'ingest-event' | 'notification-request';

/**
 * Why a message was refused. Every reason is permanent: redelivering the same body cannot help, so
 * the record belongs on the dead-letter queue.
 */
export type InvalidMessageReason =
  | 'oversize'
  | 'malformed_json'
  | 'not_an_object'
  | 'unsupported_version'
  | 'unknown_type'
  | 'invalid_fields';

/** One field that failed validation: where (a path such as `content.email.subject`) and why. */
export interface FieldIssue {
  path: string;
  /** zod issue code, or `unknown_field` for a field the schema does not have */
  code: string;
  reason: string;
}

export interface InvalidMessageDetails {
  contract: ContractName;
  /** the message's `type` when it had a readable one (truncated, contact data redacted) */
  messageType?: string;
  /** the field problems, for `invalid_fields` (and the missing `type` or `schemaVersion`) */
  issues?: FieldIssue[];
  /** body size in UTF-8 bytes, for `oversize` */
  bytes?: number;
  /** size limit in bytes, for `oversize` */
  limitBytes?: number;
}

/**
 * A message body that does not satisfy the contract. The message names field paths and reasons and
 * never a field's value, so it is safe to log and to put in a DLQ reason; `reason` is the code to
 * branch or count on.
 */
export class InvalidMessageError extends EventContractError {
  readonly reason: InvalidMessageReason;
  readonly contract: ContractName;
  readonly messageType?: string;
  readonly issues: readonly FieldIssue[];
  readonly bytes?: number;
  readonly limitBytes?: number;

  constructor(reason: InvalidMessageReason, message: string, details: InvalidMessageDetails, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidMessageError';
    this.reason = reason;
    this.contract = details.contract;
    this.messageType = details.messageType;
    this.issues = details.issues ?? [];
    this.bytes = details.bytes;
    this.limitBytes = details.limitBytes;
  }

  /** The fields a log line needs; everything here is free of contact data. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      reason: this.reason,
      contract: this.contract,
      message: this.message,
      ...(this.messageType === undefined ? {} : { messageType: this.messageType }),
      ...(this.issues.length ? { issues: this.issues } : {}),
      ...(this.bytes === undefined ? {} : { bytes: this.bytes, limitBytes: this.limitBytes }),
    };
  }
}
