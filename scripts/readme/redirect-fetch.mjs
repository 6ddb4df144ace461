// Preload for running the README's quickstarts unchanged, offline: requests to the providers' real
// hosts go to the emulator whose URLs are in the environment (as `tokenbroker emulate` prints them).
// Used by scripts/check-package.sh, scripts/newcomer.sh and test/readme.pkg.test.ts.
const routes = [
  ['https://public-api.demo.alternativepayments.io', process.env.TOKENBROKER_AP_BASE_URL],
  ['https://public-api.alternativepayments.io', process.env.TOKENBROKER_AP_BASE_URL],
  ['https://api-auth.autopay.io/oauth/token', process.env.TOKENBROKER_AUTOPAY_TOKEN_URL],
  ['https://api.autopay.io', process.env.TOKENBROKER_AUTOPAY_API_BASE_URL],
];
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const request = new Request(input, init);
  for (const [from, to] of routes) {
    if (to && request.url.startsWith(from)) return realFetch(new Request(to + request.url.slice(from.length), request));
  }
  // Loopback is the emulator itself (a snippet that starts one): left as it is.
  if (/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(request.url)) return realFetch(request);
  throw new Error(`the README quickstart tried to reach ${new URL(request.url).origin}, which this check does not route`);
};
