// A private, throw-away redis-server for tests and benches: loopback only, a free port, its own
// temp dir, no persistence (--save '' --appendonly no). stop() is idempotent; an 'exit' hook
// kills the server if the test process ends without calling it.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { killOnExit, spawnDetached, stopChild, waitUntil } from './exec.mjs';
import { which } from './real-tools.mjs';
import { freePort } from './registry.mjs';

export const REDIS_BINS = Object.freeze(['redis-server']);

/**
 * @typedef {object} RedisServer
 * @property {number} port
 * @property {string} url "redis://127.0.0.1:PORT"
 * @property {string} dir
 * @property {() => Promise<void>} stop
 */

/** @returns {Promise<RedisServer>} */
export async function startRedis() {
  const bin = which('redis-server');
  if (!bin) throw new Error('startRedis: redis-server not found (apt-get install redis-server)');
  const dir = await mkdtemp('/tmp/ssredis-');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const logPath = join(dir, 'redis.log');
    const { child, pid, exited, spawnFailed } = await spawnDetached(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], logPath);
    const guard = killOnExit(pid, exited, 'SIGKILL');
    /** @type {Promise<void> | undefined} */
    let stopping;
    const stop = () => {
      stopping ??= (async () => {
        await stopChild(child, exited, guard, 0);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    };
    try {
      await Promise.race([waitUntil(() => pong(port), { timeoutMs: 15_000, intervalMs: 50, what: `redis-server on port ${port} did not answer PING` }), spawnFailed, exited.then(() => {
        throw new Error('redis-server exited during startup');
      })]);
    } catch (cause) {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      if (guard.isRunning()) child.kill('SIGKILL');
      guard.release();
      if (attempt < 3 && /in use/i.test(log)) continue;
      await rm(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start\n${log.slice(-2000)}`, { cause });
    }
    return { port, url: `redis://127.0.0.1:${port}`, dir, stop };
  }
}

/**
 * @param {number} port
 * @returns {Promise<boolean>} whether the server answers PING with PONG
 */
function pong(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      resolve(d.toString().startsWith('+PONG'));
      s.destroy();
    });
    s.on('error', () => resolve(false));
  });
}
