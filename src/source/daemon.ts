import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { DetectionPool } from '../detect/pool.js';
import { ScanError } from '../errors.js';
import { StreamedImage } from './stream.js';
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from '../layer/nested.js';

/**
 * Images in a local Docker daemon, or any daemon speaking the Docker Engine API (Podman's
 * compatible socket). `GET /images/{name}/get` answers with a `docker save` tarball, which is
 * streamed straight into StreamedImage.ingest: layers are scanned as they pass, nothing is
 * written to disk.
 *
 * Which daemon: DOCKER_HOST (unix://PATH, tcp://HOST:PORT, with DOCKER_TLS_VERIFY and
 * DOCKER_CERT_PATH for TLS) as the docker CLI reads it; without it the first socket that exists
 * of /var/run/docker.sock, ~/.docker/run/docker.sock, $XDG_RUNTIME_DIR/docker.sock (rootless
 * Docker), $XDG_RUNTIME_DIR/podman/podman.sock and /run/podman/podman.sock.
 */

export type DaemonProbe =
  | { state: 'present'; where: string }
  | { state: 'absent'; where: string }
  | { state: 'unreachable'; where: string; error: ScanError };

interface Connection {
  docker: Dockerode;
  where: string;
}

export function defaultSocket(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME || homedir();
  const runtime = env.XDG_RUNTIME_DIR;
  const candidates = [
    '/var/run/docker.sock',
    join(home, '.docker', 'run', 'docker.sock'),
    ...(runtime ? [join(runtime, 'docker.sock'), join(runtime, 'podman', 'podman.sock')] : []),
    '/run/podman/podman.sock',
  ];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

async function connect(env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
  // dockerode pulls in gRPC and friends: load it only when a daemon is actually wanted.
  const { default: Docker } = await import('dockerode');
  const host = env.DOCKER_HOST;
  if (host) {
    try {
      if (host.startsWith('unix://')) return { docker: new Docker({ socketPath: host.slice(7) || defaultSocket(env) }), where: host };
      // tcp://, http(s)://, ssh://: dockerode reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH itself.
      return { docker: new Docker(), where: host };
    } catch (cause) {
      throw new ScanError(`DOCKER_HOST=${host} is not a daemon address docker understands (unix:///path or tcp://host:port)`, { cause });
    }
  }
  const socketPath = defaultSocket(env);
  return { docker: new Docker({ socketPath }), where: `unix://${socketPath}` };
}

/** One line for a failed daemon call: not running, no permission, no such image, or the daemon's own words. */
export function daemonError(err: unknown, where: string, name: string): ScanError {
  const e = err as { code?: string; statusCode?: number; json?: { message?: string } | null; message?: string } | undefined;
  const code = e?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT') {
    return new ScanError(`cannot connect to the Docker daemon at ${where}: is it running? (set DOCKER_HOST to use another daemon, e.g. Podman's socket)`);
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new ScanError(`permission denied on the Docker daemon socket at ${where}: add your user to the docker group, run as root, or set DOCKER_HOST`);
  }
  if (e?.statusCode === 404) return new ScanError(`the Docker daemon at ${where} has no image ${name}`);
  const said = (typeof e?.json?.message === 'string' && e.json.message) || e?.message || String(err);
  return new ScanError(`the Docker daemon at ${where} failed for ${name}: ${said.trim().slice(0, 300)}`);
}

/** Is `name` in the daemon? Tells a missing image from a daemon that cannot be reached. */
export async function probeDaemon(name: string, env: NodeJS.ProcessEnv = process.env): Promise<DaemonProbe> {
  let conn: Connection;
  try {
    conn = await connect(env);
  } catch (err) {
    return { state: 'unreachable', where: env.DOCKER_HOST ?? 'the default socket', error: err instanceof ScanError ? err : daemonError(err, 'DOCKER_HOST', name) };
  }
  try {
    await conn.docker.getImage(name).inspect();
    return { state: 'present', where: conn.where };
  } catch (err) {
    const e = err as { statusCode?: number };
    if (e?.statusCode === 404) return { state: 'absent', where: conn.where };
    return { state: 'unreachable', where: conn.where, error: daemonError(err, conn.where, name) };
  }
}

/** Streams `name` out of the daemon into the scanner. */
export async function openDaemonImage(
  name: string,
  pool: DetectionPool,
  env: NodeJS.ProcessEnv = process.env,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
): Promise<StreamedImage> {
  const { docker, where } = await connect(env);
  const image = docker.getImage(name);
  try {
    // Inspect first: a missing image is then a clean 404 rather than a broken stream.
    await image.inspect();
  } catch (err) {
    throw daemonError(err, where, name);
  }
  let stream: Readable;
  try {
    stream = (await image.get()) as unknown as Readable;
  } catch (err) {
    throw daemonError(err, where, name);
  }
  try {
    return await StreamedImage.ingest(stream, `docker-daemon:${name}`, pool, undefined, 'daemon', limits);
  } finally {
    stream.destroy();
  }
}
