import { expect } from 'vitest';
import type { ScanReport } from '../../src/types.js';

/** One planted occurrence as scripts/regen-real-fixtures.mjs describes it. */
export interface PlantedOccurrence {
  id: string;
  kind: string;
  source: 'file' | 'env' | 'label' | 'history';
  path: string;
  line: number | null;
  secretHash: string;
  introducedBy: { layerIndex: number | null; historyIndex: number };
  removedBy: { layerIndex: number | null } | null;
  inFinalImage: boolean;
}

export const RULE_FOR_KIND: Record<string, string> = {
  ghp: 'github-token',
  'aws-key-id': 'aws-access-key-id',
  'aws-secret': 'aws-secret-access-key',
  'rsa-private-key': 'private-key',
  'stripe-live': 'stripe-secret-key',
  'slack-bot': 'slack-token',
  glpat: 'gitlab-pat',
  clarifai: 'clarifai-api-key',
};

/** Secret kinds whose rule names a pair, and the identifier kind they pair with. */
const PARTNER_KIND: Record<string, string> = { 'aws-secret': 'aws-key-id' };

const RANK = { env: 0, label: 1, config: 2, history: 3, file: 4 } as const;

function place(o: PlantedOccurrence) {
  const layerIndex = o.introducedBy.layerIndex;
  const isFile = o.source === 'file';
  return {
    source: o.source,
    layerIndex,
    path: isFile ? o.path : null,
    line: isFile ? o.line : null,
    // Config occurrences are named by env var / label / history position.
    key: o.source === 'history' ? `history[${o.introducedBy.historyIndex}]` : isFile ? null : /\[(?:")?([^\]"]+)(?:")?\]/.exec(o.path)?.[1] ?? null,
  };
}

/**
 * Every planted secret is reported exactly once, at the place that introduced it first, with the
 * other places under alsoIn, and with the right layer, line, inFinalImage and removedBy.
 */
export function expectPlantedFindings(report: ScanReport, everything: PlantedOccurrence[]): void {
  // An identifier written beside its secret (same file, or the same config channel of a layer) is
  // reported with that secret under pairedWith, and not on its own.
  const pairedWith = new Map<string, string>();
  for (const secret of everything) {
    const partnerKind = PARTNER_KIND[secret.kind];
    if (!partnerKind) continue;
    const id = everything.find((p) => p.kind === partnerKind && p.source === secret.source &&
      p.introducedBy.layerIndex === secret.introducedBy.layerIndex && (p.source !== 'file' || p.path === secret.path));
    if (id) pairedWith.set(secret.secretHash, id.secretHash);
  }
  const folded = new Set(pairedWith.values());
  const planted = everything.filter((p) => !folded.has(p.secretHash));
  for (const [secret, id] of pairedWith) {
    expect(report.findings.find((f) => f.secretHash === secret)?.pairedWith?.secretHash, 'the identifier paired with a secret').toBe(id);
  }
  const bySecret = new Map<string, PlantedOccurrence[]>();
  for (const p of planted) bySecret.set(p.secretHash, [...(bySecret.get(p.secretHash) ?? []), p]);
  expect(report.findings.map((f) => f.secretHash).sort()).toEqual([...bySecret.keys()].sort());

  for (const [hash, occurrences] of bySecret) {
    const sorted = [...occurrences].sort((a, b) => {
      const pa = place(a);
      const pb = place(b);
      return (pa.layerIndex ?? -1) - (pb.layerIndex ?? -1) || RANK[pa.source] - RANK[pb.source] || (pa.key ?? '').localeCompare(pb.key ?? '');
    });
    const first = sorted[0]!;
    const finding = report.findings.find((f) => f.secretHash === hash)!;
    const want = place(first);
    expect(
      {
        id: first.id,
        ruleId: finding.ruleId,
        source: finding.source,
        layer: finding.layer?.index ?? null,
        path: finding.path,
        line: finding.line,
        key: finding.key,
        inFinalImage: finding.inFinalImage,
        removedBy: finding.removedBy?.index ?? null,
      },
      `finding for ${first.id}`,
    ).toEqual({
      id: first.id,
      ruleId: RULE_FOR_KIND[first.kind],
      source: want.source,
      layer: want.layerIndex,
      path: want.path,
      line: want.line,
      key: want.key,
      inFinalImage: first.inFinalImage,
      removedBy: first.removedBy?.layerIndex ?? null,
    });
    const others = sorted.slice(1).map(place);
    expect(
      finding.alsoIn.map((o) => ({ source: o.source, layerIndex: o.layerIndex, path: o.path, line: o.line, key: o.key })),
      `alsoIn of ${first.id}`,
    ).toEqual(others);
  }
}
