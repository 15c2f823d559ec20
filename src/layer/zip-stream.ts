import { constants, inflateRawSync } from 'node:zlib';
import {
  binaryByName, expandMember, inflateChunk, lastEndRecord, newBudget, RATIO_FLOOR_BYTES, zip64Sizes,
  type ArchiveBudget, type ArchiveLimits, type ArchiveSkip, type NestedFile,
} from './nested.js';

/**
 * A big zip in a layer read as its tar entry streams past, from its local headers, so that the
 * walk never holds it whole (a JDK's 53 MB `src.zip` was most of a layer worker's peak).
 *
 * A zip is defined by its central directory (APPNOTE 4.3.6: the directory at the end is what
 * says which entries exist and where; local headers may be stale, shadowed, or hold sizes only in
 * a data descriptor after the data, 4.3.9), and the whole-buffer walk (nested.ts) reads it that
 * way. So what is streamed stays provisional: every member's matches and skip counts are held
 * until the directory, read at the end, agrees with what the local headers said, entry for entry
 * and in the same order (name, flags, method, CRC, both sizes, local header offset), with the
 * directory starting right where the last member ended and no bytes in front of the first.
 * Agreed, the held results are the whole-buffer walk's own: it would have opened the same members
 * from the same bytes, in the same order, with the same limits. Anything else (a member the stream
 * cannot delimit, a limit reached, a directory that differs, data the whole-buffer walk would stop
 * on) drops what was held, and the caller scans the zip the whole-buffer way from a second read
 * of its bytes, so even a hostile zip is found and counted exactly as before.
 */

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const DESCRIPTOR_SIG = 0x08074b50;
const U32_MAX = 0xffffffff;
const FLAG_ENCRYPTED = 0x1;
const FLAG_DESCRIPTOR = 0x8;

/** Bytes of a zip buffered ahead of its parse before the tar entry is made to wait. */
const HIGH_WATER_BYTES = 2 * 1024 * 1024;
/**
 * The most compressed bytes of one member read ahead to find where its deflate data ends (bit 3:
 * no size before the data). A member larger than this is not streamed.
 */
const MAX_DELIMIT_BYTES = 16 * 1024 * 1024;
/** The directory and end records read at the end: a zip with a larger directory is not streamed. */
const MAX_DIRECTORY_BYTES = 16 * 1024 * 1024 + 22 + 0xffff;

/** What the stream cannot settle: the zip goes to the whole-buffer walk instead. */
class NotStreamable extends Error {}

/** A failure of the scan the members were handed to (not of the zip): it fails the walk, as it would have. */
class SinkFailure extends Error {}

/** One member as its local header (and data descriptor) describe it. */
interface LocalMember {
  offset: number;
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressed: number;
  declared: number;
  /** The local header has a zip64 extra field: a data descriptor's sizes are 8 bytes each. */
  zip64: boolean;
}

/** Where a zip's streamed members go; results are held until the directory agrees. */
export interface ZipStreamTarget {
  /** Scans one member (or a file of an archive nested in one) under its `zip!/member` path. */
  scan(file: NestedFile, skip: (reason: ArchiveSkip) => void): Promise<void>;
}

export type ZipStreamOutcome = 'streamed' | 'fallback';

/**
 * Results (matches) held back until a zip's directory has been checked: passed on from then if
 * it agreed, dropped (those already in and those still to come back from detection) if not.
 */
export class HeldResults<T> {
  private held: T[] | null = [];
  private target: { push(item: T): void } | null = null;

  push(item: T): void {
    if (this.target !== null) this.target.push(item);
    else this.held?.push(item);
  }

  commit(target: { push(item: T): void }): void {
    for (const item of this.held ?? []) target.push(item);
    this.held = null;
    this.target = target;
  }

  discard(): void {
    this.held = null;
    this.target = null;
  }
}

/** The bytes of one tar entry as the parse pulls them: chunks pushed in, read, peeked and skipped. */
class ChunkReader {
  private readonly chunks: Buffer[] = [];
  private offset = 0; // into chunks[0]
  buffered = 0;
  /** Bytes of the zip consumed by the parse so far. */
  position = 0;
  ended = false;
  /** No parse reads any more: chunks are dropped. */
  closed = false;
  private wanted = 0;
  private wakeParse: (() => void) | null = null;
  private wakeWriter: (() => void) | null = null;

  push(chunk: Buffer): Promise<void> | null {
    if (this.closed) return null;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered >= this.wanted) this.wake();
    if (this.buffered < HIGH_WATER_BYTES || this.wanted > this.buffered) return null;
    return new Promise((resolve) => (this.wakeWriter = resolve));
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Stops reading: chunks from here on are dropped and a waiting writer goes on. */
  close(): void {
    this.closed = true;
    this.chunks.length = 0;
    this.buffered = 0;
    this.releaseWriter();
  }

  /** Waits until `n` bytes are buffered (true) or the entry ended short of them (false). */
  async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.ended) {
      this.wanted = n;
      this.releaseWriter();
      await new Promise<void>((resolve) => (this.wakeParse = resolve));
    }
    this.wanted = 0;
    return this.buffered >= n;
  }

  /** The next `n` buffered bytes, without consuming them; copied only when they span chunks. */
  peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.offset >= n) return first.subarray(this.offset, this.offset + n);
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (let i = 0, from = this.offset; at < n; i++, from = 0) {
      const chunk = this.chunks[i]!;
      const m = Math.min(n - at, chunk.length - from);
      chunk.copy(out, at, from, from + m);
      at += m;
    }
    return out;
  }

  /** What is buffered in the first chunk: a view, never a copy. */
  contiguous(): Buffer {
    return this.buffered === 0 ? Buffer.alloc(0) : this.chunks[0]!.subarray(this.offset);
  }

  /** Consumes `n` buffered bytes. */
  drop(n: number): void {
    this.position += n;
    this.buffered -= n;
    while (n > 0) {
      const left = this.chunks[0]!.length - this.offset;
      if (n < left) {
        this.offset += n;
        break;
      }
      n -= left;
      this.chunks.shift();
      this.offset = 0;
    }
    if (this.buffered < HIGH_WATER_BYTES) this.releaseWriter();
  }

  /** The next `n` bytes, consumed; the entry ending first cannot be streamed. */
  async read(n: number): Promise<Buffer> {
    if (!(await this.fill(n))) throw new NotStreamable('ends inside a member');
    const out = this.peek(n);
    this.drop(n);
    return out;
  }

  /** Consumes `n` bytes, buffered or yet to come, without keeping them. */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (!(await this.fill(1))) throw new NotStreamable('ends inside a member');
      const m = Math.min(n, this.buffered);
      this.drop(m);
      n -= m;
    }
  }

  /** Everything left of the entry, up to `max` bytes. */
  async rest(max: number): Promise<Buffer> {
    while (!this.ended) {
      if (this.buffered > max) throw new NotStreamable('directory too large');
      await this.fill(this.buffered + 1);
    }
    if (this.buffered > max) throw new NotStreamable('directory too large');
    const out = this.buffered === 0 ? Buffer.alloc(0) : this.peek(this.buffered);
    this.drop(this.buffered);
    return out;
  }

  private wake(): void {
    const waiting = this.wakeParse;
    this.wakeParse = null;
    waiting?.();
  }

  private releaseWriter(): void {
    const waiting = this.wakeWriter;
    this.wakeWriter = null;
    waiting?.();
  }
}

/**
 * Parses one zip as its bytes are written, scanning members through `target` as they complete.
 * `end()` says whether the streamed results stand ('streamed': held skips are counted and held
 * matches may be committed) or the zip must be scanned the whole-buffer way ('fallback').
 */
export class ZipStream {
  private readonly reader = new ChunkReader();
  private readonly budget: ArchiveBudget;
  private readonly streamed: LocalMember[] = [];
  /** Skip counts, held like the matches until the directory agrees. */
  readonly skipped: Partial<Record<ArchiveSkip, number>> = {};
  private readonly outcome: Promise<ZipStreamOutcome>;

  constructor(
    private readonly path: string,
    private readonly limits: ArchiveLimits,
    private readonly target: ZipStreamTarget,
  ) {
    this.budget = newBudget(limits);
    this.outcome = this.parse().then(
      (): ZipStreamOutcome => 'streamed',
      (err: unknown): ZipStreamOutcome => {
        this.reader.close();
        if (err instanceof SinkFailure) throw err.cause instanceof Error ? err.cause : err;
        return 'fallback';
      },
    );
    // end() hands a failure on; this keeps one from going unhandled should the walk fail first.
    this.outcome.catch(() => {});
  }

  /** Takes the next bytes of the zip; a promise when the parse is this far behind. */
  write(chunk: Buffer): Promise<void> | null {
    return this.reader.push(chunk);
  }

  /** After the last byte: whether the streamed results stand. */
  end(): Promise<ZipStreamOutcome> {
    this.reader.end();
    return this.outcome;
  }

  private readonly skip = (reason: ArchiveSkip): void => {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
  };

  private async parse(): Promise<void> {
    const reader = this.reader;
    for (;;) {
      if (!(await reader.fill(4))) throw new NotStreamable('ends before its directory');
      if (reader.peek(4).readUInt32LE(0) !== LOCAL_SIG) break;
      const member = await this.localHeader();
      await this.member(member);
      this.streamed.push(member);
    }
    const start = reader.position;
    this.checkDirectory(await reader.rest(MAX_DIRECTORY_BYTES), start);
  }

  private async localHeader(): Promise<LocalMember> {
    const reader = this.reader;
    const offset = reader.position;
    const fixed = await reader.read(30);
    const nameLength = fixed.readUInt16LE(26);
    const extraLength = fixed.readUInt16LE(28);
    const variable = await reader.read(nameLength + extraLength);
    const member: LocalMember = {
      offset,
      name: variable.toString('utf8', 0, nameLength),
      flags: fixed.readUInt16LE(6),
      method: fixed.readUInt16LE(8),
      crc: fixed.readUInt32LE(14),
      compressed: fixed.readUInt32LE(18),
      declared: fixed.readUInt32LE(22),
      zip64: false,
    };
    const zip64 = zip64Field(variable.subarray(nameLength));
    if (zip64 !== null) {
      member.zip64 = true;
      // A local zip64 field holds both sizes, uncompressed first (APPNOTE 4.5.3).
      if (member.declared === U32_MAX || member.compressed === U32_MAX) {
        if (zip64.length < 16) throw new NotStreamable('short zip64 field');
        member.declared = Number(zip64.readBigUInt64LE(0));
        member.compressed = Number(zip64.readBigUInt64LE(8));
      }
    } else if (member.declared === U32_MAX || member.compressed === U32_MAX) throw new NotStreamable('no zip64 field');
    return member;
  }

  /**
   * One member's data, with the decisions the whole-buffer walk (nested.ts zipMembers) takes for
   * it, in its order. It takes them from the directory's fields, which must turn out equal to these.
   */
  private async member(m: LocalMember): Promise<void> {
    const { limits, budget } = this;
    const described = (m.flags & FLAG_DESCRIPTOR) !== 0;
    if (described && ((m.method !== 0 && m.method !== 8) || (m.flags & FLAG_ENCRYPTED) !== 0)) {
      // Encrypted data, or another method's, followed by a descriptor: no end the stream can find.
      throw new NotStreamable('undelimited member');
    }
    if (m.name.endsWith('/')) return this.pass(m);
    if (budget.entries <= 0) throw new NotStreamable('member count');
    budget.entries--;
    if (binaryByName(m.name)) {
      this.skip('binary');
      return this.pass(m);
    }
    if ((m.flags & FLAG_ENCRYPTED) !== 0) {
      this.skip('archive-encrypted');
      return this.pass(m);
    }
    switch (m.method) {
      case 0: {
        const delimited = described ? await this.delimited(m) : null;
        if (m.compressed > limits.maxEntryBytes) {
          this.skip('archive-entry-too-large');
          if (!described) await this.reader.skip(m.compressed);
          return;
        }
        if (m.compressed > budget.bytes) throw new NotStreamable('budget');
        const body = delimited ?? await this.reader.read(m.compressed);
        budget.bytes -= body.length;
        return this.expand(m.name, body);
      }
      case 8: {
        const inflated = described ? await this.delimited(m) : await this.inflateSized(m);
        this.checkInflated(m, inflated.length);
        budget.bytes -= inflated.length;
        return this.expand(m.name, inflated);
      }
      default:
        this.skip('archive-unsupported-method');
        return this.pass(m);
    }
  }

  /** Steps over a member's data unread (for a descriptor, finding its end first). */
  private async pass(m: LocalMember): Promise<void> {
    if ((m.flags & FLAG_DESCRIPTOR) !== 0) await this.delimited(m, false);
    else await this.reader.skip(m.compressed);
  }

  /** A deflated member whose sizes its local header gives: inflated as the whole-buffer walk does. */
  private async inflateSized(m: LocalMember): Promise<Buffer> {
    if (m.compressed > this.limits.maxEntryBytes) throw new NotStreamable('large compressed member');
    this.checkDeclared(m);
    const body = await this.reader.read(m.compressed);
    const max = this.bound(m.compressed);
    try {
      return inflateRawSync(body, { maxOutputLength: max + 1, chunkSize: inflateChunk(Math.min(m.declared, max)) });
    } catch {
      throw new NotStreamable('inflate');
    }
  }

  /**
   * A member with a data descriptor (deflated, or stored): its data, found in what is buffered,
   * reading further ahead as needed. Deflated data ends where the inflater stops short of the
   * window's end; stored data where a signed descriptor gives the distance to it as both sizes.
   * Either way the descriptor must then hold what was consumed and produced, and a wrong guess
   * cannot stand: the directory's sizes and the next member's offset would differ. Deflated data
   * not kept (a member skipped as binary by its name: a jar's classes) is found by its signed
   * descriptor too, where there is one, rather than inflated for nothing.
   */
  private async delimited(m: LocalMember, keep = true): Promise<Buffer> {
    const reader = this.reader;
    const max = Math.min(this.limits.maxEntryBytes, this.budget.bytes);
    const width = m.zip64 ? 8 : 4;
    let window = reader.contiguous();
    for (;;) {
      const found = m.method === 8 && keep
        ? inflatedEnd(window, max)
        : signedEnd(window, width, m.method === 0) ?? (m.method === 8 ? inflatedEnd(window, max) : null);
      if (found !== null) {
        reader.drop(found.consumed);
        await this.readDescriptor(m, found.consumed, found.declared);
        return found.data;
      }
      if (window.length >= MAX_DELIMIT_BYTES) throw new NotStreamable('member too large to delimit');
      const more = Math.min(MAX_DELIMIT_BYTES, Math.max(2 * window.length, window.length + 64 * 1024));
      if (!(await reader.fill(window.length + 1))) throw new NotStreamable('ends inside a member');
      await reader.fill(more);
      window = reader.peek(Math.min(more, reader.buffered));
    }
  }

  /** A data descriptor (its signature optional, APPNOTE 4.3.9.3), checked against the data it follows. */
  private async readDescriptor(m: LocalMember, compressed: number, inflated: number): Promise<void> {
    const reader = this.reader;
    const width = m.zip64 ? 8 : 4;
    const size = (b: Buffer, at: number): number => (width === 8 ? Number(b.readBigUInt64LE(at)) : b.readUInt32LE(at));
    if (!(await reader.fill(4 + 4 + 2 * width))) throw new NotStreamable('ends inside a descriptor');
    const d = reader.peek(4 + 4 + 2 * width);
    const signed = d.readUInt32LE(0) === DESCRIPTOR_SIG && size(d, 8) === compressed && size(d, 8 + width) === inflated;
    const at = signed ? 4 : 0;
    if (!signed && !(size(d, 4) === compressed && size(d, 4 + width) === inflated)) throw new NotStreamable('descriptor');
    m.crc = d.readUInt32LE(at);
    m.compressed = compressed;
    m.declared = inflated;
    reader.drop(at + 4 + 2 * width);
  }

  /** The whole-buffer walk's bound on a member's output, from its compressed size. */
  private bound(compressed: number): number {
    const byRatio = Math.max(RATIO_FLOOR_BYTES, compressed * this.limits.maxRatio);
    return Math.min(this.limits.maxEntryBytes, this.budget.bytes, byRatio);
  }

  /** The declared-ratio test the whole-buffer walk applies before inflating: a bomb ends the zip there. */
  private checkDeclared(m: LocalMember): void {
    if (m.declared > RATIO_FLOOR_BYTES && m.declared / Math.max(1, m.compressed) > this.limits.maxRatio) throw new NotStreamable('bomb');
  }

  /** Whatever would have stopped or skipped this member in the whole-buffer walk is not streamed. */
  private checkInflated(m: LocalMember, inflated: number): void {
    this.checkDeclared(m);
    if (inflated > this.bound(m.compressed)) throw new NotStreamable('inflate bound');
  }

  /** One member's bytes, expanded as the whole-buffer walk expands each of its members. */
  private async expand(name: string, data: Buffer): Promise<void> {
    try {
      for await (const file of expandMember(name, data, this.path, 1, this.limits, this.budget, this.skip)) await this.target.scan(file, this.skip);
    } catch (err) {
      throw new SinkFailure('scanning a streamed zip member', { cause: err });
    }
  }

  /** The directory and end records, `tail` of the zip from offset `start`: do they list exactly what was streamed? */
  private checkDirectory(tail: Buffer, start: number): void {
    const dir = endRecord(tail, start);
    if (dir.entries !== this.streamed.length) throw new NotStreamable('directory count');
    let at = 0;
    for (const s of this.streamed) {
      if (at + 46 > dir.size || tail.readUInt32LE(at) !== CENTRAL_SIG) throw new NotStreamable('directory record');
      const nameLength = tail.readUInt16LE(at + 28);
      const extraLength = tail.readUInt16LE(at + 30);
      const nameEnd = at + 46 + nameLength;
      if (nameEnd + extraLength > dir.size) throw new NotStreamable('directory record');
      let sizes = { compressed: tail.readUInt32LE(at + 20), declared: tail.readUInt32LE(at + 24), local: tail.readUInt32LE(at + 42) };
      if (sizes.compressed === U32_MAX || sizes.declared === U32_MAX || sizes.local === U32_MAX) {
        try {
          sizes = zip64Sizes(tail.subarray(nameEnd, nameEnd + extraLength), sizes);
        } catch {
          throw new NotStreamable('directory zip64');
        }
      }
      const same = tail.toString('utf8', at + 46, nameEnd) === s.name
        && tail.readUInt16LE(at + 8) === s.flags
        && tail.readUInt16LE(at + 10) === s.method
        && tail.readUInt32LE(at + 16) === s.crc
        && sizes.compressed === s.compressed
        && sizes.declared === s.declared
        && sizes.local === s.offset;
      if (!same) throw new NotStreamable('directory differs');
      at = nameEnd + extraLength + tail.readUInt16LE(at + 32);
    }
  }
}

/** Where deflate data at the start of `window` ends, and what it inflates to (at most `max` bytes); null: not within it. */
function inflatedEnd(window: Buffer, max: number): DataEnd | null {
  let result: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    // A sync flush takes data that stops short of the end without an error; info says how much was read.
    result = inflateRawSync(window, { info: true, finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: max + 1 }) as unknown as typeof result;
  } catch {
    throw new NotStreamable('inflate');
  }
  const consumed = result.engine.bytesWritten;
  if (consumed === window.length) return null;
  if (result.buffer.length > max) throw new NotStreamable('inflate bound');
  return { consumed, declared: result.buffer.length, data: result.buffer };
}

const DESCRIPTOR_SIG_BYTES = Buffer.from([0x50, 0x4b, 0x07, 0x08]);

/** Where a member's data ends (`consumed` bytes), the size it declares or inflated to, and the data (stored, or inflated) if kept. */
interface DataEnd {
  consumed: number;
  declared: number;
  data: Buffer;
}

/**
 * Where data at the start of `window` ends: at a signed descriptor whose compressed size is its
 * distance from the start (and, for stored data, its uncompressed size too).
 */
function signedEnd(window: Buffer, width: number, stored: boolean): DataEnd | null {
  const size = (offset: number): number => (width === 8 ? Number(window.readBigUInt64LE(offset)) : window.readUInt32LE(offset));
  for (let from = 0; ; from++) {
    const at = window.indexOf(DESCRIPTOR_SIG_BYTES, from);
    if (at < 0 || at + 8 + 2 * width > window.length) return null;
    const declared = size(at + 8 + width);
    if (size(at + 8) === at && (!stored || declared === at)) return { consumed: at, declared, data: window.subarray(0, at) };
    from = at;
  }
}

/** The zip64 extended information field of a local header's extra data, if there is one. */
function zip64Field(extra: Buffer): Buffer | null {
  for (let at = 0; at + 4 <= extra.length; ) {
    const length = extra.readUInt16LE(at + 2);
    if (extra.readUInt16LE(at) === 0x0001) return extra.subarray(at + 4, at + 4 + length);
    at += 4 + length;
  }
  return null;
}

/**
 * The end record (zip64 where it says so) as the whole-buffer walk finds it, searching back from
 * the end; the directory must start where the streamed members ended (`start`) and run up to it.
 */
function endRecord(tail: Buffer, start: number): { entries: number; size: number } {
  const eocd = lastEndRecord(tail);
  // Not in the tail: the whole-buffer walk may find one inside member data; let it.
  if (eocd < 0) throw new NotStreamable('no end record');
  let entries = tail.readUInt16LE(eocd + 10);
  let size = tail.readUInt32LE(eocd + 12);
  let offset = tail.readUInt32LE(eocd + 16);
  let end = eocd;
  if (entries === 0xffff || size === U32_MAX || offset === U32_MAX) {
    if (eocd < 20 || tail.readUInt32LE(eocd - 20) !== ZIP64_LOCATOR_SIG) throw new NotStreamable('zip64 end');
    const at = Number(tail.readBigUInt64LE(eocd - 20 + 8)) - start;
    if (at < 0 || at + 56 > tail.length || tail.readUInt32LE(at) !== ZIP64_EOCD_SIG) throw new NotStreamable('zip64 end');
    entries = Number(tail.readBigUInt64LE(at + 32));
    size = Number(tail.readBigUInt64LE(at + 40));
    offset = Number(tail.readBigUInt64LE(at + 48));
    end = at;
  }
  if (offset !== start || size !== end) throw new NotStreamable('directory not where the members end');
  return { entries, size };
}
