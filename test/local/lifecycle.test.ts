import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { EmulatorStartError, LocalStackStateError } from '#local/errors.ts';
import { startLocalStack } from '#local/stack.ts';
import { liveChildren, liveProcessesInGroup } from '#test/helpers/local-processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('local stack lifecycle', () => {
  it('runs two stacks side by side without sharing anything, and stop() kills every emulator', async () => {
    // Prepare
    const [a, b] = await Promise.all([startLocalStack(), startLocalStack()]);
    try {
      // Act
      await a.clients.doc.send(new PutCommand({ TableName: a.tableNames.users, Item: { userId: 'only-in-a' } }));
      const inB = await b.clients.doc.send(new ScanCommand({ TableName: b.tableNames.users }));

      // Assess
      expect(a.prefix).not.toBe(b.prefix);
      expect(a.endpoints.dynamodb).not.toBe(b.endpoints.dynamodb);
      expect(a.endpoints.sqs).not.toBe(b.endpoints.sqs);
      expect(inB.Count).toBe(0);
      expect(a.processIds).toHaveLength(2);
      for (const id of a.processIds) expect(liveProcessesInGroup(id).length).toBeGreaterThan(0);
      expect(liveChildren(process.pid, 'emulator-host.ts')).toHaveLength(2);
      expect(liveChildren(process.pid, 'sto-orphan-guard')).toHaveLength(2);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    for (const id of [...a.processIds, ...b.processIds]) {
      await expect.poll(() => liveProcessesInGroup(id), { timeout: 5_000 }).toEqual([]);
    }
    await expect(a.reset()).rejects.toBeInstanceOf(LocalStackStateError);
    await a.stop(); // idempotent
  });

  it('takes its emulators down with it when its process is killed with SIGKILL', async () => {
    // Prepare: a process that starts a stack and never stops it
    const probe = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/local-orphan-probe.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(probe.stdout, 'data')) as [Buffer];
    const { processIds } = JSON.parse(String(line)) as { processIds: number[] };
    for (const id of processIds) expect(liveProcessesInGroup(id).length).toBeGreaterThan(0);

    // Act
    probe.kill('SIGKILL');
    await once(probe, 'exit');

    // Assess: JVM and Node emulator host notice their stdin close and exit
    for (const id of processIds) {
      await expect.poll(() => liveProcessesInGroup(id), { timeout: 10_000, interval: 100 }).toEqual([]);
    }
  });

  it('fails with a clear error and leaves no process behind when java is missing', async () => {
    // Act
    const failure = await startLocalStack({ javaCommand: '/nonexistent/bin/java' }).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(EmulatorStartError);
    expect((failure as EmulatorStartError).message).toMatch(/java was not found/);
    expect((failure as EmulatorStartError).emulator).toBe('DynamoDB Local');
    expect(liveChildren(process.pid, 'emulator-host.ts')).toEqual([]);
    expect(liveChildren(process.pid, 'sto-orphan-guard')).toEqual([]);
  });
});
