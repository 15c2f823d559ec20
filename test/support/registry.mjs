// A private, throw-away Docker registry (Debian's docker-registry, distribution 2.8) for tests
// and benches, in the style of dockerd.mjs:
// - everything (config.yml, htpasswd, storage) lives in a fresh /tmp/ssr-XXXXXX dir;
// - it listens on 127.0.0.1 only, on a free port, plain HTTP: every client that talks to it
//   (dockerd 20.10, skopeo with --dest-tls-verify=false, stratascan) treats loopback as insecure;
// - auth 'none' (anonymous pull and push) or 'basic' (htpasswd with bcrypt hashes made by
//   bcryptjs, so no Apache tools are needed);
// - stop() is idempotent; an 'exit' hook kills the registry, and a detached watchdog that holds
//   a pipe from this process kills it and removes the dir if we die without calling stop().
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { which } from './real-tools.mjs';
import { killOnExit, spawnDetached } from './exec.mjs';

/** The binaries startRegistry() needs; suites pass this to describeReal(). */
export const REGISTRY_BINS = Object.freeze(['docker-registry']);

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

const WATCHDOG = `
cat >/dev/null 2>&1
pid=$1 dir=$2
case "$dir" in /tmp/ssr-?*) ;; *) exit 1 ;; esac
kill -TERM "$pid" 2>/dev/null || true
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 20 ]; do sleep 0.5; i=$((i+1)); done
kill -KILL "$pid" 2>/dev/null || true
rm -rf "$dir"
`;

/**
 * @typedef {object} RegistryOptions
 * @property {'none' | 'basic'} [auth]
 * @property {Record<string, string>} [users] user → password, for auth 'basic'
 */

/**
 * @typedef {object} Registry
 * @property {string} host "127.0.0.1:PORT"
 * @property {number} port
 * @property {string} url "http://127.0.0.1:PORT"
 * @property {string} dir the private temp dir (removed by stop())
 * @property {string} storageDir the filesystem driver's root directory
 * @property {number} pid
 * @property {(digest: string) => string} blobPath path of a blob's data file in storageDir
 * @property {() => Promise<void>} stop idempotent; kills the registry, removes dir
 */

/**
 * @param {RegistryOptions} [opts]
 * @returns {Promise<Registry>}
 */
export async function startRegistry(opts = {}) {
  const bin = which('docker-registry');
  if (!bin) throw new Error('startRegistry: docker-registry not found (apt-get install docker-registry)');
  const dir = await mkdtemp('/tmp/ssr-');
  try {
    return await launch(bin, dir, opts);
  } catch (cause) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw new Error(`starting docker-registry in ${dir}`, { cause });
  }
}

/** @returns {Promise<number>} a port that was free on 127.0.0.1 a moment ago */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * @param {string} bin
 * @param {string} dir
 * @param {RegistryOptions} opts
 * @returns {Promise<Registry>}
 */
async function launch(bin, dir, opts) {
  const storageDir = join(dir, 'data');
  await mkdir(storageDir);
  const logPath = join(dir, 'registry.log');
  const auth = opts.auth ?? 'none';
  let authYaml = '';
  if (auth === 'basic') {
    const users = opts.users ?? {};
    if (Object.keys(users).length === 0) throw new Error('auth basic needs users');
    const lines = Object.entries(users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 8)}`);
    await writeFile(join(dir, 'htpasswd'), `${lines.join('\n')}\n`, { mode: 0o600 });
    authYaml = `auth:\n  htpasswd:\n    realm: stratascan-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }

  // A port can be taken between freePort() and the registry's bind: retry a few times.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomBytes(16).toString('hex')}`,
      authYaml.trimEnd(),
      '',
    ].filter((l) => l !== '').join('\n');
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, `${config}\n`);
    const { child, pid, exited, spawnFailed } = await spawnDetached(bin, ['serve', configPath], logPath);

    const watchdog = spawn('sh', ['-c', WATCHDOG, 'ssr-watchdog', String(pid), dir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    watchdog.unref();
    /** @type {any} */ (watchdog.stdin)?.unref?.();

    const guard = killOnExit(pid, exited, 'SIGKILL');

    /** @type {Promise<void> | undefined} */
    let stopping;
    const stop = () => {
      stopping ??= (async () => {
        guard.release();
        if (watchdog.pid !== undefined) {
          try {
            process.kill(-watchdog.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        if (guard.isRunning()) {
          child.kill('SIGTERM');
          const done = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
          if (!done) {
            child.kill('SIGKILL');
            await exited;
          }
        }
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      })();
      return stopping;
    };

    try {
      await Promise.race([
        waitReady(port, READY_TIMEOUT_MS),
        exited.then(({ code, signal }) => {
          throw new Error(`docker-registry exited during startup (code ${code}, signal ${signal})`);
        }),
        spawnFailed,
      ]);
    } catch (cause) {
      const log = await readFile(logPath, 'utf8').catch(() => '(no log)');
      if (guard.isRunning()) {
        child.kill('SIGKILL');
        await exited;
      }
      guard.release();
      if (watchdog.pid !== undefined) {
        try {
          process.kill(-watchdog.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (attempt < 3 && /address already in use/.test(log)) continue;
      throw new Error(`docker-registry did not become ready\n--- ${logPath} (tail) ---\n${log.slice(-3000)}`, { cause });
    }
    const host = `127.0.0.1:${port}`;
    return {
      host,
      port,
      url: `http://${host}`,
      dir,
      storageDir,
      pid: /** @type {number} */ (pid),
      blobPath: (digest) => {
        const hex = digest.replace(/^sha256:/, '');
        return join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
      },
      stop,
    };
  }
}

/**
 * Ready when GET /v2/ answers 200 (anonymous) or 401 (auth configured).
 * @param {number} port
 * @param {number} timeoutMs
 */
async function waitReady(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  /** @type {unknown} */
  let last;
  while (Date.now() < deadline) {
    try {
      const status = await new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/v2/', timeout: 2000 }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
      });
      if (status === 200 || status === 401) return;
      last = new Error(`GET /v2/ answered ${status}`);
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`no answer on 127.0.0.1:${port} within ${timeoutMs} ms`, { cause: last });
}
