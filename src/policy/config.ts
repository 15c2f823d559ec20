import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { yaml } from '../lazy.js';
import { ScanError } from '../errors.js';
import { validateEntry, type IgnoreEntry } from './ignore.js';

export const CONFIG_FILE_NAMES = ['stratascan.config.json', 'stratascan.config.yaml', 'stratascan.config.yml'] as const;

/** Options whose values are paths: resolved against the config file's directory. */
const PATH_OPTIONS = new Set(['baseline', 'ignore-file', 'output', 'detectors', 'base']);

export interface LoadedConfig {
  path: string;
  /** CLI options by their long flag name (kebab-case), paths made absolute. */
  options: Record<string, unknown>;
  /** Ignore entries written in the config's `ignore` list. */
  ignore: IgnoreEntry[];
}

/** The nearest stratascan.config.{json,yaml,yml} in `cwd` or a parent directory, or null. */
export function findConfigFile(cwd: string): string | null {
  let dir = resolve(cwd);
  for (;;) {
    for (const name of CONFIG_FILE_NAMES) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * Reads a config file: a JSON or YAML mapping of long flag names (`fail-on` or `failOn`) to
 * values, plus an optional `ignore` list in the ignore-file format. `knownOptions`, when given,
 * rejects keys that are no flag.
 */
export async function loadConfigFile(path: string, knownOptions?: readonly string[]): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ScanError(`cannot read the config file ${path}`, { cause });
  }
  let data: unknown;
  try {
    data = path.endsWith('.json') ? JSON.parse(text) : yaml().parse(text);
  } catch (cause) {
    throw new ScanError(`${path}: invalid ${path.endsWith('.json') ? 'JSON' : 'YAML'}`, { cause });
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ScanError(`${path}: expected a mapping of option names to values`);
  const options: Record<string, unknown> = {};
  let ignore: IgnoreEntry[] = [];
  for (const [rawKey, value] of Object.entries(data as Record<string, unknown>)) {
    const key = kebab(rawKey);
    if (key === 'ignore') {
      if (!Array.isArray(value)) throw new ScanError(`${path}: "ignore" must be a list of entries`);
      ignore = value.map((entry, i) => validateEntry(entry, `${path}: ignore[${i}]`));
      continue;
    }
    if (key === 'config') throw new ScanError(`${path}: "config" cannot be set inside a config file`);
    if (knownOptions && !knownOptions.includes(key)) {
      throw new ScanError(`${path}: unknown option "${rawKey}" (config keys are the long flag names, e.g. "fail-on")`);
    }
    if (PATH_OPTIONS.has(key) && typeof value === 'string' && value !== '-') {
      const absolute = resolve(dirname(path), value);
      // --base may one day name an image reference rather than a file: only rewrite real paths.
      options[key] = key !== 'base' || existsSync(absolute) ? absolute : value;
    } else {
      options[key] = value;
    }
  }
  return { path, options, ignore };
}
