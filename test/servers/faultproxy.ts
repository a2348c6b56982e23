// A TCP proxy on 127.0.0.1 in front of a real test server that can fail what passes through it:
// reset connections, or answer an HTTP 503, for the next N client writes. Used by the conformance
// suite's transient-failure test and by the network-fault tests.

import net from 'node:net';

export type FaultMode = 'reset' | 'http503';

export interface FaultProxy {
  port: number;
  /** Fails the next `count` client writes (a new request, or a piece of an upload). */
  failNext(count: number, mode?: FaultMode): void;
  /** How many faults were injected so far. */
  readonly injected: number;
  stop(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  let pending = 0;
  let mode: FaultMode = 'reset';
  let injected = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (buf) => {
      if (pending > 0) {
        pending--;
        injected++;
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
    get injected() {
      return injected;
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
