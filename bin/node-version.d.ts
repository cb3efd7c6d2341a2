export declare const MIN_NODE: readonly [number, number];
export declare function nodeVersionError(version: string): string | null;
