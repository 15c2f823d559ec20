import type { Finding, ScanReport, Severity } from '../types.js';
import type { RenderOptions } from './index.js';
import { liveAdvice } from '../verify/advice.js';

const SEVERITY_ORDER: Severity[] = ['critical', 'high', 'medium', 'low'];
const SEVERITY_COLOR: Record<Severity, string> = { critical: '1;31', high: '31', medium: '33', low: '36' };

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

function bytes(n: number): string {
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

export function renderText(report: ScanReport, options: RenderOptions = {}): string {
  const paint = (code: string, s: string) => (options.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const dim = (s: string) => paint('2', s);
  const bold = (s: string) => paint('1', s);
  const { image, findings, stats } = report;
  const out: string[] = [];

  const name = image.reference ? printable(image.reference) : printable(report.target);
  out.push(`${bold('stratascan')} ${report.tool.version}: ${name} (${image.format}, ${printable(image.platform)})`);
  const skippedTotal = Object.values(stats.skipped).reduce((a, b) => a + b, 0);
  out.push(dim(`${stats.layers} layers, ${stats.files} files, ${bytes(stats.bytes)} scanned in ${stats.durationMs} ms` +
    (skippedTotal > 0 ? `; ${skippedTotal} files skipped (${Object.entries(stats.skipped).map(([k, v]) => `${v} ${k}`).join(', ')})` : '') +
    (stats.allowlisted > 0 ? `; ${stats.allowlisted} known example secrets ignored` : '')));
  out.push('');
  out.push(...liveBanner(findings, paint, where));

  const groups = new Map<string, Finding[]>();
  for (const f of findings) {
    const key = f.layer ? `layer:${f.layer.index}` : 'config';
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  for (const [key, group] of groups) {
    if (key === 'config') {
      out.push(bold('Image config (env, labels, commands, history)'));
    } else {
      const layer = group[0]!.layer!;
      out.push(bold(`Layer ${layer.index}`) + (layer.base ? ` ${paint('35', '(base image)')}` : '') + `  ${shortStep(layer.createdBy)}  ` + dim(layer.diffId.slice(0, 19)));
    }
    for (const f of group) out.push(...renderFinding(f, paint, dim, options.width ?? DEFAULT_WIDTH));
    out.push('');
  }

  out.push(summary(report, paint));
  return `${out.join('\n')}\n`;
}

function where(f: Finding): string {
  switch (f.source) {
    case 'file':
      return `${printable(f.path ?? '?')}${f.line !== null ? `:${f.line}` : ''}${f.column !== null ? `:${f.column}` : ''}`;
    case 'env':
      return `env ${printable(f.key ?? '?')}`;
    case 'label':
      return `label ${printable(f.key ?? '?')}`;
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

const DEFAULT_WIDTH = 100;

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

/** What to do beyond revoking, from where the secret was found (shared by the other reporters). */
export function advice(f: Pick<Finding, 'source' | 'inFinalImage' | 'layer'>): string[] {
  const out: string[] = [];
  if (!f.inFinalImage) {
    out.push('Deleting a file in a later layer does not remove it: every layer ships with the image. Rebuild so the secret ' +
      'never enters a layer (multi-stage build, or BuildKit RUN --mount=type=secret) and delete the old image tags.');
  }
  if (f.source === 'history') {
    out.push('Build args are recorded in the image history: pass secrets with docker build --secret and RUN --mount=type=secret, never ARG.');
  }
  if (f.source === 'env' || f.source === 'label' || f.source === 'config') {
    out.push('Image config values ship with every pull: give the new key to the container at run time (environment variable ' +
      'from the orchestrator, or a secret manager) instead of ENV/LABEL in the Dockerfile.');
  }
  if (f.layer?.base) out.push('It comes from the base image: tell its maintainers, and move to a fixed base image.');
  return out;
}

/** The remediation story that holds for every secret (used as rule help). */
export const GENERAL_ADVICE: readonly string[] = [
  'Revoke the secret at its provider first, then rotate: create a new one with the least scope the app needs.',
  'Keep the new one out of the image: inject it at run time (environment variable, secret manager) or mount it during the build with BuildKit secrets.',
  'Deleting it in a later layer does not help: rebuild so it never enters a layer, and delete the old image tags.',
  "Check the provider's usage or audit logs for calls you did not make while it was exposed.",
];

function renderFinding(f: Finding, paint: (code: string, s: string) => string, dim: (s: string) => string, width: number): string[] {
  const sev = paint(SEVERITY_COLOR[f.severity], f.severity.toUpperCase().padEnd(8));
  const lines = [`  ${sev} ${where(f)}  ${f.title}  ${printable(f.secret ?? f.redacted)}`];
  const pad = '           ';
  if (f.pairedWith) {
    const p = f.pairedWith;
    const at = p.line !== null ? ` (line ${p.line})` : p.key !== null ? ` (${printable(p.key)})` : '';
    lines.push(`${pad}with ${printable(p.title)} ${printable(p.secret ?? p.redacted)}${at}: one credential, revoke it as a pair`);
  }
  if (!f.inFinalImage && f.removedBy && f.layer) {
    lines.push(`${pad}${paint('33', `deleted in layer ${f.removedBy.index} (${shortStep(f.removedBy.createdBy, 60)}) — still recoverable from layer ${f.layer.index}`)}`);
  }
  for (const o of f.alsoIn.slice(0, 5)) {
    const place = o.source === 'file'
      ? `layer ${o.layerIndex} ${printable(o.path ?? '?')}${o.line !== null ? `:${o.line}` : ''}${o.inFinalImage ? '' : ' (deleted later)'}`
      : o.source === 'history'
        ? `build step${o.layerIndex !== null ? ` of layer ${o.layerIndex}` : ''}`
        : `${o.source} ${printable(o.key ?? '')}`;
    lines.push(dim(`${pad}also in ${place}`));
  }
  if (f.alsoIn.length > 5) lines.push(dim(`${pad}also in ${f.alsoIn.length - 5} more places`));
  const label = (name: string) => paint('1', name);
  if (f.verification) lines.push(...verificationLines(f, paint, dim, width, pad));
  const wrapped = wrap(printable(f.remediation), width, `${pad}     `, `${pad}fix: `);
  lines.push(wrapped[0]!.replace(`${pad}fix: `, `${pad}${label('fix:')} `), ...wrapped.slice(1));
  if (f.url) lines.push(`${pad}     ${label('revoke at')} ${paint('4', printable(f.url))}`);
  for (const a of advice(f)) {
    const more = wrap(a, width, `${pad}       `, `${pad}     - `);
    lines.push(...more.map(dim));
  }
  return lines;
}

/** Live keys come first, before the layer-by-layer list: they are incidents, the rest is cleanup. */
function liveBanner(findings: readonly Finding[], paint: (code: string, s: string) => string, at: (f: Finding) => string): string[] {
  const live = findings.filter((f) => f.verification?.status === 'valid');
  if (live.length === 0) return [];
  const lines = [paint('1;31', `!! ${live.length} LIVE secret${live.length === 1 ? '' : 's'}: the provider still accepts ${live.length === 1 ? 'it' : 'them'}. Revoke ${live.length === 1 ? 'it' : 'these'} first.`)];
  for (const f of live) {
    const layer = f.layer ? `layer ${f.layer.index}` : 'image config';
    lines.push(paint('31', `   ${f.title}  ${at(f)} (${layer})  ${printable(f.secret ?? f.redacted)}`));
  }
  lines.push('');
  return lines;
}

function verificationLines(f: Finding, paint: (code: string, s: string) => string, dim: (s: string) => string, width: number, pad: string): string[] {
  const v = f.verification!;
  const label = paint('1', 'verified:');
  switch (v.status) {
    case 'valid': {
      const advice = liveAdvice(f);
      return [
        `${pad}${label} ${paint('1;31', 'LIVE')} ${printable(v.detail)}`,
        ...(advice ? wrap(printable(advice), width, `${pad}     `, `${pad}     `).map((l) => paint('31', l)) : []),
      ];
    }
    case 'invalid':
      return [`${pad}${label} ${paint('32', 'revoked or invalid')} ${dim(printable(v.detail))}`];
    case 'unknown':
      return [`${pad}${label} ${paint('33', 'unknown')} ${dim(printable(v.detail))}`];
    default: {
      const never: never = v.status;
      return [String(never)];
    }
  }
}

function summary(report: ScanReport, paint: (code: string, s: string) => string): string {
  const { findings } = report;
  if (findings.length === 0) return paint('32', 'No secrets found.');
  const counts = SEVERITY_ORDER.map((s) => [s, findings.filter((f) => f.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  const deleted = findings.filter((f) => !f.inFinalImage).length;
  const base = findings.filter((f) => f.layer?.base).length;
  return paint('1', `${findings.length} secret${findings.length === 1 ? '' : 's'} found (${counts.join(', ')})`) +
    (deleted > 0 ? `; ${deleted} deleted in a later layer but still recoverable from the image` : '') +
    (base > 0 ? `; ${base} from base image layers` : '') + verifiedSummary(findings) + '.';
}

/** "; verified: 1 live, 2 revoked or invalid, 3 unknown": only when the scan verified. */
function verifiedSummary(findings: readonly Finding[]): string {
  if (!findings.some((f) => f.verification)) return '';
  const n = (status: string) => findings.filter((f) => f.verification?.status === status).length;
  return `; verified: ${n('valid')} live, ${n('invalid')} revoked or invalid, ${n('unknown')} unknown`;
}
