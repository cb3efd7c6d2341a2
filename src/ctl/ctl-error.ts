/** A `tsunicorn ctl` failure: its one-line message and the exit code it ends with (1, or 2 for usage). */
import { ExitCode } from '../errors.js';

export class CtlError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export const usage = (message: string) => new CtlError(`${message} (see tsunicorn ctl --help)`, ExitCode.USAGE);
