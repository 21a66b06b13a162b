/** Process inspection for tests of the local stack's lifecycle (Linux /proc; kill(0) elsewhere). */

import { existsSync, readdirSync, readFileSync } from 'node:fs';

/**
 * Pids of the live (not zombie) processes in a process group.
 * @example expect(liveProcessesInGroup(stack.processIds[0])).toEqual([]);
 */
export function liveProcessesInGroup(groupId: number): number[] {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(-groupId, 0);
      return [groupId];
    } catch {
      return [];
    }
  }
  const live: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // pid (comm) state ppid pgrp ...; comm may contain spaces, so split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [state, , pgrp] = fields;
    if (Number(pgrp) === groupId && state !== 'Z' && state !== 'X') live.push(Number(entry));
  }
  return live;
}

/**
 * Pids of the live direct children of a process whose command line contains `marker`.
 * @example expect(liveChildren(process.pid, 'emulator-host.ts')).toEqual([]);
 */
export function liveChildren(parentId: number, marker: string): number[] {
  if (!existsSync('/proc/self/stat')) return [];
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== parentId || state === 'Z') continue;
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (commandLine.includes(marker)) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}
