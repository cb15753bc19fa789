export * from './common.ts';
export * from './http.ts';
export * from './mqtt.ts';
export * from './supply.ts';
export * from './resident-side.ts';
