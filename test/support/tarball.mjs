// Minimal tar reading/writing for the harness: build the busybox rootfs we `docker import`,
// and look inside `docker save` / skopeo oci-archive outputs to check what the tools wrote.
// Deliberately independent of src/: the harness must not share bugs with the scanner.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/** Anything bigger than this is a layer, never a JSON document we want to parse. */
const MAX_JSON_BYTES = 4 * 1024 * 1024;

/**
 * @typedef {object} TarEntrySpec
 * @property {string} name path inside the archive, no leading "/"
 * @property {'file' | 'directory' | 'symlink'} type
 * @property {number} [mode]
 * @property {Buffer | string} [data] for files
 * @property {string} [linkname] for symlinks
 */

/**
 * Build an uncompressed tar in memory. Owner root and a fixed mtime make the bytes (and so
 * the imported layer's diff ID) depend only on the entries.
 * @param {readonly TarEntrySpec[]} entries
 * @param {Date} [mtime]
 * @returns {Promise<Buffer>}
 */
export async function packTar(entries, mtime = new Date('2020-01-01T00:00:00Z')) {
  const pack = tar.pack();
  /** @type {Buffer[]} */
  const chunks = [];
  pack.on('data', (c) => chunks.push(/** @type {Buffer} */ (c)));
  /** @type {Promise<void>} */
  const done = new Promise((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const header = {
      name: e.name,
      type: e.type,
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644),
      mtime,
      uid: 0,
      gid: 0,
      uname: 'root',
      gname: 'root',
      ...(e.type === 'symlink' ? { linkname: e.linkname } : {}),
    };
    await new Promise((resolve, reject) => {
      const cb = (/** @type {Error | null | undefined} */ err) => (err ? reject(err) : resolve(undefined));
      if (e.type === 'file') pack.entry(header, e.data ?? Buffer.alloc(0), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Read selected regular-file entries of an uncompressed tar into memory (others are
 * drained). `source` is a file path, or the tar's bytes (e.g. a layer.tar inside a
 * `docker save` archive).
 * @param {string | Buffer} source
 * @param {(name: string, size: number) => boolean} want
 * @returns {Promise<Map<string, Buffer>>}
 */
export async function readTarEntries(source, want) {
  const extract = tar.extract();
  /** @type {Map<string, Buffer>} */
  const found = new Map();
  const reading = (async () => {
    for await (const entry of extract) {
      const { name, size = 0, type } = entry.header;
      if (type === 'file' && want(normalize(name), size)) {
        /** @type {Buffer[]} */
        const parts = [];
        for await (const chunk of entry) parts.push(/** @type {Buffer} */ (chunk));
        found.set(normalize(name), Buffer.concat(parts));
      } else {
        entry.resume();
      }
    }
  })();
  try {
    const input = typeof source === 'string' ? createReadStream(source) : Readable.from([source]);
    await Promise.all([pipeline(input, extract), reading]);
  } catch (cause) {
    const what = typeof source === 'string' ? source : `(${source.length} bytes in memory)`;
    throw new Error(`reading tar ${what}`, { cause });
  }
  return found;
}

/**
 * @param {string} name
 * @returns {string}
 */
function normalize(name) {
  return name.replace(/^\.\//, '');
}

/**
 * @param {Map<string, Buffer>} entries
 * @param {string} name
 * @param {string} archive for the error message
 * @returns {any}
 */
function parseJsonEntry(entries, name, archive) {
  const buf = entries.get(name);
  if (!buf) throw new Error(`${archive}: no ${name} (or larger than ${MAX_JSON_BYTES} bytes)`);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (cause) {
    throw new Error(`${archive}: ${name} is not JSON`, { cause });
  }
}

/**
 * @typedef {object} DockerArchive
 * @property {any[]} manifest parsed manifest.json
 * @property {string} configName archive path of the first image's config
 * @property {any} config that image's parsed config (history, rootfs.diff_ids, config.Env …)
 * @property {string[]} layerPaths that image's layer tar paths, base first
 */

/**
 * Parse the `docker save` format's manifest.json and the first image's config.
 * @param {string} path
 * @returns {Promise<DockerArchive>}
 */
export async function readDockerArchive(path) {
  const entries = await readTarEntries(
    path,
    (name, size) => size <= MAX_JSON_BYTES && name.endsWith('.json'),
  );
  const manifest = parseJsonEntry(entries, 'manifest.json', path);
  if (!Array.isArray(manifest) || manifest.length === 0) {
    throw new Error(`${path}: manifest.json is not a non-empty array`);
  }
  const first = manifest[0];
  return {
    manifest,
    configName: first.Config,
    config: parseJsonEntry(entries, first.Config, path),
    layerPaths: first.Layers,
  };
}

/**
 * @typedef {object} OciArchive
 * @property {any} index parsed index.json
 * @property {any} manifest the first manifest listed in the index
 * @property {any} config that manifest's image config
 * @property {string[]} layerMediaTypes e.g. application/vnd.oci.image.layer.v1.tar+zstd
 */

/**
 * Parse an OCI image layout packed as a tar (skopeo's oci-archive:).
 * @param {string} path
 * @returns {Promise<OciArchive>}
 */
export async function readOciArchive(path) {
  const entries = await readTarEntries(
    path,
    (name, size) => size <= MAX_JSON_BYTES && (name === 'index.json' || name.startsWith('blobs/')),
  );
  const index = parseJsonEntry(entries, 'index.json', path);
  const manifestDesc = index.manifests?.[0];
  if (!manifestDesc) throw new Error(`${path}: index.json lists no manifest`);
  const manifest = parseJsonEntry(entries, blobPath(manifestDesc.digest), path);
  const config = parseJsonEntry(entries, blobPath(manifest.config.digest), path);
  return {
    index,
    manifest,
    config,
    layerMediaTypes: manifest.layers.map((/** @type {{mediaType: string}} */ l) => l.mediaType),
  };
}

/**
 * @param {string} digest "sha256:<hex>"
 * @returns {string}
 */
function blobPath(digest) {
  const [alg, hex] = digest.split(':');
  return `blobs/${alg}/${hex}`;
}
