/** The operator dashboard: a small page set served by the upstream's API listener (docs/dashboard.md). */
export { createDashboardHandler, CONTENT_SECURITY_POLICY, type DashboardHandler } from './static.js';
