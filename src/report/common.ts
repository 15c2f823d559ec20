import type { Finding, ScanReport, Severity } from '../types.js';
import { redactWithin } from '../redact.js';

/** Options every reporter takes; each reads only the ones that concern it. */
export interface RenderOptions {
  /** ANSI colour in text output (the CLI turns it on for a terminal without NO_COLOR). */
  color?: boolean;
  /** Text report: the terminal's width; lines are wrapped or cut to it (default 100). */
  width?: number;
  /** Text report: one line per finding, no fix paragraphs. */
  compact?: boolean;
  /** GitLab report: when the scan ended (default: now). Pass it for reproducible output. */
  now?: Date;
  /** HTML report: detector id → provider name, for the provider filter (default: the finding's title). */
  providers?: Readonly<Record<string, string>>;
}

/**
 * Strings from the image can hold terminal escapes aimed at whoever reads the report, and bidi
 * controls that make a path read differently from what it is.
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

/** A Dockerfile step as people wrote it, without the classic builder's shell wrapper. */
export function shortStep(createdBy: string | null, max = 90): string {
  if (!createdBy) return '(no history)';
  const step = printable(
    createdBy
      .replace(/^\/bin\/sh -c #\(nop\)\s+/, '')
      // Classic-builder RUN steps are recorded as the shell command, with build args in front.
      .replace(/^(\|\d+ .*?)?\/bin\/sh -c /, (_m, args: string | undefined) => `RUN ${args ? `(${args.trim()}) ` : ''}`)
      .replace(/\s+/g, ' ')
      .trim(),
  );
  return step.length > max ? `${step.slice(0, max - 1)}…` : step;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Greedy word wrap; every line after the first starts with `indent`. */
export function wrap(text: string, width: number, indent: string, firstIndent = indent): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = firstIndent;
  let empty = true;
  for (const word of words) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent;
      empty = true;
    }
    line += (empty ? '' : ' ') + word;
    empty = false;
  }
  if (!empty || lines.length === 0) lines.push(line);
  return lines;
}

export type AdviceKind = 'deleted' | 'build-arg' | 'config' | 'base';

export interface AdviceItem {
  kind: AdviceKind;
  text: string;
  /** A reminder for a reader who has seen `text` once already. */
  short: string;
}

/** What to do beyond revoking, from where the secret was found (shared by the other reporters). */
export function adviceItems(f: Pick<Finding, 'source' | 'inFinalImage' | 'layer'>): AdviceItem[] {
  const out: AdviceItem[] = [];
  if (!f.inFinalImage) {
    out.push({
      kind: 'deleted',
      text: 'Deleting a file in a later layer does not remove it: every layer ships with the image. Rebuild so the secret ' +
        'never enters a layer (multi-stage build, or BuildKit RUN --mount=type=secret) and delete the old image tags.',
      short: 'Deleted later but still in the image: rebuild so it never enters a layer',
    });
  }
  if (f.source === 'history') {
    out.push({
      kind: 'build-arg',
      text: 'Build args are recorded in the image history: pass secrets with docker build --secret and RUN --mount=type=secret, never ARG.',
      short: 'A build arg: use docker build --secret instead',
    });
  }
  if (f.source === 'env' || f.source === 'label' || f.source === 'config') {
    out.push({
      kind: 'config',
      text: 'Image config values ship with every pull: give the new key to the container at run time (environment variable ' +
        'from the orchestrator, or a secret manager) instead of ENV/LABEL in the Dockerfile.',
      short: 'In the image config: give it to the container at run time instead',
    });
  }
  if (f.layer?.base) {
    out.push({
      kind: 'base',
      text: 'It comes from the base image: tell its maintainers, and move to a fixed base image.',
      short: 'From the base image: tell its maintainers',
    });
  }
  return out;
}

export function advice(f: Pick<Finding, 'source' | 'inFinalImage' | 'layer'>): string[] {
  return adviceItems(f).map((a) => a.text);
}

export const SEVERITY_ORDER: readonly Severity[] = ['critical', 'high', 'medium', 'low'];

/** `1 file`, `2 files`: counts in prose read as prose. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** How `where` spells a place: with the column after the line; ENV/LABEL as a Dockerfile writes them. */
export interface WhereStyle {
  column: boolean;
  instructions: boolean;
}

/** Where a finding was seen, as one printable phrase (`/srv/app/.env:3:23`, `env API_KEY`). */
export function where(
  f: Pick<Finding, 'source' | 'path' | 'line' | 'key'> & { column?: number | null; layer: { index: number } | null },
  style: WhereStyle = { column: true, instructions: false },
): string {
  switch (f.source) {
    case 'file':
      return `${printable(f.path ?? '?')}${f.line !== null ? `:${f.line}` : ''}${style.column && f.column != null ? `:${f.column}` : ''}`;
    case 'env':
      return `${style.instructions ? 'ENV' : 'env'} ${printable(f.key ?? '?')}`;
    case 'label':
      return `${style.instructions ? 'LABEL' : 'label'} ${printable(f.key ?? '?')}`;
    case 'config':
      return `config ${printable(f.key ?? '?')}`;
    case 'history':
      return `build step ${f.layer ? `of layer ${f.layer.index}` : printable(f.key ?? '')}`.trim();
    default: {
      const never: never = f.source;
      return String(never);
    }
  }
}

export interface LayerSummaryRow {
  /** null for the image config. */
  layer: number | null;
  base: boolean;
  step: string;
  counts: Record<Severity, number>;
  /** Findings introduced here that a later layer deleted or overwrote: still in the image. */
  recoverable: number;
}

/** Findings counted by the layer that introduced them, config first, then layers in order. */
export function layerSummary(report: ScanReport): LayerSummaryRow[] {
  const rows = new Map<number | null, LayerSummaryRow>();
  for (const f of report.findings) {
    const index = f.layer?.index ?? null;
    let row = rows.get(index);
    if (!row) {
      row = {
        layer: index,
        base: f.layer?.base === true,
        step: f.layer ? shortStep(f.layer.createdBy, 60) : 'image config',
        counts: { critical: 0, high: 0, medium: 0, low: 0 },
        recoverable: 0,
      };
      rows.set(index, row);
    }
    row.counts[f.severity]++;
    if (!f.inFinalImage) row.recoverable++;
  }
  return [...rows.values()].sort((a, b) => (a.layer ?? -1) - (b.layer ?? -1));
}

/** The remediation story that holds for every secret (used as rule help). */
export const GENERAL_ADVICE: readonly string[] = [
  'Revoke the secret at its provider first, then rotate: create a new one with the least scope the app needs.',
  'Keep the new one out of the image: inject it at run time (environment variable, secret manager) or mount it during the build with BuildKit secrets.',
  'Deleting it in a later layer does not help: rebuild so it never enters a layer, and delete the old image tags.',
  "Check the provider's usage or audit logs for calls you did not make while it was exposed.",
];

/**
 * The report without raw values: CI formats never carry them, even from a `--show-secrets` scan
 * (whose build steps are not scrubbed either), since they end up in dashboards and artifacts.
 */
export function withoutSecrets(report: ScanReport): ScanReport {
  // A paired identifier's raw value (an AWS key id) rides on its secret's finding and can sit in
  // the same build-arg created_by.
  const secrets = report.findings
    .flatMap((f) => [f.secret, f.pairedWith?.secret])
    .filter((s): s is string => typeof s === 'string' && s !== '');
  if (secrets.length === 0) return report;
  const scrub = (t: string | null) => (t === null ? null : redactWithin(t, secrets));
  return {
    ...report,
    image: { ...report.image, layers: report.image.layers.map((l) => ({ ...l, createdBy: scrub(l.createdBy) })) },
    findings: report.findings.map(({ secret: _secret, ...f }) => ({
      ...f,
      pairedWith: f.pairedWith && (({ secret: _paired, ...p }) => p)(f.pairedWith),
      layer: f.layer && { ...f.layer, createdBy: scrub(f.layer.createdBy) },
      removedBy: f.removedBy && { ...f.removedBy, createdBy: scrub(f.removedBy.createdBy) },
    })),
  };
}

const encodeSegments = (path: string) => path.split('/').map(encodeURIComponent).join('/');

/**
 * Where a result points. Image files keep their path (relative, as code scanning wants); image
 * config entries become pseudo-files under `.image-config/` so that each still has a location.
 */
export function artifactUri(f: Pick<Finding, 'source' | 'path' | 'key' | 'layer'>): string {
  switch (f.source) {
    case 'file':
      return encodeSegments((f.path ?? 'unknown').replace(/^\/+/, ''));
    case 'env':
      return `.image-config/Env/${encodeURIComponent(f.key ?? 'unknown')}`;
    case 'label':
      return `.image-config/Labels/${encodeURIComponent(f.key ?? 'unknown')}`;
    case 'config':
      return `.image-config/${encodeURIComponent(f.key ?? 'unknown')}`;
    case 'history':
      return `.image-config/history/${encodeURIComponent(f.layer ? `layer-${f.layer.index}` : (f.key ?? 'unknown'))}`;
    default: {
      const never: never = f.source;
      return String(never);
    }
  }
}
