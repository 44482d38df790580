/** Constants the bench parent and its children agree on. */
export const BENCH_RELAY_ID = 'bench-zone';
export const BENCH_RELAY_TOKEN = 'bench-relay-token';
