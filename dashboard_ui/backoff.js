// How long to wait before the next attempt to open the live socket: exponential from 1 s, capped
// at 30 s, with jitter so that many dashboards that lost the socket together do not return in step.

export const BASE_DELAY_MS = 1000;
export const MAX_DELAY_MS = 30000;

/** The delay before attempt number `attempt` (0 = the first retry); `random` returns [0, 1). */
export function reconnectDelayMs(attempt, random = Math.random) {
  const n = Math.max(0, Math.floor(Number(attempt) || 0));
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(n, 30));
  // "Equal jitter": never below half the ceiling, so a failing server is not hammered.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
