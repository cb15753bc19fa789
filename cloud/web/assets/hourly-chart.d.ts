/** Types of hourly-chart.js (a browser module that the Node tests import too). */
export interface HourlyChartPoint {
  start: number;
  label: string;
  crossingsIn: number;
  crossingsOut: number;
  denied: number;
}
export function niceScale(max: number): { top: number; step: number };
export function renderHourlyChart(hours: readonly HourlyChartPoint[]): string;
