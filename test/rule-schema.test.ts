// The detector schema as detectors/README.md states it: what parseRule accepts and refuses.
import { describe, expect, it } from 'vitest';
import { parseRule } from '../src/detect/rules.js';

function ruleYaml(patterns: string): string {
  return [
    'id: demo-key',
    'title: Demo key',
    'provider: Demo',
    'severity: high',
    'keywords: [demo_]',
    patterns,
    'remediation: Revoke it.',
    'examples:',
    "  positive: ['k=[[demo_{{hex:32}}]]']",
    "  negative: ['k=demo_{{hex:8}}']",
  ].join('\n');
}

describe('detector schema', () => {
  it('takes a pattern as a string or as regex with a string of flags', () => {
    const rule = parseRule(ruleYaml("patterns:\n  - '(?<secret>demo_[0-9a-f]{32})'\n  - { regex: '(?<secret>DEMO_[0-9A-F]{32})', flags: i }"), 'demo-key.yaml');
    expect(rule.patterns).toEqual([
      { regex: '(?<secret>demo_[0-9a-f]{32})', flags: '' },
      { regex: '(?<secret>DEMO_[0-9A-F]{32})', flags: 'i' },
    ]);
    expect(rule.url).toBeNull();
  });

  it('refuses flags that are not a string of i, m, s, u', () => {
    for (const flags of ['g', 'iy', '[i]', '1', '{ i: true }']) {
      expect(() => parseRule(ruleYaml(`patterns:\n  - { regex: '(?<secret>demo_[0-9a-f]{32})', flags: ${flags} }`), 'demo-key.yaml'), flags)
        .toThrow('pattern 0: flags may only use i, m, s, u');
    }
  });

  it('refuses a pattern without a (?<secret>) group and a keyword under 2 characters', () => {
    expect(() => parseRule(ruleYaml("patterns: ['demo_[0-9a-f]{32}']"), 'demo-key.yaml')).toThrow('needs a named group');
    expect(() => parseRule(ruleYaml("patterns: ['(?<secret>demo_[0-9a-f]{32})']").replace('[demo_]', '[d]'), 'demo-key.yaml')).toThrow('at least 2 characters');
  });
});
