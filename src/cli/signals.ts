// SIGINT/SIGTERM abort the current transfer: work in flight finishes, nothing new starts, and the
// command exits with the "cancelled" code. A second signal exits at once.
export function onInterrupt(): AbortSignal {
  const ac = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write(`\nckptsync: ${sig}: finishing transfers in flight (again to quit now)\n`);
    ac.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return ac.signal;
}
