import { ScanError } from '../errors.js';
import { openContainer } from '../source/container.js';
import { resolveImage } from '../source/resolve.js';
import type { Finding, ScanReport } from '../types.js';

/** The layer diff_ids of a base image given as a tarball or OCI layout (nothing is scanned). */
export async function readBaseDiffIds(path: string, options: { platform?: string } = {}): Promise<string[]> {
  const container = await openContainer(path);
  try {
    const image = await resolveImage(container, { platform: options.platform, containerFormat: container.kind });
    return image.layers.map((l) => l.diffId);
  } catch (cause) {
    throw new ScanError(`reading the base image ${path}`, { cause });
  } finally {
    await container.close();
  }
}

/**
 * How many of the report's layers are the base image's: the base's diff_ids must be a prefix of
 * the scanned image's, or the image was not built from that base.
 */
export function baseLayerCount(report: ScanReport, baseDiffIds: readonly string[]): number {
  const layers = report.image.layers;
  if (baseDiffIds.length > layers.length) {
    throw new ScanError(`the base image has ${baseDiffIds.length} layers, more than the scanned image's ${layers.length}: it is not this image's base`);
  }
  const differ = baseDiffIds.findIndex((id, i) => layers[i]!.diffId !== id);
  if (differ !== -1) {
    throw new ScanError(`the base image's layer ${differ} (${baseDiffIds[differ]}) is not the scanned image's layer ${differ} (${layers[differ]!.diffId}): it is not this image's base`);
  }
  return baseDiffIds.length;
}

/** A copy of the report with `base: true` on inherited layers and on findings they introduced. */
export function markBaseLayers(report: ScanReport, count: number): ScanReport {
  if (count <= 0) return report;
  return {
    ...report,
    image: { ...report.image, layers: report.image.layers.map((l) => (l.index < count ? { ...l, base: true } : l)) },
    findings: report.findings.map((f) => (f.layer && f.layer.index < count ? { ...f, layer: { ...f.layer, base: true } } : f)),
  };
}

/**
 * Whether the secret lives only in inherited layers: introduced by a base layer and every other
 * place it was seen is a base layer too. A key the app's own layers copied again, or an ENV/label
 * (which cannot be told apart from the app's), is never base-only.
 */
export function isBaseOnly(finding: Finding, count: number): boolean {
  if (!finding.layer || finding.layer.index >= count) return false;
  return finding.alsoIn.every((o) => o.layerIndex !== null && o.layerIndex < count);
}
