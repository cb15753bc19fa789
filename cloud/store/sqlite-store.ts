/** The embedded SQLite store; its table families live in cloud/store/sqlite/. */
export { SqliteCloudStore, type SqliteStoreOptions } from './sqlite/sqlite-cloud-store.ts';
