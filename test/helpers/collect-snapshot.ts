/**
 * A compound's whole snapshot, parsed, for tests that look at it as one: the store's streamed read
 * (`RegistryStore.readSnapshot`, which is all the cloud itself uses) collected into memory.
 */
import type { RegistryStore } from '../../cloud/store/store.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';

export interface Snapshot {
  rev: number;
  records: Change[];
}

export async function collectSnapshot(
  store: Pick<RegistryStore, 'readSnapshot'>,
  compoundId: string,
): Promise<Snapshot> {
  let rev = 0;
  const records: Change[] = [];
  await store.readSnapshot(compoundId, {
    begin: (at) => {
      rev = at;
    },
    page: (texts) => {
      for (const text of texts) records.push(JSON.parse(text) as Change);
    },
  });
  return { rev, records };
}
