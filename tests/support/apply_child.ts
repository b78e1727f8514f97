/**
 * Applies every page of database NEW onto COPY with the follower's apply, in its own process
 * so a test can SIGKILL it mid-apply. Page 1 gets the copy's header patch.
 * With "replace", replaces the whole copy with NEW (as a restore-again does) instead.
 * Usage: deno run -A tests/support/apply_child.ts COPY NEW [unsafe|replace]
 */
import {
  applyAtomically,
  type PageImage,
  replaceAtomically,
} from "../../src/follow/atomic_apply.ts";
import { patchPage1 } from "../../src/follow/copy_header.ts";

const [copy, next, mode] = Deno.args;
const bytes = Deno.readFileSync(next);
const pageSize = (bytes[16] << 8) | bytes[17];
const pageCount = bytes.length / pageSize;
const pages: PageImage[] = [];
for (let pgno = 1; pgno <= pageCount; pgno++) {
  pages.push({ pgno, data: bytes.subarray((pgno - 1) * pageSize, pgno * pageSize) });
}
patchPage1(pages[0].data, { changeCounter: 1000, pageCount });
if (mode === "replace") {
  await replaceAtomically({ path: copy, sourcePath: next, pageSize });
} else {
  await applyAtomically({ path: copy, pageSize, pages, pageCount, unsafe: mode === "unsafe" });
}
