// Types for exec.mjs (the implementation is plain JS so scripts/ can run it without a build).
export interface ExecOptions {
  /** Written to the child's stdin (stdin is /dev/null otherwise). */
  input?: Buffer | string;
  /** Full environment for the child; `undefined` values are dropped. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Values to scrub from the error message. */
  redact?: readonly string[];
  timeoutMs?: number;
}
export interface ExecResult {
  stdout: Buffer;
  stderr: string;
}
export function execCapture(cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
export function redact(text: string, secrets: readonly string[] | undefined): string;
export function shortHash(value: string): string;
export function tail(text: string, max?: number): string;
export function spawnDetached(
  cmd: string,
  args: readonly string[],
  logPath: string,
): Promise<{
  child: import('node:child_process').ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Rejects if the tool could not be started at all. */
  spawnFailed: Promise<never>;
}>;
export function killOnExit(pid: number | undefined, exited: Promise<unknown>, signal: NodeJS.Signals): { isRunning(): boolean; release(): void };
export function waitUntil(probe: () => Promise<boolean>, opts: { timeoutMs: number; intervalMs?: number; what: string }): Promise<void>;
export function httpStatus(options: import('node:http').RequestOptions): Promise<number | undefined>;
