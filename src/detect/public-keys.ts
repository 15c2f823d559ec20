import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pemBody } from './filters.js';

/**
 * Keys and tokens that are public knowledge: the test keys of language test suites (Python's
 * test/*.pem, Go's crypto tests), the API keys Debian publishes in its chromium package, values in
 * widely installed packages' API examples. Built by scripts/build-public-keys.mjs from the files that
 * ship them, kept as fingerprints only, and dropped after detection (stats.allowlisted) wherever
 * they appear: a key that is not in the list is reported, whatever directory it sits in.
 */
export const PUBLIC_KEYS_FILE = 'public-keys.json';

/**
 * sha256 of the value with its encoding taken off: a PEM key's base64 body (armour, headers, line
 * breaks and `\n` escapes removed; a whole-PEM base64 blob decoded first), any other value as it is.
 * The same key in a .pem file, a JSON string or a Kubernetes Secret has one fingerprint.
 */
export function keyFingerprint(secret: string): string {
  let value = secret;
  if (/^LS0tLS1CRUdJTi/.test(value)) value = Buffer.from(value, 'base64').toString('latin1');
  const body = pemBody(value);
  return createHash('sha256').update(body ?? value, 'utf8').digest('hex');
}

export function loadPublicKeys(detectorsDir: string): Set<string> {
  const file = join(detectorsDir, PUBLIC_KEYS_FILE);
  if (!existsSync(file)) return new Set();
  let raw: { keys?: unknown };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as { keys?: unknown };
  } catch (cause) {
    throw new Error(`reading ${file}`, { cause });
  }
  if (!Array.isArray(raw.keys)) throw new Error(`${file}: expected "keys": [...]`);
  return new Set(raw.keys.map((k: { sha256?: unknown }, i) => {
    if (typeof k?.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(k.sha256)) throw new Error(`${file}: key ${i + 1} needs a sha256`);
    return k.sha256;
  }));
}
