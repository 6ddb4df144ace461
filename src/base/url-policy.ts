/**
 * Which URLs tokenbroker may send credentials to, a leaf: `https://` anywhere, `http://` only to a
 * loopback host (the emulator, tests), never with user info in the URL.
 */

/** A dotted-quad IPv4 address, each octet 0–255 without leading zeros (what `net.isIP` accepts as IPv4). */
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * True for `localhost`, `127.0.0.0/8` and `::1` (bracketed or not): the only hosts that may be reached
 * over `http://`, and the only ones the emulator listens on. Checked by regular expression rather than
 * `node:net`'s `isIP`, which would load the whole networking stack with the package.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || host === '::1' || (IPV4.test(host) && host.startsWith('127.'));
}

/**
 * Checks a configured URL: it must parse, be `https://` (or `http://` to a loopback host) and carry no
 * user info. Returns the problem at `path`, or undefined when the URL is fine.
 */
export function urlIssue(value: string, path: string): { path: string; message: string } | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { path, message: 'is not a valid absolute URL' };
  }
  if (url.username !== '' || url.password !== '') return { path, message: 'must not contain credentials' };
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return isLoopbackHost(url.hostname) ? undefined : { path, message: `must use https:// (http:// is allowed only for loopback hosts, not ${url.hostname})` };
  }
  return { path, message: `must use https://, not ${url.protocol}` };
}
