import { describe, expect, it } from 'vitest';
import { loadRuleSet } from '../src/detect/rules.js';
import { DetectionEngine, planPatterns } from '../src/detect/engine.js';
import { maxExtent } from '../src/detect/extent.js';
import { redact } from '../src/redact.js';
import { plan, readTable, rowPattern, rowRuleId, spellings } from '../scripts/longtail/generate.mjs';

// The long tail of provider keys (scripts/longtail): one table, one generated detector per row.
const rows = readTable();
const { rules } = loadRuleSet();
const byId = new Map(rules.map((r) => [r.id, r]));
const engine = new DetectionEngine(rules);

/** A value drawn from `chars`, holding a digit and a letter as real keys do. */
function draw(chars: string, n: number, seed: number): string {
  let x = seed;
  let out = '';
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += chars[x % chars.length];
  }
  return out.slice(0, n - 2) + '7q';
}

const found = (text: string) => engine.scan(Buffer.from(text, 'latin1'));

describe('long-tail provider table', () => {
  it('generated detector files match the table (run node scripts/longtail/generate.mjs after editing it)', () => {
    const { stale, changed } = plan();
    expect([...stale, ...changed]).toEqual([]);
  });

  it('has a detector for every row, named for the provider', () => {
    expect(rows.length).toBeGreaterThan(400);
    for (const row of rows.filter((r) => r.extend === null)) {
      const rule = byId.get(rowRuleId(row));
      expect(rule?.provider, row.provider).toBe(row.provider);
    }
  });

  it('spells a name of several words joined, with separators, and in camel case', () => {
    const { keywords, forms } = spellings('alpha vantage');
    expect(keywords).toEqual(['alphavantage', 'alpha_vantage', 'alpha-vantage', 'alpha.vantage', 'alpha vantage']);
    expect(forms).toEqual(expect.arrayContaining(['AlphaVantage', 'alphaVantage', 'ALPHA_VANTAGE', 'Alpha Vantage', 'alpha-vantage']));
  });

  it('anchors every pattern on its keywords, so it runs only where the name occurs', () => {
    const generated = rows.map((row) => rowPattern(row));
    const plans = planPatterns(generated.map((g, i) => ({ ...byId.get('weatherstack-api-key')!, id: `row-${i}`, keywords: g.keywords, patterns: [{ regex: g.pattern, flags: '' }] })));
    const loose = plans.flatMap((p, i) => (p[0]!.anchor === null || !Number.isFinite(p[0]!.anchor.lead) ? [rows[i]!.provider] : []));
    expect(loose).toEqual([]);
  });
  it('bounds what every pattern reads, so the engine runs it on windows around the name, not on whole buffers', () => {
    const unbounded = rows.filter((row) => !Number.isFinite(maxExtent(rowPattern(row).pattern, { negative: 'assertions' }))).map((r) => r.provider);
    expect(unbounded).toEqual([]);
  });
});

describe('long-tail provider rules', () => {
  const key = draw('abcdefghijklmnopqrstuvwxyz0123456789', 32, 99);

  it('finds the value after the name in prose, assignments and logs, naming the provider', () => {
    for (const text of [
      `You can find a weatherstack secret ${key} within`,
      `WEATHERSTACK_ACCESS_KEY=${key}`,
      `weatherStack:\n  key: "${key}"`,
      `[INFO] calling the Weatherstack API\n[DEBUG] access_key=${key}`,
    ]) {
      const hits = found(text).filter((m) => m.secret === key);
      expect(hits.map((m) => m.ruleId), text.replace(key, redact(key))).toContain('weatherstack-api-key');
    }
  });

  it('ignores a broken value, a value too far from the name, and the name alone', () => {
    for (const text of [
      `weatherstack = '${key.slice(0, 10)}?${key.slice(11)}'`,
      `weatherstack keyword is not close to the real key in the data\n = '${key}'`,
      `weatherstack\n\n\nnote: ${key}`,
      'You cannot find the weatherstack secret within',
    ]) {
      expect(found(text).filter((m) => m.ruleId === 'weatherstack-api-key').map((m) => redact(m.secret)), text).toEqual([]);
    }
  });

  it('reaches a value farther away only under a name that heads its block or is its host, in a credential setting', () => {
    for (const text of [
      `weatherstack:\n  account: main\n  accessKey: ${key}\n`,
      `[weatherstack]\nregion = eu\nsecret_key = "${key}"\n`,
      `#wget "https://download.weatherstack.com/app/geoip_download?edition_id=City&license_key=${key}&suffix=tar.gz"`,
      `  const options = {\n    uri: "https://app.weatherstack.com/api/v1?",\n    qs: {\n      api_key:\n        "${key}",\n`,
      `curl https://api.weatherstack.com/current \\\n  --access-key ${key}`,
    ]) {
      expect(found(text).filter((m) => m.secret === key).map((m) => m.ruleId), text.replace(key, redact(key))).toContain('weatherstack-api-key');
    }
    for (const text of [
      // Other scanners' tables hold a name in a log sentence lines above a key as no key of it.
      `[DEBUG] weatherstack api processing\n[INFO] Sending request to the API\n[DEBUG] Using Key=${key}\n`,
      `weatherstack keyword is not close to the real token = '${key}'`,
      // Not a setting: a word before a space (an Authorization scheme), nor a setting without a credential word.
      `curl 'https://id.weatherstack.com/oauth2/validate' -H 'Authorization: OAuth ${key}'`,
      `weatherstack:\n  account: main\n  region: ${key}\n`,
      // Too far: the heading four lines up.
      `weatherstack:\n  a: 1\n  b: 2\n  c: 3\n  api_key: ${key}\n`,
    ]) {
      expect(found(text).filter((m) => m.ruleId === 'weatherstack-api-key').map((m) => redact(m.secret)), text.replace(key, redact(key))).toEqual([]);
    }
  });

  it('takes the exact shape only: no longer or shorter run, no other characters', () => {
    for (const value of [key + '1', key.slice(1), key.toUpperCase(), `${key.slice(0, 31)}_`]) {
      expect(found(`weatherstack token = '${value}'`).filter((m) => m.ruleId === 'weatherstack-api-key').map((m) => redact(m.secret))).toEqual([]);
    }
  });

  it('does not take digests, paths and ids next to the name for keys', () => {
    const hex40 = draw('0123456789abcdef', 40, 7);
    const hex64 = draw('0123456789abcdef', 64, 8);
    const id = '3f2c9a1e-8b7d-4c6e-9a0b-1d2e3f4a5b6c';
    for (const text of [
      `"todoist@^1.0.0":\n  resolved "https://registry.yarnpkg.com/todoist/-/todoist-1.0.0.tgz#${hex40}"`,
      `VirusTotal report for sha256:${hex64}`,
      `see https://www.virustotal.com/gui/file/${hex64}/detection`,
      `2024-05-18 INFO [opsgenie] request ${id} completed`,
      `Todoist release ${hex40} published`,
    ]) {
      expect(found(text).filter((m) => !rules.find((r) => r.id === m.ruleId)?.generic).map((m) => m.ruleId), text).toEqual([]);
    }
  });

  it('needs a credential word by a provider named with a common word', () => {
    const value = draw('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 32, 5);
    expect(found(`segment ${value} of the timeline`).filter((m) => m.ruleId === 'segment-write-key')).toEqual([]);
    expect(found(`analytics.segment.writeKey = "${value}"`).map((m) => m.ruleId)).toContain('segment-write-key');
  });

  it('takes no word or setting name of the key shape for a key', () => {
    expect(found('pagerduty_token: replace_with_key_now').filter((m) => m.ruleId === 'pagerduty-api-key')).toEqual([]);
    expect(found('BROWSERSTACK_USERNAME=BROWSERSTACK_ACCESS').filter((m) => m.ruleId === 'browserstack-api-key')).toEqual([]);
  });
});
