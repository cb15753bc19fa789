// Importing residents from a CSV file: all or nothing; the importer's problems are listed per row
// and column in Chinese and English (import-errors.js).
import { bilingual, el } from './format.js';
import { translateImportProblem } from './import-errors.js';
import { api, describeError } from './session.js';
import { $, residentsView } from './dashboard-common.js';
import { loadResidents } from './dashboard-residents.js';

$('resident-import').addEventListener('click', async () => {
  const file = $('resident-csv').files[0];
  const report = $('import-report');
  report.hidden = false;
  if (!file) {
    report.className = 'report failed';
    report.replaceChildren(bilingual(['请先选择 CSV 文件', 'Choose a CSV file first']));
    return;
  }
  report.className = 'report';
  report.replaceChildren(bilingual(['导入中…', 'Importing…']));
  try {
    const result = await api('/residents/import', { method: 'POST', raw: await file.text(), contentType: 'text/csv' });
    report.className = 'report ok';
    report.replaceChildren(
      el('b', {}, `已导入 ${result.imported} 人（新增 ${result.created}，更新 ${result.updated}）`),
      el('small', {}, ` Imported ${result.imported} (created ${result.created}, updated ${result.updated})`),
    );
    residentsView.offset = 0;
    await loadResidents();
  } catch (err) {
    report.className = 'report failed';
    const rows = err.body?.error?.rows ?? [];
    report.replaceChildren(
      el('p', {}, el('b', {}, '未导入任何数据 · Nothing was imported: '), describeError({ message: err.message })),
      rows.length
        ? el(
            'table',
            { class: 'compact', id: 'import-errors' },
            el(
              'thead',
              {},
              el('tr', {}, el('th', {}, '行 Row'), el('th', {}, '列 Column'), el('th', {}, '问题 Problem')),
            ),
            el(
              'tbody',
              {},
              rows.map((e) => {
                const [zh, en] = translateImportProblem(e);
                return el(
                  'tr',
                  {},
                  el('td', {}, String(e.row)),
                  el('td', {}, e.column ?? '—'),
                  el('td', {}, zh, el('small', { class: 'block' }, en)),
                );
              }),
            ),
          )
        : null,
    );
  }
});
