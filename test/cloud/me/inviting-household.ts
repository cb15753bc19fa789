/**
 * The household the visitor-invitation tests invite from: 张三明 (p-zhang) of h-101 in c-1, and
 * the compound's resident policy with a visitor quota of `quota` a week, visitors in normal mode.
 */
import { expect } from 'vitest';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { residentCreate } from '../fixtures.ts';
import type { Harness } from '../http/app-harness.ts';

export async function seedInvitingHousehold(h: Harness<CloudStore>, quota: number): Promise<void> {
  await h.core.registry.createResident(residentCreate('p-zhang', 'c-1', 'h-101'), { username: 'seed', role: 'admin' });
  const manager = await h.token('manager', 'c-1', 'mgr-1');
  const set = await h.request('PUT', '/api/v1/compounds/c-1/resident-policy', {
    token: manager,
    body: {
      visitorQuota: quota,
      visitorQuotaDays: 7,
      visitorModes: ['normal'],
      returnYellowDays: 14,
      returnRelease: 'after-days',
    },
  });
  expect(set.status).toBe(200);
}
