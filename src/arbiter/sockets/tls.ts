/**
 * TLS for the listeners (--certfile, --keyfile, --ca-certs, --cert-reqs,
 * --ciphers and the `sslContext` hook).
 *
 * The arbiter reads the certificate and key files and checks them by building
 * a secure context before it forks (at start, and again on HUP), so a missing
 * file, a key that does not match or a bad cipher list is one line and exit
 * code 2 — never a worker that fails to boot over and over. The PEM text goes
 * to the workers in their boot message: with --user they never need to read
 * the key file, which can stay readable by root only.
 *
 * The `sslContext` hook adjusts the options (add SNI, pin protocols, …); it
 * runs in the arbiter for that check and in each worker to build its servers.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { Hooks } from '../../config/hooks.js';
import type { Settings } from '../../config/settings.js';
import { TsuError, describeError } from '../../errors.js';

/** What the arbiter read from disk, sent to workers. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string | null;
}

type TlsSettings = Pick<Settings, 'certfile' | 'keyfile' | 'caCerts' | 'certReqs' | 'ciphers'>;

function readPem(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new TsuError(
      'TSU_ERR_TLS',
      `cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}`,
      { cause: err },
    );
  }
}

/** Reads the files named by the settings; null without --certfile. Throws TSU_ERR_TLS. */
export function readTlsMaterial(settings: TlsSettings): TlsMaterial | null {
  if (!settings.certfile) {
    if (settings.keyfile) throw new TsuError('TSU_ERR_TLS', '--keyfile needs --certfile');
    return null;
  }
  const cert = readPem(settings.certfile, '--certfile');
  const key = settings.keyfile ? readPem(settings.keyfile, '--keyfile') : cert;
  const ca = settings.caCerts ? readPem(settings.caCerts, '--ca-certs') : null;
  return { cert, key, ca };
}

/** The server options from the settings and the material, then the `sslContext` hook's adjustments. */
export async function serverTlsOptions(
  settings: TlsSettings & Readonly<Settings>,
  material: TlsMaterial,
  hooks: Hooks,
): Promise<tls.TlsOptions> {
  const options: tls.TlsOptions = {
    cert: material.cert,
    key: material.key,
    requestCert: settings.certReqs !== 'none',
    rejectUnauthorized: settings.certReqs === 'required',
    ALPNProtocols: ['http/1.1'],
  };
  if (material.ca) options.ca = material.ca;
  if (settings.ciphers) options.ciphers = settings.ciphers;
  if (typeof hooks.sslContext === 'function') {
    try {
      const returned = await hooks.sslContext(settings, options);
      if (returned && typeof returned === 'object') return returned;
    } catch (err) {
      throw new TsuError('TSU_ERR_TLS', `the sslContext hook threw: ${describeError(err)}`, { cause: err });
    }
  }
  return options;
}

/** Explains why OpenSSL refused the options, naming the setting where it can. */
function explain(err: unknown, settings: TlsSettings): string {
  const msg = describeError(err);
  if (/key values mismatch/i.test(msg))
    return `--keyfile ${settings.keyfile ?? settings.certfile} does not match --certfile ${settings.certfile}`;
  if (/no start line|bad end line|bad base64|PEM|ASN1|DECODER/i.test(msg)) {
    const which = /key/i.test(msg)
      ? `--keyfile ${settings.keyfile ?? settings.certfile}`
      : `--certfile ${settings.certfile}`;
    return `${which} is not a valid PEM file (${msg})`;
  }
  if (/cipher/i.test(msg)) return `--ciphers ${JSON.stringify(settings.ciphers)}: ${msg}`;
  return msg;
}

/**
 * Arbiter side: read the files, apply the hook and build a secure context
 * once, so that whatever workers will do has been done successfully. Throws
 * TSU_ERR_TLS (exit 2) with one line naming the file or setting.
 */
export async function checkTls(settings: Readonly<Settings>, hooks: Hooks): Promise<TlsMaterial | null> {
  const material = readTlsMaterial(settings);
  if (!material) return null;
  if (settings.proxyProtocol) {
    // The PROXY header comes before the TLS handshake, and Node's TLS server cannot be handed bytes already read.
    throw new TsuError(
      'TSU_ERR_INVALID_SETTING',
      '--proxy-protocol cannot be combined with --certfile: terminate TLS at the proxy, or drop one of them',
    );
  }
  const options = await serverTlsOptions(settings, material, hooks);
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new TsuError('TSU_ERR_TLS', `invalid TLS configuration: ${explain(err, settings)}`, { cause: err });
  }
  return material;
}
