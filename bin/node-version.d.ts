export declare const MIN_NODE: readonly (readonly [number, number])[];
export declare const ENGINES: string;
export declare function nodeVersionError(version: string): string | null;
