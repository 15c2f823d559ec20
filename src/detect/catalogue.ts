/**
 * The detector catalogue compiled at build time: parsing every detector's YAML and analysing
 * every pattern is CPU spent at the start of every cold scan, before it reads a byte of the
 * image, and the result depends only on the detector files. `npm run build` writes it (rules and
 * pattern plans) to dist/catalogue.json; a scan uses it only when it was made from exactly the
 * detector files it is loading (same names and contents, by hash) and, for the plans, by the same
 * planner code.
 * Anything else (edited rules, another detectors directory, a source checkout under the test
 * runner) parses the YAML as before.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PatternPlan, RuleSpec } from './spec.js';

const FORMAT = 1;
const HERE = dirname(fileURLToPath(import.meta.url));
const EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

interface CompiledCatalogue {
  format: number;
  hash: string;
  planner: string;
  rules: RuleSpec[];
  plan: PatternPlan[][];
  /** detectors/allowlist.yaml as parsed, with the hash of its text. */
  allowlist: { hash: string; raw: unknown } | null;
}

let read: { path: string; stamp: string; compiled: CompiledCatalogue | null } | null = null;

/** The compiled catalogue at `path`, parsed once per process (per version of the file); null when missing or damaged. */
function compiledAt(path: string): CompiledCatalogue | null {
  let stamp: string;
  try {
    const info = statSync(path);
    stamp = `${info.size}:${info.mtimeMs}:${info.ino}`;
  } catch {
    return null;
  }
  if (read?.path !== path || read.stamp !== stamp) {
    let compiled: CompiledCatalogue | null;
    try {
      compiled = JSON.parse(readFileSync(path, 'utf8')) as CompiledCatalogue;
    } catch {
      compiled = null;
    }
    read = { path, stamp, compiled: compiled?.format === FORMAT ? compiled : null };
  }
  return read.compiled;
}

/** The allowlist as parsed at build time, when its text (by hash) is the one compiled. */
export function compiledAllowlist(hash: string, path = compiledCataloguePath()): unknown {
  const allowlist = compiledAt(path)?.allowlist;
  return allowlist && allowlist.hash === hash ? allowlist.raw : null;
}

/** Where the build writes the compiled catalogue: next to the compiled modules. */
export function compiledCataloguePath(): string {
  return join(HERE, '..', 'catalogue.json');
}

let fingerprint: string | null = null;

/** The code that turns rules into plans (engine and extent analysis by content, the parser by version). */
export function plannerFingerprint(): string {
  if (fingerprint === null) {
    const hash = createHash('sha256');
    for (const name of ['engine', 'extent']) hash.update(readFileSync(join(HERE, name + EXTENSION))).update('\0');
    const parser = createRequire(import.meta.url)('@eslint-community/regexpp/package.json') as { version: string };
    hash.update(`regexpp ${parser.version}`);
    fingerprint = hash.digest('hex');
  }
  return fingerprint;
}

/**
 * The compiled rules for catalogue `hash`, with their plans when the planner is unchanged; null
 * when there is no compiled catalogue for it (a damaged file counts as none).
 */
export function readCompiledCatalogue(hash: string, path = compiledCataloguePath()): { rules: RuleSpec[]; plan: PatternPlan[][] | null } | null {
  const compiled = compiledAt(path);
  if (!compiled || compiled.hash !== hash || !Array.isArray(compiled.rules) || !Array.isArray(compiled.plan)) return null;
  if (compiled.rules.length !== compiled.plan.length) return null;
  return { rules: compiled.rules, plan: compiled.planner === plannerFingerprint() ? compiled.plan : null };
}

export function writeCompiledCatalogue(
  hash: string,
  rules: readonly RuleSpec[],
  plan: readonly (readonly PatternPlan[])[],
  allowlist: { hash: string; raw: unknown } | null,
  path = compiledCataloguePath(),
): void {
  const compiled: CompiledCatalogue = { format: FORMAT, hash, planner: plannerFingerprint(), rules: [...rules], plan: plan as PatternPlan[][], allowlist };
  const temp = `${path}.${process.pid}.tmp`;
  const text = JSON.stringify(compiled, (_key, value: unknown) => (value === Infinity ? INFINITY : value));
  writeFileSync(temp, text.replaceAll(JSON.stringify(INFINITY), '1e999'));
  renameSync(temp, path);
  read = null;
}

// JSON has no Infinity, and extents can be unbounded: written as 1e999, which JSON.parse reads
// back as Infinity (a marker string stands in while stringifying).
const INFINITY = '\u0000Infinity';
