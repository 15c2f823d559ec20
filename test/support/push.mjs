// Pushes images built by fixtures/builder.mjs (imageBlobs) to a registry over the distribution
// API: monolithic blob uploads (skipped when the repository already has the blob, cross-mounted
// from another repository of this process when it can), then the manifest under its tag. Fast
// enough to fill a registry with hundreds of tags; nothing leaves the given registry.
import http from 'node:http';

/**
 * @param {string} method
 * @param {string} url
 * @param {{ headers?: Record<string, string>, body?: Buffer }} [opts]
 * @returns {Promise<{ status: number, headers: http.IncomingHttpHeaders, body: Buffer }>}
 */
function request(method, url, opts = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...(opts.headers ?? {}), ...(opts.body ? { 'content-length': String(opts.body.length) } : {}) } }, (res) => {
      /** @type {Buffer[]} */
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Where each blob digest was pushed first, per registry: later repositories mount it from there. */
const mounted = new Map();

/**
 * @param {string} base "http://127.0.0.1:PORT"
 * @param {string} repo
 * @param {string} digest
 * @param {Buffer} bytes
 */
async function pushBlob(base, repo, digest, bytes) {
  const head = await request('HEAD', `${base}/v2/${repo}/blobs/${digest}`);
  if (head.status === 200) return;
  const from = mounted.get(`${base} ${digest}`);
  if (from) {
    const mount = await request('POST', `${base}/v2/${repo}/blobs/uploads/?mount=${digest}&from=${from}`);
    if (mount.status === 201) return;
  }
  const start = await request('POST', `${base}/v2/${repo}/blobs/uploads/`);
  if (start.status !== 202) throw new Error(`starting an upload to ${repo}: ${start.status} ${start.body}`);
  const location = new URL(String(start.headers.location), base);
  location.searchParams.set('digest', digest);
  const put = await request('PUT', location.href, { headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  if (put.status !== 201) throw new Error(`uploading ${digest} to ${repo}: ${put.status} ${put.body}`);
  mounted.set(`${base} ${digest}`, repo);
}

/**
 * @param {string} base "http://127.0.0.1:PORT"
 * @param {string} repo repository name
 * @param {string} tag
 * @param {Awaited<ReturnType<typeof import('../../fixtures/builder.mjs').imageBlobs>>} image
 */
export async function pushImage(base, repo, tag, image) {
  for (const l of image.layers) await pushBlob(base, repo, l.digest, l.blob);
  await pushBlob(base, repo, image.configDigest, image.configBytes);
  const put = await request('PUT', `${base}/v2/${repo}/manifests/${tag}`, {
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: image.manifestBytes,
  });
  if (put.status !== 201) throw new Error(`pushing ${repo}:${tag}: ${put.status} ${put.body}`);
}
