import { describe, expect, it } from 'vitest';
import { loadRuleSet } from '../src/detect/rules.js';
import { DetectionEngine } from '../src/detect/engine.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import { redact } from '../src/redact.js';

// Each example is rendered with several seeds so a pattern that only works for lucky values fails.
const SEEDS = [1, 2, 3, 4, 5];
const DETECTORS_DIR = process.env.DETECTORS_DIR; // lets a rule author test a draft directory alone
const { rules } = loadRuleSet(DETECTORS_DIR);
const everything = new DetectionEngine(rules);

describe('detector catalogue', () => {
  it('has one file per detector with unique ids', () => {
    expect(rules.length).toBeGreaterThanOrEqual(4);
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
  });
});

for (const rule of rules) {
  describe(`detector ${rule.id}`, () => {
    const alone = new DetectionEngine([rule]);
    rule.examples.positive.forEach((template, i) => {
      it(`finds positive example ${i + 1}`, () => {
        for (const seed of SEEDS) {
          const { text, secret } = renderTemplate(template, seededRandom(seed * 7919 + i));
          const bytes = Buffer.from(text, 'latin1');
          expect(alone.candidateRules(bytes).map((r) => r.id), 'prefilter lets it through').toContain(rule.id);
          const matches = alone.scan(bytes);
          expect(matches.length, `seed ${seed}: no match`).toBeGreaterThan(0);
          if (secret !== null) {
            const got = matches.map((m) => m.secret);
            // Compare redacted forms so a failure never prints a whole secret.
            expect(got.includes(secret), `seed ${seed}: expected ${redact(secret)}, got ${got.map(redact).join(', ')}`).toBe(true);
          }
          // The full catalogue must still report this rule for the value: no other rule's
          // keyword table may shadow it.
          expect(everything.scan(bytes).some((m) => m.ruleId === rule.id)).toBe(true);
        }
      });
    });
    rule.examples.negative.forEach((template, i) => {
      it(`ignores negative example ${i + 1}`, () => {
        for (const seed of SEEDS) {
          const { text } = renderTemplate(template, seededRandom(seed * 104729 + i));
          const matches = alone.scan(Buffer.from(text, 'latin1'));
          expect(matches.map((m) => redact(m.secret)), `seed ${seed}`).toEqual([]);
        }
      });
    });
  });
}
