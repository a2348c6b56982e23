import { Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes } from '../cli/progress.js';
import { gc } from '../api/gc.js';
import { parseDuration } from '../cli/duration.js';

export default class Gc extends CkptCommand {
  static override description =
    'Delete remote manifests no name reaches and chunks no remaining manifest names. Takes the remote gc lock, waits for pushes in progress, and keeps objects younger than --grace.';
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'remote name or URL (default: the default remote)' }),
    grace: Flags.string({ description: 'keep unreachable objects younger than this (e.g. 90m, 2h, 1d)', default: '2h' }),
    'dry-run': Flags.boolean({ char: 'n', description: 'count what would be deleted; delete nothing', default: false }),
    'unsafe-grace': Flags.boolean({ description: 'allow a grace under 1h (a killed push that resumes may then lose chunks)', default: false }),
    wait: Flags.string({ description: 'wait this long for pushes in progress to finish', default: '0s' }),
  };

  async run() {
    const { flags } = await this.parse(Gc);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir).catch(() => null);
    const r = await gc({ repo, remote: flags.remote, graceMs: parseDuration(flags.grace), dryRun: flags['dry-run'], allowShortGrace: flags['unsafe-grace'], lock: { waitMs: parseDuration(flags.wait) } });
    this.warnings.push(...r.warnings);
    this.emit(flags.json, r, (x) =>
      this.log(
        `${x.dryRun ? 'would delete' : 'deleted'} ${x.manifestsDeleted} manifests and ${x.chunksDeleted} chunks${x.deltasDeleted ? ` and ${x.deltasDeleted} chunk deltas` : ''}${x.packsDeleted ? ` and ${x.packsDeleted} packs` : ''} (${formatBytes(x.bytesFreed)}); ` +
          `${x.manifestsReachable} manifests reachable from ${x.names} names; ${x.keptYoung} unreachable objects kept (younger than ${flags.grace})`,
      ),
    );
  }
}
