import type { Finding, ScanReport, Severity } from '../types.js';
import { liveAdvice } from '../verify/advice.js';
import { adviceItems, bytes, layerSummary, plural, printable, shortStep, SEVERITY_ORDER, where, wrap, type RenderOptions } from './common.js';

const SEVERITY_COLOR: Record<Severity, string> = { critical: '1;31', high: '31', medium: '33', low: '36' };
const DEFAULT_WIDTH = 100;
/** Findings are indented under their layer; continuation lines under the finding's text. */
const PAD = '           ';

type Paint = (code: string, s: string) => string;

interface Style {
  paint: Paint;
  dim: (s: string) => string;
  bold: (s: string) => string;
  width: number;
}

/**
 * The report people read in a terminal or a CI log: findings grouped by layer, each rule's fix
 * written out once (a long list of the same rule would otherwise bury the one finding that
 * matters), a table by layer at the end. `compact` gives one line per finding instead.
 */
export function renderText(report: ScanReport, options: RenderOptions = {}): string {
  const paint: Paint = (code, s) => (options.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const style: Style = { paint, dim: (s) => paint('2', s), bold: (s) => paint('1', s), width: options.width ?? DEFAULT_WIDTH };
  const out = [...header(report, style), '', ...liveBanner(report.findings, style)];
  const body = options.compact ? compactBody(report.findings, style) : groupedBody(report.findings, style);
  out.push(...body);
  if (report.findings.length > 0) out.push(...summaryTable(report, style), '');
  out.push(summary(report, style));
  return `${out.join('\n')}\n`;
}

function header(report: ScanReport, { bold, dim, width }: Style): string[] {
  const { image, stats } = report;
  const name = printable(image.reference ?? report.target);
  const skipped = Object.entries(stats.skipped).filter(([, n]) => n > 0);
  const skippedTotal = skipped.reduce((a, [, n]) => a + n, 0);
  const counts = `${plural(stats.layers, 'layer')}, ${plural(stats.files, 'file')}, ${bytes(stats.bytes)} scanned in ${stats.durationMs} ms` +
    (skippedTotal > 0 ? `; ${plural(skippedTotal, 'file')} skipped (${skipped.map(([k, v]) => `${v} ${k}`).join(', ')})` : '') +
    (stats.allowlisted > 0 ? `; ${plural(stats.allowlisted, 'known example secret')} ignored` : '');
  return [
    `${bold('stratascan')} ${cut(`${report.tool.version}: ${name} (${image.format}, ${printable(image.platform)})`, width - 'stratascan '.length)}`,
    ...wrap(counts, width, '').map(dim),
  ];
}

/** One line cut to `width` columns, with an ellipsis where it was cut. */
function cut(line: string, width: number): string {
  return line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line;
}

/** Findings in report order, grouped by the layer that introduced them (image config first). */
function byLayer(findings: readonly Finding[]): Map<string, Finding[]> {
  const groups = new Map<string, Finding[]>();
  for (const f of findings) {
    const key = f.layer ? `layer:${f.layer.index}` : 'config';
    const group = groups.get(key);
    if (group) group.push(f);
    else groups.set(key, [f]);
  }
  return groups;
}

function groupHeading(key: string, group: readonly Finding[], { paint, bold, dim }: Style): string {
  if (key === 'config') return bold('Image config (env, labels, commands, history)');
  const layer = group[0]!.layer!;
  return bold(`Layer ${layer.index}`) + (layer.base ? ` ${paint('35', '(base image)')}` : '') + `  ${shortStep(layer.createdBy)}  ` + dim(layer.diffId.slice(0, 19));
}

function groupedBody(findings: readonly Finding[], style: Style): string[] {
  const out: string[] = [];
  // What has been explained already: a rule's fix and revoke link, and each kind of advice.
  const explained = new Set<string>();
  for (const [key, group] of byLayer(findings)) {
    out.push(groupHeading(key, group, style));
    for (const f of group) out.push(...renderFinding(f, style, explained));
    out.push('');
  }
  return out;
}

function renderFinding(f: Finding, style: Style, explained: Set<string>): string[] {
  const { paint, dim, bold, width } = style;
  const sev = paint(SEVERITY_COLOR[f.severity], f.severity.toUpperCase().padEnd(8));
  const head = `  ${f.severity.toUpperCase().padEnd(8)} ${where(f)}`;
  const what = `${f.title}  ${printable(f.secret ?? f.redacted)}`;
  const lines = head.length + 2 + what.length <= width
    ? [`  ${sev} ${where(f)}  ${what}`]
    : [`  ${sev} ${where(f)}`, `${PAD}${what}`];
  if (f.pairedWith) {
    const p = f.pairedWith;
    const at = p.line !== null ? ` (line ${p.line})` : p.key !== null ? ` (${printable(p.key)})` : '';
    lines.push(`${PAD}with ${printable(p.title)} ${printable(p.secret ?? p.redacted)}${at}: one credential, revoke it as a pair`);
  }
  if (!f.inFinalImage && f.removedBy && f.layer) {
    lines.push(`${PAD}${paint('33', `deleted in layer ${f.removedBy.index} (${shortStep(f.removedBy.createdBy, 60)}) — still recoverable from layer ${f.layer.index}`)}`);
  }
  for (const o of f.alsoIn.slice(0, 5)) {
    const place = o.source === 'file'
      ? `layer ${o.layerIndex} ${printable(o.path ?? '?')}${o.line !== null ? `:${o.line}` : ''}${o.inFinalImage ? '' : ' (deleted later)'}`
      : o.source === 'history'
        ? `build step${o.layerIndex !== null ? ` of layer ${o.layerIndex}` : ''}`
        : `${o.source} ${printable(o.key ?? '')}`;
    lines.push(dim(`${PAD}also in ${place}`));
  }
  if (f.alsoIn.length > 5) lines.push(dim(`${PAD}also in ${f.alsoIn.length - 5} more places`));
  if (f.verification) lines.push(...verificationLines(f, style));
  const fixKey = `rule:${f.ruleId}`;
  if (explained.has(fixKey)) {
    lines.push(dim(`${PAD}${bold('fix:')} as for the first ${printable(f.title)} above`));
  } else {
    explained.add(fixKey);
    const wrapped = wrap(printable(f.remediation), width, `${PAD}     `, `${PAD}fix: `);
    lines.push(wrapped[0]!.replace(`${PAD}fix: `, `${PAD}${bold('fix:')} `), ...wrapped.slice(1));
    if (f.url) lines.push(`${PAD}     ${bold('revoke at')} ${paint('4', printable(f.url))}`);
  }
  for (const item of adviceItems(f)) {
    const seen = explained.has(`advice:${item.kind}`);
    explained.add(`advice:${item.kind}`);
    const text = seen ? `${item.short} (see above)` : item.text;
    lines.push(...wrap(text, width, `${PAD}       `, `${PAD}     - `).map(dim));
  }
  return lines;
}

/** One line per finding, cut to the terminal's width: for long lists in CI logs. */
function compactBody(findings: readonly Finding[], { paint, width }: Style): string[] {
  const lines = findings.map((f) => {
    // The place goes last: it is the part that may be cut, never the rule or the redacted value.
    const layer = f.layer ? `${f.layer.base ? 'base' : 'layer'} ${f.layer.index}` : 'config';
    const state = f.inFinalImage ? '' : f.removedBy ? `  (deleted in layer ${f.removedBy.index}, recoverable)` : '  (overwritten, recoverable)';
    const uncoloured = `${f.severity.toUpperCase().padEnd(8)} ${layer.padEnd(8)} ${f.ruleId}  ${printable(f.secret ?? f.redacted)}  ${where(f)}${state}`;
    const line = cut(uncoloured, width);
    // Colour only the severity word, after cutting, so escapes never count against the width.
    return paint(SEVERITY_COLOR[f.severity], line.slice(0, 8)) + line.slice(8);
  });
  return lines.length > 0 ? [...lines, ''] : [];
}

function summaryTable(report: ScanReport, { bold, width }: Style): string[] {
  const rows = layerSummary(report).map((r) => [
    r.layer === null ? 'config' : `${r.layer}${r.base ? ' (base)' : ''}`,
    ...SEVERITY_ORDER.map((s) => String(r.counts[s])),
    String(r.recoverable),
    r.step,
  ]);
  const head = ['layer', ...SEVERITY_ORDER, 'deleted', 'step'];
  const cols = head.length - 1;
  const widths = head.slice(0, cols).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => {
    const fixed = cells.slice(0, cols).map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    return cut(`  ${fixed}  ${cells[cols]}`, width);
  };
  return [bold('Summary by layer'), line(head), ...rows.map(line)];
}

function summary(report: ScanReport, { paint, width }: Style): string {
  const { findings } = report;
  if (findings.length === 0) return paint('32', 'No secrets found.');
  const counts = SEVERITY_ORDER.map((s) => [s, findings.filter((f) => f.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  const deleted = findings.filter((f) => !f.inFinalImage).length;
  const base = findings.filter((f) => f.layer?.base).length;
  const text = `${plural(findings.length, 'secret')} found (${counts.join(', ')})` +
    (deleted > 0 ? `; ${deleted} deleted in a later layer but still recoverable from the image` : '') +
    (base > 0 ? `; ${base} from base image layers` : '') + verifiedSummary(findings) + '.';
  return wrap(text, width, '').map((l) => paint('1', l)).join('\n');
}

/** Live keys come first, before the layer-by-layer list: they are incidents, the rest is cleanup. */
function liveBanner(findings: readonly Finding[], { paint, width }: Style): string[] {
  const live = findings.filter((f) => f.verification?.status === 'valid');
  if (live.length === 0) return [];
  const lines = wrap(`!! ${plural(live.length, 'LIVE secret')}: the provider still accepts ${live.length === 1 ? 'it' : 'them'}. ` +
    `Revoke ${live.length === 1 ? 'it' : 'these'} first.`, width, '').map((l) => paint('1;31', l));
  for (const f of live) {
    const layer = f.layer ? `layer ${f.layer.index}` : 'image config';
    lines.push(paint('31', `   ${f.title}  ${where(f)} (${layer})  ${printable(f.secret ?? f.redacted)}`));
  }
  lines.push('');
  return lines;
}

function verificationLines(f: Finding, { paint, dim, bold, width }: Style): string[] {
  const v = f.verification!;
  const label = bold('verified:');
  switch (v.status) {
    case 'valid': {
      const advice = liveAdvice(f);
      return [
        `${PAD}${label} ${paint('1;31', 'LIVE')} ${printable(v.detail)}`,
        ...(advice ? wrap(printable(advice), width, `${PAD}     `, `${PAD}     `).map((l) => paint('31', l)) : []),
      ];
    }
    case 'invalid':
      return [`${PAD}${label} ${paint('32', 'revoked or invalid')} ${dim(printable(v.detail))}`];
    case 'unknown':
      return [`${PAD}${label} ${paint('33', 'unknown')} ${dim(printable(v.detail))}`];
    default: {
      const never: never = v.status;
      return [String(never)];
    }
  }
}

/** "; verified: 1 live, 2 revoked or invalid, 3 unknown": only when the scan verified. */
function verifiedSummary(findings: readonly Finding[]): string {
  if (!findings.some((f) => f.verification)) return '';
  const n = (status: string) => findings.filter((f) => f.verification?.status === status).length;
  return `; verified: ${n('valid')} live, ${n('invalid')} revoked or invalid, ${n('unknown')} unknown`;
}
