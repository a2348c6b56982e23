// Wire types of the plugin protocol, version 1 (docs/remote-plugin-protocol.md). Only shapes and
// constants: framing is in frames.ts, error codes in errors.ts.

/** The protocol version the host speaks; `init` says it and the plugin must answer the same. */
export const PLUGIN_PROTOCOL = 1;

/** A message from the plugin after its JSON line was parsed: `id` and the op's reply fields. */
export type ReplyHead = Record<string, any>;

/** A final reply: its head, and its body when the head announced `bytes`. */
export interface Reply {
  head: ReplyHead;
  body?: Buffer;
}

/** `error` of an `ok: false` reply ("Errors" in the protocol doc). */
export interface WireError {
  code?: string;
  message?: string;
  /** With TRANSIENT: how long to wait before trying again. */
  retryAfterMs?: number;
}

/** One item of a `list` reply's `page`. */
export interface WireObjectInfo {
  key: string;
  size: number;
  mtimeMs?: number;
}
