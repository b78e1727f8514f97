/**
 * Writes `text_rows_pages.bin`, the pages `ltx_bench.ts` compresses: 16 consecutive 4 KB pages
 * (page numbers 2 to 17) of a table of 40,000 short text rows, the database the benchmark used
 * to build in a temp directory at every run. Run once (the output is committed):
 *
 *   deno run -A bench/testdata/make_text_rows_pages.ts
 */
import { DatabaseSync } from "node:sqlite";

const PAGE_SIZE = 4096;
const FIRST_PAGE = 2;
const PAGE_COUNT = 16;

const dir = Deno.makeTempDirSync();
const path = `${dir}/bench.db`;
const db = new DatabaseSync(path);
db.exec(
  `PRAGMA page_size=${PAGE_SIZE}; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, email TEXT, note TEXT)`,
);
const insert = db.prepare("INSERT INTO t (name, email, note) VALUES (?, ?, ?)");
db.exec("BEGIN");
for (let i = 0; i < 40_000; i++) {
  insert.run(
    `user ${i}`,
    `user${i}@example.com`,
    `note ${(i * 7919) % 100_003} ${"x".repeat(i % 40)}`,
  );
}
db.exec("COMMIT");
db.close();
const bytes = Deno.readFileSync(path);
Deno.removeSync(dir, { recursive: true });
const start = (FIRST_PAGE - 1) * PAGE_SIZE;
Deno.writeFileSync(
  new URL("text_rows_pages.bin", import.meta.url),
  bytes.slice(start, start + PAGE_COUNT * PAGE_SIZE),
);
