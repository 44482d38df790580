/**
 * Zone names the upstream gives itself. A zone is otherwise a relay id (the
 * relay serving its hosts); agents that reach the upstream's own agent
 * listener, without a relay, are in DIRECT_ZONE, which is why relays may not
 * take that id. Its own module so that server.ts and api.ts share it without
 * importing each other.
 */

/** Zone of agents that reach the upstream directly. */
export const DIRECT_ZONE = 'direct';
