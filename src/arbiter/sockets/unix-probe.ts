import net from 'node:net';

/** Whether a server answers on a unix socket path: a live socket file is in use, a dead one is left over. */
export function unixSocketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
