/**
 * Module interop. An ES module compiled to CommonJS (a .ts file outside a
 * `"type": "module"` package, loaded through tsx; Babel or tsc output) reaches
 * `import()` as a namespace whose `default` is the compiled `exports` object,
 * marked `__esModule`. Its real exports are the properties of that object.
 */
export function moduleExports(ns: Record<string, unknown>): Record<string, unknown> {
  const inner = ns.default as Record<string, unknown> | null | undefined;
  if (inner !== null && typeof inner === 'object' && inner.__esModule === true) return inner;
  return ns;
}
