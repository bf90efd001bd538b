// `ipvm sql` only reads unless --write: which statements pass.
import { describe, expect, it } from 'vitest';
import { isReadOnlySql } from '../../processors/api/sql-guard.ts';

describe('isReadOnlySql', () => {
  it('lets reads through', () => {
    for (const q of [
      'SELECT 1',
      '  -- a comment\nSELECT * FROM receipts',
      'WITH x AS (SELECT 1) SELECT * FROM x',
      'SHOW TABLES',
      'DESCRIBE receipts',
      "SELECT 'DROP TABLE x; INSERT' AS s",
      'SELECT 1;',
    ])
      expect(isReadOnlySql(q), q).toBe(true);
  });
  it('refuses what changes the tables or writes elsewhere', () => {
    for (const q of [
      'DROP TABLE receipts',
      'INSERT INTO receipts VALUES (1)',
      'ALTER TABLE receipts DELETE WHERE 1',
      'TRUNCATE TABLE lineage',
      'OPTIMIZE TABLE receipts FINAL',
      'SYSTEM DROP MARK CACHE',
      'SELECT 1; DROP TABLE receipts',
      "SELECT * FROM receipts INTO OUTFILE '/tmp/x'",
      'CREATE TABLE t (x UInt8) ENGINE = Memory',
    ])
      expect(isReadOnlySql(q), q).toBe(false);
  });
});
