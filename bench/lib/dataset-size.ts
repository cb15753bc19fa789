/**
 * Default sizes of the stored-passage data set. The 10 M rows take longer than "a few
 * minutes" to generate through the store's own insert path on a loaded 2-core machine (see
 * BENCHMARKS.md for the measured rate), so the default full run uses 3 M and `--rows 10m` is
 * available; bench/contacts.ts reports the scaling 1 M → 3 M.
 */
export const DEFAULT_ROWS = 3_000_000;
export const QUICK_ROWS = 300_000;
export const DEFAULT_SCALING = '1m';
