import type { ScanProgress } from './types.js';

export interface ProgressDisplay {
  update(progress: ScanProgress): void;
  /** Erases the progress line; call before anything else is written to the terminal. */
  clear(): void;
}

const NONE: ProgressDisplay = { update() {}, clear() {} };

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

export function progressLine(p: ScanProgress): string {
  return `scanning: layer ${p.layersDone}/${p.layersTotal}, ${size(p.bytes)}, ${p.files} files, ${p.findings} finding${p.findings === 1 ? '' : 's'}`;
}

/**
 * One self-overwriting status line on a terminal (stderr): layers, bytes, files and findings so
 * far. Disabled (a no-op) unless `enabled`; the CLI enables it only for a TTY without --quiet.
 */
export function createProgress(
  stream: NodeJS.WritableStream & { columns?: number },
  options: { enabled: boolean; intervalMs?: number; now?: () => number },
): ProgressDisplay {
  if (!options.enabled) return NONE;
  const interval = options.intervalMs ?? 100;
  const now = options.now ?? (() => Date.now());
  let last = -Infinity;
  let shown = false;
  let pending: ScanProgress | null = null;
  const draw = (p: ScanProgress) => {
    const width = Math.max(20, (stream.columns || 80) - 1);
    const line = progressLine(p);
    stream.write(`\r\x1b[2K${line.length > width ? line.slice(0, width) : line}`);
    shown = true;
    last = now();
    pending = null;
  };
  return {
    update(p) {
      // Always draw the first and the final state; in between at most one line per interval.
      if (!shown || p.layersDone === p.layersTotal || now() - last >= interval) draw(p);
      else pending = p;
    },
    clear() {
      void pending;
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
      pending = null;
    },
  };
}
