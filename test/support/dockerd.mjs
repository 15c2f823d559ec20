// A private, throw-away Docker daemon for tests and fixture scripts.
//
// Isolation from the host's Docker, in order of importance:
// - every path dockerd owns (data, exec state, socket, pidfile, log, config) lives in a
//   fresh /tmp/ssd-XXXXXX dir; the socket path must stay under 108 bytes, hence /tmp;
// - it runs in its own mount namespace (`unshare --mount`) with fresh tmpfs on /run and
//   /opt. That hides a host containerd socket (dockerd 20.10 adopts
//   /run/containerd/containerd.sock if it exists, instead of starting its own), keeps
//   /run/docker/plugins and the shims' /run/containerd/s out of the host, stops the
//   supervised containerd from creating /opt/containerd, and makes every mount dockerd
//   makes (it bind-mounts its data-root) vanish with the namespace, even after SIGKILL;
// - --config-file points at our own daemon.json, so the host's /etc/docker/daemon.json is
//   ignored and the legacy trust key is written to our dir, not /etc/docker/key.json;
// - no network: --bridge=none, no iptables, and builds run with --network=none.
//
// Cleanup if the test process dies without calling stop(): an 'exit' hook signals dockerd,
// and a detached watchdog shell, which holds the read end of a pipe from this process,
// wakes up on EOF (that is, on our death, however it happens), stops dockerd and removes
// the temp dir. dockerd starts containerd with a parent-death signal, so killing dockerd
// also ends containerd.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, isAbsolute } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execCapture, httpStatus, killOnExit, redact, spawnDetached, tail, waitUntil } from './exec.mjs';
import { packTar } from './tarball.mjs';
import { which } from './real-tools.mjs';

/** The binaries startDockerd() needs; suites pass this to describeReal(). */
export const DOCKERD_BINS = Object.freeze(['root', 'dockerd', 'containerd', 'runc', 'docker', 'unshare']);

/**
 * API version every daemon since Docker 20.10 speaks; pinning it spares the CLI a version
 * negotiation and keeps a newer CLI (e.g. /usr/local/bin/docker 28) from asking for
 * features the 20.10 daemon lacks.
 */
const DOCKER_API_VERSION = '1.41';

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

/** Applets linked into the imported base image; what Dockerfile RUN steps may use. */
export const BUSYBOX_APPLETS = Object.freeze([
  'sh', 'echo', 'printf', 'cat', 'rm', 'mkdir', 'cp', 'mv', 'ls', 'touch', 'true', 'env',
  'sed', 'tee', 'chmod', 'ln', 'base64',
]);

/**
 * Runs in the new mount namespace, then becomes dockerd (same pid, via exec).
 * /opt may be absent on minimal systems; only /run is essential.
 */
const NAMESPACE_SETUP = [
  'set -e',
  'mount -t tmpfs -o mode=0755,size=64m ssd-run /run',
  'if [ -d /opt ]; then mount -t tmpfs -o mode=0755,size=1m ssd-opt /opt; fi',
  'exec "$@"',
].join('\n');

/**
 * Waits for EOF on stdin, i.e. for the test process to be gone, then stops dockerd and
 * removes the temp dir. stop() kills this watchdog first, so it only acts after a crash.
 * The case guard keeps a corrupted argument from ever turning into `rm -rf /`.
 */
const WATCHDOG = `
cat >/dev/null 2>&1
pid=$1 dir=$2
case "$dir" in /tmp/ssd-?*) ;; *) exit 1 ;; esac
ctd=$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null || true)
kill -TERM "$pid" 2>/dev/null || true
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 40 ]; do sleep 0.5; i=$((i+1)); done
kill -KILL "$pid" 2>/dev/null || true
if [ -n "$ctd" ]; then
  i=0
  while kill -0 "$ctd" 2>/dev/null && [ "$i" -lt 20 ]; do sleep 0.5; i=$((i+1)); done
  kill -KILL "$ctd" 2>/dev/null || true
fi
rm -rf "$dir"
`;

/**
 * @typedef {object} RunOptions
 * @property {Buffer | string} [input] fed to the CLI's stdin (e.g. a tar for `docker import -`)
 * @property {Record<string, string>} [env] extra environment variables for the CLI
 * @property {readonly string[]} [redact] values to scrub from error messages
 */

/**
 * @typedef {object} BuildOptions
 * @property {Record<string, string>} [buildArgs] passed as --build-arg K=V
 * @property {Record<string, string | Buffer>} [files] build-context files by relative path
 * @property {readonly string[]} [redact] values to scrub from error messages (secrets in
 *   build args are scrubbed automatically)
 */

/**
 * @typedef {object} BuildResult
 * @property {string} imageId "sha256:…"
 * @property {string} output the classic builder's step log; may contain secret values
 */

/**
 * @typedef {object} Dockerd
 * @property {string} host DOCKER_HOST value, unix://…
 * @property {string} socketPath
 * @property {string} dir the private temp dir (removed by stop())
 * @property {number} pid dockerd's pid
 * @property {(args: readonly string[], opts?: RunOptions) => Promise<{stdout: Buffer, stderr: string}>} run
 * @property {(tag: string, opts?: {busyboxPath?: string}) => Promise<void>} importBusybox
 * @property {(tag: string, dockerfile: string, opts?: BuildOptions) => Promise<BuildResult>} build
 * @property {(refs: readonly string[], outPath: string) => Promise<void>} save
 * @property {() => Promise<void>} stop idempotent; kills dockerd and containerd, removes dir
 */

/**
 * Start a private dockerd (vfs storage, no networking) and wait until it answers /_ping.
 * @param {{ readyTimeoutMs?: number }} [opts]
 * @returns {Promise<Dockerd>}
 */
export async function startDockerd(opts = {}) {
  if (process.getuid?.() !== 0) throw new Error('startDockerd: dockerd needs root (uid 0)');
  for (const bin of ['dockerd', 'unshare', 'docker']) {
    if (!which(bin)) throw new Error(`startDockerd: ${bin} not found on PATH or in /usr/sbin`);
  }
  const dir = await mkdtemp('/tmp/ssd-');
  try {
    return await launch(dir, opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
  } catch (cause) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    throw new Error(`starting dockerd in ${dir}`, { cause });
  }
}

/**
 * @param {string} dir
 * @param {number} readyTimeoutMs
 * @returns {Promise<Dockerd>}
 */
async function launch(dir, readyTimeoutMs) {
  const socketPath = join(dir, 'docker.sock');
  const logPath = join(dir, 'dockerd.log');
  const configPath = join(dir, 'daemon.json');
  const cliConfigDir = join(dir, 'cli');
  await mkdir(cliConfigDir);
  // deprecated-key-path has no CLI flag in 20.10; without it dockerd writes /etc/docker/key.json.
  await writeFile(configPath, JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }));

  const dockerdArgs = [
    '--config-file', configPath,
    '--storage-driver=vfs',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--bridge=none',
    '--userland-proxy=false',
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'docker.pid'),
    '--host', `unix://${socketPath}`,
  ];
  const { child, pid, exited, spawnFailed } = await spawnDetached(
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'sh', '-c', NAMESPACE_SETUP, 'ssd-ns', 'dockerd', ...dockerdArgs],
    logPath,
  );

  const watchdog = spawn('sh', ['-c', WATCHDOG, 'ssd-watchdog', String(pid), dir], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.unref();
  // An unref'd pipe does not keep the event loop alive, but stays open until we die.
  /** @type {any} */ (watchdog.stdin)?.unref?.();

  const guard = killOnExit(pid, exited, 'SIGTERM');

  /** @type {Promise<void> | undefined} */
  let stopping;
  const stop = () => {
    stopping ??= shutdown({ dir, child, exited, isRunning: guard.isRunning, watchdogPid: watchdog.pid, release: guard.release });
    return stopping;
  };

  try {
    await Promise.race([
      waitUntil(async () => (await httpStatus({ socketPath, path: '/_ping' })) === 200, { timeoutMs: readyTimeoutMs, what: `no answer on ${socketPath}` }),
      exited.then(({ code, signal }) => {
        throw new Error(`dockerd exited during startup (code ${code}, signal ${signal})`);
      }),
      spawnFailed,
    ]);
  } catch (cause) {
    await stop().catch(() => {});
    const log = await readTail(logPath).catch(() => '(no log)');
    throw new Error(`dockerd did not become ready\n--- ${logPath} (tail) ---\n${log}`, { cause });
  }
  return makeClient({ dir, socketPath, cliConfigDir, pid: /** @type {number} */ (pid), stop });
}

/**
 * @param {{ dir: string, socketPath: string, cliConfigDir: string, pid: number, stop: () => Promise<void> }} ctx
 * @returns {Dockerd}
 */
function makeClient({ dir, socketPath, cliConfigDir, pid, stop }) {
  const host = `unix://${socketPath}`;
  let contextCounter = 0;

  /** @type {Dockerd['run']} */
  const run = (args, opts = {}) => {
    /** @type {Record<string, string | undefined>} */
    const env = {
      ...process.env,
      DOCKER_HOST: host,
      DOCKER_API_VERSION,
      // A private CLI config: no user contexts, credential helpers or plugins get involved.
      DOCKER_CONFIG: cliConfigDir,
      DOCKER_CONTEXT: undefined,
      DOCKER_CLI_HINTS: 'false',
      ...opts.env,
    };
    return execCapture('docker', args, { input: opts.input, env, redact: opts.redact });
  };

  /** @type {Dockerd['importBusybox']} */
  const importBusybox = async (tag, opts = {}) => {
    const rootfs = await busyboxRootfs(opts.busyboxPath ?? '/bin/busybox');
    try {
      await run(['import', '-', tag], { input: rootfs });
    } catch (cause) {
      throw new Error(`importing busybox rootfs as ${tag}`, { cause });
    }
  };

  /** @type {Dockerd['build']} */
  const build = async (tag, dockerfile, opts = {}) => {
    const buildArgs = opts.buildArgs ?? {};
    const secrets = [...(opts.redact ?? []), ...Object.values(buildArgs)];
    const ctxDir = join(dir, `ctx-${++contextCounter}`);
    await writeContext(ctxDir, dockerfile, opts.files ?? {});
    const iidFile = join(ctxDir, '.iid');
    const args = [
      'build',
      '--network=none',
      '--rm',
      '--force-rm',
      '--iidfile', iidFile,
      '-t', tag,
      ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
      ctxDir,
    ];
    try {
      // The classic builder records each step as its own history entry (what we test),
      // where BuildKit would squash metadata-only steps differently.
      const { stdout } = await run(args, { env: { DOCKER_BUILDKIT: '0' }, redact: secrets });
      const imageId = (await readFile(iidFile, 'utf8')).trim();
      return { imageId, output: stdout.toString('utf8') };
    } catch (cause) {
      throw new Error(`building ${tag}`, { cause });
    } finally {
      await rm(ctxDir, { recursive: true, force: true });
    }
  };

  /** @type {Dockerd['save']} */
  const save = async (refs, outPath) => {
    try {
      await run(['save', '-o', outPath, ...refs]);
    } catch (cause) {
      throw new Error(`saving ${refs.join(', ')} to ${outPath}`, { cause });
    }
  };

  return { host, socketPath, dir, pid, run, importBusybox, build, save, stop };
}

/**
 * @param {string} ctxDir
 * @param {string} dockerfile
 * @param {Record<string, string | Buffer>} files
 */
async function writeContext(ctxDir, dockerfile, files) {
  await mkdir(ctxDir, { recursive: true });
  await writeFile(join(ctxDir, 'Dockerfile'), dockerfile);
  for (const [rel, content] of Object.entries(files)) {
    const clean = normalize(rel);
    if (isAbsolute(clean) || clean.startsWith('..') || clean === 'Dockerfile') {
      throw new Error(`build context file ${JSON.stringify(rel)} must be a relative path inside the context`);
    }
    const dest = join(ctxDir, clean);
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, content);
  }
}

/**
 * A minimal rootfs: a static busybox, symlinks for the applets RUN steps use, and the usual
 * top-level dirs (the leaky fixture writes to /root and /opt).
 * @param {string} busyboxPath
 * @returns {Promise<Buffer>}
 */
async function busyboxRootfs(busyboxPath) {
  const binary = await readFile(busyboxPath).catch((cause) => {
    throw new Error(`reading ${busyboxPath} (apt-get install busybox-static)`, { cause });
  });
  if (needsDynamicLoader(binary)) {
    throw new Error(
      `${busyboxPath} is dynamically linked; an image without libc needs busybox-static (apt-get install busybox-static)`,
    );
  }
  /** @type {import('./tarball.mjs').TarEntrySpec[]} */
  const entries = [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: binary },
    ...BUSYBOX_APPLETS.map((a) => /** @type {const} */ ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'directory' },
    { name: 'opt/', type: 'directory' },
    { name: 'root/', type: 'directory', mode: 0o700 },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
  ];
  return packTar(entries);
}

/**
 * True if the ELF file has a PT_INTERP program header, i.e. needs ld.so (and so a libc).
 * @param {Buffer} elf
 * @returns {boolean}
 */
export function needsDynamicLoader(elf) {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const is64 = elf[4] === 2;
  const le = elf[5] === 1;
  const u16 = (/** @type {number} */ o) => (le ? elf.readUInt16LE(o) : elf.readUInt16BE(o));
  const u32 = (/** @type {number} */ o) => (le ? elf.readUInt32LE(o) : elf.readUInt32BE(o));
  const phoff = is64 ? Number(le ? elf.readBigUInt64LE(32) : elf.readBigUInt64BE(32)) : u32(28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) {
    if (u32(phoff + i * phentsize) === PT_INTERP) return true;
  }
  return false;
}


/**
 * @param {{
 *   dir: string,
 *   child: import('node:child_process').ChildProcess,
 *   exited: Promise<unknown>,
 *   isRunning: () => boolean,
 *   watchdogPid: number | undefined,
 *   release: () => void,
 * }} s
 */
async function shutdown({ dir, child, exited, isRunning, watchdogPid, release }) {
  release();
  // Watchdog first: once we stop dockerd ourselves its pid may be reused.
  if (watchdogPid !== undefined) signalGroup(watchdogPid, 'SIGKILL');
  const containerdPid = readPid(join(dir, 'exec', 'containerd', 'containerd.pid'));
  if (isRunning()) {
    child.kill('SIGTERM');
    if (!(await within(exited, STOP_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await exited;
    }
  }
  if (containerdPid !== undefined) await waitForPidGone(containerdPid, 10_000);
  // The mount namespace died with dockerd; this only matters if someone ran dockerd
  // outside it (e.g. unshare replaced by a wrapper that did not unshare).
  await unmountUnder(dir);
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (cause) {
    throw new Error(`removing dockerd temp dir ${dir}`, { cause });
  }
}

/**
 * @param {number} pgid
 * @param {NodeJS.Signals} signal
 */
function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/**
 * @param {string} path
 * @returns {number | undefined}
 */
function readPid(path) {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * @param {number} pid
 * @returns {boolean}
 */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * containerd is dockerd's child and gets a parent-death signal, but it may take a moment.
 * @param {number} pid
 * @param {number} timeoutMs
 */
async function waitForPidGone(pid, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // raced with its exit
    }
  }
}

/**
 * @param {Promise<unknown>} p
 * @param {number} ms
 * @returns {Promise<boolean>} whether p settled in time
 */
async function within(p, ms) {
  const ac = new AbortController();
  const timer = sleep(ms, false, { signal: ac.signal }).catch(() => false);
  const settled = await Promise.race([p.then(() => true), timer]);
  ac.abort();
  return settled;
}

/**
 * Lazily unmount anything still mounted below dir, deepest first.
 * @param {string} dir
 */
async function unmountUnder(dir) {
  let mountinfo;
  try {
    mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p) => p !== undefined)
    // mountinfo escapes space, tab, newline and backslash as octal
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    await execCapture('umount', ['-l', p]).catch(() => {});
  }
}

/**
 * @param {string} path
 * @returns {Promise<string>} the last ~40 lines
 */
async function readTail(path) {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 8192);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return tail(buf.toString('utf8').split('\n').slice(-40).join('\n'));
  } finally {
    await fh.close();
  }
}

// Re-exported for callers that build their own error messages around docker output.
export { redact };
