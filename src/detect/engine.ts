import type { RuleSpec } from './rules.js';
import { KeywordPrefilter } from './prefilter.js';
import { isPlaceholder, shannonEntropy } from './filters.js';
import { maxExtent } from './extent.js';

/** One secret a rule found in one buffer; offsets are byte offsets into that buffer. */
export interface RawMatch {
  ruleId: string;
  secret: string;
  offset: number;
  /** 1-based line within the buffer. */
  line: number;
  /** 1-based byte column within that line. */
  column: number;
}

interface CompiledRule {
  spec: RuleSpec;
  patterns: RegExp[];
  /** The same patterns, sticky: to confirm a match found in a region against the whole buffer. */
  sticky: RegExp[];
  allow: RegExp[];
  /**
   * How far from a keyword occurrence a match (with its lookarounds) can reach: the longest any
   * pattern can examine plus the longest keyword. Infinity: the rule runs on the whole buffer.
   */
  reach: number;
}

export interface EngineOptions {
  /** Run rules only in regions around their keyword hits (default true); false: whole buffer. */
  regions?: boolean;
}

/** Counters for tests and tuning: how much text the regular expressions were run over. */
export interface EngineStats {
  /** Characters handed to regular expressions (region length × patterns). */
  regexChars: number;
  /** Pattern executions started on a region or a whole buffer. */
  regexRuns: number;
}

// When a rule's regions cover more than this share of the buffer, it runs on the whole buffer.
const REGION_SHARE = 0.5;

/**
 * Runs every rule whose keyword occurs in a buffer. Pure and synchronous: the worker pool runs one
 * of these per thread, and tests run it directly.
 */
export class DetectionEngine {
  private readonly prefilter: KeywordPrefilter;
  /** For each keyword index, the rules that list it. */
  private readonly rulesByKeyword: CompiledRule[][];
  readonly rules: readonly RuleSpec[];

  readonly stats: EngineStats = { regexChars: 0, regexRuns: 0 };
  private readonly regions: boolean;

  constructor(rules: readonly RuleSpec[], options: EngineOptions = {}) {
    this.rules = rules;
    this.regions = options.regions !== false;
    const keywordIndex = new Map<string, number>();
    const rulesByKeyword: CompiledRule[][] = [];
    for (const spec of rules) {
      const longestKeyword = Math.max(...spec.keywords.map((k) => k.length));
      const compiled: CompiledRule = {
        spec,
        patterns: spec.patterns.map((p) => new RegExp(p.regex, p.flags + 'gd')),
        sticky: spec.patterns.map((p) => new RegExp(p.regex, p.flags + 'dy')),
        allow: spec.allow.map((a) => new RegExp(a)),
        reach: Math.max(...spec.patterns.map((p) => maxExtent(p.regex))) + longestKeyword,
      };
      for (const keyword of spec.keywords) {
        let index = keywordIndex.get(keyword);
        if (index === undefined) {
          index = rulesByKeyword.length;
          keywordIndex.set(keyword, index);
          rulesByKeyword.push([]);
        }
        rulesByKeyword[index]!.push(compiled);
      }
    }
    this.prefilter = new KeywordPrefilter([...keywordIndex.keys()]);
    this.rulesByKeyword = rulesByKeyword;
  }

  /** Rules whose keywords occur in `bytes`: what the prefilter lets through. */
  candidateRules(bytes: Uint8Array): RuleSpec[] {
    return this.candidates(bytes).map((r) => r.spec);
  }

  private candidates(bytes: Uint8Array): CompiledRule[] {
    const selected = new Set<CompiledRule>();
    for (const k of this.prefilter.match(bytes)) for (const r of this.rulesByKeyword[k]!) selected.add(r);
    return [...selected];
  }

  /**
   * Each rule whose keywords occur runs its patterns only on the regions within `reach` of those
   * occurrences (merged), or on the whole buffer when they cover most of it or reach is unbounded.
   * A region is cut out of the buffer, so assertions at its edges (lookbehind, ^, $, \b) see
   * less context than in the buffer and can only match more, never less; every match found in a
   * region is therefore confirmed by running the sticky pattern at the same place in the whole
   * buffer, and an unconfirmed one is skipped one character at a time, as the engine itself would.
   */
  scan(bytes: Uint8Array): RawMatch[] {
    const hits = this.regions ? this.prefilter.hits(bytes) : null;
    const regions = new Map<CompiledRule, number[]>();
    if (hits) {
      for (let i = 0; i < hits.length; i += 2) {
        const end = hits[i + 1]!;
        for (const rule of this.rulesByKeyword[hits[i]!]!) {
          let list = regions.get(rule);
          if (!list) regions.set(rule, (list = []));
          list.push(Math.max(0, end - rule.reach), Math.min(bytes.length, end + rule.reach));
        }
      }
    } else {
      for (const r of this.candidates(bytes)) regions.set(r, [0, bytes.length]);
    }
    if (regions.size === 0) return [];
    // latin1 maps each byte to one UTF-16 unit, so string indices are byte offsets.
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    const found: { ruleId: string; secret: string; offset: number }[] = [];
    const seen = new Set<string>();
    for (const [rule, spans] of regions) {
      const merged = mergeSpans(spans);
      let covered = 0;
      for (let i = 0; i < merged.length; i += 2) covered += merged[i + 1]! - merged[i]!;
      const whole = !Number.isFinite(rule.reach) || covered >= text.length * REGION_SHARE;
      const todo = whole ? [0, text.length] : merged;
      for (let i = 0; i < todo.length; i += 2) {
        const start = todo[i]!;
        const end = todo[i + 1]!;
        const sub = start === 0 && end === text.length ? text : text.slice(start, end);
        rule.patterns.forEach((pattern, p) => {
          this.stats.regexRuns++;
          this.stats.regexChars += sub.length;
          pattern.lastIndex = 0;
          for (let m = pattern.exec(sub); m !== null; m = pattern.exec(sub)) {
            let match: RegExpExecArray = m;
            let shift = start;
            if (sub !== text) {
              // Confirm in the whole buffer; an edge artefact moves on by one character.
              const sticky = rule.sticky[p]!;
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
            const secret = match.groups?.secret;
            const span = match.indices?.groups?.secret;
            if (!secret || !span) continue;
            if (!this.accept(rule, secret)) continue;
            const offset = span[0] + shift;
            const key = `${rule.spec.id}\0${offset}`;
            if (seen.has(key)) continue;
            seen.add(key);
            found.push({ ruleId: rule.spec.id, secret, offset });
          }
        });
      }
    }
    return withLineNumbers(text, found);
  }

  private accept(rule: CompiledRule, secret: string): boolean {
    if (rule.spec.entropy !== null && shannonEntropy(secret) < rule.spec.entropy) return false;
    if (rule.allow.some((a) => a.test(secret))) return false;
    return !isPlaceholder(secret);
  }
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

function withLineNumbers(text: string, found: { ruleId: string; secret: string; offset: number }[]): RawMatch[] {
  found.sort((a, b) => a.offset - b.offset);
  let line = 1;
  let lineStart = 0;
  let cursor = 0;
  return found.map((f) => {
    for (let nl = text.indexOf('\n', cursor); nl !== -1 && nl < f.offset; nl = text.indexOf('\n', nl + 1)) {
      line++;
      lineStart = nl + 1;
    }
    cursor = lineStart;
    return { ...f, line, column: f.offset - lineStart + 1 };
  });
}
