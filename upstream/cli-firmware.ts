/**
 * `owl-upstream firmware publish|list|withdraw|status` (docs/firmware-delivery.md, "Upstream"):
 * publish a signed bundle to zones (relay ids, or `*`), optionally to a percentage of their
 * relays and agents; list and withdraw publications; every relay's and agent's firmware state.
 * They talk to the running upstream's API like the other operator commands.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { isBundleId } from '../protocol/index.js';
import { apiOptions, call, fail, print, upload, type ApiFlags } from './cli-client.js';

const FIRMWARE = '/api/v1/firmware';

function percent(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100)
    throw new InvalidArgumentError('not an integer from 1 to 100');
  return n;
}

/** A bundle named by its id, or by its file (its sha256 is the id). */
async function bundleIdOf(arg: string): Promise<string> {
  if (isBundleId(arg)) return arg;
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(arg)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new Error(
      `${arg}: neither a bundle id (64 hex digits) nor a readable bundle file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  return hash.digest('hex');
}

export function firmwareCommands(program: Command): void {
  const fw = program.command('firmware').description('signed update bundles delivered through the relays');
  apiOptions(
    fw
      .command('publish <bundle>')
      .description('publish a bundle (owl-relay or owl-agent) to zones; again: change its zones or percent')
      .requiredOption('--zones <zones>', 'relay ids separated by commas, or * for every zone')
      .option(
        '--percent <n>',
        "share of the relays (of each relay's agents) that take it, 1-100",
        percent,
        100,
      ),
  ).action((file: string, flags: ApiFlags & { zones: string; percent: number }) => {
    const query = new URLSearchParams({ zones: flags.zones, percent: String(flags.percent) });
    return upload(flags, 'POST', `${FIRMWARE}?${query.toString()}`, file).then(print, fail);
  });
  apiOptions(fw.command('list').description('published bundles and the relays each is offered to')).action(
    (flags: ApiFlags) => call(flags, 'GET', FIRMWARE).then(print, fail),
  );
  apiOptions(
    fw.command('withdraw <bundle>').description('stop offering a bundle (its id or its file) and delete it'),
  ).action((bundle: string, flags: ApiFlags) =>
    bundleIdOf(bundle)
      .then((id) => call(flags, 'DELETE', `${FIRMWARE}/${id}`))
      .then(print, fail),
  );
  apiOptions(
    fw
      .command('status')
      .description("every relay's and agent's version, update state, download, last failure and refusal"),
  ).action((flags: ApiFlags) => call(flags, 'GET', `${FIRMWARE}/status`).then(print, fail));
}
