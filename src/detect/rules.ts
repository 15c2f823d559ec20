import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { yaml } from '../lazy.js';
import type { Severity } from '../types.js';
import { SEVERITIES } from '../types.js';
import { readCompiledCatalogue, type CompiledRules } from './catalogue.js';
import type { PatternPlan, RuleInfo, RuleSpec } from './spec.js';

export type { RuleInfo, RuleSpec } from './spec.js';


export interface RuleSet {
  /** From the compiled catalogue, read on first use: a scan served from the layer cache detects nothing. */
  rules: RuleSpec[];
  /** Hash of every rule's content: changes whenever detection could change. */
  hash: string;
  /** The rules' pattern plans, when the build compiled them (see catalogue.ts); else computed when needed. */
  plan?: PatternPlan[][];
  /** What reports need of each rule, without reading the rules whole (when the build compiled them). */
  info?: RuleInfo[];
}

const ALLOWED_FLAGS = /^[imsu]*$/;

export function defaultDetectorsDir(): string {
  // dist/detect/rules.js and src/detect/rules.ts both sit two levels below the package root.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'detectors');
}

/** Parsed catalogues by hash, so an unchanged catalogue is not parsed again (the layer cache keeps one). */
export interface RuleMemo {
  get(hash: string): RuleSpec[] | null;
  put(hash: string, rules: RuleSpec[]): void;
}

export function loadRuleSet(dir: string = defaultDetectorsDir(), memo?: RuleMemo): RuleSet {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => (n.endsWith('.yaml') || n.endsWith('.yml')) && !n.startsWith('allowlist.')).sort();
  } catch (cause) {
    throw new Error(`reading detectors from ${dir}`, { cause });
  }
  if (names.length === 0) throw new Error(`no detector files (*.yaml) in ${dir}`);
  const hash = createHash('sha256');
  // Hashed as bytes and decoded only to be parsed: a rescan served from the cache parses none of
  // them (the same digest as hashing the text, for files in UTF-8).
  const files = names.map((name) => {
    const bytes = readFileSync(join(dir, name));
    hash.update(name).update('\0').update(bytes).update('\0');
    return bytes;
  });
  const digest = `sha256:${hash.digest('hex')}`;
  const parse = (): RuleSet => {
    const remembered = memo?.get(digest);
    if (remembered) return { rules: remembered, hash: digest };
    const rules = parseRules(names, files.map((bytes) => bytes.toString('utf8')));
    memo?.put(digest, rules);
    return { rules, hash: digest };
  };
  const compiled = readCompiledCatalogue(digest);
  return compiled ? lazyRuleSet(digest, compiled, parse) : parse();
}

/** A RuleSet whose rules (and plans) are read from the compiled catalogue's detection part on first use, else parsed. */
function lazyRuleSet(hash: string, compiled: CompiledRules, parse: () => RuleSet): RuleSet {
  let whole: { rules: RuleSpec[]; plan?: PatternPlan[][] } | null = null;
  const load = () => {
    if (whole === null) {
      const detection = compiled.detection();
      whole = detection ? { rules: detection.rules, ...(detection.plan ? { plan: detection.plan } : {}) } : parse();
    }
    return whole;
  };
  return {
    hash,
    info: compiled.info,
    get rules() {
      return load().rules;
    },
    get plan() {
      return load().plan;
    },
  };
}

function parseRules(names: readonly string[], texts: readonly string[]): RuleSpec[] {
  const rules: RuleSpec[] = [];
  const seen = new Set<string>();
  for (const [i, name] of names.entries()) {
    const text = texts[i]!;
    const rule = parseRule(text, name);
    if (seen.has(rule.id)) throw new Error(`detector ${name}: duplicate id ${rule.id}`);
    seen.add(rule.id);
    rules.push(rule);
  }
  for (const rule of rules) {
    if (rule.pair !== null && !seen.has(rule.pair)) throw new Error(`detector ${rule.id}: pair names no detector "${rule.pair}"`);
  }
  return rules;
}

/** A rule file's `patterns`: each a regex string or { regex, flags }, compiled once to be sure it works. */
function parsePatterns(rawPatterns: unknown, fileName: string, fail: (what: string) => never): RuleSpec['patterns'] {
  if (!Array.isArray(rawPatterns) || rawPatterns.length === 0) fail('needs at least one pattern');
  return (rawPatterns as unknown[]).map((p, i) => {
    const spec = typeof p === 'string' ? { regex: p, flags: '' } : p;
    if (!isRecord(spec) || typeof spec.regex !== 'string') return fail(`pattern ${i}: needs "regex"`);
    const flags = spec.flags ?? '';
    if (typeof flags !== 'string' || !ALLOWED_FLAGS.test(flags)) return fail(`pattern ${i}: flags may only use i, m, s, u`);
    let compiled: RegExp;
    try {
      compiled = new RegExp(spec.regex, flags + 'gd');
    } catch (cause) {
      throw new Error(`detector ${fileName}: pattern ${i} does not compile`, { cause });
    }
    if (!/\(\?<secret>/.test(compiled.source)) fail(`pattern ${i}: needs a named group (?<secret>...)`);
    return { regex: spec.regex, flags };
  });
}

export function parseRule(text: string, fileName: string): RuleSpec {
  let raw: unknown;
  try {
    raw = yaml().parse(text);
  } catch (cause) {
    throw new Error(`detector ${fileName}: invalid YAML`, { cause });
  }
  const fail = (what: string): never => {
    throw new Error(`detector ${fileName}: ${what}`);
  };
  if (!isRecord(raw)) return fail('expected a mapping at the top level');
  const str = (key: string, required = true): string | null => {
    const v = raw[key];
    if (v === undefined || v === null) return required ? fail(`missing "${key}"`) : null;
    if (typeof v !== 'string' || v.trim() === '') return fail(`"${key}" must be a non-empty string`);
    return v.trim();
  };
  const id = str('id')!;
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(id)) fail(`id "${id}" must be kebab-case`);
  const stem = basename(fileName).replace(/\.ya?ml$/, '');
  if (stem !== id) fail(`id "${id}" must match the file name`);
  const severity = str('severity') as Severity;
  if (!SEVERITIES.includes(severity)) fail(`severity must be one of ${SEVERITIES.join('|')}`);

  const keywords = stringList(raw.keywords, 'keywords', fail).map((k) => k.toLowerCase());
  if (keywords.length === 0) fail('needs at least one keyword for the prefilter');
  if (keywords.some((k) => k.length < 2)) fail('keywords must be at least 2 characters');

  const patterns = parsePatterns(raw.patterns, fileName, fail);

  const entropy = raw.entropy;
  if (entropy !== undefined && (typeof entropy !== 'number' || entropy < 0 || entropy > 8)) {
    fail('entropy must be a number of bits per character between 0 and 8');
  }
  const allow = raw.allow === undefined ? [] : stringList(raw.allow, 'allow', fail);
  const overrides = raw.overrides === undefined ? [] : stringList(raw.overrides, 'overrides', fail);
  for (const a of allow) {
    try {
      new RegExp(a);
    } catch (cause) {
      throw new Error(`detector ${fileName}: allow pattern does not compile`, { cause });
    }
  }
  const examples = raw.examples;
  if (!isRecord(examples)) return fail('needs "examples" with positive and negative lists');
  const positive = stringList(examples.positive, 'examples.positive', fail);
  const negative = stringList(examples.negative, 'examples.negative', fail);
  if (positive.length === 0 || negative.length === 0) fail('needs at least one positive and one negative example');

  return {
    id,
    title: str('title')!,
    provider: str('provider')!,
    severity,
    keywords,
    patterns,
    entropy: typeof entropy === 'number' ? entropy : null,
    generic: raw.generic === true,
    overrides,
    pair: str('pair', false),
    identifier: raw.identifier === true,
    soleShape: raw.soleShape === true,
    credentialContext: raw.credentialContext === true,
    allow,
    remediation: str('remediation')!.replace(/\s+/g, ' '),
    url: str('url', false),
    examples: { positive, negative },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, name: string, fail: (what: string) => never): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) {
    return fail(`"${name}" must be a list of non-empty strings`);
  }
  return v as string[];
}
