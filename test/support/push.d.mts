export interface PushableImage {
  layers: { digest: string; blob: Buffer; diffId: string }[];
  configDigest: string;
  configBytes: Buffer;
  manifestBytes: Buffer;
}
export function pushImage(base: string, repo: string, tag: string, image: PushableImage): Promise<void>;
