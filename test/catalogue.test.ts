import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultDetectorsDir, loadRuleSet } from '../src/detect/rules.js';
import { ruleInfo } from '../src/detect/spec.js';
import { planPatterns } from '../src/detect/engine.js';
import { readCompiledCatalogue, writeCompiledCatalogue } from '../src/detect/catalogue.js';
import { allowlistHash, loadAllowlist } from '../src/detect/allowlist.js';

const dir = mkdtempSync(join(tmpdir(), 'stratascan-catalogue-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the compiled detector catalogue', () => {
  const ruleSet = loadRuleSet();
  const plan = planPatterns(ruleSet.rules);

  it('gives back the rules and plans it was written from, unbounded extents included', () => {
    const path = join(dir, 'round-trip.json');
    writeCompiledCatalogue(ruleSet.hash, ruleSet.rules, plan, null, path);
    const read = readCompiledCatalogue(ruleSet.hash, path);
    expect(read).not.toBeNull();
    expect(read!.info).toEqual(ruleSet.rules.map(ruleInfo));
    expect(read!.detection()!.rules).toEqual(ruleSet.rules);
    expect(read!.detection()!.plan).toEqual(plan);
    // The round trip is only worth checking if some extent is unbounded (JSON has no Infinity).
    expect(plan.flat().some((p) => p.margin === Infinity || p.strict === Infinity)).toBe(true);
  });

  it('is ignored for other detector files, and its plans for another planner', () => {
    const path = join(dir, 'keyed.json');
    writeCompiledCatalogue(ruleSet.hash, ruleSet.rules, plan, null, path);
    expect(readCompiledCatalogue('sha256:' + '0'.repeat(64), path)).toBeNull();
    const detectionPath = join(dir, 'keyed-detection.json');
    const stale = JSON.parse(readFileSync(detectionPath, 'utf8'));
    stale.planner = 'an older planner';
    writeFileSync(detectionPath, JSON.stringify(stale));
    const read = readCompiledCatalogue(ruleSet.hash, path);
    expect(read?.detection()?.rules).toEqual(ruleSet.rules);
    expect(read?.detection()?.plan).toBeNull();
  });

  it('counts a damaged file as none', () => {
    const path = join(dir, 'damaged.json');
    writeCompiledCatalogue(ruleSet.hash, ruleSet.rules, plan, null, path);
    const detectionPath = join(dir, 'damaged-detection.json');
    const detection = readFileSync(detectionPath);
    writeFileSync(detectionPath, detection.subarray(0, 1000));
    expect(readCompiledCatalogue(ruleSet.hash, path)?.detection()).toBeNull();
    writeFileSync(path, readFileSync(path).subarray(0, 1000));
    expect(readCompiledCatalogue(ruleSet.hash, path)).toBeNull();
  });

  it('reads the rules whole only when asked, and parses the detector files when their part is missing', () => {
    const detectors = mkdtempSync(join(dir, 'detectors-'));
    for (const name of readdirSync(defaultDetectorsDir()).filter((n) => n.endsWith('.yaml') && !n.startsWith('allowlist.')).slice(0, 20)) {
      writeFileSync(join(detectors, name), readFileSync(join(defaultDetectorsDir(), name)));
    }
    const parsed = loadRuleSet(detectors);
    expect(parsed.info).toBeUndefined();
    const path = join(dir, 'lazy.json');
    writeCompiledCatalogue(parsed.hash, parsed.rules, planPatterns(parsed.rules), null, path);
    rmSync(join(dir, 'lazy-detection.json'));
    const read = readCompiledCatalogue(parsed.hash, path);
    expect(read!.info.map((r) => r.id)).toEqual(parsed.rules.map((r) => r.id));
    expect(read!.detection()).toBeNull();
  });

  it('is what the build wrote: dist loads the same rules, plans and allowlist without parsing YAML', async () => {
    const dist = (p: string) => new URL(`../dist/${p}`, import.meta.url).href;
    const { loadRuleSet: loadBuilt } = (await import(dist('detect/rules.js'))) as typeof import('../src/detect/rules.js');
    const { loadAllowlist: loadBuiltAllowlist } = (await import(dist('detect/allowlist.js'))) as typeof import('../src/detect/allowlist.js');
    const { compiledCataloguePath } = (await import(dist('detect/catalogue.js'))) as typeof import('../src/detect/catalogue.js');
    const built = loadBuilt();
    expect(built.hash).toBe(ruleSet.hash);
    expect(built.info, 'dist/catalogue.json is missing or stale: run npm run build').toEqual(ruleSet.rules.map(ruleInfo));
    expect(built.rules).toEqual(ruleSet.rules);
    expect(built.plan, 'dist/catalogue.json is missing or stale: run npm run build').toEqual(plan);
    const detectors = new URL('../detectors', import.meta.url).pathname;
    const compiled = JSON.parse(readFileSync(compiledCataloguePath(), 'utf8'));
    expect(compiled.allowlist.hash).toBe(allowlistHash(readFileSync(join(detectors, 'allowlist.yaml'), 'utf8')));
    expect(loadBuiltAllowlist(detectors)).toEqual(loadAllowlist(detectors));
  });
});
