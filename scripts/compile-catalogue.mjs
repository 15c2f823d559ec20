#!/usr/bin/env node
// Build step after tsc: compiles detectors/*.yaml (rules and pattern plans) into
// dist/catalogue.json and dist/catalogue-detection.json, so a scan does not parse YAML or analyse
// patterns at start-up.
// See src/detect/catalogue.ts for when a scan trusts it.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { compiledCataloguePath, writeCompiledCatalogue } = await import(join(root, 'dist', 'detect', 'catalogue.js'));
const { loadRuleSet } = await import(join(root, 'dist', 'detect', 'rules.js'));
const { planPatterns } = await import(join(root, 'dist', 'detect', 'engine.js'));
const { allowlistHash } = await import(join(root, 'dist', 'detect', 'allowlist.js'));
const { yaml } = await import(join(root, 'dist', 'lazy.js'));

// Parse afresh: never compile from an older compiled catalogue.
rmSync(compiledCataloguePath(), { force: true });
const ruleSet = loadRuleSet();
const allowlistFile = join(root, 'detectors', 'allowlist.yaml');
const allowlist = existsSync(allowlistFile) ? readFileSync(allowlistFile, 'utf8') : null;
writeCompiledCatalogue(
  ruleSet.hash,
  ruleSet.rules,
  planPatterns(ruleSet.rules),
  allowlist === null ? null : { hash: allowlistHash(allowlist), raw: yaml().parse(allowlist) },
);
