/**
 * The prefilter's side-by-side automata as a WebAssembly function: in JavaScript most of the
 * loop's time goes to bounds checks on its three typed-array loads per automaton and byte, which
 * WebAssembly's loads do not need. The module is a few hundred bytes assembled here (see
 * `assemble`), so there is no build step and nothing to download.
 *
 * Memory layout, in byte offsets:
 * - 0: the transition table. Entries are byte offsets of rows (the JavaScript table's row offsets
 *   × 4), bit-inverted for states that end a keyword, as in the JavaScript table.
 * - `classes`: the class of each byte value × 4 (256 bytes).
 * - `state`: per automaton its row, then per automaton its hit count, then per automaton the
 *   shift that turns an address in automaton 0's slot into a text offset in its own part.
 * - `hits + k × HIT_BYTES`: automaton k's hits of one block, as (JavaScript row, text offset
 *   after the keyword) pairs.
 * - `input + k × stride`: automaton k's slot: the bytes before its part, then the part. Slots a
 *   fixed stride apart let every automaton read its byte through one address with a constant
 *   offset, instead of an address of its own to compute and keep in a register per byte.
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
 * depends on the last, so independent chains hide each other's load latency. Four is fastest on
 * x86-64: with more, the rows and cursors no longer fit the registers.
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
    // The memory never grows (neither module has memory.grow), so one pair of views serves every
    // call: a view made per call over the whole memory costs more than a small file's pass.
    this.bytes = new Uint8Array(this.memory.buffer);
    this.words = new Int32Array(this.memory.buffer);
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
  private readonly bytes: Uint8Array;
  private readonly words: Int32Array;

  /**
   * Copies part k of the text (`part` bytes from k × part) to automaton k's slot, after the
   * `lead` bytes before it (for part 0, bytes that keep the automaton at the root): a first
   * block() over [0, lead) brings each automaton to the row its part starts in (its hits there
   * are the previous part's). lead + part ≤ stride.
   */
  load(bytes: Uint8Array, part: number, lead: number): void {
    const memory = this.bytes;
    memory.fill(this.idle, this.input, this.input + lead);
    memory.set(bytes.subarray(0, part), this.input + lead);
    for (let k = 1; k < WASM_LANES; k++) memory.set(bytes.subarray(k * part - lead, (k + 1) * part), this.input + k * this.stride);
    // What turns an address in automaton 0's slot into a text offset in automaton k's part.
    const words = this.words;
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
    const words = this.words;
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

// WebAssembly binary encoding (core specification, section 5): just what these modules use.
const I32 = 0x7f;
const V128 = 0x7b;
/** Block type of a block, loop or if that leaves nothing on the stack. */
const VOID = 0x40;
const FUNC_TYPE = 0x60;
const op = {
  block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br: 0x0c, brIf: 0x0d,
  get: 0x20, set: 0x21,
  load: 0x28, load8u: 0x2d, store: 0x36,
  const: 0x41, eq: 0x46, ltS: 0x48, gtU: 0x4b, geU: 0x4f, popcnt: 0x69, add: 0x6a, sub: 0x6b, or: 0x72, xor: 0x73, shrU: 0x76,
} as const;
/** Vector instructions: the 0xfd prefix, then these numbers (LEB128). */
const simdOp = { v128Load: 0, i8x16Splat: 15, i8x16Eq: 35, i8x16Bitmask: 100 } as const;
const sectionId = { type: 1, import: 2, function: 3, memory: 5, export: 7, code: 10 } as const;
/** What an import or export is: its kind byte. */
const externKind = { func: 0x00, memory: 0x02 } as const;
const MAGIC_AND_VERSION = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

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
    simd: (opcode: number, ...immediates: number[]) => emit(0xfd, ...uleb(opcode), ...immediates),
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
 * Rows, hit counts and shifts live at `state` (see the layout at the top of this file).
 */
export function assemble(layout: Layout): Uint8Array {
  const writer = codeWriter();
  const locals = runLocals(layout.lanes);
  loadRows(writer, layout, locals);
  const { get, set, emit, addTo, until } = writer;
  get(locals.text);
  set(locals.address);
  get(locals.text);
  get(locals.length);
  emit(op.add);
  set(locals.end);
  until(() => {
    get(locals.address);
    get(locals.end);
    emit(op.geU);
  }, () => {
    stepAutomata(writer, layout, locals);
    recordHits(writer, layout, locals);
    addTo(locals.address, 1);
  });
  storeRows(writer, layout, locals);
  emit(op.end);

  const body = [...uleb(1), ...uleb(2 * layout.lanes + 2), I32, ...writer.code];
  return new Uint8Array([
    ...MAGIC_AND_VERSION,
    ...section(sectionId.type, [...uleb(1), FUNC_TYPE, ...uleb(2), I32, I32, ...uleb(0)]),
    ...section(sectionId.function, [...uleb(1), ...uleb(0)]),
    ...section(sectionId.memory, [...uleb(1), 0x00, ...uleb(layout.pages)]),
    ...section(sectionId.export, [...uleb(2), ...name('run'), externKind.func, ...uleb(0), ...name('mem'), externKind.memory, ...uleb(0)]),
    ...section(sectionId.code, [...uleb(1), ...uleb(body.length), ...body]),
  ]);
}

type CodeWriter = ReturnType<typeof codeWriter>;

/** run's locals: its parameters, then each automaton's row and hit cursor, the address and its end. */
function runLocals(lanes: number) {
  return {
    text: 0,
    length: 1,
    row: (k: number) => 2 + k,
    cursor: (k: number) => 2 + lanes + k,
    address: 2 + 2 * lanes,
    end: 3 + 2 * lanes,
  };
}
type RunLocals = ReturnType<typeof runLocals>;

/** Each automaton's row from `state`, its hit cursor at the start of its hit area. */
function loadRows({ set, i32, load }: CodeWriter, layout: Layout, locals: RunLocals): void {
  for (let k = 0; k < layout.lanes; k++) {
    i32(0);
    load(layout.state + 4 * k);
    set(locals.row(k));
    i32(layout.hits + k * layout.hitBytes);
    set(locals.cursor(k));
  }
}

/** r_k = table[r_k + classes[memory[address + k × stride]]] for every automaton. */
function stepAutomata({ get, set, emit, load, load8u }: CodeWriter, layout: Layout, locals: RunLocals): void {
  for (let k = 0; k < layout.lanes; k++) {
    get(locals.row(k));
    get(locals.address);
    load8u(k * layout.stride);
    load8u(layout.classes);
    emit(op.add);
    load(0);
    set(locals.row(k));
  }
}

/** If any row is negative (one test for all), each negative one is made whole and its hit stored. */
function recordHits({ get, set, emit, i32, load, store, addTo }: CodeWriter, layout: Layout, locals: RunLocals): void {
  get(locals.row(0));
  for (let k = 1; k < layout.lanes; k++) {
    get(locals.row(k));
    emit(op.or);
  }
  i32(0);
  emit(op.ltS);
  emit(op.if, VOID);
  for (let k = 0; k < layout.lanes; k++) {
    get(locals.row(k));
    i32(0);
    emit(op.ltS);
    emit(op.if, VOID);
    get(locals.row(k));
    i32(-1);
    emit(op.xor);
    set(locals.row(k));
    // The hit: (row / 4, address + 1 + shift_k).
    get(locals.cursor(k));
    get(locals.row(k));
    i32(2);
    emit(op.shrU);
    store(0);
    get(locals.cursor(k));
    get(locals.address);
    i32(1);
    emit(op.add);
    i32(0);
    load(layout.state + 8 * layout.lanes + 4 * k);
    emit(op.add);
    store(4);
    addTo(locals.cursor(k), 8);
    emit(op.end);
  }
  emit(op.end);
}

/** Each automaton's row back to `state`, and its hit count (bytes written / 8) after the rows. */
function storeRows({ get, emit, i32, store }: CodeWriter, layout: Layout, locals: RunLocals): void {
  for (let k = 0; k < layout.lanes; k++) {
    i32(0);
    get(locals.row(k));
    store(layout.state + 4 * k);
    i32(0);
    get(locals.cursor(k));
    i32(layout.hits + k * layout.hitBytes);
    emit(op.sub);
    i32(3);
    emit(op.shrU);
    store(layout.state + 4 * layout.lanes + 4 * k);
  }
}

/**
 * newlines(from, to): how many bytes in memory [from, to) are 10, sixteen at a time (compare,
 * bitmask, popcount) and then one by one. A module of its own over the lanes' memory (imported),
 * so a runtime without vector instructions loses only this, not the pass.
 */
export function assembleNewlines(): Uint8Array {
  // Locals: params from = 0, to = 1; then count = 2, the address = 3, and sixteen newlines = 4.
  const FROM = 0;
  const TO = 1;
  const COUNT = 2;
  const AT = 3;
  const NL = 4;
  const { code, emit, get, set, i32, simd, load8u, addTo, until } = codeWriter();
  i32(10);
  simd(simdOp.i8x16Splat);
  set(NL);
  get(FROM);
  set(AT);
  // Sixteen at a time while sixteen more are left.
  until(() => {
    get(AT);
    i32(16);
    emit(op.add);
    get(TO);
    emit(op.gtU);
  }, () => {
    get(COUNT);
    get(AT);
    simd(simdOp.v128Load, 0, 0); // alignment 1, offset 0
    get(NL);
    simd(simdOp.i8x16Eq);
    simd(simdOp.i8x16Bitmask);
    emit(op.popcnt);
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
    emit(op.eq);
    emit(op.add);
    set(COUNT);
    addTo(AT, 1);
  });
  get(COUNT);
  emit(op.end);

  const body = [...uleb(2), ...uleb(2), I32, ...uleb(1), V128, ...code];
  return new Uint8Array([
    ...MAGIC_AND_VERSION,
    ...section(sectionId.type, [...uleb(1), FUNC_TYPE, ...uleb(2), I32, I32, ...uleb(1), I32]),
    ...section(sectionId.import, [...uleb(1), ...name('env'), ...name('mem'), externKind.memory, 0x00, ...uleb(1)]),
    ...section(sectionId.function, [...uleb(1), ...uleb(0)]),
    ...section(sectionId.export, [...uleb(1), ...name('newlines'), externKind.func, ...uleb(0)]),
    ...section(sectionId.code, [...uleb(1), ...uleb(body.length), ...body]),
  ]);
}
