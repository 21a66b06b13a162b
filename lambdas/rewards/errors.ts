/** Base class of reward attribution and window-closing errors. */
export class RewardError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RewardError';
  }
}

/** A decision item kept changing under the attribution write beyond the retry budget. */
export class AttributionConflictError extends RewardError {
  constructor(
    readonly decisionId: string,
    readonly attempts: number,
  ) {
    super(`decision ${decisionId} changed concurrently on each of ${attempts} attribution attempts`);
    this.name = 'AttributionConflictError';
  }
}

/** A closed decision whose stored feature row cannot be sent to the learner. */
export class InvalidDecisionItemError extends RewardError {
  constructor(
    readonly decisionId: string,
    readonly field: string,
    reason: string,
  ) {
    super(`decision ${decisionId}: ${field} ${reason}`);
    this.name = 'InvalidDecisionItemError';
  }
}
