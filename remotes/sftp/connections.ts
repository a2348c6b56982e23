// A pool of SSH connections, each carrying a few SFTP sessions, kept open and reused. Operations pick
// the least busy session; the pool grows on demand up to `connections` x `sessionsPerConnection`.
// Host keys are checked against known_hosts before authenticating; authentication tries, as ssh does,
// the agent, then key files, then a password. A connection that dies is dropped: requests in flight on
// it fail with TransientError (the engine's retry wrapper retries them) and the next request dials anew.

import fs from 'node:fs';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, ClientErrorExtensions, ParsedKey, SFTPWrapper } from 'ssh2';
import { AuthError, ConfigError, HostKeyError, TransientError } from '../../src/remote/index.js';
import {
  appendKnownHost,
  checkHostKey,
  fingerprintOf,
  keyTypeOf,
  knownAlgorithmsFor,
  knownHostsName,
  readKnownHosts,
} from './known-hosts.js';
import type { SftpConfig } from './config.js';
import { sftpError } from './errors.js';

const { Client, utils } = ssh2;
type SshClient = InstanceType<typeof Client>;

// ssh2's default host key algorithms; the ones known_hosts lists for the host go first.
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

interface Connection {
  client: SshClient;
  dead: boolean;
  /** Live sessions plus sessions being opened on this connection. */
  load: number;
  /**
   * Rejects (TransientError) when the connection dies. ssh2 fails the requests in flight then, but a
   * request sent in the moment it dies (say a cleanup in a finally) may never be answered nor failed.
   */
  lost: Promise<never>;
}

export interface Session {
  readonly sftp: SFTPWrapper;
  readonly conn: Connection;
  inflight: number;
  closed: boolean;
}

/** True when an SFTP request failed with this SSH_FX_* status. */
export function isStatus(err: unknown, code: number): boolean {
  return (err as { code?: unknown })?.code === code;
}

export class SshPool {
  private readonly sessions: Session[] = [];
  private readonly opening = new Set<Promise<Session>>();
  private readonly conns: Connection[] = [];
  private readonly dialing = new Set<Promise<Connection>>();
  private auth?: { methods: AnyAuthMethod[]; notes: string[] };
  private closed = false;

  constructor(private readonly cfg: SftpConfig) {}

  private get where(): string {
    return `${this.cfg.username}@${knownHostsName(this.cfg.host, this.cfg.port)}`;
  }

  /** Runs fn on the least busy session; errors come out typed (see typedError). */
  async run<T>(what: string, path: string, fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const s = await this.acquire();
    try {
      return await Promise.race([fn(s.sftp), s.conn.lost]);
    } catch (e) {
      throw this.typedError(e, what, path);
    } finally {
      this.release(s);
    }
  }

  /** A session for work that outlives one call (a download stream); give it back with release(). */
  async acquire(): Promise<Session> {
    for (;;) {
      if (this.closed) throw new ConfigError(`remote ${this.cfg.displayUrl} is closed`);
      // Sessions of a connection that died may not have seen their own 'close' yet.
      for (let i = this.sessions.length - 1; i >= 0; i--) if (this.sessions[i]!.conn.dead) this.sessions.splice(i, 1);
      let best: Session | undefined;
      for (const s of this.sessions) if (!best || s.inflight < best.inflight) best = s;
      const canGrow = this.sessions.length + this.opening.size < this.cfg.connections * this.cfg.sessionsPerConnection;
      if (best && (best.inflight === 0 || !canGrow)) {
        best.inflight++;
        return best;
      }
      if (canGrow) {
        const p = this.openSession();
        this.opening.add(p);
        try {
          const s = await p;
          s.inflight++;
          return s;
        } finally {
          this.opening.delete(p);
        }
      }
      // Every slot is being opened: wait for one (and share its failure, so one bad password is one attempt).
      await Promise.race(this.opening);
    }
  }

  release(s: Session): void {
    s.inflight--;
  }

  /** Maps an error of an SFTP request or of the connection under it to the protocol's error types. */
  typedError(e: unknown, what: string, path: string): Error {
    return sftpError(e, what, path, this.where, this.cfg.displayUrl);
  }

  private async openSession(): Promise<Session> {
    const conn = await this.connection();
    conn.load++;
    try {
      const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
        try {
          conn.client.sftp((err, s) => (err ? reject(err) : resolve(s)));
        } catch (e) {
          reject(e);
        }
      });
      const s: Session = { sftp, conn, inflight: 0, closed: false };
      const drop = () => {
        if (s.closed) return;
        s.closed = true;
        conn.load--;
        const i = this.sessions.indexOf(s);
        if (i >= 0) this.sessions.splice(i, 1);
      };
      sftp.on('close', drop);
      sftp.on('error', drop);
      if (conn.dead) drop();
      else this.sessions.push(s);
      return s;
    } catch (e) {
      conn.load--;
      throw this.typedError(e, 'open an SFTP session on', this.cfg.root || '~');
    }
  }

  /** A live connection with room for one more session, dialing a new one when that spreads the load. */
  private async connection(): Promise<Connection> {
    for (;;) {
      // A connection that failed may not have emitted 'close' yet; it must not hold a slot.
      for (let i = this.conns.length - 1; i >= 0; i--) if (this.conns[i]!.dead) this.conns.splice(i, 1);
      let least: Connection | undefined;
      for (const c of this.conns) if (!c.dead && (!least || c.load < least.load)) least = c;
      const canDial = this.conns.length + this.dialing.size < this.cfg.connections;
      if (least && (least.load === 0 || !canDial)) return least;
      if (canDial) {
        const p = this.dial();
        this.dialing.add(p);
        try {
          const c = await p;
          this.conns.push(c);
          return c;
        } finally {
          this.dialing.delete(p);
        }
      }
      await Promise.race(this.dialing);
    }
  }

  private dial(): Promise<Connection> {
    const cfg = this.cfg;
    const auth = this.authMethods();
    const known = readKnownHosts(cfg.knownHostsFile);
    const preferred = knownAlgorithmsFor(known, cfg.host, cfg.port);
    let hostKeyProblem: Error | undefined;
    const client = new Client();
    let markLost!: (e: Error) => void;
    const lost = new Promise<never>((_, rej) => (markLost = rej));
    lost.catch(() => {}); // observed by run() and get(); a connection nobody uses may die unobserved
    const conn: Connection = { client, dead: false, load: 0, lost };
    client.once('close', () => markLost(new TransientError(`connection to ${this.where} lost`)));
    return new Promise<Connection>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        conn.dead = true;
        client.destroy();
        reject(err);
      };
      client.once('ready', () => {
        settled = true;
        resolve(conn);
      });
      client.on('error', (err: Error & ClientErrorExtensions) => {
        conn.dead = true;
        if (!settled) fail(hostKeyProblem ?? this.connectError(err, auth.notes));
      });
      client.on('close', () => {
        conn.dead = true;
        const i = this.conns.indexOf(conn);
        if (i >= 0) this.conns.splice(i, 1);
        fail(hostKeyProblem ?? new TransientError(`connection to ${this.where} closed during the SSH handshake`));
      });
      try {
        client.connect({
          host: cfg.host,
          port: cfg.port,
          username: cfg.username,
          readyTimeout: Math.min(20_000, cfg.timeoutMs),
          // Finds connections that died silently (a NAT timeout, a stalled server) before a transfer hangs
          // on them: three unanswered keepalives, one every third of the timeout.
          keepaliveInterval: Math.max(500, Math.round(cfg.timeoutMs / 3)),
          keepaliveCountMax: 3,
          algorithms: { serverHostKey: [...preferred, ...HOST_KEY_ALGORITHMS.filter((a) => !preferred.includes(a))] as never },
          hostVerifier: (key: Buffer) => {
            try {
              hostKeyProblem = this.verifyHostKey(key);
            } catch (e) {
              // e.g. known_hosts not writable under accept-new: refuse rather than connect unverified.
              hostKeyProblem = new ConfigError(`cannot check the host key of ${this.where}: ${(e as Error).message}`);
            }
            return hostKeyProblem === undefined;
          },
          authHandler: auth.methods,
        });
      } catch (e) {
        fail(e as Error);
      }
    });
  }

  /** undefined when the key may be trusted; records a new key under accept-new. */
  private verifyHostKey(blob: Buffer): HostKeyError | undefined {
    const { host, port, knownHostsFile: file, hostKeyPolicy } = this.cfg;
    // Read again: another connection of this process may have just recorded the key.
    const status = checkHostKey(readKnownHosts(file), host, port, blob);
    if (status === 'known') return undefined;
    const name = knownHostsName(host, port);
    const key = `${keyTypeOf(blob)} ${fingerprintOf(blob)}`;
    const data = { host: name, fingerprint: fingerprintOf(blob), keyType: keyTypeOf(blob), knownHostsFile: file };
    if (status === 'unknown' && hostKeyPolicy === 'accept-new') {
      appendKnownHost(file, host, port, blob);
      return undefined;
    }
    if (status === 'unknown') {
      return new HostKeyError(
        `host key of ${name} is unknown (${key}, not in ${file}): if that fingerprint is right, connect once with hostKeyPolicy=accept-new to record it`,
        data,
      );
    }
    if (status === 'revoked') return new HostKeyError(`host key of ${name} (${key}) is marked @revoked in ${file}: refusing to connect`, data);
    return new HostKeyError(
      `host key of ${name} has CHANGED (server shows ${key}, which does not match ${file}): someone may be intercepting the connection; if the change is expected, remove the old key with ssh-keygen -R '${name}'`,
      data,
    );
  }

  private connectError(err: Error & ClientErrorExtensions, notes: string[]): Error {
    if (err.level === 'client-authentication') {
      const tried = this.auth!.methods.map((m) => (m.type === 'publickey' ? `key ${(m as { file?: string }).file ?? ''}`.trim() : m.type));
      return new AuthError(
        `SSH server ${this.where} refused authentication (tried: ${tried.join(', ') || 'nothing'})${notes.length ? '; ' + notes.join('; ') : ''}`,
        { host: this.cfg.host, user: this.cfg.username },
      );
    }
    return new TransientError(`cannot connect to ${this.where}: ${err.message}`, { host: this.cfg.host }, { cause: err });
  }

  /** Authentication methods in ssh's order, built once: key files are read and decrypted only here. */
  private authMethods(): { methods: AnyAuthMethod[]; notes: string[] } {
    if (this.auth) return this.auth;
    const { username, agent, password, passphrase } = this.cfg;
    const methods: AnyAuthMethod[] = [];
    const notes: string[] = [];
    if (agent) methods.push({ type: 'agent', username, agent });
    for (const { path, explicit } of this.cfg.identityFiles) {
      let text: Buffer;
      try {
        text = fs.readFileSync(path);
      } catch (e) {
        if (explicit) throw new ConfigError(`cannot read SSH key ${path}: ${(e as Error).message}`, { path });
        continue;
      }
      const parsed = utils.parseKey(text, passphrase);
      if (parsed instanceof Error) {
        notes.push(
          /encrypted|passphrase/i.test(parsed.message) && !passphrase
            ? `${path} is encrypted: set CKPTSYNC_SSH_PASSPHRASE (or the passphrase option)`
            : `cannot use ${path}: ${parsed.message}`,
        );
        continue;
      }
      const key = (Array.isArray(parsed) ? parsed[0] : parsed) as ParsedKey;
      // `file` is ours, for the error message; ssh2 ignores unknown fields.
      methods.push({ type: 'publickey', username, key, file: path } as AnyAuthMethod);
    }
    if (password !== undefined) methods.push({ type: 'password', username, password });
    if (methods.length === 0) {
      throw new AuthError(
        `no SSH credentials for ${this.where}: no ssh-agent (SSH_AUTH_SOCK), no usable key (${this.cfg.identityFiles.map((f) => f.path).join(', ')}), no password${notes.length ? '; ' + notes.join('; ') : ''}`,
        { host: this.cfg.host, user: username },
      );
    }
    this.auth = { methods, notes };
    return this.auth;
  }

  async close(): Promise<void> {
    this.closed = true;
    const conns = [...this.conns];
    await Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.dead) return resolve();
            const t = setTimeout(() => {
              c.client.destroy();
              resolve();
            }, 2000);
            c.client.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            c.client.end();
          }),
      ),
    );
  }
}
