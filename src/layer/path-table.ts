import { deflateRawSync, inflateRawSync } from 'node:zlib';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

/** What a layer writes at each path it writes (undefined: nothing). */
export interface PathKinds {
  get(path: string): EntryKind | undefined;
}

const KINDS: readonly EntryKind[] = ['file', 'dir', 'symlink', 'hardlink', 'other'];
const KIND_CODE: Readonly<Record<EntryKind, number>> = { file: 0, dir: 1, symlink: 2, hardlink: 3, other: 4 };

/** A PathTable's arrays as they cross between threads (transferred, not copied). */
export interface PathTableData {
  /**
   * Every path's UTF-8 bytes, one after the other in the order they were first written, cut in
   * blocks of BLOCK_BYTES, each deflated on its own (raw deflate): block i is
   * packed[blockEnds[i - 1] ?? 0, blockEnds[i]).
   */
  packed: Uint8Array;
  blockEnds: Int32Array;
  /** Path i is bytes[starts[i], starts[i + 1]) of the inflated blocks, joined. */
  starts: Int32Array;
  /** Path i's kind (an index into KINDS): what its last write made it. */
  kinds: Uint8Array;
  hashes: Int32Array;
  /** Open addressing over the paths: entry index + 1, 0 for an empty slot. */
  slots: Int32Array;
}

/** A PathTable's data without its slot index, which is rebuilt from the hashes: what the layer cache stores. */
export type PackedPathTable = Omit<PathTableData, 'slots'>;

// Paths of one tree share long prefixes: deflated (level 1) in 16 KiB blocks they take a tenth of
// their bytes (135k paths of /usr: 9.0 MiB -> 0.9 MiB, 67 ms), which is what the scan's thread
// holds of every layer until the report. A lookup inflates a block only when a path's hash
// matches (~0.1 ms; one block kept inflated); 64 KiB blocks packed a little smaller and took
// 0.4 ms a lookup, 4 KiB blocks 4 times as long to pack.
const BLOCK_SHIFT = 14;
/** Lookups of a received table remembered (attribution asks about the same parent directories for every finding). */
const MEMO_ENTRIES = 4096;
const BLOCK_BYTES = 1 << BLOCK_SHIFT;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let scratch = new Uint8Array(4096);

/**
 * The paths a layer writes, each with its kind and how many times the layer wrote it, in one
 * byte buffer with a hash index over it. A Map of strings cost ~150 bytes of V8 heap a path
 * (the string, its entry, the walk's second Map of write counts); a 4 GB image's biggest layer
 * (~150,000 paths) grew its worker's heap by ~30 MiB, and the scan's thread held every layer's
 * paths again to attribute findings. Here a path costs its bytes plus ~20, outside the heap, and
 * crosses to the scan's thread as transferred buffers (no copy); lookups there need no Map.
 */
export class PathTable implements PathKinds, Iterable<[string, EntryKind]> {
  private bytes: Uint8Array;
  private used: number;
  private starts: Int32Array;
  private kinds: Uint8Array;
  private hashes: Int32Array;
  /** Write counts: only while walking (null once received from another thread). */
  private writes: Int32Array | null;
  private slots: Int32Array;
  private count: number;
  /** A received table's bytes, deflated (then `bytes` is empty). */
  private readonly packed: PackedBytes | null = null;
  /** A received table's arrays as they came, to be stored as they are. */
  private readonly received: PackedPathTable | null = null;
  private readonly memo: Map<string, number> | null = null;

  constructor(data?: PathTableData) {
    if (data) {
      this.bytes = new Uint8Array(0);
      this.received = data;
      this.packed = new PackedBytes(data.packed, data.blockEnds);
      this.memo = new Map();
      this.starts = data.starts;
      this.kinds = data.kinds;
      this.hashes = data.hashes;
      this.slots = data.slots;
      this.count = data.kinds.length;
      this.used = data.starts[this.count] ?? 0;
      this.writes = null;
      return;
    }
    this.bytes = new Uint8Array(64 * 1024);
    this.used = 0;
    this.count = 0;
    this.starts = new Int32Array(1025);
    this.kinds = new Uint8Array(1024);
    this.hashes = new Int32Array(1024);
    this.writes = new Int32Array(1024);
    this.slots = new Int32Array(2048);
  }

  /** A table from its stored arrays (see packedData), its slot index rebuilt from the hashes. */
  static fromPacked(data: PackedPathTable): PathTable {
    let size = 2048;
    while (data.kinds.length * 2 > size) size *= 2;
    const table = new PathTable({ ...data, slots: new Int32Array(0) });
    table.rehash(size);
    return table;
  }

  get size(): number {
    return this.count;
  }

  /** Records a write of `path` as `kind` (the last write decides its kind); returns how many times it has been written. */
  set(path: string, kind: EntryKind): number {
    const writes = this.writes;
    if (writes === null) throw new Error('a received path table is read-only');
    const length = this.append(path);
    const start = this.used;
    const hash = hashBytes(this.bytes, start, start + length);
    const found = this.find(this.bytes, start, length, hash);
    if (found >= 0) {
      // Written before: the bytes just appended are dropped (`used` does not move).
      this.kinds[found] = KIND_CODE[kind];
      return ++writes[found]!;
    }
    const index = this.count;
    if (index + 1 >= this.kinds.length) this.growEntries();
    this.used += length;
    this.starts[index + 1] = this.used;
    this.kinds[index] = KIND_CODE[kind];
    this.hashes[index] = hash;
    this.writes![index] = 1;
    this.count++;
    if (this.count * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(index);
    return 1;
  }

  get(path: string): EntryKind | undefined {
    const index = this.memo ? this.memoIndexOf(path, this.memo) : this.indexOf(path);
    return index < 0 ? undefined : KINDS[this.kinds[index]!];
  }

  private memoIndexOf(path: string, memo: Map<string, number>): number {
    let index = memo.get(path);
    if (index === undefined) {
      index = this.indexOf(path);
      if (memo.size >= MEMO_ENTRIES) memo.clear();
      memo.set(path, index);
    }
    return index;
  }

  /** How many times the walk wrote `path` so far (0: never). */
  writesOf(path: string): number {
    const index = this.indexOf(path);
    return index < 0 || this.writes === null ? 0 : this.writes[index]!;
  }

  *[Symbol.iterator](): IterableIterator<[string, EntryKind]> {
    for (let i = 0; i < this.count; i++) yield [this.pathAt(i), KINDS[this.kinds[i]!]!];
  }

  /** The arrays, trimmed to what is used and the paths deflated, for postMessage (list them as transferred: `transferables`). */
  data(): PathTableData {
    if (this.packed) throw new Error('a received path table is not sent on');
    return {
      ...PackedBytes.pack(this.bytes.subarray(0, this.used)),
      starts: this.starts.slice(0, this.count + 1),
      kinds: this.kinds.slice(0, this.count),
      hashes: this.hashes.slice(0, this.count),
      slots: this.slots,
    };
  }

  /**
   * The table's arrays with its paths deflated, without the slot index: a received table's own
   * arrays (nothing packed again), a walking table's packed as data() does.
   */
  packedData(): PackedPathTable {
    if (this.received) return this.received;
    const { slots, ...rest } = this.data();
    void slots;
    return rest;
  }

  private pathAt(index: number): string {
    return decoder.decode(this.bytesOf(this.starts[index]!, this.starts[index + 1]!));
  }

  private bytesOf(from: number, to: number): Uint8Array {
    return this.packed ? this.packed.view(from, to) : this.bytes.subarray(from, to);
  }

  private indexOf(path: string): number {
    // Encoded apart from the table: a received table's buffer is exactly full, and growing it
    // for a lookup would copy every path.
    if (scratch.length < path.length * 3) scratch = new Uint8Array(Math.max(path.length * 3, 2 * scratch.length));
    const length = encoder.encodeInto(path, scratch).written;
    return this.find(scratch, 0, length, hashBytes(scratch, 0, length));
  }

  /** Encodes `path` after the used bytes (growing the buffer if needed) without counting it as used; returns its length. */
  private append(path: string): number {
    // UTF-8 needs at most 3 bytes per UTF-16 unit.
    if (this.bytes.length - this.used < path.length * 3) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.used + path.length * 3 + 1024));
      grown.set(this.bytes.subarray(0, this.used));
      this.bytes = grown;
    }
    return encoder.encodeInto(path, this.bytes.subarray(this.used)).written;
  }

  /** The entry whose bytes equal query[start, start + length), or -1. */
  private find(query: Uint8Array, start: number, length: number, hash: number): number {
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]! - 1;
      if (entry < 0) return -1;
      if (this.hashes[entry] !== hash) continue;
      const from = this.starts[entry]!;
      if (this.starts[entry + 1]! - from !== length) continue;
      const bytes = this.bytesOf(from, from + length);
      let same = true;
      for (let k = 0; k < length; k++) {
        if (bytes[k] !== query[start + k]) {
          same = false;
          break;
        }
      }
      if (same) return entry;
    }
  }

  private place(index: number): void {
    const mask = this.slots.length - 1;
    let slot = this.hashes[index]! & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = index + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let i = 0; i < this.count; i++) this.place(i);
  }

  private growEntries(): void {
    const size = this.kinds.length * 2;
    const starts = new Int32Array(size + 1);
    starts.set(this.starts);
    this.starts = starts;
    const kinds = new Uint8Array(size);
    kinds.set(this.kinds);
    this.kinds = kinds;
    const hashes = new Int32Array(size);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const writes = new Int32Array(size);
    writes.set(this.writes!);
    this.writes = writes;
  }
}

/**
 * Whether stored arrays hang together (offsets in order and within the paths' bytes, blocks that
 * end where the packed bytes do, known kinds): a damaged cache entry must be a miss, not a lookup
 * that reads past an array or inflates garbage.
 */
export function isPackedPathTable(data: PackedPathTable): boolean {
  const { packed, blockEnds, starts, kinds, hashes } = data;
  const count = kinds.length;
  if (starts.length !== count + 1 || hashes.length !== count || starts[0] !== 0) return false;
  for (let i = 0; i < count; i++) if (starts[i + 1]! < starts[i]! || kinds[i]! >= KINDS.length) return false;
  if (blockEnds.length !== Math.ceil(starts[count]! / BLOCK_BYTES)) return false;
  let end = 0;
  for (const blockEnd of blockEnds) {
    if (blockEnd < end) return false;
    end = blockEnd;
  }
  return end === packed.length;
}

/** The buffers of a PathTable's data, for a postMessage transfer list. */
export function transferables(data: PathTableData): ArrayBuffer[] {
  return [data.packed.buffer, data.blockEnds.buffer, data.starts.buffer, data.kinds.buffer, data.hashes.buffer, data.slots.buffer] as ArrayBuffer[];
}

/** FNV-1a over bytes[from, to). */
function hashBytes(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h;
}

/** A table's path bytes as deflated blocks, inflated a block at a time as lookups need them. */
class PackedBytes {
  private block = -1;
  private inflated = new Uint8Array(0);

  constructor(
    private readonly packed: Uint8Array,
    private readonly blockEnds: Int32Array,
  ) {}

  static pack(bytes: Uint8Array): { packed: Uint8Array; blockEnds: Int32Array } {
    const blocks: Buffer[] = [];
    const blockEnds = new Int32Array(Math.ceil(bytes.length / BLOCK_BYTES));
    let end = 0;
    for (let i = 0; i < blockEnds.length; i++) {
      const block = deflateRawSync(bytes.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES), { level: 1 });
      blocks.push(block);
      end += block.length;
      blockEnds[i] = end;
    }
    const packed = new Uint8Array(end);
    let at = 0;
    for (const block of blocks) {
      packed.set(block, at);
      at += block.length;
    }
    return { packed, blockEnds };
  }

  /** bytes[from, to) of the table, a view valid until the next call. */
  view(from: number, to: number): Uint8Array {
    if (to <= from) return this.inflated.subarray(0, 0);
    const first = from >>> BLOCK_SHIFT;
    const last = (to - 1) >>> BLOCK_SHIFT;
    if (first === last) return this.load(first).subarray(from - (first << BLOCK_SHIFT), to - (first << BLOCK_SHIFT));
    // A path across a block boundary: its pieces joined.
    const out = new Uint8Array(to - from);
    for (let b = first; b <= last; b++) {
      const base = b << BLOCK_SHIFT;
      const piece = this.load(b).subarray(Math.max(from, base) - base, Math.min(to, base + BLOCK_BYTES) - base);
      out.set(piece, Math.max(from, base) - from);
    }
    return out;
  }

  private load(block: number): Uint8Array {
    if (block !== this.block) {
      this.inflated = inflateRawSync(this.packed.subarray(block === 0 ? 0 : this.blockEnds[block - 1], this.blockEnds[block]));
      this.block = block;
    }
    return this.inflated;
  }
}
