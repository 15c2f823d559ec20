/**
 * The most characters a regular expression needs around one match: the match itself plus what its
 * positive lookarounds and boundary assertions read (negative lookarounds: see group()). Infinity
 * when a quantifier is unbounded.
 * The engine uses it to run a rule only within that distance of its keywords (see engine.ts).
 * With `negative: true`, negative lookarounds count too: then it bounds everything a match examines,
 * on both sides of its start, so text cut that far around a start gives the same result as the
 * whole. With `negative: 'assertions'`, only those holding ^ $ \b \B or another negative
 * lookaround count: on cut text such an assertion can hold at the cut (and a nested negative one
 * can pass there), so the lookaround could fail where the whole text lets it pass; any other only
 * ever passes more often on cut text.
 * Handles the syntax the detector files use (ES2018+: classes, groups, named groups, lookarounds,
 * backreferences, {n,m} quantifiers); anything it cannot read counts as Infinity.
 */
export function maxExtent(source: string, options: { negative?: boolean | 'assertions' } = {}): number {
  const groups = new GroupLengths();
  let pos = 0;
  let assertions = 0;
  let edgy = false;

  const fail = (): never => {
    throw new Error('unparsed');
  };

  function alternation(): number {
    let best = sequence();
    while (source[pos] === '|') {
      pos++;
      best = Math.max(best, sequence());
    }
    return best;
  }

  function sequence(): number {
    let total = 0;
    while (pos < source.length && source[pos] !== '|' && source[pos] !== ')') {
      const atomLength = atom();
      total += quantified(atomLength);
    }
    return total;
  }

  function quantified(length: number): number {
    const { max: times, end } = quantifierAt(source, pos);
    pos = end;
    if (length === 0) return 0;
    return times === Infinity ? Infinity : length * times;
  }

  function atom(): number {
    const c = source[pos]!;
    if (c === '(') return group();
    if (c === '[') {
      pos = classEndAt(source, pos);
      return 1;
    }
    if (c === '\\') return escape();
    pos++;
    // Assertions read the character on each side: count one, to stay on the safe side.
    if (c === '^' || c === '$') {
      assertions++;
      return 1;
    }
    return 1;
  }

  function escape(): number {
    const { escape, end } = escapeAt(source, pos);
    pos = end;
    switch (escape.kind) {
      case 'boundary':
        assertions++;
        return 2;
      case 'backref':
        return groups.of(escape.group);
      case 'char':
        return 1;
      default: {
        const never: never = escape;
        throw new Error(`unknown escape ${String(never)}`);
      }
    }
  }

  function group(): number {
    const { name, capturing, negative, end } = groupOpeningAt(source, pos);
    pos = end;
    const closed = groups.open(capturing, name);
    const assertionsBefore = assertions;
    const length = alternation();
    if (source[pos] !== ')') fail();
    pos++;
    closed(length);
    // Positive lookarounds must find their text inside a region: their extent adds to the match's.
    // A negative one only ever passes more often on a cut-out region (it sees less), and every
    // region match is confirmed against the whole buffer, so it needs no room.
    if (!negative || options.negative === true) return length;
    // What a negative lookaround holding an assertion reads, nested ones included, must all be
    // there: then the whole pattern is measured with every negative lookaround (see below).
    if (assertions > assertionsBefore) edgy = true;
    assertions++; // for an enclosing negative lookaround: see above
    return 0;
  }

  try {
    const length = alternation();
    if (pos !== source.length) return Infinity;
    if (edgy && options.negative === 'assertions') return maxExtent(source, { negative: true });
    return length;
  } catch {
    return Infinity;
  }
}

/**
 * How far a match examines on each side of where it starts: `behind` characters before the start
 * (what lookbehinds and assertions at its start read) and `ahead` characters from the start on (the
 * match, lookaheads and lookbehinds reading back into it). Every lookaround counts, negative ones
 * too, so text holding [start - behind, start + ahead) gives the same result as the whole. Both are
 * at most maxExtent(source, { negative: true }), often far less: that one adds every part's
 * length, lookarounds in both directions included. Infinity where unbounded or not understood.
 */
export function reachOf(source: string): { behind: number; ahead: number } {
  /**
   * Fewest and most characters consumed; furthest read before and after the part's start, and
   * past the end of what it consumed (what a lookbehind ending at a position reads after it).
   */
  interface Span {
    min: number;
    max: number;
    behind: number;
    ahead: number;
    after: number;
  }
  const unknown = { behind: Infinity, ahead: Infinity };
  const groups = new GroupLengths();
  let pos = 0;
  const fail = (): never => {
    throw new Error('unparsed');
  };
  const char: Span = { min: 1, max: 1, behind: 0, ahead: 1, after: 0 };
  // ^ $ \b \B read the character on each side of where they stand.
  const assertion: Span = { min: 0, max: 0, behind: 1, ahead: 1, after: 1 };
  const nothing: Span = { min: 0, max: 0, behind: 0, ahead: 0, after: 0 };

  function alternation(): Span {
    let span = sequence();
    while (source[pos] === '|') {
      pos++;
      const next = sequence();
      span = {
        min: Math.min(span.min, next.min),
        max: Math.max(span.max, next.max),
        behind: Math.max(span.behind, next.behind),
        ahead: Math.max(span.ahead, next.ahead),
        after: Math.max(span.after, next.after),
      };
    }
    return span;
  }

  function sequence(): Span {
    // Each part starts somewhere in [lo, hi] after the sequence's start.
    let lo = 0;
    let hi = 0;
    let behind = 0;
    let ahead = 0;
    const parts: Span[] = [];
    while (pos < source.length && source[pos] !== '|' && source[pos] !== ')') {
      const part = quantified(atom());
      parts.push(part);
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

  function quantified(part: Span): Span {
    const { min, max, end } = quantifierAt(source, pos);
    pos = end;
    if (min === 1 && max === 1) return part;
    if (max === 0) return nothing;
    // Repetition k starts at most (k - 1) × part.max in, and never before the first one.
    const lastStart = max === 1 || part.max === 0 ? 0 : (max - 1) * part.max;
    return { min: min * part.min, max: part.max === 0 ? 0 : max * part.max, behind: part.behind, ahead: lastStart + part.ahead, after: part.after };
  }

  function atom(): Span {
    const c = source[pos]!;
    if (c === '(') return group();
    if (c === '[') {
      pos = classEndAt(source, pos);
      return char;
    }
    if (c === '\\') return escape();
    pos++;
    return c === '^' || c === '$' ? assertion : char;
  }

  function escape(): Span {
    const { escape, end } = escapeAt(source, pos);
    pos = end;
    switch (escape.kind) {
      case 'boundary':
        return assertion;
      case 'backref': {
        // It consumes what its group did: at most that group's longest, maybe nothing.
        const longest = groups.of(escape.group);
        return { min: 0, max: longest, behind: 0, ahead: longest, after: 0 };
      }
      case 'char':
        return char;
      default: {
        const never: never = escape;
        throw new Error(`unknown escape ${String(never)}`);
      }
    }
  }

  function group(): Span {
    const { kind, name, capturing, end } = groupOpeningAt(source, pos);
    pos = end;
    const closed = groups.open(capturing, name);
    const inner = alternation();
    if (source[pos] !== ')') fail();
    pos++;
    closed(inner.max);
    switch (kind) {
      case 'group':
        return inner;
      case 'ahead':
        return { min: 0, max: 0, behind: inner.behind, ahead: inner.ahead, after: inner.ahead };
      case 'behind':
        // Matched leftwards to end here: it starts up to inner.max back, and reads past here only
        // what it reads past its own end.
        return { min: 0, max: 0, behind: inner.max + inner.behind, ahead: inner.after, after: inner.after };
      default: {
        const never: never = kind;
        throw new Error(`unknown group kind ${String(never)}`);
      }
    }
  }

  try {
    const span = alternation();
    if (pos !== source.length) return unknown;
    return { behind: span.behind, ahead: span.ahead };
  } catch {
    return unknown;
  }
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

/** The strings a sub-pattern can match, when there are few: more, and it counts as unknown. */
const SET_LIMIT = 64;
const STRING_LIMIT = 256;

interface Piece {
  /** Most characters it consumes (Infinity when unbounded). */
  consume: number;
  /** Every match of it starts with the ^ assertion. */
  caret?: boolean;
  /** Every string it can match, ASCII-lowercased; null when too many or not known. */
  set: string[] | null;
  anchor: KeywordAnchor | null;
}

/**
 * The keyword anchor of a pattern (see KeywordAnchor), or null when one cannot be proven: a
 * keyword that is not spelled out as literal text in every alternative (it may be context outside
 * the match). Anything it cannot read gives null.
 */
export function keywordAnchor(source: string, keywords: readonly string[]): KeywordAnchor | null {
  const kws = keywords.map((k) => k.toLowerCase());
  let pos = 0;
  const groupConsume = new GroupLengths();
  const fail = (): never => {
    throw new Error('unparsed');
  };

  /** With `tail`: the most characters a string has after its first keyword. */
  const shortest = Math.min(...kws.map((k) => k.length));
  const keywordStarts = new Set(kws.flatMap((k) => Array.from({ length: k.length + 1 }, (_, i) => k.slice(0, i))));
  const longest = Math.max(...kws.map((k) => k.length));
  /** The longest end of `x` that some keyword begins with ('' when none). */
  const keywordStartAtEnd = (x: string): string => {
    for (let i = Math.max(0, x.length - longest); i < x.length; i++) if (keywordStarts.has(x.slice(i))) return x.slice(i);
    return '';
  };
  const anchorOfSet = (set: string[] | null): (KeywordAnchor & { tail: number }) | null => {
    if (set === null || set.some((x) => x.length < shortest)) return null;
    let lead = 0;
    let tail = 0;
    const used = new Set<string>();
    for (const s of set) {
      let best = Infinity;
      let which: string | null = null;
      for (const k of kws) {
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
      for (const k of kws) if (s.includes(k)) used.add(k);
    }
    return { lead, keywords: [...used], follow: [], tail, caret: false };
  };

  const cross = (a: string[] | null, b: string[] | null): string[] | null => {
    if (a === null || b === null || a.length * b.length > SET_LIMIT) return null;
    const out = new Set<string>();
    for (const x of a) for (const y of b) {
      if (x.length + y.length > STRING_LIMIT) return null;
      out.add(x + y);
    }
    return [...out];
  };

  const maxLength = (set: string[]) => set.reduce((n, s) => Math.max(n, s.length), 0);

  const piece = (consume: number, set: string[] | null, anchor: KeywordAnchor | null = null): Piece => ({
    consume,
    set,
    anchor: anchor ?? anchorOfSet(set),
  });

  function alternation(): Piece {
    const alts = [sequence()];
    while (source[pos] === '|') {
      pos++;
      alts.push(sequence());
    }
    if (alts.length === 1) return alts[0]!;
    let set: string[] | null = [];
    for (const a of alts) {
      if (set === null || a.set === null) {
        set = null;
        break;
      }
      set = [...new Set([...set, ...a.set])];
      if (set.length > SET_LIMIT) set = null;
    }
    let anchor: KeywordAnchor | null = { lead: 0, keywords: [], follow: [], caret: false };
    for (const a of alts) {
      if (a.anchor === null) {
        anchor = null;
        break;
      }
      // What must follow differs between alternatives: none is kept.
      anchor = { lead: Math.max(anchor!.lead, a.anchor.lead), keywords: [...new Set([...anchor!.keywords, ...a.anchor.keywords])], follow: [], caret: false };
    }
    return { ...piece(Math.max(...alts.map((a) => a.consume)), set, anchor ?? anchorOfSet(set)), caret: alts.every((a) => a.caret === true) };
  }

  function sequence(): Piece {
    const items: Piece[] = [];
    while (pos < source.length && source[pos] !== '|' && source[pos] !== ')') items.push(quantified(atom()));
    let consume = 0;
    let set: string[] | null = [''];
    for (const it of items) {
      consume += it.consume;
      set = cross(set, it.set);
    }
    // The first place, left to right, where a keyword is certain: within a run of literal pieces,
    // or inside one piece; everything before it counts at its longest.
    let anchor: KeywordAnchor | null = null;
    let runStart = 0;
    let run: string[] = [''];
    for (const [i, it] of items.entries()) {
      const before = runStart + maxLength(run);
      if (it.set !== null) {
        let joined = cross(run, it.set);
        if (joined === null) {
          // Too many strings: keep of each only what a keyword crossing into this piece can
          // start with, its longest end that begins some keyword. The characters dropped count
          // as lead at their most, so a lead found later may be larger than needed, never smaller.
          const tails = run.map(keywordStartAtEnd);
          joined = cross([...new Set(tails)], it.set);
          if (joined !== null) runStart += Math.max(...run.map((x, j) => x.length - tails[j]!.length));
        }
        if (joined !== null) run = joined;
        else {
          runStart = before;
          run = it.set;
        }
        const found = anchorOfSet(run);
        if (found) {
          anchor = { lead: runStart + found.lead, keywords: found.keywords, follow: followOf(items.slice(i + 1), found.tail), caret: false };
          break;
        }
      } else {
        if (it.anchor) {
          anchor = { lead: before + it.anchor.lead, keywords: it.anchor.keywords, follow: it.anchor.follow, caret: false };
          break;
        }
        runStart = before + it.consume;
        run = [''];
      }
    }
    return { ...piece(consume, set, anchor ?? anchorOfSet(set)), caret: items[0]?.caret === true };
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
      }
      distance += it.consume;
    }
    return follow;
  }

  function quantified(p: Piece): Piece {
    const { min, max, end } = quantifierAt(source, pos);
    pos = end;
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
    // At least one repetition: the first one carries the piece's keyword.
    const anchor = min >= 1 ? p.anchor : null;
    return piece(consume, set, anchor ?? anchorOfSet(set));
  }

  function charSet(chars: string[]): string[] | null {
    const folded = new Set<string>();
    for (const ch of chars) {
      if (ch.length !== 1 || ch.charCodeAt(0) > 0x7f) return null;
      folded.add(ch.toLowerCase());
    }
    return folded.size > 8 ? null : [...folded];
  }

  /** One character from an escape outside a class: the character, or null for a class escape. */
  function escapedChar(c: string): string | null {
    const controls: Record<string, string> = { t: '\t', n: '\n', r: '\r', f: '\f', v: '\v', '0': '\0' };
    if (c in controls) return controls[c]!;
    if (/[dDwWsSpP]/.test(c)) return null;
    if (c === 'x') {
      const m = /^[0-9a-fA-F]{2}/.exec(source.slice(pos));
      if (!m) fail();
      pos += 2;
      return String.fromCharCode(parseInt(m![0], 16));
    }
    if (c === 'u') {
      const m = /^(?:[0-9a-fA-F]{4}|\{[0-9a-fA-F]+\})/.exec(source.slice(pos));
      if (!m) fail();
      pos += m![0].length;
      return String.fromCodePoint(parseInt(m![0].replace(/[{}]/g, ''), 16));
    }
    if (c === 'c') {
      const letter = source[pos];
      if (letter === undefined) fail();
      pos++;
      return String.fromCharCode(letter!.charCodeAt(0) % 32);
    }
    if (/[A-Za-z]/.test(c)) fail(); // an escape this reader does not know
    return c;
  }

  function atom(): Piece {
    const c = source[pos]!;
    if (c === '(') return group();
    if (c === '[') {
      pos++;
      const negated = source[pos] === '^';
      if (negated) pos++;
      const chars: string[] = [];
      let known = !negated;
      let first = true;
      while (pos < source.length && (source[pos] !== ']' || first)) {
        first = false;
        let ch: string | null;
        if (source[pos] === '\\') {
          const e = source[pos + 1];
          if (e === undefined) fail();
          pos += 2;
          ch = e === 'b' ? '\b' : escapedChar(e!);
        } else ch = source[pos++]!;
        if (ch === null) {
          known = false;
          continue;
        }
        if (source[pos] === '-' && source[pos + 1] !== undefined && source[pos + 1] !== ']') {
          // A range: too wide to list unless tiny.
          pos++;
          let hi: string | null;
          if (source[pos] === '\\') {
            const e = source[pos + 1];
            pos += 2;
            hi = escapedChar(e!);
          } else hi = source[pos++]!;
          if (hi === null || hi.charCodeAt(0) - ch.charCodeAt(0) > 8) known = false;
          else for (let code = ch.charCodeAt(0); code <= hi.charCodeAt(0); code++) chars.push(String.fromCharCode(code));
          continue;
        }
        chars.push(ch);
      }
      if (pos >= source.length) fail();
      pos++;
      return piece(1, known ? charSet(chars) : null);
    }
    if (c === '\\') {
      const e = source[pos + 1];
      if (e === undefined) fail();
      pos += 2;
      if (e === 'b' || e === 'B') return piece(0, ['']);
      if (e === 'k') {
        const m = /^<([A-Za-z_$][\w$]*)>/.exec(source.slice(pos));
        if (!m) fail();
        pos += m![0].length;
        return piece(groupConsume.of(m![1]!), null);
      }
      if (e! >= '1' && e! <= '9') {
        const m = /^\d*/.exec(source.slice(pos))!;
        pos += m[0].length;
        return piece(groupConsume.of(Number(e + m[0])), null);
      }
      const ch = escapedChar(e!);
      return piece(1, ch === null ? null : charSet([ch]));
    }
    pos++;
    if (c === '^' || c === '$') return { ...piece(0, ['']), caret: c === '^' };
    if (c === '.') return piece(1, null);
    return piece(1, charSet([c]));
  }

  function group(): Piece {
    const { kind, name, capturing, end } = groupOpeningAt(source, pos);
    pos = end;
    const lookaround = kind !== 'group';
    const closed = groupConsume.open(capturing, name);
    const inner = alternation();
    if (source[pos] !== ')') fail();
    pos++;
    closed(inner.consume);
    // A lookaround consumes nothing; what it reads is not part of the match.
    return lookaround ? piece(0, ['']) : { ...inner, caret: inner.caret === true };
  }

  try {
    const whole = alternation();
    if (pos !== source.length) return null;
    return whole.anchor && { ...whole.anchor, caret: whole.caret === true };
  } catch {
    return null;
  }
}

/**
 * The quantifier at `pos` of a pattern source (none: exactly once), and where it ends, its lazy
 * mark included.
 */
function quantifierAt(source: string, pos: number): { min: number; max: number; end: number } {
  const c = source[pos];
  let min = 1;
  let max = 1;
  if (c === '*' || c === '+') {
    pos++;
    min = c === '+' ? 1 : 0;
    max = Infinity;
  } else if (c === '?') {
    pos++;
    min = 0;
  } else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(pos));
    if (m) {
      pos += m[0].length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    }
  }
  if ((min !== 1 || max !== 1) && source[pos] === '?') pos++; // lazy
  return { min, max, end: pos };
}

/** What an escape outside a character class stands for, to the length analyses. */
type EscapeKind = { kind: 'boundary' } | { kind: 'backref'; group: string | number } | { kind: 'char' };

/** The escape at `pos` (its backslash) of a pattern source, and where it ends; throws on bad syntax. */
function escapeAt(source: string, pos: number): { escape: EscapeKind; end: number } {
  const fail = (): never => {
    throw new Error('unparsed');
  };
  const c = source[pos + 1];
  if (c === undefined) fail();
  pos += 2;
  if (c === 'b' || c === 'B') return { escape: { kind: 'boundary' }, end: pos };
  if (c === 'k') {
    const m = /^<([A-Za-z_$][\w$]*)>/.exec(source.slice(pos));
    if (!m) fail();
    return { escape: { kind: 'backref', group: m![1]! }, end: pos + m![0].length };
  }
  if (c! >= '1' && c! <= '9') {
    const m = /^\d*/.exec(source.slice(pos))!;
    return { escape: { kind: 'backref', group: Number(c + m[0]) }, end: pos + m[0].length };
  }
  if (c === 'u' && source[pos] === '{') {
    const end = source.indexOf('}', pos);
    if (end === -1) fail();
    pos = end + 1;
  } else if (c === 'u') pos += 4;
  else if (c === 'x') pos += 2;
  else if (c === 'c') pos += 1;
  else if ((c === 'p' || c === 'P') && source[pos] === '{') {
    const end = source.indexOf('}', pos);
    if (end === -1) fail();
    pos = end + 1;
  }
  return { escape: { kind: 'char' }, end: pos };
}

/**
 * The opening of the group at `pos` (its parenthesis): a plain or named group, or a lookaround
 * (looking ahead or behind, maybe negative), and where its body starts; throws on bad syntax.
 */
function groupOpeningAt(source: string, pos: number): { kind: 'group' | 'ahead' | 'behind'; negative: boolean; name: string | null; capturing: boolean; end: number } {
  pos++; // (
  if (source[pos] !== '?') return { kind: 'group', negative: false, name: null, capturing: true, end: pos };
  const m = /^\?(?::|=|!|<=|<!|<([A-Za-z_$][\w$]*)>)/.exec(source.slice(pos));
  if (!m) throw new Error('unparsed');
  const opening = m[0];
  const kind = opening === '?=' || opening === '?!' ? 'ahead' : opening === '?<=' || opening === '?<!' ? 'behind' : 'group';
  const name = m[1] ?? null;
  return { kind, negative: opening === '?!' || opening === '?<!', name, capturing: name !== null, end: pos + opening.length };
}

/** A pattern's capturing groups, numbered and named, with a length each analysis records for them. */
class GroupLengths {
  private readonly numbered: number[] = [];
  private readonly named = new Map<string, number>();

  /** Numbers a group as it opens (Infinity until closed: a backreference inside it); records its length when it closes. */
  open(capturing: boolean, name: string | null): (length: number) => void {
    if (!capturing) return () => {};
    const index = this.numbered.push(Infinity) - 1;
    return (length) => {
      this.numbered[index] = length;
      if (name !== null) this.named.set(name, length);
    };
  }

  /** The length of group `group` (a name or a 1-based number); Infinity when not known. */
  of(group: string | number): number {
    return (typeof group === 'string' ? this.named.get(group) : this.numbered[group - 1]) ?? Infinity;
  }
}

/** Where the character class at `pos` (its `[`) of a pattern source ends; throws when it does not. */
function classEndAt(source: string, pos: number): number {
  pos++;
  if (source[pos] === '^') pos++;
  if (source[pos] === ']') pos++;
  while (pos < source.length && source[pos] !== ']') pos += source[pos] === '\\' ? 2 : 1;
  if (pos >= source.length) throw new Error('unparsed');
  return pos + 1;
}
