/**
 * The prefilter's side-by-side automata as a WebAssembly function. The same loop in JavaScript costs
 * about 1.5 ns a byte, most of it bounds checks on the three typed-array loads per automaton and
 * byte; WebAssembly's loads need none, which makes the pass (the one cost every scanned byte
 * pays) about twice as fast. The module is a few hundred bytes assembled here, so there is no
 * build step and nothing to download: see `assemble` for the loop it holds.
 *
 * Memory layout (byte offsets): the transition table at 0 (entries are byte offsets of rows:
 * JavaScript's row offsets × 4, bit-inverted for states that end a keyword, as there); the class
 * of each byte × 4 at `classes`; at `state`, the automata's rows, then their hit counts, then what
 * turns an address into a text offset for each; each automaton's hits at `hits + lane × HIT_BYTES`
 * as (JavaScript row, text offset after the keyword) pairs; automaton k's slot at
 * `input + k × stride`: the bytes before its part, then the part. Slots a fixed stride apart let
 * every automaton read its byte through one address with a constant offset, instead of an
 * address of its own to compute and keep in a register per byte.
 */

// Node has WebAssembly; the TypeScript libraries this project builds with (no DOM) do not declare it.
// eslint-disable-next-line @typescript-eslint/no-namespace -- WebAssembly is a global namespace: only a namespace can declare it
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports: object);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
}

/** Whether this runtime has WebAssembly (Node does unless started with --jitless). */
export function wasmAvailable(): boolean {
  return typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'object';
}

/** Bytes each automaton reads per call: its hit area holds one hit per byte. */
export const WASM_BLOCK = 16 * 1024;
/**
 * Automata run side by side, each over its own part of the text: each step is one table load that
 * depends on the last, so independent chains hide each other's load latency. Four measured best
 * (over the benchmark image's text, the pass with parts a stride apart: four 260 ms, three 299,
 * five 290, six 296, eight 332; their rows and cursors no longer fit the registers). Reading
 * through one address with constant offsets took the pass from 300 to 260 ms; two steps per turn
 * of the loop made no difference.
 */
export const WASM_LANES = 4;
const HIT_BYTES = 8 * WASM_BLOCK;
/**
 * The part each automaton takes at least room for: a detection window (1 MiB + overlap) split
 * four ways fits; a longer text gets an instance with room for its parts.
 */
export const WASM_STRIDE = 320 * 1024;
const PAGE = 65_536;

export class WasmLanes {
  private readonly memory: WebAssembly.Memory;
  private readonly run: (text: number, length: number) => void;
  private readonly classes: number;
  private readonly state: number;
  private readonly hits: number;
  readonly input: number;
  /** Bytes between the automata's parts: the longest part this instance takes. */
  readonly stride: number;
  private part = 0;

  constructor(delta: Int32Array, classOf: Uint8Array, stride: number) {
    const table = delta.length * 4;
    this.classes = table;
    this.state = align(table + 256, 16);
    this.hits = align(this.state + 12 * WASM_LANES, 16);
    this.input = align(this.hits + WASM_LANES * HIT_BYTES, PAGE);
    this.stride = align(stride, PAGE);
    const pages = (this.input + WASM_LANES * this.stride) / PAGE + 1;
    const module = new WebAssembly.Module(assemble({ lanes: WASM_LANES, classes: this.classes, state: this.state, hits: this.hits, hitBytes: HIT_BYTES, stride: this.stride, pages }));
    const instance = new WebAssembly.Instance(module, {});
    this.memory = instance.exports.mem as WebAssembly.Memory;
    this.run = instance.exports.run as WasmLanes['run'];
    const words = new Int32Array(this.memory.buffer, 0, delta.length);
    for (let i = 0; i < delta.length; i++) {
      const e = delta[i]!;
      words[i] = e < 0 ? ~(~e * 4) : e * 4;
    }
    const classBytes = new Uint8Array(this.memory.buffer, this.classes, 256);
    for (let b = 0; b < 256; b++) classBytes[b] = classOf[b]! * 4;
    // A byte no keyword starts with (NUL, in any real catalogue): the root reading it stays put.
    let idle = 0;
    while (idle < 256 && delta[classOf[idle]!] !== 0) idle++;
    if (idle === 256) throw new Error('every byte starts a keyword');
    this.idle = idle;
  }

  private readonly idle: number;

  /**
   * Copies part k of the text (`part` bytes from k × part) to automaton k's slot, after the
   * `lead` bytes before it (for part 0, bytes that keep the automaton at the root): a first
   * block() over [0, lead) brings each automaton to the row its part starts in (its hits there
   * are the previous part's). lead + part ≤ stride.
   */
  load(bytes: Uint8Array, part: number, lead: number): void {
    const memory = new Uint8Array(this.memory.buffer);
    memory.fill(this.idle, this.input, this.input + lead);
    memory.set(bytes.subarray(0, part), this.input + lead);
    for (let k = 1; k < WASM_LANES; k++) memory.set(bytes.subarray(k * part - lead, (k + 1) * part), this.input + k * this.stride);
    // What turns an address in automaton 0's slot into a text offset in automaton k's part.
    const words = new Int32Array(this.memory.buffer);
    for (let k = 0; k < WASM_LANES; k++) words[(this.state >> 2) + 2 * WASM_LANES + k] = k * part - lead - this.input;
    this.part = part;
    this.lead = lead;
    this.loaded = bytes;
  }

  private lead = 0;

  /** The text last loaded: its parts stay in memory until the next load. */
  private loaded: Uint8Array | null = null;
  private newlineCounter: ((from: number, to: number) => number) | null | undefined;

  /**
   * How many newlines bytes [0, to) of `bytes` hold, counted in the loaded copy with vector
   * instructions; null when `bytes` is not what was last loaded (or the runtime lacks them). Only
   * the parts are in memory: `to` must be at most WASM_LANES × part.
   */
  newlinesIn(bytes: Uint8Array, to: number): number | null {
    const loaded = this.loaded;
    if (loaded === null || loaded.buffer !== bytes.buffer || loaded.byteOffset !== bytes.byteOffset || loaded.byteLength !== bytes.byteLength) return null;
    if (to > WASM_LANES * this.part) return null;
    if (this.newlineCounter === undefined) {
      try {
        const module = new WebAssembly.Module(assembleNewlines());
        this.newlineCounter = new WebAssembly.Instance(module, { env: { mem: this.memory } }).exports.newlines as (from: number, to: number) => number;
      } catch {
        this.newlineCounter = null;
      }
    }
    const count = this.newlineCounter;
    if (count === null) return null;
    let total = 0;
    for (let k = 0; k < WASM_LANES && k * this.part < to; k++) {
      const start = this.input + k * this.stride + this.lead;
      total += count(start, start + Math.min(this.part, to - k * this.part));
    }
    return total;
  }

  /**
   * Runs automaton k over its slot's offsets [from, from + length), length ≤ WASM_BLOCK, from
   * JavaScript row rows[k]; leaves the rows in `rows` and hands each automaton's hits, in order,
   * to `onHits` as (row in JavaScript units, text offset after the keyword) pairs.
   */
  block(from: number, length: number, rows: Int32Array, onHits: ((lane: number, hits: Int32Array, count: number) => void) | null): void {
    const words = new Int32Array(this.memory.buffer);
    const state = this.state >> 2;
    for (let k = 0; k < WASM_LANES; k++) words[state + k] = rows[k]! * 4;
    this.run(this.input + from, length);
    for (let k = 0; k < WASM_LANES; k++) {
      rows[k] = words[state + k]! / 4;
      const count = words[state + WASM_LANES + k]!;
      if (count === 0 || onHits === null) continue;
      const at = (this.hits + k * HIT_BYTES) >> 2;
      onHits(k, words.subarray(at, at + 2 * count), count);
    }
  }
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

// WebAssembly binary encoding: just what these functions need.
const I32 = 0x7f;
const op = {
  block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br: 0x0c, brIf: 0x0d,
  get: 0x20, set: 0x21,
  load: 0x28, load8u: 0x2d, store: 0x36,
  const: 0x41, ltS: 0x48, geU: 0x4f, add: 0x6a, or: 0x72, xor: 0x73, shrU: 0x76, sub: 0x6b,
} as const;
const VOID = 0x40;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function name(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** A function body being written: its bytes and shorthands for the instructions used most. */
function codeWriter() {
  const code: number[] = [];
  const emit = (...bytes: number[]) => code.push(...bytes);
  return {
    code,
    emit,
    get: (local: number) => emit(op.get, ...uleb(local)),
    set: (local: number) => emit(op.set, ...uleb(local)),
    i32: (n: number) => emit(op.const, ...sleb(n)),
    // memarg: alignment exponent, then a static offset added to the address.
    load: (offset: number) => emit(op.load, 2, ...uleb(offset)),
    load8u: (offset: number) => emit(op.load8u, 0, ...uleb(offset)),
    store: (offset: number) => emit(op.store, 2, ...uleb(offset)),
    /** local += n */
    addTo: (local: number, n: number) => {
      emit(op.get, ...uleb(local), op.const, ...sleb(n), op.add, op.set, ...uleb(local));
    },
    /** Runs `body` until `done` (code leaving an i32 on the stack) is true, tested before each turn. */
    until: (done: () => void, body: () => void) => {
      emit(op.block, VOID, op.loop, VOID);
      done();
      emit(op.brIf, 1);
      body();
      emit(op.br, 0, op.end, op.end);
    },
  };
}

interface Layout {
  lanes: number;
  classes: number;
  state: number;
  hits: number;
  hitBytes: number;
  stride: number;
  pages: number;
}

/**
 * run(text, length): for each address a in [text, text + length), for each automaton k:
 *   r_k = table[r_k + classes[memory[a + k × stride]]]; on r_k < 0 (a keyword ends): r_k = ~r_k
 *   and the pair (r_k / 4, a + 1 + shift_k) is appended to automaton k's hits.
 * Rows come from and go back to `state`, with each automaton's hit count after them and then the
 * shifts.
 */
export function assemble(layout: Layout): Uint8Array {
  const L = layout.lanes;
  // Locals: params text = 0, length = 1; then rows r_k, hit cursors o_k, the address and its end.
  const TEXT = 0;
  const LENGTH = 1;
  const R = (k: number) => 2 + k;
  const O = (k: number) => 2 + L + k;
  const A = 2 + 2 * L;
  const END = A + 1;
  const { code, emit, get, set, i32, load, load8u, store, addTo, until } = codeWriter();

  for (let k = 0; k < L; k++) {
    i32(0);
    load(layout.state + 4 * k);
    set(R(k));
    i32(layout.hits + k * layout.hitBytes);
    set(O(k));
  }
  get(TEXT);
  set(A);
  get(TEXT);
  get(LENGTH);
  emit(op.add);
  set(END);
  until(() => {
    get(A);
    get(END);
    emit(op.geU);
  }, () => {
    for (let k = 0; k < L; k++) {
      get(R(k));
      get(A);
      load8u(k * layout.stride);
      load8u(layout.classes);
      emit(op.add);
      load(0);
      set(R(k));
    }
    get(R(0));
    for (let k = 1; k < L; k++) {
      get(R(k));
      emit(op.or);
    }
    i32(0);
    emit(op.ltS);
    emit(op.if, VOID);
    for (let k = 0; k < L; k++) {
      get(R(k));
      i32(0);
      emit(op.ltS);
      emit(op.if, VOID);
      get(R(k));
      i32(-1);
      emit(op.xor);
      set(R(k));
      get(O(k));
      get(R(k));
      i32(2);
      emit(op.shrU);
      store(0);
      get(O(k));
      get(A);
      i32(1);
      emit(op.add);
      i32(0);
      load(layout.state + 8 * L + 4 * k);
      emit(op.add);
      store(4);
      addTo(O(k), 8);
      emit(op.end);
    }
    emit(op.end);
    addTo(A, 1);
  });
  for (let k = 0; k < L; k++) {
    i32(0);
    get(R(k));
    store(layout.state + 4 * k);
    // Hit count: bytes written / 8.
    i32(0);
    get(O(k));
    i32(layout.hits + k * layout.hitBytes);
    emit(op.sub);
    i32(3);
    emit(op.shrU);
    store(layout.state + 4 * L + 4 * k);
  }
  emit(op.end);

  const body = [...uleb(1), ...uleb(2 * L + 2), I32, ...code];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [...uleb(1), 0x60, ...uleb(2), I32, I32, ...uleb(0)]),
    ...section(3, [...uleb(1), ...uleb(0)]),
    ...section(5, [...uleb(1), 0x00, ...uleb(layout.pages)]),
    ...section(7, [...uleb(2), ...name('run'), 0x00, ...uleb(0), ...name('mem'), 0x02, ...uleb(0)]),
    ...section(10, [...uleb(1), ...uleb(body.length), ...body]),
  ];
  return new Uint8Array(bytes);
}

/**
 * newlines(from, to): how many bytes in memory [from, to) are 10, sixteen at a time (compare,
 * bitmask, popcount) and then one by one. A module of its own over the lanes' memory (imported),
 * so a runtime without vector instructions loses only this, not the pass.
 */
export function assembleNewlines(): Uint8Array {
  const V128 = 0x7b;
  const simd = (opcode: number) => [0xfd, ...uleb(opcode)];
  // Locals: params from = 0, to = 1; then count = 2, the address = 3, and sixteen newlines = 4.
  const FROM = 0;
  const TO = 1;
  const COUNT = 2;
  const AT = 3;
  const NL = 4;
  const { code, emit, get, set, i32, load8u, addTo, until } = codeWriter();
  i32(10);
  emit(...simd(15)); // i8x16.splat
  set(NL);
  get(FROM);
  set(AT);
  // Sixteen at a time while sixteen more are left.
  until(() => {
    get(AT);
    i32(16);
    emit(op.add);
    get(TO);
    emit(0x4b); // i32.gt_u
  }, () => {
    get(COUNT);
    get(AT);
    emit(...simd(0), 0, 0); // v128.load, alignment 1, offset 0
    get(NL);
    emit(...simd(35)); // i8x16.eq
    emit(...simd(100)); // i8x16.bitmask
    emit(0x69); // i32.popcnt
    emit(op.add);
    set(COUNT);
    addTo(AT, 16);
  });
  // Then one by one.
  until(() => {
    get(AT);
    get(TO);
    emit(op.geU);
  }, () => {
    get(COUNT);
    get(AT);
    load8u(0);
    i32(10);
    emit(0x46); // i32.eq
    emit(op.add);
    set(COUNT);
    addTo(AT, 1);
  });
  get(COUNT);
  emit(op.end);

  const body = [...uleb(2), ...uleb(2), I32, ...uleb(1), V128, ...code];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [...uleb(1), 0x60, ...uleb(2), I32, I32, ...uleb(1), I32]),
    ...section(2, [...uleb(1), ...name('env'), ...name('mem'), 0x02, 0x00, ...uleb(1)]),
    ...section(3, [...uleb(1), ...uleb(0)]),
    ...section(7, [...uleb(1), ...name('newlines'), 0x00, ...uleb(0)]),
    ...section(10, [...uleb(1), ...uleb(body.length), ...body]),
  ]);
}
