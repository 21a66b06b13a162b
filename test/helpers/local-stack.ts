/**
 * One local stack per integration test file: started in beforeAll, stopped in afterAll (even when
 * tests fail; a process 'exit' hook and the emulators' stdin watchdog cover a crashed worker).
 *
 * Per file rather than a vitest globalSetup: a stack starts in about 2 s, files run in parallel
 * forks, and separate stacks share nothing (own ports, prefix, SES inbox), so no test can see
 * another file's messages or emails. No vitest.config.ts change is needed.
 */

import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '#local/stack.ts';

export interface UseLocalStackOptions extends LocalStackOptions {
  /** Empty every table, queue and the SES inbox before each test (about 0.1 s). Default false. */
  resetBeforeEach?: boolean;
}

/**
 * Registers the hooks and returns a getter for the started stack (call it inside tests or hooks).
 * @example
 * const stack = useLocalStack({ resetBeforeEach: true });
 * it('stores a user', async () => {
 *   await stack().clients.doc.send(new PutCommand({ TableName: stack().tableNames.users, Item: { userId: 'u1' } }));
 * });
 */
export function useLocalStack(options: UseLocalStackOptions = {}): () => LocalStack {
  const { resetBeforeEach = false, ...stackOptions } = options;
  let stack: LocalStack | undefined;
  beforeAll(async () => {
    stack = await startLocalStack(stackOptions);
  });
  afterAll(async () => {
    await stack?.stop();
  });
  if (resetBeforeEach) {
    beforeEach(async () => {
      await stack?.reset();
    });
  }
  return () => {
    if (!stack) throw new Error('the local stack is not started: call the getter inside a test or hook');
    return stack;
  };
}
