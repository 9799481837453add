import { describe, expect, it } from 'vitest';
import { WebhookUrlRefused, checkWebhookUrl, isPrivateAddress } from './address-policy.js';

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '198.18.0.5',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '2002:c0a8:0101::1',
    '::127.0.0.1',
    // SIIT (::ffff:0:0/96), NAT64 well-known prefix, 6to4 carrying a non-public IPv4 address
    '::ffff:0:127.0.0.1',
    '::ffff:0:a00:1',
    '64:ff9b::127.0.0.1',
    '64:ff9b::10.0.0.1',
    '2002:7f00:1::1',
    '2002:a9fe:a9fe::1',
    // NAT64 local-use prefix: refused whatever it carries
    '64:ff9b:1::808:808',
    '64:ff9b:1:ab::8.8.8.8',
    // Teredo: a private client (127.0.0.1, stored inverted) behind a public server, and a private server
    '2001:0:4136:e378:8000:63bf:80ff:fffe',
    '2001:0:a00:1:8000:63bf:f7f7:f7f7',
    // ISATAP interface identifiers carrying a private address, under a public prefix
    '2606:4700:1:2:0:5efe:10.0.0.1',
    '2606:4700:1:2:200:5efe:192.168.0.1',
    // benchmarking, ORCHIDv2, documentation, SRv6
    '2001:2::1',
    '2001:20::1',
    '3fff::1',
    '5f00::1',
  ])('refuses %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:81b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '::ffff:0:8.8.8.8',
    '2002:808:808::1',
    '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
    '2606:4700:1:2:200:5efe:8.8.8.8',
  ])('accepts %s', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it('treats what is not an address as not public', () => {
    expect(isPrivateAddress('example.com')).toBe(true);
  });
});

describe('checkWebhookUrl', () => {
  const resolveTo = (addresses: string[]) => async () => addresses;
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: unknown) => err as WebhookUrlRefused,
    );

  it('accepts a host whose every address is public', async () => {
    await expect(
      checkWebhookUrl('https://hooks.example.com/x', {
        allowPrivate: false,
        resolve: resolveTo(['93.184.216.34', '2606:2800:220:1::1']),
      }),
    ).resolves.toHaveLength(2);
  });

  it('refuses a host with any private address among its addresses (IPv4 or IPv6)', async () => {
    const err = await refusal(
      checkWebhookUrl('https://hooks.example.com/x', {
        allowPrivate: false,
        resolve: resolveTo(['93.184.216.34', 'fd00::5']),
      }),
    );
    expect(err).toBeInstanceOf(WebhookUrlRefused);
    expect(err!.reason).toMatch(/resolves to fd00::5/);
  });

  it('refuses literal loopback and link-local addresses in every spelling, and localhost through real DNS', async () => {
    const urls = [
      'http://127.0.0.1:9/x',
      'http://[::1]/x',
      'http://169.254.169.254/latest/meta-data',
      'http://localhost:8080/',
      'http://2130706433/',
      'http://0177.0.0.1/',
      'http://0x7f.1/',
      'http://127.1/',
      'http://[fe80::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::ffff:0:127.0.0.1]/',
      'http://[64:ff9b::169.254.169.254]/',
      'http://[2002:a9fe:a9fe::1]/',
    ];
    for (const url of urls) {
      expect((await refusal(checkWebhookUrl(url, { allowPrivate: false })))?.reason, url).toMatch(
        /not a public address/,
      );
    }
  });

  it('allows private targets when the operator says so', async () => {
    await expect(checkWebhookUrl('http://127.0.0.1:9/x', { allowPrivate: true })).resolves.toEqual([]);
  });

  it('refuses other schemes, credentials and unresolvable hosts', async () => {
    expect((await refusal(checkWebhookUrl('ftp://example.com/', { allowPrivate: true })))?.reason).toMatch(
      /http or https/,
    );
    expect((await refusal(checkWebhookUrl('https://u:p@example.com/', { allowPrivate: true })))?.reason).toMatch(
      /credentials/,
    );
    const failing = async () => {
      throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
    };
    const err = await refusal(checkWebhookUrl('https://nowhere.invalid/', { allowPrivate: false, resolve: failing }));
    expect(err?.reason).toMatch(/does not resolve \(ENOTFOUND\)/);
    expect(err?.transient).toBe(true);
  });
});
