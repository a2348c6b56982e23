// A TCP proxy on 127.0.0.1 in front of a real test server that can fail what passes through it:
// reset connections, or answer an HTTP 503, for the next N client writes. Used by the conformance
// suite's transient-failure test and by the network-fault tests.

import net from 'node:net';

export type FaultMode = 'reset' | 'http503' | 'stall' | 'throttle' | 'cut';

export interface FaultProxy {
  port: number;
  /** Fails the next `count` client writes (a new request, or a piece of an upload). */
  failNext(count: number, mode?: FaultMode): void;
  /**
   * Faults on a seeded schedule: each client write fails with probability `rate`, in a mode drawn from
   * `modes`, from a deterministic sequence for `seed` (so a failing run can be replayed). rate 0 stops.
   */
  schedule(seed: number, rate: number, modes: FaultMode[]): void;
  /** How many faults were injected so far. */
  readonly injected: number;
  /** Bytes the server sent back through the proxy so far (what a client downloaded, headers included). */
  readonly bytesToClient: number;
  /** Client connections accepted so far. */
  readonly connections: number;
  stop(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  let pending = 0;
  let mode: FaultMode = 'reset';
  let injected = 0;
  let bytesToClient = 0;
  let connections = 0;
  let scheduled: (() => FaultMode | null) | null = null;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (buf) => {
      const drawn = scheduled?.() ?? null;
      if (drawn) {
        pending++;
        mode = drawn;
      }
      if (pending > 0) {
        pending--;
        injected++;
        if (mode === 'stall') {
          // Swallow this connection's traffic both ways and never answer: the client needs a timeout.
          client.removeAllListeners('data');
          upstream.removeAllListeners('data');
          return;
        }
        if (mode === 'throttle') {
          // Pass the request, but the response trickles back at ~64 KiB/s in small pieces.
          upstream.removeAllListeners('data');
          upstream.on('data', (b: Buffer) => {
            upstream.pause();
            setTimeout(() => {
              client.write(b);
              upstream.resume();
            }, Math.ceil(b.length / 64));
          });
          if (!upstream.write(buf)) client.pause();
          return;
        }
        if (mode === 'cut') {
          // Pass the request; let half of the first response piece through, then close the connection.
          upstream.removeAllListeners('data');
          upstream.once('data', (b: Buffer) => {
            client.end(b.subarray(0, Math.max(1, b.length >> 1)));
            upstream.destroy();
          });
          if (!upstream.write(buf)) client.pause();
          return;
        }
        if (mode === 'http503') {
          client.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          upstream.destroy();
        } else {
          client.resetAndDestroy();
          upstream.destroy();
        }
        return;
      }
      if (!upstream.write(buf)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (buf) => {
      bytesToClient += buf.length;
      if (!client.write(buf)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    failNext(count, m = 'reset') {
      pending = count;
      mode = m;
    },
    schedule(seed, rate, modes) {
      let a = seed >>> 0;
      const next = () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = Math.imul(a ^ (a >>> 15), a | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      scheduled = rate > 0 ? () => (next() < rate ? modes[Math.floor(next() * modes.length)]! : null) : null;
    },
    get injected() {
      return injected;
    },
    get bytesToClient() {
      return bytesToClient;
    },
    get connections() {
      return connections;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves once something accepts TCP connections on host:port, or rejects after timeoutMs. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
