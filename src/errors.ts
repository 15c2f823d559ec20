/**
 * An error the user can act on: the image or the input is at fault, not stratascan.
 * The CLI prints these as one line and exits 2.
 */
export class ScanError extends Error {
  override name = 'ScanError';
}

// Messages quote the image (names, tags, platforms): no part may run on for pages.
const MAX_PART = 500;

/**
 * One line, outermost context first: "reading layer 2: unexpected end of file". Messages quote
 * strings from the image, so line breaks become spaces and every other control (C0, DEL, C1 such
 * as the one-byte CSI, bidi overrides) becomes "?": nothing can move the cursor or reorder text.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a thrown non-Error has no message: String() is all there is, and prints none of its fields
    const message = current instanceof Error ? current.message : String(current);
    const part = message.length > MAX_PART ? `${message.slice(0, MAX_PART - 1)}…` : message;
    if (part && !parts.includes(part)) parts.push(part);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts
    .join(': ')
    .replace(/[\r\n\t\v\f\u0085\u2028\u2029]+/g, ' ')
    .replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');
}
