import type { Finding, ScanReport, Severity } from '../types.js';
import type { RenderOptions } from './index.js';

const SEVERITY_ORDER: Severity[] = ['critical', 'high', 'medium', 'low'];
const SEVERITY_COLOR: Record<Severity, string> = { critical: '1;31', high: '31', medium: '33', low: '36' };

/** Strings from the image can hold terminal escapes aimed at whoever reads the report. */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
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
  out.push(`${bold('stratascan')} ${report.tool.version}: ${name} (${image.format}, ${image.platform})`);
  const skippedTotal = Object.values(stats.skipped).reduce((a, b) => a + b, 0);
  out.push(dim(`${stats.layers} layers, ${stats.files} files, ${bytes(stats.bytes)} scanned in ${stats.durationMs} ms` +
    (skippedTotal > 0 ? `; ${skippedTotal} files skipped (${Object.entries(stats.skipped).map(([k, v]) => `${v} ${k}`).join(', ')})` : '') +
    (stats.allowlisted > 0 ? `; ${stats.allowlisted} known example secrets ignored` : '')));
  out.push('');

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
      out.push(bold(`Layer ${layer.index}`) + `  ${shortStep(layer.createdBy)}  ` + dim(layer.diffId.slice(0, 19)));
    }
    for (const f of group) out.push(...renderFinding(f, paint, dim));
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

function renderFinding(f: Finding, paint: (code: string, s: string) => string, dim: (s: string) => string): string[] {
  const sev = paint(SEVERITY_COLOR[f.severity], f.severity.toUpperCase().padEnd(8));
  const lines = [`  ${sev} ${where(f)}  ${f.title}  ${printable(f.secret ?? f.redacted)}`];
  const pad = '           ';
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
  lines.push(dim(`${pad}fix: ${f.remediation}${f.url ? ` ${f.url}` : ''}`));
  return lines;
}

function summary(report: ScanReport, paint: (code: string, s: string) => string): string {
  const { findings } = report;
  if (findings.length === 0) return paint('32', 'No secrets found.');
  const counts = SEVERITY_ORDER.map((s) => [s, findings.filter((f) => f.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  const deleted = findings.filter((f) => !f.inFinalImage).length;
  return paint('1', `${findings.length} secret${findings.length === 1 ? '' : 's'} found (${counts.join(', ')})`) +
    (deleted > 0 ? `; ${deleted} deleted in a later layer but still recoverable from the image` : '') + '.';
}
