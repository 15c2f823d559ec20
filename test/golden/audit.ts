import type { AuditReport } from '../../src/audit/types.js';
import { goldenReport } from './report.js';

/**
 * A fixed audit for the audit reporters' golden files: three images built from the golden scan
 * report (two share its base layer's findings, one adds its own), and one that could not be read.
 */
const [envFinding, labelFinding, ...fileFindings] = goldenReport.findings;
const baseFinding = fileFindings.find((f) => f.layer !== null)!;
const image = (reference: string, findings: typeof goldenReport.findings) => ({
  reference,
  digest: goldenReport.image.digest,
  format: 'registry' as const,
  platform: 'linux/amd64',
  status: 'scanned' as const,
  error: null,
  findings,
  layers: goldenReport.image.layers,
});

export const goldenAudit: AuditReport = {
  schemaVersion: 1,
  kind: 'audit',
  tool: { name: 'stratascan', version: '0.0.0-golden' },
  images: [
    image('docker://registry.example.com/team/api:1', [baseFinding]),
    image('docker://registry.example.com/team/web:2', [envFinding!, labelFinding!, baseFinding]),
    image('docker://registry.example.com/team/clean:1', []),
    { reference: 'docker://registry.example.com/team/gone:1', digest: null, format: null, platform: null, status: 'error', error: 'registry.example.com/team/gone:1 not found in registry.example.com/team/gone (404 Not Found)', findings: [], layers: [] },
  ],
  layers: { unique: 7, scanned: 5, fromCache: 2 },
  stats: { images: 4, bytes: 123456, durationMs: 789 },
};
