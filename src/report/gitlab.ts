import { createHash } from 'node:crypto';
import type { Finding, ScanReport, Severity } from '../types.js';
import { fingerprintOf } from '../policy/baseline.js';
import { advice, artifactUri, shortStep, withoutSecrets, type RenderOptions } from './common.js';
import { liveAdvice } from '../verify/advice.js';

/** The version of GitLab's security-report-schemas whose secret-detection format this follows. */
export const GITLAB_SCHEMA_VERSION = '15.0.7';
export const GITLAB_SCHEMA_URL =
  `https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/v${GITLAB_SCHEMA_VERSION}/dist/secret-detection-report-format.json`;

const SEVERITY: Record<Severity, 'Critical' | 'High' | 'Medium' | 'Low'> = { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low' };

/** yyyy-mm-ddThh:mm:ss in UTC, the only form the schema accepts. */
const gitlabTime = (d: Date) => d.toISOString().slice(0, 19);

/** A UUID-shaped id derived from the finding, so the same finding keeps its id across runs. */
function stableId(f: Finding): string {
  const h = createHash('sha256').update(`${fingerprintOf(f)}\0${f.source}\0${f.layer?.index ?? ''}\0${f.path ?? ''}\0${f.key ?? ''}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const text = (name: string, value: string) => ({ name, type: 'text', value });

/**
 * GitLab's secret detection report (security-report-schemas v15.0.7, `secret_detection`).
 * `options.now` stamps scan.end_time (start_time = now - durationMs); without it the current time
 * is used. Raw secret values are never included.
 */
export function renderGitlab(input: ScanReport, options: RenderOptions = {}): string {
  const report = withoutSecrets(input);
  const end = options.now ?? new Date();
  const start = new Date(end.getTime() - report.stats.durationMs);
  const tool = { id: 'stratascan', name: 'stratascan', version: report.tool.version, vendor: { name: 'stratascan' } };
  const vulnerabilities = report.findings.map((f) => {
    const solution = [liveAdvice(f) ?? '', f.remediation, f.url ? `Revoke it at ${f.url}` : '', ...advice(f)].filter(Boolean).join('\n\n');
    const details: Record<string, unknown> = {
      layer: text('Layer', f.layer ? `${f.layer.index}${f.layer.base ? ' (base image)' : ''}: ${shortStep(f.layer.createdBy, 200)} (${f.layer.diffId})` : 'image config'),
      source: text('Found in', f.source === 'file' ? `file ${f.path ?? ''}` : `${f.source} ${f.key ?? ''}`.trim()),
      in_final_image: text('In the final image', f.inFinalImage ? 'yes' : `no: deleted in layer ${f.removedBy?.index ?? '?'}, still recoverable from the layer blob`),
      redacted: text('Value (redacted)', f.redacted),
      ...(f.pairedWith ? { paired_with: text('Used with', `${f.pairedWith.title} ${f.pairedWith.redacted}`) } : {}),
      fingerprint: text('Fingerprint', fingerprintOf(f)),
      ...(f.verification ? { verification: text('Live verification', `${f.verification.status}: ${f.verification.detail}`) } : {}),
    };
    if (f.alsoIn.length > 0) {
      details.also_in = { name: 'Also in', type: 'list', items: f.alsoIn.map((o) => ({ type: 'text', value: `${o.layerIndex !== null ? `layer ${o.layerIndex} ` : ''}${o.source === 'file' ? (o.path ?? '') : `${o.source} ${o.key ?? ''}`}${o.inFinalImage ? '' : ' (deleted later)'}`.trim() })) };
    }
    const location: Record<string, unknown> = {
      file: artifactUri(f),
      commit: { sha: f.layer?.diffId ?? report.image.digest ?? 'image-config' },
    };
    if (f.line !== null) {
      location.start_line = f.line;
      location.end_line = f.line;
    }
    return {
      id: stableId(f),
      name: f.title.slice(0, 255),
      description: `${f.title} in ${f.source === 'file' ? f.path : `${f.source} ${f.key ?? ''}`} of ${report.image.reference ?? report.target}${f.layer ? `, introduced by layer ${f.layer.index}` : ''}.`,
      // A key the provider still accepts is critical whatever the rule's severity.
      severity: f.verification?.status === 'valid' ? 'Critical' : SEVERITY[f.severity],
      solution: solution.slice(0, 7000),
      identifiers: [{ type: 'stratascan_rule_id', name: `stratascan rule ${f.ruleId}`, value: f.ruleId }],
      ...(f.url ? { links: [{ name: 'Revoke or rotate', url: f.url }] } : {}),
      location,
      details,
    };
  });
  const out = {
    version: GITLAB_SCHEMA_VERSION,
    schema: GITLAB_SCHEMA_URL,
    scan: {
      analyzer: tool,
      scanner: tool,
      type: 'secret_detection',
      start_time: gitlabTime(start),
      end_time: gitlabTime(end),
      status: 'success',
    },
    vulnerabilities,
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}
