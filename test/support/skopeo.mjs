// Convert images between transports with the real skopeo (e.g. docker-archive → oci-archive
// with gzip or zstd layers), so the scanner is tested on bytes a real tool wrote.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execCapture } from './exec.mjs';

export const SKOPEO_BINS = Object.freeze(['skopeo']);

/**
 * @typedef {object} SkopeoCopyOptions
 * @property {'gzip' | 'zstd'} [compress] layer compression written to the destination
 * @property {readonly string[]} [extraArgs] more `skopeo copy` flags, placed before src/dest
 * @property {readonly string[]} [redact] values to scrub from error messages
 */

/**
 * `skopeo copy` src → dest, e.g. ("docker-archive:/x.tar", "oci-archive:/y.tar").
 *
 * Host hygiene: --insecure-policy because /etc/containers/policy.json may not exist; big
 * temporary files go to a private dir (--tmpdir and TMPDIR); and skopeo's blob-info cache,
 * which for root is hard-wired to /var/lib/containers/cache, is redirected to that dir by
 * making containers/image take its rootless code path (_CONTAINERS_ROOTLESS_UID), which only
 * changes where that cache lives for the archive transports we use. A private cache also
 * means no cross-run blob reuse can make one test depend on another.
 *
 * For oci-archive/oci destinations skopeo 1.9.3 compresses layers by default (gzip) and
 * honours --dest-compress-format zstd (media type application/vnd.oci.image.layer.v1.tar+zstd);
 * --dest-compress is only needed for the dir: transport, so we add it only there.
 * @param {string} src
 * @param {string} dest
 * @param {SkopeoCopyOptions} [opts]
 * @returns {Promise<void>}
 */
export async function skopeoCopy(src, dest, opts = {}) {
  const scratch = await mkdtemp(join(tmpdir(), 'ssk-'));
  const args = ['--insecure-policy', '--tmpdir', scratch, 'copy', '--quiet'];
  if (opts.compress) {
    if (dest.startsWith('dir:')) args.push('--dest-compress');
    args.push('--dest-compress-format', opts.compress);
  }
  args.push(...(opts.extraArgs ?? []), src, dest);
  const env = {
    ...process.env,
    TMPDIR: scratch,
    _CONTAINERS_ROOTLESS_UID: String(process.getuid?.() || 1),
    XDG_DATA_HOME: join(scratch, 'data'),
    // A private HOME keeps ~/.config/containers (registries, auth) out of the picture.
    HOME: scratch,
  };
  try {
    await execCapture('skopeo', args, { env, redact: opts.redact });
  } catch (cause) {
    throw new Error(`skopeo copy ${src} → ${dest}`, { cause });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
