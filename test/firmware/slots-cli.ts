/**
 * The slot commands on a bare commander program, as owl-firmware mounts them (until its CLI
 * does): node --import tsx test/firmware/slots-cli.ts slots status --root DIR
 */
import { Command } from 'commander';
import { slotCommands } from '../../firmware/slots/index.js';

const program = new Command('owl-firmware').exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
slotCommands(program);
program.parse();
