/**
 * One side of the write race in test/write-race.test.ts: `rounds` read-then-write
 * transactions on a shared counter, the way station code writes (read a row, decide, write).
 * Exits 0 when every one committed; prints the error and exits 1 on the first that failed.
 */
import { openDatabase } from '../../db/open.ts';

const [file, label, rounds] = process.argv.slice(2);
const db = openDatabase(file!, { migrations: [] });
const step = db.transaction(() => {
  const n = db.prepare('SELECT n FROM counter WHERE id = 1').pluck().get() as number;
  db.prepare('UPDATE counter SET n = ? WHERE id = 1').run(n + 1);
  db.prepare('INSERT INTO log (who, seen) VALUES (?, ?)').run(label, n);
});
try {
  for (let i = 0; i < Number(rounds); i++) step();
  db.close();
} catch (e) {
  process.stderr.write(`${label}: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
