// A private, throw-away Podman API service for tests, in the style of dockerd.mjs: Debian's
// podman with vfs storage, every directory (root, runroot, socket, log) in a fresh temp dir, the
// Docker-compatible API on a unix socket there (`podman system service`). Images are loaded
// with the podman CLI against the same storage; nothing is pulled and no container runs.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execCapture, httpStatus, killOnExit, spawnDetached, stopChild, waitUntil } from './exec.mjs';
import { which } from './real-tools.mjs';

/** The binaries startPodman() needs; suites pass this to describeReal(). */
export const PODMAN_BINS = Object.freeze(['root', 'podman']);

const READY_TIMEOUT_MS = 30_000;

/**
 * @typedef {object} Podman
 * @property {string} host DOCKER_HOST value, unix://…/podman.sock
 * @property {string} dir
 * @property {(args: string[]) => Promise<import('./exec.mjs').ExecResult>} podman the CLI on this storage
 * @property {() => Promise<void>} stop idempotent
 */

/** @returns {Promise<Podman>} */
export async function startPodman() {
  const bin = which('podman');
  if (!bin) throw new Error('startPodman: podman not found (apt-get install podman)');
  const dir = await mkdtemp('/tmp/sspm-');
  const storage = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs',
    '--events-backend', 'file', '--cgroup-manager', 'cgroupfs'];
  const socket = join(dir, 'podman.sock');
  const logPath = join(dir, 'service.log');
  const { child, pid, exited, spawnFailed } = await spawnDetached(bin, [...storage, 'system', 'service', '--time=0', `unix://${socket}`], logPath);
  const guard = killOnExit(pid, exited, 'SIGKILL');
  /** @type {Promise<void> | undefined} */
  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      await stopChild(child, exited, guard, 10_000);
      // vfs layers are plain directories owned by root; remove them with the service gone.
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };
  try {
    await Promise.race([
      waitUntil(async () => (await httpStatus({ socketPath: socket, path: '/_ping' })) === 200, { timeoutMs: READY_TIMEOUT_MS, what: `no answer on ${socket}` }),
      exited.then(({ code, signal }) => {
        throw new Error(`podman system service exited during startup (code ${code}, signal ${signal})`);
      }),
      spawnFailed,
    ]);
  } catch (cause) {
    const log = await readFile(logPath, 'utf8').catch(() => '(no log)');
    await stop();
    throw new Error(`podman system service did not become ready\n--- log (tail) ---\n${log.slice(-3000)}`, { cause });
  }
  return {
    host: `unix://${socket}`,
    dir,
    podman: (args) => execCapture(bin, [...storage, ...args], { timeoutMs: 120_000 }),
    stop,
  };
}

