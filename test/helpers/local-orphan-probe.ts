/**
 * Run as a child process by test/local/lifecycle.test.ts: starts a local stack, prints its process
 * group ids and waits to be killed (SIGKILL, so no exit hook runs).
 */

import { startLocalStack } from '#local/stack.ts';

const stack = await startLocalStack();
process.stdout.write(`${JSON.stringify({ processIds: stack.processIds })}\n`);
setInterval(() => {}, 60_000);
