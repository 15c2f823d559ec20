// Child-process helpers shared by the real-tools harness (dockerd, skopeo).
// Plain ESM + JSDoc so that both the vitest suites (.ts) and the Node
// scripts under scripts/ can import the one implementation without a build.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** Default bound for one external command; builds on vfs are slow but not this slow. */
const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;

/** How much of a failing command's output we keep in the error message. */
const TAIL_CHARS = 4000;

/**
 * Replace every occurrence of each secret in `text` by a stable, non-reversible tag,
 * so that error messages and logs can be shown without leaking (fake) secret values.
 * @param {string} text
 * @param {readonly string[] | undefined} secrets
 * @returns {string}
 */
export function redact(text, secrets) {
  let out = text;
  for (const secret of secrets ?? []) {
    // Very short strings would shred ordinary output and are not secrets anyway.
    if (typeof secret !== 'string' || secret.length < 6) continue;
    out = out.split(secret).join(`[redacted ${shortHash(secret)}]`);
  }
  return out;
}

/**
 * @param {string} value
 * @returns {string} "sha256:" + the first 12 hex digits of sha256(UTF-8 value)
 */
export function shortHash(value) {
  return `sha256:${createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 12)}`;
}

/**
 * @param {string} text
 * @param {number} [max]
 * @returns {string}
 */
export function tail(text, max = TAIL_CHARS) {
  return text.length <= max ? text : `…${text.slice(-max)}`;
}

/**
 * @typedef {object} ExecOptions
 * @property {Buffer | string} [input] written to the child's stdin (stdin is /dev/null otherwise)
 * @property {Record<string, string | undefined>} [env] full environment for the child
 * @property {string} [cwd]
 * @property {readonly string[]} [redact] values to scrub from the error message
 * @property {number} [timeoutMs]
 */

/**
 * @typedef {object} ExecResult
 * @property {Buffer} stdout
 * @property {string} stderr
 */

/**
 * Run a command to completion, capturing stdout (as bytes: `docker save` without -o
 * or `docker export` produce binary) and stderr. Rejects on a non-zero exit, a signal,
 * a spawn failure or the timeout, with the command line, exit status and output tails
 * (all redacted) in the message.
 * @param {string} cmd
 * @param {readonly string[]} args
 * @param {ExecOptions} [opts]
 * @returns {Promise<ExecResult>}
 */
export function execCapture(cmd, args, opts = {}) {
  const secrets = opts.redact;
  const shown = redact([cmd, ...args].map(quoteArg).join(' '), secrets);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    /** @type {Buffer[]} */
    const out = [];
    /** @type {Buffer[]} */
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout?.on('data', (c) => out.push(c));
    child.stderr?.on('data', (c) => err.push(c));
    child.on('error', (cause) => {
      clearTimeout(timer);
      reject(new Error(`could not run: ${shown}`, { cause }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const why = timedOut
        ? `timed out after ${timeoutMs} ms`
        : signal
          ? `was killed by ${signal}`
          : `exited with code ${code}`;
      const outText = stdout.toString('utf8');
      reject(
        new Error(
          redact(
            `${shown}\n${why}` +
              `\n--- stderr (tail) ---\n${tail(stderr)}` +
              (outText.trim() ? `\n--- stdout (tail) ---\n${tail(outText)}` : ''),
            secrets,
          ),
        ),
      );
    });
    if (opts.input !== undefined && child.stdin) {
      // EPIPE here means the child died early; its exit status tells the real story.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
  });
}

/**
 * @param {string} arg
 * @returns {string}
 */
function quoteArg(arg) {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * Kills a long-lived child (dockerd, registry) if the test process exits while it still runs, so a
 * crashed run leaves no daemon behind. `release()` drops the hook once the caller stops it itself.
 * @param {number | undefined} pid
 * @param {Promise<unknown>} exited resolves when the child has exited
 * @param {NodeJS.Signals} signal
 */
export function killOnExit(pid, exited, signal) {
  let running = true;
  exited.then(() => {
    running = false;
  });
  const onExit = () => {
    if (!running || pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  };
  process.on('exit', onExit);
  return { isRunning: () => running, release: () => process.off('exit', onExit) };
}

/**
 * Stops a child started by `spawnDetached` and guarded by `killOnExit`: SIGTERM, then SIGKILL if
 * it has not exited within `graceMs` (0: SIGKILL at once).
 * @param {import('node:child_process').ChildProcess} child
 * @param {Promise<unknown>} exited
 * @param {{ isRunning: () => boolean, release: () => void }} guard
 * @param {number} graceMs
 */
export async function stopChild(child, exited, guard, graceMs) {
  guard.release();
  if (!guard.isRunning()) return;
  if (graceMs > 0) {
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), graceMs))]);
    if (done) return;
  }
  child.kill('SIGKILL');
  await exited;
}

/**
 * Starts a long-running tool (dockerd, the registry) in its own process group, so a Ctrl-C aimed
 * at the test runner cannot race our own shutdown, with its output appended to `logPath`.
 * @param {string} cmd
 * @param {readonly string[]} args
 * @param {string} logPath
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, pid: number, exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>, spawnFailed: Promise<never> }>}
 *   `spawnFailed` rejects if the tool could not be started at all: race it against readiness.
 */
export async function spawnDetached(cmd, args, logPath) {
  const logFd = openSync(logPath, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  /** @type {Promise<{code: number | null, signal: NodeJS.Signals | null}>} */
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  /** @type {Promise<never>} */
  const spawnFailed = new Promise((_, reject) => child.once('error', reject));
  spawnFailed.catch(() => {});
  child.unref();
  if (child.pid === undefined) await spawnFailed;
  return { child, pid: /** @type {number} */ (child.pid), exited, spawnFailed };
}

/**
 * Resolves once `probe` resolves true, asking every `intervalMs`. Rejects after `timeoutMs` with
 * "`what` within N ms", its cause the last error the probe threw (ECONNREFUSED until a service
 * listens): how every throw-away service here waits for its daemon to be ready.
 * @param {() => Promise<boolean>} probe
 * @param {{ timeoutMs: number; intervalMs?: number; what: string }} opts
 * @returns {Promise<void>}
 */
export async function waitUntil(probe, { timeoutMs, intervalMs = 100, what }) {
  const deadline = Date.now() + timeoutMs;
  /** @type {unknown} */
  let last;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${what} within ${timeoutMs} ms`, { cause: last });
}

/**
 * The status of one GET (a unix socket with `socketPath`, else `host` and `port`), bounded to 2 s.
 * @param {import('node:http').RequestOptions} options
 * @returns {Promise<number | undefined>}
 */
export function httpStatus(options) {
  return new Promise((resolve, reject) => {
    const req = http.get({ timeout: 2000, ...options }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}
