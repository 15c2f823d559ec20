import type { ResolvedImage } from './source/resolve.js';
import type { FindingSource } from './types.js';

/**
 * The image config's free text as named pseudo-files, so detectors scan it like any file:
 * each env var and label on its own (the finding then names it), the command lines, and every
 * history step, where the classic builder records build args (`|1 TOKEN=… /bin/sh -c …`).
 */
export interface ConfigItem {
  source: FindingSource;
  key: string | null;
  layerIndex: number | null;
  text: string;
}

export function configItems(image: ResolvedImage): ConfigItem[] {
  const items: ConfigItem[] = [];
  const c = image.config.config ?? {};
  for (const entry of c.Env ?? []) {
    if (typeof entry !== 'string') continue;
    const eq = entry.indexOf('=');
    items.push({ source: 'env', key: eq > 0 ? entry.slice(0, eq) : entry, layerIndex: null, text: entry });
  }
  for (const [name, value] of Object.entries(c.Labels ?? {})) {
    items.push({ source: 'label', key: name, layerIndex: null, text: `${name}=${String(value)}` });
  }
  const commands: [string, string[] | null | undefined][] = [
    ['Entrypoint', c.Entrypoint],
    ['Cmd', c.Cmd],
    ['Healthcheck', c.Healthcheck?.Test],
    ['OnBuild', c.OnBuild],
  ];
  for (const [key, argv] of commands) {
    if (Array.isArray(argv) && argv.length > 0) items.push({ source: 'config', key, layerIndex: null, text: argv.join(' ') });
  }
  for (const step of image.history) {
    items.push({ source: 'history', key: `history[${step.position}]`, layerIndex: step.layerIndex, text: step.createdBy });
  }
  return items;
}
