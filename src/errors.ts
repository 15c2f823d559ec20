/**
 * An error the user can act on: the image or the input is at fault, not stratascan.
 * The CLI prints these as one line and exits 2.
 */
export class ScanError extends Error {
  override name = 'ScanError';
}

/** One line, outermost context first: "reading layer 2: unexpected end of file". */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    const message = current instanceof Error ? current.message : String(current);
    if (message && !parts.includes(message)) parts.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ').replace(/[\r\n\t]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '?');
}
