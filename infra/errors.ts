/** Base class of every error thrown by the resource definitions. */
export class InfraError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A table or queue definition breaks a rule AWS (or this project) enforces, e.g. a queue whose
 * visibility timeout would be shorter than six times its consumer's timeout.
 */
export class ResourceDefinitionError extends InfraError {
  /** Where in the definition, e.g. `queues.events.consumer.batchSize`. */
  readonly path: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`${path}: ${reason}`, options);
    this.path = path;
  }
}
