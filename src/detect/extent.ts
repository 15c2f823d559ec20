import type { AST, RegExpParser } from '@eslint-community/regexpp';
import { regexpp } from '../lazy.js';

/**
 * What the engine knows about a pattern's shape: how far a match reaches (maxExtent, reachOf) and
 * where it is pinned to its rule's keywords (keywordAnchor). All three walk one syntax tree from
 * regexpp, parsed with ECMAScript's rules for the pattern's flags (Annex B without u or v), so
 * they read a pattern exactly as `new RegExp(source, flags)` does.
 *
 * Lengths are in UTF-16 code units, the units of the strings the engine cuts. Under the u or v
 * flag one character can be two of them (outside the Basic Multilingual Plane): every set that
 * can match such a character counts 2. The engine's texts are latin1 (one unit per byte), where
 * that only makes a window a little larger than needed, never too small.
 */

/** A pattern parsed once for the analyses below; `ast` is null when it does not parse. */
export interface ParsedRegex {
  readonly ast: AST.Pattern | null;
  /** Under u or v: a character can take two code units. */
  readonly unicode: boolean;
}

// Loaded on first use: a scan with the compiled catalogue's plans parses no pattern.
let parser: RegExpParser | null = null;

/** Parses a pattern with its flags; a pattern or flags that do not parse give `ast: null`. */
export function parseRegex(source: string, flags = ''): ParsedRegex {
  parser ??= new (regexpp().RegExpParser)();
  try {
    const parsed = parser.parseFlags(flags);
    const unicode = parsed.unicode || parsed.unicodeSets;
    return { ast: parser.parsePattern(source, 0, source.length, { unicode: parsed.unicode, unicodeSets: parsed.unicodeSets }), unicode };
  } catch {
    return { ast: null, unicode: false };
  }
}

const parsedOf = (pattern: string | ParsedRegex): ParsedRegex => (typeof pattern === 'string' ? parseRegex(pattern) : pattern);

/** A node that matches one character, or under the v flag one of a set of strings. */
type CharacterNode = AST.Character | AST.CharacterSet | AST.CharacterClass | AST.ExpressionCharacterClass;
type ClassNode = CharacterNode | AST.CharacterClassRange | AST.ClassStringDisjunction | AST.StringAlternative | AST.ClassIntersection | AST.ClassSubtraction;

/** Fewest and most code units a character node consumes. */
interface Width {
  min: number;
  max: number;
}

const ONE_UNIT: Width = { min: 1, max: 1 };
const units = (codePoint: number): number => (codePoint > 0xffff ? 2 : 1);

/**
 * The width of what a character node matches. A class that matches nothing (`[]`) counts as one
 * character: it never matches, so any width is safe.
 */
function widthOf(node: ClassNode, unicode: boolean): Width {
  // Without u or v every character is one unit, and there are no strings.
  if (!unicode) return ONE_UNIT;
  // What may match any character: two units when astral characters are possible.
  const any: Width = { min: 1, max: 2 };
  switch (node.type) {
    case 'Character':
      return { min: units(node.value), max: units(node.value) };
    case 'CharacterClassRange':
      return { min: units(node.min.value), max: units(node.max.value) };
    case 'CharacterSet':
      if (node.kind === 'property' && node.strings) return { min: 1, max: Infinity }; // \p{RGI_Emoji} and such
      // \d \s \w are in the BMP (so are the characters \w adds under i and u); their complements are not.
      return node.kind === 'any' || node.kind === 'property' || node.negate ? any : ONE_UNIT;
    case 'CharacterClass': {
      if (node.negate) return any; // never holds strings
      if (node.elements.length === 0) return ONE_UNIT;
      return spanOf(node.elements.map((e) => widthOf(e, unicode)));
    }
    case 'ExpressionCharacterClass':
      return node.negate ? any : widthOf(node.expression, unicode);
    case 'ClassIntersection': {
      // A string in both sets is no longer than the shorter bound.
      const left = widthOf(node.left, unicode);
      const right = widthOf(node.right, unicode);
      return { min: Math.min(left.min, right.min), max: Math.min(left.max, right.max) };
    }
    case 'ClassSubtraction':
      return widthOf(node.left, unicode);
    case 'ClassStringDisjunction':
      return spanOf(node.alternatives.map((a) => widthOf(a, unicode)));
    case 'StringAlternative': {
      const length = node.elements.reduce((n, c) => n + units(c.value), 0);
      return { min: length, max: length };
    }
    default: {
      const never: never = node;
      throw new Error(`unknown class node ${String(never)}`);
    }
  }
}

const spanOf = (widths: Width[]): Width => ({ min: Math.min(...widths.map((w) => w.min)), max: Math.max(...widths.map((w) => w.max)) });

/**
 * What capturing groups consumed, recorded as a walk closes them in pattern order: a backreference
 * consumes at most its group's longest. Before its group closes (inside it, before it, or in a
 * lookbehind read right to left) it counts as unbounded.
 */
class CaptureLengths {
  private readonly lengths = new Map<AST.CapturingGroup, number>();

  close(group: AST.Group | AST.CapturingGroup, length: number): void {
    if (group.type === 'CapturingGroup') this.lengths.set(group, length);
  }

  of(reference: AST.Backreference): number {
    // Duplicate names (ES2025): the reference reads whichever of the groups took part.
    const groups = Array.isArray(reference.resolved) ? reference.resolved : [reference.resolved];
    return Math.max(...groups.map((g) => this.lengths.get(g) ?? Infinity));
  }
}

/**
 * The most characters a regular expression needs around one match: the match itself plus what its
 * positive lookarounds and boundary assertions read (negative lookarounds: see lookaround() below).
 * Infinity when a quantifier is unbounded or the pattern does not parse.
 * The engine uses it to run a rule only within that distance of its keywords (see engine.ts).
 * With `negative: true`, negative lookarounds count too: then it bounds everything a match examines,
 * on both sides of its start, so text cut that far around a start gives the same result as the
 * whole. With `negative: 'assertions'`, only those holding ^ $ \b \B or another negative
 * lookaround count: on cut text such an assertion can hold at the cut (and a nested negative one
 * can pass there), so the lookaround could fail where the whole text lets it pass; any other only
 * ever passes more often on cut text.
 * A plain string is parsed without flags; parseRegex(source, flags) reads it with them.
 */
export function maxExtent(pattern: string | ParsedRegex, options: { negative?: boolean | 'assertions' } = {}): number {
  const { ast, unicode } = parsedOf(pattern);
  if (ast === null) return Infinity;
  const captures = new CaptureLengths();
  // Assertions met so far, negative lookarounds counted as one: see lookaround().
  let assertions = 0;
  // Above 0 while measuring inside a negative lookaround that holds an assertion: everything counts.
  let whole = 0;

  const alternatives = (alts: AST.Alternative[]): number => Math.max(...alts.map((a) => a.elements.reduce((n, e) => n + element(e), 0)));

  function element(e: AST.Element): number {
    switch (e.type) {
      case 'Quantifier': {
        const length = element(e.element);
        if (length === 0 || e.max === 0) return 0;
        return e.max === Infinity ? Infinity : length * e.max;
      }
      case 'Group':
      case 'CapturingGroup': {
        const length = alternatives(e.alternatives);
        captures.close(e, length);
        return length;
      }
      case 'Assertion':
        switch (e.kind) {
          // ^ and $ read the character on one side, \b and \B on both: counted to stay on the safe side.
          case 'start':
          case 'end':
            assertions++;
            return 1;
          case 'word':
            assertions++;
            return 2;
          case 'lookahead':
          case 'lookbehind':
            return lookaround(e);
          default: {
            const never: never = e;
            throw new Error(`unknown assertion ${String(never)}`);
          }
        }
      case 'Backreference':
        return captures.of(e);
      case 'Character':
      case 'CharacterSet':
      case 'CharacterClass':
      case 'ExpressionCharacterClass':
        return widthOf(e, unicode).max;
      default: {
        const never: never = e;
        throw new Error(`unknown element ${String(never)}`);
      }
    }
  }

  function lookaround(e: AST.LookaroundAssertion): number {
    const assertionsBefore = assertions;
    const length = alternatives(e.alternatives);
    // Positive lookarounds must find their text inside a region: their extent adds to the match's.
    // A negative one only ever passes more often on a cut-out region (it sees less), and every
    // region match is confirmed against the whole buffer, so it needs no room.
    if (!e.negate || options.negative === true || whole > 0) return length;
    assertions++; // for an enclosing negative lookaround: see below
    if (assertions - 1 === assertionsBefore || options.negative !== 'assertions') return 0;
    // One holding an assertion (or a negative lookaround) could fail on cut text where the whole
    // passes: all it reads, nested negative lookarounds included, must be there. Only its own
    // extent counts in full; the pattern's other negative lookarounds still need no room.
    whole++;
    try {
      return alternatives(e.alternatives);
    } finally {
      whole--;
    }
  }

  return alternatives(ast.alternatives);
}

/**
 * Fewest and most characters a part consumes; furthest it reads before and after its start, and
 * past the end of what it consumed (what a lookbehind ending at a position reads after it).
 */
interface Span {
  min: number;
  max: number;
  behind: number;
  ahead: number;
  after: number;
}

// ^ $ \b \B read the character on each side of where they stand.
const ASSERTION_SPAN: Span = { min: 0, max: 0, behind: 1, ahead: 1, after: 1 };
const EMPTY_SPAN: Span = { min: 0, max: 0, behind: 0, ahead: 0, after: 0 };

/**
 * How far a match examines on each side of where it starts: `behind` characters before the start
 * (what lookbehinds and assertions at its start read) and `ahead` characters from the start on (the
 * match, lookaheads and lookbehinds reading back into it). Every lookaround counts, negative ones
 * too, so text holding [start - behind, start + ahead) gives the same result as the whole. Both are
 * at most maxExtent(pattern, { negative: true }), often far less: that one adds every part's
 * length, lookarounds in both directions included. Infinity where unbounded or not parsed.
 */
export function reachOf(pattern: string | ParsedRegex): { behind: number; ahead: number } {
  const { ast, unicode } = parsedOf(pattern);
  if (ast === null) return { behind: Infinity, ahead: Infinity };
  const captures = new CaptureLengths();

  function alternatives(alts: AST.Alternative[]): Span {
    const spans = alts.map(sequence);
    const most = (key: keyof Span) => Math.max(...spans.map((s) => s[key]));
    return { min: Math.min(...spans.map((s) => s.min)), max: most('max'), behind: most('behind'), ahead: most('ahead'), after: most('after') };
  }

  function sequence(alt: AST.Alternative): Span {
    // Each part starts somewhere in [lo, hi] after the sequence's start.
    let lo = 0;
    let hi = 0;
    let behind = 0;
    let ahead = 0;
    const parts = alt.elements.map(element);
    for (const part of parts) {
      behind = Math.max(behind, part.behind - lo);
      ahead = Math.max(ahead, hi + part.ahead);
      lo += part.min;
      hi += part.max;
    }
    // A part's reads past its end reach past the sequence's end by less what follows it consumes.
    let after = 0;
    let rest = 0;
    for (let i = parts.length - 1; i >= 0; i--) {
      after = Math.max(after, parts[i]!.after - rest);
      rest += parts[i]!.min;
    }
    return { min: lo, max: hi, behind, ahead: Math.max(ahead, hi), after };
  }

  function element(e: AST.Element): Span {
    switch (e.type) {
      case 'Quantifier':
        return quantified(element(e.element), e.min, e.max);
      case 'Group':
      case 'CapturingGroup': {
        const inner = alternatives(e.alternatives);
        captures.close(e, inner.max);
        return inner;
      }
      case 'Assertion':
        return e.kind === 'lookahead' || e.kind === 'lookbehind' ? lookaround(e) : ASSERTION_SPAN;
      case 'Backreference': {
        // It consumes what its group did: at most that group's longest, maybe nothing.
        const longest = captures.of(e);
        return { min: 0, max: longest, behind: 0, ahead: longest, after: 0 };
      }
      case 'Character':
      case 'CharacterSet':
      case 'CharacterClass':
      case 'ExpressionCharacterClass': {
        const width = widthOf(e, unicode);
        return { min: width.min, max: width.max, behind: 0, ahead: width.max, after: 0 };
      }
      default: {
        const never: never = e;
        throw new Error(`unknown element ${String(never)}`);
      }
    }
  }

  function lookaround(e: AST.LookaroundAssertion): Span {
    const inner = alternatives(e.alternatives);
    if (e.kind === 'lookahead') return { min: 0, max: 0, behind: inner.behind, ahead: inner.ahead, after: inner.ahead };
    // Matched leftwards to end here: it starts up to inner.max back, and reads past here only
    // what it reads past its own end.
    return { min: 0, max: 0, behind: inner.max + inner.behind, ahead: inner.after, after: inner.after };
  }

  const span = alternatives(ast.alternatives);
  return { behind: span.behind, ahead: span.ahead };
}

function quantified(part: Span, min: number, max: number): Span {
  if (min === 1 && max === 1) return part;
  if (max === 0) return EMPTY_SPAN;
  // Repetition k starts at most (k - 1) × part.max in, and never before the first one.
  const lastStart = max === 1 || part.max === 0 ? 0 : (max - 1) * part.max;
  return { min: min * part.min, max: part.max === 0 ? 0 : max * part.max, behind: part.behind, ahead: lastStart + part.ahead, after: part.after };
}

/**
 * Where a pattern is pinned to its rule's keywords: every match contains one of `keywords` (ASCII
 * case-folded, as the prefilter sees it) starting at most `lead` characters after the match start.
 * A match therefore starts within `lead` characters before some keyword hit, and the engine tries
 * the pattern only at those starts (on the whole buffer, so lookarounds see their full context).
 * `lead` is Infinity when the keyword is certain to be in the match but after an unbounded part.
 */
export interface KeywordAnchor {
  lead: number;
  keywords: string[];
  /**
   * Characters the match must have after its keyword: one of `chars` occurs fewer than `within`
   * characters after where the keyword ends. A hit without them cannot be this pattern's keyword.
   */
  follow: { chars: string; within: number }[];
  /** Every match starts with ^: at the start of the text, or of a line under the m flag. */
  caret: boolean;
}

/**
 * The literal text every match starts with, case and all: per top-level alternative, the
 * characters it spells out before anything else that consumes (zero-width assertions passed
 * over, groups of one alternative entered). Null when an alternative starts with something else,
 * or under the i flag (case is the point). The keyword prefilter folds case: the engine checks a
 * hit of a keyword that starts every match against these (`SK` of a Twilio SID, not `sk` of "disk").
 */
export function literalStarts(pattern: string | ParsedRegex, flags: string): string[] | null {
  const { ast } = parsedOf(pattern);
  if (ast === null || flags.includes('i')) return null;
  const starts: string[] = [];
  for (const alt of ast.alternatives) {
    const start = literalPrefix(alt.elements);
    if (start.text === '') return null;
    starts.push(start.text);
  }
  return starts;
}

/** The literal characters `elements` start with, and whether they are nothing but those. */
function literalPrefix(elements: AST.Element[]): { text: string; whole: boolean } {
  let text = '';
  for (const e of elements) {
    if (e.type === 'Assertion') continue;
    if (e.type === 'Character' && e.value <= 0xff) {
      text += String.fromCharCode(e.value);
      continue;
    }
    if ((e.type === 'Group' || e.type === 'CapturingGroup') && e.alternatives.length === 1 && !(e.type === 'Group' && e.modifiers)) {
      const inner = literalPrefix(e.alternatives[0]!.elements);
      text += inner.text;
      if (inner.whole) continue;
    }
    return { text, whole: false };
  }
  return { text, whole: true };
}

/** The strings a sub-pattern can match, when there are few: more, and it counts as unknown. */
const SET_LIMIT = 64;
const STRING_LIMIT = 256;
/** A character class is listed when it holds at most this many characters (case-folded). */
const CLASS_LIMIT = 8;

interface Piece {
  /** Most characters it consumes (Infinity when unbounded). */
  consume: number;
  /** Every match of it starts with the ^ assertion. */
  caret?: boolean;
  /**
   * Every string it can match, ASCII-lowercased; null when too many or not known. A superset is
   * as good: every string of it holding a keyword means every match does.
   */
  set: string[] | null;
  anchor: KeywordAnchor | null;
  /**
   * For a class too wide for `set` ([0-9]), repeated at least once or not: the characters every
   * match starts with, when none is a letter; what followOf can still require after a keyword.
   */
  first?: string;
}

/**
 * The keyword anchor of a pattern (see KeywordAnchor), or null when one cannot be proven: a
 * keyword that is not spelled out as literal text in every alternative (it may be context outside
 * the match). A pattern that does not parse gives null.
 * Letters are folded to lower case whatever the flags: under i with u or v, `k` and `s` also match
 * U+212A and U+017F, which latin1 text (the engine's) cannot hold.
 */
export function keywordAnchor(pattern: string | ParsedRegex, keywords: readonly string[]): KeywordAnchor | null {
  const { ast, unicode } = parsedOf(pattern);
  if (ast === null) return null;
  const walk = new AnchorWalk(new KeywordSets(keywords), unicode);
  const whole = walk.alternatives(ast.alternatives);
  return whole.anchor && { ...whole.anchor, caret: whole.caret === true };
}

/** The rule's keywords, and what the anchor walk asks of them. */
class KeywordSets {
  private readonly kws: string[];
  private readonly shortest: number;
  private readonly longest: number;
  /** Every prefix of every keyword, '' included; made when first needed (few patterns do). */
  private keywordStarts: Set<string> | null = null;

  constructor(keywords: readonly string[]) {
    this.kws = keywords.map((k) => k.toLowerCase());
    this.shortest = Math.min(...this.kws.map((k) => k.length));
    this.longest = Math.max(...this.kws.map((k) => k.length));
  }

  /** The longest end of `x` that some keyword begins with ('' when none). */
  startAtEnd(x: string): string {
    this.keywordStarts ??= new Set(this.kws.flatMap((k) => Array.from({ length: k.length + 1 }, (_, i) => k.slice(0, i))));
    for (let i = Math.max(0, x.length - this.longest); i < x.length; i++) if (this.keywordStarts.has(x.slice(i))) return x.slice(i);
    return '';
  }

  /** The keyword that starts first in `x` (the longest of those starting there), or null. */
  firstIn(x: string): { at: number; keyword: string } | null {
    let best: { at: number; keyword: string } | null = null;
    for (const k of this.kws) {
      const at = x.indexOf(k);
      if (at !== -1 && (best === null || at < best.at || (at === best.at && k.length > best.keyword.length))) best = { at, keyword: k };
    }
    return best;
  }

  /** An anchor when every string of `set` holds a keyword; `tail`: the most characters after the first one. */
  anchorOf(set: string[] | null): (KeywordAnchor & { tail: number }) | null {
    if (set === null || set.some((x) => x.length < this.shortest)) return null;
    let lead = 0;
    let tail = 0;
    const used = new Set<string>();
    for (const s of set) {
      let best = Infinity;
      let which: string | null = null;
      for (const k of this.kws) {
        const at = s.indexOf(k);
        if (at !== -1 && at < best) {
          best = at;
          which = k;
        }
      }
      if (which === null) return null;
      lead = Math.max(lead, best);
      tail = Math.max(tail, s.length - best - which.length);
      // Every keyword present is a valid witness; keep them all so any hit opens a window.
      for (const k of this.kws) if (s.includes(k)) used.add(k);
    }
    return { lead, keywords: [...used], follow: [], tail, caret: false };
  }
}

/** Every concatenation of a string of `a` with one of `b`; null when unknown or too many. */
function cross(a: string[] | null, b: string[] | null): string[] | null {
  if (a === null || b === null || a.length * b.length > SET_LIMIT) return null;
  const out = new Set<string>();
  for (const x of a) {
    for (const y of b) {
      if (x.length + y.length > STRING_LIMIT) return null;
      out.add(x + y);
    }
  }
  return [...out];
}

const maxLength = (set: string[]) => set.reduce((n, s) => Math.max(n, s.length), 0);

/** One walk of a pattern's tree for keywordAnchor: each node gives a Piece. */
class AnchorWalk {
  private readonly captures = new CaptureLengths();

  constructor(
    private readonly keywords: KeywordSets,
    private readonly unicode: boolean,
  ) {}

  private piece(consume: number, set: string[] | null, anchor: KeywordAnchor | null = null): Piece {
    return { consume, set, anchor: anchor ?? this.keywords.anchorOf(set) };
  }

  alternatives(alternatives: AST.Alternative[]): Piece {
    const alts = alternatives.map((a) => this.sequence(a.elements.map((e) => this.element(e))));
    if (alts.length === 1) return alts[0]!;
    let union: Set<string> | null = new Set();
    for (const a of alts) {
      if (a.set === null) {
        union = null;
        break;
      }
      for (const s of a.set) union.add(s);
      if (union.size > SET_LIMIT) {
        union = null;
        break;
      }
    }
    const set = union && [...union];
    let anchor: KeywordAnchor | null = { lead: 0, keywords: [], follow: [], caret: false };
    for (const a of alts) {
      if (a.anchor === null) {
        anchor = null;
        break;
      }
      // What must follow differs between alternatives: none is kept.
      anchor = { lead: Math.max(anchor.lead, a.anchor.lead), keywords: [...new Set([...anchor.keywords, ...a.anchor.keywords])], follow: [], caret: false };
    }
    return { ...this.piece(Math.max(...alts.map((a) => a.consume)), set, anchor), caret: alts.every((a) => a.caret === true) };
  }

  private sequence(items: Piece[]): Piece {
    let consume = 0;
    let set: string[] | null = [''];
    for (const it of items) {
      consume += it.consume;
      set = cross(set, it.set);
    }
    return { ...this.piece(consume, set, this.firstAnchor(items) ?? this.settledAnchor(items)), caret: items[0]?.caret === true };
  }

  /**
   * For a run whose strings multiply past the limit (a name with optional parts around optional
   * separators: `(?:facebook|fb)[_.]?(?:api|app)?[_.]?(?:key|secret)`), where firstAnchor finds
   * nothing: each string that already holds a keyword is settled at its first one and leaves the
   * run, so the run stays small. When every string has settled, every match holds one of the
   * keywords found within the largest of their leads. What must follow is not worked out: the
   * strings settle at different places.
   */
  private settledAnchor(items: Piece[]): KeywordAnchor | null {
    let runStart = 0;
    let run: string[] = [''];
    let lead = 0;
    const used = new Set<string>();
    for (const it of items) {
      const before = runStart + maxLength(run);
      if (it.set === null) {
        // Strings still open cannot go on through an unknown piece (firstAnchor has already
        // found none of these pieces anchored): start over after it.
        runStart = before + it.consume;
        run = [''];
        lead = 0;
        used.clear();
        continue;
      }
      const step = this.stepRun(runStart, run, it.set);
      ({ runStart, run } = step);
      if (step.restarted) {
        lead = 0;
        used.clear();
      }
      const open: string[] = [];
      for (const x of run) {
        const witness = this.keywords.firstIn(x);
        if (witness === null) open.push(x);
        else {
          lead = Math.max(lead, runStart + witness.at);
          used.add(witness.keyword);
        }
      }
      if (open.length === 0) return Number.isFinite(lead) ? { lead, keywords: [...used], follow: [], caret: false } : null;
      run = open;
    }
    return null;
  }

  /**
   * The strings of `run` followed by those of `set`, or null when there would be too many. Too
   * many at first: keep of each run string only what a keyword crossing into this piece can start
   * with, its longest end that begins some keyword; `dropped` is the most characters so cut, which
   * count as lead, so a lead found later may be larger than needed, never smaller.
   */
  private joinRun(run: string[], set: string[]): { run: string[]; dropped: number } | null {
    const joined = cross(run, set);
    if (joined !== null) return { run: joined, dropped: 0 };
    const tails = run.map((x) => this.keywords.startAtEnd(x));
    const cut = cross([...new Set(tails)], set);
    return cut === null ? null : { run: cut, dropped: Math.max(...run.map((x, j) => x.length - tails[j]!.length)) };
  }

  /**
   * The run (starting at `runStart`) taken on through the next piece's strings, or, when there
   * would be too many, started over at that piece (`restarted`), where the old run ended.
   */
  private stepRun(runStart: number, run: string[], set: string[]): { runStart: number; run: string[]; restarted: boolean } {
    const joined = this.joinRun(run, set);
    if (joined !== null) return { runStart: runStart + joined.dropped, run: joined.run, restarted: false };
    return { runStart: runStart + maxLength(run), run: set, restarted: true };
  }

  /**
   * The first place, left to right, where a keyword is certain: within a run of literal pieces, or
   * inside one piece; everything before it counts at its longest.
   */
  private firstAnchor(items: Piece[]): KeywordAnchor | null {
    let runStart = 0;
    let run: string[] = [''];
    for (const [i, it] of items.entries()) {
      const before = runStart + maxLength(run);
      if (it.set === null) {
        if (it.anchor) return { lead: before + it.anchor.lead, keywords: it.anchor.keywords, follow: it.anchor.follow, caret: false };
        runStart = before + it.consume;
        run = [''];
        continue;
      }
      ({ runStart, run } = this.stepRun(runStart, run, it.set));
      const found = this.keywords.anchorOf(run);
      if (found) return { lead: runStart + found.lead, keywords: found.keywords, follow: followOf(items.slice(i + 1), found.tail), caret: false };
    }
    return null;
  }

  private element(e: AST.Element): Piece {
    switch (e.type) {
      case 'Quantifier':
        return this.quantified(this.element(e.element), e.min, e.max);
      case 'Group':
      case 'CapturingGroup': {
        const inner = this.alternatives(e.alternatives);
        this.captures.close(e, inner.consume);
        // (?m:^) or (?-m:^) is not the ^ of the pattern's flags, which the engine goes by.
        const modifiesM = e.type === 'Group' && e.modifiers !== null && (e.modifiers.add.multiline || e.modifiers.remove?.multiline === true);
        return { ...inner, caret: inner.caret === true && !modifiesM };
      }
      case 'Assertion':
        switch (e.kind) {
          case 'start':
            return { ...this.piece(0, ['']), caret: true };
          case 'end':
          case 'word':
            return this.piece(0, ['']);
          case 'lookahead':
          case 'lookbehind':
            // A lookaround consumes nothing; what it reads is not part of the match. Walked for
            // the groups it holds.
            this.alternatives(e.alternatives);
            return this.piece(0, ['']);
          default: {
            const never: never = e;
            throw new Error(`unknown assertion ${String(never)}`);
          }
        }
      case 'Backreference':
        return this.piece(this.captures.of(e), null);
      case 'Character':
      case 'CharacterSet':
      case 'CharacterClass':
      case 'ExpressionCharacterClass': {
        const piece = this.piece(widthOf(e, this.unicode).max, classStrings(e));
        const first = piece.set === null ? followChars(e) : null;
        return first === null ? piece : { ...piece, first };
      }
      default: {
        const never: never = e;
        throw new Error(`unknown element ${String(never)}`);
      }
    }
  }

  private quantified(p: Piece, min: number, max: number): Piece {
    if (min === 1 && max === 1) return p;
    const consume = p.consume === 0 ? 0 : p.consume * max;
    let set: string[] | null = null;
    if (p.set !== null && Number.isFinite(max)) {
      const all = new Set<string>();
      let power: string[] | null = [''];
      for (let k = 0; k <= max && power !== null; k++) {
        if (k >= min) for (const s of power) all.add(s);
        if (all.size > SET_LIMIT) break;
        if (k < max) power = cross(power, p.set);
      }
      set = power === null || all.size > SET_LIMIT ? null : [...all];
    }
    // At least one repetition: the first one carries the piece's keyword and its first character.
    const piece = this.piece(consume, set, min >= 1 ? p.anchor : null);
    return min >= 1 && p.first !== undefined ? { ...piece, first: p.first } : piece;
  }
}

/** Single characters the pieces after a keyword require, and how far from its end at most. */
function followOf(after: Piece[], tail: number): KeywordAnchor['follow'] {
  const follow: KeywordAnchor['follow'] = [];
  let distance = tail;
  for (const it of after) {
    if (!Number.isFinite(distance)) break;
    const set = it.set;
    // Letters would need both cases (the sets are folded): only other characters are used.
    if (set !== null && set.length > 0 && set.every((x) => x.length >= 1 && !/[a-z]/.test(x[0]!))) {
      follow.push({ chars: [...new Set(set.map((x) => x[0]!))].join(''), within: distance + 1 });
    } else if (set === null && it.first !== undefined) follow.push({ chars: it.first, within: distance + 1 });
    distance += it.consume;
  }
  return follow;
}

/**
 * The ASCII-lowercased strings a character node matches, when it is a short list of ASCII:
 * characters, ranges of at most nine, and under the v flag \q{…} strings and set operations
 * (kept as supersets). Null otherwise, and for a class that matches nothing.
 */
function classStrings(node: ClassNode): string[] | null {
  if (node.type === 'Character') return node.value < 0x80 ? ASCII_SETS[node.value]! : null;
  const strings = classMembers(node);
  if (strings === null || strings.length === 0) return null;
  const folded = new Set<string>();
  for (const s of strings) {
    if (!/^[\0-\x7f]*$/.test(s)) return null;
    folded.add(s.toLowerCase());
  }
  return folded.size > CLASS_LIMIT ? null : [...folded];
}

/**
 * The characters of a class too wide for classStrings, when it is a short list of ASCII
 * characters none of which is a letter ([0-9], a digit after a keyword): null otherwise.
 */
function followChars(node: ClassNode): string | null {
  if (node.type === 'Character') return null;
  if (node.type === 'CharacterSet') return node.kind === 'digit' && !node.negate ? '0123456789' : null;
  const members = classMembers(node, FOLLOW_LIMIT);
  if (members === null || members.length === 0) return null;
  if (!members.every((m) => m.length === 1 && m.charCodeAt(0) < 0x80 && !/[A-Za-z]/.test(m))) return null;
  return [...new Set(members)].join('');
}

/** Most characters a follow check looks for (each is one search per hit at most). */
const FOLLOW_LIMIT = 16;

/** Each ASCII character's set, made once: most pieces of a pattern are single characters. Never modified. */
const ASCII_SETS = Array.from({ length: 0x80 }, (_, code) => [String.fromCharCode(code).toLowerCase()]);

/** What classStrings() lists before folding; null when unknown or too wide. */
function classMembers(node: ClassNode, limit = CLASS_LIMIT): string[] | null {
  switch (node.type) {
    case 'Character':
      return [String.fromCodePoint(node.value)];
    case 'CharacterClassRange': {
      if (node.max.value - node.min.value > limit) return null;
      const chars: string[] = [];
      for (let code = node.min.value; code <= node.max.value; code++) chars.push(String.fromCodePoint(code));
      return chars;
    }
    case 'CharacterSet':
      return null;
    case 'CharacterClass':
      return node.negate ? null : unionOf(node.elements.map((n) => classMembers(n, limit)));
    case 'ExpressionCharacterClass':
      return node.negate ? null : classMembers(node.expression, limit);
    case 'ClassIntersection': {
      const left = classMembers(node.left, limit);
      const right = classMembers(node.right, limit);
      if (left === null || right === null) return left ?? right;
      return left.filter((s) => right.includes(s));
    }
    case 'ClassSubtraction':
      return classMembers(node.left, limit);
    case 'ClassStringDisjunction':
      return unionOf(node.alternatives.map((n) => classMembers(n, limit)));
    case 'StringAlternative':
      return [String.fromCodePoint(...node.elements.map((c) => c.value))];
    default: {
      const never: never = node;
      throw new Error(`unknown class node ${String(never)}`);
    }
  }
}

function unionOf(lists: (string[] | null)[]): string[] | null {
  if (lists.some((l) => l === null)) return null;
  return [...new Set(lists.flat() as string[])];
}
