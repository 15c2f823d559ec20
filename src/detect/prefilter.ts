/**
 * Multi-keyword prefilter: one pass of an Aho-Corasick automaton over the raw bytes, ASCII
 * case-folded, tells which keywords occur in a buffer. Detectors whose keywords are absent never
 * run their regular expressions, so most files cost this one pass.
 */
const FOLD = new Uint8Array(256);
for (let b = 0; b < 256; b++) FOLD[b] = b >= 0x41 && b <= 0x5a ? b + 0x20 : b;

function grow(array: Int32Array): Int32Array {
  const grown = new Int32Array(array.length * 2);
  grown.set(array);
  return grown;
}

function plain(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class KeywordPrefilter {
  readonly keywords: readonly string[];
  /**
   * Transitions over byte classes (bytes that occur in no keyword share class 0), so the table
   * stays small enough for the cache: the pass is bound by this one dependent load per byte.
   * Entries are the next state's row offset (state × classes), bit-inverted when that state
   * ends a keyword, so the hot loop tests one sign instead of loading a second table.
   */
  private readonly delta: Int32Array;
  /** Byte (case-folded) → class. */
  private readonly classOf: Uint8Array;
  private readonly width: number;
  /** Bytes in the longest keyword. */
  private readonly longest: number;
  /** Keyword indices that end at each state (by row offset / width), fail-link outputs merged in. */
  private readonly outputs: (readonly number[])[];

  constructor(keywords: readonly string[]) {
    this.keywords = keywords;
    const children: Map<number, number>[] = [new Map()];
    const out: number[][] = [[]];
    keywords.forEach((keyword, index) => {
      const bytes = Buffer.from(keyword.toLowerCase(), 'latin1');
      let state = 0;
      for (const b of bytes) {
        let next = children[state]!.get(FOLD[b]!);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          out.push([]);
          children[state]!.set(FOLD[b]!, next);
        }
        state = next;
      }
      out[state]!.push(index);
    });

    const used = [...new Set(children.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
    const classOfFolded = new Uint8Array(256);
    used.forEach((b, i) => (classOfFolded[b] = i + 1));
    const width = used.length + 1;
    const classOf = new Uint8Array(256);
    for (let b = 0; b < 256; b++) classOf[b] = classOfFolded[FOLD[b]!]!;

    const count = children.length;
    const next = new Int32Array(count * width);
    const fail = new Int32Array(count);
    const queue: number[] = [];
    for (const [b, child] of children[0]!) {
      next[classOfFolded[b]!] = child;
      queue.push(child);
    }
    // Breadth-first so every fail target is complete before it is used: a state's row is its
    // fail state's row with its own children written over it.
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head]!;
      out[state]!.push(...out[fail[state]!]!);
      const row = state * width;
      next.copyWithin(row, fail[state]! * width, fail[state]! * width + width);
      for (const [b, child] of children[state]!) {
        const c = classOfFolded[b]!;
        fail[child] = next[fail[state]! * width + c]!;
        next[row + c] = child;
        queue.push(child);
      }
    }
    const delta = new Int32Array(count * width);
    for (let i = 0; i < delta.length; i++) {
      const target = next[i]!;
      delta[i] = out[target]!.length > 0 ? ~(target * width) : target * width;
    }
    this.delta = delta;
    this.longest = Math.max(1, ...keywords.map((k) => Buffer.byteLength(k.toLowerCase(), 'latin1')));
    this.classOf = classOf;
    this.width = width;
    this.outputs = out.map((o) => [...new Set(o)]);
    // Run every branch once on a sample with hits in each quarter: the optimising compiler then
    // has type feedback for the rare hit branches and does not deoptimise and recompile the hot
    // loop at the first hit (that churn cost more compile time than the pass itself saved).
    if (keywords.length > 0) {
      const text = Buffer.from(keywords.join(' ').repeat(Math.ceil((32 * this.longest) / (keywords.join(' ').length + 1)) + 1), 'latin1');
      const sample = new Uint8Array(text.buffer, text.byteOffset, text.byteLength);
      this.ends(sample);
      this.match(sample);
    }
  }

  /**
   * Every keyword occurrence: for hit i, keyword `hits[2i]` ends just before offset `hits[2i+1]`.
   * One pass, like match(); used to run rules only near their keywords.
   */
  hits(bytes: Uint8Array): number[] {
    const ends = this.ends(bytes);
    const out: number[] = [];
    for (let i = 0; i < ends.length; i += 2) for (const k of this.outputs[ends[i]!]!) out.push(k, ends[i + 1]!);
    return out;
  }

  /** How many automaton states there are: the ids ends() reports. */
  get states(): number {
    return this.outputs.length;
  }

  /** The keyword indices that end in a state ends() reported. */
  keywordsEndingAt(state: number): readonly number[] {
    return this.outputs[state]!;
  }

  /**
   * The same hits as pairs of (state, end offset), every keyword of the state ending there. The
   * array is reused by the next call: copying out a JavaScript array per hit would cost more
   * than the automaton itself on keyword-dense text.
   *
   * The pass is bound by the latency of one table load per byte, each depending on the last, so
   * the buffer is cut in four and four automata run side by side (about twice as fast). Each part
   * but the first starts (longest keyword - 1) bytes early, from the root, so it sees every
   * keyword that ends inside it, and reports only those.
   */
  ends(input: Uint8Array): Int32Array {
    // Always a plain Uint8Array: a Buffer (a subclass) is another map, and the hot loop compiled
    // for one would be thrown away on meeting the other.
    const bytes = plain(input);
    const n = bytes.length;
    const quarter = n >> 2;
    if (quarter < 4 * this.longest) return this.endsFrom(bytes, 0, 0, n, 0);
    const { delta, classOf, width } = this;
    const lag = this.longest - 1;
    const bounds = [0, quarter, 2 * quarter, 3 * quarter, n];
    let r0 = 0;
    let r1 = this.warm(bytes, bounds[1]! - lag, bounds[1]!);
    let r2 = this.warm(bytes, bounds[2]! - lag, bounds[2]!);
    let r3 = this.warm(bytes, bounds[3]! - lag, bounds[3]!);
    // Hits per part in locals (a shared closure here cost a third of the pass).
    let h0 = this.parts[0]!;
    let h1 = this.parts[1]!;
    let h2 = this.parts[2]!;
    let h3 = this.parts[3]!;
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    const o1 = quarter;
    const o2 = 2 * quarter;
    const o3 = 3 * quarter;
    for (let i = 0; i < quarter; i++) {
      r0 = delta[r0 + classOf[bytes[i]!]!]!;
      r1 = delta[r1 + classOf[bytes[o1 + i]!]!]!;
      r2 = delta[r2 + classOf[bytes[o2 + i]!]!]!;
      r3 = delta[r3 + classOf[bytes[o3 + i]!]!]!;
      if ((r0 | r1 | r2 | r3) < 0) {
        if (r0 < 0) {
          r0 = ~r0;
          if (c0 + 2 > h0.length) h0 = this.parts[0] = grow(h0);
          h0[c0++] = (r0 / width) | 0;
          h0[c0++] = i + 1;
        }
        if (r1 < 0) {
          r1 = ~r1;
          if (c1 + 2 > h1.length) h1 = this.parts[1] = grow(h1);
          h1[c1++] = (r1 / width) | 0;
          h1[c1++] = o1 + i + 1;
        }
        if (r2 < 0) {
          r2 = ~r2;
          if (c2 + 2 > h2.length) h2 = this.parts[2] = grow(h2);
          h2[c2++] = (r2 / width) | 0;
          h2[c2++] = o2 + i + 1;
        }
        if (r3 < 0) {
          r3 = ~r3;
          if (c3 + 2 > h3.length) h3 = this.parts[3] = grow(h3);
          h3[c3++] = (r3 / width) | 0;
          h3[c3++] = o3 + i + 1;
        }
      }
    }
    // The last part is longer by n mod 4.
    for (let i = 4 * quarter; i < n; i++) {
      r3 = delta[r3 + classOf[bytes[i]!]!]!;
      if (r3 < 0) {
        r3 = ~r3;
        if (c3 + 2 > h3.length) h3 = this.parts[3] = grow(h3);
        h3[c3++] = (r3 / width) | 0;
        h3[c3++] = i + 1;
      }
    }
    const total = c0 + c1 + c2 + c3;
    if (this.scratch.length < total) this.scratch = new Int32Array(Math.max(total, this.scratch.length * 2));
    const out = this.scratch;
    out.set(h0.subarray(0, c0), 0);
    out.set(h1.subarray(0, c1), c0);
    out.set(h2.subarray(0, c2), c0 + c1);
    out.set(h3.subarray(0, c3), c0 + c1 + c2);
    return out.subarray(0, total);
  }

  /** The automaton's row after reading bytes [from, to) from the root. */
  private warm(bytes: Uint8Array, from: number, to: number): number {
    const { delta, classOf } = this;
    let row = 0;
    for (let i = Math.max(0, from); i < to; i++) {
      row = delta[row + classOf[bytes[i]!]!]!;
      if (row < 0) row = ~row;
    }
    return row;
  }

  /** One automaton over [from, to), starting in `row`; hits written from `count` on. */
  private endsFrom(bytes: Uint8Array, row: number, from: number, to: number, count: number): Int32Array {
    const { delta, classOf, width } = this;
    let out = this.scratch;
    for (let i = from; i < to; i++) {
      row = delta[row + classOf[bytes[i]!]!]!;
      if (row < 0) {
        row = ~row;
        if (count === out.length) {
          const grown = new Int32Array(out.length * 2);
          grown.set(out);
          this.scratch = out = grown;
        }
        out[count++] = (row / width) | 0;
        out[count++] = i + 1;
      }
    }
    return out.subarray(0, count);
  }

  private readonly parts: Int32Array[] = [new Int32Array(1024), new Int32Array(1024), new Int32Array(1024), new Int32Array(1024)];
  private scratch: Int32Array = new Int32Array(4096);

  /** Indices of the keywords present in `bytes`. */
  match(input: Uint8Array): Set<number> {
    const bytes = plain(input);
    const found = new Set<number>();
    const { delta, classOf, width, outputs } = this;
    const all = this.keywords.length;
    const n = bytes.length;
    let row = 0;
    for (let i = 0; i < n; i++) {
      row = delta[row + classOf[bytes[i]!]!]!;
      if (row < 0) {
        row = ~row;
        for (const k of outputs[(row / width) | 0]!) found.add(k);
        if (found.size === all) break;
      }
    }
    return found;
  }
}
