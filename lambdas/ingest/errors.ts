/** Base class of ingest errors. */
export class IngestError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IngestError';
  }
}

/** A user's item kept changing under us (concurrent writers) beyond the retry budget. */
export class UserWriteConflictError extends IngestError {
  constructor(
    readonly userId: string,
    readonly attempts: number,
  ) {
    super(`users item ${userId} changed concurrently on each of ${attempts} attempts; records will be redelivered`);
    this.name = 'UserWriteConflictError';
  }
}
