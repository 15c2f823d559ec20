/**
 * Multi-keyword prefilter: one pass of an Aho-Corasick automaton over the raw bytes, ASCII
 * case-folded, tells which keywords occur in a buffer. Detectors whose keywords are absent never
 * run their regular expressions, so most files cost this one pass.
 */
const FOLD = new Uint8Array(256);
for (let b = 0; b < 256; b++) FOLD[b] = b >= 0x41 && b <= 0x5a ? b + 0x20 : b;

export class KeywordPrefilter {
  readonly keywords: readonly string[];
  /** Dense transition table: next state = delta[state * 256 + byte]. */
  private readonly delta: Int32Array;
  /** Keyword indices that end at each state, fail-link outputs merged in. */
  private readonly outputs: (readonly number[] | null)[];

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

    const count = children.length;
    const delta = new Int32Array(count * 256);
    const fail = new Int32Array(count);
    const queue: number[] = [];
    for (let b = 0; b < 256; b++) {
      const child = children[0]!.get(b);
      if (child !== undefined) {
        delta[b] = child;
        queue.push(child);
      }
    }
    // Breadth-first so every fail target is complete before it is used.
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head]!;
      out[state]!.push(...out[fail[state]!]!);
      for (let b = 0; b < 256; b++) {
        const child = children[state]!.get(b);
        if (child !== undefined) {
          fail[child] = delta[fail[state]! * 256 + b]!;
          delta[state * 256 + b] = child;
          queue.push(child);
        } else {
          delta[state * 256 + b] = delta[fail[state]! * 256 + b]!;
        }
      }
    }
    this.delta = delta;
    this.outputs = out.map((o) => (o.length > 0 ? [...new Set(o)] : null));
  }

  /**
   * Every keyword occurrence: for hit i, keyword `hits[2i]` ends just before offset `hits[2i+1]`.
   * One pass, like match(); used to run rules only near their keywords.
   */
  hits(bytes: Uint8Array): number[] {
    const out: number[] = [];
    const { delta, outputs } = this;
    let state = 0;
    for (let i = 0; i < bytes.length; i++) {
      state = delta[state * 256 + FOLD[bytes[i]!]!]!;
      const hit = outputs[state];
      if (hit !== null && hit !== undefined) for (const k of hit) out.push(k, i + 1);
    }
    return out;
  }

  /** Indices of the keywords present in `bytes`. */
  match(bytes: Uint8Array): Set<number> {
    const found = new Set<number>();
    const { delta, outputs } = this;
    const all = this.keywords.length;
    let state = 0;
    for (let i = 0; i < bytes.length; i++) {
      state = delta[state * 256 + FOLD[bytes[i]!]!]!;
      const hit = outputs[state];
      if (hit !== null && hit !== undefined) {
        for (const k of hit) found.add(k);
        if (found.size === all) break;
      }
    }
    return found;
  }
}
