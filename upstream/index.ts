/** The upstream (central server). Public surface of upstream/. */
export * from './store/index.js';
