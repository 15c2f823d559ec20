import type { Finding, ScanReport, Severity } from '../types.js';
import { fingerprintOf } from '../policy/baseline.js';
import { adviceItems, layerSummary, plural, printable, SEVERITY_ORDER, where, withoutSecrets, type RenderOptions } from './common.js';

const SEVERITY_MARK: Record<Severity, string> = { critical: '🔴 critical', high: '🟠 high', medium: '🟡 medium', low: '🔵 low' };

/**
 * Text from the image as Markdown text: every ASCII punctuation character is backslash-escaped
 * (CommonMark lets any of them be), so a path or build step can open no link, image, HTML tag,
 * emphasis or table cell; line breaks and control characters are shown escaped.
 */
export function mdText(s: string): string {
  return printable(s).replace(/[!-/:-@[-`{-~]/g, (c) => `\\${c}`);
}

/** An http(s) URL from a detector file as a link target; anything else is left as text. */
function link(label: string, url: string | null): string {
  if (!url || !/^https?:\/\/[^\s<>()]+$/.test(url)) return '';
  return `[${label}](<${url}>)`;
}

/**
 * A summary for `$GITHUB_STEP_SUMMARY` and merge-request comments: counts, a table by layer, a
 * table of findings with redacted values and revoke links, and each rule's fix once in a
 * collapsed section. Never a raw value, even from a `--show-secrets` scan.
 */
export function renderMarkdown(input: ScanReport, _options: RenderOptions = {}): string {
  const report = withoutSecrets(input);
  const { findings } = report;
  const name = mdText(report.image.reference ?? report.target);
  const out: string[] = [];
  if (findings.length === 0) {
    out.push(`### ✅ stratascan: no secrets in ${name}`, '', scanLine(report));
    return `${out.join('\n')}\n`;
  }
  const counts = SEVERITY_ORDER.map((s) => [s, findings.filter((f) => f.severity === s).length] as const).filter(([, n]) => n > 0);
  const deleted = findings.filter((f) => !f.inFinalImage).length;
  out.push(`### ⚠️ stratascan: ${plural(findings.length, 'secret')} in ${name}`, '');
  out.push(`${counts.map(([s, n]) => `**${n}** ${s}`).join(' · ')}` +
    (deleted > 0 ? ` — ${deleted} deleted in a later layer but still recoverable from the image` : ''), '');
  const live = findings.filter((f) => f.verification?.status === 'valid').length;
  if (live > 0) out.push(`**${plural(live, 'live secret')}**: the provider still accepts ${live === 1 ? 'it' : 'them'}; revoke ${live === 1 ? 'it' : 'them'} first.`, '');
  out.push(scanLine(report), '');
  out.push(...layerTable(report), '');
  out.push('#### Findings', '', '| Severity | Layer | Where | Secret | Value | Revoke |', '|---|---|---|---|---|---|');
  for (const f of findings) out.push(findingRow(f));
  out.push('', ...fixes(findings));
  return `${out.join('\n')}\n`;
}

function scanLine(report: ScanReport): string {
  const { stats, image } = report;
  return `<sub>${plural(stats.layers, 'layer')}, ${plural(stats.files, 'file')} scanned · ${mdText(image.format)} · ${mdText(image.platform)} · stratascan ${mdText(report.tool.version)}</sub>`;
}

function layerTable(report: ScanReport): string[] {
  const rows = layerSummary(report).map((r) => {
    const layer = r.layer === null ? 'config' : `${r.layer}${r.base ? ' (base)' : ''}`;
    const counts = SEVERITY_ORDER.map((s) => (r.counts[s] > 0 ? String(r.counts[s]) : '·'));
    return `| ${layer} | ${mdText(r.step)} | ${counts.join(' | ')} | ${r.recoverable > 0 ? String(r.recoverable) : '·'} |`;
  });
  return ['| Layer | Step | Critical | High | Medium | Low | Deleted but recoverable |', '|---|---|--:|--:|--:|--:|--:|', ...rows];
}

function findingRow(f: Finding): string {
  const layer = f.layer ? `${f.layer.index}${f.layer.base ? ' (base)' : ''}` : 'config';
  const state = f.inFinalImage ? '' : f.removedBy ? `<br>deleted in layer ${f.removedBy.index}, still recoverable` : '<br>overwritten, still recoverable';
  const pair = f.pairedWith ? `<br>with ${mdText(f.pairedWith.title)} ${mdText(f.pairedWith.redacted)}` : '';
  const also = f.alsoIn.length > 0 ? `<br>also in ${plural(f.alsoIn.length, 'more place')}` : '';
  // Verified live keys are incidents: marked where the eye lands first.
  const live = f.verification?.status === 'valid' ? ' · **live**' : '';
  return `| ${SEVERITY_MARK[f.severity]}${live} | ${layer} | ${mdText(where(f))}${state}${also} | ${mdText(f.title)} | ${mdText(f.redacted)}${pair} | ${link('revoke', f.url) || '—'} |`;
}

/** Each rule's fix once, collapsed: the table stays short in a pull request. */
function fixes(findings: readonly Finding[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const f of findings) {
    if (seen.has(f.ruleId)) continue;
    seen.add(f.ruleId);
    const sameRule = findings.filter((g) => g.ruleId === f.ruleId);
    const advice = [...new Map(sameRule.flatMap(adviceItems).map((a) => [a.kind, a.text])).values()];
    out.push(
      `<details><summary>How to fix: ${mdText(f.title)} (${plural(sameRule.length, 'finding')})</summary>`,
      '',
      mdText(f.remediation.replace(/\s+/g, ' ').trim()),
      '',
      ...(f.url ? [`Revoke or rotate it at ${link(mdText(f.url), f.url)}.`, ''] : []),
      ...advice.map((a) => `- ${mdText(a)}`),
      ...(advice.length > 0 ? [''] : []),
      // For ignore-file entries: the fingerprint names the secret, not its place.
      `Fingerprint${sameRule.length === 1 ? '' : 's'}: ${sameRule.slice(0, 10).map((g) => mdText(fingerprintOf(g))).join(', ')}${sameRule.length > 10 ? ', …' : ''}`,
      '',
      '</details>',
      '',
    );
  }
  return out;
}
