import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../../cli/base.js';
import { addRemote } from '../../api/remotes.js';
import { parseSettings } from '../../api/remote.js';

export default class RemoteAdd extends CkptCommand {
  static override description = 'Add a remote: a directory path or file://, s3://, b2://, sftp://, webdav(s)://. The first remote added is the default.';
  static override args = { name: Args.string({ required: true }), url: Args.string({ required: true }) };
  static override flags = {
    option: Flags.string({ char: 'o', description: "driver option KEY=VALUE (repeatable); 'ckptsync remote options SCHEME' lists them, others are refused", multiple: true }),
    default: Flags.boolean({ description: 'make it the default remote', default: false }),
  };

  async run() {
    const { args, flags } = await this.parse(RemoteAdd);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const r = await addRemote({ repo, name: args.name, url: args.url, settings: parseSettings(flags.option), makeDefault: flags.default });
    this.emit(flags.json, r, (x) => this.log(`added remote ${x.name} ${x.url}${x.isDefault ? ' (default)' : ''}`));
  }
}
