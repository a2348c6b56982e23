// Minimal globs for `watch --pattern`: * and ? within a path segment, ** across segments. A pattern
// without "/" matches the file's base name, as in .gitignore.

export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function globMatcher(glob: string): (relPath: string) => boolean {
  const re = globToRegExp(glob);
  return glob.includes('/') ? (p) => re.test(p) : (p) => re.test(p.slice(p.lastIndexOf('/') + 1));
}
