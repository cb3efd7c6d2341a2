/**
 * The command line that starts this program again: the same Node binary and flags, the same script, new arguments.
 * Node cannot fork(2) or exec(2), so a daemon, a USR2 successor and the process under a PID 1 init are all started
 * this way.
 */
export function selfCommand(argv: readonly string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: [...process.execArgv, process.argv[1]!, ...argv] };
}
