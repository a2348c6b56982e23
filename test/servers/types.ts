// The shape every live test server helper (test/servers/<name>.ts) returns from start(): used by the
// driver conformance tests, the end-to-end CLI tests and the benchmark.

export interface LiveServer {
  /** A URL for a fresh, empty location on the server (random prefix), as a user would pass to `ckptsync remote add`. */
  newUrl(): string;
  /** Environment variables a ckptsync child process needs to reach the server (credentials, endpoints, HOME pointing at a temp home holding ~/.ssh/known_hosts or ~/.netrc, ...). */
  env: Record<string, string>;
  /** Remote settings (the options table of your factory) the URL needs besides env, e.g. {endpoint, pathStyle}. Empty object if none. */
  settings: Record<string, string>;
  /** An rclone config section text for the same server (for side-by-side benchmarks with `rclone copy`), and the rclone remote path matching newUrl()'s location style, e.g. {config: "[srv]\ntype = s3\n...", remote: "srv:bucket/prefix"}. */
  rclone(): { config: string; remote: string };
  /** Port of the real server, and start a fault proxy in front of it when you need one. */
  port: number;
  /** The server's own process, where there is one (the benchmark reads its CPU time). */
  pid?: number;
  stop(): Promise<void>;
}
