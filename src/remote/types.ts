// The remote protocol: what every driver implements (manifest-spec.md, "Remote layout" and
// "Ordering invariants"). Drivers store opaque bytes under the keys they are given; the layout of keys
// lives in layout.ts, never in a driver. Optional abilities are announced in `features`; the sync
// engine reads them and never branches on a driver's name.

import type { Readable } from 'node:stream';

/**
 * The largest document (ref, lock) readDocument returns. Every driver refuses a larger one with
 * IntegrityError without holding more than this in memory: a hostile remote cannot make a reader
 * allocate without bound (manifest-spec.md §8). Refs have a smaller cap of their own (§6.2).
 */
export const DOCUMENT_MAX_BYTES = 64 << 20;

/** A byte range of an object: `length` bytes starting at `offset`. */
export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * Bytes to upload that can be replayed: each call of open() returns a fresh stream of the same bytes,
 * so a retry can start over. `size` is exact.
 */
export interface ByteSource {
  readonly size: number;
  open(): Readable;
  /** The whole content, when it is already in memory (small objects); drivers may use it to skip streaming. */
  readonly buffer?: Buffer;
  /** Where the bytes are, when they are a local file's range: a driver may copy them without reading them. */
  readonly file?: { path: string; offset: number };
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** Modification time in ms since the epoch, when the backend tells (gc's grace period needs it). */
  mtimeMs?: number;
}

/** A small document read with its version, for compare-and-swap. */
export interface VersionedDocument {
  data: Buffer;
  /** Opaque token; pass it back to swapDocument to update only if nothing changed in between. */
  version: string;
}

export interface RemoteFeatures {
  /** Concurrency the engine should use for chunk transfers by default. */
  defaultConcurrency: number;
  /** How swapDocument is made atomic, for `remote list` and the docs (e.g. "if-match", "lockfile"). */
  casMethod: string;
  /** True if get() with a range is served without reading the whole object. */
  rangedGet: boolean;
}

export interface Remote {
  /** The remote's URL with credentials removed: safe to print. */
  readonly displayUrl: string;
  readonly features: RemoteFeatures;

  /** Size (and mtime) of an object, or null when it does not exist. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Stores bytes under key. Putting the same bytes twice is harmless. Readers never see a partial object. */
  put(key: string, source: ByteSource): Promise<void>;
  /** Streams an object, or a range of it. Rejects with NotFoundError when the key is missing. */
  get(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * Optional, for drivers that can read without a stream (a local directory): reads the object from its
   * start into `into` until the object ends or `into` is full, and returns the bytes read. Lets pull
   * reuse its buffers instead of allocating one per chunk. Rejects with NotFoundError like get().
   */
  readInto?(key: string, into: Buffer): Promise<number>;
  /** Every object whose key starts with prefix, in any order, following pagination. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deletes an object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;

  /**
   * Reads a small mutable document (a ref) with its version, or null when it does not exist. Rejects
   * with IntegrityError one larger than DOCUMENT_MAX_BYTES, reading no more than that.
   */
  readDocument(key: string): Promise<VersionedDocument | null>;
  /**
   * Writes a small document only if its version is still `expected` (null: only if it does not exist).
   * Atomic against concurrent writers, also on other machines. Returns the new version, or null when
   * the document changed in between (nothing is written then).
   */
  swapDocument(key: string, data: Buffer, expected: string | null): Promise<string | null>;

  /**
   * Whether the remote's location is there: its directory (local, SFTP, WebDAV) or its bucket (S3, B2);
   * a prefix inside a bucket has no existence of its own. False means the URL points at nothing (a
   * mistyped path): every command but push refuses it. Opening a remote never creates its location; the
   * first write does. A location that is there but cannot hold objects (a file) is a UsageError.
   */
  exists(): Promise<boolean>;

  /** Releases connections. The remote is unusable afterwards. */
  close(): Promise<void>;
}

/** One configurable option of a driver, for `remote add` help and validation. */
export interface RemoteOption {
  name: string;
  help: string;
  default?: string | number | boolean;
  /** Secret options are never printed. */
  secret?: boolean;
}

/** Options given to a driver besides its URL: from flags, the remote's config, or the environment. */
export type RemoteSettings = Record<string, string | undefined>;

export interface RemoteFactory<Config = unknown> {
  /** URL schemes this driver serves, without "://", e.g. ["s3"]. */
  schemes: readonly string[];
  options: readonly RemoteOption[];
  /** Validates a URL and settings into a config; throws UsageError naming the problem. */
  parse(url: string, settings: RemoteSettings): Config;
  create(config: Config): Promise<Remote>;
  /**
   * Optional: what `remote add` can check without a network connection (so it stays fast and works
   * offline), throwing a typed error naming the problem. The local driver checks that the directory,
   * or its parent, exists. Network drivers leave it out: their location is checked when first used.
   */
  check?(config: Config): Promise<void>;
  /** The URL with any secret removed. */
  redact(url: string): string;
}
