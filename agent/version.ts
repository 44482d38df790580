/** The agent's version, as HELLO and the registry show it (test/agent/cli.test.ts keeps it equal to package.json's). */
export const AGENT_VERSION = '0.1.0';
export const AGENT_NAME = `owl-agent/${AGENT_VERSION}`;
