import type { PatternPlan, RuleSpec } from './spec.js';

export type { PatternPlan } from './spec.js';
import { KeywordPrefilter, newlinesBefore } from './prefilter.js';
import { isDocumentationPassword, isDocumentationStandIn, isPlaceholder, looksLikeIdentifier, meetsEntropy, randomForItsAlphabet } from './filters.js';
import { keywordAnchor, literalStarts, maxExtent, parseRegex, reachOf, type KeywordAnchor, type ParsedRegex } from './extent.js';
import { providerKey, serviceBefore } from './naming.js';
import { ProviderPromotion } from './promote.js';

/** One secret a rule found in one buffer; offsets are byte offsets into that buffer. */
export interface RawMatch {
  ruleId: string;
  secret: string;
  /** For a catch-all rule: the service the setting's name points at (ZENDESK_API_KEY → Zendesk). */
  provider?: string;
  offset: number;
  /** 1-based line within the buffer. */
  line: number;
  /** 1-based byte column within that line. */
  column: number;
}

interface CompiledPattern {
  /** Global, for a region or the whole buffer. */
  regex: RegExp;
  /** The same pattern, sticky: to confirm a match found in a region against the whole buffer. */
  sticky: RegExp;
  /** Set when the pattern is pinned to keywords (see keywordAnchor). */
  anchor: AnchoredPattern | null;
}

interface AnchoredPattern {
  rule: CompiledRule;
  /** Which pattern of the rule: anchored patterns run in rule and pattern order. */
  index: number;
  /** Sticky, led by a lazy [\s\S]{0,lead}: one exec tries every start from lastIndex to lastIndex + lead. */
  regex: RegExp;
  lead: number;
  /** The keywords (or, for a needle, the words) whose hits open start windows. */
  keywords: readonly string[];
  /**
   * Anchored on words of the rule's keywords (PatternPlan.needle): runs only in a buffer where one
   * of the rule's own keywords occurs, as it did when it ran on the whole buffer.
   */
  needle: boolean;
  /**
   * Runs on segments: all a match tried from one start must examine, except what negative
   * lookarounds read, lies within SEGMENT_MARGIN of that start.
   */
  segmented: boolean;
  /**
   * Its negative lookarounds may read past the margin: on a segment they see less and may pass
   * where the whole buffer would not, so a match on a cut segment is redone on the whole buffer.
   */
  confirm: boolean;
  /** How far around a start a match examines (but for negative lookarounds, see `confirm`). */
  margin: number;
  /**
   * What a short text of its own must hold before the first start and after the last: the
   * pattern's reach, or `margin` on both sides when matches are confirmed anyway.
   */
  behind: number;
  ahead: number;
  /** Characters a match needs after its keyword (see KeywordAnchor.follow), as char codes. */
  follow: Follow[];
  /** The same, packed for the hit loop (see packFollow); null when nothing must follow. */
  followCheck: Int32Array | null;
  /**
   * With lead 0, case-sensitive: every match starts with one of these byte strings, which a
   * hit's keyword must agree with over its length (see literalStarts); null: not known.
   */
  starts: Uint8Array[] | null;
  /** Starts only at the start of the buffer, or of a line when `multiline`. */
  caret: boolean;
  multiline: boolean;
  /** Dense id: where its start windows collect during a scan. */
  slot: number;
}

interface CompiledRule {
  spec: RuleSpec;
  patterns: CompiledPattern[];
  allow: RegExp[];
  /**
   * How far from a keyword occurrence a match of an unanchored pattern (with its lookarounds) can
   * reach: the longest any such pattern can examine plus the longest keyword. Infinity: those
   * patterns run on the whole buffer.
   */
  reach: number;
  /** Some pattern is not anchored: the rule collects regions around its keywords. */
  regional: boolean;
  /** Some pattern is anchored on a needle: a hit of the rule's keywords lets those run. */
  needled: boolean;
  /** Dense id: where its regions collect during a scan. */
  slot: number;
}

/** What one keyword hit asks for: a start window for an anchored pattern, or a region for a rule. */
// One shape for both kinds, so the hit loop sees a single object map.
interface Target {
  anchored: AnchoredPattern | null;
  /** Keyword length plus lead: from a hit's end back to the first start to try. */
  back: number;
  /** For a rule with unanchored patterns: collect a region. */
  rule: CompiledRule | null;
  /** For a rule with needle-anchored patterns: its keyword occurs, so those may run. */
  trigger: CompiledRule | null;
}

export interface EngineOptions {
  /** Run rules only around their keyword hits (default true); false: whole buffer. */
  regions?: boolean;
  /** planPatterns(rules), when already at hand (the worker pool computes it once for all workers). */
  plan?: readonly (readonly PatternPlan[])[];
  /** With `plan`: set up keyword-anchored scanning now (default) or on the first buffer that needs it. */
  prepareNow?: boolean;
}


export function planPatterns(rules: readonly RuleSpec[]): PatternPlan[][] {
  return rules.map((spec) =>
    spec.patterns.map((p) => {
      const parsed = parseRegex(p.regex, p.flags);
      const anchor = keywordAnchor(parsed, spec.keywords);
      return {
        anchor,
        needle: anchor !== null && Number.isFinite(anchor.lead) ? null : needleAnchor(parsed, spec.keywords),
        margin: maxExtent(parsed, { negative: 'assertions' }),
        strict: maxExtent(parsed, { negative: true }),
        reach: reachOf(parsed),
        starts: anchor !== null && anchor.lead === 0 ? literalStarts(parsed, p.flags) : null,
      };
    }),
  );
}

/**
 * An anchor on words of a rule's keywords, for a pattern no keyword anchors ("twine upload" is a
 * keyword, but a match may hold "twine\tupload"). Longer words first: the fewer hits the words
 * have in ordinary text, the less they cost every scanned byte, so "key" or "api" are tried last.
 */
function needleAnchor(parsed: ParsedRegex, keywords: readonly string[]): KeywordAnchor | null {
  const words = [...new Set(keywords.flatMap((k) => k.toLowerCase().match(/[a-z0-9]+/g) ?? []))];
  for (const shortest of [6, 5, 4, 3]) {
    const long = words.filter((w) => w.length >= shortest);
    if (long.length === 0) continue;
    const anchor = keywordAnchor(parsed, long);
    if (anchor !== null && Number.isFinite(anchor.lead)) return anchor;
  }
  return null;
}

/** Counters for tests and tuning: how much text the regular expressions were run over. */
export interface EngineStats {
  /** Characters handed to regular expressions (region length × patterns; start positions tried for anchored patterns). */
  regexChars: number;
  /** Pattern executions started on a region or a whole buffer, or on a window of anchored starts. */
  regexRuns: number;
  /** Bytes converted to strings for the regular expressions (segments count their margins). */
  textChars: number;
}

// When a rule's regions cover more than this share of the buffer, it runs on the whole buffer.
const REGION_SHARE = 0.5;

// Anchored patterns run on strings cut from the buffer in segments (each with a margin on both
// sides) instead of one string of the whole buffer: strings this small live in the young
// generation and reuse its memory, where a 1 MiB string takes fresh pages each time (page
// faults), and a buffer with a few hits converts only the segments around them.
// Segment plus margins stays under V8's largest regular (non large-object) heap object, 128 KiB.
const SEGMENT = 88 * 1024;
const SEGMENT_MARGIN = 16 * 1024;
// Up to this size, a buffer seen before any bigger one is scanned whole (see prepare()).
const SMALL_BUFFER = 16 * 1024;
// Start windows shorter than this get a string of their own instead of a segment.
const LOCAL_WINDOW = 8 * 1024;

/**
 * Runs every rule whose keyword occurs in a buffer. Pure and synchronous: the worker pool runs one
 * of these per thread, and tests run it directly.
 */
export class DetectionEngine {
  private automaton: KeywordPrefilter | null = null;
  /** For each keyword index, the rules that list it. */
  private readonly rulesByKeyword: CompiledRule[][];
  private readonly keywordIndex: Map<string, number>;
  /** For each keyword index, what a hit of it asks for; null until prepare(). */
  private targetsByKeyword: Target[][] | null = null;
  /**
   * Per automaton state, what a hit there asks for; filled in as states are first hit. Sized to
   * the automaton up front: filled in at scattered indices, a growing array turns into a hash
   * table, slow to look up in the hit loop.
   */
  private targetsByState: (Target[] | null)[] = [];
  private readonly next = new Int32Array(256);
  private readonly anchored: AnchoredPattern[] = [];
  private readonly compiled: CompiledRule[] = [];
  readonly rules: readonly RuleSpec[];

  readonly stats: EngineStats = { regexChars: 0, regexRuns: 0, textChars: 0 };
  /** Provider names of the specific rules, by providerKey: how a service named by a setting is spelt. */
  private readonly knownProviders = new Map<string, string>();
  /** Which provider rule a catch-all match belongs to, when its setting or surroundings name one. */
  private readonly promotion: ProviderPromotion<CompiledRule>;
  private readonly regions: boolean;

  constructor(rules: readonly RuleSpec[], options: EngineOptions = {}) {
    this.rules = rules;
    this.regions = options.regions !== false;
    for (const r of rules) {
      if (r.generic) continue;
      // "SendGrid (Twilio)" is named SENDGRID_… in settings: its first part is a spelling too.
      for (const name of [r.provider, r.provider.split(' (')[0]!]) this.knownProviders.set(providerKey(name), r.provider);
    }
    const keywordIndex = new Map<string, number>();
    const rulesByKeyword: CompiledRule[][] = [];
    for (const spec of rules) {
      const rule: CompiledRule = {
        spec,
        patterns: spec.patterns.map((p) => ({ regex: new RegExp(p.regex, p.flags + 'gd'), sticky: new RegExp(p.regex, p.flags + 'dy'), anchor: null })),
        allow: spec.allow.map((a) => new RegExp(a)),
        reach: 0,
        regional: false,
        needled: false,
        slot: this.compiled.length,
      };
      this.compiled.push(rule);
      for (const keyword of spec.keywords) {
        let index = keywordIndex.get(keyword);
        if (index === undefined) {
          index = rulesByKeyword.length;
          keywordIndex.set(keyword, index);
          rulesByKeyword.push([]);
        }
        rulesByKeyword[index]!.push(rule);
      }
    }
    this.keywordIndex = keywordIndex;
    this.rulesByKeyword = rulesByKeyword;
    this.promotion = new ProviderPromotion(this.compiled, (rule, secret) => this.accept(rule, secret));
    this.givenPlan = options.plan ?? null;
    if (options.plan && options.prepareNow !== false) this.prepare(options.plan);
  }

  private readonly givenPlan: readonly (readonly PatternPlan[])[] | null;

  /**
   * Sets up keyword-anchored and region scanning from a plan (computed here when not given):
   * done on the first buffer big enough to need it, so an engine that only ever sees a few KiB
   * (the image config) never pays for the analysis.
   */
  private prepare(plan: readonly (readonly PatternPlan[])[] = this.givenPlan ?? planPatterns(this.rules)): void {
    const targetsByKeyword: Target[][] = this.rulesByKeyword.map(() => []);
    const indexOf = (keyword: string): number => {
      let index = this.keywordIndex.get(keyword);
      if (index === undefined) {
        // A needle word that is no rule's keyword: found by the prefilter, selects no rule itself.
        index = this.rulesByKeyword.length;
        this.keywordIndex.set(keyword, index);
        this.rulesByKeyword.push([]);
        targetsByKeyword.push([]);
        this.automaton = null;
      }
      return index;
    };
    for (const rule of this.compiled) {
      const spec = rule.spec;
      const longestKeyword = Math.max(...spec.keywords.map((k) => k.length));
      let reach = 0;
      spec.patterns.forEach((p, index) => {
        const planned = plan[rule.slot]![index]!;
        const anchor = planned.anchor !== null && Number.isFinite(planned.anchor.lead) ? planned.anchor : null;
        const needle = anchor === null ? (planned.needle ?? null) : null;
        if (anchor !== null || needle !== null) {
          const anchored = this.anchoredPattern(rule, index, (anchor ?? needle)!, planned, needle !== null);
          rule.patterns[index]!.anchor = anchored;
          // Keyword lengths in bytes: the prefilter reports where a keyword ends.
          for (const k of anchored.keywords) targetsByKeyword[indexOf(k)]!.push({ anchored, back: Buffer.byteLength(k, 'latin1') + anchored.lead, rule: null, trigger: null });
          rule.needled ||= needle !== null;
        } else {
          // A region around a keyword only holds the match when the keyword is part of it; a keyword
          // that may be context elsewhere in the buffer (no anchor) needs the whole buffer.
          reach = planned.anchor ? Math.max(reach, planned.margin + longestKeyword) : Infinity;
          rule.regional = true;
        }
      });
      rule.reach = reach;
      for (const keyword of spec.keywords) {
        if (rule.regional) targetsByKeyword[indexOf(keyword)]!.push({ anchored: null, back: 0, rule, trigger: null });
        if (rule.needled) targetsByKeyword[indexOf(keyword)]!.push({ anchored: null, back: 0, rule: null, trigger: rule });
      }
    }
    this.targetsByKeyword = targetsByKeyword;
    this.windowsBySlot = new Array<number[] | undefined>(this.anchored.length).fill(undefined);
    this.spansBySlot = new Array<number[] | undefined>(this.compiled.length).fill(undefined);
    this.triggeredBySlot = new Uint8Array(this.compiled.length);
    const states = this.prefilter.states;
    this.targetsByState = new Array<Target[] | null>(states).fill(null);
    this.gatesByState = new Array<Int32Array | null>(states).fill(null);
  }

  /** A pattern set up to run only at the starts that can reach a hit of its anchor's keywords. */
  private anchoredPattern(rule: CompiledRule, index: number, anchor: KeywordAnchor, planned: PatternPlan, needle: boolean): AnchoredPattern {
    const p = rule.spec.patterns[index]!;
    const confirm = !(anchor.lead + planned.strict <= SEGMENT_MARGIN);
    const source = anchor.lead > 0 ? `[\\s\\S]{0,${anchor.lead}}?(?:${p.regex})` : p.regex;
    const follow = anchor.follow.map((f) => ({ codes: [...f.chars].map((c) => c.charCodeAt(0)), within: f.within }));
    const anchored: AnchoredPattern = {
      rule,
      index,
      regex: new RegExp(source, p.flags + 'dy'),
      lead: anchor.lead,
      keywords: anchor.keywords,
      needle,
      segmented: anchor.lead + planned.margin <= SEGMENT_MARGIN,
      confirm,
      // Cut texts hold everything a match examines when that fits; else all but what
      // negative lookarounds read, and matches on cut text are confirmed (see `confirm`).
      margin: confirm ? planned.margin : planned.strict,
      behind: confirm ? planned.margin : planned.reach.behind,
      ahead: confirm ? planned.margin : planned.reach.ahead,
      follow,
      followCheck: follow.length > 0 ? packFollow(follow) : null,
      starts: anchor.lead === 0 && !needle && planned.starts ? planned.starts.map((t) => Buffer.from(t, 'latin1')) : null,
      caret: anchor.caret,
      multiline: p.flags.includes('m'),
      slot: this.anchored.length,
    };
    this.anchored.push(anchored);
    return anchored;
  }

  /** What a hit in an automaton state asks for: the targets of every keyword ending there. */
  private targetsOf(state: number): Target[] {
    const targets = this.prefilter.keywordsEndingAt(state).flatMap((k) => this.targetsByKeyword![k]!);
    this.targetsByState[state] = targets;
    const gate = gateOf(targets);
    this.gatesByState[state] = gate && packFollow(gate);
    return targets;
  }

  /** Per automaton state, what every one of its targets needs after the keyword (see gateOf). */
  private gatesByState: (Int32Array | null)[] = [];

  /**
   * Newlines in bytes [0, to) of a buffer, and the offset of the last (-1: none): what a window's
   * successor needs to number its lines. Cheapest right after scan() of the same buffer.
   */
  newlines(bytes: Uint8Array, to: number): [count: number, last: number] {
    return this.automaton !== null ? this.automaton.newlines(bytes, to) : newlinesBefore(bytes, to);
  }

  /** Rules whose keywords occur in `bytes`: what the prefilter lets through. */
  candidateRules(bytes: Uint8Array): RuleSpec[] {
    return this.candidates(bytes).map((r) => r.spec);
  }

  private candidates(bytes: Uint8Array): CompiledRule[] {
    const selected = new Set<CompiledRule>();
    for (const k of this.keywordsIn(bytes)) for (const r of this.rulesByKeyword[k]!) selected.add(r);
    return [...selected];
  }

  /**
   * The keyword automaton, built on first use: building it (a few hundred keywords, thousands of
   * states) costs more than a scan served from the layer cache spends on the few KiB of image
   * config it still scans, for which keywordsIn looks keywords up one by one.
   */
  private get prefilter(): KeywordPrefilter {
    return (this.automaton ??= new KeywordPrefilter([...this.keywordIndex.keys()]));
  }

  /** Indices of the keywords in `bytes` (ASCII case-folded). */
  private keywordsIn(bytes: Uint8Array): Iterable<number> {
    if (this.automaton !== null || bytes.byteLength > SMALL_BUFFER) return this.prefilter.match(bytes);
    // toLowerCase also folds Latin-1 letters, which only adds candidates; keywords are ASCII-folded.
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1').toLowerCase();
    const found: number[] = [];
    for (const [keyword, index] of this.keywordIndex) if (text.includes(keyword.toLowerCase())) found.push(index);
    return found;
  }

  /**
   * Anchored patterns (the keyword is spelled out in every match, at most `lead` characters in)
   * are tried only at the starts that can reach a keyword hit, on the whole buffer, so they find
   * exactly what a whole-buffer run finds. A rule with other patterns runs those only on the
   * regions within `reach` of its keyword occurrences (merged), or on the whole buffer when they
   * cover most of it or reach is unbounded. A region is cut out of the buffer, so assertions at
   * its edges (lookbehind, ^, $, \b) see less context than in the buffer and can only match more,
   * never less; every match found in a region is therefore confirmed by running the sticky
   * pattern at the same place in the whole buffer, and an unconfirmed one is skipped one character
   * at a time, as the engine itself would.
   */
  scan(bytes: Uint8Array): RawMatch[] {
    if (!this.regions) return this.scanWhole(bytes);
    if (this.targetsByKeyword === null) {
      // A few KiB cost little either way, and the result is the same.
      if (bytes.byteLength <= SMALL_BUFFER) return this.scanWhole(bytes);
      this.prepare();
    }
    const hits = this.prefilter.ends(bytes);
    if (hits.length === 0) return [];
    // Per-slot lists live in arrays kept across scans and emptied after each: a scan per file,
    // and fresh arrays of a few hundred slots each time would be garbage to collect.
    const asked: HitTargets = { windows: this.windowsBySlot, spans: this.spansBySlot, triggered: this.triggeredBySlot, touched: [], regional: [], triggers: [] };
    try {
      // One Buffer view for the hit loop, the texts and the line numbers: a view per use was three
      // allocations per scan, and most files are scanned whole in one small buffer.
      const buf = bufferOf(bytes);
      this.collectTargets(buf, hits, asked);
      if (asked.touched.length === 0 && asked.regional.length === 0) return [];
      return this.runPatterns(buf, asked);
    } finally {
      for (const a of asked.touched) asked.windows[a.slot] = undefined;
      for (const rule of asked.regional) asked.spans[rule.slot] = undefined;
      for (const rule of asked.triggers) asked.triggered[rule.slot] = 0;
    }
  }

  private windowsBySlot: (number[] | undefined)[] = [];
  private spansBySlot: (number[] | undefined)[] = [];
  private triggeredBySlot = new Uint8Array(0);

  /** Goes through the keyword hits and records what each asks for in `asked`. */
  private collectTargets(buf: Buffer, hits: Int32Array, asked: HitTargets): void {
    const { windows, spans, triggered, touched, regional, triggers } = asked;
    // For each byte value: where it next occurs at or after the hit being looked at (-1: nowhere).
    // Hits come in order of their end, so each is found by one forward search at most.
    const next = this.next.fill(-2);
    for (let i = 0; i < hits.length; i += 2) {
      const end = hits[i + 1]!;
      const targets = this.targetsByState[hits[i]!] ?? this.targetsOf(hits[i]!);
      // One check for all of a state's targets first: a "://" in a lockfile URL has three, and
      // all of them need an @ that is not there.
      const gate = this.gatesByState[hits[i]!];
      if (gate && !follows(gate, buf, end, next)) continue;
      for (let t = 0; t < targets.length; t++) {
        const target = targets[t]!;
        const a = target.anchored;
        if (a !== null) {
          if (a.followCheck !== null && !follows(a.followCheck, buf, end, next)) continue;
          if (a.starts !== null && !startsWithOne(buf, end - target.back, end, a.starts)) continue;
          let list = windows[a.slot];
          if (list === undefined) {
            windows[a.slot] = list = [];
            touched.push(a);
          }
          // Starts from (keyword start - lead) to the keyword start.
          const first = end - target.back;
          list.push(first < 0 ? 0 : first, first + a.lead);
        } else if (target.rule !== null) {
          const rule = target.rule;
          let list = spans[rule.slot];
          if (list === undefined) {
            spans[rule.slot] = list = [];
            regional.push(rule);
          }
          if (rule.reach === Infinity) {
            if (list.length === 0) list.push(0, buf.length);
          } else list.push(Math.max(0, end - rule.reach), Math.min(buf.length, end + rule.reach));
        } else {
          const rule = target.trigger!;
          if (triggered[rule.slot] === 0) {
            triggered[rule.slot] = 1;
            triggers.push(rule);
          }
        }
      }
    }
  }

  /**
   * Runs what the hits asked for, rule by rule and each rule's patterns in order, as a
   * whole-buffer run does: where two patterns of a rule match at one offset, the first one's
   * match is the one kept.
   */
  private runPatterns(bytes: Buffer, asked: HitTargets): RawMatch[] {
    const { windows, spans, triggered } = asked;
    const text = new BufferText(bytes, this.stats);
    const found: Found[] = [];
    const seen = new Set<string>();
    const take = (rule: CompiledRule, match: RegExpExecArray, shift: number) => {
      const secret = match.groups?.secret;
      const span = match.indices?.groups?.secret;
      if (!secret || !span) return;
      if (!this.accept(rule, secret)) return;
      const offset = span[0] + shift;
      const key = `${rule.spec.id}\0${offset}`;
      if (seen.has(key)) return;
      seen.add(key);
      const kept = this.found(rule, secret, offset, (from, to) => text.slice(Math.max(0, from), Math.min(text.length, to)));
      if (kept !== null && firstOf(kept, rule.spec.id, seen)) found.push(kept);
    };
    const rules = new Set<CompiledRule>(asked.regional);
    for (const a of asked.touched) rules.add(a.rule);
    for (const rule of [...rules].sort((x, y) => x.slot - y.slot)) {
      const regions = spans[rule.slot] === undefined ? null : this.regionsOf(rule, spans[rule.slot]!, bytes.length);
      for (const compiled of rule.patterns) {
        const a = compiled.anchor;
        if (a !== null) {
          if (windows[a.slot] !== undefined && (!a.needle || triggered[rule.slot] === 1)) this.runAnchored(a, windows[a.slot]!, text, take);
        } else if (regions !== null) this.runRegions(rule, compiled, regions, text.whole(), take);
      }
    }
    return withLineNumbers(bytes, found);
  }

  /** Tries an anchored pattern at every start in the windows, left to right, as a global exec would. */
  private runAnchored(
    a: AnchoredPattern,
    list: number[],
    texts: BufferText,
    take: (rule: CompiledRule, m: RegExpExecArray, shift: number) => void,
  ): void {
    if (!isSortedPairs(list)) list = sortPairs(list);
    const last = texts.length;
    // Where a global exec would go on from: the end of the last match.
    let cursor = 0;
    for (let i = 0; i < list.length; ) {
      const from = list[i]!;
      let to = list[i + 1]!;
      i += 2;
      while (i < list.length && list[i]! <= to + 1) {
        if (list[i + 1]! > to) to = list[i + 1]!;
        i += 2;
      }
      let pos = from > cursor ? from : cursor;
      if (to > last) to = last;
      while (pos <= to) {
        if (a.caret) {
          const found = lineStart(texts.bytes, pos, pos + a.lead, a.multiline);
          if (found < 0) {
            pos += a.lead + 1;
            continue;
          }
          pos = found;
        }
        const cut = this.textFor(a, texts, pos, to);
        const next = this.execStarts(a, texts, cut, pos, take);
        if (next.after !== -1) cursor = next.after;
        pos = next.pos;
      }
    }
  }

  /**
   * Text from `margin` before the first start to `margin` after the last holds all that execs
   * from these starts examine: a short window gets a string of its own; a long one, or execs
   * beyond the margin's reach, the segment strings (execs start only in a segment's core).
   */
  private textFor(a: AnchoredPattern, texts: BufferText, pos: number, to: number): StartsText {
    const last = texts.length;
    if (!a.segmented) return { text: texts.whole(), base: 0, limit: to };
    if (to - pos < LOCAL_WINDOW) {
      const base = Math.max(0, pos - a.behind);
      return { text: texts.slice(base, Math.min(last, to + a.lead + a.ahead + 1)), base, limit: to };
    }
    const segment = (pos / SEGMENT) | 0;
    return { text: texts.segment(segment), base: texts.segmentBase(segment), limit: Math.min(to, (segment + 1) * SEGMENT - 1) };
  }

  /**
   * Execs the sticky pattern from `pos` on, every lead + 1 starts, up to `cut.limit`; a match
   * hands its result to `take`, and the next start is where a global exec would go on from.
   * Returns the next start to try, and where the last match had execs go on from (-1: none).
   */
  private execStarts(
    a: AnchoredPattern,
    texts: BufferText,
    cut: StartsText,
    pos: number,
    take: (rule: CompiledRule, m: RegExpExecArray, shift: number) => void,
  ): { pos: number; after: number } {
    const { text, base, limit } = cut;
    const re = a.regex;
    const step = a.lead + 1;
    const confirm = a.segmented && a.confirm && (base > 0 || base + text.length < texts.length);
    let after = -1;
    while (pos <= limit) {
      if (a.caret) {
        // No exec where no start is at a line start (or the buffer start).
        const found = lineStart(texts.bytes, pos, pos + a.lead, a.multiline);
        if (found < 0) {
          pos += step;
          continue;
        }
        pos = found;
      }
      re.lastIndex = pos - base;
      this.stats.regexRuns++;
      this.stats.regexChars += step;
      let m = re.exec(text);
      let shift = base;
      if (m !== null && confirm) {
        re.lastIndex = pos;
        m = re.exec(texts.whole());
        shift = 0;
      }
      if (m === null) {
        pos += step;
        continue;
      }
      take(a.rule, m, shift);
      // A global exec goes on from the end of the match (one further after an empty one).
      const end = shift + re.lastIndex;
      after = end > pos ? end : pos + 1;
      pos = after;
    }
    return { pos, after };
  }

  /** A rule's merged regions, or the whole buffer when they cover most of it or reach is unbounded. */
  private regionsOf(rule: CompiledRule, spans: number[], length: number): number[] {
    const merged = mergeSpans(spans);
    let covered = 0;
    for (let i = 0; i < merged.length; i += 2) covered += merged[i + 1]! - merged[i]!;
    return !Number.isFinite(rule.reach) || covered >= length * REGION_SHARE ? [0, length] : merged;
  }

  private runRegions(
    rule: CompiledRule,
    compiled: CompiledPattern,
    regions: number[],
    text: string,
    take: (rule: CompiledRule, m: RegExpExecArray, shift: number) => void,
  ): void {
    for (let i = 0; i < regions.length; i += 2) {
      const start = regions[i]!;
      const end = regions[i + 1]!;
      const sub = start === 0 && end === text.length ? text : text.slice(start, end);
      const pattern = compiled.regex;
      this.stats.regexRuns++;
      this.stats.regexChars += sub.length;
      pattern.lastIndex = 0;
      for (let m = pattern.exec(sub); m !== null; m = pattern.exec(sub)) {
        let match: RegExpExecArray = m;
        let shift = start;
        if (sub !== text) {
          // Confirm in the whole buffer; an edge artefact moves on by one character.
          const sticky = compiled.sticky;
          sticky.lastIndex = start + m.index;
          const confirmed = sticky.exec(text);
          if (!confirmed) {
            pattern.lastIndex = m.index + 1;
            continue;
          }
          match = confirmed;
          shift = 0;
          pattern.lastIndex = Math.max(m.index + 1, confirmed.index + confirmed[0].length - start);
        } else if (m[0].length === 0) {
          pattern.lastIndex++;
        }
        take(rule, match, shift);
      }
    }
  }

  /** Every candidate rule's patterns over the whole buffer: the reference the regions must equal. */
  private scanWhole(bytes: Uint8Array): RawMatch[] {
    const rules = this.candidates(bytes);
    if (rules.length === 0) return [];
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    const found: Found[] = [];
    const seen = new Set<string>();
    for (const rule of rules) {
      for (const compiled of rule.patterns) {
        const pattern = compiled.regex;
        this.stats.regexRuns++;
        this.stats.regexChars += text.length;
        pattern.lastIndex = 0;
        for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
          if (m[0].length === 0) pattern.lastIndex++;
          const secret = m.groups?.secret;
          const span = m.indices?.groups?.secret;
          if (!secret || !span || !this.accept(rule, secret)) continue;
          const key = `${rule.spec.id}\0${span[0]}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const kept = this.found(rule, secret, span[0], (from, to) => text.slice(Math.max(0, from), to));
          if (kept !== null && firstOf(kept, rule.spec.id, seen)) found.push(kept);
        }
      }
    }
    return withLineNumbers(bufferOf(bytes), found);
  }

  /**
   * A match as kept, or null for a documentation sample (a catch-all match, or a stand-in in a credential's syntax). A catch-all rule's also names the service its setting is for, when it does,
   * and is reported under that service's rule when the value has that rule's shape (see promote.ts).
   * `around(from, to)` is the scanned text between two offsets (clamped to it).
   */
  private found(rule: CompiledRule, secret: string, offset: number, around: (from: number, to: number) => string): Found | null {
    if (rule.spec.credentialContext && isDocumentationStandIn(secret, () => around(0, offset))) return null;
    if (!rule.spec.generic) return { ruleId: rule.spec.id, secret, offset };
    if (isDocumentationPassword(secret, () => around(0, offset))) return null;
    const from = Math.max(0, offset - PROMOTION_BEFORE);
    const provider = serviceBefore(around(offset - 160, offset), this.knownProviders);
    const promoted = this.promotion.ruleFor(rule.spec.id, secret, provider, around(from, offset + secret.length + PROMOTION_AFTER), offset - from);
    if (promoted !== null) return { ruleId: promoted.spec.id, secret, offset };
    if (this.promotion.misshapenToken(rule.spec.id, secret)) return null;
    if (this.promotion.contradicts(rule.spec.id, secret, provider, around(from, offset), offset - from)) return null;
    return provider === null ? { ruleId: rule.spec.id, secret, offset } : { ruleId: rule.spec.id, secret, offset, provider };
  }

  private accept(rule: CompiledRule, secret: string): boolean {
    // The bar is there for stand-ins, not for keys whose alphabet keeps them near it (a provider
    // rule has matched the key's own shape). A catch-all rule's bar also tells words from values.
    if (rule.spec.entropy !== null && !meetsEntropy(secret, rule.spec.entropy) && !randomForItsAlphabet(secret, rule.spec.generic ? 'digits-or-hex' : 'any')) return false;
    if (rule.allow.some((a) => a.test(secret))) return false;
    // Catch-all rules take whatever follows a secret-like name, which in code is often a type name.
    return !isPlaceholder(secret, rule.spec.credentialContext) && !(rule.spec.generic && looksLikeIdentifier(secret));
  }
}

/** The text an anchored pattern's execs run on: where it starts in the buffer, the last start it serves. */
interface StartsText {
  text: string;
  base: number;
  limit: number;
}

/** What one scan's keyword hits asked for, by slot, with the slots used listed to empty them after. */
interface HitTargets {
  /** Per anchored pattern: start windows, as [first, last] pairs. */
  windows: (number[] | undefined)[];
  /** Per rule with unanchored patterns: regions, as [start, end) pairs. */
  spans: (number[] | undefined)[];
  /** Per rule with needle-anchored patterns: 1 when one of its keywords occurred. */
  triggered: Uint8Array;
  touched: AnchoredPattern[];
  regional: CompiledRule[];
  triggers: CompiledRule[];
}

interface Found {
  ruleId: string;
  secret: string;
  offset: number;
  provider?: string;
}

/**
 * Whether a kept match is the first of its rule at its offset. A catch-all match reported under a
 * provider rule (promote.ts) is the same finding as that rule's own match there.
 */
function firstOf(kept: Found, matchedBy: string, seen: Set<string>): boolean {
  if (kept.ruleId === matchedBy) return true;
  const key = `${kept.ruleId}\0${kept.offset}`;
  if (seen.has(key)) return false;
  seen.add(key);
  return true;
}

/**
 * What every target of one automaton state requires after the keyword, as one follow list: for
 * each character set that all of them constrain, the union of their sets within the farthest of
 * their distances. Null when some target has no such constraint (it needs nothing) or none is
 * shared. Failing it fails every target, so a hit can skip them all at once.
 */
function gateOf(targets: readonly Target[]): Follow[] | null {
  if (targets.length < 2 || targets.some((t) => t.anchored === null || t.anchored.follow.length === 0)) return null;
  const gate: Follow[] = [];
  // A constraint of the first target, widened to cover one of every other target's constraints
  // that overlaps it; kept only if each of them has one.
  for (const first of targets[0]!.anchored!.follow) {
    const codes = new Set(first.codes);
    let within = first.within;
    let shared = true;
    for (const other of targets.slice(1)) {
      const match = other.anchored!.follow.find((f) => f.codes.some((c) => codes.has(c)));
      if (!match) {
        shared = false;
        break;
      }
      for (const c of match.codes) codes.add(c);
      within = Math.max(within, match.within);
    }
    if (shared) gate.push({ codes: [...codes], within });
  }
  return gate.length > 0 ? gate : null;
}

/** One character class a match needs after its keyword, fewer than `within` characters from its end. */
interface Follow {
  codes: number[];
  within: number;
}

/**
 * Follow constraints packed into one typed array for the hit loop, which checks them for every
 * keyword hit (millions in an image): [count, then per constraint: within, number of codes, the
 * codes], read with no property loads.
 */
function packFollow(follow: readonly Follow[]): Int32Array {
  const packed = [follow.length];
  for (const f of follow) packed.push(f.within, f.codes.length, ...f.codes);
  return Int32Array.from(packed);
}

/** Whether every required character class occurs close enough after a keyword ending at `end`. */
function follows(check: Int32Array, buf: Buffer, end: number, next: Int32Array): boolean {
  const count = check[0]!;
  // First what the cached positions already decide, so a rare character that is nowhere near
  // (the @ of user:password@host after every "://" of a lockfile) fails the hit before a common
  // one (the :) is searched for.
  for (let i = 0, p = 1; i < count; i++) {
    const within = check[p]!;
    const codes = check[p + 1]!;
    p += 2;
    let nearest = NOWHERE;
    let known = true;
    for (let j = 0; j < codes; j++) {
      const at = next[check[p + j]!]!;
      if (at === -1) continue;
      if (at < end) {
        known = false;
        break;
      }
      if (at - end < nearest) nearest = at - end;
    }
    p += codes;
    if (known && nearest >= within) return false;
  }
  for (let i = 0, p = 1; i < count; i++) {
    const within = check[p]!;
    const codes = check[p + 1]!;
    p += 2;
    let nearest = NOWHERE;
    for (let j = 0; j < codes; j++) {
      const c = check[p + j]!;
      let at = next[c]!;
      if (at !== -1 && at < end) next[c] = at = buf.indexOf(c, end);
      if (at !== -1 && at - end < nearest) nearest = at - end;
    }
    p += codes;
    if (nearest >= within) return false;
  }
  return true;
}

/** Whether bytes [from, to) agree with one of `starts` over the length they share. */
function startsWithOne(buf: Buffer, from: number, to: number, starts: readonly Uint8Array[]): boolean {
  for (const start of starts) {
    const n = Math.min(start.length, to - from);
    let j = 0;
    while (j < n && buf[from + j] === start[j]) j++;
    if (j === n) return true;
  }
  return false;
}

/** The text around a catch-all match searched for a service's name (see promote.ts). */
const PROMOTION_BEFORE = 1500;
const PROMOTION_AFTER = 300;

/** Farther than any `within` (an Int32Array holds them). */
const NOWHERE = 0x7fffffff;

/** The first position in [from, to] where ^ can hold (-1: none). */
function lineStart(bytes: Uint8Array, from: number, to: number, multiline: boolean): number {
  if (from === 0) return 0;
  if (!multiline) return -1;
  const last = Math.min(to, bytes.length);
  for (let s = from; s <= last; s++) {
    const b = bytes[s - 1]!;
    if (b === 10 || b === 13) return s;
  }
  return -1;
}

function isSortedPairs(list: number[]): boolean {
  for (let i = 2; i < list.length; i += 2) if (list[i]! < list[i - 2]!) return false;
  return true;
}

function sortPairs(list: number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < list.length; i += 2) pairs.push([list[i]!, list[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  return pairs.flat();
}

/** Sorted, merged [start, end) pairs from possibly overlapping ones. */
function mergeSpans(spans: number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < spans.length; i += 2) pairs.push([spans[i]!, spans[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [s, e] of pairs) {
    if (out.length > 0 && s <= out[out.length - 1]!) out[out.length - 1] = Math.max(out[out.length - 1]!, e);
    else out.push(s, e);
  }
  return out;
}

/** The bytes as a Buffer: themselves when they are one, else a view. */
function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function withLineNumbers(buf: Buffer, found: Found[]): RawMatch[] {
  if (found.length === 0) return [];
  found.sort((a, b) => a.offset - b.offset);
  let line = 1;
  let lineStart = 0;
  let cursor = 0;
  return found.map((f) => {
    for (let nl = buf.indexOf(10, cursor); nl !== -1 && nl < f.offset; nl = buf.indexOf(10, nl + 1)) {
      line++;
      lineStart = nl + 1;
    }
    cursor = lineStart;
    const match: RawMatch = { ruleId: f.ruleId, secret: f.secret, offset: f.offset, line, column: f.offset - lineStart + 1 };
    if (f.provider !== undefined) match.provider = f.provider;
    return match;
  });
}

/** The buffer as latin1 text (one UTF-16 unit per byte, so indices are byte offsets), made on demand. */
class BufferText {
  private readonly buf: Buffer;
  readonly bytes: Uint8Array;
  private full: string | null = null;
  private readonly segments: (string | undefined)[] = [];
  readonly length: number;

  constructor(
    bytes: Buffer,
    private readonly stats: EngineStats,
  ) {
    this.buf = bytes;
    this.bytes = bytes;
    this.length = bytes.byteLength;
  }

  whole(): string {
    if (this.full === null) {
      this.full = this.buf.toString('latin1');
      this.stats.textChars += this.length;
    }
    return this.full;
  }

  /** Bytes [start, end) as a string. */
  slice(start: number, end: number): string {
    this.stats.textChars += end - start;
    return this.full !== null ? this.full.slice(start, end) : this.buf.toString('latin1', start, end);
  }

  /** Where segment k's string starts in the buffer. */
  segmentBase(k: number): number {
    return Math.max(0, k * SEGMENT - SEGMENT_MARGIN);
  }

  /** Segment k: bytes [k·SEGMENT, (k+1)·SEGMENT) with SEGMENT_MARGIN more on each side. */
  segment(k: number): string {
    let text: string | undefined = this.segments[k];
    if (text === undefined) {
      text = this.full !== null
        ? this.full.slice(this.segmentBase(k), Math.min(this.length, (k + 1) * SEGMENT + SEGMENT_MARGIN))
        : this.buf.toString('latin1', this.segmentBase(k), Math.min(this.length, (k + 1) * SEGMENT + SEGMENT_MARGIN));
      this.segments[k] = text;
      this.stats.textChars += text.length;
    }
    return text;
  }
}
