/**
 * The test lanes are named, and the names are checked: a test that starts socat, Mosquitto,
 * PostgreSQL or a child process is `*.integration.test.ts`, one that drives Chromium is
 * `*.browser.test.ts`, and everything else runs in the unit lane (`npm run test:unit`), which
 * needs no program outside node (testkit/test-lanes.ts says how a file is classified).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifier, laneOfName, testFiles } from '../testkit/test-lanes.ts';

const root = join(import.meta.dirname, '..');

describe('test lanes', () => {
  it('every test file is named after the lane its imports put it in', () => {
    const classify = classifier(root);
    const misnamed = testFiles(root)
      .map((file) => ({ file, named: laneOfName(file), ...classify(file) }))
      .filter((t) => t.named !== t.lane)
      .map((t) => `${t.file}: named ${t.named}, is ${t.lane} (${t.because ?? 'no outside program'})`);
    expect(misnamed).toEqual([]);
  });

  it('the classifier sees through helpers: a test importing the socat helper is integration', () => {
    const classify = classifier(root);
    expect(classify('testkit/socat.ts').lane).toBe('integration');
    expect(classify('testkit/postgres.ts').lane).toBe('integration');
    expect(classify('testkit/test-lanes.ts').lane).toBe('unit');
  });
});
