/** Card text blocks of the three layouts (docs/devices.md §1), shared by the ID-card reader tests. */
import type { TextBlockInput } from '../../../firmware-bridge/idreader/text-block.ts';
import { idNumberCheckCharacter } from '../../../shared/id-number.ts';

const PERMIT_FIRST17 = '81000019900101123';

/** A Hong Kong/Macao/Taiwan residence permit (flag J by default). */
export const PERMIT_CARD: TextBlockInput = {
  kind: 'hmt-permit',
  name: '陈大文',
  sex: 'male',
  nationCode: '',
  birthDate: '1990-01-01',
  address: '广东省深圳市福田区福华路1号',
  idNumber: PERMIT_FIRST17 + idNumberCheckCharacter(PERMIT_FIRST17),
  authority: '深圳市公安局',
  validFrom: '2020-01-01',
  validTo: '2030-01-01',
  permit: { passNumber: 'H12345678', issueCount: '01' },
};

/** A foreign permanent-resident card (flag I by default). */
export const FOREIGN_CARD: TextBlockInput = {
  kind: 'foreign-permanent',
  name: 'SMITH, JOHN ALEXANDER',
  sex: 'male',
  nationCode: 'CAN',
  birthDate: '1980-05-17',
  address: '',
  idNumber: 'CAN110080051701',
  authority: '1500',
  validFrom: '2019-03-01',
  validTo: '2029-03-01',
  foreign: { chineseName: '史密斯', cardVersion: '01' },
};
