// The one options parser of the drivers: a driver declares its options in a table (RemoteOption: name,
// help, default, secret) and reads its settings through it. An option not in the table is refused, naming
// it and listing the known ones, so a typo ("regoin=...") is not silently ignored. The same table drives
// `ckptsync remote options <scheme>` and which settings `remote list` hides (src/api/remotes.ts).

import { UsageError, type RemoteOption, type RemoteSettings } from '../../src/remote/index.js';

/** The settings a driver was given, checked against its table; an empty string counts as not set. */
export class Options {
  private readonly values = new Map<string, string>();

  constructor(
    /** The driver's name in messages, e.g. "s3". */
    readonly driver: string,
    readonly table: readonly RemoteOption[],
    settings: RemoteSettings,
  ) {
    const known = new Set(table.map((o) => o.name));
    for (const [name, value] of Object.entries(settings)) {
      if (!known.has(name)) {
        const list = table.length ? `known: ${table.map((o) => o.name).join(', ')}` : 'it takes none';
        throw new UsageError(`unknown ${driver} option "${name}" (${list})`, { option: name });
      }
      if (value !== undefined && value !== '') this.values.set(name, value);
    }
  }

  /** The setting, else the first of the environment variables that is set, else undefined. */
  string(name: string, ...env: string[]): string | undefined {
    const v = this.values.get(this.declared(name));
    if (v !== undefined) return v;
    for (const e of env) if (process.env[e]) return process.env[e];
    return undefined;
  }

  /** An integer in [min, max]; the default when not set. */
  int(name: string, dflt: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.string(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? (min === 1 ? 'a positive integer' : `an integer of at least ${min}`) : `an integer from ${min} to ${max}`;
      throw this.bad(name, range, v);
    }
    return n;
  }

  /** A byte size such as 64MiB, 200M, 5k or 1048576; the default when not set. */
  size(name: string, dflt: number): number {
    const v = this.string(name);
    return v === undefined ? dflt : parseSize(v, () => this.bad(name, 'a size like 64MiB', v));
  }

  /** true/false (also 1/0, yes/no, on/off); undefined when not set and no environment variable is. */
  bool(name: string, ...env: string[]): boolean | undefined {
    const v = this.string(name, ...env);
    return v === undefined ? undefined : parseBool(v, () => this.bad(name, 'true or false', v));
  }

  /** One of a few words; the default when not set. */
  oneOf<T extends string>(name: string, choices: readonly T[], dflt: T): T {
    const v = this.string(name) ?? dflt;
    if (!choices.includes(v as T)) throw this.bad(name, choices.join(', ').replace(/, ([^,]*)$/, ' or $1'), v);
    return v as T;
  }

  private declared(name: string): string {
    // A driver reading an option it did not declare is a bug in the driver, caught by its tests.
    if (!this.table.some((o) => o.name === name)) throw new Error(`${this.driver} driver reads undeclared option ${name}`);
    return name;
  }

  private bad(name: string, what: string, value: string): UsageError {
    const shown = this.table.find((o) => o.name === name)?.secret ? '***' : JSON.stringify(value);
    return new UsageError(`${this.driver} option ${name} must be ${what}, not ${shown}`, { option: name });
  }
}

export function parseBool(v: string, fail: () => Error): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw fail();
}

export function parseSize(v: string, fail: () => Error): number {
  const m = /^(\d+)\s*([kmg]i?b?)?$/i.exec(v.trim());
  if (!m) throw fail();
  const unit = (m[2] ?? '').toLowerCase()[0];
  return Number(m[1]) * (unit === 'k' ? 1 << 10 : unit === 'm' ? 1 << 20 : unit === 'g' ? 1 << 30 : 1);
}

