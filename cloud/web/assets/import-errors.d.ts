/** Types of import-errors.js (a browser module that the Node tests import too). */
export function translateImportProblem(problem: {
  row: number;
  column: string | null;
  message: string;
}): [string, string];
