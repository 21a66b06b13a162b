/**
 * Child processes of the local stack that cannot outlive their parent.
 *
 * Two layers, because one is not enough:
 * - stop() and a process 'exit' hook kill each child's whole process group (SIGKILL: the emulators
 *   keep everything in memory, there is nothing to flush).
 * - If the parent dies without running hooks (SIGKILL, a crashed vitest worker, Ctrl-C with no
 *   handler), the child notices its stdin pipe close and exits: the Node emulator host does this
 *   itself; java is wrapped in a small sh script that kills it on EOF.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

const OUTPUT_LINES = 60;

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** The last lines the process wrote, for error messages. */
  outputTail(): string;
  /** Calls `listener` with each line of stdout (stderr is kept for outputTail only). */
  onLine(listener: (line: string) => void): void;
  /** Kills the process group now; synchronous so it can run in an 'exit' hook. */
  killNow(): void;
  /** Kills the process group and waits until the process has exited. */
  stop(): Promise<void>;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' listeners must be synchronous: killNow only sends a signal
  process.on('exit', () => {
    for (const managed of live) managed.killNow();
  });
}

const usesProcessGroups = process.platform !== 'win32';

// Runs the command in the background and kills it when our stdin (the parent's pipe) closes; exits
// with the command's status when the command ends by itself. `exec 3<&0` keeps the real stdin for the
// watcher: a background list's stdin is /dev/null by default, which would kill the command at once.
const ORPHAN_GUARD = [
  'exec 3<&0',
  '"$@" & child=$!',
  '{ cat <&3 >/dev/null 2>&1; kill -9 "$child" 2>/dev/null; } &',
  'wait "$child"; status=$?',
  'exit "$status"',
].join('\n');

export interface SpawnManagedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Wrap in the sh orphan guard (for programs that do not watch their stdin, e.g. java). */
  guardWithShell?: boolean;
}

/**
 * Spawns a process in its own process group, registered for cleanup at exit.
 * @example const ddb = spawnManaged('DynamoDB Local', 'java', ['-jar', jar], { guardWithShell: true });
 */
export function spawnManaged(
  name: string,
  command: string,
  args: string[],
  options: SpawnManagedOptions = {},
): ManagedProcess {
  installExitHook();
  const wrap = options.guardWithShell === true && usesProcessGroups;
  const child: ChildProcess = wrap
    ? spawn('sh', ['-c', ORPHAN_GUARD, 'sto-orphan-guard', command, ...args], {
        cwd: options.cwd,
        env: options.env,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    : spawn(command, args, {
        cwd: options.cwd,
        env: options.env,
        detached: usesProcessGroups,
        stdio: ['pipe', 'pipe', 'pipe'],
      });

  const lines: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  const remember = (line: string) => {
    lines.push(line);
    if (lines.length > OUTPUT_LINES) lines.shift();
  };
  const split = (stream: NodeJS.ReadableStream | null, notify: boolean) => {
    if (!stream) return;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        remember(line);
        if (notify) for (const listener of listeners) listener(line);
      }
    });
  };
  split(child.stdout, true);
  split(child.stderr, false);
  // a write to a dead child's stdin must not crash the parent
  child.stdin?.on('error', () => {});

  let exitedFlag = false;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      exitedFlag = true;
      live.delete(managed);
      resolve(code ?? signal ?? 'unknown');
    });
    child.on('error', (error) => {
      exitedFlag = true;
      live.delete(managed);
      remember(`spawn error: ${error.message}`);
      resolve((error as NodeJS.ErrnoException).code ?? 'spawn error');
    });
  });

  const killNow = () => {
    if (child.pid === undefined) return;
    try {
      if (usesProcessGroups) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // already gone (ESRCH)
    }
  };

  const managed: ManagedProcess = {
    name,
    pid: child.pid ?? -1,
    exited,
    hasExited: () => exitedFlag,
    outputTail: () => lines.join('\n'),
    onLine: (listener) => {
      listeners.push(listener);
    },
    killNow,
    stop: async () => {
      // the group may hold a leftover process (the guard's `cat`) after the main one exited
      killNow();
      child.stdin?.destroy();
      await exited;
    },
  };
  if (child.pid !== undefined) live.add(managed);
  return managed;
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1, for programs that cannot listen on port 0 and
 * report back (DynamoDB Local). Callers retry on a bind failure: another process may take it first.
 * @example const port = await freePort();
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/**
 * Resolves after `ms` milliseconds of real time. node:timers/promises is not replaced by a test's
 * fake timers (they patch the globals), so waiting on an emulator keeps working under them.
 * @example await sleep(25);
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal ? { signal } : undefined);
}
