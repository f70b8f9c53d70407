export declare const SINK: unique symbol;
export declare function monoMs(): number;
export declare function record(p: { seq: number; t: number }): void;
