// Detect whether the real external tools a suite needs are installed.
// Kept free of vitest so scripts/ can use it too; describe-real.ts wraps it for suites.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian 12 package that provides each binary we know about, for the hint we print. */
const DEBIAN_PACKAGE = /** @type {Record<string, string>} */ ({
  dockerd: 'docker.io',
  docker: 'docker.io',
  containerd: 'containerd',
  runc: 'runc',
  unshare: 'util-linux',
  skopeo: 'skopeo',
  'docker-registry': 'docker-registry',
  busybox: 'busybox-static',
  podman: 'podman',
  'redis-server': 'redis-server',
  chromium: 'chromium',
  'redis-cli': 'redis-tools',
});

/** Pseudo-requirement: dockerd and mounts need root, so a suite may list it like a binary. */
export const ROOT = 'root';

/**
 * Root's PATH on Debian has the sbin dirs; a plain user's (and some CI images') does not,
 * yet dockerd lives in /usr/sbin. Look there too so "missing" means really missing.
 */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * @param {string} name a bare command name, or an absolute path
 * @returns {string | undefined} the absolute path of an executable file, if any
 */
export function which(name) {
  if (name.includes('/')) return isExecutableFile(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * @param {string} path
 * @returns {boolean}
 */
function isExecutableFile(path) {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * @param {readonly string[]} bins command names; the special name `root` requires uid 0
 * @returns {{ ok: boolean, missing: string[] }}
 */
export function realToolsAvailable(bins) {
  const missing = bins.filter((bin) =>
    bin === ROOT ? process.getuid?.() !== 0 : which(bin) === undefined,
  );
  return { ok: missing.length === 0, missing };
}

/**
 * CI=true is what .ci/run exports; treat "false"/"0"/"" as unset so a developer can
 * override an inherited value.
 * @returns {boolean}
 */
export function isCI() {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== 'false' && v !== '0';
}

/**
 * @param {readonly string[]} missing
 * @returns {string} e.g. "missing dockerd, skopeo; install: apt-get install -y docker.io skopeo"
 */
export function describeMissing(missing) {
  const pkgs = [...new Set(missing.filter((m) => m !== ROOT).map((m) => DEBIAN_PACKAGE[m] ?? m))];
  const parts = [`missing ${missing.map((m) => (m === ROOT ? 'root privileges (uid 0)' : m)).join(', ')}`];
  if (pkgs.length > 0) parts.push(`install: apt-get install -y ${pkgs.join(' ')}`);
  if (missing.includes(ROOT)) parts.push('run as root');
  return parts.join('; ');
}
