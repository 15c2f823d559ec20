import type { Finding, ScanReport, Severity } from '../types.js';
import { fingerprintOf } from '../policy/baseline.js';
import { artifactUri, GENERAL_ADVICE, shortStep, withoutSecrets, type RenderOptions } from './common.js';
import { liveAdvice } from '../verify/advice.js';

/** GitHub code scanning ranks security alerts by this number (0-10) in a rule's properties. */
const SECURITY_SEVERITY: Record<Severity, string> = { critical: '9.5', high: '8.0', medium: '5.5', low: '3.0' };
const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { critical: 'error', high: 'error', medium: 'warning', low: 'note' };

/** Key of the result's partialFingerprints entry: `<ruleId>:<secretHash>`, the baseline fingerprint. */
export const SARIF_FINGERPRINT_KEY = 'stratascanSecret/v1';




function place(f: Finding): string {
  switch (f.source) {
    case 'file':
      return f.path ?? '?';
    case 'env':
      return `ENV ${f.key ?? '?'}`;
    case 'label':
      return `LABEL ${f.key ?? '?'}`;
    case 'config':
      return `config ${f.key ?? '?'}`;
    case 'history':
      return 'a build step recorded in the image history';
    default:
      return f.source;
  }
}

function layerText(f: Finding): string {
  if (!f.layer) return 'the image config';
  return `layer ${f.layer.index}${f.layer.base ? ' (base image)' : ''}: ${shortStep(f.layer.createdBy, 80)}`;
}

function message(f: Finding): string {
  const removed = !f.inFinalImage && f.removedBy
    ? `; deleted in layer ${f.removedBy.index} but still recoverable from ${f.layer ? `layer ${f.layer.index}` : 'the image'}`
    : '';
  const more = f.alsoIn.length > 0 ? `; also in ${f.alsoIn.length} other place${f.alsoIn.length === 1 ? '' : 's'}` : '';
  const pair = f.pairedWith ? ` (with ${f.pairedWith.title} ${f.pairedWith.redacted}: revoke them as a pair)` : '';
  const live = liveAdvice(f);
  const checked = f.verification && f.verification.status !== 'valid' ? ` Verification: ${f.verification.status} (${f.verification.detail}).` : '';
  return `${live ? `${live} ` : ''}${f.title} in ${place(f)} (${layerText(f)})${removed}${more}. Value: ${f.redacted}${pair}${checked}`;
}

function logicalLocation(f: Finding) {
  if (!f.layer) {
    return { name: 'image config', fullyQualifiedName: `image config/${f.source}/${f.key ?? ''}`, kind: 'resource' };
  }
  return {
    name: `layer ${f.layer.index}`,
    fullyQualifiedName: `layer ${f.layer.index} ${f.layer.diffId}`,
    kind: 'module',
    properties: { diffId: f.layer.diffId, createdBy: f.layer.createdBy, base: f.layer.base === true },
  };
}

function region(line: number | null, column: number | null) {
  if (line === null) return undefined;
  return column !== null ? { startLine: line, startColumn: column } : { startLine: line };
}

/**
 * SARIF 2.1.0 for GitHub code scanning: one rule per detector that found something (help =
 * remediation), one result per finding with the layer as its logical location and a stable
 * partialFingerprints entry from the secret hash. Raw secret values are never included.
 */
export function renderSarif(input: ScanReport, _options: RenderOptions = {}): string {
  const report = withoutSecrets(input);
  const ruleIds = [...new Set(report.findings.map((f) => f.ruleId))].sort();
  const byRule = new Map(ruleIds.map((id) => [id, report.findings.find((f) => f.ruleId === id)!] as const));
  const rules = ruleIds.map((id) => {
    const f = byRule.get(id)!;
    return {
      id,
      name: id.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(''),
      shortDescription: { text: f.title },
      fullDescription: { text: `${f.title} found in a container image layer or its config.` },
      ...(f.url ? { helpUri: f.url } : {}),
      help: {
        text: `${f.remediation}${f.url ? `\n\nRevoke it at: ${f.url}` : ''}\n\n${GENERAL_ADVICE.map((a) => `- ${a}`).join('\n')}`,
        markdown: `${f.remediation}${f.url ? `\n\n[Revoke or rotate it here](${f.url})` : ''}\n\n${GENERAL_ADVICE.map((a) => `- ${a}`).join('\n')}`,
      },
      defaultConfiguration: { level: LEVEL[f.severity] },
      properties: { tags: ['security', 'secret', 'container-image'], precision: 'high', 'security-severity': SECURITY_SEVERITY[f.severity], severity: f.severity },
    };
  });
  const ruleIndex = new Map(ruleIds.map((id, i) => [id, i] as const));
  const results = report.findings.map((f) => ({
    ruleId: f.ruleId,
    ruleIndex: ruleIndex.get(f.ruleId)!,
    // A key the provider still accepts is an error whatever the rule's severity.
    level: f.verification?.status === 'valid' ? 'error' : LEVEL[f.severity],
    message: { text: message(f) },
    locations: [{
      physicalLocation: {
        artifactLocation: { uri: artifactUri(f) },
        ...(region(f.line, f.column) ? { region: region(f.line, f.column) } : {}),
      },
      logicalLocations: [logicalLocation(f)],
    }],
    partialFingerprints: { [SARIF_FINGERPRINT_KEY]: fingerprintOf(f) },
    ...(f.alsoIn.length > 0
      ? {
          relatedLocations: f.alsoIn.map((o, i) => ({
            id: i + 1,
            physicalLocation: {
              artifactLocation: { uri: artifactUri({ source: o.source, path: o.path, key: o.key, layer: o.layerIndex === null ? null : { index: o.layerIndex, diffId: '', createdBy: null } }) },
              ...(region(o.line, o.column) ? { region: region(o.line, o.column) } : {}),
            },
            message: { text: `also in ${o.layerIndex !== null ? `layer ${o.layerIndex}` : 'the image config'}${o.inFinalImage ? '' : ' (deleted later)'}` },
          })),
        }
      : {}),
    properties: {
      source: f.source,
      layerIndex: f.layer?.index ?? null,
      diffId: f.layer?.diffId ?? null,
      base: f.layer?.base === true,
      inFinalImage: f.inFinalImage,
      removedByLayer: f.removedBy?.index ?? null,
      secretHash: f.secretHash,
      redacted: f.redacted,
      pairedWith: f.pairedWith && { ruleId: f.pairedWith.ruleId, redacted: f.pairedWith.redacted, secretHash: f.pairedWith.secretHash },
      ...(f.verification ? { verification: { status: f.verification.status, detail: f.verification.detail } } : {}),
    },
  }));
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{
      tool: { driver: { name: 'stratascan', version: report.tool.version, semanticVersion: report.tool.version, rules } },
      results,
      properties: {
        target: report.target,
        image: {
          format: report.image.format,
          reference: report.image.reference,
          digest: report.image.digest,
          platform: report.image.platform,
          layers: report.image.layers.map((l) => ({ index: l.index, diffId: l.diffId, createdBy: l.createdBy, base: l.base === true })),
        },
      },
    }],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
