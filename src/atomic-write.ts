import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of a new file (default: 0o666 less the umask). */
  mode?: number;
  /** Creates the parent directories first, with this mode. */
  mkdirMode?: number;
  /** Aborting drops the file whole: the temp file is removed and the target left as it was. */
  signal?: AbortSignal;
}

/**
 * A temp file beside `path`, unique to this process and call: two writers of one path (two scans
 * sharing a cache, two workers of one process) never write into each other's temp file.
 */
function tempPathFor(path: string): string {
  return `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/**
 * Writes `data` to a temp file and renames it over `path`: a reader sees the old file or the new
 * one, never half of one, and a crash or Ctrl-C leaves no partial file behind. On failure the temp
 * file is removed and the error rethrown.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const temp = tempPathFor(path);
  try {
    if (options.mkdirMode !== undefined) await mkdir(dirname(path), { recursive: true, mode: options.mkdirMode });
    await writeFile(temp, data, { mode: options.mode, signal: options.signal });
    // Aborted while the last bytes went out: the file is dropped rather than left for a reader to trust.
    options.signal?.throwIfAborted();
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => {});
    throw err;
  }
}

/** writeFileAtomic for start-up paths that cannot wait (the build's catalogue, the rule memo). */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, options: Omit<AtomicWriteOptions, 'signal'> = {}): void {
  const temp = tempPathFor(path);
  try {
    if (options.mkdirMode !== undefined) mkdirSync(dirname(path), { recursive: true, mode: options.mkdirMode });
    writeFileSync(temp, data, { mode: options.mode });
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
