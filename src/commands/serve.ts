import { Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { UsageError } from '../errors.js';
import { serve } from '../serve/server.js';

export default class Serve extends CkptCommand {
  static override description =
    'Answer requests as JSON lines on stdin/stdout until stdin closes: one long-lived process for language bindings (the Python package), several requests in flight at once (docs/serve-protocol.md).';
  static override flags = {
    stdio: Flags.boolean({ description: 'speak the protocol on stdin/stdout (the only transport)', default: false }),
  };

  async run() {
    const { flags } = await this.parse(Serve);
    if (!flags.stdio) throw new UsageError('serve needs --stdio (the only transport)');
    // Nothing but protocol lines may reach stdout: anything a library logs goes to stderr instead.
    const out = process.stdout;
    console.log = console.info = (...a: unknown[]) => process.stderr.write(a.map(String).join(' ') + '\n');
    await serve({ input: process.stdin, output: out, version: this.config.version });
  }
}
