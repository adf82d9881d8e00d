/**
 * The one URL check of the spec. The CRD's CEL rules call Kubernetes' URL
 * library (`isURL(self)`, `url(self).getPort()`), which parses with Go's
 * `url.ParseRequestURI`; the library evaluates the same rules with the same
 * functions implemented here: Go's parse (as the apiserver does) **and** the
 * WHATWG URL parse the renderer uses (`new URL`), so whatever the library
 * admits, the renderer can read. Where Go admits what WHATWG refuses (a host
 * with `<`, an IPv6 literal that is not one), the apiserver admits and the
 * library (and so the controller, as `Degraded`) refuses with the field path.
 */

/** What Kubernetes' `url()` exposes (k8s.io/apiserver/pkg/cel/library/urls.go). */
export class CelUrl {
  constructor(
    public readonly scheme: string,
    public readonly host: string,
    public readonly hostname: string,
    public readonly port: string,
    public readonly escapedPath: string,
    public readonly rawQuery: string,
  ) {}
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;
// net/url validUserinfo: unreserved, sub-delims, ':', '%', '@'.
const USERINFO = /^[-A-Za-z0-9._~!$&'()*+,;=:%@]*$/;
// net/url shouldEscape(c, encodeHost) is false for these (and alphanumerics).
const HOST_CHARS = /^[-A-Za-z0-9_.~!$&'()*+,;=:[\]<>"%]*$/;

/** Go's `url.ParseRequestURI`, as far as Kubernetes' `isURL`/`url` see it; undefined where Go returns an error. */
export function goParseRequestUri(s: string): CelUrl | undefined {
  // stringContainsCTLByte
  if (/[\x00-\x1f\x7f]/.test(s)) return undefined;
  const scheme = SCHEME.exec(s);
  if (!scheme) return s.startsWith('/') ? new CelUrl('', '', '', '', s.split('?')[0], s.split('?').slice(1).join('?')) : undefined;
  let rest = s.slice(scheme[0].length);
  const q = rest.indexOf('?');
  const rawQuery = q >= 0 ? rest.slice(q + 1) : '';
  if (q >= 0) rest = rest.slice(0, q);
  if (!rest.startsWith('/')) return undefined; // ParseRequestURI: an opaque URL is invalid
  let host = '';
  let hostname = '';
  let port = '';
  if (rest.startsWith('//')) {
    let authority = rest.slice(2);
    const slash = authority.indexOf('/');
    rest = slash >= 0 ? authority.slice(slash) : '';
    if (slash >= 0) authority = authority.slice(0, slash);
    const at = authority.lastIndexOf('@');
    if (at >= 0) {
      const user = authority.slice(0, at);
      if (!USERINFO.test(user) || !validEscapes(user)) return undefined;
      authority = authority.slice(at + 1);
    }
    if (authority.startsWith('[')) {
      const close = authority.lastIndexOf(']');
      if (close < 0) return undefined; // missing ']' in host
      const colonPort = authority.slice(close + 1);
      if (!validOptionalPort(colonPort)) return undefined;
      hostname = authority.slice(1, close);
      port = colonPort.slice(1);
    } else {
      const colon = authority.lastIndexOf(':');
      if (colon >= 0) {
        if (!validOptionalPort(authority.slice(colon))) return undefined;
        hostname = authority.slice(0, colon);
        port = authority.slice(colon + 1);
      } else {
        hostname = authority;
      }
    }
    if (!HOST_CHARS.test(authority) || !validEscapes(authority, true)) return undefined;
    host = authority;
  }
  if (!validEscapes(rest)) return undefined;
  return new CelUrl(scheme[1].toLowerCase(), host, hostname, port, rest, rawQuery);
}

function validOptionalPort(colonPort: string): boolean {
  return colonPort === '' || /^:[0-9]*$/.test(colonPort);
}

/** net/url unescape: every `%` starts two hex digits; in a host, only `%25` may encode a byte below 0x80. */
function validEscapes(s: string, host = false): boolean {
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '%') continue;
    const hex = s.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return false;
    if (host && parseInt(hex[0], 16) < 8 && hex !== '25') return false;
    i += 2;
  }
  return true;
}

/** The renderer's parse: the WHATWG URL with a host, or undefined. */
export function whatwgUrl(s: string): URL | undefined {
  try {
    const u = new URL(s);
    return u.hostname ? u : undefined;
  } catch {
    return undefined;
  }
}

/** Kubernetes' `isURL(string)`, and in the library also the renderer's WHATWG parse. */
export function isUrl(s: string): boolean {
  const go = goParseRequestUri(s);
  if (!go) return false;
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(s)) return true;
  // The port's range is the business of the rule on `url(self).getPort()`, with its own message: WHATWG is asked
  // about the rest with a port it accepts.
  const portless = go.port ? s.replace(`${go.host}`, go.host.slice(0, go.host.length - go.port.length) + '1') : s;
  return whatwgUrl(portless) !== undefined;
}

/** Kubernetes' `url(string)`: an error (here: a throw, which the validator reports) for what `isURL` refuses. */
export function celUrl(s: string): CelUrl {
  const u = isUrl(s) ? goParseRequestUri(s) : undefined;
  if (!u) throw new Error(`URL parse error during conversion from string: ${s}`);
  return u;
}

/** Port of an http(s) URL, explicit or the scheme's. */
export function urlPort(url: string): number {
  const u = new URL(url);
  return u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
}
