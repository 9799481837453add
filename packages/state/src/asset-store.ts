/**
 * The asset library's metadata in Redis: one record per (tenant, name) holding the owner, type,
 * size, SHA-256, creation time and storage key of an upload, plus a per-tenant index of names.
 * The bytes are in storage (`assets/<upload id>.<ext>`); a record is the only way to reach them,
 * so an asset another tenant uploaded is, for everyone else, simply not there.
 */
import type { RedisClient } from '@kiln/queue';

export interface AssetRecord {
  tenant: string;
  name: string;
  type: 'checkpoint' | 'lora' | 'textual_inversion' | 'vae' | 'controlnet';
  /** Storage key of the file. */
  key: string;
  size: number;
  sha256: string;
  /** ms since the epoch. */
  createdAt: number;
  /** What the upload check found (layers, unmatched keys, embedding vectors), shown in listings. */
  details?: Record<string, unknown>;
}

const recordKey = (prefix: string, tenant: string, name: string) => `${prefix}:kiln:asset:${tenant}:${name}`;
const indexKey = (prefix: string, tenant: string) => `${prefix}:kiln:assets:${tenant}`;

export class AssetStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /** Adds a record; false (and nothing written) when the tenant already has an asset of that name. */
  async create(record: AssetRecord): Promise<boolean> {
    const created = await this.redis.set(
      recordKey(this.prefix, record.tenant, record.name),
      JSON.stringify(record),
      'NX',
    );
    if (created !== 'OK') return false;
    await this.redis.zadd(indexKey(this.prefix, record.tenant), record.createdAt, record.name);
    return true;
  }

  async get(tenant: string, name: string): Promise<AssetRecord | undefined> {
    const raw = await this.redis.get(recordKey(this.prefix, tenant, name));
    return raw === null ? undefined : (JSON.parse(raw) as AssetRecord);
  }

  /** Several names at once (a request naming many assets costs one round trip). */
  async getMany(tenant: string, names: readonly string[]): Promise<Map<string, AssetRecord>> {
    if (names.length === 0) return new Map();
    const raws = await this.redis.mget(names.map((name) => recordKey(this.prefix, tenant, name)));
    const found = new Map<string, AssetRecord>();
    raws.forEach((raw, i) => raw !== null && found.set(names[i], JSON.parse(raw) as AssetRecord));
    return found;
  }

  /** The tenant's assets, oldest first. */
  async list(tenant: string): Promise<AssetRecord[]> {
    const names = await this.redis.zrange(indexKey(this.prefix, tenant), 0, -1);
    const found = await this.getMany(tenant, names);
    return names.flatMap((name) => found.get(name) ?? []);
  }

  /** Removes a record and returns it (undefined when there was none), so the caller can delete its file. */
  async remove(tenant: string, name: string): Promise<AssetRecord | undefined> {
    const key = recordKey(this.prefix, tenant, name);
    const [[, raw]] = (await this.redis.multi().get(key).del(key).zrem(indexKey(this.prefix, tenant), name).exec()) as [
      [Error | null, string | null],
    ];
    return raw === null ? undefined : (JSON.parse(raw) as AssetRecord);
  }
}
