#!/usr/bin/env node
import { INTERRUPTED_MESSAGE, interruptedExitCode, main } from './cli.js';
import { tuneForScanning } from './runtime.js';

tuneForScanning();

// Ctrl-C and SIGTERM cancel the scan (workers end, streams close, no report file is left) and exit
// 128 + the signal's number. A second signal, or a cancel that has not finished within the grace
// period (a registry request nothing can interrupt), exits at once with the same code.
const GRACE_MS = 2000;
const controller = new AbortController();
let finished = false;
const forceExit = (signal: NodeJS.Signals) => {
  if (!finished) process.stderr.write(`${INTERRUPTED_MESSAGE}\n`);
  process.exit(interruptedExitCode(signal));
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) return forceExit(signal);
    controller.abort(signal);
    setTimeout(() => forceExit(signal), GRACE_MS).unref();
  });
}

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, signal: controller.signal }).then(
  (code) => {
    finished = true;
    // Something cancelled may still hold the event loop open (a socket); the work is over either way.
    if (controller.signal.aborted) process.exit(code);
    process.exitCode = code;
  },
  (err: unknown) => {
    finished = true;
    // main() reports its own errors; reaching here is a bug, still worth one line and exit 2.
    process.stderr.write(`stratascan: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
