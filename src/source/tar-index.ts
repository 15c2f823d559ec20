import type { FileHandle } from 'node:fs/promises';
import { ScanError } from '../errors.js';
import { declaresDataItCannotHave, headerOnlyType, paxSize } from '../layer/tar-entries.js';

/** Where one member of an outer image tarball lives, so layers can be read in parallel by offset. */
export interface TarMember {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  offset: number;
  size: number;
  linkName: string | null;
}

const BLOCK = 512;

/** Normalised member name: no leading "./" or "/", no trailing "/". */
export function memberName(raw: string): string {
  return raw.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
}

/**
 * Reads only the headers of a tar file (ustar, GNU long names, PAX paths and sizes), seeking over
 * member data. Outer image tarballs have few, large members, so this costs a handful of reads.
 */
export async function indexTar(file: FileHandle, fileSize: number, label: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const header = Buffer.alloc(BLOCK);
  let offset = 0;
  let longName: string | null = null;
  let longLink: string | null = null;
  let pax: Record<string, string> = {};
  let sawEnd = false;

  const readAt = async (buf: Buffer, length: number, position: number) => {
    const { bytesRead } = await file.read(buf, 0, length, position);
    return bytesRead;
  };

  while (offset + BLOCK <= fileSize) {
    if ((await readAt(header, BLOCK, offset)) < BLOCK) break;
    if (header.every((b) => b === 0)) {
      sawEnd = true;
      break;
    }
    if (!checksumOk(header)) {
      throw new ScanError(
        offset === 0 ? `${label} is not a tar archive (and not an OCI layout directory)` : `${label}: corrupt tar header at byte ${offset}`,
      );
    }
    const typeFlag = String.fromCharCode(header[156]!);
    const size = pax.size !== undefined ? paxSize(pax.size) : parseNumber(header.subarray(124, 136));
    if (!Number.isSafeInteger(size) || size < 0) throw new ScanError(`${label}: invalid member size at byte ${offset}`);
    const headerOnly = headerOnlyType(typeFlag);
    if (declaresDataItCannotHave(headerOnly, size)) throw new ScanError(`${label}: ${headerOnly} member at byte ${offset} declares ${size} bytes of data`);
    const dataOffset = offset + BLOCK;
    if (dataOffset + size > fileSize) {
      throw new ScanError(`${label} is truncated: a member needs ${dataOffset + size} bytes but the file has ${fileSize}`);
    }
    const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;

    if (typeFlag === 'L' || typeFlag === 'K' || typeFlag === 'x' || typeFlag === 'g') {
      if (size > 1024 * 1024) throw new ScanError(`${label}: oversized tar extension header at byte ${offset}`);
      const data = Buffer.alloc(size);
      await readAt(data, size, dataOffset);
      if (typeFlag === 'L') longName = cString(data);
      else if (typeFlag === 'K') longLink = cString(data);
      else if (typeFlag === 'x') pax = parsePax(data);
      offset = next;
      continue;
    }

    const prefix = cString(header.subarray(345, 500));
    const baseName = cString(header.subarray(0, 100));
    const ustar = header.subarray(257, 262).toString('latin1') === 'ustar';
    const rawName = pax.path ?? longName ?? (ustar && prefix ? `${prefix}/${baseName}` : baseName);
    const linkName = pax.linkpath ?? longLink ?? (cString(header.subarray(157, 257)) || null);
    const name = memberName(rawName);
    members.set(name, { name, type: memberType(typeFlag), offset: dataOffset, size, linkName });
    longName = null;
    longLink = null;
    pax = {};
    offset = next;
  }
  if (!sawEnd) {
    if (members.size === 0) throw new ScanError(`${label} is not a tar archive (and not an OCI layout directory)`);
    throw new ScanError(`${label} is truncated: the tar archive ends without its end-of-archive marker`);
  }
  return members;
}

function memberType(flag: string): TarMember['type'] {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    default:
      return 'other';
  }
}

export function checksumOk(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  const stored = parseNumber(header.subarray(148, 156));
  return stored === sum;
}

/** Octal, or GNU base-256 when the top bit of the first byte is set (sizes over 8 GiB). */
function parseNumber(field: Uint8Array): number {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = Buffer.from(field).toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return parseInt(text, 8);
}

function cString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return Buffer.from(end === -1 ? buf : buf.subarray(0, end)).toString('utf8');
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const len = parseInt(data.subarray(pos, space).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > data.length) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}
