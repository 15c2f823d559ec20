import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RuleSpec } from '../../src/detect/spec.js';
import { GENERATED } from '../../scripts/longtail/generate.mjs';

const defaultDir = fileURLToPath(new URL('../../detectors/', import.meta.url));

/** Rule files written by the long-tail generator say so on their first line. */
export function isGenerated(id: string, detectorsDir = defaultDir): boolean {
  const file = [`${id}.yaml`, `${id}.yml`].map((name) => join(detectorsDir, name)).find((path) => existsSync(path));
  return file !== undefined && readFileSync(file, 'utf8').startsWith(GENERATED);
}

/** The long-tail template's gap between a provider's name and its key: everything before it is the name. */
const NAME_GAP = '[^\\n]{0,40}?';

/**
 * What a generated rule's regexes look like with the provider's name and the key's lengths taken
 * out. Generated rules with one shape differ only in those, which neither adds nor removes a way
 * to backtrack: the name is a literal sequence and a length only bounds a run of one class.
 */
export function generatedShapeOf(rule: RuleSpec): string {
  const unnamed = rule.patterns.map(({ regex, flags }) => {
    const gap = regex.indexOf(NAME_GAP);
    return `${gap >= 0 ? regex.slice(gap) : regex}/${flags}`;
  });
  return [...unnamed, ...rule.allow].join('\n').replace(/\d+/g, 'N');
}

/**
 * One generated rule per shape: the one with the longest patterns (the widest bounds), so a check
 * over these covers every generated rule's structure.
 */
export function oneGeneratedRulePerShape(rules: readonly RuleSpec[]): RuleSpec[] {
  const byShape = new Map<string, RuleSpec>();
  const size = (r: RuleSpec) => r.patterns.reduce((n, p) => n + p.regex.length, 0);
  for (const rule of rules) {
    const shape = generatedShapeOf(rule);
    const seen = byShape.get(shape);
    if (!seen || size(rule) > size(seen)) byShape.set(shape, rule);
  }
  return [...byShape.values()];
}
