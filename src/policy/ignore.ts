import { globToRegExp as anchoredGlob } from '../detect/allowlist.js';
import { readFile } from 'node:fs/promises';
import type { Node } from 'yaml';
import { yaml } from '../lazy.js';
import { ScanError } from '../errors.js';
import type { Finding } from '../types.js';
import { fingerprintOf, isFingerprint } from './baseline.js';
import { redact } from '../redact.js';

/**
 * One ignore entry. Exactly one of `fingerprint`, `rule` or `path` says what it matches; `reason`
 * is required; `expires` (YYYY-MM-DD) is optional and the entry applies through that day (UTC).
 */
export interface IgnoreEntry {
  fingerprint?: string;
  rule?: string;
  path?: string;
  reason: string;
  expires?: string;
  /** Where the entry was written, for messages: "FILE:LINE" or "stratascan.config.json: ignore[2]". */
  origin: string;
}

export const IGNORE_FILE_NAME = '.stratascanignore';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A value quoted in an error: the entry's line says where, and a long value may be a pasted secret. */
const quoted = (value: string) => `"${value.length < 16 ? value : redact(value)}"`;

/**
 * Parses an ignore file: YAML, either a list of entries or a mapping with an `ignore:` list.
 * ```yaml
 * - fingerprint: github-token:sha256:<64 hex>
 *   reason: revoked 2024-05-02, still in the frozen base layer
 *   expires: 2025-06-30
 * - rule: private-key
 *   reason: throwaway test keys
 * - path: /usr/share/doc/**
 *   reason: sample tokens in vendor docs
 * ```
 */
export function parseIgnoreFile(text: string, label: string): IgnoreEntry[] {
  const { isMap, isSeq, LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length > 0) {
    throw new ScanError(`${label}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  }
  let list: unknown = doc.contents;
  if (list === null) return [];
  if (isMap(list)) list = list.get('ignore', true);
  if (list === undefined || list === null) return [];
  if (!isSeq(list)) throw new ScanError(`${label}: expected a list of ignore entries (or a mapping with an "ignore" list)`);
  return list.items.map((item: unknown) => {
    const range = (item as Node | null)?.range;
    const where = range ? `${label}:${lineCounter.linePos(range[0]).line}` : label;
    const value: unknown = (item as Node & { toJSON(): unknown } | null)?.toJSON?.() ?? item;
    return validateEntry(value, where);
  });
}

/** Validates one entry given as data (YAML/JSON already parsed), e.g. from a config file. */
export function validateEntry(raw: unknown, origin: string): IgnoreEntry {
  const fail = (why: string): never => {
    throw new ScanError(`${origin}: ${why}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('an ignore entry must be a mapping');
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!['fingerprint', 'rule', 'path', 'reason', 'expires'].includes(key)) fail(`unknown key ${quoted(key)} (use fingerprint, rule or path, with reason and optional expires)`);
  }
  const kinds = (['fingerprint', 'rule', 'path'] as const).filter((k) => r[k] !== undefined);
  if (kinds.length !== 1) fail('an ignore entry needs exactly one of fingerprint, rule or path');
  const kind = kinds[0]!;
  const value = r[kind];
  if (typeof value !== 'string' || value.trim() === '') return fail(`"${kind}" must be a non-empty string`);
  if (kind === 'fingerprint' && !isFingerprint(value.trim())) fail(`fingerprint ${quoted(value)} is not <ruleId>:sha256:<64 hex> (see "fingerprint" in the JSON report docs)`);
  if (typeof r.reason !== 'string' || r.reason.trim() === '') fail('every ignore entry needs a "reason"');
  let expires: string | undefined;
  if (r.expires !== undefined && r.expires !== null) {
    const text = r.expires instanceof Date ? r.expires.toISOString().slice(0, 10) : typeof r.expires === 'string' || typeof r.expires === 'number' ? String(r.expires) : JSON.stringify(r.expires);
    const m = DATE.exec(text);
    const valid = m && new Date(`${text}T00:00:00Z`).toISOString().slice(0, 10) === text;
    if (!valid) fail(`"expires" must be a date written YYYY-MM-DD (got ${quoted(text)})`);
    expires = text;
  }
  const entry: IgnoreEntry = { [kind]: value.trim(), reason: (r.reason as string).trim(), origin };
  if (expires) entry.expires = expires;
  return entry;
}

export async function readIgnoreFile(path: string): Promise<IgnoreEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ScanError(`cannot read the ignore file ${path}`, { cause });
  }
  return parseIgnoreFile(text, path);
}

/** An entry stops applying the day after its `expires` date (UTC). */
export function isExpired(entry: IgnoreEntry, now: Date): boolean {
  if (!entry.expires) return false;
  const end = Date.parse(`${entry.expires}T00:00:00Z`) + 24 * 60 * 60 * 1000;
  return now.getTime() >= end;
}

/**
 * Glob over paths inside the image: `*` matches within one path segment, `**` across segments,
 * `?` one character. A leading `/` is optional. A pattern without any `/` matches the file name at
 * any depth (`*.pem`).
 */
export function globToRegExp(glob: string): RegExp {
  const pattern = glob.replace(/^\/+/, '');
  // A bare name matches at any depth, like .gitignore. The translation is the allowlist's, which
  // stays linear on the long, repetitive paths a hostile image can hold.
  return anchoredGlob(glob.includes('/') ? pattern : `**/${pattern}`);
}

function pathMatches(glob: string, path: string): boolean {
  return globToRegExp(glob).test(path.replace(/^\/+/, ''));
}

/**
 * Whether an entry covers a finding. A path entry covers a finding only when every place the
 * secret was seen (the finding and each `alsoIn`) is a file matching the glob: ignoring
 * `/usr/share/doc/**` must not hide the same key in `/srv/app/.env` or in an ENV.
 */
export function entryMatches(entry: IgnoreEntry, finding: Finding): boolean {
  if (entry.fingerprint !== undefined) return fingerprintOf(finding) === entry.fingerprint;
  if (entry.rule !== undefined) return finding.ruleId === entry.rule;
  if (entry.path !== undefined) {
    const places = [{ source: finding.source, path: finding.path }, ...finding.alsoIn];
    return places.every((p) => p.source === 'file' && p.path !== null && pathMatches(entry.path!, p.path));
  }
  return false;
}

export function describeEntry(entry: IgnoreEntry): string {
  if (entry.fingerprint !== undefined) return `fingerprint ${entry.fingerprint}`;
  if (entry.rule !== undefined) return `rule ${entry.rule}`;
  return `path ${entry.path}`;
}
