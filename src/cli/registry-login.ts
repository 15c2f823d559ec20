import type { ScanOptions } from '../types.js';
import type { ScanArgs } from './options.js';

/** --username with --password-stdin; a string is a usage error. The password is never echoed. */
export async function registryAuth(args: Pick<ScanArgs, 'username' | 'password-stdin' | 'target'>, stdin: NodeJS.ReadableStream): Promise<ScanOptions['registryAuth'] | string | undefined> {
  if (!args['password-stdin']) return args.username === undefined ? undefined : '--username needs --password-stdin (passwords are not taken on the command line)';
  if (args.username === undefined || args.username === '') return '--password-stdin needs --username';
  if (args.target === '-') return '--password-stdin cannot be used with - (standard input holds the image)';
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') return '--password-stdin read an empty password';
  return { username: args.username, password };
}
