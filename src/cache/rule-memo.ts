import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../atomic-write.js';
import type { RuleMemo, RuleSpec } from '../detect/rules.js';
import { CACHE_FORMAT } from './layer-cache.js';

/**
 * Parsed detector catalogues, by catalogue hash and tool version: parsing ~50 YAML files costs more
 * than the rest of a fully cached rescan. Plain JSON; a damaged file is a miss.
 */
export function ruleMemo(dir: string, toolVersion: string): RuleMemo {
  const pathOf = (hash: string) =>
    join(dir, 'rules', `v${CACHE_FORMAT}`, `${createHash('sha256').update(`${toolVersion}\0${hash}`).digest('hex')}.json`);
  return {
    get(hash) {
      try {
        const rules = JSON.parse(readFileSync(pathOf(hash), 'utf8')) as RuleSpec[];
        return Array.isArray(rules) && rules.length > 0 && rules.every((r) => typeof r.id === 'string' && Array.isArray(r.patterns)) ? rules : null;
      } catch {
        return null;
      }
    },
    put(hash, rules) {
      try {
        writeFileAtomicSync(pathOf(hash), JSON.stringify(rules), { mode: 0o600, mkdirMode: 0o700 });
      } catch {
        // A memo that cannot be written costs the next run a parse, nothing more.
      }
    },
  };
}
