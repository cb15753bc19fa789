/**
 * The resident side's storage (cloud/me/resident-side-store.ts) on every store backend: activation
 * codes (a new one revokes the older open ones; single use, also when two stores on one database —
 * two cloud instances — activate the same code at once), accounts, visitor invitations and their
 * statistics over real passages, return registrations with their travellers (closed once, due when
 * their yellow period ends), the compound's policy, and all of it after a restart.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openResidentSideStore } from '../../../cloud/me/open-resident-side-store.ts';
import type { ResidentSideStore, VisitorInviteRow } from '../../../cloud/me/resident-side-store.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { DEFAULT_RESIDENT_POLICY } from '../../../shared/schemas/resident-side.ts';
import { entryEvent } from '../fixtures.ts';
import { storeBackends } from '../store/backends.ts';

const T0 = Date.UTC(2026, 11, 5, 1, 0, 0);
const DAY = 86_400_000;

const code = (codeId: string, personId: string, issuedAt: number) => ({
  codeId,
  codeHash: `hash-${codeId}`,
  personId,
  compoundId: 'c-1',
  issuedBy: 'manager',
  issuedAt,
  expiresAt: issuedAt + DAY,
  usedAt: null,
  revokedAt: null,
});

const account = (personId: string, login: string) => ({
  personId,
  login,
  compoundId: 'c-1',
  passwordHash: `scrypt$${login}`,
  activatedAt: T0 + 10,
});

const invite = (
  inviteId: string,
  visitorPersonId: string,
  createdAt: number,
): VisitorInviteRow & { linkHash: string } => ({
  inviteId,
  compoundId: 'c-1',
  householdId: 'h-1',
  invitedBy: 'p-zhang',
  visitorPersonId,
  passId: `pass-${inviteId}`,
  linkHash: `link-${inviteId}`,
  maskedName: '李*',
  phoneTail: '1234',
  visitDate: '2026-12-06',
  uses: 2,
  validFrom: createdAt,
  validTo: createdAt + DAY,
  createdAt,
  revokedAt: null,
});

const PENDING = 60_000;

/** An invitation as the routes make one: reserved pending, then completed. */
async function made(side: ResidentSideStore, row: VisitorInviteRow & { linkHash: string }): Promise<void> {
  const quota = { since: 0, max: 100, now: row.createdAt, pendingUntil: row.createdAt + PENDING };
  expect(await side.reserveInvite(row, quota)).toBeTypeOf('number');
  expect(await side.completeInvite(row.inviteId, row.createdAt)).toBe(true);
}

describe.each(storeBackends())('resident side on the $name store', (backend) => {
  let store: CloudStore;
  let residentSide: ResidentSideStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
    residentSide = openResidentSideStore(store.engine);
  });

  it('a new code revokes the open ones; a code opens one account once; revoked and expired codes do not', async () => {
    await residentSide.issueCode(code('k-1', 'p-zhang', T0));
    await residentSide.issueCode(code('k-2', 'p-zhang', T0 + 1));
    await residentSide.issueCode(code('k-3', 'p-li', T0 + 2));
    expect((await residentSide.codeById('k-1'))?.revokedAt).toBe(T0 + 1);
    expect((await residentSide.codesOfCompound('c-1', 'open', T0 + 5)).map((c) => c.codeId)).toEqual(['k-3', 'k-2']);
    expect((await residentSide.codesOfCompound('c-1', 'all', T0 + 5, 'p-zhang')).map((c) => c.codeId)).toEqual([
      'k-2',
      'k-1',
    ]);
    expect(await residentSide.codeByHash('hash-k-2')).toMatchObject({
      codeId: 'k-2',
      personId: 'p-zhang',
      usedAt: null,
    });
    expect(await residentSide.activate('k-1', account('p-zhang', 'zhang'), T0 + 10)).toBe(false);
    expect(await residentSide.activate('k-2', account('p-zhang', 'zhang'), T0 + 10)).toBe(true);
    expect(await residentSide.activate('k-2', account('p-zhang', 'zhang2'), T0 + 11)).toBe(false);
    expect(await residentSide.accountByLogin('zhang')).toEqual(account('p-zhang', 'zhang'));
    expect(await residentSide.accountByLogin('zhang2')).toBeUndefined();
    // Expired: refused at its expiry.
    expect(await residentSide.activate('k-3', account('p-li', 'li'), T0 + 2 + DAY)).toBe(false);
    expect(await residentSide.revokeCode('k-3', 'manager', T0 + 20)).toBe(true);
    expect(await residentSide.revokeCode('k-3', 'manager', T0 + 21)).toBe(false);
    await residentSide.setPassword('p-zhang', 'scrypt$new');
    expect((await residentSide.accountOf('p-zhang'))?.passwordHash).toBe('scrypt$new');
    expect([...(await residentSide.activatedIn('c-1'))]).toEqual(['p-zhang']);
  });

  it('two stores on one database activating one code at once: one account', async () => {
    const other = openResidentSideStore((await backend.reopen()).engine);
    await residentSide.issueCode(code('k-1', 'p-zhang', T0));
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 ? other : residentSide).activate('k-1', account('p-zhang', `login-${i}`), T0 + 5),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect((await residentSide.accountOf('p-zhang'))?.login).toBe(`login-${winner}`);
  });

  it('keeps visitor invitations and counts their passages and invitations by period', async () => {
    await made(residentSide, invite('v-1', 'p-visitor-1', T0));
    await made(residentSide, invite('v-2', 'p-visitor-2', T0 + 1000));
    expect((await residentSide.invitesOf('c-1', 'h-1')).map((i) => i.inviteId)).toEqual(['v-2', 'v-1']);
    expect(await residentSide.invitesSince('c-1', 'h-1', T0 + 1, T0 + 2000)).toBe(1);
    expect(await residentSide.inviteByLink('link-v-1')).toEqual(
      (({ linkHash: _, ...rest }) => rest)(invite('v-1', 'p-visitor-1', T0)),
    );
    expect(await residentSide.isInvitedVisitor('p-visitor-2')).toBe(true);
    expect(await residentSide.isInvitedVisitor('p-zhang')).toBe(false);
    expect(await residentSide.revokeInvite('v-1', T0 + 5)).toBe(true);
    expect(await residentSide.revokeInvite('v-1', T0 + 6)).toBe(false);
    expect((await residentSide.inviteById('v-1'))?.revokedAt).toBe(T0 + 5);
    const passage = (seq: number, personId: string, result: 'granted' | 'denied', ts: number) => ({
      ...entryEvent('g-1', seq, { personId, result, ts }),
      compoundId: 'c-1',
      receivedAt: ts,
    });
    await store.insertEvents([
      passage(1, 'p-visitor-1', 'granted', T0 + 100),
      passage(2, 'p-visitor-1', 'denied', T0 + 200),
      passage(3, 'p-visitor-2', 'granted', T0 + 300),
      passage(4, 'p-zhang', 'granted', T0 + 400),
      passage(5, 'p-visitor-2', 'granted', T0 + 2 * DAY),
    ]);
    expect(await residentSide.visitorStats('c-1', T0, T0 + DAY)).toEqual({
      passages: 3,
      granted: 2,
      visitors: 2,
      invitations: 2,
    });
    expect(await residentSide.visitorStats('c-1', T0 + DAY, T0 + 3 * DAY)).toEqual({
      passages: 1,
      granted: 1,
      visitors: 1,
      invitations: 0,
    });
  });

  it('a reservation counts while pending but is in no view, completes only in its time, and is undone once abandoned', async () => {
    const quota = { since: T0 - DAY, max: 2, now: T0, pendingUntil: T0 + PENDING };
    expect(await residentSide.reserveInvite(invite('v-1', 'p-visitor-1', T0), quota)).toBe(0);
    expect(await residentSide.reserveInvite(invite('v-2', 'p-visitor-2', T0), quota)).toBe(1);
    expect(await residentSide.reserveInvite(invite('v-3', 'p-visitor-3', T0), quota)).toBeUndefined();
    // Pending: counted, but not listed, not found by id or link, not revocable, not in the statistics.
    expect(await residentSide.invitesSince('c-1', 'h-1', T0 - DAY, T0 + 1)).toBe(2);
    expect(await residentSide.invitesOf('c-1', 'h-1')).toEqual([]);
    expect(await residentSide.inviteById('v-1')).toBeUndefined();
    expect(await residentSide.inviteByLink('link-v-1')).toBeUndefined();
    expect(await residentSide.revokeInvite('v-1', T0 + 1)).toBe(false);
    expect((await residentSide.visitorStats('c-1', T0 - DAY, T0 + DAY)).invitations).toBe(0);
    expect(await residentSide.expiredInvites(T0 + 1)).toEqual([]);

    // v-1 completed in time: an invitation. v-2's time runs out: no longer counted, due for the reclaim.
    expect(await residentSide.completeInvite('v-1', T0 + PENDING - 1)).toBe(true);
    expect((await residentSide.invitesOf('c-1', 'h-1')).map((i) => i.inviteId)).toEqual(['v-1']);
    expect(await residentSide.invitesSince('c-1', 'h-1', T0 - DAY, T0 + PENDING)).toBe(1);
    expect((await residentSide.expiredInvites(T0 + PENDING)).map((i) => i.inviteId)).toEqual(['v-2']);
    expect(await residentSide.completeInvite('v-2', T0 + PENDING)).toBe(false);
    expect(await residentSide.abandonInvite('v-1', T0 + PENDING)).toBe(false); // completed: not the reclaim's
    expect(await residentSide.abandonInvite('v-2', T0 + PENDING)).toBe(true);
    expect(await residentSide.abandonInvite('v-2', T0 + PENDING)).toBe(true); // again after a crash: still its
    expect(await residentSide.completeInvite('v-2', T0)).toBe(false); // abandoned is never completed
    await residentSide.dropInvite('v-1'); // not abandoned: kept
    await residentSide.dropInvite('v-2');
    expect(await residentSide.expiredInvites(T0 + 2 * PENDING)).toEqual([]);
    expect((await residentSide.inviteById('v-1'))?.inviteId).toBe('v-1');

    // A request rolling back abandons its own, even completed: out of the count and every view.
    expect(await residentSide.abandonInvite('v-1')).toBe(true);
    expect(await residentSide.invitesSince('c-1', 'h-1', T0 - DAY, T0 + 1)).toBe(0);
    expect(await residentSide.invitesOf('c-1', 'h-1')).toEqual([]);
    expect(await residentSide.revokeInvite('v-1', T0 + 1)).toBe(false);
  });

  it('hands the reclaim the oldest abandoned reservations first when more than a page are kept', async () => {
    // 150 abandoned at once (all pending until 0: a tie) — the page of 100 must start at the oldest,
    // the only ones old enough to drop, or a steady stream of new ones would keep them for ever.
    const quota = { since: T0 - DAY, max: 1_000, now: T0, pendingUntil: T0 + PENDING };
    for (let i = 0; i < 150; i += 1) {
      const id = `a-${String(i).padStart(3, '0')}`;
      expect(await residentSide.reserveInvite(invite(id, `p-${id}`, T0 - (150 - i) * 1000), quota)).toBeTypeOf(
        'number',
      );
      expect(await residentSide.abandonInvite(id)).toBe(true);
    }
    const page = (await residentSide.expiredInvites(T0 + 2 * PENDING)).map((i) => i.inviteId);
    expect(page).toHaveLength(100);
    expect(page.slice(0, 3)).toEqual(['a-000', 'a-001', 'a-002']);
    expect(page.at(-1)).toBe('a-099');
    for (let i = 0; i < 150; i += 1) await residentSide.dropInvite(`a-${String(i).padStart(3, '0')}`);
  });

  it('keeps return registrations with their travellers, closes each once, finds the due ones', async () => {
    const registration = (returnId: string, createdAt: number, yellowUntil: number | null) => ({
      returnId,
      compoundId: 'c-1',
      householdId: 'h-1',
      registeredBy: 'p-zhang',
      origin: 'Wuhan',
      returnDate: '2026-12-04',
      transport: 'train' as const,
      transportDetail: 'G123',
      createdAt,
      yellowUntil,
      members: [
        { personId: 'p-zhang', previousColour: 'green' as const, setTs: createdAt, restoredAt: null },
        { personId: 'p-child', previousColour: 'red' as const, setTs: null, restoredAt: null },
      ],
    });
    await residentSide.insertReturn(registration('r-1', T0, T0 + DAY));
    await residentSide.insertReturn(registration('r-2', T0 + 1, null));
    await residentSide.insertReturn({
      ...registration('r-3', T0 + 2, T0 + 2 * DAY),
      householdId: null,
      registeredBy: 'p-lone',
      members: [],
    });
    const r1 = await residentSide.returnById('r-1');
    expect(r1).toMatchObject({ status: 'pending', reviewedBy: null, transport: 'train', transportDetail: 'G123' });
    // Travellers in person order, each with the colour it had and the yellow it set.
    expect(r1?.members).toEqual([...registration('r-1', T0, 0).members].reverse());

    expect(await residentSide.dueReturns(T0 + DAY)).toEqual(['r-1']);
    expect(await residentSide.closeReturn('r-1', 'released', 'system', T0 + DAY, null)).toBe(true);
    expect(await residentSide.closeReturn('r-1', 'cleared', 'manager', T0 + DAY + 1, 'late')).toBe(false);
    await residentSide.memberRestored('r-1', 'p-zhang', T0 + DAY);
    expect((await residentSide.returnById('r-1'))?.members.find((m) => m.personId === 'p-zhang')?.restoredAt).toBe(
      T0 + DAY,
    );
    expect(await residentSide.dueReturns(T0 + 3 * DAY)).toEqual(['r-3']);
    expect((await residentSide.returnsOfCompound('c-1', 'pending')).map((r) => r.returnId)).toEqual(['r-3', 'r-2']);
    expect((await residentSide.returnsOfCompound('c-1', 'all')).map((r) => r.returnId)).toEqual(['r-3', 'r-2', 'r-1']);
    expect((await residentSide.returnsOfHousehold('c-1', 'h-1', 'p-zhang')).map((r) => r.returnId)).toEqual([
      'r-2',
      'r-1',
    ]);
    expect((await residentSide.returnsOfHousehold('c-1', null, 'p-lone')).map((r) => [r.returnId, r.members])).toEqual([
      ['r-3', []],
    ]);
  });

  it('keeps the compound policy, the default when none or unreadable, across a restart', async () => {
    expect(await residentSide.policyOf('c-1')).toEqual(DEFAULT_RESIDENT_POLICY);
    const policy = { ...DEFAULT_RESIDENT_POLICY, visitorQuota: 3 };
    await residentSide.setPolicy('c-1', policy, 'manager', T0);
    expect(await residentSide.policyOf('c-1')).toEqual(policy);
    await residentSide.issueCode(code('k-1', 'p-zhang', T0));
    expect(residentSide.open).toBe(true);
    await store.close();
    expect(residentSide.open).toBe(false);
    const reopened = openResidentSideStore((await backend.reopen()).engine);
    expect(await reopened.policyOf('c-1')).toEqual(policy);
    expect((await reopened.codeById('k-1'))?.personId).toBe('p-zhang');
  });
});
