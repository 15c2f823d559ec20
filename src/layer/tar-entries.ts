/**
 * The one place where a tar entry's header is judged before its data is read, for every reader:
 * layers (walk.ts), an image on standard input (source/stream.ts), the members of an image file
 * (source/tar-index.ts, which reads headers itself) and archives inside layers (nested.ts).
 *
 * The rules are Go's archive/tar's, because that is what `docker load` and dockerd extract with:
 * where tar-stream is more lenient, the two would disagree on where an entry ends, and a reader
 * that follows tar-stream would walk a different archive from the one the daemon unpacks.
 */
import type { Header } from 'tar-stream';

/** A PAX `size` record: decimal digits only, few enough to be a safe integer. */
const PAX_SIZE = /^\d{1,16}$/;

/** Typeflags for which Go reads no data whatever the size field says (tar-stream reads it), by their tar-stream names. */
const HEADER_ONLY_FLAGS: Readonly<Record<string, string>> = { 1: 'link', 2: 'symlink', 3: 'character-device', 4: 'block-device', 6: 'fifo' };
const HEADER_ONLY = new Set(Object.values(HEADER_ONLY_FLAGS));

/** tar-stream's name for a header-only typeflag character, for readers that decode headers themselves. */
export function headerOnlyType(typeFlag: string): string | null {
  return HEADER_ONLY_FLAGS[typeFlag] ?? null;
}

/**
 * The size a PAX `size` record gives, or NaN when Go would reject it. tar-stream's parseInt
 * reads "1e3" as 1 and " 12" as 12; Go takes neither.
 */
export function paxSize(record: string): number {
  return PAX_SIZE.test(record) ? Number(record) : Number.NaN;
}

/** A header-only entry (link, device, fifo) that declares data: readers would disagree on where the next entry starts. */
export function declaresDataItCannotHave(type: string | null | undefined, size: number): boolean {
  return size > 0 && HEADER_ONLY.has(type ?? '');
}

/**
 * Throws when `header` (as tar-stream decoded it, PAX records applied) is one Go's archive/tar
 * would reject or read differently; `name` is how the error names the entry.
 */
export function checkEntryHeader(header: Header, name: string = header.name): void {
  const pax = header.pax as Record<string, string> | null | undefined;
  if (pax?.size !== undefined && Number.isNaN(paxSize(pax.size))) throw new Error(`${name} has an invalid PAX size`);
  const size = header.size ?? 0;
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${name} has an invalid size`);
  // Hidden behind such a size, an entry would be seen by one reader and not the other.
  if (declaresDataItCannotHave(header.type, size)) throw new Error(`${header.type} ${name} declares ${size} bytes of data`);
}

/**
 * The entries of a tar-stream extractor, each header checked before it is handed on. A stream
 * that ends inside an entry fails the iteration (tar-stream: "Unexpected end of data").
 */
export async function* checkedEntries<E extends { header: Header }>(extract: AsyncIterable<E>, nameOf: (header: Header) => string = (h) => h.name): AsyncGenerator<E> {
  for await (const entry of extract) {
    checkEntryHeader(entry.header, nameOf(entry.header));
    yield entry;
  }
}
