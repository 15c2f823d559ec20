import { createHash } from 'node:crypto';
import { fingerprintOf } from '../policy/baseline.js';
import type { Finding, FindingSource, ScanReport, ScanStats, Severity, VerificationStatus } from '../types.js';
import { SEVERITIES } from '../types.js';
import type { AuditImage, AuditReport } from '../audit/types.js';
import { HTML_CLIENT_SCRIPT, HTML_STYLE } from './html-assets.js';
import { advice, bytes, printable, shortStep, where, withoutSecrets, type RenderOptions, type WhereStyle } from './common.js';

/*
 * The HTML report is one self-contained page: the data rides as JSON in a
 * <script type="application/json"> and a fixed inline script builds the page from it with
 * textContent only, so nothing from the image is ever parsed as markup. A Content-Security-Policy
 * admits that one script (by its hash) and inline styles, and nothing else: no network at all.
 */

/** A layer as the page shows it. Strings from the image are passed through printable(). */
export interface HtmlLayer {
  index: number;
  /** The Dockerfile step, shortened. */
  step: string;
  /** The whole created_by ('' when the image has no history for the layer). */
  createdBy: string;
  diffId: string;
  size: number;
  sizeText: string;
  base: boolean;
}

export interface HtmlPlace {
  source: FindingSource;
  layer: number | null;
  where: string;
  inFinalImage: boolean;
}

export interface HtmlFinding {
  /** 1-based, in the order of the findings list (most severe first). */
  n: number;
  ruleId: string;
  title: string;
  provider: string;
  severity: Severity;
  source: FindingSource;
  /** 'config' for env, label, config and history findings: they have a lane of their own. */
  lane: 'layers' | 'config';
  where: string;
  layer: number | null;
  base: boolean;
  inFinalImage: boolean;
  removedBy: { index: number; step: string } | null;
  pairedWith: { title: string; redacted: string; at: string } | null;
  redacted: string;
  fingerprint: string;
  alsoIn: HtmlPlace[];
  remediation: string;
  advice: string[];
  /** Only http(s) links, so a detector file cannot smuggle a javascript: URL into an href. */
  url: string | null;
  verification: { status: VerificationStatus; detail: string } | null;
}

export interface HtmlScanView {
  kind: 'scan';
  title: string;
  target: string;
  reference: string | null;
  digest: string | null;
  format: string;
  platform: string;
  version: string;
  stats: { layers: number; files: number; bytesText: string; durationMs: number; skipped: number; allowlisted: number; cachedLayers: number };
  layers: HtmlLayer[];
  findings: HtmlFinding[];
  /** Some finding carries a live verification result: the page offers the "live" filter. */
  verified: boolean;
}

const RANK: Record<Severity, number> = { critical: 0, high: 1, medium: 2, low: 3 };

/** The page names a place without its column and with the Dockerfile's ENV/LABEL. */
const PAGE_WHERE: WhereStyle = { column: false, instructions: true };

const safeUrl = (url: string | null): string | null => (url !== null && /^https?:\/\/[^\s"'<>]+$/i.test(url) ? url : null);

function findingView(f: Finding, n: number, providers: Readonly<Record<string, string>>): HtmlFinding {
  const p = f.pairedWith;
  return {
    n,
    ruleId: f.ruleId,
    title: printable(f.title),
    provider: printable(providers[f.ruleId] ?? f.title),
    severity: f.severity,
    source: f.source,
    lane: f.source === 'file' ? 'layers' : 'config',
    where: where(f, PAGE_WHERE),
    layer: f.layer?.index ?? null,
    base: f.layer?.base === true,
    inFinalImage: f.inFinalImage,
    removedBy: f.removedBy && { index: f.removedBy.index, step: shortStep(f.removedBy.createdBy, 200) },
    pairedWith: p && {
      title: printable(p.title),
      redacted: printable(p.redacted),
      at: p.line !== null ? `line ${p.line}` : p.key !== null ? printable(p.key) : '',
    },
    redacted: printable(f.redacted),
    fingerprint: fingerprintOf(f),
    alsoIn: f.alsoIn.map((o) => ({
      source: o.source,
      layer: o.layerIndex,
      where: where({ ...o, layer: o.layerIndex === null ? null : { index: o.layerIndex } }, PAGE_WHERE),
      inFinalImage: o.inFinalImage,
    })),
    remediation: printable(f.remediation),
    advice: advice(f),
    url: safeUrl(f.url),
    verification: f.verification ? { status: f.verification.status, detail: printable(f.verification.detail) } : null,
  };
}

/** Most severe first; within a severity, in the report's order (layer order, config first). */
function bySeverity<T extends { severity: Severity }>(items: readonly T[]): T[] {
  return items.map((item, i) => ({ item, i })).sort((a, b) => RANK[a.item.severity] - RANK[b.item.severity] || a.i - b.i).map((x) => x.item);
}

function statsView(stats: ScanStats): HtmlScanView['stats'] {
  return {
    layers: stats.layers,
    files: stats.files,
    bytesText: bytes(stats.bytes),
    durationMs: stats.durationMs,
    skipped: Object.values(stats.skipped).reduce((a, b) => a + b, 0),
    allowlisted: stats.allowlisted ?? 0,
    cachedLayers: stats.cachedLayers ?? 0,
  };
}

/** The data the page is built from: no raw secret, image text printable. */
export function scanView(input: ScanReport, options: RenderOptions = {}): HtmlScanView {
  const report = withoutSecrets(input);
  const providers = options.providers ?? {};
  const findings = bySeverity(report.findings).map((f, i) => findingView(f, i + 1, providers));
  return {
    kind: 'scan',
    title: printable(report.image.reference ?? report.target),
    target: printable(report.target),
    reference: report.image.reference === null ? null : printable(report.image.reference),
    digest: report.image.digest,
    format: report.image.format,
    platform: printable(report.image.platform),
    version: printable(report.tool.version),
    stats: statsView(report.stats),
    layers: report.image.layers.map((l) => ({
      index: l.index,
      step: shortStep(l.createdBy, 90),
      createdBy: l.createdBy === null ? '' : printable(l.createdBy),
      diffId: l.diffId,
      size: l.size,
      sizeText: bytes(l.size),
      base: l.base === true,
    })),
    findings,
    verified: findings.some((f) => f.verification !== null),
  };
}

export interface HtmlAuditImage {
  n: number;
  reference: string;
  digest: string | null;
  platform: string;
  status: string;
  error: string | null;
  counts: Record<Severity, number>;
  findings: HtmlFinding[];
}

export interface HtmlSharedSecret {
  fingerprint: string;
  title: string;
  severity: Severity;
  redacted: string;
  /** The places it was found at, one per distinct layer/path (a shared base layer gives one). */
  places: string[];
  /** `n` of each image that carries it, in ranking order. */
  images: number[];
}

export interface HtmlAuditView {
  kind: 'audit';
  title: string;
  layers: { unique: number; scanned: number; fromCache: number };
  images: HtmlAuditImage[];
  shared: HtmlSharedSecret[];
  verified: boolean;
}

const countBySeverity = (findings: readonly Finding[]): Record<Severity, number> =>
  Object.fromEntries(SEVERITIES.map((s) => [s, findings.filter((f) => f.severity === s).length])) as Record<Severity, number>;

/** Images with the most severe findings first: by critical count, then high, medium, low; errors last. */
function rankImages(images: readonly AuditImage[]): AuditImage[] {
  const key = (img: AuditImage) => countBySeverity(img.findings);
  return images
    .map((img, i) => ({ img, i, counts: key(img) }))
    .sort((a, b) => {
      if ((a.img.error !== null) !== (b.img.error !== null)) return a.img.error !== null ? 1 : -1;
      for (const s of SEVERITIES) if (a.counts[s] !== b.counts[s]) return b.counts[s] - a.counts[s];
      return a.i - b.i;
    })
    .map((x) => x.img);
}

/** The audit page's data: images ranked, and each secret carried by several images listed once. */
export function auditView(input: AuditReport, options: RenderOptions = {}): HtmlAuditView {
  const providers = options.providers ?? {};
  const ranked = rankImages(input.images);
  const images: HtmlAuditImage[] = ranked.map((img, i) => {
    const findings = bySeverity(withoutSecrets(asScanReport(img)).findings);
    return {
      n: i + 1,
      reference: printable(img.reference),
      digest: img.digest,
      platform: printable(img.platform ?? ''),
      status: printable(img.status),
      error: img.error === null ? null : printable(img.error),
      counts: countBySeverity(findings),
      findings: findings.map((f, j) => findingView(f, j + 1, providers)),
    };
  });
  const shared = new Map<string, HtmlSharedSecret>();
  ranked.forEach((img, i) => {
    for (const f of img.findings) {
      const fingerprint = fingerprintOf(f);
      const entry = shared.get(fingerprint) ?? { fingerprint, title: printable(f.title), severity: f.severity, redacted: printable(f.redacted), places: [], images: [] };
      const place = `${f.layer ? `layer ${f.layer.diffId.slice(0, 19)} ` : ''}${where(f, PAGE_WHERE)}`;
      if (!entry.places.includes(place)) entry.places.push(place);
      if (!entry.images.includes(i + 1)) entry.images.push(i + 1);
      shared.set(fingerprint, entry);
    }
  });
  return {
    kind: 'audit',
    title: `${input.images.length} image${input.images.length === 1 ? '' : 's'}`,
    layers: input.layers,
    images,
    // Most severe first, then the most widely shared.
    shared: [...shared.values()].filter((s) => s.images.length > 1).sort((a, b) => RANK[a.severity] - RANK[b.severity] || b.images.length - a.images.length),
    verified: images.some((img) => img.findings.some((f) => f.verification !== null)),
  };
}

/** withoutSecrets works on a scan report; an audit image is wrapped in one for it. */
function asScanReport(img: AuditImage): ScanReport {
  return {
    schemaVersion: 1,
    tool: { name: 'stratascan', version: '' },
    target: img.reference,
    image: { format: 'registry', reference: img.reference, digest: img.digest, platform: img.platform ?? '', layers: [] },
    findings: img.findings,
    stats: { layers: 0, files: 0, bytes: 0, durationMs: 0, skipped: {}, allowlisted: 0 },
  };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/**
 * JSON that can sit inside a <script> element: no `<` at all (so neither `</script>` nor `<!--`
 * can end or bend the element), and the two line terminators older parsers choke on escaped.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The CSP source for an inline script: the base64 SHA-256 of its exact text. */
export const scriptHash = (script: string): string => `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`;

function page(title: string, view: HtmlScanView | HtmlAuditView): string {
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src ${scriptHash(HTML_CLIENT_SCRIPT)}; base-uri 'none'; form-action 'none'`;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${HTML_STYLE}</style>`,
    '</head>',
    '<body>',
    '<noscript><p class="noscript">This report is drawn by a script embedded in the file. Allow scripts for this file, or read the same data with <code>--format json</code>.</p></noscript>',
    '<div id="app"></div>',
    `<script type="application/json" id="report-data">${scriptJson(view)}</script>`,
    `<script>${HTML_CLIENT_SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/**
 * A self-contained HTML page: the layer timeline of every secret and the findings list with
 * filters. Never holds a raw secret, even when the report does.
 */
export function renderHtml(report: ScanReport, options: RenderOptions = {}): string {
  const view = scanView(report, options);
  return page(`stratascan: ${view.title}`, view);
}

/** The audit of many images as one page: images ranked by severity, shared secrets listed once. */
export function renderAuditHtml(report: AuditReport, options: RenderOptions = {}): string {
  const view = auditView(report, options);
  return page(`stratascan audit: ${view.title}`, view);
}
