// The bench app, fetch interface (`export default { fetch }`): the same endpoints and
// bytes as hello.mjs, for comparing tsunicorn's fetch adapter with its node interface.
import { HELLO, burnCpu, ioWait } from './work.mjs';

const hello = () => new Response(HELLO, { headers: { 'content-type': 'text/plain' } });

export default {
  /** @param {Request} request */
  async fetch(request) {
    // The path without a URL parse: the URL is always absolute (scheme://host/path).
    const url = request.url;
    const path = url.slice(url.indexOf('/', url.indexOf('//') + 2));
    switch (path) {
      case '/io':
        await ioWait();
        return hello();
      case '/cpu':
        burnCpu();
        return hello();
      case '/pid':
        return new Response(String(process.pid), { headers: { 'content-type': 'text/plain' } });
      default:
        return hello();
    }
  },
};
