import { Args } from '@oclif/core';
import { CkptCommand } from '../../cli/base.js';
import { remoteOptions } from '../../api/remotes.js';

export default class RemoteOptions extends CkptCommand {
  static override description = 'List the options a remote driver takes (for remote add -o KEY=VALUE): file, s3, b2, sftp, webdav, or a plugin scheme.';
  static override args = { scheme: Args.string({ required: true, description: 'URL scheme, e.g. s3' }) };
  static override examples = ['<%= config.bin %> remote options s3'];

  async run() {
    const { args, flags } = await this.parse(RemoteOptions);
    this.setJson(flags.json);
    const r = await remoteOptions({ scheme: args.scheme });
    this.emit(flags.json, r, (x) => {
      if (x.options.length === 0) return this.log(`${x.scheme}: no options`);
      const width = Math.max(...x.options.map((o) => o.name.length));
      for (const o of x.options) {
        const dflt = o.default === undefined ? '' : ` (default: ${o.default})`;
        this.log(`${o.name.padEnd(width)}  ${o.help}${dflt}${o.secret ? ' [secret: never shown]' : ''}`);
      }
    });
  }
}
