// A registry's worth of images in a realistic shape, for the audit tests and bench: a few base
// images (each a couple of layers, one with a planted secret), many apps on top of them (a layer
// or two each, some with their own secret, some deleting the base's). Secrets are fake values in
// real formats, made fresh each run; layers are tiny unless `bigLayerBytes` asks for one.
import { randomBytes, randomInt } from 'node:crypto';
import { imageBlobs } from '../../fixtures/builder.mjs';
import { pushImage } from './push.mjs';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** @param {string} alphabet @param {number} n */
const pick = (alphabet, n) => Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join('');

export const newGithubToken = () => `ghp_${pick(ALNUM, 36)}`;
export const newAwsPair = () => ({ id: `AKIA${pick(BASE32, 16)}`, secret: pick(B64, 40) });

/**
 * @typedef {{ repo: string, tag: string, spec: import('../../fixtures/builder.mjs').ImageSpec }} FleetImage
 * @typedef {{ images: FleetImage[], secrets: string[] }} Fleet
 */

/**
 * @param {{ bases?: number, apps: number, tagsPerApp?: number, bigLayerBytes?: number, baseLayerBytes?: number, appLayerBytes?: number, prefix?: string }} shape
 * @returns {Fleet}
 */
export function makeFleet(shape) {
  /** @type {string[]} */
  const secrets = [];
  const baseCount = shape.bases ?? 3;
  const bases = Array.from({ length: baseCount }, (_, b) => {
    const steps = [
      { createdBy: `/bin/sh -c #(nop) ADD file:base${b} in / `, files: [
        { path: '/etc', type: /** @type {const} */ ('dir') },
        { path: '/etc/os-release', content: `NAME="Fleet Linux ${b}"\nID=fleet${b}\n` },
        { path: '/usr/lib/fleet/lib.txt', content: `library ${b}\n`.repeat(50) },
      ] },
    ];
    if (b % 3 === 0) {
      const token = newGithubToken();
      secrets.push(token);
      steps.push({ createdBy: '/bin/sh -c echo token > /etc/ci/token', files: [{ path: '/etc/ci/token', content: `GITHUB_TOKEN=${token}\n` }] });
    } else if (b % 3 === 1) {
      const aws = newAwsPair();
      secrets.push(aws.id, aws.secret);
      steps.push({ createdBy: '/bin/sh -c cp creds /root/.aws/credentials', files: [{ path: '/root/.aws/credentials', content: `[default]\naws_access_key_id = ${aws.id}\naws_secret_access_key = ${aws.secret}\n` }] });
      steps.push({ createdBy: '/bin/sh -c rm -rf /root/.aws', files: [{ path: '/root/.aws', type: /** @type {const} */ ('whiteout') }] });
    }
    if (shape.baseLayerBytes) steps.push({ createdBy: '/bin/sh -c apt-get install -y runtime', files: [{ path: `/usr/share/doc/base${b}.txt`, content: filler(shape.baseLayerBytes) }] });
    if (shape.bigLayerBytes && b === 0) steps.push({ createdBy: '/bin/sh -c make data', files: [{ path: '/usr/share/big.txt', content: filler(shape.bigLayerBytes) }] });
    return steps;
  });
  /** @type {FleetImage[]} */
  const images = [];
  for (let a = 0; a < shape.apps; a++) {
    const base = bases[a % baseCount];
    const team = `${shape.prefix ?? 'team-'}${a % 2 === 0 ? 'a' : 'b'}`;
    /** @type {any[]} */
    const code = shape.appLayerBytes ? filler(shape.appLayerBytes) : `console.log(${a});\n`;
    const steps = [...base, { createdBy: `/bin/sh -c #(nop) COPY dir:app${a} in /srv/app `, files: [{ path: `/srv/app/app${a}.js`, content: code }] }];
    /** @type {string[]} */
    const env = ['PATH=/usr/bin:/bin'];
    if (a % 4 === 1) {
      const token = newGithubToken();
      secrets.push(token);
      steps.push({ createdBy: '/bin/sh -c #(nop) COPY file:cfg in /srv/app/.env ', files: [{ path: '/srv/app/.env', content: `DEPLOY_TOKEN=${token}\n` }] });
    }
    if (a % 5 === 2) {
      const token = newGithubToken();
      secrets.push(token);
      env.push(`GH_TOKEN=${token}`);
    }
    // Some apps overwrite the base's token file: the base secret is then removed in those images.
    if (a % 6 === 3) steps.push({ createdBy: '/bin/sh -c echo none > /etc/ci/token', files: [{ path: '/etc/ci/token', content: 'GITHUB_TOKEN=none\n' }] });
    const tags = shape.tagsPerApp ?? 2;
    for (let t = 0; t < tags; t++) {
      const tagSteps = t === 0 ? steps : [...steps, { createdBy: `/bin/sh -c echo ${t} > /srv/app/VERSION`, files: [{ path: '/srv/app/VERSION', content: `${a}.${t}\n` }] }];
      images.push({ repo: `${team}/svc${a}`, tag: `v${t + 1}`, spec: { steps: tagSteps, env, labels: { app: `svc${a}` } } });
    }
  }
  return { images, secrets };
}

/** Text-like filler of `bytes` bytes (words and numbers), cheap to make and to compress. */
function filler(bytes) {
  const words = Array.from({ length: 64 }, () => pick('abcdefghijklmnopqrstuvwxyz', 3 + randomInt(6)));
  const lines = [];
  let n = 0;
  while (n < bytes) {
    const line = `${Array.from({ length: 10 }, () => words[randomInt(words.length)]).join(' ')} ${randomBytes(4).toString('hex')}\n`;
    lines.push(line);
    n += line.length;
  }
  return lines.join('').slice(0, bytes);
}

/**
 * Builds and pushes every image of the fleet (gzip layers) to `base`.
 * @param {string} base "http://127.0.0.1:PORT"
 * @param {Fleet} fleet
 * @returns {Promise<{ diffIds: Set<string>, byRef: Map<string, string[]> }>} the unique layer diff_ids, and each image's
 */
export async function pushFleet(base, fleet) {
  const diffIds = new Set();
  const byRef = new Map();
  for (const image of fleet.images) {
    const blobs = await imageBlobs(image.spec, 'gzip');
    await pushImage(base, image.repo, image.tag, blobs);
    for (const l of blobs.layers) diffIds.add(l.diffId);
    byRef.set(`${image.repo}:${image.tag}`, blobs.layers.map((l) => l.diffId));
  }
  return { diffIds, byRef };
}
