import type { MessagePort, Worker } from 'node:worker_threads';
import { workerThreads } from '../lazy.js';
import { fileURLToPath } from 'node:url';
import { DetectionEngine, planPatterns, type PatternPlan, type RawMatch } from './engine.js';
import type { RuleSpec } from './rules.js';
import { ruleSource, type RuleSource } from './spec.js';
import { answerBatch, type BatchRequest, type BatchResponse } from './batch.js';
import { GzipOutcome, scanGzipMember } from './gzip-member.js';

/** Where a submitted chunk's outcome goes: its matches, or the pool's failure. */
export interface Delivery {
  /**
   * The chunk's matches; when the submit asked (countTo > 0), also how many newlines its first
   * countTo bytes hold and the offset of the last (else both -1).
   */
  found(matches: RawMatch[], newlines: number, lastNewline: number, outcome: GzipOutcome): void;
  failed(err: Error): void;
}

interface PendingChunk {
  bytes: number;
  to: Delivery;
}

/** The batch being filled: chunks are copied in as they are submitted. */
interface OpenBatch {
  buffer: ArrayBuffer;
  view: Uint8Array;
  /** Bytes written so far. */
  pos: number;
  /** [start, end) of each chunk within `buffer`. */
  spans: number[];
  /** Per chunk, the bytes to count newlines in (0: none); null while no chunk asked. */
  countTo: number[] | null;
  /** Per chunk, 1 for a gzip file to inflate first; null while no chunk asked. */
  gunzip: number[] | null;
  chunks: PendingChunk[];
}

// Each batch costs a message each way and their handling on both threads: 1 MiB batches spread
// that over enough text to vanish (smaller ones cost more; bigger ones gain nothing).
const BATCH_BYTES = 1024 * 1024;
const BATCH_CHUNKS = 256;
// Batch buffers come back from the workers and are reused: allocating (and zero-filling) a fresh
// ArrayBuffer per batch made the main thread's garbage collector work through every scanned byte.
// A batch is sent once it holds BATCH_BYTES, so it is under BATCH_BYTES plus one chunk: a chunk of
// up to SPARE_BYTES - BATCH_BYTES (a detection window with its overlap, too) always fits; a bigger
// one goes alone in a buffer of its own.
const SPARE_BYTES = 3 * 1024 * 1024;
const STARTUP_BYTES = 16 * 1024 * 1024;
// Enough to keep every buffer the start-up queue needed: fresh memory costs a page fault per 4 KiB
// on first touch, so a kept buffer is much cheaper than a new one.
const SPARE_COUNT = STARTUP_BYTES / SPARE_BYTES + 2;
// A detection window and its overlap (1 MiB + 32 KiB) fit the joined buffer of an inline pool.
const JOINED_BYTES = 1024 * 1024 + 64 * 1024;

/** What two layer workers send each other over their port: a batch to detect, or its answer. */
export type PeerMessage =
  | { type: 'batch'; request: BatchRequest }
  | { type: 'result'; response: BatchResponse };

/** Another layer worker that takes this pool's batches while it has no layer of its own to walk. */
interface Peer {
  port: MessagePort;
  busy: () => boolean;
  inFlight: number;
}

// Bytes a walker keeps queued at one idle peer: six batches, so the peer starts the next batch as
// soon as it answers one, while the walker goes on detecting inline rather than waiting. The
// walker reads the peer's answers only between its own tasks (a file, a chunk of the tar): with
// two batches the peer ran dry meanwhile and sat idle (one 322 MB layer on two workers: the
// peer's event loop busy 54-57% and the walker did 58% of the CPU; with six, 72% and 53-54%).
const PEER_BYTES = 6 * BATCH_BYTES;

function workerScript(): URL {
  // Under the test runner this module is TypeScript source; workers need the compiled file.
  if (import.meta.url.endsWith('.ts')) return new URL('../../dist/detect/worker.js', import.meta.url);
  return new URL('./worker.js', import.meta.url);
}

/**
 * Detection on worker threads. Chunks are packed into batches (one copy into a fresh buffer that is
 * then transferred, not cloned) and handed to the least busy worker. `submit` waits while too many
 * bytes are in flight, which pushes back on the tar walkers feeding it.
 */
export class DetectionPool {
  private readonly workers: { worker: Worker; inFlight: number }[] = [];
  private readonly inline: DetectionEngine | null;
  private readonly callbacks = new Map<number, PendingChunk[]>();
  private open: OpenBatch | null = null;
  private inFlightBytes = 0;
  private readonly maxInFlightBytes: number;
  private readonly waiters: (() => void)[] = [];
  private nextId = 1;
  private readonly spare: ArrayBuffer[] = [];
  private failure: Error | null = null;
  private closed = false;
  /** Read when a worker starts, not before: a scan served from the layer cache never reads the rules whole. */
  private readonly source: RuleSource;
  private readonly jobs: number;
  private plan: PatternPlan[][] | null = null;
  private readonly peers: Peer[] = [];

  constructor(rules: readonly RuleSpec[] | RuleSource, jobs: number, plan?: PatternPlan[][]) {
    this.source = ruleSource(rules, plan);
    this.maxInFlightBytes = Math.max(1, jobs) * 3 * BATCH_BYTES;
    this.jobs = jobs;
    if (jobs <= 0) {
      const { rules: list, plan: planned } = this.source;
      this.inline = new DetectionEngine(list, planned ? { plan: planned } : {});
      return;
    }
    this.inline = null;
  }

  /**
   * Workers start with the first batch (a scan served from the layer cache starts none), or
   * earlier when the caller knows work is coming: their start-up then runs while the first
   * layers are read and inflated instead of holding up the first batch.
   */
  start(): void {
    if (this.workers.length > 0 || this.closed || this.inline) return;
    const { jobs } = this;
    const { rules } = this.source;
    // The pattern analysis is done once here, not again in every worker.
    this.plan ??= this.source.plan ?? planPatterns(rules);
    const workerData = { rules: detectionOnly(rules), plan: this.plan };
    for (let i = 0; i < jobs; i++) {
      const worker = new (workerThreads().Worker)(fileURLToPath(workerScript()), { workerData });
      const slot = { worker, inFlight: 0 };
      worker.on('message', (res: BatchResponse) => this.onResult(slot, res));
      worker.on('error', (err) => this.fail(new Error('a detection worker crashed', { cause: err })));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`a detection worker exited unexpectedly (code ${code})`));
      });
      this.workers.push(slot);
    }
  }

  /**
   * Queues `data` for detection; its matches go to `to`. Returns a promise only when too many
   * bytes are in flight (wait for it: that is the back-pressure on the tar walkers), else null.
   * Callbacks rather than a promise per chunk: thousands of small files each made several
   * promises and closures that lived until their layer ended, which the collector then copied.
   *
   * `data` may come in parts (a window spanning several decompressed chunks): they are copied
   * into the open batch at once, so the caller's buffers (slices of 1 MiB decompressed chunks)
   * die young. Held until a batch filled up, they outlived collections of the young generation
   * and were promoted, and their external memory then forced full collections.
   */
  submit(data: Uint8Array | readonly Uint8Array[], to: Delivery, countTo = 0, gunzip = false): Promise<void> | null {
    if (this.failure) throw this.failure;
    const parts = data instanceof Uint8Array ? [data] : data;
    if (this.inline) {
      // An open batch is bound for a peer; without one, a peer with room starts one.
      if (this.open === null && this.peerWithRoom() === null) this.detectHere(this.inline, parts, to, countTo, gunzip);
      else this.add(parts, to, countTo, gunzip);
      return null;
    }
    if (this.full()) return this.submitLater(parts, to, countTo, gunzip);
    this.add(parts, to, countTo, gunzip);
    return null;
  }

  private detectHere(engine: DetectionEngine, parts: readonly Uint8Array[], to: Delivery, countTo: number, gunzip: boolean): void {
    let found: RawMatch[];
    let newlines: [number, number] = [-1, -1];
    let outcome: GzipOutcome = GzipOutcome.Scanned;
    try {
      const bytes = parts.length === 1 ? parts[0]! : this.joined(parts);
      if (gunzip) ({ outcome, matches: found } = scanGzipMember(engine, bytes));
      else found = engine.scan(bytes);
      if (countTo > 0) newlines = engine.newlines(bytes, countTo);
    } catch (err) {
      to.failed(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    to.found(found, newlines[0], newlines[1], outcome);
  }

  /** Reused by `joined`: detection keeps nothing of the bytes it is given once `scan` returns. */
  private scratch: Uint8Array | null = null;

  /**
   * A window's parts joined in one buffer kept for the next window. A fresh buffer per window (up
   * to 1 MiB) outlived a young collection or two while detection allocated its strings, was
   * promoted, and waited for a full collection: with the decompressed chunks it piled up to tens
   * of MiB of dead external memory per layer worker, which the C allocator then kept as RSS.
   */
  private joined(parts: readonly Uint8Array[]): Uint8Array {
    const bytes = parts.reduce((n, p) => n + p.byteLength, 0);
    if (this.scratch === null || this.scratch.byteLength < bytes) this.scratch = new Uint8Array(Math.max(bytes, JOINED_BYTES));
    let pos = 0;
    for (const part of parts) {
      this.scratch.set(part, pos);
      pos += part.byteLength;
    }
    return this.scratch.subarray(0, bytes);
  }

  /**
   * Lets an inline pool (a layer worker's) share its detection with another layer worker while
   * that one walks no layer (`busy` says when it does): a layer then spreads over two threads or
   * more, the walk on one and detection on every idle one, instead of leaving cores idle once
   * there are fewer layers left than threads. The same port carries the other way's batches,
   * answered here with this pool's engine.
   */
  addPeer(port: MessagePort, busy: () => boolean): void {
    const engine = this.inline;
    if (!engine) throw new Error('only an inline pool shares work with peers');
    const peer: Peer = { port, busy, inFlight: 0 };
    this.peers.push(peer);
    port.on('message', (msg: PeerMessage) => {
      switch (msg.type) {
        case 'batch': {
          const response = answerBatch(engine, msg.request);
          port.postMessage({ type: 'result', response } satisfies PeerMessage, response.buffer ? [response.buffer] : []);
          return;
        }
        case 'result':
          this.onResult(peer, msg.response);
          return;
        default: {
          const never: never = msg;
          throw new Error(`unknown peer message ${JSON.stringify(never)}`);
        }
      }
    });
    port.on('close', () => {
      this.peers.splice(this.peers.indexOf(peer), 1);
      if (peer.inFlight > 0) this.fail(new Error('a layer worker ended with batches of this layer in hand'));
    });
  }

  /** The idle peer with the least queued, if one has room for another batch. */
  private peerWithRoom(): Peer | null {
    let best: Peer | null = null;
    for (const peer of this.peers) {
      if (peer.inFlight >= PEER_BYTES || (best !== null && peer.inFlight >= best.inFlight) || peer.busy()) continue;
      best = peer;
    }
    return best;
  }

  /**
   * Whether submits must wait. Until the first batch comes back (a worker has to start first:
   * Node's bootstrap, the modules, the keyword automaton) the walk may queue up to
   * STARTUP_BYTES instead of stalling, so decompression and the walk overlap the start-up.
   */
  private full(): boolean {
    const queued = this.inFlightBytes + (this.open?.pos ?? 0);
    return queued >= (this.started ? this.maxInFlightBytes : STARTUP_BYTES);
  }

  /** Set when the first batch comes back. */
  private started = false;

  private async submitLater(parts: readonly Uint8Array[], to: Delivery, countTo: number, gunzip: boolean): Promise<void> {
    while (this.full() && !this.failure) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure) throw this.failure;
    this.add(parts, to, countTo, gunzip);
  }

  private add(parts: readonly Uint8Array[], to: Delivery, countTo: number, gunzip: boolean): void {
    const bytes = parts.reduce((n, p) => n + p.byteLength, 0);
    const alone = bytes > SPARE_BYTES - BATCH_BYTES;
    if (alone) this.flush();
    const batch = (this.open ??= this.newBatch(alone ? bytes : SPARE_BYTES));
    batch.spans.push(batch.pos, batch.pos + bytes);
    for (const part of parts) {
      batch.view.set(part, batch.pos);
      batch.pos += part.byteLength;
    }
    if (countTo > 0 && batch.countTo === null) batch.countTo = new Array<number>(batch.chunks.length).fill(0);
    batch.countTo?.push(countTo);
    if (gunzip && batch.gunzip === null) batch.gunzip = new Array<number>(batch.chunks.length).fill(0);
    batch.gunzip?.push(gunzip ? 1 : 0);
    batch.chunks.push({ bytes, to });
    if (alone || batch.pos >= BATCH_BYTES || batch.chunks.length >= BATCH_CHUNKS) this.dispatch();
  }

  /**
   * The matches of each of `texts`, in order, from the workers: the image config's few KiB ride
   * along with the first batch instead of needing an engine of their own on this thread.
   */
  async detectAll(texts: readonly Uint8Array[]): Promise<RawMatch[][]> {
    const results: Promise<RawMatch[]>[] = [];
    for (const text of texts) {
      let wait = null as Promise<void> | null;
      const result = new Promise<RawMatch[]>((resolve, reject) => {
        wait = this.submit(text, { found: resolve, failed: reject });
      });
      // Rejections reach the caller through Promise.all below, once every text is queued.
      result.catch(() => {});
      results.push(result);
      if (wait) await wait;
    }
    return Promise.all(results);
  }

  /** Sends whatever is batched, so a layer that is done walking is not left waiting. */
  flush(): void {
    if (this.open) this.dispatch();
  }

  private newBatch(size: number): OpenBatch {
    const buffer = size === SPARE_BYTES ? (this.spare.pop() ?? new ArrayBuffer(SPARE_BYTES)) : new ArrayBuffer(size);
    return { buffer, view: new Uint8Array(buffer), pos: 0, spans: [], countTo: null, gunzip: null, chunks: [] };
  }

  private dispatch(): void {
    const batch = this.open;
    if (!batch) return;
    this.open = null;
    const id = this.nextId++;
    this.callbacks.set(id, batch.chunks);
    const request: BatchRequest = { id, buffer: batch.buffer, spans: batch.spans, ...(batch.countTo ? { countTo: batch.countTo } : {}), ...(batch.gunzip ? { gunzip: batch.gunzip } : {}) };
    if (this.inline) {
      const peer = this.peerWithRoom();
      // The peer it was opened for started a layer of its own meanwhile: answered here instead.
      if (peer === null) return this.onResult(null, answerBatch(this.inline, request));
      peer.inFlight += batch.pos;
      this.inFlightBytes += batch.pos;
      peer.port.postMessage({ type: 'batch', request } satisfies PeerMessage, [batch.buffer]);
      return;
    }
    this.start();
    const slot = this.workers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    slot.inFlight += batch.pos;
    this.inFlightBytes += batch.pos;
    slot.worker.postMessage(request, [batch.buffer]);
  }

  /** A batch's answer; `slot` is where it was in flight (null: answered on this thread). */
  private onResult(slot: { inFlight: number } | null, res: BatchResponse): void {
    this.started = true;
    if (res.buffer && res.buffer.byteLength === SPARE_BYTES && this.spare.length < SPARE_COUNT) this.spare.push(res.buffer);
    const chunks = this.callbacks.get(res.id);
    if (!chunks) return;
    this.callbacks.delete(res.id);
    if (slot) {
      const bytes = chunks.reduce((n, c) => n + c.bytes, 0);
      slot.inFlight -= bytes;
      this.inFlightBytes -= bytes;
    }
    if (res.error) {
      const err = new Error(`detection failed: ${res.error}`);
      chunks.forEach((c) => c.to.failed(err));
    } else {
      const { newlines, outcomes } = res;
      chunks.forEach((c, i) => c.to.found(res.results[i] ?? [], newlines ? newlines[2 * i]! : -1, newlines ? newlines[2 * i + 1]! : -1, (outcomes?.[i] ?? GzipOutcome.Scanned) as GzipOutcome));
    }
    this.waiters.splice(0).forEach((w) => w());
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const chunks of this.callbacks.values()) chunks.forEach((c) => c.to.failed(err));
    this.callbacks.clear();
    this.open?.chunks.forEach((c) => c.to.failed(err));
    this.open = null;
    this.waiters.splice(0).forEach((w) => w());
  }

  /**
   * Cancels everything: queued and future submits reject with `reason` (which unblocks the walkers
   * waiting on back-pressure) and the workers are terminated, even mid-batch.
   */
  abort(reason: Error): Promise<void> {
    this.fail(reason);
    return this.close();
  }

  /** Ends the workers; every call after the first gets the first one's promise. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= Promise.all(this.workers.map((w) => w.worker.terminate())).then(() => undefined);
    return this.closing;
  }

  private closing: Promise<void> | null = null;
}

/**
 * What an engine reads of each rule: the negative examples, remediation and titles would only be
 * cloned into every worker for nothing. The provider stays: a catch-all finding is named after
 * the service its setting names, spelt as the catalogue spells it; so do a provider rule's positive
 * examples, the contexts in which a catch-all value is checked for that rule's shape (promote.ts).
 */
export function detectionOnly(rules: readonly RuleSpec[]): RuleSpec[] {
  return rules.map((r) => ({ ...r, title: '', remediation: '', url: null, examples: { positive: r.generic || r.identifier ? [] : r.examples.positive, negative: [] } }));
}
