import type { RuleSpec } from './rules.js';
import { KeywordPrefilter } from './prefilter.js';
import { isPlaceholder, shannonEntropy } from './filters.js';

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
  allow: RegExp[];
}

/**
 * Runs every rule whose keyword occurs in a buffer. Pure and synchronous: the worker pool runs one
 * of these per thread, and tests run it directly.
 */
export class DetectionEngine {
  private readonly prefilter: KeywordPrefilter;
  /** For each keyword index, the rules that list it. */
  private readonly rulesByKeyword: CompiledRule[][];
  readonly rules: readonly RuleSpec[];

  constructor(rules: readonly RuleSpec[]) {
    this.rules = rules;
    const keywordIndex = new Map<string, number>();
    const rulesByKeyword: CompiledRule[][] = [];
    for (const spec of rules) {
      const compiled: CompiledRule = {
        spec,
        patterns: spec.patterns.map((p) => new RegExp(p.regex, p.flags + 'gd')),
        allow: spec.allow.map((a) => new RegExp(a)),
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

  scan(bytes: Uint8Array): RawMatch[] {
    const candidates = this.candidates(bytes);
    if (candidates.length === 0) return [];
    // latin1 maps each byte to one UTF-16 unit, so string indices are byte offsets.
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    const found: { ruleId: string; secret: string; offset: number }[] = [];
    const seen = new Set<string>();
    for (const rule of candidates) {
      for (const pattern of rule.patterns) {
        pattern.lastIndex = 0;
        for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
          if (m[0].length === 0) pattern.lastIndex++;
          const secret = m.groups?.secret;
          const span = m.indices?.groups?.secret;
          if (!secret || !span) continue;
          if (!this.accept(rule, secret)) continue;
          const key = `${rule.spec.id}\0${span[0]}`;
          if (seen.has(key)) continue;
          seen.add(key);
          found.push({ ruleId: rule.spec.id, secret, offset: span[0] });
        }
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
