/**
 * Which addresses a webhook may be sent to. A webhook URL is chosen by the caller, so without a
 * check Kiln would POST to its own Redis, the cloud metadata service or the operator's intranet
 * (server-side request forgery). Loopback, link-local, private, shared (CGNAT), multicast and
 * reserved ranges are refused, for IPv4 and IPv6. An IPv6 address that stands for an IPv4 one
 * (mapped, SIIT-translated, compatible, NAT64, 6to4, Teredo, ISATAP) is refused when the IPv4
 * address it carries is not public: a translator or tunnel on the way would deliver to it. IPv4
 * spellings (decimal, octal, hex, short) are normalised by the URL parser before any check. Every
 * address a host name resolves to is checked, and the delivery checks again both the DNS answer
 * and the address its socket connected to (see http-delivery.ts), so DNS rebinding between the
 * check and the connection cannot slip through.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const BLOCKED_V4: ReadonlyArray<[string, number]> = [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // shared address space (carrier-grade NAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata lives here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
];

const BLOCKED_V6: ReadonlyArray<[string, number]> = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  // NAT64 local-use prefix (RFC 8215), refused outright: the operator picks the prefix length
  // inside it (/48 to /96), so where the IPv4 address sits is known only to their translator, and
  // every reading of it would have to be public. DNS64 with the well-known 64:ff9b::/96 is checked.
  ['64:ff9b:1::', 48],
  ['100::', 64], // discard-only
  ['2001:2::', 48], // benchmarking
  ['2001:10::', 28], // ORCHID (deprecated), not routable
  ['2001:20::', 28], // ORCHIDv2, not routable
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation (RFC 9637)
  ['5f00::', 16], // SRv6 segment identifiers, never globally reachable
  ['fc00::', 7], // unique local (private)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still private)
  ['ff00::', 8], // multicast
];

const blockList = new BlockList();
for (const [net, prefix] of BLOCKED_V4) blockList.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of BLOCKED_V6) blockList.addSubnet(net, prefix, 'ipv6');

/** The 16 bytes of an IPv6 address (textual forms with `::` and a trailing dotted quad included). */
function ipv6Bytes(address: string): Uint8Array {
  const bytes = new Uint8Array(16);
  let text = address.split('%')[0]; // zone id
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    const hi = ((a << 8) | b).toString(16);
    const lo = ((c << 8) | d).toString(16);
    text = `${text.slice(0, dotted.index)}${hi}:${lo}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((group, i) => {
    const value = parseInt(group || '0', 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}

const v4FromBytes = (b: Uint8Array, at: number, mask = 0) =>
  `${b[at] ^ mask}.${b[at + 1] ^ mask}.${b[at + 2] ^ mask}.${b[at + 3] ^ mask}`;

/**
 * The IPv4 addresses an IPv6 address leads to through a translator or a tunnel (the node may sit
 * behind one, or run one), or none. Teredo carries two: its server and, inverted, its client.
 */
function embeddedIpv4(bytes: Uint8Array): string[] {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  const is = (at: number, ...values: number[]) => values.every((v, i) => bytes[at + i] === v);
  if (zeros(0, 10) && is(10, 0xff, 0xff)) return [v4FromBytes(bytes, 12)]; // ::ffff:a.b.c.d, mapped
  if (zeros(0, 8) && is(8, 0xff, 0xff, 0, 0)) return [v4FromBytes(bytes, 12)]; // ::ffff:0:a.b.c.d, SIIT
  if (zeros(0, 12) && !zeros(12, 16)) return [v4FromBytes(bytes, 12)]; // ::a.b.c.d (deprecated "compatible")
  if (is(0, 0x00, 0x64, 0xff, 0x9b) && zeros(4, 12)) return [v4FromBytes(bytes, 12)]; // 64:ff9b::/96, NAT64
  if (is(0, 0x20, 0x02)) return [v4FromBytes(bytes, 2)]; // 2002:AABB:CCDD::/48, 6to4
  if (is(0, 0x20, 0x01, 0, 0)) return [v4FromBytes(bytes, 4), v4FromBytes(bytes, 12, 0xff)]; // 2001::/32, Teredo
  // ISATAP interface identifier (…:0:5efe:a.b.c.d or …:200:5efe:a.b.c.d) under any prefix
  if ((is(8, 0, 0) || is(8, 0x02, 0)) && is(10, 0x5e, 0xfe)) return [v4FromBytes(bytes, 12)];
  return [];
}

/**
 * True when `address` (an IPv4 or IPv6 literal) is loopback, private, link-local or otherwise not
 * public, or an IPv6 address that carries such an IPv4 address.
 */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address.split('%')[0]);
  if (family === 4) return blockList.check(address, 'ipv4');
  if (family !== 6) return true; // not an address at all: never "public"
  const plain = address.split('%')[0];
  if (blockList.check(plain, 'ipv6')) return true;
  return embeddedIpv4(ipv6Bytes(plain)).some((v4) => blockList.check(v4, 'ipv4'));
}

/** Why a webhook URL is refused; `reason` is one line for the API's 422 and the attempt log. */
export class WebhookUrlRefused extends Error {
  override readonly name = 'WebhookUrlRefused';
  constructor(
    readonly reason: string,
    /** True when the refusal may pass later (DNS failure) rather than being final. */
    readonly transient = false,
  ) {
    super(reason);
  }
}

export interface UrlCheckOptions {
  /** `KILN_WEBHOOK_ALLOW_PRIVATE=1`: skip the address check (tests, trusted intranets). */
  allowPrivate: boolean;
  /** DNS resolution, replaceable in tests; default: the system resolver (getaddrinfo, all addresses). */
  resolve?: (host: string) => Promise<string[]>;
}

const systemResolve = async (host: string) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** The host of a URL without IPv6 brackets. */
export function urlHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * Checks a webhook URL: http(s), no credentials, and (unless private targets are allowed) every
 * address its host resolves to is public. Throws {@link WebhookUrlRefused}; returns the addresses.
 */
export async function checkWebhookUrl(raw: string, options: UrlCheckOptions): Promise<string[]> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookUrlRefused('webhook_url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WebhookUrlRefused('webhook_url must be an http or https URL');
  }
  if (url.username || url.password) throw new WebhookUrlRefused('webhook_url must not carry credentials');
  const host = urlHost(url);
  if (options.allowPrivate) return [];
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = await (options.resolve ?? systemResolve)(host);
    } catch (err) {
      throw new WebhookUrlRefused(
        `webhook_url host ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'DNS error'})`,
        true,
      );
    }
    if (addresses.length === 0) throw new WebhookUrlRefused(`webhook_url host ${host} does not resolve`, true);
  }
  const blocked = addresses.find(isPrivateAddress);
  if (blocked !== undefined) {
    throw new WebhookUrlRefused(
      `webhook_url ${host === blocked ? 'is' : `resolves to`} ${blocked}, not a public address ` +
        '(loopback, private, link-local, reserved, or an IPv6 form of one); ' +
        'webhooks go to public addresses only (the operator can allow private ones with KILN_WEBHOOK_ALLOW_PRIVATE=1)',
    );
  }
  return addresses;
}
