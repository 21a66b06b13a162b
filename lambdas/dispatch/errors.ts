/** Base class of dispatch errors. */
export class DispatchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DispatchError';
  }
}

/** A dispatch message body that is not `{"decisionId": "..."}`: poison, redelivery cannot help. */
export class InvalidDispatchMessageError extends DispatchError {
  constructor(
    readonly messageId: string,
    readonly reason: string,
  ) {
    super(`dispatch message ${messageId} is invalid: ${reason}`);
    this.name = 'InvalidDispatchMessageError';
  }
}

/** A decision item dispatch cannot send from (a field missing or of the wrong shape). Never names content. */
export class InvalidDecisionForDispatchError extends DispatchError {
  constructor(
    readonly decisionId: string,
    readonly field: string,
    reason: string,
  ) {
    super(`decision ${decisionId}: ${field} ${reason}`);
    this.name = 'InvalidDecisionForDispatchError';
  }
}

/** The users item kept changing under the suppression write beyond the retry budget. */
export class SuppressionConflictError extends DispatchError {
  constructor(
    readonly userId: string,
    readonly attempts: number,
  ) {
    super(`users item ${userId} changed concurrently on each of ${attempts} suppression attempts`);
    this.name = 'SuppressionConflictError';
  }
}

/**
 * What the local stack cannot do: fauxqs refuses SNS publishes to phone numbers and platform endpoints,
 * so the local push / SMS sink refuses to pretend it delivered anything else.
 */
export class LocalSinkError extends DispatchError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LocalSinkError';
  }
}
