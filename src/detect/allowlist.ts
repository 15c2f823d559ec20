import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { yaml } from '../lazy.js';
import { compiledAllowlist } from './catalogue.js';

/** A built-in exemption for a known non-secret: which rules, at which paths, and why. */
export interface AllowEntry {
  rules: string[] | null;
  paths: RegExp[];
  reason: string;
}

/** Glob to RegExp: "*" stays within a path segment, "**" crosses segments. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  let groups = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      // "/**/" also matches a single "/": a/**/b covers a/b.
      if (glob[i + 2] === '/') {
        // "**/" + whole segments + "/**": the leftmost place those segments occur is always a right
        // one (what follows them skips anything), so it is taken atomically (a lookahead and a
        // backreference). Letting the engine retry every later place is quadratic in the path.
        const end = glob.indexOf('/**', i + 3);
        const chunk = end === -1 ? '' : glob.slice(i + 3, end);
        if (chunk !== '' && !chunk.includes('**')) {
          groups++;
          out += `(?=((?:.*?/)??${segments(chunk)}/))\\${groups}`;
          i = end; // the loop steps onto the "**" of "/**"
          continue;
        }
        out += '(?:.*/)?';
        i += 2;
      } else {
        out += '.*';
        i += 1;
      }
    } else out += segments(c);
  }
  return new RegExp(`^${out}$`);
}

/** Glob text without "**": "*" and "?" stay within a path segment. */
function segments(glob: string): string {
  let out = '';
  for (const c of glob) {
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}

export function loadAllowlist(detectorsDir: string): AllowEntry[] {
  const file = join(detectorsDir, 'allowlist.yaml');
  if (!existsSync(file)) return [];
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = compiledAllowlist(allowlistHash(text)) ?? yaml().parse(text);
  } catch (cause) {
    throw new Error(`reading ${file}`, { cause });
  }
  const entries = (raw as { entries?: unknown })?.entries;
  if (!Array.isArray(entries)) throw new Error(`${file}: expected "entries: [...]"`);
  return entries.map((e: { rules?: string[]; paths?: string[]; reason?: string }, i) => {
    if (!Array.isArray(e.paths) || e.paths.length === 0 || typeof e.reason !== 'string') {
      throw new Error(`${file}: entry ${i + 1} needs paths and a reason`);
    }
    return { rules: Array.isArray(e.rules) ? e.rules : null, paths: e.paths.map(globToRegExp), reason: e.reason };
  });
}

/** What the compiled catalogue keys the allowlist by. */
export function allowlistHash(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export function isAllowlisted(entries: readonly AllowEntry[], ruleId: string, path: string | null): boolean {
  if (path === null) return false;
  return entries.some((e) => (e.rules === null || e.rules.includes(ruleId)) && e.paths.some((p) => p.test(path)));
}
