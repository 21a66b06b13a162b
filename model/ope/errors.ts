/**
 * Errors of off-policy evaluation. Every one extends `OffPolicyEvaluationError`, itself a
 * `ModelError`, so a caller can catch the whole family or one precise cause.
 */
import { ModelError } from '#model/errors.ts';

/** Base class of every off-policy evaluation error. */
export class OffPolicyEvaluationError extends ModelError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OffPolicyEvaluationError';
  }
}

/**
 * Logged feedback that no estimator can use: a wrong length, a propensity outside (0, 1],
 * a distribution that does not sum to 1. Names the field and, when one row is at fault, the row.
 */
export class InvalidFeedbackError extends OffPolicyEvaluationError {
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly row?: number,
  ) {
    super(`Invalid logged feedback: ${field}${row === undefined ? '' : ` at row ${row}`} ${reason}`);
    this.name = 'InvalidFeedbackError';
  }
}

/** An option (resample count, interval level, fold count, penalty) outside its domain. */
export class InvalidEvaluationOptionError extends OffPolicyEvaluationError {
  constructor(
    readonly option: string,
    readonly reason: string,
  ) {
    super(`Invalid off-policy evaluation option: ${option} ${reason}`);
    this.name = 'InvalidEvaluationOptionError';
  }
}

/**
 * Two policies compared on logs that are not the same rows, or with an estimator one of them
 * cannot support (DR without a reward model): a paired difference would mean nothing.
 */
export class IncomparablePoliciesError extends OffPolicyEvaluationError {
  constructor(
    readonly reason: string,
    readonly row?: number,
  ) {
    super(`Candidate and baseline cannot be compared: ${reason}${row === undefined ? '' : ` (row ${row})`}`);
    this.name = 'IncomparablePoliciesError';
  }
}

/** An Open Bandit Dataset file that does not have the documented layout. */
export class OpenBanditDataError extends OffPolicyEvaluationError {
  constructor(
    readonly source: string,
    readonly reason: string,
    readonly line?: number,
    options?: ErrorOptions,
  ) {
    super(`Open Bandit Dataset ${source}${line === undefined ? '' : `, line ${line}`}: ${reason}`, options);
    this.name = 'OpenBanditDataError';
  }
}
