#!/usr/bin/env node
// Rebuild fixtures/real/: a small "leaky" image built by a real dockerd 20.10 (classic
// builder) and converted by a real skopeo, with fake secrets planted in files, deleted
// files, overwritten files, ENV, LABEL and build-arg history.
//
//   sudo node scripts/regen-real-fixtures.mjs [--out fixtures/real]   rebuild everything
//   node scripts/regen-real-fixtures.mjs --verify                     check the committed tarballs
//   node scripts/regen-real-fixtures.mjs --docs-only                  check, then rewrite README/JSON
//
// Rebuilding needs root and Debian's docker.io, skopeo and busybox-static; no network (the
// base image is `docker import`ed from the host's static busybox). --verify and --docs-only
// only read the tarballs, so they need no tools and leave the (not byte-reproducible)
// tarballs alone.
//
// Every secret is FAKE: generated from a fixed seed with a tiny PRNG, in the real format
// (prefixes, alphabets, lengths, the GitHub token's CRC32 checksum), so detectors fire on
// them while no value can be live. The raw values exist only in the image; the expectations
// JSON and everything this script prints carry sha256 hashes instead.
//
// Importing this module has no side effects: tests can import the recipe and expectations.
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { crc32 } from 'node:zlib';
import { DOCKERD_BINS, startDockerd } from '../test/support/dockerd.mjs';
import { describeMissing, realToolsAvailable } from '../test/support/real-tools.mjs';
import { SKOPEO_BINS, skopeoCopy } from '../test/support/skopeo.mjs';
import { readDockerArchive, readOciArchive, readTarEntries } from '../test/support/tarball.mjs';

export const SEED = 0x5ca1ab1e;
export const BASE_TAG = 'stratascan-fixture/busybox:1';
export const IMAGE_TAG = 'stratascan-fixture/leaky:1';

export const OUTPUT_FILES = Object.freeze({
  dockerSave: 'leaky-docker-save.tar',
  ociGzip: 'leaky-oci-gzip.tar',
  ociZstd: 'leaky-oci-zstd.tar',
  expected: 'leaky-expected.json',
  readme: 'README.md',
});

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------- fake secret generation

// The project's own seeded PRNG (mulberry32), so fixtures and detector examples share one
// generator; needs `npm run build` first (tests build before they run).
import { seededRandom as mulberry32 } from '../dist/detect/template.js';
export { mulberry32 };

const DIGITS = '0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const BASE62 = DIGITS + UPPER + LOWER;
const ALNUM = UPPER + LOWER + DIGITS;
const BASE32_AWS = `${UPPER}234567`;
const BASE64_CHARS = `${UPPER}${LOWER}${DIGITS}+/`;
const HEX_LOWER = '0123456789abcdef';

/**
 * @param {() => number} rand
 * @param {string} alphabet
 * @param {number} n
 * @returns {string}
 */
function pick(rand, alphabet, n) {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}

/**
 * GitHub classic PAT layout: ghp_ + 30 random base62 + 6-char base62 CRC32 of those 30,
 * so checksum-validating detectors accept it as well-formed.
 * @param {() => number} rand
 * @returns {string}
 */
function fakeGithubPat(rand) {
  const body = pick(rand, BASE62, 30);
  let n = crc32(Buffer.from(body, 'utf8'));
  let check = '';
  for (let i = 0; i < 6; i++) {
    check = BASE62[n % 62] + check;
    n = Math.floor(n / 62);
  }
  return `ghp_${body}${check}`;
}

/**
 * PEM body that looks like DER: "MII…" (SEQUENCE, 2-byte length) then version 0, then
 * noise. 960 bytes encode to exactly 20 lines of 64 base64 characters.
 * @param {() => number} rand
 * @returns {string}
 */
function fakeRsaPem(rand) {
  const der = Buffer.alloc(960);
  for (let i = 0; i < der.length; i++) der[i] = Math.floor(rand() * 256);
  der.set([0x30, 0x82, 0x03, 0xbc, 0x02, 0x01, 0x00], 0);
  const b64 = der.toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return ['-----BEGIN RSA PRIVATE KEY-----', ...lines, '-----END RSA PRIVATE KEY-----'].join('\n');
}

/**
 * @typedef {object} FakeSecrets
 * @property {string} ghp
 * @property {string} awsKeyId
 * @property {string} awsSecret
 * @property {string} rsaPem the whole block, BEGIN through END line, no trailing newline
 * @property {string} stripe
 * @property {string} slack
 * @property {string} glpat
 * @property {string} clarifai
 */

/**
 * @param {number} [seed]
 * @returns {FakeSecrets}
 */
export function makeFakeSecrets(seed = SEED) {
  const rand = mulberry32(seed);
  // Order matters: each value consumes PRNG output. Append new kinds at the end only.
  return {
    ghp: fakeGithubPat(rand),
    awsKeyId: `AKIA${pick(rand, BASE32_AWS, 16)}`,
    awsSecret: pick(rand, BASE64_CHARS, 40),
    rsaPem: fakeRsaPem(rand),
    stripe: `sk_live_${pick(rand, ALNUM, 24)}`,
    slack: `xoxb-${pick(rand, '123456789', 1)}${pick(rand, DIGITS, 11)}-${pick(rand, '123456789', 1)}${pick(rand, DIGITS, 12)}-${pick(rand, ALNUM, 24)}`,
    glpat: `glpat-${pick(rand, ALNUM, 20)}`,
    clarifai: pick(rand, HEX_LOWER, 32),
  };
}

// ---------------------------------------------------------------- the recipe

/**
 * One Dockerfile instruction. `text` may contain {{name}} placeholders for secrets; the
 * rendered form goes to dockerd, the placeholder form to README/JSON.
 * @typedef {object} Step
 * @property {string} text
 * @property {boolean} emptyLayer whether the classic builder records it as an empty layer
 */

/** @type {readonly Step[]} */
export const STEPS = Object.freeze([
  { text: `FROM ${BASE_TAG}`, emptyLayer: false },
  { text: 'ARG GH_TOKEN', emptyLayer: true },
  { text: 'RUN echo "token=$GH_TOKEN" > /root/.ghtoken', emptyLayer: false },
  { text: 'COPY app.env /srv/app/.env', emptyLayer: false },
  { text: 'RUN rm /srv/app/.env', emptyLayer: false },
  { text: 'COPY id_rsa /root/.ssh/id_rsa', emptyLayer: false },
  { text: 'RUN rm -rf /root/.ssh', emptyLayer: false },
  { text: 'COPY config.yml /etc/app/config.yml', emptyLayer: false },
  { text: 'RUN echo "stripe_key: none" > /etc/app/config.yml', emptyLayer: false },
  { text: 'ENV SLACK_BOT_TOKEN={{slack}}', emptyLayer: true },
  { text: 'LABEL com.example.deploy-key="{{glpat}}"', emptyLayer: true },
  { text: 'RUN echo "clarifai_api_key = {{clarifai}}" > /opt/clarifai.cfg', emptyLayer: false },
]);

export const LAYER_COUNT = STEPS.filter((s) => !s.emptyLayer).length;

/**
 * @param {string} text
 * @param {Partial<Record<keyof FakeSecrets, string>>} values
 * @returns {string}
 */
function fill(text, values) {
  return text.replace(/\{\{(\w+)\}\}/g, (_, k) => {
    const v = values[/** @type {keyof FakeSecrets} */ (k)];
    if (v === undefined) throw new Error(`no value for placeholder {{${k}}}`);
    return v;
  });
}

/** The Dockerfile with placeholders, safe to print and commit. */
export function dockerfileTemplate() {
  return `${STEPS.map((s) => s.text).join('\n')}\n`;
}

/**
 * @param {FakeSecrets} secrets
 * @returns {{ dockerfile: string, files: Record<string, string>, buildArgs: Record<string, string> }}
 */
export function renderBuild(secrets) {
  return {
    dockerfile: fill(dockerfileTemplate(), secrets),
    files: {
      'app.env': [
        '# production credentials (fake, generated by stratascan scripts/regen-real-fixtures.mjs)',
        `AWS_ACCESS_KEY_ID=${secrets.awsKeyId}`,
        `AWS_SECRET_ACCESS_KEY=${secrets.awsSecret}`,
        'AWS_DEFAULT_REGION=eu-west-1',
        '',
      ].join('\n'),
      id_rsa: `${secrets.rsaPem}\n`,
      'config.yml': ['service: billing', `stripe_key: ${secrets.stripe}`, 'timeout_s: 30', ''].join('\n'),
    },
    buildArgs: { GH_TOKEN: secrets.ghp },
  };
}

/**
 * History index = step index (the classic builder writes one history entry per instruction,
 * FROM's being the base's own entry). Layer index counts only non-empty entries.
 * @param {number} step 0-based index into STEPS
 * @returns {number | null}
 */
export function layerIndexOfStep(step) {
  if (STEPS[step]?.emptyLayer) return null;
  return STEPS.slice(0, step).filter((s) => !s.emptyLayer).length;
}

/**
 * @param {number} step
 * @returns {number} the last non-empty layer at or before this step
 */
function layerInEffectAt(step) {
  return STEPS.slice(0, step + 1).filter((s) => !s.emptyLayer).length - 1;
}

/**
 * @typedef {object} StepRef
 * @property {number} step 1-based, as in `docker build` output "Step N/12"
 * @property {string} instruction with secrets shown as {{placeholders}}
 * @property {number} historyIndex index into the image config's history[]
 * @property {number | null} layerIndex index into rootfs.diff_ids / manifest layers, or
 *   null when the step made an empty layer
 * @property {number} layerInEffect the last non-empty layer at that point (what a scanner
 *   can attribute a config-only finding to)
 */

/**
 * @param {number} step 0-based
 * @returns {StepRef}
 */
function stepRef(step) {
  return {
    step: step + 1,
    instruction: /** @type {Step} */ (STEPS[step]).text,
    historyIndex: step,
    layerIndex: layerIndexOfStep(step),
    layerInEffect: layerInEffectAt(step),
  };
}

/**
 * @typedef {object} Expectation
 * @property {string} id
 * @property {string} kind
 * @property {'file' | 'env' | 'label' | 'history'} source
 * @property {string} path file path in the image, or a JSON path into the image config
 * @property {number | null} line 1-based line of the match for files, else null
 * @property {number | null} endLine last line for multi-line matches (PEM), else null
 * @property {string} secretHash "sha256:<hex>" of the UTF-8 value
 * @property {StepRef} introducedBy
 * @property {(StepRef & { how: 'deleted' | 'overwritten' }) | null} removedBy
 * @property {boolean} inFinalImage visible in the flattened final filesystem/config
 */

/**
 * @param {string} value
 * @returns {string}
 */
export function secretHash(value) {
  return `sha256:${createHash('sha256').update(value, 'utf8').digest('hex')}`;
}

/** Steps (0-based) that the classic builder prefixes with "|1 GH_TOKEN=… ": every RUN after the ARG. */
function runStepsWithBuildArg() {
  const argAt = STEPS.findIndex((s) => s.text.startsWith('ARG GH_TOKEN'));
  return STEPS.map((s, i) => ({ s, i }))
    .filter(({ s, i }) => i > argAt && s.text.startsWith('RUN '))
    .map(({ i }) => i);
}

/**
 * Where each secret is planted. Steps are referenced by their 0-based index in STEPS.
 * @param {FakeSecrets} secrets
 * @returns {Expectation[]}
 */
export function expectations(secrets) {
  const step = (/** @type {string} */ prefix) => {
    const i = STEPS.findIndex((s) => s.text.startsWith(prefix));
    if (i < 0) throw new Error(`no step starting with ${prefix}`);
    return i;
  };
  /** @type {(i: number, how: 'deleted' | 'overwritten') => Expectation['removedBy']} */
  const removed = (i, how) => ({ ...stepRef(i), how });
  const base = (/** @type {string} */ value) => ({ secretHash: secretHash(value), endLine: null });

  /** @type {Expectation[]} */
  const list = [
    {
      id: 'ghp-file', kind: 'ghp', source: 'file', path: '/root/.ghtoken', line: 1,
      ...base(secrets.ghp), introducedBy: stepRef(step('RUN echo "token=')), removedBy: null, inFinalImage: true,
    },
    ...runStepsWithBuildArg().map((i) => /** @type {Expectation} */ ({
      id: `ghp-history-${i}`, kind: 'ghp', source: 'history', path: `history[${i}].created_by`, line: null,
      ...base(secrets.ghp), introducedBy: stepRef(i), removedBy: null, inFinalImage: true,
    })),
    {
      id: 'aws-key-id-file', kind: 'aws-key-id', source: 'file', path: '/srv/app/.env', line: 2,
      ...base(secrets.awsKeyId), introducedBy: stepRef(step('COPY app.env')),
      removedBy: removed(step('RUN rm /srv/app/.env'), 'deleted'), inFinalImage: false,
    },
    {
      id: 'aws-secret-file', kind: 'aws-secret', source: 'file', path: '/srv/app/.env', line: 3,
      ...base(secrets.awsSecret), introducedBy: stepRef(step('COPY app.env')),
      removedBy: removed(step('RUN rm /srv/app/.env'), 'deleted'), inFinalImage: false,
    },
    {
      id: 'rsa-private-key-file', kind: 'rsa-private-key', source: 'file', path: '/root/.ssh/id_rsa', line: 1,
      ...base(secrets.rsaPem), endLine: secrets.rsaPem.split('\n').length,
      introducedBy: stepRef(step('COPY id_rsa')), removedBy: removed(step('RUN rm -rf /root/.ssh'), 'deleted'),
      inFinalImage: false,
    },
    {
      id: 'stripe-file', kind: 'stripe-live', source: 'file', path: '/etc/app/config.yml', line: 2,
      ...base(secrets.stripe), introducedBy: stepRef(step('COPY config.yml')),
      removedBy: removed(step('RUN echo "stripe_key: none"'), 'overwritten'), inFinalImage: false,
    },
    {
      id: 'slack-env', kind: 'slack-bot', source: 'env', path: 'config.Env[SLACK_BOT_TOKEN]', line: null,
      ...base(secrets.slack), introducedBy: stepRef(step('ENV SLACK_BOT_TOKEN')), removedBy: null, inFinalImage: true,
    },
    {
      id: 'slack-history', kind: 'slack-bot', source: 'history', path: `history[${step('ENV SLACK_BOT_TOKEN')}].created_by`,
      line: null, ...base(secrets.slack), introducedBy: stepRef(step('ENV SLACK_BOT_TOKEN')), removedBy: null,
      inFinalImage: true,
    },
    {
      id: 'glpat-label', kind: 'glpat', source: 'label', path: 'config.Labels["com.example.deploy-key"]', line: null,
      ...base(secrets.glpat), introducedBy: stepRef(step('LABEL')), removedBy: null, inFinalImage: true,
    },
    {
      id: 'glpat-history', kind: 'glpat', source: 'history', path: `history[${step('LABEL')}].created_by`, line: null,
      ...base(secrets.glpat), introducedBy: stepRef(step('LABEL')), removedBy: null, inFinalImage: true,
    },
    {
      id: 'clarifai-file', kind: 'clarifai', source: 'file', path: '/opt/clarifai.cfg', line: 1,
      ...base(secrets.clarifai), introducedBy: stepRef(step('RUN echo "clarifai')), removedBy: null, inFinalImage: true,
    },
    {
      id: 'clarifai-history', kind: 'clarifai', source: 'history', path: `history[${step('RUN echo "clarifai')}].created_by`,
      line: null, ...base(secrets.clarifai), introducedBy: stepRef(step('RUN echo "clarifai')), removedBy: null,
      inFinalImage: true,
    },
  ];
  return list;
}

/**
 * Which raw value an expectation hashes; used only in-process for verification.
 * @param {FakeSecrets} secrets
 * @param {string} hash
 * @returns {string}
 */
function valueForHash(secrets, hash) {
  const v = Object.values(secrets).find((s) => secretHash(s) === hash);
  if (v === undefined) throw new Error(`no secret with hash ${hash}`);
  return v;
}

// ---------------------------------------------------------------- verification

/**
 * Check every expectation against what dockerd actually produced: layer indices against
 * history/empty_layer, file contents and whiteouts in the saved layers, config Env/Labels.
 * Throws with a redacted explanation on the first mismatch.
 * @param {string} savedTar
 * @param {FakeSecrets} secrets
 * @param {Expectation[]} expected
 */
export async function verifyDockerSave(savedTar, secrets, expected) {
  const { config, layerPaths } = await readDockerArchive(savedTar);
  const history = config.history ?? [];
  const fail = (/** @type {string} */ msg) => {
    throw new Error(`${savedTar}: ${msg}`);
  };

  if (history.length !== STEPS.length) fail(`history has ${history.length} entries, expected ${STEPS.length}`);
  STEPS.forEach((s, i) => {
    if ((history[i]?.empty_layer === true) !== s.emptyLayer) {
      fail(`history[${i}] (${s.text.split(' ')[0]}) empty_layer=${history[i]?.empty_layer}, expected ${s.emptyLayer}`);
    }
  });
  if (layerPaths.length !== LAYER_COUNT || config.rootfs?.diff_ids.length !== LAYER_COUNT) {
    fail(`${layerPaths.length} layers / ${config.rootfs?.diff_ids.length} diff_ids, expected ${LAYER_COUNT}`);
  }

  const layers = await readTarEntries(savedTar, (name) => layerPaths.includes(name));
  /** @param {number} i */
  const layerFiles = async (i) => readTarEntries(/** @type {Buffer} */ (layers.get(/** @type {string} */ (layerPaths[i]))), () => true);

  for (const e of expected) {
    const value = valueForHash(secrets, e.secretHash);
    const where = `${e.id} (${e.kind} ${e.source} ${e.path})`;
    const intro = e.introducedBy;
    if (e.source === 'history') {
      const createdBy = history[intro.historyIndex]?.created_by ?? '';
      if (!createdBy.includes(value)) fail(`${where}: value not in history[${intro.historyIndex}].created_by`);
    } else if (e.source === 'env') {
      if (!(config.config?.Env ?? []).includes(`SLACK_BOT_TOKEN=${value}`)) fail(`${where}: not in config.Env`);
    } else if (e.source === 'label') {
      if (config.config?.Labels?.['com.example.deploy-key'] !== value) fail(`${where}: not in config.Labels`);
    } else {
      if (intro.layerIndex === null) fail(`${where}: a file must come from a non-empty layer`);
      const files = await layerFiles(/** @type {number} */ (intro.layerIndex));
      const text = files.get(e.path.slice(1))?.toString('utf8');
      if (text === undefined) fail(`${where}: file not in layer ${intro.layerIndex}`);
      const lines = /** @type {string} */ (text).split('\n');
      const matched = e.endLine === null
        ? (lines[/** @type {number} */ (e.line) - 1] ?? '').includes(value)
        : lines.slice(/** @type {number} */ (e.line) - 1, e.endLine).join('\n') === value;
      if (!matched) fail(`${where}: value not at line ${e.line} in layer ${intro.layerIndex}`);
      if (e.removedBy) await verifyRemoval(e, value, await layerFiles(/** @type {number} */ (e.removedBy.layerIndex)), fail);
    }
  }
}

/**
 * @param {Expectation} e
 * @param {string} value
 * @param {Map<string, Buffer>} files the removing layer's files
 * @param {(msg: string) => never} fail
 */
async function verifyRemoval(e, value, files, fail) {
  const removedBy = /** @type {NonNullable<Expectation['removedBy']>} */ (e.removedBy);
  const rel = e.path.slice(1);
  if (removedBy.how === 'overwritten') {
    const now = files.get(rel)?.toString('utf8');
    if (now === undefined || now.includes(value)) fail(`${e.id}: layer ${removedBy.layerIndex} does not overwrite ${e.path}`);
    return;
  }
  // A deletion is a whiteout of the file itself or of an ancestor dir (rm -rf /root/.ssh).
  const parts = rel.split('/');
  const whiteouts = parts.map((_, i) => [...parts.slice(0, i), `.wh.${parts[i]}`].join('/'));
  if (!whiteouts.some((w) => files.has(w))) fail(`${e.id}: no whiteout for ${e.path} in layer ${removedBy.layerIndex}`);
}

/**
 * @param {string} path
 * @param {string} mediaType
 * @param {number} layerCount
 */
async function verifyOci(path, mediaType, layerCount) {
  const oci = await readOciArchive(path);
  if (oci.layerMediaTypes.length !== layerCount || oci.layerMediaTypes.some((m) => m !== mediaType)) {
    throw new Error(`${path}: layer media types ${JSON.stringify(oci.layerMediaTypes)}, expected ${layerCount}× ${mediaType}`);
  }
  const flags = (oci.config.history ?? []).map((h) => h.empty_layer === true);
  if (JSON.stringify(flags) !== JSON.stringify(STEPS.map((s) => s.emptyLayer))) {
    throw new Error(`${path}: history empty_layer flags changed in conversion`);
  }
}

// ---------------------------------------------------------------- output

/**
 * @param {Expectation[]} expected
 * @param {Record<string, number>} sizes
 * @returns {string}
 */
export function readmeText(expected, sizes) {
  const rows = expected.map((e) => {
    const removed = e.removedBy ? `step ${e.removedBy.step} (layer ${e.removedBy.layerIndex}, ${e.removedBy.how})` : '—';
    const layer = e.introducedBy.layerIndex ?? `— (empty; after layer ${e.introducedBy.layerInEffect})`;
    const line = e.line === null ? '' : e.endLine === null ? `:${e.line}` : `:${e.line}-${e.endLine}`;
    return `| ${e.kind} | ${e.source} | \`${e.path}${line}\` | ${e.introducedBy.step} | ${layer} | ${e.introducedBy.historyIndex} | ${removed} | ${e.secretHash.slice(0, 19)}… |`;
  });
  const steps = STEPS.map((s, i) => {
    const layer = layerIndexOfStep(i);
    return `| ${i + 1} | \`${s.text}\` | ${i} | ${layer ?? 'empty'} |`;
  });
  return `# Real-tool fixtures: the "leaky" image

Generated by \`scripts/regen-real-fixtures.mjs\` (run as root: \`node scripts/regen-real-fixtures.mjs\`)
with a private dockerd 20.10 (vfs, classic builder, \`--network=none\`) and skopeo 1.9.3 from
Debian 12. Nothing was pulled: the base image is \`docker import\`ed from the host's static
\`/bin/busybox\` plus applet symlinks.

| file | made by | size |
| --- | --- | --- |
| \`${OUTPUT_FILES.dockerSave}\` | \`docker save ${IMAGE_TAG}\` (Docker archive: manifest.json, uncompressed layer.tar per layer) | ${sizes.dockerSave} B |
| \`${OUTPUT_FILES.ociGzip}\` | \`skopeo copy --dest-compress-format gzip docker-archive:… oci-archive:…:${IMAGE_TAG}\` (layers \`application/vnd.oci.image.layer.v1.tar+gzip\`) | ${sizes.ociGzip} B |
| \`${OUTPUT_FILES.ociZstd}\` | same with \`--dest-compress-format zstd\` (layers \`application/vnd.oci.image.layer.v1.tar+zstd\`) | ${sizes.ociZstd} B |
| \`${OUTPUT_FILES.expected}\` | where every secret is planted, with sha256 hashes instead of values | |

All secrets are **fake**: generated from seed \`0x${SEED.toString(16)}\` with mulberry32 in the
real formats (the \`ghp_\` token even carries a valid CRC32 checksum), never copied from anywhere.
The generated values are stable across runs; the tarballs are not byte-for-byte reproducible
(dockerd stamps times and random IDs), so tests must rely on the expectations, not on digests.

## Dockerfile (secrets shown as placeholders)

Build arg \`GH_TOKEN\` = the fake GitHub token. History index = step − 1; layer index counts
only non-empty layers (FROM's base = 0).

| step | instruction | history | layer |
| --- | --- | --- | --- |
${steps.join('\n')}

## Planted secrets

\`secretHash\` in the JSON is \`sha256:\` + hex of the UTF-8 value (for the PEM key: the block
from the BEGIN line through the END line, joined by \\n, no trailing newline).

| kind | source | path | step | layer | history | removed by | hash |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Things a scanner should know about these files:
- The classic builder writes the build arg into the \`created_by\` of **every** RUN after the
  \`ARG\` (\`|1 GH_TOKEN=ghp_… /bin/sh -c …\`), not only the RUN that uses it.
- ENV and LABEL values also appear in their own \`#(nop)\` history entry.
- Docker-format duplicates not listed above, in \`${OUTPUT_FILES.dockerSave}\` only: the image
  config's \`container_config\` (the last step's Cmd with the build arg and the clarifai
  value, plus Env and Labels) and the top layer's legacy \`<id>/json\`, which repeats that
  config. skopeo rewrites the config into OCI form, which has no \`container_config\`, so the
  OCI archives hold each value only where the table says.
- Deleted files are whiteouts (\`srv/app/.wh..env\`, \`root/.wh..ssh\` for the whole dir);
  the overwritten \`/etc/app/config.yml\` is simply a new copy in layer 7.
`;
}

/**
 * @param {Expectation[]} expected
 * @returns {object}
 */
export function expectationsDocument(expected) {
  return {
    description: 'Fake secrets planted in fixtures/real/leaky-*.tar; values are replaced by sha256 of their UTF-8 bytes.',
    generator: 'scripts/regen-real-fixtures.mjs',
    seed: SEED,
    seedHex: `0x${SEED.toString(16)}`,
    image: IMAGE_TAG,
    files: {
      dockerSave: OUTPUT_FILES.dockerSave,
      ociGzip: OUTPUT_FILES.ociGzip,
      ociZstd: OUTPUT_FILES.ociZstd,
    },
    layerCount: LAYER_COUNT,
    steps: STEPS.map((s, i) => ({ step: i + 1, instruction: s.text, historyIndex: i, layerIndex: layerIndexOfStep(i) })),
    secrets: expected,
  };
}

// ---------------------------------------------------------------- main

/**
 * @param {string} outDir
 */
export async function regenerate(outDir) {
  const { ok, missing } = realToolsAvailable([...DOCKERD_BINS, ...SKOPEO_BINS, 'busybox']);
  if (!ok) throw new Error(`cannot build the real fixtures: ${describeMissing(missing)}`);

  const secrets = makeFakeSecrets(SEED);
  const expected = expectations(secrets);
  const redactList = Object.values(secrets);
  const { dockerfile, files, buildArgs } = renderBuild(secrets);
  const work = await mkdtemp(join(tmpdir(), 'stratascan-regen-'));
  /** @type {Record<string, number>} */
  const timings = {};
  const timed = async (/** @type {string} */ label, /** @type {() => Promise<unknown>} */ f) => {
    const t0 = performance.now();
    await f();
    timings[label] = Math.round(performance.now() - t0);
  };
  const staged = {
    dockerSave: join(work, OUTPUT_FILES.dockerSave),
    ociGzip: join(work, OUTPUT_FILES.ociGzip),
    ociZstd: join(work, OUTPUT_FILES.ociZstd),
  };
  try {
    /** @type {import('../test/support/dockerd.mjs').Dockerd | undefined} */
    let dockerd;
    try {
      await timed('dockerd start', async () => {
        dockerd = await startDockerd();
      });
      const d = /** @type {import('../test/support/dockerd.mjs').Dockerd} */ (dockerd);
      await timed('busybox import', () => d.importBusybox(BASE_TAG));
      await timed('build', () => d.build(IMAGE_TAG, dockerfile, { buildArgs, files, redact: redactList }));
      await timed('docker save', () => d.save([IMAGE_TAG], staged.dockerSave));
    } finally {
      await dockerd?.stop();
    }
    await timed('verify docker save', () => verifyDockerSave(staged.dockerSave, secrets, expected));
    for (const [key, compress] of /** @type {const} */ ([['ociGzip', 'gzip'], ['ociZstd', 'zstd']])) {
      await timed(`skopeo ${compress}`, () =>
        skopeoCopy(`docker-archive:${staged.dockerSave}`, `oci-archive:${staged[key]}:${IMAGE_TAG}`, { compress, redact: redactList }),
      );
      await verifyOci(staged[key], `application/vnd.oci.image.layer.v1.tar+${compress}`, LAYER_COUNT);
    }

    /** @type {Record<string, number>} */
    const sizes = {};
    for (const [key, path] of Object.entries(staged)) sizes[key] = (await stat(path)).size;
    await mkdir(outDir, { recursive: true });
    // Staged in /tmp and moved only after every check passed, so a failed run leaves the
    // previous fixtures intact.
    for (const [key, path] of Object.entries(staged)) {
      await moveFile(path, join(outDir, OUTPUT_FILES[/** @type {keyof typeof staged} */ (key)]));
    }
    // docker save -o creates 0600; fixtures are meant to be read by anyone.
    await Promise.all(Object.keys(staged).map((key) => chmod(join(outDir, OUTPUT_FILES[/** @type {keyof typeof staged} */ (key)]), 0o644)));
    await writeDocs(outDir, expected, sizes);
    return { sizes, timings, expected };
  } catch (cause) {
    throw new Error(`regenerating real fixtures into ${outDir}`, { cause });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * @param {string} from
 * @param {string} to
 */
async function moveFile(from, to) {
  try {
    await rename(from, to);
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EXDEV') throw err;
    await copyFile(from, to);
    await rm(from, { force: true });
  }
}

/**
 * Check existing tarballs against the recipe without rebuilding them.
 * @param {string} dir
 * @returns {Promise<{ sizes: Record<string, number>, expected: Expectation[] }>}
 */
export async function verifyExisting(dir) {
  const secrets = makeFakeSecrets(SEED);
  const expected = expectations(secrets);
  const path = (/** @type {keyof typeof OUTPUT_FILES} */ key) => join(dir, OUTPUT_FILES[key]);
  try {
    await verifyDockerSave(path('dockerSave'), secrets, expected);
    await verifyOci(path('ociGzip'), 'application/vnd.oci.image.layer.v1.tar+gzip', LAYER_COUNT);
    await verifyOci(path('ociZstd'), 'application/vnd.oci.image.layer.v1.tar+zstd', LAYER_COUNT);
  } catch (cause) {
    throw new Error(`verifying real fixtures in ${dir}`, { cause });
  }
  /** @type {Record<string, number>} */
  const sizes = {};
  for (const key of /** @type {const} */ (['dockerSave', 'ociGzip', 'ociZstd'])) sizes[key] = (await stat(path(key))).size;
  return { sizes, expected };
}

/**
 * @param {string} dir
 * @param {Expectation[]} expected
 * @param {Record<string, number>} sizes
 */
async function writeDocs(dir, expected, sizes) {
  await writeFile(join(dir, OUTPUT_FILES.expected), `${JSON.stringify(expectationsDocument(expected), null, 2)}\n`);
  await writeFile(join(dir, OUTPUT_FILES.readme), readmeText(expected, sizes));
}

/**
 * @param {Record<string, number>} sizes
 * @param {Expectation[]} expected
 */
function printSummary(sizes, expected) {
  for (const [key, size] of Object.entries(sizes)) {
    console.log(`  ${OUTPUT_FILES[/** @type {keyof typeof OUTPUT_FILES} */ (key)].padEnd(24)} ${(size / 1024).toFixed(0).padStart(6)} KiB`);
  }
  console.log(`  ${expected.length} planted secret occurrences (hashes only):`);
  for (const e of expected) {
    console.log(`    ${e.kind.padEnd(16)} ${e.source.padEnd(8)} layer ${String(e.introducedBy.layerIndex ?? '-').padEnd(2)} ${e.secretHash.slice(0, 19)}…  ${e.path}`);
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: join(REPO_ROOT, 'fixtures', 'real') },
      verify: { type: 'boolean', default: false },
      'docs-only': { type: 'boolean', default: false },
    },
  });
  const outDir = resolve(/** @type {string} */ (values.out));
  if (values.verify || values['docs-only']) {
    const { sizes, expected } = await verifyExisting(outDir);
    if (values['docs-only']) await writeDocs(outDir, expected, sizes);
    console.log(`${outDir}: tarballs match the recipe${values['docs-only'] ? '; README and JSON rewritten' : ''}`);
    printSummary(sizes, expected);
    return;
  }
  const { sizes, timings, expected } = await regenerate(outDir);
  console.log(`wrote ${outDir}`);
  printSummary(sizes, expected);
  console.log(`timings (ms): ${JSON.stringify(timings)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    // Errors are already redacted where raw values could appear (docker/skopeo output).
    console.error(err);
    process.exitCode = 1;
  });
}
