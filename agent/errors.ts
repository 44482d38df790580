/** The agent's error codes (its code table; the wire's are protocol's ErrorCode). */
import { OwlError } from '../protocol/wire/index.js';

export const AgentErrorCode = {
  /** The config (file, flags or v3 directory) is not acceptable; the message names the key. */
  CONFIG: 'OWL_ERR_AGENT_CONFIG',
  /** A buffered batch could not be read back to send; the session is dropped and it is retried. */
  BUFFER_IO: 'OWL_ERR_AGENT_BUFFER_IO',
} as const;

export class ConfigError extends OwlError {
  constructor(message: string) {
    super(AgentErrorCode.CONFIG, message);
  }
}
