/**
 * Errors of the contextual-bandit learners. All extend BanditError (itself a ModelError), so a caller can
 * catch the whole family; each subclass carries the field or decision a reader needs to find the cause.
 */
import { ModelError } from '#model/errors.ts';

/** Base class of every learner error. */
export class BanditError extends ModelError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BanditError';
  }
}

/** An ArmBatch or an update whose shape or content the learner cannot use (wrong dimension, length, value). */
export class InvalidBanditInputError extends BanditError {
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(`Invalid bandit input: ${field} ${reason}`);
    this.name = 'InvalidBanditInputError';
  }
}

/** A decision of the batch has every arm masked: the caller must not ask the bandit to choose among none. */
export class NoAllowedArmError extends BanditError {
  constructor(readonly decision: number) {
    super(
      `Decision ${decision} of the batch has no allowed arm; leave decisions without an allowed arm out of the batch`,
    );
    this.name = 'NoAllowedArmError';
  }
}

/** Serialized state that is not a bandit state this code can load (format, version, shapes, values). */
export class InvalidBanditStateError extends BanditError {
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`Invalid serialized bandit state at ${path}: ${reason}`, options);
    this.name = 'InvalidBanditStateError';
  }
}

/** The bandit was used after dispose(). */
export class DisposedBanditError extends BanditError {
  constructor(readonly algorithm: string) {
    super(`The ${algorithm} bandit was disposed; create or load a new one`);
    this.name = 'DisposedBanditError';
  }
}

/** No TensorFlow.js backend could be initialised. */
export class TensorBackendError extends BanditError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TensorBackendError';
  }
}
