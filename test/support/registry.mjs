// A private, throw-away Docker registry (Debian's docker-registry, distribution 2.8) for tests
// and benches, in the style of dockerd.mjs:
// - everything (config.yml, htpasswd, storage) lives in a fresh /tmp/ssr-XXXXXX dir;
// - it listens on 127.0.0.1 only, on a free port, plain HTTP: every client that talks to it
//   (dockerd 20.10, skopeo with --dest-tls-verify=false, stratascan) treats loopback as insecure;
// - auth 'none' (anonymous pull and push), 'basic' (htpasswd with bcrypt hashes made by
//   bcryptjs, so no Apache tools are needed) or 'token' (distribution's `auth: token`, with a
//   small token issuer in this process: ES256 JWTs carrying an x5c certificate made by openssl);
// - stop() is idempotent; an 'exit' hook kills the registry, and a detached watchdog that holds
//   a pipe from this process kills it and removes the dir if we die without calling stop().
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { createPrivateKey, randomBytes, randomUUID, sign } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import bcrypt from 'bcryptjs';
import { which } from './real-tools.mjs';
import { httpStatus, killOnExit, spawnDetached, stopChild, waitUntil } from './exec.mjs';

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
 * @property {'none' | 'basic' | 'token'} [auth]
 * @property {Record<string, string>} [users] user → password, for auth 'basic' and 'token'
 * @property {Record<string, Record<string, string[]>>} [acl] auth 'token': user (or "" for
 *   anonymous) → repository → actions granted ("pull", "push"); "*" as a repository grants all
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
  /** @type {http.Server | undefined} */
  let tokenServer;
  if (auth === 'token') {
    const issuer = await startTokenIssuer(dir, opts.users ?? {}, opts.acl ?? {});
    tokenServer = issuer.server;
    authYaml = `auth:\n  token:\n    realm: ${issuer.realm}\n    service: ${TOKEN_SERVICE}\n    issuer: ${TOKEN_ISSUER}\n    rootcertbundle: ${issuer.certPath}\n`;
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
        if (watchdog.pid !== undefined) {
          try {
            process.kill(-watchdog.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await stopChild(child, exited, guard, STOP_TIMEOUT_MS);
        if (tokenServer) await new Promise((resolve) => tokenServer.close(() => resolve(undefined)));
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
      tokenServer?.close();
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
function waitReady(port, timeoutMs) {
  return waitUntil(async () => {
    const status = await httpStatus({ host: '127.0.0.1', port, path: '/v2/' });
    if (status === 200 || status === 401) return true;
    throw new Error(`GET /v2/ answered ${status}`);
  }, { timeoutMs, what: `no answer on 127.0.0.1:${port}` });
}

const TOKEN_SERVICE = 'stratascan-test-registry';
const TOKEN_ISSUER = 'stratascan-test-issuer';

/**
 * The token service distribution's `auth: token` delegates to, as Docker Hub and GitLab run one:
 * GET /token?service=…&scope=repository:NAME:pull,push with optional Basic credentials. A wrong
 * password is a 401; otherwise the token grants what the ACL allows of the scope asked for, which
 * may be nothing (the registry then answers 401 insufficient_scope, as real ones do).
 * @param {string} dir
 * @param {Record<string, string>} users
 * @param {Record<string, Record<string, string[]>>} acl
 */
async function startTokenIssuer(dir, users, acl) {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=stratascan-test-token-issuer', '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = Buffer.from((await readFile(certPath, 'utf8')).replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const b64url = (/** @type {Buffer | string} */ b) => Buffer.from(b).toString('base64url');
  /** @param {string | null} user @param {string} scope */
  const granted = (user, scope) => {
    const m = /^repository:([^:]+):(.+)$/.exec(scope);
    if (!m) return [];
    const rules = acl[user ?? ''] ?? {};
    const allowed = rules[m[1]] ?? rules['*'] ?? [];
    const actions = m[2].split(',').filter((a) => allowed.includes(a));
    return [{ type: 'repository', name: m[1], actions }];
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let user = null;
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const name = decoded.slice(0, colon);
      if (colon < 0 || users[name] === undefined || users[name] !== decoded.slice(colon + 1)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      user = name;
    }
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'ES256', typ: 'JWT', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: TOKEN_ISSUER, sub: user ?? '', aud: url.searchParams.get('service') ?? TOKEN_SERVICE,
      exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(),
      access: url.searchParams.getAll('scope').flatMap((scope) => granted(user, scope)),
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${input}.${b64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  });
  const port = await freePort();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(undefined));
  });
  return { server, certPath, realm: `http://127.0.0.1:${port}/token` };
}
