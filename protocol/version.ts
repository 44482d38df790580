/** OWL's version, as `--version` prints it: package.json's (test/relay/cli-errors.test.ts keeps them equal). */
export const OWL_VERSION = '0.1.0';
