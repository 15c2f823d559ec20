import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** A built-in exemption for a known non-secret: which rules, at which paths, and why. */
export interface AllowEntry {
  rules: string[] | null;
  paths: RegExp[];
  reason: string;
}

/** Glob to RegExp: "*" stays within a path segment, "**" crosses segments. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      // "/**/" also matches a single "/": a/**/b covers a/b.
      if (glob[i + 2] === '/') {
        out += '(?:.*/)?';
        i += 2;
      } else {
        out += '.*';
        i += 1;
      }
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

export function loadAllowlist(detectorsDir: string): AllowEntry[] {
  const file = join(detectorsDir, 'allowlist.yaml');
  if (!existsSync(file)) return [];
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
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

export function isAllowlisted(entries: readonly AllowEntry[], ruleId: string, path: string | null): boolean {
  if (path === null) return false;
  return entries.some((e) => (e.rules === null || e.rules.includes(ruleId)) && e.paths.some((p) => p.test(path)));
}
