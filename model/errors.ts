/** Base class of every model error; subclasses carry what a reader needs to find the cause. */
export class ModelError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelError';
  }
}

/** A decision input the policy cannot reason about (not a guardrail refusal: those are `no_arm` results). */
export class InvalidDecideInputError extends ModelError {
  constructor(
    readonly userId: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`Decision input for user ${userId} is invalid: ${field} ${reason}`);
    this.name = 'InvalidDecideInputError';
  }
}

/** The learner broke its contract (a masked arm, a wrong number of choices, a propensity outside (0, 1]). */
export class BanditContractError extends ModelError {
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'BanditContractError';
  }
}

/** Serialized policy state that this code cannot serve (other feature layout or format). */
export class IncompatibleModelStateError extends ModelError {
  constructor(
    readonly expected: Record<string, unknown>,
    readonly found: Record<string, unknown>,
  ) {
    super(`Model state is incompatible: expected ${JSON.stringify(expected)}, found ${JSON.stringify(found)}`);
    this.name = 'IncompatibleModelStateError';
  }
}
