import { describe, expect, it } from 'vitest';
import { DetectionEngine } from '../src/detect/engine.js';
import { loadRuleSet } from '../src/detect/rules.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';

const seed = Date.now() % 100000;
const rand = seededRandom(seed);
const fill = (template: string) => renderTemplate(template, rand).text;
const engine = new DetectionEngine(loadRuleSet().rules);

/**
 * Other scanners' "multiple tokens" cases: two keys of one provider on one line, or on adjacent
 * lines, are two findings. (Those cases' own values, runs of one repeated digit, are stand-ins and
 * rightly dropped; random values must all be reported.)
 */
describe(`every distinct value of a rule is reported (seed ${seed})`, () => {
  const cases: [string, string][] = [
    ['spectralops-api-key', 'spu-{{hex:32}}'],
    ['shippo-api-token', 'shippo_live_{{hex:40}}'],
    ['github-token', 'ghp_{{alnum:36}}'],
  ];
  for (const [ruleId, template] of cases) {
    it(`${ruleId}: on adjacent lines, side by side, and joined by a comma`, () => {
      for (const join of ['\n', ' ', ',']) {
        const first = fill(template);
        const second = fill(template);
        const found = engine.scan(Buffer.from(`tokens: ${first}${join}${second}\n`)).filter((m) => m.ruleId === ruleId);
        expect(found.map((m) => m.secret).sort()).toEqual([first, second].sort());
      }
    });
  }
});
