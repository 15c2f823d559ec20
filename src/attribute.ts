import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { RuleInfo } from './detect/rules.js';
import type { LayerChanges } from './layer/walk.js';
import { layerPathOf } from './layer/nested.js';
import { pairSightings, type PartnerSighting } from './pairs.js';
import type { Place, Sighting } from './sighting.js';

export type { Sighting } from './sighting.js';
import { redact } from './redact.js';
import type { Finding, FindingSource, LayerRef, Occurrence, Severity } from './types.js';

/** A fresh match's identity for attribution: hash and redacted form, raw value kept alongside. */
export function sightingValue(secret: string): Pick<Sighting, 'secretHash' | 'redacted' | 'secret'> {
  return { secretHash: secretHash(secret), redacted: redact(secret), secret };
}


export interface AttributionInput {
  sightings: Sighting[];
  /** Per layer, base-most first. */
  layers: { ref: LayerRef; changes: LayerChanges }[];
  rules: ReadonlyMap<string, RuleInfo>;
  showSecrets: boolean;
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, high: 1, medium: 2, low: 3 };
// Among places with the same layer, the image config first, then the build step, then files.
const SOURCE_RANK: Record<FindingSource, number> = { env: 0, label: 1, config: 2, history: 3, file: 4 };

export function secretHash(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

/** The rule to report when several match the same value: explicit overrides, then specific over generic. */
export function betterRule<R extends RuleInfo>(a: R, b: R): R {
  if (a.overrides.includes(b.id)) return a;
  if (b.overrides.includes(a.id)) return b;
  if (a.generic !== b.generic) return a.generic ? b : a;
  if (SEVERITY_RANK[a.severity] !== SEVERITY_RANK[b.severity]) return SEVERITY_RANK[a.severity] < SEVERITY_RANK[b.severity] ? a : b;
  return a.id <= b.id ? a : b;
}

interface Placed extends Sighting {
  inFinalImage: boolean;
  removedBy: number | null;
  partner: PartnerSighting | null;
}

/**
 * A catch-all match (generic-api-key, jwt, …) that overlaps a provider rule's match on the same
 * line is the same credential seen with a different extent (`key-<hex>` against `<hex>`, the JWT
 * inside a provider token): the provider rule's finding says more, so the catch-all one is dropped.
 */
function withoutCoveredCatchAlls(sightings: readonly Sighting[], rules: ReadonlyMap<string, RuleInfo>): Sighting[] {
  const lineOf = (s: Sighting) => [s.source, s.layerIndex, s.path, s.line, s.key].join('\0');
  const specific = new Map<string, Sighting[]>();
  for (const s of sightings) {
    const rule = rules.get(s.ruleId)!;
    if (rule.generic || rule.identifier || s.column === null || s.length === undefined) continue;
    const list = specific.get(lineOf(s));
    if (list) list.push(s);
    else specific.set(lineOf(s), [s]);
  }
  if (specific.size === 0) return [...sightings];
  return sightings.filter((s) => {
    if (!rules.get(s.ruleId)!.generic || s.column === null || s.length === undefined) return true;
    const start = s.column;
    const end = s.column + s.length;
    return !(specific.get(lineOf(s)) ?? []).some((o) => o.column! < end && start < o.column! + o.length! && o.secretHash !== s.secretHash);
  });
}

export function attribute(input: AttributionInput): Finding[] {
  const { rules } = input;
  input = { ...input, sightings: withoutCoveredCatchAlls(input.sightings, rules) };
  const findings = [...placesBySecret(input)].map(([hash, places]) => findingOf(hash, places, input));
  // An identifier is reported with its secret, not again on its own; a bare identifier rule never alone.
  const paired = new Set(findings.flatMap((f) => (f.pairedWith ? [f.pairedWith.secretHash] : [])));
  return findings
    .filter((f) => !paired.has(f.secretHash) && !rules.get(f.ruleId)!.identifier)
    .sort((a, b) => comparePlaces(placeOf(a), placeOf(b)) || compareText(a.secretHash, b.secretHash));
}

/** Each place a secret was seen (one per place, the best rule of those that matched there), with its fate, by secret. */
function placesBySecret(input: AttributionInput): Map<string, Placed[]> {
  const { layers, rules } = input;
  // Which (path, secret) pairs each layer writes, to tell an overwrite that keeps a secret from one that drops it.
  const holds = layers.map(() => new Set<string>());
  for (const s of input.sightings) {
    // A copy the same layer replaced is not what that layer leaves at the path.
    if (s.source === 'file' && s.layerIndex !== null && s.path !== null && s.replacedInLayer !== true) {
      holds[s.layerIndex]?.add(`${s.path}\0${s.secretHash}`);
    }
  }

  const partners = pairSightings(input.sightings, rules);
  const byPlace = new Map<string, Placed>();
  for (const s of input.sightings) {
    const place = [s.source, s.layerIndex, s.path, s.line, s.column, s.key, s.secretHash].join('\0');
    const existing = byPlace.get(place);
    if (existing) {
      existing.ruleId = betterRule(rules.get(existing.ruleId)!, rules.get(s.ruleId)!).id;
      existing.secret ??= s.secret;
      existing.provider ??= s.provider;
      existing.partner ??= partners.get(s) ?? null;
      continue;
    }
    const fate = s.source === 'file' && s.layerIndex !== null && s.path !== null
      ? replay(s.path, s.secretHash, s.layerIndex, layers.map((l) => l.changes), holds, s.replacedInLayer !== true)
      : { inFinalImage: true, removedBy: null };
    byPlace.set(place, { ...s, ...fate, partner: partners.get(s) ?? null });
  }

  const bySecret = new Map<string, Placed[]>();
  for (const p of byPlace.values()) {
    const list = bySecret.get(p.secretHash);
    if (list) list.push(p);
    else bySecret.set(p.secretHash, [p]);
  }
  return bySecret;
}

/** One secret's finding: reported at the place that introduced it first, the others under `alsoIn`. */
function findingOf(hash: string, places: Placed[], input: AttributionInput): Finding {
  const { layers, rules } = input;
  places.sort(comparePlaces);
  const primary = places[0]!;
  const rule = places.map((p) => rules.get(p.ruleId)!).reduce(betterRule);
  const layerRef = primary.layerIndex === null ? null : layers[primary.layerIndex]!.ref;
  const removedBy = primary.removedBy === null ? null : layers[primary.removedBy]!.ref;
  const finding: Finding = {
    ruleId: rule.id,
    title: rule.title,
    severity: rule.severity,
    source: primary.source,
    layer: layerRef ? { ...layerRef } : null,
    path: primary.path,
    line: primary.line,
    column: primary.column,
    key: primary.key,
    inFinalImage: primary.inFinalImage,
    removedBy: removedBy ? { index: removedBy.index, createdBy: removedBy.createdBy } : null,
    pairedWith: null,
    redacted: primary.redacted,
    secretHash: hash,
    alsoIn: places.slice(1).map(
      (p): Occurrence => ({ source: p.source, layerIndex: p.layerIndex, path: p.path, line: p.line, column: p.column, key: p.key, inFinalImage: p.inFinalImage }),
    ),
    remediation: rule.remediation,
    url: rule.url,
  };
  const secret = places.find((p) => p.secret !== undefined)?.secret;
  if (input.showSecrets && secret !== undefined) finding.secret = secret;
  // A specific rule names its provider itself; a catch-all one reports what the setting's name says.
  const named = rule.generic ? places.find((p) => p.provider !== undefined)?.provider : undefined;
  if (named !== undefined) finding.provider = named;
  const partner = primary.partner ?? places.find((p) => p.partner !== null)?.partner ?? null;
  if (partner !== null) {
    finding.pairedWith = {
      ruleId: partner.ruleId,
      title: rules.get(partner.ruleId)!.title,
      redacted: partner.redacted,
      secretHash: partner.secretHash,
      line: partner.line,
      key: partner.key,
      ...(input.showSecrets && partner.secret !== undefined ? { secret: partner.secret } : {}),
    };
  }
  return finding;
}

function placeOf(f: Finding): Place {
  return { source: f.source, layerIndex: f.layer?.index ?? null, path: f.path, line: f.line, column: f.column, key: f.key };
}

/**
 * By UTF-16 code units: the same order on every machine whatever its locale (and no collator to
 * load, which a scan served from the cache would otherwise spend its time on).
 */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePlaces(
  a: Place,
  b: Place,
): number {
  return (
    (a.layerIndex ?? -1) - (b.layerIndex ?? -1) ||
    SOURCE_RANK[a.source] - SOURCE_RANK[b.source] ||
    compareText(a.path ?? '', b.path ?? '') ||
    (a.line ?? 0) - (b.line ?? 0) ||
    (a.column ?? 0) - (b.column ?? 0) ||
    compareText(a.key ?? '', b.key ?? '')
  );
}

/**
 * Replays the layers above `from` over one file: a whiteout of the path or a parent, an opaque
 * parent, a parent replaced by a non-directory, or a rewrite without the secret removes it; a
 * later rewrite that still holds it brings it back.
 */
export function replay(
  path: string,
  secretHash: string,
  from: number,
  layers: LayerChanges[],
  holds: Set<string>[],
  presentAfterOwnLayer = true,
): { inFinalImage: boolean; removedBy: number | null } {
  let present = presentAfterOwnLayer;
  let removedBy: number | null = presentAfterOwnLayer ? null : from;
  // A member of an archive lives and dies with the archive file; `holds` still keys on the member.
  const filePath = layerPathOf(path);
  const ancestors: string[] = [];
  for (let dir = posix.dirname(filePath); dir !== '/' && dir !== '.'; dir = posix.dirname(dir)) ancestors.push(dir);
  for (let j = from + 1; j < layers.length; j++) {
    const changes = layers[j]!;
    const written = changes.entries.get(filePath);
    let stillHeld: boolean;
    if (written !== undefined) {
      stillHeld = (written === 'file' || written === 'hardlink') && holds[j]!.has(`${path}\0${secretHash}`);
    } else {
      const removed =
        changes.whiteouts.has(filePath) ||
        ancestors.some((a) => changes.whiteouts.has(a) || changes.opaqueDirs.has(a) || isNonDirectory(changes.entries.get(a)));
      if (!removed) continue;
      stillHeld = false;
    }
    if (stillHeld) {
      present = true;
      removedBy = null;
    } else if (present) {
      present = false;
      removedBy = j;
    }
  }
  return { inFinalImage: present, removedBy };
}

function isNonDirectory(kind: string | undefined): boolean {
  return kind !== undefined && kind !== 'dir';
}
