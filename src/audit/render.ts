import type { RenderOptions } from '../report/common.js';
import { renderAuditHtml } from '../report/html.js';
import { renderSarif } from '../report/sarif.js';
import { SEVERITIES, type Finding, type Severity } from '../types.js';
import type { AuditImage, AuditReport } from './types.js';

export type AuditFormat = 'text' | 'json' | 'sarif' | 'html';
export const AUDIT_FORMATS: readonly AuditFormat[] = ['text', 'json', 'sarif', 'html'];

/** Reporters are pure: the same audit report gives the same string. */
export function renderAudit(report: AuditReport, format: AuditFormat, options: RenderOptions = {}): string {
  switch (format) {
    case 'html':
      return renderAuditHtml(report, options);
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'text':
      return renderAuditText(report);
    case 'sarif':
      return renderAuditSarif(report);
    default: {
      const never: never = format;
      throw new Error(`unknown audit format ${String(never)}`);
    }
  }
}

/** Exit status of an audit: 2 when an image could not be scanned, else 1 when anything was found, else 0. */
export function auditExitCode(report: AuditReport): 0 | 1 | 2 {
  if (report.images.some((i) => i.status === 'error')) return 2;
  return report.images.some((i) => i.findings.length > 0) ? 1 : 0;
}

function countBy(findings: readonly Finding[]): Record<Severity, number> {
  const out: Record<Severity, number> = { critical: 0, high: 0, medium: 0, low: 0 };
  for (const f of findings) out[f.severity]++;
  return out;
}

/** The same value introduced by the same layer, in several images: one base-image problem, not many. */
interface SharedSecret {
  finding: Finding;
  images: string[];
}

function sharedSecrets(images: readonly AuditImage[]): SharedSecret[] {
  const groups = new Map<string, SharedSecret>();
  for (const image of images) {
    for (const f of image.findings) {
      if (!f.layer) continue;
      const id = `${f.secretHash}\0${f.layer.diffId}`;
      const g = groups.get(id);
      if (g) g.images.push(image.reference);
      else groups.set(id, { finding: f, images: [image.reference] });
    }
  }
  return [...groups.values()].filter((g) => g.images.length > 1).sort((a, b) => b.images.length - a.images.length || (a.finding.secretHash < b.finding.secretHash ? -1 : 1));
}

const rank = (image: AuditImage) => SEVERITIES.map((s) => countBy(image.findings)[s]);

function compareImages(a: AuditImage, b: AuditImage): number {
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return rb[i]! - ra[i]!;
  return a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0;
}

function where(f: Finding): string {
  const layer = f.layer ? `layer ${f.layer.index} (${f.layer.diffId.slice(7, 19)})` : 'image config';
  const place = f.path ?? f.key ?? f.source;
  return `${place}${f.line !== null ? `:${f.line}` : ''} in ${layer}${f.inFinalImage ? '' : ', deleted later but still in the layer'}`;
}

/**
 * Images ranked by critical findings (then high, medium, low); secrets that one shared layer puts
 * in several images listed once with those images; then each image's other findings.
 */
export function renderAuditText(report: AuditReport): string {
  const lines: string[] = [];
  const scanned = report.images.filter((i) => i.status === 'scanned');
  const failed = report.images.filter((i) => i.status === 'error');
  const withFindings = scanned.filter((i) => i.findings.length > 0);
  const { unique, scanned: layersScanned, fromCache } = report.layers;
  lines.push(`stratascan audit: ${report.images.length} image${report.images.length === 1 ? '' : 's'}, ${withFindings.length} with secrets, ${failed.length} unreadable`);
  lines.push(`layers: ${unique} unique, ${layersScanned} scanned, ${fromCache} from cache; ${report.stats.bytes} bytes; ${report.stats.durationMs} ms`);
  if (withFindings.length > 0) {
    lines.push('', 'Images by severity (critical high medium low):');
    for (const image of [...withFindings].sort(compareImages)) {
      const c = countBy(image.findings);
      lines.push(`  ${String(c.critical).padStart(4)} ${String(c.high).padStart(4)} ${String(c.medium).padStart(4)} ${String(c.low).padStart(4)}  ${image.reference}${image.platform ? ` (${image.platform})` : ''}`);
    }
  }
  const shared = sharedSecrets(scanned);
  const sharedIds = new Set(shared.map((s) => `${s.finding.secretHash}\0${s.finding.layer!.diffId}`));
  if (shared.length > 0) {
    lines.push('', 'Secrets shared through a common layer:');
    for (const s of shared) {
      const f = s.finding;
      lines.push(`  [${f.severity}] ${f.title}: ${f.redacted}`);
      lines.push(`    ${where(f)}`);
      lines.push(`    in ${s.images.length} images: ${s.images.join(', ')}`);
    }
  }
  const own = withFindings
    .map((image) => ({ image, findings: image.findings.filter((f) => !(f.layer && sharedIds.has(`${f.secretHash}\0${f.layer.diffId}`))) }))
    .filter((x) => x.findings.length > 0);
  if (own.length > 0) {
    lines.push('', 'Findings of single images:');
    for (const { image, findings } of own.sort((a, b) => compareImages(a.image, b.image))) {
      lines.push(`  ${image.reference}${image.platform ? ` (${image.platform})` : ''}`);
      for (const f of findings) lines.push(`    [${f.severity}] ${f.title}: ${f.redacted} — ${where(f)}`);
    }
  }
  if (failed.length > 0) {
    lines.push('', 'Images that could not be scanned:');
    for (const image of failed) lines.push(`  ${image.reference}: ${image.error ?? 'unknown error'}`);
  }
  return `${lines.join('\n')}\n`;
}

/** SARIF 2.1.0 with one run per scanned image (each as `stratascan scan --format sarif` writes it). */
export function renderAuditSarif(report: AuditReport): string {
  const runs = report.images
    .filter((i) => i.status === 'scanned')
    .flatMap((image) => {
      const one = renderSarif({
        schemaVersion: 1,
        tool: report.tool,
        target: image.reference,
        image: { format: image.format ?? 'registry', reference: image.reference, digest: image.digest, platform: image.platform ?? 'unknown', layers: image.layers },
        findings: image.findings,
        stats: { layers: image.layers.length, files: 0, bytes: 0, durationMs: 0, skipped: {}, allowlisted: 0 },
      });
      return (JSON.parse(one) as { runs: unknown[] }).runs;
    });
  return `${JSON.stringify({ $schema: 'https://json.schemastore.org/sarif-2.1.0.json', version: '2.1.0', runs }, null, 2)}\n`;
}
