/**
 * Walks the frame and block headers of a zstd stream as it passes, before the decoder sees it.
 * fzstd allocates whatever window a frame header asks for (up to 2 GiB) and copies it for every
 * block, so one crafted header byte turns a 4 MiB layer into gigabytes of memory and minutes of
 * work. Windows above the bound are refused, as the reference decoder refuses them by default
 * (its limit is 128 MiB; images built by Docker, containerd or skopeo use 8 MiB or less).
 */
export const MAX_ZSTD_WINDOW = 32 * 1024 * 1024;

const FRAME_MAGIC = 0xfd2fb528;

type State =
  | { at: 'magic'; need: 4 }
  | { at: 'descriptor'; need: 1 }
  | { at: 'frame-header'; need: number; descriptor: number }
  | { at: 'block-header'; need: 3; checksum: boolean }
  | { at: 'skip'; need: number; then: 'magic' | 'block-header'; checksum: boolean }
  | { at: 'skippable-size'; need: 4 };

export class ZstdFrameGuard {
  private state: State = { at: 'magic', need: 4 };
  private readonly pending: number[] = [];
  private skipLeft = 0;

  constructor(private readonly maxWindow: number = MAX_ZSTD_WINDOW) {}

  /** Throws when the stream declares a window over the bound or is not zstd framing at all. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state.at === 'skip') {
        const take = Math.min(this.skipLeft, chunk.length - i);
        i += take;
        this.skipLeft -= take;
        if (this.skipLeft === 0) this.afterSkip();
        continue;
      }
      this.pending.push(chunk[i++]!);
      if (this.pending.length === this.state.need) {
        const bytes = this.pending.splice(0);
        this.step(bytes);
      }
    }
  }

  private skip(n: number, then: 'magic' | 'block-header', checksum = false): void {
    if (n === 0) {
      this.state = then === 'magic' ? { at: 'magic', need: 4 } : { at: 'block-header', need: 3, checksum };
      return;
    }
    this.skipLeft = n;
    this.state = { at: 'skip', need: n, then, checksum };
  }

  private afterSkip(): void {
    const s = this.state;
    if (s.at !== 'skip') return;
    this.state = s.then === 'magic' ? { at: 'magic', need: 4 } : { at: 'block-header', need: 3, checksum: s.checksum };
  }

  private step(b: number[]): void {
    const s = this.state;
    switch (s.at) {
      case 'magic': {
        const magic = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
        if (magic === FRAME_MAGIC) this.state = { at: 'descriptor', need: 1 };
        else if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) this.state = { at: 'skippable-size', need: 4 };
        else throw new Error('corrupt zstd data (no frame where one should start)');
        return;
      }
      case 'skippable-size':
        this.skip((b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0, 'magic');
        return;
      case 'descriptor': {
        const d = b[0]!;
        const single = (d & 0x20) !== 0;
        const fcsBytes = [single ? 1 : 0, 2, 4, 8][d >> 6]!;
        const dictBytes = [0, 1, 2, 4][d & 3]!;
        // A single-segment frame has no window byte but always a content size (at least one byte).
        const need = (single ? 0 : 1) + dictBytes + fcsBytes;
        this.state = { at: 'frame-header', need, descriptor: d };
        return;
      }
      case 'frame-header': {
        const d = s.descriptor;
        const single = (d & 0x20) !== 0;
        let window: number;
        if (!single) {
          const w = b[0]!;
          const log = 10 + (w >> 3);
          const base = 2 ** log;
          window = base + (base / 8) * (w & 7);
        } else {
          // The content size is the window: read it from the last fcsBytes of the header.
          const fcsBytes = [1, 2, 4, 8][d >> 6]!;
          const fcs = b.slice(b.length - fcsBytes);
          let size = 0;
          for (let k = fcs.length - 1; k >= 0; k--) size = size * 256 + fcs[k]!;
          window = fcsBytes === 2 ? size + 256 : size;
        }
        if (window > this.maxWindow) {
          throw new Error(`zstd frame asks for a ${Math.ceil(window / 2 ** 20)} MiB window (more than ${this.maxWindow / 2 ** 20} MiB is refused)`);
        }
        this.state = { at: 'block-header', need: 3, checksum: (d & 4) !== 0 };
        return;
      }
      case 'block-header': {
        const h = b[0]! | (b[1]! << 8) | (b[2]! << 16);
        const last = (h & 1) !== 0;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) throw new Error('corrupt zstd data (reserved block type)');
        const body = type === 1 ? 1 : size;
        if (last) this.skip(body + (s.checksum ? 4 : 0), 'magic');
        else this.skip(body, 'block-header', s.checksum);
        return;
      }
      case 'skip':
        return;
      default: {
        const never: never = s;
        throw new Error(`unknown zstd guard state ${JSON.stringify(never)}`);
      }
    }
  }
}
