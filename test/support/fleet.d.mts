export interface FleetImage { repo: string; tag: string; spec: unknown }
export interface Fleet { images: FleetImage[]; secrets: string[] }
export function makeFleet(shape: { bases?: number; apps: number; tagsPerApp?: number; bigLayerBytes?: number; baseLayerBytes?: number; appLayerBytes?: number; prefix?: string }): Fleet;
export function pushFleet(base: string, fleet: Fleet): Promise<{ diffIds: Set<string>; byRef: Map<string, string[]> }>;
export function newGithubToken(): string;
export function newAwsPair(): { id: string; secret: string };
