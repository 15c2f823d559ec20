import { ruleMemo } from '../cache/rule-memo.js';
import { DetectionEngine } from '../detect/engine.js';
import { loadRuleSet } from '../detect/rules.js';
import { describeError } from '../errors.js';
import { redact, redactWithin } from '../redact.js';
import { TOOL_VERSION } from '../version.js';

// V8's JSON.parse quotes the text it failed on: `Unexpected token 'g', "{"k": ghp_…" is not valid JSON`.
const JSON_EXCERPT = /, (?:\.\.\.)?".*?"(?:\.\.\.)? is not valid JSON/gs;

/**
 * Stderr text that may quote input the user pointed at: a config, baseline or ignore file is where
 * a pasted token ends up, and parsers quote the text they failed on (V8's JSON.parse an excerpt,
 * the yaml library a code frame). Excerpts are dropped, and whatever a detector calls a secret is
 * redacted; the detectors load only when there is something to write.
 */
export class StderrScrubber {
  private engine: DetectionEngine | null | undefined;
  private detectorsDir: string | undefined;
  private memoDir: string | null = null;

  configure(detectorsDir: string | undefined, memoDir: string | null): void {
    this.detectorsDir = detectorsDir;
    this.memoDir = memoDir;
    this.engine = undefined;
  }

  text(text: string): string {
    const out = text.replace(JSON_EXCERPT, ' (not valid JSON)');
    if (out.trim() === '') return out;
    const engine = this.load();
    if (!engine) return out;
    return redactWithin(out, engine.scan(Buffer.from(out, 'utf8')).map((m) => m.secret));
  }

  /** describeError with each message scrubbed before it is joined (and possibly shortened). */
  error(err: unknown): string {
    const chain: unknown[] = [];
    for (let current = err; current !== undefined && current !== null && chain.length < 8; current = current instanceof Error ? current.cause : undefined) {
      chain.push(current);
    }
    let rebuilt: Error | undefined;
    for (const e of chain.reverse()) {
      const message = e instanceof Error ? e.message : String(e);
      // The first line says what and where (line, column); the rest is a frame of the input.
      const own = e instanceof Error && e.name.startsWith('YAML') ? message.split('\n', 1)[0]!.replace(/:$/, '') : message;
      rebuilt = new Error(this.text(own), rebuilt === undefined ? undefined : { cause: rebuilt });
    }
    return describeError(rebuilt);
  }

  private load(): DetectionEngine | null {
    if (this.engine !== undefined) return this.engine;
    try {
      const memo = this.memoDir === null ? undefined : ruleMemo(this.memoDir, TOOL_VERSION);
      this.engine = new DetectionEngine(loadRuleSet(this.detectorsDir, memo).rules);
    } catch {
      // Broken detectors are themselves the error being reported: scrub without them.
      this.engine = null;
    }
    return this.engine;
  }
}

/**
 * yargs repeats what it rejected (`Given: "…"`, `Unknown arguments: …`), which may be a value
 * from a config file. One long enough, with letters and digits, and not a mistyped flag name
 * (lower-case words and dashes), could be a pasted secret of a format no detector knows.
 */
export function scrubUsage(message: string): string {
  const secretLike = (v: string) => v.length >= 16 && /\d/.test(v) && /[A-Za-z]/.test(v) && !/^[a-z]+(?:-[a-z0-9]+)*$/.test(v);
  const hide = (value: string) => (secretLike(value) ? redact(value) : value);
  return message
    .replace(/Given: "([^"]*)"/g, (_m, value: string) => `Given: "${hide(value)}"`)
    .replace(/^(Unknown arguments?: )(.*)$/gm, (_m, head: string, list: string) => head + list.split(', ').map(hide).join(', '));
}
