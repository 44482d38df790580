/**
 * The agent's logger: the pino call shape (`logger.warn({fields}, 'message')`)
 * without depending on pino, so agent code stays light and tests can pass a
 * recording logger. A pino instance satisfies this interface as is.
 */
export interface AgentLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

/** Drops everything: the default where no logger is given. */
export const nullLogger: AgentLogger = {
  info: () => {},
  warn: () => {},
  error: () => {},
  debug: () => {},
};
