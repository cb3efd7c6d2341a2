// Numeric options of the single-purpose bench scripts (run.js validates its own and exits on a bad one).

/**
 * `--NAME N` from the command line: N when it is a positive number, else `dflt`.
 * @param {string} name
 * @param {number} dflt
 */
export function numberOption(name, dflt) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}
