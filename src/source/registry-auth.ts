import { childProcess } from '../lazy.js';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ScanError } from '../errors.js';
import type { RegistryCredentials } from '../types.js';
import { DOCKER_HUB } from './target.js';

/** Where a credential came from, for error messages (never the credential itself). */
export interface FoundCredentials extends RegistryCredentials {
  origin: string;
}

/** The key Docker uses for Docker Hub in config.json. */
const HUB_CONFIG_KEY = 'https://index.docker.io/v1/';
const HELPER_TIMEOUT_MS = 30_000;

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/**
 * Credentials for one registry, in order: explicit (--username/--password-stdin), the
 * STRATASCAN_REGISTRY_USERNAME/PASSWORD environment variables, then the Docker CLI's
 * config.json ($DOCKER_CONFIG or ~/.docker): credHelpers[host], credsStore, auths[host].
 * Returns null when there are none: the registry may allow anonymous pulls.
 */
export async function findCredentials(
  registry: string,
  explicit: RegistryCredentials | undefined,
  env: NodeJS.ProcessEnv = process.env,
  onNote?: (message: string) => void,
): Promise<FoundCredentials | null> {
  if (explicit) return { ...explicit, origin: '--username' };
  const user = env.STRATASCAN_REGISTRY_USERNAME;
  const pass = env.STRATASCAN_REGISTRY_PASSWORD;
  if (user && pass !== undefined) return { username: user, password: pass, origin: 'STRATASCAN_REGISTRY_USERNAME/PASSWORD' };
  const configDir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
  const configPath = join(configDir, 'config.json');
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(configPath, 'utf8')) as DockerConfig;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ScanError(`reading Docker credentials from ${configPath}`, { cause: err });
  }
  const keys = configKeys(registry);
  const helper = keys.map((k) => config.credHelpers?.[k]).find(Boolean) ?? config.credsStore;
  if (helper) {
    try {
      for (const key of keys) {
        const found = await fromHelper(helper, key, env);
        if (found) return found;
      }
    } catch (err) {
      // A Docker Desktop config copied into CI names a helper that is not installed there. Nobody
      // asked for these credentials by name, so public images should still work: go on without.
      if (!(err instanceof MissingHelperError)) throw err;
      onNote?.(`${err.message}; trying ${registry} without it (install ${err.program}, or remove "credsStore"/"credHelpers" from ${configPath})`);
    }
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (!keys.includes(normaliseConfigKey(key))) continue;
    if (entry.identitytoken) return { username: '<token>', password: entry.identitytoken, origin: configPath };
    if (entry.username && entry.password !== undefined) return { username: entry.username, password: entry.password, origin: configPath };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), origin: configPath };
    }
  }
  return null;
}

/** The names config.json may use for a registry (Docker Hub has a legacy URL). */
function configKeys(registry: string): string[] {
  return registry === DOCKER_HUB ? [HUB_CONFIG_KEY, 'docker.io', 'index.docker.io', 'registry-1.docker.io'] : [registry];
}

/** "https://ghcr.io/v1/" and "ghcr.io" name the same registry. */
function normaliseConfigKey(key: string): string {
  if (key === HUB_CONFIG_KEY) return key;
  const host = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? HUB_CONFIG_KEY : host;
}

/** `docker-credential-NAME get`, server URL on stdin, {"Username","Secret"} on stdout. */
async function fromHelper(helper: string, server: string, env: NodeJS.ProcessEnv): Promise<FoundCredentials | null> {
  if (!/^[\w.-]+$/.test(helper)) throw new ScanError(`invalid credential helper name ${JSON.stringify(helper).slice(0, 60)} in the Docker config`);
  const program = `docker-credential-${helper}`;
  const { code, stdout, spawnError } = await new Promise<{ code: number | null; stdout: string; spawnError?: Error }>((resolve) => {
    const child = childProcess().spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: '', spawnError: err });
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ code: status, stdout: Buffer.concat(out).toString('utf8') });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(server);
  });
  if (spawnError) {
    const code = (spawnError as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MissingHelperError(program);
    throw new ScanError(`the Docker config names credential helper ${program}, which could not be run (${code ?? 'error'})`);
  }
  // Helpers exit 1 with "credentials not found in native keychain" when they hold nothing.
  if (code !== 0) return null;
  try {
    const parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
    if (typeof parsed.Secret !== 'string' || parsed.Secret === '') return null;
    return { username: parsed.Username ?? '', password: parsed.Secret, origin: program };
  } catch {
    throw new ScanError(`credential helper ${program} answered with something other than JSON`);
  }
}

/** The Docker config names a `docker-credential-*` program that is not on the PATH. */
class MissingHelperError extends ScanError {
  constructor(readonly program: string) {
    super(`the Docker config names credential helper ${program}, which is not installed`);
  }
}

/** One `WWW-Authenticate` challenge: scheme and parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://auth",service="reg",scope="repository:a:pull"` (and Basic). */
export function parseChallenge(header: string | undefined | null): Challenge | null {
  if (!header) return null;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export function basicHeader(creds: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
}
