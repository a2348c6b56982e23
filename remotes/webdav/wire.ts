// WebDAV wire format (RFC 4918): the PROPFIND request body and a small parser for the 207 Multi-Status
// answer. Only the few properties the driver needs are read. No XML dependency: the parser tokenizes
// tags and text, matches elements by local name (servers pick any namespace prefix, e.g. "D:", "d:",
// "lp1:" or a default xmlns), decodes entities and CDATA, and ignores everything it does not know.

import crypto from 'node:crypto';

/** Names the driver keeps beside objects; never listed. Keys never start with '.' (src/remote/layout.ts). */
export const TMP_PREFIX = '.ckpt-tmp-';
/** swapDocument's lock: the collection .ckpt-lock-<document name> beside the document. */
export const LOCK_PREFIX = '.ckpt-lock-';
export const HIDDEN_PREFIX = '.ckpt-';

/** A document's version: "sha256:" and the SHA-256 of its content in hex (ETags are not trusted, README.md). */
export function versionOf(data: Buffer): string {
  return 'sha256:' + crypto.createHash('sha256').update(data).digest('hex');
}

/** Asks only for what list() and stat() use, so servers do not compute expensive properties. */
export const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:creationdate/></D:prop></D:propfind>';

/** One <response> of a multistatus, with the properties of its 200 propstat. */
export interface DavEntry {
  /** The href as sent (percent-encoded path or absolute URL). */
  href: string;
  collection: boolean;
  size?: number;
  mtimeMs?: number;
  createdMs?: number;
}

const TOKEN_RE =
  /<!\[CDATA\[([\s\S]*?)\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<(\/?)([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g;

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return (colon >= 0 ? qname.slice(colon + 1) : qname).toLowerCase();
}

/** Parses a 207 Multi-Status body into entries. Throws on text that is not a multistatus. */
export function parseMultistatus(xml: string): DavEntry[] {
  const entries: DavEntry[] = [];
  const stack: string[] = [];
  let sawMultistatus = false;
  let entry: DavEntry | null = null;
  // Properties of the current propstat; merged into the entry only if its status is 200.
  let ps: { status: string; collection: boolean; props: Record<string, string> } | null = null;

  const open = (name: string) => {
    stack.push(name);
    if (name === 'multistatus') sawMultistatus = true;
    else if (name === 'response') entry = { href: '', collection: false };
    else if (name === 'propstat') ps = { status: '', collection: false, props: {} };
    else if (name === 'collection' && ps && stack.at(-2) === 'resourcetype') ps.collection = true;
  };
  const close = (name: string) => {
    // Tolerate sloppy nesting: pop up to the matching element.
    const at = stack.lastIndexOf(name);
    if (at >= 0) stack.length = at;
    if (name === 'propstat' && entry && ps) {
      const p = ps as { status: string; collection: boolean; props: Record<string, string> };
      if (/\s2\d\d(\s|$)/.test(p.status) || p.status === '') {
        const e = entry as DavEntry;
        e.collection ||= p.collection;
        const size = p.props.getcontentlength?.trim();
        if (size && /^\d+$/.test(size)) e.size = Number(size);
        const mtime = Date.parse(p.props.getlastmodified?.trim() ?? '');
        if (Number.isFinite(mtime)) e.mtimeMs = mtime;
        const created = Date.parse(p.props.creationdate?.trim() ?? '');
        if (Number.isFinite(created)) e.createdMs = created;
      }
      ps = null;
    } else if (name === 'response' && entry) {
      entries.push({ ...(entry as DavEntry), href: (entry as DavEntry).href.trim() });
      entry = null;
    }
  };
  const text = (t: string) => {
    const top = stack.at(-1);
    const parent = stack.at(-2);
    if (!top) return;
    if (top === 'href' && parent === 'response' && entry) (entry as DavEntry).href += t;
    else if (top === 'status' && parent === 'propstat' && ps) (ps as { status: string }).status += t;
    else if (ps && parent === 'prop') {
      const props = (ps as { props: Record<string, string> }).props;
      props[top] = (props[top] ?? '') + t;
    }
  };

  TOKEN_RE.lastIndex = 0;
  for (let m = TOKEN_RE.exec(xml); m; m = TOKEN_RE.exec(xml)) {
    if (m[1] !== undefined) text(m[1]);
    else if (m[3] !== undefined) {
      const name = localName(m[3]);
      if (m[2] === '/') close(name);
      else {
        open(name);
        if (m[5] === '/') close(name);
      }
    } else if (m[6] !== undefined) text(decodeEntities(m[6]));
  }
  if (!sawMultistatus) throw new Error('not a WebDAV multistatus response');
  return entries;
}

/** The decoded path of an href (absolute URL or path), without a trailing slash. */
export function hrefPath(href: string): string {
  let p = href;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(href);
  if (m) p = m[1] ?? '/';
  p = p.split('?')[0]!;
  const decoded = p
    .split('/')
    .map((seg) => {
      try {
        return decodeURIComponent(seg);
      } catch {
        return seg;
      }
    })
    .join('/');
  return decoded.length > 1 ? decoded.replace(/\/+$/, '') : decoded;
}
