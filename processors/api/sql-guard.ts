// `ipvm sql` reads unless told to write: a statement that could change the tables (INSERT,
// ALTER, DROP, TRUNCATE, OPTIMIZE, SYSTEM, …) or write elsewhere (INTO OUTFILE) needs --write.
import { returnsRows } from '../tables/sql.ts';

/** A statement refused without `--write` (usage: exit 2). */
export class SqlWriteRefusedError extends Error {
  override name = 'SqlWriteRefusedError';
  readonly usage = true;
  readonly retryable = false;
}

/** True for a statement that only reads (one statement, no `INTO OUTFILE`). */
export function isReadOnlySql(sql: string): boolean {
  // Text in quotes cannot change what the statement does: blank it before looking.
  const bare = sql.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''");
  if (/;\s*\S/.test(bare)) return false; // several statements
  if (/\bINTO\s+OUTFILE\b/i.test(bare)) return false;
  return returnsRows(bare);
}

/** Throws {@link SqlWriteRefusedError} unless the statement only reads. */
export function assertReadOnlySql(sql: string): void {
  if (!isReadOnlySql(sql))
    throw new SqlWriteRefusedError(
      'this statement may change the tables: ipvm sql only reads unless given --write',
    );
}
