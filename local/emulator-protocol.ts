/** The one-line handshake between local/stack.ts and its emulator child process (local/emulator-host.ts). */

export const READY_MARK = '@@sto-emulators ';
export const ERROR_MARK = '@@sto-emulators-error ';

export interface EmulatorHostReady {
  sqsPort: number;
  sesPort: number;
  /** true when queue URLs are http://127.0.0.1:<port>/... rather than fauxqs's http://sqs.<region>.localhost:<port>/... */
  reachableQueueUrls: boolean;
}
