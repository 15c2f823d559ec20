/**
 * The detector catalogue compiled at build time: parsing every detector's YAML and analysing
 * every pattern is CPU spent at the start of every cold scan, before it reads a byte of the
 * image, and the result depends only on the detector files. `npm run build` writes it to
 * dist/catalogue.json (what reports need of each rule, and the allowlist) and
 * dist/catalogue-detection.json (the rules whole and their pattern plans, 3 MB of JSON), which
 * is read only when something is detected: a rescan served from the layer cache reads the first
 * only (parsing both was a third of such a rescan). A scan uses them only when they were made
 * from exactly the detector files it is loading (same names and contents, by hash) and, for the
 * plans, by the same planner code.
 * Anything else (edited rules, another detectors directory, a source checkout under the test
 * runner) parses the YAML as before.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ruleInfo, type PatternPlan, type RuleInfo, type RuleSpec } from './spec.js';
import { writeFileAtomicSync } from '../atomic-write.js';

const FORMAT = 2;
const HERE = dirname(fileURLToPath(import.meta.url));
const EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** catalogue.json: small, read by every scan. */
interface CompiledCatalogue {
  format: number;
  hash: string;
  info: RuleInfo[];
  /** detectors/allowlist.yaml as parsed, with the hash of its text. */
  allowlist: { hash: string; raw: unknown } | null;
}

/** catalogue-detection.json: read only when something is detected. */
interface CompiledDetection {
  format: number;
  hash: string;
  planner: string;
  rules: RuleSpec[];
  plan: PatternPlan[][];
}

const read = new Map<string, { stamp: string; compiled: { format?: unknown } | null }>();

/** The compiled file at `path`, parsed once per process (per version of the file); null when missing or damaged. */
function compiledAt<T extends { format?: unknown }>(path: string): T | null {
  let stamp: string;
  try {
    const info = statSync(path);
    stamp = `${info.size}:${info.mtimeMs}:${info.ino}`;
  } catch {
    return null;
  }
  let held = read.get(path);
  if (held?.stamp !== stamp) {
    let compiled: T | null;
    try {
      compiled = JSON.parse(readFileSync(path, 'utf8')) as T;
    } catch {
      compiled = null;
    }
    held = { stamp, compiled: compiled?.format === FORMAT ? compiled : null };
    read.set(path, held);
  }
  return held.compiled as T | null;
}

/** Where the detection part of the catalogue at `path` is kept. */
function detectionPath(path: string): string {
  return path.replace(/(\.json)?$/, '-detection.json');
}

/** The allowlist as parsed at build time, when its text (by hash) is the one compiled. */
export function compiledAllowlist(hash: string, path = compiledCataloguePath()): unknown {
  const allowlist = compiledAt<CompiledCatalogue>(path)?.allowlist;
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

/** A compiled catalogue read back: its rules' RuleInfo now, the rules whole (and plans) when asked. */
export interface CompiledRules {
  info: RuleInfo[];
  /**
   * The rules whole, with their plans when the planner is unchanged; null when the detection
   * part is missing, damaged or made for other files.
   */
  detection(): { rules: RuleSpec[]; plan: PatternPlan[][] | null } | null;
}

/** The compiled catalogue for catalogue `hash`; null when there is none for it (a damaged file counts as none). */
export function readCompiledCatalogue(hash: string, path = compiledCataloguePath()): CompiledRules | null {
  const compiled = compiledAt<CompiledCatalogue>(path);
  if (!compiled || compiled.hash !== hash || !Array.isArray(compiled.info)) return null;
  return {
    info: compiled.info,
    detection: () => {
      const detection = compiledAt<CompiledDetection>(detectionPath(path));
      if (!detection || detection.hash !== hash || !Array.isArray(detection.rules) || !Array.isArray(detection.plan)) return null;
      if (detection.rules.length !== detection.plan.length || detection.rules.length !== compiled.info.length) return null;
      return { rules: detection.rules, plan: detection.planner === plannerFingerprint() ? detection.plan : null };
    },
  };
}

export function writeCompiledCatalogue(
  hash: string,
  rules: readonly RuleSpec[],
  plan: readonly (readonly PatternPlan[])[],
  allowlist: { hash: string; raw: unknown } | null,
  path = compiledCataloguePath(),
): void {
  const detection: CompiledDetection = { format: FORMAT, hash, planner: plannerFingerprint(), rules: [...rules], plan: plan as PatternPlan[][] };
  const text = JSON.stringify(detection, (_key, value: unknown) => (value === Infinity ? INFINITY : value));
  // The detection part first: a reader that finds the small part finds its partner written.
  writeFileAtomicSync(detectionPath(path), text.replaceAll(JSON.stringify(INFINITY), '1e999'));
  const compiled: CompiledCatalogue = { format: FORMAT, hash, info: rules.map(ruleInfo), allowlist };
  writeFileAtomicSync(path, JSON.stringify(compiled));
  read.clear();
}

// JSON has no Infinity, and extents can be unbounded: written as 1e999, which JSON.parse reads
// back as Infinity (a marker string stands in while stringifying).
const INFINITY = '\u0000Infinity';
