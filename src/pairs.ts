import type { Sighting } from './sighting.js';
import type { RuleInfo } from './detect/rules.js';

/** The identifier half of a pair, as seen next to its secret. */
export interface PartnerSighting {
  ruleId: string;
  secretHash: string;
  redacted: string;
  line: number | null;
  key: string | null;
  secret?: string;
}

/**
 * Gives each secret whose rule names a `pair` the nearest identifier of that rule in the same
 * file (or the same config channel of the same layer): an AWS secret key with the key id written
 * beside it is one credential, and the one the owner will look up to revoke.
 */
export function pairSightings(sightings: readonly Sighting[], rules: ReadonlyMap<string, RuleInfo>): Map<Sighting, PartnerSighting> {
  const pairs = new Map<Sighting, PartnerSighting>();
  const wanted = new Set<string>();
  for (const rule of rules.values()) if (rule.pair !== null) wanted.add(rule.pair);
  if (wanted.size === 0) return pairs;

  const byContainer = new Map<string, Sighting[]>();
  for (const s of sightings) {
    if (!wanted.has(s.ruleId) && rules.get(s.ruleId)?.pair == null) continue;
    const container = `${s.source}\0${s.layerIndex}\0${s.path}`;
    const list = byContainer.get(container);
    if (list) list.push(s);
    else byContainer.set(container, [s]);
  }
  for (const group of byContainer.values()) {
    for (const s of group) {
      const partnerRule = rules.get(s.ruleId)?.pair;
      if (partnerRule == null) continue;
      let best: Sighting | null = null;
      for (const c of group) {
        if (c.ruleId !== partnerRule) continue;
        if (best === null || distance(c, s) < distance(best, s)) best = c;
      }
      if (best !== null) {
        pairs.set(s, { ruleId: best.ruleId, secretHash: best.secretHash, redacted: best.redacted, line: best.line, key: best.key, ...(best.secret !== undefined ? { secret: best.secret } : {}) });
      }
    }
  }
  return pairs;
}

/** Lines apart, then columns: the id written on the line above the secret beats one further away. */
function distance(a: Sighting, b: Sighting): number {
  return Math.abs((a.line ?? 0) - (b.line ?? 0)) * 1e6 + Math.abs((a.column ?? 0) - (b.column ?? 0));
}
