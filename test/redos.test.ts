/**
 * No regular expression the scanner runs may backtrack catastrophically.
 *
 * Every regex is read by a small parser (below) that knows its alphabet (each character class and
 * literal, with the regex's own flags) and its structure (quantifiers, groups, lookarounds). From
 * that it builds adversarial inputs: long runs of each kind of character the regex distinguishes,
 * the text leading up to each quantifier followed by a long run of what that quantifier eats and no
 * terminator, many such near-misses back to back, alternating runs of adjacent quantifiers, and
 * repeated keywords. Each input is a recipe (head + unit repeated + tail), so the same shape is built
 * at any length.
 *
 * Detection is by growth, never by absolute speed: the regex runs the way the engine runs it
 * (engine.ts: same compiled object, global exec with lastIndex over the whole text; `test()` for the
 * allow patterns, the filters and the path globs) on the shape at n and 8n characters, and fails
 * when time(8n) / time(n) is far above linear (best of several runs, CPU time, confirmed once more
 * before failing). Most shapes are fast: each is screened at 2n first, and only one that could not
 * be fast at 8n is timed further. One absolute guard catches exponential blow-ups: a single run over 2 s fails,
 * and a run still going 0.5 s later is stopped by terminating its worker thread (a catastrophic
 * regex cannot be interrupted from its own thread). The slowest shape of each regex is also timed
 * once on a 1 MiB window.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { defaultDetectorsDir, loadRuleSet, type RuleSpec } from '../src/detect/rules.js';
import { DetectionEngine } from '../src/detect/engine.js';
import { loadAllowlist } from '../src/detect/allowlist.js';
import { generatedShapeOf, isGenerated, oneGeneratedRulePerShape } from './support/generated-rules.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DETECTORS_DIR = process.env.DETECTORS_DIR ?? defaultDetectorsDir();

// ---------------------------------------------------------------------------------------------
// Limits. A linear regex grows ×8 from n to 8n, a quadratic one ×64.
const SMALL = 4 * 1024;
const LARGE = 8 * SMALL;
/** Every shape is first run at this size (2n); only one that is not fast here is run at 8n. */
const SCREEN = LARGE / 4;
/** Fail when time(8n) / time(n) exceeds this. */
const RATIO_LIMIT = 30;
/** time(n) is never taken as less than this, so noise on sub-millisecond runs cannot fail a ratio. */
const SMALL_FLOOR_MS = 0.5;
/** A run on 8n this fast cannot exceed the ratio limit whatever time(n) is: no further timing. */
const FAST_MS = RATIO_LIMIT * SMALL_FLOOR_MS;
/** A screen this fast cannot reach FAST_MS at 8n even if the time grew with the cube of the length. */
const SCREEN_MS = FAST_MS / (LARGE / SCREEN) ** 3;
/** Any single run on 8n slower than this fails outright (exponential cases). */
const ABSOLUTE_MS = 2000;
/**
 * A run that has used this much more CPU than its limit without finishing is stopped by terminating
 * its worker (the process's CPU clock: the test thread itself is idle meanwhile). A wall-clock
 * backstop covers a machine so busy that the worker hardly runs.
 */
const WATCHDOG_SLACK_MS = 500;
const WATCHDOG_WALL_FACTOR = 5;
/** Best-of repetitions for a ratio, and for the confirmation of a suspected one. */
const REPS = 3;
const CONFIRM_REPS = 3;
/** The slowest shape of each regex is also timed once on a window this size (reported, and guarded)... */
const WINDOW = 1024 * 1024;
const WINDOW_ABSOLUTE_MS = 5000;
/** ...unless it took less than this at 8n: with its growth shown linear, a window costs it < ~50 ms. */
const WINDOW_MIN_MS = 1;

// ---------------------------------------------------------------------------------------------
// A regex, read just far enough to know its alphabet and its quantifiers.

type Node = SetNode | AssertNode | BackrefNode | GroupNode | AltNode | SeqNode | QuantNode;
interface SetNode {
  t: 'set';
  /** bits[c] = 1 when character code c (0-255: the engine scans latin1 text) is a member. */
  bits: Uint8Array;
  literal: boolean;
}
interface AssertNode {
  t: 'assert';
}
interface BackrefNode {
  t: 'backref';
  ref: string;
}
interface GroupNode {
  t: 'group';
  kind: 'capture' | 'plain' | 'ahead' | 'not-ahead' | 'behind' | 'not-behind';
  name: string | null;
  index: number;
  body: Node;
}
interface AltNode {
  t: 'alt';
  alts: Node[];
}
interface SeqNode {
  t: 'seq';
  items: Node[];
}
interface QuantNode {
  t: 'quant';
  body: Node;
  min: number;
  max: number;
}

interface Parsed {
  root: Node;
  sets: SetNode[];
  quants: QuantNode[];
  groups: Map<string, GroupNode>;
}

const SYNTAX = new Set('^$\\.*+?()[]{}|/');

/** Parses JavaScript regex syntax (ES2018+, flags i m s u): anything else throws. */
function parseRegex(source: string, flags: string): Parsed {
  const memberFlags = flags.replace(/[dgy]/g, '');
  const unicode = memberFlags.includes('u');
  const sets: SetNode[] = [];
  const quants: QuantNode[] = [];
  const groups = new Map<string, GroupNode>();
  const memo = new Map<string, Uint8Array>();
  let groupCount = 0;
  let pos = 0;

  const fail = (what: string): never => {
    throw new Error(`regex parser: ${what} at ${pos} of ${JSON.stringify(source.slice(0, 60))}`);
  };
  // Membership comes from the regex engine itself, with the regex's own flags (i, s, u matter).
  const set = (src: string, literal: boolean): SetNode => {
    let bits = memo.get(src);
    if (!bits) {
      const re = new RegExp(`^(?:${src})$`, memberFlags);
      bits = new Uint8Array(256);
      for (let c = 0; c < 256; c++) bits[c] = re.test(String.fromCharCode(c)) ? 1 : 0;
      memo.set(src, bits);
    }
    const node: SetNode = { t: 'set', bits, literal };
    sets.push(node);
    return node;
  };

  function alternation(): Node {
    const alts: Node[] = [sequence()];
    while (source[pos] === '|') {
      pos++;
      alts.push(sequence());
    }
    return alts.length === 1 ? alts[0]! : { t: 'alt', alts };
  }

  function sequence(): SeqNode {
    const items: Node[] = [];
    while (pos < source.length && source[pos] !== '|' && source[pos] !== ')') items.push(quantifier(atom()));
    return { t: 'seq', items };
  }

  function quantifier(body: Node): Node {
    let min: number;
    let max: number;
    const c = source[pos];
    if (c === '*' || c === '+' || c === '?') {
      pos++;
      min = c === '+' ? 1 : 0;
      max = c === '?' ? 1 : Infinity;
    } else if (c === '{') {
      const m = /^\{(\d+)(?:(,)(\d*))?\}/.exec(source.slice(pos));
      if (!m) return body; // a literal "{" (non-unicode mode): the next atom
      pos += m[0].length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    } else {
      return body;
    }
    if (source[pos] === '?') pos++; // lazy: same alphabet, same worst case
    const node: QuantNode = { t: 'quant', body, min, max };
    quants.push(node);
    return node;
  }

  function atom(): Node {
    const c = source[pos]!;
    if (c === '(') return group();
    if (c === '[') {
      const start = pos++;
      if (source[pos] === '^') pos++;
      while (pos < source.length && source[pos] !== ']') pos += source[pos] === '\\' ? 2 : 1;
      if (pos >= source.length) fail('unterminated class');
      pos++;
      return set(source.slice(start, pos), false);
    }
    if (c === '\\') return escape();
    if (c === '^' || c === '$') {
      pos++;
      return { t: 'assert' };
    }
    if (c === '.') {
      pos++;
      return set('.', false);
    }
    if (c === '*' || c === '+' || c === '?') fail('nothing to repeat');
    const code = unicode ? source.codePointAt(pos)! : source.charCodeAt(pos);
    pos += code > 0xffff ? 2 : 1;
    const src = SYNTAX.has(c) ? `\\${c}` : code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
    return set(src, true);
  }

  function escape(): Node {
    const start = pos;
    const c = source[pos + 1];
    if (c === undefined) return fail('trailing backslash');
    pos += 2;
    if (c === 'b' || c === 'B') return { t: 'assert' };
    if (c === 'k' && source[pos] === '<') {
      const end = source.indexOf('>', pos);
      if (end === -1) fail('unterminated \\k<');
      const ref = source.slice(pos + 1, end);
      pos = end + 1;
      return { t: 'backref', ref };
    }
    if (c >= '1' && c <= '9') {
      while (pos < source.length && source[pos]! >= '0' && source[pos]! <= '9') pos++;
      return { t: 'backref', ref: source.slice(start + 1, pos) };
    }
    const hex = (n: number) => new RegExp(`^[0-9a-fA-F]{${n}}`).test(source.slice(pos, pos + n));
    if ((c === 'u' || c === 'p' || c === 'P') && unicode && source[pos] === '{') {
      const end = source.indexOf('}', pos);
      if (end === -1) fail('unterminated \\u{ or \\p{');
      pos = end + 1;
    } else if (c === 'u' && hex(4)) pos += 4;
    else if (c === 'x' && hex(2)) pos += 2;
    else if (c === 'c' && /[A-Za-z]/.test(source[pos] ?? '')) pos += 1;
    return set(source.slice(start, pos), !/[dDwWsSpP.]/.test(c));
  }

  function group(): Node {
    pos++;
    let kind: GroupNode['kind'] = 'capture';
    let name: string | null = null;
    if (source[pos] === '?') {
      const head = source.slice(pos, pos + 3);
      if (head.startsWith('?:')) kind = 'plain';
      else if (head.startsWith('?=')) kind = 'ahead';
      else if (head.startsWith('?!')) kind = 'not-ahead';
      else if (head === '?<=') kind = 'behind';
      else if (head === '?<!') kind = 'not-behind';
      else if (head.startsWith('?<')) {
        const end = source.indexOf('>', pos);
        if (end === -1) fail('unterminated group name');
        name = source.slice(pos + 2, end);
        pos = end + 1;
      } else fail('unknown group syntax');
      if (name === null) pos += kind === 'behind' || kind === 'not-behind' ? 3 : 2;
    }
    const index = kind === 'capture' ? ++groupCount : 0;
    const node: GroupNode = { t: 'group', kind, name, index, body: { t: 'seq', items: [] } };
    if (index > 0) groups.set(String(index), node);
    if (name !== null) groups.set(name, node);
    node.body = alternation();
    if (source[pos] !== ')') fail('unclosed group');
    pos++;
    return node;
  }

  const root = alternation();
  if (pos !== source.length) fail('unbalanced ")"');
  return { root, sets, quants, groups };
}

// ---------------------------------------------------------------------------------------------
// Adversarial inputs, derived from the parsed regex.

/** One input shape: head + unit repeated to fill + tail, at any length. */
interface Recipe {
  head: string;
  unit: string;
  tail: string;
}

// Which member of a class stands for it: readable characters first.
const PREFERENCE: number[] = (() => {
  const first = 'aA0bB1zZ9_-.:/=+@ ;,"\'\t\n\r!#$%&*?<>()[]{}|\\^`~';
  const order: number[] = [];
  const seen = new Set<number>();
  const push = (c: number) => {
    if (!seen.has(c)) {
      seen.add(c);
      order.push(c);
    }
  };
  for (const ch of first) push(ch.charCodeAt(0));
  for (let c = 0x20; c < 0x7f; c++) push(c);
  for (let c = 0xa0; c < 0x100; c++) push(c);
  for (let c = 0; c < 0x100; c++) push(c);
  return order;
})();

const WITNESS_REPEAT_CAP = 64;
const PART_CAP = 1024;

function firstMember(bits: Uint8Array): string {
  for (const c of PREFERENCE) if (bits[c]) return String.fromCharCode(c);
  return '';
}

class Shapes {
  private readonly p: Parsed;
  /** One character per behaviour: characters with the same membership in every set are equivalent. */
  readonly reps: string[];
  /** A character the regex treats most like a stranger (in no set if there is one). */
  readonly foreign: string;
  private readonly memberships: Map<string, number>;

  constructor(parsed: Parsed) {
    this.p = parsed;
    const bySignature = new Map<string, number>();
    const count = new Map<string, number>();
    for (const c of PREFERENCE) {
      let signature = '';
      let n = 0;
      for (const s of parsed.sets) {
        signature += s.bits[c] ? '1' : '0';
        n += s.bits[c]!;
      }
      if (!bySignature.has(signature)) bySignature.set(signature, c);
      count.set(String.fromCharCode(c), n);
    }
    this.reps = [...bySignature.values()].map((c) => String.fromCharCode(c));
    this.memberships = count;
    this.foreign = [...this.reps].sort((a, b) => count.get(a)! - count.get(b)!)[0]!;
  }

  /** The shortest text the node matches ("min"), or with every repetition taken at least once ("one"). */
  witness(node: Node, mode: 'min' | 'one', depth = 0): string {
    if (depth > 40) return '';
    switch (node.t) {
      case 'set':
        return firstMember(node.bits);
      case 'assert':
        return '';
      case 'backref': {
        const g = this.p.groups.get(node.ref);
        return g ? this.witness(g.body, mode, depth + 1) : '';
      }
      case 'group':
        return node.kind === 'capture' || node.kind === 'plain' ? this.witness(node.body, mode, depth + 1) : '';
      case 'alt':
        return this.witness(node.alts[0]!, mode, depth + 1);
      case 'seq':
        return node.items.map((i) => this.witness(i, mode, depth + 1)).join('').slice(0, PART_CAP);
      case 'quant': {
        const times = Math.min(mode === 'min' ? node.min : Math.max(node.min, 1), WITNESS_REPEAT_CAP);
        return this.witness(node.body, mode, depth + 1).repeat(times).slice(0, PART_CAP);
      }
    }
  }

  /** The text leading up to `target` inside `node` (lookarounds that hold it are transparent), or null. */
  before(node: Node, target: Node): string | null {
    if (node === target) return '';
    switch (node.t) {
      case 'seq': {
        let acc = '';
        for (const item of node.items) {
          const inner = this.before(item, target);
          if (inner !== null) return (acc + inner).slice(-PART_CAP);
          acc += this.witness(item, 'min');
        }
        return null;
      }
      case 'alt':
        for (const a of node.alts) {
          const inner = this.before(a, target);
          if (inner !== null) return inner;
        }
        return null;
      case 'group':
      case 'quant':
        return this.before(node.body, target);
      case 'set':
      case 'assert':
      case 'backref':
        return null;
    }
  }

  /** The text that completes a match after `target`, or null. */
  after(node: Node, target: Node): string | null {
    if (node === target) return '';
    switch (node.t) {
      case 'seq':
        for (const [i, item] of node.items.entries()) {
          const inner = this.after(item, target);
          if (inner !== null) {
            const rest = node.items.slice(i + 1).map((x) => this.witness(x, 'min')).join('');
            return (inner + rest).slice(0, PART_CAP);
          }
        }
        return null;
      case 'alt':
        for (const a of node.alts) {
          const inner = this.after(a, target);
          if (inner !== null) return inner;
        }
        return null;
      case 'group':
      case 'quant':
        return this.after(node.body, target);
      case 'set':
      case 'assert':
      case 'backref':
        return null;
    }
  }

  private contains(node: Node, target: Node): boolean {
    return this.before(node, target) !== null;
  }

  /** What one more iteration of a quantifier eats: its most ambiguous characters, or its body's text. */
  units(q: QuantNode): string[] {
    const out = new Set<string>();
    const body = q.body;
    if (body.t === 'set') {
      out.add(firstMember(body.bits));
      // Characters that many sets accept are where neighbouring quantifiers overlap.
      const members = this.reps.filter((c) => body.bits[c.charCodeAt(0)]);
      members.sort((a, b) => this.memberships.get(b)! - this.memberships.get(a)!);
      for (const c of members) {
        if (out.size >= 3) break;
        out.add(c);
      }
    } else {
      out.add(this.witness(body, 'one'));
      out.add(this.witness(body, 'min'));
      let inner: Node = body;
      while (inner.t === 'group' || (inner.t === 'seq' && inner.items.length === 1)) inner = inner.t === 'group' ? inner.body : inner.items[0]!;
      if (inner.t === 'alt') for (const a of inner.alts.slice(0, 3)) out.add(this.witness(a, 'one'));
    }
    out.delete('');
    return [...out].slice(0, 4);
  }

  /** Literal words (keywords, prefixes) the regex spells out. */
  words(): string[] {
    const out = new Set<string>();
    const walk = (node: Node) => {
      switch (node.t) {
        case 'seq': {
          let word = '';
          for (const item of node.items) {
            if (item.t === 'set' && item.literal) word += firstMember(item.bits);
            else {
              if (word.length >= 2) out.add(word);
              word = '';
              walk(item);
            }
          }
          if (word.length >= 2) out.add(word);
          return;
        }
        case 'alt':
          node.alts.forEach(walk);
          return;
        case 'group':
        case 'quant':
          walk(node.body);
          return;
        case 'set':
        case 'assert':
        case 'backref':
          return;
      }
    };
    walk(this.p.root);
    return [...out];
  }

  recipes(): Recipe[] {
    const out = new Map<string, Recipe>();
    const { root, quants } = this.p;
    const f = this.foreign;
    const add = (head: string, unit: string, tail: string) => {
      head = head.slice(-PART_CAP);
      unit = unit.slice(0, PART_CAP);
      tail = tail.slice(0, PART_CAP);
      if (unit === '') return;
      const key = `${head}\0${unit}\0${tail}`;
      if (!out.has(key)) out.set(key, { head, unit, tail });
    };
    // Long runs of each kind of character, alone.
    for (const c of this.reps) add('', c, '');
    // Keywords, back to back and separated.
    for (const w of this.words()) {
      add('', w, '');
      add('', w + f, '');
    }
    // Whole near-matches, back to back.
    const whole = this.witness(root, 'one');
    for (const u of [whole, whole.slice(0, -1)]) {
      add('', u, '');
      add('', u + f, '');
    }
    // Each repetition: reached, then pumped with what it eats and left without its terminator.
    for (const [qi, q] of quants.entries()) {
      if (q.max < 2) continue;
      const units = this.units(q);
      const suffix = this.after(root, q) ?? '';
      const prefixes = new Set<string>([this.before(root, q) ?? '']);
      // Inside a lookaround the text that matters starts at the lookaround.
      const visitLookarounds = (node: Node) => {
        if (node.t === 'group') {
          if (node.kind !== 'capture' && node.kind !== 'plain') {
            const local = this.before(node.body, q);
            if (local !== null) prefixes.add(local);
          }
          visitLookarounds(node.body);
        } else if (node.t === 'seq') node.items.forEach(visitLookarounds);
        else if (node.t === 'alt') node.alts.forEach(visitLookarounds);
        else if (node.t === 'quant') visitLookarounds(node.body);
      };
      visitLookarounds(root);
      const next = quants.slice(qi + 1).find((o) => o.max >= 2 && !this.contains(q, o));
      const nextUnits = next ? this.units(next) : [];
      for (const p of prefixes) {
        for (const [ui, u] of units.entries()) {
          add(p, u, f); // one long near-miss: the terminator never comes
          add('', p + u.repeat(16) + f, ''); // many near-misses
          add('', p + u.repeat(16) + suffix, ''); // many matches with the repetition stretched
          if (ui === 0) {
            add(p, u, suffix);
            add('', p + u, '');
            add('', p + u + f, '');
          }
          // Alternating runs of this repetition and the next: where the two can trade characters.
          const u2 = nextUnits.find((x) => x !== u);
          if (u2 !== undefined) {
            add(p, u.repeat(8) + u2.repeat(8), f);
            add(p, u + u2, f);
          }
        }
      }
    }
    return [...out.values()];
  }
}

/** A short, readable description of a recipe: runs are counted, never printed in full. */
function show(s: string, max = 32): string {
  let out = '';
  let i = 0;
  while (i < s.length && out.length < max) {
    let j = i;
    while (j < s.length && s[j] === s[i]) j++;
    const ch = JSON.stringify(s[i]).slice(1, -1);
    out += j - i >= 4 ? `${ch}×${j - i}` : ch.repeat(j - i);
    i = j;
  }
  return `"${out}${i < s.length ? '…' : ''}"`;
}

function describeRecipe(r: Recipe): string {
  return [r.head ? show(r.head) : null, `(${show(r.unit)})…`, r.tail ? show(r.tail) : null].filter(Boolean).join(' + ');
}

// ---------------------------------------------------------------------------------------------
// Timing, in a worker thread so a runaway regex can be stopped.

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');

function build(r, n) {
  const fill = Math.max(0, n - r.head.length - r.tail.length);
  const body = r.unit.repeat(Math.ceil(fill / r.unit.length)).slice(0, fill);
  // A flat one-byte string, as the engine decodes a latin1 buffer.
  return Buffer.from(r.head + body + r.tail, 'latin1').toString('latin1');
}

// CPU time, not wall time: on a busy machine a long run is preempted more often than a short one,
// which would inflate the ratio. The process's CPU clock also counts helper threads (GC), so the
// smaller of the two clocks is the better estimate of this thread's own time.
function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// As engine.ts runs a rule over a whole buffer: global exec from lastIndex 0, stepping over empty
// matches; a non-global regex is used with test(). An anchored pattern (sticky, led by a lazy
// [\\s\\S]{0,lead}) is tried as the engine's runAnchored tries it when keyword hits cover the text:
// one exec per lead + 1 starts, going on from the end of a match.
function runOnce(re, s, lead) {
  re.lastIndex = 0;
  const c0 = cpuMs();
  const t0 = performance.now();
  if (lead !== null) {
    const step = lead + 1;
    for (let pos = 0; pos <= s.length; ) {
      re.lastIndex = pos;
      if (re.exec(s) === null) pos += step;
      else pos = re.lastIndex > pos ? re.lastIndex : pos + 1;
    }
  } else if (re.global || re.sticky) {
    for (let m = re.exec(s); m !== null; m = re.exec(s)) if (m[0].length === 0) re.lastIndex++;
  } else {
    re.test(s);
  }
  return Math.min(performance.now() - t0, cpuMs() - c0);
}

parentPort.on('message', (job) => {
  const { cfg } = job;
  const re = new RegExp(job.source, job.flags);
  const lead = job.lead ?? null;
  // The text of the current shape, built once per size (a window is never kept).
  let cached = new Map();
  let cachedFor = -1;
  const text = (i, n) => {
    if (cachedFor !== i) {
      cached = new Map();
      cachedFor = i;
    }
    let s = cached.get(n);
    if (s === undefined) {
      s = build(job.recipes[i], n);
      if (n <= cfg.large) cached.set(n, s);
    }
    return s;
  };
  // The watchdog in the test thread hears of every run before it starts (or of a pair of runs).
  const tick = (i, n) => parentPort.postMessage({ type: 'tick', id: job.id, recipe: i, size: n });
  const timed = (i, n, announce = true) => {
    const s = text(i, n);
    if (announce) tick(i, n);
    return runOnce(re, s, lead);
  };
  const best = (i, n, reps) => {
    let t = Infinity;
    for (let k = 0; k < reps; k++) t = Math.min(t, timed(i, n));
    return t;
  };
  const ratioOf = (small, large) => large / Math.max(small, cfg.floorMs);
  const measure = (res) => {
    // More runs at n, where they are cheap: a slowed-down small run would hide growth.
    res.small = best(res.i, cfg.small, cfg.reps + 2);
    res.large = Math.min(res.large ?? Infinity, best(res.i, cfg.large, res.large === null ? cfg.reps : cfg.reps - 1));
    res.ratio = ratioOf(res.small, res.large);
  };
  // How slow a shape is at 8n: measured, or extrapolated linearly from the screen.
  const rank = (res) => res.large ?? res.screen * (cfg.large / cfg.screen);
  let failure = null;
  let worst = null;
  let maxRatio = null;
  let runs = 0;
  const all = [];
  try {
    for (let i = 0; i < job.recipes.length && failure === null; i++) {
      tick(i, cfg.screen);
      timed(i, 256, false); // warm-up: V8 compiles (and tiers up) the regexp
      // Screen at a quarter of 8n: from below screenMs, even cubic growth stays under fastMs at 8n.
      const res = { i, screen: timed(i, cfg.screen, false), large: null, small: null, ratio: null };
      all.push(res);
      runs++;
      if (res.screen > cfg.absoluteMs) failure = { reason: 'absolute', ...res, large: res.screen, size: cfg.screen };
      else if (res.screen >= cfg.screenMs) {
        res.large = timed(i, cfg.large);
        if (res.large > cfg.absoluteMs) failure = { reason: 'absolute', ...res, size: cfg.large };
        else if (res.large >= cfg.fastMs) {
          measure(res);
          if (res.ratio > cfg.ratioLimit) {
            // Suspected: more runs, interleaved; the best times overall decide, so a busy spell
            // during the first runs cannot fail it.
            let small = Infinity;
            let large = Infinity;
            for (let k = 0; k < cfg.confirmReps; k++) {
              small = Math.min(small, timed(i, cfg.small));
              large = Math.min(large, timed(i, cfg.large));
            }
            res.small = Math.min(res.small, small);
            res.large = Math.min(res.large, large);
            res.ratio = ratioOf(res.small, res.large);
            if (res.ratio > cfg.ratioLimit) failure = { reason: 'ratio', ...res };
          }
        }
      }
      if (res.ratio !== null) maxRatio = Math.max(maxRatio ?? 0, res.ratio);
      if (worst === null || rank(res) > rank(worst)) worst = res;
    }
    if (failure === null && worst !== null) {
      // Report the growth of the slowest shape even when it was fast, and time it on a big window.
      if (worst.ratio === null) measure(worst);
      maxRatio = Math.max(maxRatio ?? 0, worst.ratio);
      if (cfg.window > 0 && worst.large >= cfg.windowMinMs) {
        worst.window = timed(worst.i, cfg.window);
        if (worst.window > cfg.windowAbsoluteMs) failure = { reason: 'window', ...worst };
      }
    }
    const slowest = all.sort((a, b) => rank(b) - rank(a)).slice(0, cfg.slowest).map((r) => r.i);
    parentPort.postMessage({ type: 'done', id: job.id, failure, worst, maxRatio, runs, slowest });
  } catch (error) {
    parentPort.postMessage({ type: 'done', id: job.id, failure: { reason: 'error', message: String(error) }, worst, maxRatio, runs, slowest: [] });
  }
});
`;

interface Measured {
  i: number;
  /** At the screen size (see SCREEN), and at 8n when that was run. */
  screen: number;
  large: number | null;
  small: number | null;
  ratio: number | null;
  window?: number;
}
interface Verdict {
  label: string;
  regex: string;
  /** The engine's keyword-anchored form of it was timed too. */
  anchored: boolean;
  recipes: number;
  failure: (Partial<Measured> & { reason: 'absolute' | 'ratio' | 'window' | 'timeout' | 'error'; message?: string; size?: number }) | null;
  worst: Measured | null;
  maxRatio: number | null;
  problem: string | null;
}

interface TimingConfig {
  small: number;
  large: number;
  screen: number;
  screenMs: number;
  window: number;
  ratioLimit: number;
  floorMs: number;
  fastMs: number;
  absoluteMs: number;
  windowAbsoluteMs: number;
  windowMinMs: number;
  reps: number;
  confirmReps: number;
}

const CONFIG: TimingConfig = {
  small: SMALL,
  large: LARGE,
  screen: SCREEN,
  screenMs: SCREEN_MS,
  window: WINDOW,
  ratioLimit: RATIO_LIMIT,
  floorMs: SMALL_FLOOR_MS,
  fastMs: FAST_MS,
  absoluteMs: ABSOLUTE_MS,
  windowAbsoluteMs: WINDOW_ABSOLUTE_MS,
  windowMinMs: WINDOW_MIN_MS,
  reps: REPS,
  confirmReps: CONFIRM_REPS,
};

function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

type Outcome = Omit<Verdict, 'label' | 'regex' | 'anchored' | 'recipes' | 'problem'> & { slowest?: number[] };

/** The engine's keyword-anchored form of a pattern: sticky, led by a lazy [\s\S]{0,lead}. */
interface AnchoredForm {
  source: string;
  flags: string;
  lead: number;
}

/** How many of a pattern's slowest shapes its anchored form is timed on. */
const ANCHORED_SHAPES = 8;

class Checker {
  private worker: Worker | null = null;
  private nextId = 1;
  readonly verdicts: Verdict[] = [];
  /** The same regex (several URI rules share allow patterns) is timed once. */
  private readonly memo = new Map<string, Promise<{ recipes: Recipe[]; outcome: Outcome; anchored: boolean }>>();

  /**
   * Times every adversarial shape of one regex (and the slowest of them on its anchored form, if
   * the engine runs one); `problem` is null when it stays linear.
   */
  async check(label: string, source: string, flags: string, config: TimingConfig = CONFIG, anchored: AnchoredForm | null = null): Promise<Verdict> {
    const key = JSON.stringify([source, flags, config, anchored]);
    let pending = this.memo.get(key);
    if (!pending) this.memo.set(key, (pending = this.timeAll(source, flags, config, anchored)));
    const { recipes, outcome, anchored: inAnchored } = await pending;
    const verdict: Verdict = { label, regex: `/${source}/${flags}`, anchored: anchored !== null, recipes: recipes.length, failure: outcome.failure, worst: outcome.worst, maxRatio: outcome.maxRatio, problem: null };
    const f = verdict.failure;
    if (f) {
      const where = inAnchored ? `${label} (anchored form, lead ${anchored!.lead})` : label;
      const shape = f.i !== undefined ? describeRecipe(recipes[f.i]!) : '?';
      const kib = (n: number) => `${n / 1024} KiB`;
      const ms = (t: number | null | undefined) => (t === null || t === undefined ? '?' : `${t.toFixed(1)} ms`);
      verdict.problem =
        f.reason === 'ratio'
          ? `${where}: super-linear on ${shape}: ${ms(f.large)} at ${kib(config.large)} vs ${ms(f.small)} at ${kib(config.small)} (ratio ${f.ratio!.toFixed(1)} > ${config.ratioLimit})`
          : f.reason === 'absolute'
            ? `${where}: one run took ${ms(f.large)} (> ${config.absoluteMs} ms) at ${kib(f.size ?? config.large)} on ${shape}`
            : f.reason === 'window'
              ? `${where}: one run took ${ms(f.window)} (> ${config.windowAbsoluteMs} ms) on a ${kib(config.window)} window of ${shape}`
              : f.reason === 'timeout'
                ? `${where}: a run at ${kib(f.size ?? 0)} was stopped after ${ms(f.large)} of CPU on ${shape}`
                : `${where}: error ${f.message} on ${shape}`;
    }
    this.verdicts.push(verdict);
    return verdict;
  }

  private async timeAll(source: string, flags: string, config: TimingConfig, anchored: AnchoredForm | null): Promise<{ recipes: Recipe[]; outcome: Outcome; anchored: boolean }> {
    const recipes = new Shapes(parseRegex(source, flags)).recipes();
    const outcome = await this.time(source, flags, config, recipes, null);
    if (!anchored || outcome.failure) return { recipes, outcome, anchored: false };
    // The anchored form tries each start once, as a global scan does: time it on the slowest shapes.
    const picked = (outcome.slowest ?? []).slice(0, ANCHORED_SHAPES);
    // No window for it: the pattern's own window run stands for the same work.
    const sub = await this.time(anchored.source, anchored.flags, { ...config, window: 0 }, picked.map((i) => recipes[i]!), anchored.lead);
    const back = (m: Measured | null) => (m ? { ...m, i: picked[m.i]! } : null);
    const worst = (sub.worst?.large ?? 0) > (outcome.worst?.large ?? 0) ? back(sub.worst) : outcome.worst;
    const maxRatio = Math.max(outcome.maxRatio ?? 0, sub.maxRatio ?? 0);
    if (sub.failure) {
      const failure = { ...sub.failure, i: sub.failure.i === undefined ? undefined : picked[sub.failure.i]! };
      return { recipes, outcome: { failure, worst, maxRatio }, anchored: true };
    }
    return { recipes, outcome: { failure: null, worst, maxRatio }, anchored: false };
  }

  private async time(source: string, flags: string, config: TimingConfig, recipes: Recipe[], lead: number | null): Promise<Outcome> {
    const worker = (this.worker ??= new Worker(WORKER_SOURCE, { eval: true }));
    const id = this.nextId++;
    return new Promise<Outcome>((resolve) => {
      let tickCpu = processCpuMs();
      let tickWall = Date.now();
      let limit = config.absoluteMs + WATCHDOG_SLACK_MS;
      let current = { recipe: 0, size: 0 };
      const finish = (v: Outcome) => {
        clearInterval(watchdog);
        worker.off('message', onMessage);
        worker.off('error', onError);
        resolve(v);
      };
      const onMessage = (m: { type: string; id: number; recipe: number; size: number } & Outcome) => {
        if (m.id !== id) return;
        tickCpu = processCpuMs();
        tickWall = Date.now();
        if (m.type === 'tick') {
          current = { recipe: m.recipe, size: m.size };
          limit = (m.size > config.large ? config.windowAbsoluteMs : config.absoluteMs) + WATCHDOG_SLACK_MS;
        } else finish({ failure: m.failure, worst: m.worst, maxRatio: m.maxRatio, slowest: m.slowest });
      };
      const onError = (error: Error) => {
        this.worker = null;
        finish({ failure: { reason: 'error', message: String(error) }, worst: null, maxRatio: null });
      };
      // A catastrophic regex never yields: stop its thread from here.
      const watchdog = setInterval(() => {
        const cpu = processCpuMs() - tickCpu;
        if (cpu < limit && Date.now() - tickWall < limit * WATCHDOG_WALL_FACTOR) return;
        this.worker = null;
        void worker.terminate();
        finish({ failure: { reason: 'timeout', i: current.recipe, large: cpu, size: current.size }, worst: null, maxRatio: null });
      }, 50);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage({ id, source, flags, recipes, lead, cfg: { ...config, slowest: ANCHORED_SHAPES } });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Every regex the detection engine runs.

/**
 * The engine's own compiled objects when it exposes them (so flags cannot drift from what it runs),
 * else compiled the way engine.ts compiles them; with the keyword-anchored form of each pattern
 * when the engine builds one.
 */
function compiledBy(rule: RuleSpec): { patterns: { re: RegExp; anchored: AnchoredForm | null }[]; allow: RegExp[] } {
  const engine = new DetectionEngine([rule]) as unknown as {
    rulesByKeyword?: { patterns?: unknown[]; allow?: unknown[] }[][];
    anchored?: { index?: unknown; regex?: unknown; lead?: unknown }[];
  };
  const compiled = engine.rulesByKeyword?.[0]?.[0];
  // A compiled pattern is a RegExp, or an object holding one as `regex`.
  const asRegExp = (v: unknown): RegExp | null =>
    v instanceof RegExp ? v : typeof v === 'object' && v !== null && (v as { regex?: unknown }).regex instanceof RegExp ? (v as { regex: RegExp }).regex : null;
  const own = compiled?.patterns?.map(asRegExp);
  const patterns = own && own.length === rule.patterns.length && own.every((r) => r !== null) ? own : rule.patterns.map((p) => new RegExp(p.regex, p.flags + 'gd'));
  const ownAllow = compiled?.allow;
  const allow = ownAllow && ownAllow.length === rule.allow.length && ownAllow.every((r) => r instanceof RegExp) ? ownAllow : rule.allow.map((a) => new RegExp(a));
  const anchored = new Map<number, AnchoredForm>();
  for (const a of engine.anchored ?? []) {
    if (typeof a.index === 'number' && a.regex instanceof RegExp && typeof a.lead === 'number') anchored.set(a.index, { source: a.regex.source, flags: a.regex.flags, lead: a.lead });
  }
  return { patterns: patterns.map((re, i) => ({ re, anchored: anchored.get(i) ?? null })), allow };
}

/** Regular-expression literals in a source file, found by the TypeScript parser. */
function regexLiterals(file: string): { line: number; re: RegExp }[] {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: { line: number; re: RegExp }[] = [];
  const visit = (node: ts.Node) => {
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      const literal = (node as ts.RegularExpressionLiteral).text;
      const slash = literal.lastIndexOf('/');
      out.push({
        line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1,
        re: new RegExp(literal.slice(1, slash), literal.slice(slash + 1)),
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const { rules } = loadRuleSet(DETECTORS_DIR);
/**
 * Every hand-written rule, and of the long-tail generator's rules (hundreds of rows, one template)
 * one per regex shape: checking all of them took minutes and found nothing a shape does not.
 */
const generatedRules = rules.filter((r) => isGenerated(r.id, DETECTORS_DIR));
const checkedRules = [...rules.filter((r) => !isGenerated(r.id, DETECTORS_DIR)), ...oneGeneratedRulePerShape(generatedRules)];
const DETECT_SRC = join(ROOT, 'src', 'detect');
// template.ts renders the detector files' example templates for tests and fixtures: it never sees
// scanned text, so it is not held to this.
const NOT_ON_SCANNED_TEXT = new Set(['template.ts']);
const sourceFiles = readdirSync(DETECT_SRC)
  .filter((n) => n.endsWith('.ts') && !NOT_ON_SCANNED_TEXT.has(n))
  .sort()
  .map((n) => join(DETECT_SRC, n));

const checker = new Checker();
const started = Date.now();

describe('no catastrophic backtracking', () => {
  afterAll(async () => {
    await checker.close();
    const checked = checker.verdicts.filter((v) => !v.label.startsWith('self-check'));
    if (checked.length === 0) return;
    const worstTime = checked.reduce((a, v) => ((v.worst?.large ?? 0) > (a.worst?.large ?? 0) ? v : a));
    const worstRatio = checked.reduce((a, v) => ((v.maxRatio ?? 0) > (a.maxRatio ?? 0) ? v : a));
    const worstWindow = checked.reduce((a, v) => ((v.worst?.window ?? 0) > (a.worst?.window ?? 0) ? v : a));
    const distinct = new Map(checked.map((v) => [v.regex, v.recipes]));
    const shapes = [...distinct.values()].reduce((n, r) => n + r, 0);
    console.log(
      `redos: ${checked.length} regexes (${distinct.size} distinct, ${checked.filter((v) => v.anchored).length} also in anchored form), ${shapes} input shapes, ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        `worst ratio ${worstRatio.maxRatio?.toFixed(1)} (${worstRatio.label}); ` +
        `slowest ${worstTime.worst?.large?.toFixed(2)} ms at ${LARGE / 1024} KiB (${worstTime.label}); ` +
        `slowest ${WINDOW / 1024 / 1024} MiB window ${worstWindow.worst?.window?.toFixed(1)} ms (${worstWindow.label}); ` +
        `${checked.filter((v) => v.problem).length} flagged`,
    );
  });

  describe('the checker itself', () => {
    // No window timing here: the point is to see the checker fail these. The guard's limit is
    // lowered for the exponential ones only so that stopping them takes less time.
    const quick: TimingConfig = { ...CONFIG, window: 0 };
    const impatient: TimingConfig = { ...quick, absoluteMs: 500 };

    it('flags exponential patterns (stopped by the guard)', async () => {
      for (const source of ['(a+)+$', '(\\w+\\s?)+$', '([a-z0-9]+[-_]?)+@']) {
        const v = await checker.check(`self-check ${source}`, source, 'g', impatient);
        expect(v.problem, source).not.toBeNull();
        expect(['timeout', 'absolute'], source).toContain(v.failure!.reason);
        expect(v.problem!.length).toBeLessThan(400); // the input is described, never printed
      }
    }, 60_000);

    it('flags a quadratic pattern by its growth', async () => {
      const v = await checker.check('self-check \\s+$', '\\s+$', 'g', quick);
      expect(v.problem).not.toBeNull();
      expect(v.failure!.reason).toBe('ratio');
      expect(v.failure!.ratio!).toBeGreaterThan(RATIO_LIMIT);
      // The same through the engine's anchored runner: a linear pattern whose anchored form is not.
      const a = await checker.check('self-check anchored form', '\\s{1,64}$', 'g', { ...quick, small: SMALL / 2, large: LARGE / 2, screen: SCREEN / 2 }, { source: '[\\s\\S]{0,8}?(?:\\s+$)', flags: 'dy', lead: 8 });
      expect(a.failure?.reason).toBe('ratio');
      expect(a.problem).toContain('anchored form');
    }, 60_000);

    it('passes linear patterns', async () => {
      for (const [source, flags] of [
        ['(?<![A-Za-z0-9_])(?<secret>ghp_[A-Za-z0-9]{36})(?![A-Za-z0-9_])', 'gd'],
        ['key\\s{0,4}[:=]\\s{0,4}["\']?(?<secret>[a-f0-9]{32})(?![a-f0-9])', 'gid'],
      ] as const) {
        const v = await checker.check(`self-check ${source}`, source, flags, quick);
        expect(v.problem, source).toBeNull();
      }
    }, 60_000);
  });

  describe('detector patterns and allow patterns', () => {
    it('covers every hand-written rule and every shape of generated rule', () => {
      const shapes = new Set(generatedRules.map(generatedShapeOf));
      expect(checkedRules.length).toBe(rules.length - generatedRules.length + shapes.size);
      expect(generatedRules.length === 0 || shapes.size < generatedRules.length).toBe(true);
    });
    for (const rule of checkedRules) {
      it(`${rule.id}`, async () => {
        const { patterns, allow } = compiledBy(rule);
        const problems: string[] = [];
        for (const [i, { re, anchored }] of patterns.entries()) {
          const v = await checker.check(`${rule.id} pattern ${i + 1} /${re.flags}`, re.source, re.flags, CONFIG, anchored);
          if (v.problem) problems.push(v.problem);
        }
        for (const [i, re] of allow.entries()) {
          const v = await checker.check(`${rule.id} allow ${i + 1}`, re.source, re.flags);
          if (v.problem) problems.push(v.problem);
        }
        expect(problems, problems.join('\n')).toEqual([]);
      }, 120_000);
    }
  });

  it('built-in path allowlist globs (detectors/allowlist.yaml)', async () => {
    const entries = loadAllowlist(DETECTORS_DIR);
    const problems: string[] = [];
    for (const [e, entry] of entries.entries()) {
      for (const [p, re] of entry.paths.entries()) {
        const v = await checker.check(`allowlist entry ${e + 1} path ${p + 1}`, re.source, re.flags);
        if (v.problem) problems.push(v.problem);
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  }, 120_000);

  it('regex literals in src/detect (filters, allowlist, extent, rules, ...)', async () => {
    const problems: string[] = [];
    const perFile = new Map<string, number>();
    for (const file of sourceFiles) {
      const name = relative(ROOT, file);
      for (const { line, re } of regexLiterals(file)) {
        perFile.set(name, (perFile.get(name) ?? 0) + 1);
        const v = await checker.check(`${name}:${line} /${re.source.length > 40 ? `${re.source.slice(0, 40)}…` : re.source}/${re.flags}`, re.source, re.flags);
        if (v.problem) problems.push(v.problem);
      }
    }
    // The placeholder filters run on every candidate secret: make sure they were found.
    expect(perFile.get(join('src', 'detect', 'filters.ts')) ?? 0).toBeGreaterThanOrEqual(4);
    expect(problems, problems.join('\n')).toEqual([]);
  }, 120_000);
});
