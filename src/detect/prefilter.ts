import { WASM_BLOCK, WASM_LANES, WASM_STRIDE, WasmLanes, wasmAvailable } from './lanes-wasm.js';

/**
 * Multi-keyword prefilter: one pass of an Aho-Corasick automaton over the raw bytes, ASCII
 * case-folded, tells which keywords occur in a buffer. Detectors whose keywords are absent never
 * run their regular expressions, so most files cost this one pass.
 */
const FOLD = new Uint8Array(256);
for (let b = 0; b < 256; b++) FOLD[b] = b >= 0x41 && b <= 0x5a ? b + 0x20 : b;

function asPlainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class KeywordPrefilter {
  readonly keywords: readonly string[];
  private readonly useWasm: boolean;
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

  /**
   * `wasm: false` keeps the whole pass in JavaScript (the tests compare the two); the default
   * runs the four automata in WebAssembly where it is available.
   */
  constructor(keywords: readonly string[], options: { wasm?: boolean } = {}) {
    this.keywords = keywords;
    this.useWasm = options.wasm !== false;
    // Built in flat typed arrays: this runs once per worker, before its first window, as cold
    // code, where Maps and Sets per state are slow to build.
    const folded = keywords.map((k) => k.toLowerCase());
    const classOfFolded = new Uint8Array(256);
    for (const k of folded) for (let i = 0; i < k.length; i++) classOfFolded[FOLD[k.charCodeAt(i) & 0xff]!] = 1;
    let width = 1;
    for (let b = 0; b < 256; b++) if (classOfFolded[b]) classOfFolded[b] = width++;
    const classOf = new Uint8Array(256);
    for (let b = 0; b < 256; b++) classOf[b] = classOfFolded[FOLD[b]!]!;

    // The trie first: next[state × width + class] is a child, or 0 (the root is no one's child).
    const most = folded.reduce((n, k) => n + k.length, 1);
    let next = new Int32Array(most * width);
    const own: (number[] | undefined)[] = [];
    let count = 1;
    folded.forEach((k, index) => {
      let state = 0;
      for (let i = 0; i < k.length; i++) {
        const at = state * width + classOfFolded[FOLD[k.charCodeAt(i) & 0xff]!]!;
        if (next[at] === 0) next[at] = count++;
        state = next[at]!;
      }
      (own[state] ??= []).push(index);
    });
    next = next.slice(0, count * width);

    // Then breadth-first, so every fail state is complete before it is used: a missing child
    // becomes the fail state's transition, and a state's outputs take in its fail state's.
    const fail = new Int32Array(count);
    const none: readonly number[] = [];
    const out: (readonly number[])[] = new Array<readonly number[]>(count).fill(none);
    out[0] = own[0] ?? none;
    const queue = new Int32Array(count);
    let tail = 0;
    for (let c = 1; c < width; c++) if (next[c] !== 0) queue[tail++] = next[c]!;
    for (let head = 0; head < tail; head++) {
      const state = queue[head]!;
      const failRow = fail[state]! * width;
      const inherited = out[fail[state]!]!;
      const mine = own[state];
      out[state] = mine === undefined ? inherited : inherited.length === 0 ? mine : [...new Set([...mine, ...inherited])];
      const row = state * width;
      for (let c = 1; c < width; c++) {
        const child = next[row + c]!;
        if (child === 0) next[row + c] = next[failRow + c]!;
        else {
          fail[child] = next[failRow + c]!;
          queue[tail++] = child;
        }
      }
    }
    // States renumbered in breadth-first order: the shallow states, where ordinary text keeps the
    // automaton, get neighbouring rows, so the part of the table the pass reads stays in cache.
    const order = new Int32Array(count);
    for (let i = 0; i < tail; i++) order[queue[i]!] = i + 1;
    const delta = new Int32Array(count * width);
    const outputs = new Array<readonly number[]>(count);
    for (let state = 0; state < count; state++) {
      const row = order[state]! * width;
      outputs[order[state]!] = out[state]!;
      for (let c = 0; c < width; c++) {
        const target = next[state * width + c]!;
        const offset = order[target]! * width;
        delta[row + c] = out[target]!.length > 0 ? ~offset : offset;
      }
    }
    this.delta = delta;
    this.longest = Math.max(1, ...keywords.map((k) => Buffer.byteLength(k.toLowerCase(), 'latin1')));
    this.classOf = classOf;
    this.width = width;
    this.outputs = outputs;
    // Run every branch once on a sample with hits in each quarter: the optimising compiler then
    // has type feedback for the rare hit branches and does not deoptimise and recompile the hot
    // loop at the first hit.
    if (keywords.length > 0) {
      const text = Buffer.from(keywords.join(' ').repeat(Math.ceil((32 * this.longest) / (keywords.join(' ').length + 1)) + 1), 'latin1');
      const sample = new Uint8Array(text.buffer, text.byteOffset, text.byteLength);
      // Both lane counts, and a length that leaves a tail for the last lane.
      this.ends(sample);
      this.ends(sample.subarray(0, sample.length - 1));
      this.ends(sample.subarray(0, 8 * this.longest));
      this.match(sample);
    }
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
   * Every keyword occurrence, as pairs of (state, end offset): every keyword of the state
   * (keywordsEndingAt) ends just before that offset; one pass, like match(). The
   * array is reused by the next call: copying out a JavaScript array per hit would cost more
   * than the automaton itself on keyword-dense text.
   *
   * The pass is bound by the latency of one table load per byte, each depending on the last, so
   * the buffer is cut in four and four automata run side by side, hiding each other's latency. Each part
   * but the first starts (longest keyword - 1) bytes early, from the root, so it sees every
   * keyword that ends inside it, and reports only those.
   */
  ends(input: Uint8Array): Int32Array {
    // Always a plain Uint8Array: a Buffer (a subclass) is another map, and the hot loop compiled
    // for one would be thrown away on meeting the other.
    const bytes = asPlainBytes(input);
    const n = bytes.length;
    if (Math.floor(n / WASM_LANES) >= 4 * this.longest) {
      const wasm = this.wasmLanes(Math.floor(n / WASM_LANES) + this.longest - 1);
      if (wasm) return this.endsInWasm(wasm, bytes);
    }
    const quarter = n >> 2;
    if (quarter < 4 * this.longest) {
      // Too short to split: one automaton over the whole buffer.
      this.runTail(bytes, 0, 0, 0, 0);
      return this.collect(this.tail.subarray(4, 5));
    }
    const { delta, classOf, lanes, state } = this;
    const lag = this.longest - 1;
    state[0] = 0;
    state[1] = this.warm(bytes, quarter - lag, quarter);
    state[2] = this.warm(bytes, 2 * quarter - lag, 2 * quarter);
    state[3] = this.warm(bytes, 3 * quarter - lag, 3 * quarter);
    state.fill(0, 4);
    // Blocks, so each lane's hit array is grown (if at all) outside the hot loop: a lane reports
    // at most one hit per byte.
    for (let from = 0; from < quarter; from += LANE_BLOCK) {
      const to = Math.min(quarter, from + LANE_BLOCK);
      for (let lane = 0; lane < 4; lane++) this.reserve(lane, state[4 + lane]! + 2 * (to - from));
      runLanes(bytes, delta, classOf, from, to, quarter, 2 * quarter, 3 * quarter, lanes[0]!, lanes[1]!, lanes[2]!, lanes[3]!, state, 4);
    }
    // The last part is longer by n mod 4: its lane alone reads those bytes.
    this.runTail(bytes, 4 * quarter, state[3], state[7]!, 3);
    state[7] = this.tail[4]!;
    return this.collect(state.subarray(4, 8));
  }

  /** The same pass with WASM_LANES automata in WebAssembly, over that many parts of the buffer. */
  private endsInWasm(wasm: WasmLanes, bytes: Uint8Array): Int32Array {
    const n = bytes.length;
    const part = Math.floor(n / WASM_LANES);
    const lag = this.longest - 1;
    const rows = this.wasmRows.fill(0);
    this.wasmCounts.fill(0);
    wasm.load(bytes, part, lag);
    // From the root over the `lag` bytes before each part: its hits there belong to the part before.
    wasm.block(0, lag, rows, null);
    for (let from = lag; from < lag + part; from += WASM_BLOCK) wasm.block(from, Math.min(WASM_BLOCK, lag + part - from), rows, this.takeHits);
    // The last part is longer by n mod WASM_LANES: its automaton alone reads those bytes.
    const last = WASM_LANES - 1;
    this.runTail(bytes, WASM_LANES * part, rows[last]!, this.wasmCounts[last]!, last);
    this.wasmCounts[last] = this.tail[4]!;
    return this.collect(this.wasmCounts);
  }

  /**
   * One automaton from `row` over bytes [from, end), its hits appended to lane `lane` after
   * `count` entries; the row and count it ends with are left in tail[0] and tail[4].
   */
  private runTail(bytes: Uint8Array, from: number, row: number, count: number, lane: number): void {
    const { tail } = this;
    tail[0] = row;
    tail[4] = count;
    if (from >= bytes.length) return;
    this.reserve(lane, count + 2 * (bytes.length - from));
    const hits = this.lanes[lane]!;
    runLanes(bytes, this.delta, this.classOf, from, bytes.length, 0, 0, 0, hits, hits, hits, hits, tail, 1);
  }

  private readonly tail = new Int32Array(8);
  private readonly wasmRows = new Int32Array(WASM_LANES);
  private readonly wasmCounts = new Int32Array(WASM_LANES);

  /** Appends a block's hits of one automaton (from WasmLanes) to its lane. */
  private readonly takeHits = (lane: number, hits: Int32Array, count: number): void => {
    const at = this.wasmCounts[lane]!;
    this.reserve(lane, at + 2 * count);
    this.lanes[lane]!.set(hits, at);
    this.wasmCounts[lane] = at + 2 * count;
  };

  private wasm: WasmLanes | null | undefined;

  /** Which code runs the four-automata pass over large buffers. */
  get pass(): 'webassembly' | 'javascript' {
    return this.wasmLanes() ? 'webassembly' : 'javascript';
  }

  /**
   * The WebAssembly pass for slots of up to `slot` bytes (a part and the bytes before it), built
   * on first use (and again, with more room, when a longer one comes); null when switched off or
   * unavailable.
   */
  private wasmLanes(slot = 0): WasmLanes | null {
    if (this.wasm === undefined || (this.wasm !== null && this.wasm.stride < slot)) {
      try {
        this.wasm = this.useWasm && wasmAvailable() ? new WasmLanes(this.delta, this.classOf, Math.max(WASM_STRIDE, slot)) : null;
      } catch {
        this.wasm = null;
      }
    }
    return this.wasm;
  }

  /**
   * How many newlines bytes [0, to) of `input` hold, and the offset of the last one (-1: none):
   * counted in the WebAssembly copy when `input` is the buffer the last ends() call read (a
   * detection window, just scanned), else one by one.
   */
  newlines(input: Uint8Array, to: number): [count: number, last: number] {
    return newlinesBefore(input, to, this.wasm ?? null);
  }

  /** Lane `lane` can take `ints` more entries from its current count on. */
  private reserve(lane: number, ints: number): void {
    const have = this.lanes[lane]!;
    if (have.length >= ints) return;
    const grown = new Int32Array(Math.max(ints, have.length * 2));
    grown.set(have);
    this.lanes[lane] = grown;
  }

  /** The lanes' hits, in order, as (state, end) pairs in the shared scratch array. */
  private collect(counts: Int32Array): Int32Array {
    let total = 0;
    for (let lane = 0; lane < counts.length; lane++) total += counts[lane]!;
    if (this.scratch.length < total) this.scratch = new Int32Array(Math.max(total, this.scratch.length * 2));
    const out = this.scratch;
    const { width, lanes } = this;
    let at = 0;
    for (let lane = 0; lane < counts.length; lane++) {
      const hits = lanes[lane]!;
      const count = counts[lane]!;
      // Lanes record row offsets; states are row / width.
      for (let i = 0; i < count; i += 2) {
        out[at++] = (hits[i]! / width) | 0;
        out[at++] = hits[i + 1]!;
      }
    }
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

  /** Hit arrays of the four lanes, reused across calls. */
  private readonly lanes: Int32Array[] = Array.from({ length: Math.max(4, WASM_LANES) }, () => new Int32Array(2 * LANE_BLOCK));
  /** Rows of the four lanes, then their hit counts: carried from one block to the next. */
  private readonly state = new Int32Array(8);
  private scratch: Int32Array = new Int32Array(4096);

  /** Indices of the keywords present in `bytes`. */
  match(input: Uint8Array): Set<number> {
    const bytes = asPlainBytes(input);
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

/** Bytes each lane reads between checks of its hit array's room. */
const LANE_BLOCK = 16 * 1024;

/**
 * The hot loop, on its own and with everything it touches passed in: it reads no properties, has
 * no rarely taken branch besides the hits, and so is compiled once per thread and not thrown away
 * (with the bookkeeping inline, V8 recompiles it again and again). Lane k reads bytes [from, to)
 * offset by 0, offset1, offset2, offset3 (`lanes` of them, 1 or 4), starting in row state[k]
 * with state[4 + k] hits recorded into hits_k, and leaves both updated. A hit is recorded as
 * (row offset, end offset).
 */
function runLanes(
  bytes: Uint8Array,
  delta: Int32Array,
  classOf: Uint8Array,
  from: number,
  to: number,
  offset1: number,
  offset2: number,
  offset3: number,
  hits0: Int32Array,
  hits1: Int32Array,
  hits2: Int32Array,
  hits3: Int32Array,
  state: Int32Array,
  lanes: number,
): void {
  let row0 = state[0]!;
  let count0 = state[4]!;
  if (lanes === 1) {
    for (let i = from; i < to; i++) {
      row0 = delta[row0 + classOf[bytes[i]!]!]!;
      if (row0 < 0) {
        row0 = ~row0;
        hits0[count0++] = row0;
        hits0[count0++] = i + 1;
      }
    }
    state[0] = row0;
    state[4] = count0;
    return;
  }
  let row1 = state[1]!;
  let row2 = state[2]!;
  let row3 = state[3]!;
  let count1 = state[5]!;
  let count2 = state[6]!;
  let count3 = state[7]!;
  for (let i = from; i < to; i++) {
    row0 = delta[row0 + classOf[bytes[i]!]!]!;
    row1 = delta[row1 + classOf[bytes[offset1 + i]!]!]!;
    row2 = delta[row2 + classOf[bytes[offset2 + i]!]!]!;
    row3 = delta[row3 + classOf[bytes[offset3 + i]!]!]!;
    if ((row0 | row1 | row2 | row3) < 0) {
      if (row0 < 0) {
        row0 = ~row0;
        hits0[count0++] = row0;
        hits0[count0++] = i + 1;
      }
      if (row1 < 0) {
        row1 = ~row1;
        hits1[count1++] = row1;
        hits1[count1++] = offset1 + i + 1;
      }
      if (row2 < 0) {
        row2 = ~row2;
        hits2[count2++] = row2;
        hits2[count2++] = offset2 + i + 1;
      }
      if (row3 < 0) {
        row3 = ~row3;
        hits3[count3++] = row3;
        hits3[count3++] = offset3 + i + 1;
      }
    }
  }
  state[0] = row0;
  state[1] = row1;
  state[2] = row2;
  state[3] = row3;
  state[4] = count0;
  state[5] = count1;
  state[6] = count2;
  state[7] = count3;
}

/**
 * How many newlines bytes [0, to) hold and the offset of the last (-1: none): counted by `wasm`
 * when it holds these bytes (see WasmLanes.newlinesIn), else one search each.
 */
export function newlinesBefore(bytes: Uint8Array, to: number, wasm: WasmLanes | null = null): [count: number, last: number] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = Math.min(to, buf.length);
  const last = end <= 0 ? -1 : buf.lastIndexOf(10, end - 1);
  if (last === -1) return [0, -1];
  const counted = wasm?.newlinesIn(bytes, last + 1) ?? null;
  if (counted !== null) return [counted, last];
  let count = 0;
  for (let at = buf.indexOf(10); at !== -1 && at <= last; at = buf.indexOf(10, at + 1)) count++;
  return [count, last];
}
