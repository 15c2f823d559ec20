import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { keywordAnchor, literalStarts, maxExtent, parseRegex, reachOf, type KeywordAnchor } from '../src/detect/extent.js';

/**
 * The pattern analyses read a pattern as JavaScript does (regexpp's tree, the flags' rules), and
 * their bounds hold for what the real RegExp matches: checked case by case, then on random
 * patterns from a small grammar against random texts.
 */

/** The longest match `source` finds at any start of `text`. */
function longestMatch(source: string, flags: string, text: string): number {
  const sticky = new RegExp(source, flags + 'y');
  let longest = -1;
  for (let i = 0; i <= text.length; i++) {
    sticky.lastIndex = i;
    const m = sticky.exec(text);
    if (m) longest = Math.max(longest, m[0].length);
  }
  return longest;
}

describe('pattern analyses on the ECMAScript grammar', () => {
  it('reads [^] as any character and [] as a class that matches nothing', () => {
    // PCRE would read `[^]a]` as one class; JavaScript reads [^] (any character), a and ].
    expect(longestMatch('[^]a]', '', 'xa]')).toBe(3);
    expect(maxExtent('[^]a]')).toBe(3);
    expect(reachOf('[^]a]')).toEqual({ behind: 0, ahead: 3 });
    expect(maxExtent('[^]{2,4}')).toBe(4);
    // [] never matches: any width is safe; what follows it still counts.
    expect(longestMatch('[]a]', '', '[]a]]a]')).toBe(-1);
    expect(maxExtent('[]a]')).toBe(3);
    expect(maxExtent('x|[]')).toBe(1);
    // An empty class gives no strings to pin a keyword to.
    expect(keywordAnchor('[]token', ['token'])).toMatchObject({ lead: 1, keywords: ['token'] });
    // `]` alone is an error under u and v: the pattern is not understood, the answer the safe one.
    expect(parseRegex('[]a]', 'u').ast).toBeNull();
    expect(maxExtent(parseRegex('[]a]', 'u'))).toBe(Infinity);
    expect(reachOf(parseRegex('[]a]', 'v'))).toEqual({ behind: Infinity, ahead: Infinity });
    expect(keywordAnchor(parseRegex('token[]a]', 'u'), ['token'])).toBeNull();
  });

  it('reads classes holding ], escapes and ranges', () => {
    expect(maxExtent('[\\]]')).toBe(1);
    expect(maxExtent('[^\\]]{3}')).toBe(3);
    expect(maxExtent('[\\]a-z]{0,5}')).toBe(5);
    expect(maxExtent('[\\d\\s\\w-]{2}x')).toBe(3);
    // [\b] is a backspace inside a class, an assertion (reading both sides) outside.
    expect(longestMatch('[\\b]', '', 'a\bb')).toBe(1);
    expect(maxExtent('[\\b]')).toBe(1);
    expect(maxExtent('\\b')).toBe(2);
    expect(keywordAnchor('x[\\b]token', ['token'])).toMatchObject({ lead: 2 });
    // Listed classes pin keywords: an escaped ] and a tiny range spell them out.
    expect(keywordAnchor('[\\]][a-c]=(?<secret>x+)', [']a=', ']b=', ']c='])).toMatchObject({ lead: 0 });
    expect(keywordAnchor('[\\x41][\\u0042]c', ['abc'])).toMatchObject({ lead: 0, keywords: ['abc'] });
    // Classes from escapes or too wide are not listed: the keyword after them is found, later.
    expect(keywordAnchor('[\\d]token', ['token'])).toMatchObject({ lead: 1 });
    expect(keywordAnchor('[a-z]token', ['atoken'])).toBeNull();
  });

  it('follows the flags: \\p{…} is a property only under u or v, where a character can take two units', () => {
    expect(longestMatch('\\p{L}', '', 'p{L}')).toBe(4);
    expect(maxExtent('\\p{L}')).toBe(4);
    expect(longestMatch('\\p{L}', 'u', '\u{10400}')).toBe(2);
    expect(maxExtent(parseRegex('\\p{L}', 'u'))).toBe(2);
    // Any character, or the complement of a class, can be astral under u: two UTF-16 units.
    expect(longestMatch('.[^a]', 'u', '😀😀')).toBe(4);
    expect(maxExtent(parseRegex('.[^a]', 'u'))).toBe(4);
    expect(maxExtent(parseRegex('.[^a]', ''))).toBe(2);
    expect(maxExtent(parseRegex('[a-c\\d\\w]', 'u'))).toBe(1);
    expect(maxExtent(parseRegex('\\u{1F600}', 'u'))).toBe(2);
    expect(reachOf(parseRegex('(?<=.)a', 'u'))).toEqual({ behind: 2, ahead: 1 });
    // Annex B without u: {,5} is text, a \x without hex digits is an x, \1 without a group is \x01.
    expect(maxExtent('a{,5}')).toBe(5);
    expect(maxExtent('\\x4')).toBe(2);
    expect(longestMatch('\\1', '', '\x01')).toBe(1);
    expect(maxExtent('\\1')).toBe(1);
    expect(parseRegex('a', 'uv').ast).toBeNull();
  });

  it('reads v-flag classes: strings, nested classes, subtraction and intersection', () => {
    const v = (source: string) => parseRegex(source, 'v');
    expect(longestMatch('[\\q{abc|de}]x', 'v', 'abcx dex')).toBe(4);
    expect(maxExtent(v('[\\q{abc|de}]x'))).toBe(4);
    expect(reachOf(v('[\\q{abc|de}]x'))).toEqual({ behind: 0, ahead: 4 });
    expect(maxExtent(v('[[a-z][\\q{abcd}]]'))).toBe(4);
    expect(maxExtent(v('[\\q{abc}--\\q{ab}]'))).toBe(3);
    // What both sides hold is no longer than the shorter side: here only the single characters.
    expect(longestMatch('[[a-z]&&\\q{abc|d}]', 'v', 'abcd')).toBe(1);
    expect(maxExtent(v('[[a-z]&&\\q{abc|d}]'))).toBe(1);
    // An empty string alternative: the lookbehind may read nothing or two characters back.
    expect(longestMatch('(?<=[\\q{|ab}])c', 'v', 'abc')).toBe(1);
    expect(reachOf(v('(?<=[\\q{|ab}])c'))).toEqual({ behind: 2, ahead: 1 });
    // Strings spell keywords out; set operations keep a superset, which is as good.
    expect(keywordAnchor(v('[\\q{token|key}]=x'), ['token', 'key'])).toMatchObject({ lead: 0, follow: [{ chars: '=', within: 1 }] });
    expect(keywordAnchor(v('[\\q{token|key}--\\q{key}]=x'), ['token'])).toBeNull();
    expect(keywordAnchor(v('[\\q{token|tokens}--\\q{tokens}]=x'), ['token'])).toMatchObject({ lead: 0 });
    expect(keywordAnchor(v('[\\q{atoken|btoken}&&[\\w\\q{atoken}]]'), ['token'])).toMatchObject({ lead: 1 });
    // A property of strings (emoji sequences) has no length known here: unbounded.
    expect(maxExtent(v('\\p{RGI_Emoji}'))).toBe(Infinity);
  });

  it('bounds backreferences by their group, and counts unbounded what is not closed yet', () => {
    expect(maxExtent('(?<tag>ab|c)x\\k<tag>')).toBe(5);
    expect(maxExtent('(ab)(c)\\2\\1')).toBe(6);
    expect(reachOf('(ab)\\1')).toEqual({ behind: 0, ahead: 4 });
    // A forward reference or one inside its own group matches nothing in JavaScript; counted
    // unbounded, which is safe.
    expect(longestMatch('\\k<t>(?<t>ab)', '', 'abab')).toBe(2);
    expect(maxExtent('\\k<t>(?<t>ab)')).toBe(Infinity);
    expect(maxExtent('(a\\1)')).toBe(Infinity);
    // Without named groups, \k is a k (Annex B).
    expect(maxExtent('\\k<n>')).toBe(4);
    // Duplicate names in separate alternatives (ES2025): the longest of the groups.
    expect(maxExtent('(?:(?<a>x)|(?<a>yyy))\\k<a>')).toBe(6);
    // A keyword inside a group is still spelled out; the reference adds no strings.
    expect(keywordAnchor('(?<q>["\'])token\\k<q>=x', ['token'])).toMatchObject({ lead: 1 });
  });

  it('measures lookbehinds: how far back they read, and what they read past where they stand', () => {
    expect(reachOf('(?<=ab)c')).toEqual({ behind: 2, ahead: 1 });
    expect(reachOf('(?<!x{3})y')).toEqual({ behind: 3, ahead: 1 });
    expect(reachOf('(?<=a+)b')).toEqual({ behind: Infinity, ahead: 1 });
    expect(reachOf('(?<=(?<=ab)c)d')).toEqual({ behind: 3, ahead: 1 });
    expect(reachOf('(?<=a\\b)c')).toEqual({ behind: 1, ahead: 1 });
    expect(reachOf('ab(?<=b(?=cd))')).toEqual({ behind: 0, ahead: 4 });
    expect(maxExtent('(?<=ab)c')).toBe(3);
    expect(maxExtent('(?<!ab)c')).toBe(1);
    expect(maxExtent('(?<!ab)c', { negative: true })).toBe(3);
    // A lookbehind consumes nothing: no keyword is pinned to it.
    expect(keywordAnchor('(?<=token)=x', ['token'])).toBeNull();
  });

  it('counts in full only the negative lookarounds that hold an assertion', () => {
    // The first holds a negative lookaround (it could fail on cut text): all it reads counts. The
    // second holds none and can only pass more often on cut text: nothing, unbounded as it is.
    const shaped = '(?![a-z]{3}(?![a-z]))x(?!y+z)';
    expect(maxExtent(shaped, { negative: 'assertions' })).toBe(5);
    expect(maxExtent(shaped, { negative: true })).toBe(Infinity);
    expect(maxExtent(shaped)).toBe(1);
    // Nested: the outer one holds an assertion, so the inner one's text counts in full too.
    expect(maxExtent('a(?!b(?!c+)\\b)', { negative: 'assertions' })).toBe(Infinity);
    expect(maxExtent('a(?!b(?!c{2})$)', { negative: 'assertions' })).toBe(5);
  });

  it('requires a digit after a keyword when a class too wide for the string sets must follow it', () => {
    const digits = [{ chars: '0123456789', within: 1 }];
    // The Mailchimp shape: "-us" is followed by the data centre's number.
    expect(keywordAnchor('(?<secret>[0-9a-f]{32}-us[0-9]{1,2})', ['-us'])).toMatchObject({ lead: 32, follow: digits });
    expect(keywordAnchor('key\\d', ['key'])).toMatchObject({ follow: digits });
    expect(keywordAnchor('key[ ]?[0-9]', ['key'])).toMatchObject({ follow: [{ chars: '0123456789', within: 2 }] });
    // Optional, negated, with letters (which the check would need in both cases), or too wide: nothing.
    for (const pattern of ['key[^0-9]', 'key[0-9a-f]', 'key\\D', 'key[!-@]']) expect(keywordAnchor(pattern, ['key'])?.follow).toEqual([]);
    expect(keywordAnchor('key[0-9]?=', ['key'])?.follow).toEqual([{ chars: '=', within: 2 }]);
  });

  it('settles strings that already hold a keyword when optional parts multiply them', () => {
    const keywords = ['facebook', 'fb_', 'fb-', 'fb.', 'fbapi', 'fbapp', 'fbclient', 'fbkey', 'fbsecret'];
    const pattern = '(?:facebook|(?<![a-z])fb)[_\\-.]?(?:api|app|application|client)?[_\\-.]?(?:key|secret)=(?<secret>[a-f0-9]{8})';
    const anchor = keywordAnchor(pattern, keywords);
    expect(anchor).toMatchObject({ lead: 0, follow: [] });
    expect(new Set(anchor!.keywords)).toEqual(new Set(keywords));
    // One spelling no keyword covers (fbkeys is fine, "fb" + "key" is not listed): no anchor.
    expect(keywordAnchor(pattern, keywords.filter((k) => k !== 'fbkey'))).toBeNull();
    // A keyword further in: at least the largest lead of the strings settled (characters dropped
    // to keep the run small count at their most).
    const further = keywordAnchor('(?:x|yy)[ab]?[cd]?[ef]?[gh]?[ij]?(?:token|tok)', ['token', 'xa', 'tok']);
    expect(further!.lead).toBeGreaterThanOrEqual(7);
    expect(further!.lead).toBeLessThan(10);
  });

  it('lists the exact text every match starts with, or nothing', () => {
    expect(literalStarts('(?<![A-Za-z0-9_])(?<secret>SK[0-9a-f]{32})', '')).toEqual(['SK']);
    expect(literalStarts('(?:ab(?=c)c)d|xy+', 'm')).toEqual(['abcd', 'x']);
    // Case is the point: under i (or an i modifier) there is nothing exact to check.
    expect(literalStarts('SK[0-9a-f]{32}', 'i')).toBeNull();
    expect(literalStarts('(?i:SK)[0-9a-f]{32}', '')).toBeNull();
    // An alternative that starts with a class, a quantifier or a group of alternatives: unknown.
    expect(literalStarts('ab|[cd]e', '')).toBeNull();
    expect(literalStarts('a?b', '')).toBeNull();
    expect(literalStarts('(?:a|b)c', '')).toBeNull();
    // Every match of the pattern starts with one of them.
    const source = '(?<!x)(?:t(?:o)k)en[0-9]{2}|k(?:e)y';
    const starts = literalStarts(source, '')!;
    for (const m of 'token12 key tok xtoken34 token5'.matchAll(new RegExp(source, 'g'))) expect(starts.some((s) => m[0].startsWith(s))).toBe(true);
  });

  it('claims ^ only for the flags the engine goes by', () => {
    expect(keywordAnchor('^token', ['token'])).toMatchObject({ caret: true });
    expect(keywordAnchor('(?:^token|^key)', ['token', 'key'])).toMatchObject({ caret: true });
    expect(keywordAnchor('(?:^)?token', ['token'])).toMatchObject({ caret: false });
    // (?m:^) is not the ^ of the pattern's flags (modifiers, ES2025; parsed even where Node has none).
    expect(keywordAnchor('(?m:^token)', ['token'])).toMatchObject({ caret: false });
    expect(keywordAnchor('(?i:^token)', ['token'])).toMatchObject({ caret: true });
  });
});

// ---- Random patterns against the real RegExp ----

const SEED = 19_019;
const KEYWORD_SETS = [['ab'], ['b-'], ['ab', 'xa'], ['a']];
// Texts are made of the grammar's own pieces, so that patterns often match, and fail late.
const TEXT_PIECES = ['a', 'b', 'A', 'x', '-', ' ', '\n', ']', '😀', 'ab', 'xa', 'b-', 'bb', 'aab'];
const LINE_TERMINATORS = new Set(['\n', '\r', '\u2028', '\u2029']);

/** Patterns from a small grammar: characters, classes, assertions, groups, references, quantifiers. */
const patternArbitrary = fc.letrec<{ alt: string; seq: string; item: string; atom: string }>((tie) => ({
  alt: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('seq'), fc.tuple(tie('seq'), tie('seq')).map(([a, b]) => `${a}|${b}`)),
  seq: fc.array(tie('item'), { minLength: 1, maxLength: 4 }).map((items) => items.join('')),
  item: fc.oneof(
    { depthSize: 'small' },
    { arbitrary: tie('atom'), weight: 4 },
    // Unbounded repetition only of single characters: nested ones could backtrack for long.
    fc.tuple(fc.constantFrom('a', 'b', '.', '[ab]', '[^a]'), fc.constantFrom('*', '+', '*?')).map(([a, q]) => a + q),
    fc.tuple(tie('atom'), fc.constantFrom('?', '{2}', '{0,2}', '{1,2}?', '??')).map(([a, q]) => a + q),
    fc.constantFrom('^', '$', '\\b', '\\B'),
    fc.tuple(fc.constantFrom('(?=', '(?!', '(?<=', '(?<!'), tie('alt')).map(([open, body]) => `${open}${body})`),
  ),
  atom: fc.oneof(
    { depthSize: 'small' },
    { arbitrary: fc.constantFrom('a', 'b', 'x', 'ab', 'xa', '-', '\\]', '.', '[^]', '[]', '[ab]', '[^a]', '[\\]a]', '\\w', '\\W', '\\s', '[\\b]', '😀', '\\p{L}'), weight: 5 },
    fc.constantFrom('[\\q{ab|x}]', '[[a-z]--[b]]', '[\\q{ab|b-}&&\\q{ab}]'), // v only: other flags reject them
    fc.constantFrom('\\1', '\\k<n>', '\\2'),
    fc.tuple(fc.constantFrom('(', '(?:', '(?<n>'), tie('alt')).map(([open, body]) => `${open}${body})`),
  ),
}));

const valid = ([source, flags]: [string, string]) => {
  try {
    new RegExp(source, flags);
    return true;
  } catch {
    return false;
  }
};
// Half the patterns spell a keyword out between random parts: those have anchors to check.
const keyedArbitrary = fc
  .tuple(fc.array(patternArbitrary.item, { maxLength: 2 }), fc.constantFrom('ab', 'xa', 'b-', '[aA]b', 'a(?:b)', '(a)b', 'x[a]', '[\\q{ab}]', '(?:ab|xa)'), fc.array(patternArbitrary.item, { maxLength: 2 }))
  .map(([before, keyword, after]) => before.join('') + keyword + after.join(''));
const caseArbitrary = fc
  .tuple(fc.oneof(patternArbitrary.alt, keyedArbitrary), fc.constantFrom('', 'i', 'm', 's', 'u', 'v', 'iu', 'mv'))
  .filter(valid)
  .chain(([source, flags]) =>
    fc.record({
      source: fc.constant(source),
      flags: fc.constant(flags),
      keywords: fc.constantFrom(...KEYWORD_SETS),
      texts: fc.array(
        fc.array(fc.constantFrom(...TEXT_PIECES), { maxLength: 10 }).map((pieces) => pieces.join('')),
        { minLength: 1, maxLength: 4 },
      ),
    }),
  );

/** Code-unit starts that are not inside a surrogate pair. */
function starts(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i <= text.length; i++) {
    const unit = text.charCodeAt(i);
    if (i < text.length && unit >= 0xdc00 && unit <= 0xdfff) continue;
    out.push(i);
  }
  return out;
}

/** The match at `start` of `text` cut to [from, to), as (length) or null. */
function matchAt(regex: RegExp, text: string, start: number, from = 0, to = text.length): number | null {
  const lo = Math.max(0, from);
  regex.lastIndex = start - lo;
  const m = regex.exec(text.slice(lo, Math.min(text.length, to)));
  return m === null ? null : m[0].length;
}

/** Whether the match [start, start + length) holds a keyword as `anchor` says, with what must follow it. */
function anchorHolds(anchor: KeywordAnchor, text: string, start: number, length: number): boolean {
  const folded = text.toLowerCase();
  for (const k of anchor.keywords) {
    for (let j = start; j <= start + Math.min(anchor.lead, length); j++) {
      if (!folded.startsWith(k, j) || j + k.length > start + length) continue;
      const end = j + k.length;
      if (anchor.follow.every((f) => [...text.slice(end, end + f.within)].some((c) => f.chars.includes(c)))) return true;
    }
  }
  return false;
}

describe('pattern analyses hold for what RegExp matches (random patterns and texts)', () => {
  it('no match is longer than maxExtent; cut texts of the stated reach give the same matches; anchors hold', () => {
    const seen = { matches: 0, anchoredMatches: 0, leadMatches: 0 };
    fc.assert(
      fc.property(caseArbitrary, ({ source, flags, keywords, texts }) => {
        const parsed = parseRegex(source, flags);
        if (parsed.ast === null) {
          // V8 accepts some patterns the specification does not (Node 24: a group name used twice
          // in one alternative): unreadable for the analyses, which then claim nothing.
          expect(maxExtent(parsed), `${source} /${flags}`).toBe(Infinity);
          expect(keywordAnchor(parsed, keywords)).toBeNull();
          return;
        }
        const sticky = new RegExp(source, flags + 'y');
        const anchor = keywordAnchor(parsed, keywords);
        const bounds = { extent: maxExtent(parsed), margin: maxExtent(parsed, { negative: 'assertions' }), strict: maxExtent(parsed, { negative: true }), reach: reachOf(parsed) };
        const literal = literalStarts(parsed, flags);
        for (const text of texts) {
          for (const i of starts(text)) {
            checkStart(sticky, text, i, bounds, anchor, seen);
            // Every match starts with one of the literal starts, exactly.
            if (literal !== null && matchAt(sticky, text, i) !== null) expect(literal.some((l) => text.startsWith(l, i)), `literal at ${i}: /${source}/${flags} on ${JSON.stringify(text)}`).toBe(true);
          }
        }
      }),
      { seed: SEED, numRuns: 2500 },
    );
    // The grammar must reach the interesting cases, or the property says little.
    expect(seen.matches).toBeGreaterThan(5000);
    expect(seen.anchoredMatches).toBeGreaterThan(400);
    expect(seen.leadMatches).toBeGreaterThan(100);
  });
});

/** The analyses' claims about the match at `start` (or its absence), checked against the real RegExp. */
function checkStart(
  sticky: RegExp,
  text: string,
  start: number,
  bounds: { extent: number; margin: number; strict: number; reach: { behind: number; ahead: number } },
  anchor: KeywordAnchor | null,
  seen: { matches: number; anchoredMatches: number; leadMatches: number },
): void {
  const where = `at ${start}: ${String(sticky)} on ${JSON.stringify(text)}`;
  const whole = matchAt(sticky, text, start);
  // Both sides of a start: what a match examines, every lookaround counted.
  expect(matchAt(sticky, text, start, start - bounds.reach.behind, start + bounds.reach.ahead), `reach ${where}`).toBe(whole);
  expect(matchAt(sticky, text, start, start - bounds.strict, start + bounds.strict), `strict ${where}`).toBe(whole);
  if (whole === null) return;
  seen.matches++;
  expect(whole, `extent ${where}`).toBeLessThanOrEqual(bounds.extent);
  // Negative lookarounds pass more often on cut text: a match may differ there, never vanish.
  expect(matchAt(sticky, text, start, start - bounds.margin, start + bounds.margin), `margin ${where}`).not.toBeNull();
  if (anchor === null) return;
  seen.anchoredMatches++;
  if (anchor.lead > 0) seen.leadMatches++;
  expect(anchorHolds(anchor, text, start, whole), `anchor ${where}`).toBe(true);
  if (anchor.caret) expect(start === 0 || (sticky.multiline && LINE_TERMINATORS.has(text[start - 1]!)), `caret ${where}`).toBe(true);
}
