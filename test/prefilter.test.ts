import { describe, expect, it } from 'vitest';
import { loadRuleSet } from '../src/detect/rules.js';
import { DetectionEngine, planPatterns } from '../src/detect/engine.js';
import { KeywordPrefilter } from '../src/detect/prefilter.js';
import { WASM_STRIDE } from '../src/detect/lanes-wasm.js';
import { keywordAnchor, maxExtent, reachOf } from '../src/detect/extent.js';
import { fakePem, renderTemplate, seededRandom } from '../src/detect/template.js';
import { secretHash } from '../src/attribute.js';
import { redact } from '../src/redact.js';
import { isGenerated } from './support/generated-rules.js';

const { rules } = loadRuleSet();
const byId = new Map(rules.map((r) => [r.id, r]));
const seed = Date.now() % 100000;
/**
 * The rules a whole-buffer comparison runs: whole-buffer scanning costs every pattern over the
 * whole text, which for the long-tail table's generated rules (one template, hundreds of rows) is
 * many minutes; so every hand-written rule and a seeded sample of 30 generated ones
 * (test/longtail.test.ts checks each generated pattern runs only where its keyword occurs).
 */
function wholeBufferRules(rand: () => number): typeof rules {
  const generated = rules.filter((r) => isGenerated(r.id));
  const sampled = new Set(generated.filter(() => rand() < 30 / Math.max(30, generated.length)).map((r) => r.id));
  const checked = rules.filter((r) => !isGenerated(r.id) || sampled.has(r.id));
  expect(checked.length).toBeGreaterThan(rules.length - generated.length);
  expect(generated.length).toBeGreaterThan(0);
  return checked;
}

/** Filler that looks like code and logs, with none of the catalogue's keywords. */
// Built once: the automaton over every keyword of the catalogue costs more than the filler itself.
let fillerPrefilter: KeywordPrefilter | undefined;

function filler(rand: () => number, bytes: number): string {
  const words = ['request', 'served', 'in', 'ms', 'value', 'items', 'count', 'total', 'const', 'return', 'function', 'let', 'for', 'if', 'else'];
  const prefilter = (fillerPrefilter ??= new KeywordPrefilter(rules.flatMap((r) => r.keywords)));
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    let line = '';
    const w = 4 + Math.floor(rand() * 10);
    for (let i = 0; i < w; i++) line += `${words[Math.floor(rand() * words.length)]}${Math.floor(rand() * 1000)} `;
    if (prefilter.match(Buffer.from(line)).size > 0) continue;
    out.push(line.trimEnd());
    n += line.length;
  }
  return out.join('\n');
}

function summary(matches: { ruleId: string; secret: string; offset: number; line: number; column: number }[]) {
  return matches.map((m) => `${m.ruleId}@${m.offset}:${m.line}:${m.column}:${secretHash(m.secret).slice(7, 19)}`).sort();
}

describe('region-limited prefiltering', () => {
  it.each([
    ['in WebAssembly', true],
    ['in JavaScript', false],
  ])('reports every keyword ending, as a one-by-one search does, at every length and seam (%s)', (_how, wasm) => {
    const keywords = [...new Set(rules.flatMap((r) => r.keywords))];
    const prefilter = new KeywordPrefilter(keywords, { wasm });
    expect(prefilter.pass).toBe(wasm ? 'webassembly' : 'javascript');
    const rand = seededRandom(seed + 11);
    const longest = Math.max(...keywords.map((k) => k.length));
    // Lengths around the single-automaton cut-off, the four-part split (n mod 4 in 0..3),
    // several of the automata's inner blocks, and parts longer than the WebAssembly memory was
    // first laid out for; keywords planted at random and on the quarter seams.
    const lengths = [0, 1, 15 * longest, 16 * longest + 3, 4096 + 1, 65_536 + 2, 300_001, 1 << 20, 4 * WASM_STRIDE + 4 * 4096 + 3];
    for (const n of lengths) {
      const bytes = Buffer.alloc(n);
      for (let i = 0; i < n; i++) bytes[i] = 0x20 + Math.floor(rand() * 95);
      const plant = (at: number, k: string) => {
        if (at < 0 || at + k.length > n) return;
        // Mixed case: the pass folds ASCII letters.
        const text = [...k].map((c) => (rand() < 0.5 ? c.toUpperCase() : c)).join('');
        bytes.write(text, at, 'latin1');
      };
      for (let p = 0; p < n / 200; p++) plant(Math.floor(rand() * n), keywords[Math.floor(rand() * keywords.length)]!);
      const quarter = n >> 2;
      // And one that ends the buffer: in the bytes past the last quarter when n mod 4 > 0.
      const last = keywords[Math.floor(rand() * keywords.length)]!;
      plant(n - last.length, last);
      for (const seam of [quarter, 2 * quarter, 3 * quarter]) {
        const k = keywords[Math.floor(rand() * keywords.length)]!;
        plant(seam - Math.floor(k.length / 2), k);
      }
      const expected: string[] = [];
      const folded = bytes.toString('latin1').toLowerCase();
      keywords.forEach((k, index) => {
        for (let at = folded.indexOf(k); at !== -1; at = folded.indexOf(k, at + 1)) expected.push(`${index}@${at + k.length}`);
      });
      const got: string[] = [];
      const hits = prefilter.ends(new Uint8Array(bytes.buffer, bytes.byteOffset, n));
      for (let i = 0; i < hits.length; i += 2) for (const k of prefilter.keywordsEndingAt(hits[i]!)) got.push(`${k}@${hits[i + 1]}`);
      expect(got.sort(), `length ${n}`).toEqual(expected.sort());
      expect(expected.length > 0 || n < 100, `length ${n}: nothing planted`).toBe(true);
    }
  });

  it.each([
    ['in WebAssembly, after the pass', true],
    ['one by one', false],
  ])('counts the newlines before a window seam and finds the last (%s)', (_how, wasm) => {
    const keywords = [...new Set(rules.flatMap((r) => r.keywords))];
    const prefilter = new KeywordPrefilter(keywords, { wasm });
    const rand = seededRandom(seed + 23);
    for (const n of [0, 17, 5000, 300_001, (1 << 20) + 32 * 1024 + 3]) {
      const bytes = new Uint8Array(n);
      // Sparse and dense stretches, and none at all near the end of some.
      const density = rand() < 0.5 ? 0.002 : 0.05;
      for (let i = 0; i < n; i++) bytes[i] = rand() < density ? 10 : 0x61 + Math.floor(rand() * 26);
      prefilter.ends(bytes);
      for (const to of [0, 1, Math.floor(n / 3), Math.min(n, 1 << 20), n]) {
        let count = 0;
        let last = -1;
        for (let i = 0; i < to; i++) {
          if (bytes[i] === 10) {
            count++;
            last = i;
          }
        }
        expect(prefilter.newlines(bytes, to), `length ${n}, first ${to}`).toEqual([count, last]);
      }
    }
    // A buffer the pass did not read last is counted one by one, with the same result.
    const other = new Uint8Array(100_000).fill(10);
    expect(prefilter.newlines(other, 5000)).toEqual([5000, 4999]);
  });

  it('derives a finite reach for bounded patterns and Infinity for unbounded ones', () => {
    // Negative lookarounds need no room: region matches are confirmed in the whole buffer.
    expect(maxExtent('(?<![A-Za-z0-9_])(?<secret>gh[pous]_[A-Za-z0-9]{36})(?![A-Za-z0-9_])')).toBe(40);
    expect(maxExtent('(?<=auths":\\s{0,4})x(?![a-z]*@)')).toBe(7 + 4 + 1);
    expect(maxExtent('a(?:bc|d){2,3}')).toBe(7);
    expect(maxExtent('(?<tag>ab|c)x\\k<tag>')).toBe(5);
    expect(maxExtent('key\\s+(?<secret>\\w{4})')).toBe(Infinity);
    expect(maxExtent('[\\]a-z]{0,5}')).toBe(5);
    expect(maxExtent('(unclosed')).toBe(Infinity);
  });

  it('measures what a match reads before and after its start, lookarounds included', () => {
    expect(reachOf('abc')).toEqual({ behind: 0, ahead: 3 });
    expect(reachOf('(?<=xy)abc')).toEqual({ behind: 2, ahead: 3 });
    // A lookbehind reads back from where it stands, less what the match consumed before it.
    expect(reachOf('token(?<!::\\w{0,70})=(?<secret>\\w{8})')).toEqual({ behind: 72 - 'token'.length, ahead: 'token='.length + 8 });
    expect(reachOf('a?(?<=a{3})b')).toEqual({ behind: 3, ahead: 2 });
    // Assertions read the character on each side; a lookahead inside a lookbehind reads past it.
    expect(reachOf('\\bab\\b')).toEqual({ behind: 1, ahead: 3 });
    expect(reachOf('(?<=a(?=bcd))b')).toEqual({ behind: 1, ahead: 3 });
    expect(reachOf('ab(?=c{5})')).toEqual({ behind: 0, ahead: 7 });
    expect(reachOf('(?<tag>ab|c)x\\k<tag>')).toEqual({ behind: 0, ahead: 5 });
    expect(reachOf('x+')).toEqual({ behind: 0, ahead: Infinity });
    expect(reachOf('(unclosed')).toEqual({ behind: Infinity, ahead: Infinity });
    // Never more than the symmetric bound, for any pattern in the catalogue.
    for (const rule of rules) {
      for (const p of rule.patterns) {
        const strict = maxExtent(p.regex, { negative: true });
        const reach = reachOf(p.regex);
        expect(Math.max(reach.behind, reach.ahead), `${rule.id}`).toBeLessThanOrEqual(strict);
      }
    }
  });

  it('cuts short texts by what a pattern reads on each side (a lookbehind reaching back to the cut)', () => {
    // generic-api-key rejects a keyword within 70 word characters after "::"; here that context
    // starts 60 to 75 characters before the keyword, on both sides of where a cut text begins.
    const rand = seededRandom(seed + 5);
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      const word = renderTemplate(`{{alnum:${55 + (i % 21)}}}`, rand).text;
      const value = renderTemplate('{{alnum:12}}{{digits:8}}', rand).text;
      lines.push(`${filler(rand, 40)} Some::${word}_token = ${value};`);
    }
    const bytes = Buffer.from(lines.join('\n'), 'latin1');
    const found = summary(new DetectionEngine(rules).scan(bytes));
    const expected = summary(new DetectionEngine(rules, { regions: false }).scan(bytes));
    expect(found).toEqual(expected);
  });

  it('pins patterns to their keywords: how far before a keyword a match starts, what must follow it', () => {
    expect(keywordAnchor('(?<![A-Za-z0-9_])(?<secret>gh[pous]_[A-Za-z0-9]{36})', ['ghp_', 'gho_', 'ghu_', 'ghs_'])).toMatchObject({ lead: 0, caret: false });
    // A bounded prefix before the keyword; ':' and '@' must follow it within the bounds.
    const url = keywordAnchor('(?<![a-z])[a-z]{1,20}://[a-z]{1,100}:(?<secret>[a-z]{6,200})@[a-z]+', ['://']);
    expect(url).toMatchObject({ lead: 20, keywords: ['://'] });
    expect(url!.follow).toEqual([{ chars: ':', within: 101 }, { chars: '@', within: 302 }]);
    expect(keywordAnchor('^[ \t]{0,4}https?://(?<secret>x+)', ['http://', 'https://'])).toMatchObject({ lead: 4, caret: true });
    // The keyword is context, not part of the match: nothing to pin (the pattern runs on the whole buffer).
    expect(keywordAnchor('(?<secret>AC[0-9a-f]{32})', ['twilio'])).toBeNull();
    // Spelled out, but only after an unbounded part: regions, not anchored starts.
    expect(keywordAnchor('\\w+token=(?<secret>\\w{8})', ['token'])!.lead).toBe(Infinity);
    // Too many spellings before the keyword to list (3 × 3 × 4 × 3 here): their last characters
    // are enough to find it, and the lead still counts the longest prefix.
    const many = keywordAnchor('(?:primary|secondary|storage)[_-]?(?:account[_-]?)?access[_-]?key=(?<secret>x+)', ['accesskey', 'access_key', 'access-key', 'account key']);
    expect(many).toMatchObject({ lead: 'secondary_account_'.length, caret: false });
    expect([...many!.keywords].sort()).toEqual(['access-key', 'access_key', 'accesskey']);
    // Here the keyword starts inside the listed spellings: their ends that begin a keyword remain.
    const clientIds = ['client_id', 'clientid', 'client-id', 'client.id'];
    const clientId = keywordAnchor('(?:azure|arm|entra|aad)?[_\\-.]?client[_\\-.]?id=(?<secret>x+)', clientIds);
    expect(clientId).toMatchObject({ lead: 'azure_'.length });
    expect([...clientId!.keywords].sort()).toEqual([...clientIds].sort());
    // Negative lookarounds count when they hold an assertion or another negative one.
    expect(maxExtent('a(?!bc)', { negative: 'assertions' })).toBe(1);
    expect(maxExtent('a(?!b$)', { negative: 'assertions' })).toBe(3);
    expect(maxExtent('a(?!b(?!c))', { negative: 'assertions' })).toBe(3);
    expect(maxExtent('a(?!b[a-z]*)', { negative: true })).toBe(Infinity);
  });

  it('gives the same results as whole-buffer scanning on keyword-dense text (segments, local texts, seams)', () => {
    const rand = seededRandom(seed + 4);
    const checked = wholeBufferRules(rand);
    const keywords = [...new Set(checked.flatMap((r) => r.keywords))];
    const examples = checked.flatMap((r) => [...r.examples.positive, ...r.examples.negative]);
    const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!;
    const punctuation = [':', '=', '@', '"', "'", '/', ' ', '\n', '\t', '-', '_', '.', ':=', '=>', '://', '\r\n', '{', ',', ';', '$'];
    const parts: string[] = [];
    for (let n = 0; n < 400_000; ) {
      const x = rand();
      let part: string;
      if (x < 0.25) part = rand() < 0.5 ? pick(keywords) : pick(keywords).toUpperCase();
      else if (x < 0.5) part = pick(punctuation);
      else if (x < 0.82) part = renderTemplate(`{{alnum:${1 + Math.floor(rand() * 60)}}}`, rand).text;
      else part = renderTemplate(pick(examples), rand).text;
      parts.push(part);
      n += part.length;
    }
    const bytes = Buffer.from(parts.join(''), 'latin1');
    const found = summary(new DetectionEngine(checked).scan(bytes));
    const expected = summary(new DetectionEngine(checked, { regions: false }).scan(bytes));
    expect(expected.length).toBeGreaterThan(100);
    expect(found).toEqual(expected);
  });

  it('finds the same secrets as whole-buffer scanning in a large buffer, running far less regex', () => {
    const rand = seededRandom(seed);
    const token = renderTemplate('ghp_{{alnum:36}}', rand).text;
    const aws = renderTemplate('AKIA{{base32:16}}', rand).text;
    const pem = fakePem(rand, 'RSA PRIVATE KEY', 12);
    const text = `${filler(rand, 300_000)}\nauth token=${token}\n${filler(rand, 300_000)}\nid=${aws}\n${filler(rand, 300_000)}\n${pem}\n${filler(rand, 100_000)}`;
    const bytes = Buffer.from(text, 'latin1');
    const regional = new DetectionEngine(rules);
    const whole = new DetectionEngine(rules, { regions: false });
    const a = regional.scan(bytes);
    const b = whole.scan(bytes);
    expect(summary(a)).toEqual(summary(b));
    expect([...new Set(a.map((m) => secretHash(m.secret)))].sort()).toEqual([token, aws, pem].map(secretHash).sort());
    expect(regional.stats.regexChars).toBeLessThan(whole.stats.regexChars / 20);
  });

  it('runs a pattern no keyword pins at words of its keywords, and only where a keyword occurs', () => {
    const rand = seededRandom(seed + 5);
    // "twine upload" is the keyword, but a match may hold "twine<TAB><TAB>upload": no keyword anchor.
    const rule = {
      ...byId.get('pypirc-password')!,
      id: 'test-twine',
      keywords: ['twine upload'],
      patterns: [{ regex: 'twine[ \\t]{1,4}upload[^\\n]{0,40}?[ \\t]-p[ \\t]{1,4}(?<secret>[A-Za-z0-9]{16,40})', flags: '' }],
      entropy: null,
      allow: [],
    };
    const [[plan]] = planPatterns([rule]);
    expect(plan!.anchor).toBeNull();
    expect(plan!.needle?.keywords).toEqual(['upload']);
    const secret = renderTemplate('{{alnum:24}}', rand).text;
    const command = `RUN twine\t\tupload dist/* -p ${secret}\n`;
    const mention = 'docs: run twine upload to publish\n';
    const withKeyword = Buffer.from(`${filler(rand, 40_000)}\n${command}${filler(rand, 40_000)}\n${mention}${filler(rand, 40_000)}`, 'latin1');
    const regional = new DetectionEngine([rule]);
    const whole = new DetectionEngine([rule], { regions: false });
    const found = regional.scan(withKeyword);
    expect(summary(found)).toEqual(summary(whole.scan(withKeyword)));
    expect(found.map((m) => secretHash(m.secret))).toEqual([secretHash(secret)]);
    expect(regional.stats.regexChars).toBeLessThan(whole.stats.regexChars / 100);
    // Without the keyword itself the rule does not run, whether the buffer is whole or not.
    const withoutKeyword = Buffer.from(`${filler(rand, 40_000)}\n${command}${filler(rand, 40_000)}`, 'latin1');
    expect(regional.scan(withoutKeyword)).toEqual([]);
    expect(whole.scan(withoutKeyword)).toEqual([]);
  });

  it('files without a keyword cost one prefilter pass and no regex', () => {
    const engine = new DetectionEngine(rules);
    expect(engine.scan(Buffer.from(filler(seededRandom(seed + 1), 200_000), 'latin1'))).toEqual([]);
    expect(engine.stats.regexRuns).toBe(0);
  });

  it('context rules still see a keyword far from the secret (within the rule reach)', () => {
    const rand = seededRandom(seed + 2);
    const auth = Buffer.from(`ci:${renderTemplate('{{alnum:20}}', rand).text}`).toString('base64');
    // docker-config-auth: "auths" opens the object, the "auth" value comes ~2000 characters later.
    const padding = Array.from({ length: 40 }, (_, i) => `"registry-${i}.example.com": {"email": "ci@example.com"},`).join('\n    ');
    const json = `{\n  "auths": {\n    ${padding}\n    "ghcr.io": {"auth": "${auth}"}\n  }\n}\n`;
    const text = `${filler(rand, 200_000)}\n${json}${filler(rand, 200_000)}`;
    const bytes = Buffer.from(text, 'latin1');
    expect(json.indexOf(auth) - json.indexOf('"auths"')).toBeGreaterThan(1500);
    const found = new DetectionEngine(rules).scan(bytes);
    const expected = new DetectionEngine(rules, { regions: false }).scan(bytes);
    expect(summary(found)).toEqual(summary(expected));
    expect(found.some((m) => m.ruleId === 'docker-config-auth' && secretHash(m.secret) === secretHash(auth)), `expected ${redact(auth)}`).toBe(true);
  });

  it('gives the same results as whole-buffer scanning on every positive example, scattered in filler', () => {
    const rand = seededRandom(seed + 3);
    const parts: string[] = [];
    const checked = wholeBufferRules(rand);
    for (const rule of checked) {
      for (const template of rule.examples.positive) {
        parts.push(filler(rand, 200 + Math.floor(rand() * 2000)));
        parts.push(renderTemplate(template, rand).text);
      }
    }
    const bytes = Buffer.from(parts.join('\n'), 'latin1');
    const regional = new DetectionEngine(checked);
    const whole = new DetectionEngine(checked, { regions: false });
    const a = summary(regional.scan(bytes));
    const b = summary(whole.scan(bytes));
    // Compare rule and position only: a failure must not print secrets (hash prefixes are fine).
    expect(a).toEqual(b);
    expect(regional.stats.regexChars).toBeLessThan(whole.stats.regexChars);
    expect(byId.size).toBe(rules.length);
    // Grows with the catalogue's examples: a generous bound for a loaded CI machine.
  }, 360_000);
});
