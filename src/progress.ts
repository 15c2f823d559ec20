import type { ScanProgress } from './types.js';
import { bytes } from './report/common.js';

export interface ProgressDisplay {
  update(progress: ScanProgress): void;
  /** Erases the progress line; call before anything else is written to the terminal. */
  clear(): void;
}

const NONE: ProgressDisplay = { update() {}, clear() {} };


export function progressLine(p: ScanProgress): string {
  return `scanning: layer ${p.layersDone}/${p.layersTotal}, ${bytes(p.bytes)}, ${p.files} files, ${p.findings} finding${p.findings === 1 ? '' : 's'}`;
}

/**
 * Progress on stderr: layers, bytes, files and findings so far. On a terminal (`tty`, the default)
 * one self-overwriting line, at most one redraw per `intervalMs` (100); elsewhere (a CI log,
 * `--progress` into a pipe) one plain line per `intervalMs` (default 2000), since a log cannot
 * overwrite. Disabled (a no-op) unless `enabled`; the CLI enables it for a terminal without
 * --quiet, or with --progress.
 */
export function createProgress(
  stream: NodeJS.WritableStream & { columns?: number },
  options: { enabled: boolean; tty?: boolean; intervalMs?: number; now?: () => number },
): ProgressDisplay {
  if (!options.enabled) return NONE;
  const tty = options.tty ?? true;
  const interval = options.intervalMs ?? (tty ? 100 : 2000);
  const now = options.now ?? (() => Date.now());
  let last = -Infinity;
  let shown = false;
  let pending: ScanProgress | null = null;
  const draw = (p: ScanProgress) => {
    const line = progressLine(p);
    if (tty) {
      const width = Math.max(20, (stream.columns || 80) - 1);
      stream.write(`\r\x1b[2K${line.length > width ? line.slice(0, width) : line}`);
    } else {
      stream.write(`${line}\n`);
    }
    shown = true;
    last = now();
    pending = null;
  };
  return {
    update(p) {
      // The first state always shows, then at most one per interval; a terminal also redraws the
      // final state at once, a log gets it from clear() (the findings count comes last).
      if (!shown || now() - last >= interval || (tty && p.layersDone === p.layersTotal)) draw(p);
      else pending = p;
    },
    clear() {
      if (!tty && pending) draw(pending);
      if (shown && tty) stream.write('\r\x1b[2K');
      shown = false;
      pending = null;
    },
  };
}
