// Runs the built CLI and, on exit, writes the process's peak RSS (KiB, worker threads included)
// to $STRATASCAN_RSS_FILE: the hostile corpus bounds memory, not only time.
import { writeFileSync } from 'node:fs';

const out = process.env.STRATASCAN_RSS_FILE;
if (out) process.on('exit', () => writeFileSync(out, String(process.resourceUsage().maxRSS)));
await import('../../dist/bin.js');
