/** Base class of learner errors. */
export class LearnerError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LearnerError';
  }
}

/** Other learners kept writing the next model version first, beyond the retry budget. */
export class ModelVersionConflictError extends LearnerError {
  constructor(
    readonly modelId: string,
    readonly attempts: number,
  ) {
    super(`model ${modelId}: the next version was taken by another learner on each of ${attempts} attempts`);
    this.name = 'ModelVersionConflictError';
  }
}

/** A model version would not fit in one DynamoDB item. */
export class ModelItemTooLargeError extends LearnerError {
  constructor(
    readonly modelId: string,
    readonly stateBytes: number,
    readonly budgetBytes: number,
  ) {
    super(`model ${modelId}: state of ${stateBytes} bytes leaves no room under the ${budgetBytes}-byte item budget`);
    this.name = 'ModelItemTooLargeError';
  }
}
