import type { Finding, ScanReport, Severity } from '../types.js';
import { printable, shortStep, withoutSecrets, type RenderOptions } from './common.js';
import { liveAdvice } from '../verify/advice.js';

const COMMAND: Record<Severity, 'error' | 'warning' | 'notice'> = { critical: 'error', high: 'error', medium: 'warning', low: 'notice' };

/** Workflow-command data: `%`, CR and LF are escaped (GitHub's escapeData). */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Workflow-command property values: escapeData plus `:` and `,` (GitHub's escapeProperty). */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function where(f: Finding): string {
  if (f.source === 'file') return `${printable(f.path ?? '?')}${f.line !== null ? `:${f.line}` : ''}`;
  if (f.source === 'history') return 'image history (build step)';
  return `image ${f.source} ${printable(f.key ?? '?')}`;
}

/**
 * GitHub Actions workflow commands, one annotation per finding:
 * `::error file=…,line=…,col=…,title=…::message`. critical/high are errors, medium warnings, low
 * notices. Strings from the image are escaped, so none can end the command early or start
 * another one; raw secret values are never included.
 */
export function renderGithub(input: ScanReport, _options: RenderOptions = {}): string {
  const report = withoutSecrets(input);
  const lines = report.findings.map((f) => {
    const props: string[] = [];
    if (f.source === 'file' && f.path) {
      props.push(`file=${escapeProperty(printable(f.path.replace(/^\/+/, '')))}`);
      if (f.line !== null) props.push(`line=${f.line}`);
      if (f.column !== null) props.push(`col=${f.column}`);
    }
    props.push(`title=${escapeProperty(`${f.title} (${f.severity})`)}`);
    const layer = f.layer
      ? `layer ${f.layer.index}${f.layer.base ? ' (base image)' : ''}: ${shortStep(f.layer.createdBy, 80)}`
      : 'image config';
    const deleted = !f.inFinalImage && f.removedBy ? ` Deleted in layer ${f.removedBy.index}, still recoverable from the image.` : '';
    const pair = f.pairedWith ? ` Used with ${printable(f.pairedWith.title)} ${printable(f.pairedWith.redacted)}: revoke them as a pair.` : '';
    const live = liveAdvice(f);
    const checked = f.verification && !live ? `\nVerification: ${f.verification.status} (${printable(f.verification.detail)})` : '';
    const msg = `${live ? `${printable(live)}\n` : ''}${f.title} in ${where(f)} (${layer}): ${printable(f.redacted)}.${pair}${deleted}\n${f.remediation}${f.url ? `\nRevoke it at ${f.url}` : ''}${checked}`;
    const command = f.verification?.status === 'valid' ? 'error' : COMMAND[f.severity];
    return `::${command} ${props.join(',')}::${escapeData(msg)}`;
  });
  const n = report.findings.length;
  const live = report.findings.filter((f) => f.verification?.status === 'valid').length;
  const verified = report.findings.some((f) => f.verification) ? ` (${live} live)` : '';
  lines.push(`::notice title=stratascan::${escapeData(`${n} secret${n === 1 ? '' : 's'} found in ${printable(report.image.reference ?? report.target)}${verified}`)}`);
  return `${lines.join('\n')}\n`;
}
