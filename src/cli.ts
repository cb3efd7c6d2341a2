/**
 * Command-line entry: argv → settings → the arbiter, or one of the
 * one-shot modes (--help, --version, --print-config, --check-config).
 * Every user-facing failure ends here as one line and an exit code.
 */
import process from 'node:process';
import { parseAppSpec } from './config/app-spec.js';
import { helpText } from './config/cli-args.js';
import { type ResolvedConfig, parseCommandLine, printConfig, resolveConfig } from './config/resolve.js';
import { daemonize, isDaemonChild, removeDaemonMarker } from './arbiter/platform/daemon.js';
import { ExitCode, TsuError, describeError } from './errors.js';
import { type Logger, createLogger } from './log/logger.js';
import { VERSION } from './version.js';

function report(err: unknown, log: Logger | null, debug: boolean): number {
  const tsu = err instanceof TsuError ? err : null;
  const line = describeError(err);
  if (log) {
    if (tsu) log.error(line);
    else log.critical(`${line}${debug || !tsu ? `\n${(err as Error)?.stack ?? ''}` : ''}`);
  } else {
    process.stderr.write(`tsunicorn: error: ${line}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  }
  return tsu ? tsu.exitCode : ExitCode.RUNTIME;
}

async function checkConfig(config: ResolvedConfig): Promise<number> {
  const { settings } = config;
  const parsed = parseAppSpec(settings.app!);
  if (!parsed.ok) throw new TsuError('TSU_ERR_BAD_APP_SPEC', parsed.problem);
  // What the arbiter checks before binding: --user/--group, and the TLS files with the sslContext hook.
  (await import('./arbiter/platform/privileges.js')).resolveIdentity(settings);
  await (await import('./arbiter/sockets/tls.js')).checkTls(settings, config.hooks);
  const { loadApp } = await import('./worker/app/app-loader.js');
  const app = await loadApp(parsed.spec, settings.interface, process.cwd());
  process.stdout.write(`Config OK; app ${settings.app} loads as a ${app.interface} handler from ${app.file}\n`);
  return ExitCode.OK;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const env = process.env;
  const launchCwd = process.cwd();
  let log: Logger | null = null;
  let debug = argv.includes('debug');
  if (argv[0] === 'ctl') {
    // `tsunicorn ctl COMMAND …`: a client of a running arbiter's control socket.
    const { ctlMain } = await import('./ctl/ctl.js');
    return ctlMain(argv.slice(1), env, launchCwd);
  }
  try {
    const parsed = await parseCommandLine(argv, env);
    if (parsed.cli.help) {
      process.stdout.write(`${await helpText()}\n`);
      return ExitCode.OK;
    }
    if (parsed.cli.version) {
      process.stdout.write(`tsunicorn (version ${VERSION})\n`);
      return ExitCode.OK;
    }
    const config = await resolveConfig({ argv, env, cwd: launchCwd }, parsed);
    const { settings } = config;
    debug = settings.logLevel === 'debug';
    if (settings.printConfig) {
      process.stdout.write(`${printConfig(settings)}\n`);
      return ExitCode.OK;
    }
    if (!settings.app) {
      throw new TsuError('TSU_ERR_NO_APP', 'no app given: tsunicorn [OPTIONS] MODULE[:EXPORT] (see tsunicorn --help)');
    }
    if (settings.chdir) {
      try {
        process.chdir(settings.chdir);
      } catch (err) {
        throw new TsuError(
          'TSU_ERR_INVALID_SETTING',
          `invalid value for --chdir: ${JSON.stringify(settings.chdir)} ` +
            `(${(err as NodeJS.ErrnoException).code ?? 'cannot change directory'})`,
        );
      }
    }
    if (settings.checkConfig) return await checkConfig(config);

    if (settings.daemon && !isDaemonChild(env)) {
      daemonize(argv, env, settings.errorLogfile);
      return ExitCode.OK;
    }
    removeDaemonMarker(env);
    log = createLogger({ level: settings.logLevel, format: settings.logFormat, destination: settings.errorLogfile });
    const { Arbiter } = await import('./arbiter/arbiter.js');
    return await new Arbiter({ config, argv, env, cwd: launchCwd, log }).run();
  } catch (err) {
    return report(err, log, debug);
  }
}
