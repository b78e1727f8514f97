import assert from "node:assert/strict";
import {
  createProgress,
  formatByteRatio,
  formatBytes,
  formatDuration,
  formatEta,
  formatPercent,
  formatRate,
  renderBar,
  renderPlainFinal,
  renderPlainLine,
  renderTtyLine,
} from "./progress.ts";

const MIB = 1024 * 1024;

/** A writer that records every write, and a clock the test moves by hand. */
function harness() {
  const writes: string[] = [];
  let time = 1_000;
  return {
    writes,
    write: (text: string) => writes.push(text),
    now: () => time,
    advance: (ms: number) => (time += ms),
  };
}

Deno.test("formatBytes uses binary units with one decimal above 1 KiB", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1.0 KiB");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(117 * MIB), "117.0 MiB");
  assert.equal(formatBytes(61.2 * MIB), "61.2 MiB");
  assert.equal(formatBytes(3 * 1024 * MIB), "3.0 GiB");
  assert.equal(formatBytes(2 * 1024 ** 4), "2.0 TiB");
});

Deno.test("formatByteRatio shows both sides in the total's unit", () => {
  assert.equal(formatByteRatio(61.2 * MIB, 117 * MIB), "61.2/117.0 MiB");
  assert.equal(formatByteRatio(512 * 1024, 2 * MIB), "0.5/2.0 MiB");
  assert.equal(formatByteRatio(300, 1000), "300/1000 B");
  assert.equal(formatByteRatio(61.2 * MIB, 117 * MIB, " of "), "61.2 of 117.0 MiB");
});

Deno.test("formatPercent rounds down so only the whole is 100%, and clamps", () => {
  assert.equal(formatPercent(0, 100), "0%");
  assert.equal(formatPercent(52, 100), "52%");
  assert.equal(formatPercent(999, 1000), "99%");
  assert.equal(formatPercent(1000, 1000), "100%");
  assert.equal(formatPercent(1200, 1000), "100%");
  assert.equal(formatPercent(0, 0), "100%");
});

Deno.test("formatRate divides bytes by elapsed seconds and is unknown at time zero", () => {
  assert.equal(formatRate(96.2 * MIB, 2_000), "48.1 MiB/s");
  assert.equal(formatRate(512, 1_000), "512 B/s");
  assert.equal(formatRate(100, 0), undefined);
});

Deno.test("formatDuration and formatEta cover milliseconds to hours", () => {
  assert.equal(formatDuration(38.7), "38ms");
  assert.equal(formatDuration(2_400), "2.4s");
  assert.equal(formatDuration(42_000), "42s");
  assert.equal(formatDuration(65_000), "1m05s");
  assert.equal(formatDuration(2 * 3_600_000 + 3 * 60_000), "2h03m");
  assert.equal(formatEta(1), "1s");
  assert.equal(formatEta(1_001), "2s");
  assert.equal(formatEta(59_000), "59s");
  assert.equal(formatEta(3_600_000), "1h00m");
});

Deno.test("renderBar fills in proportion, rounding down", () => {
  assert.equal(renderBar(0.52, 20), "██████████░░░░░░░░░░");
  assert.equal(renderBar(0, 4), "░░░░");
  assert.equal(renderBar(0.999, 4), "███░");
  assert.equal(renderBar(1.5, 4), "████");
});

Deno.test("renderTtyLine draws label, bar, percent, bytes, rate and ETA within the width", () => {
  const state = {
    label: "restore app.db",
    doneBytes: 61.2 * MIB,
    totalBytes: 117 * MIB,
    elapsedMs: 1_272,
  };
  const line = renderTtyLine(state, 100);
  assert.equal(
    line,
    `restore app.db [${"█".repeat(17)}${"░".repeat(17)}]  52%  61.2/117.0 MiB  48.1 MiB/s  ETA 2s`,
  );
  assert.ok(line.length <= 99);
  // Narrower terminal: a narrower bar, the same numbers.
  assert.equal(
    renderTtyLine(state, 80),
    "restore app.db [███████░░░░░░░]  52%  61.2/117.0 MiB  48.1 MiB/s  ETA 2s",
  );
  // Too narrow for a bar: the numbers, cut to fit.
  assert.equal(renderTtyLine(state, 40), "restore app.db   52%  61.2/117.0 MiB  4");
  // A wide terminal: the bar stops growing.
  const wide = renderTtyLine(state, 300);
  assert.equal(wide.match(/[█░]/g)!.length, 40);
});

Deno.test("renderTtyLine without a total shows bytes and rate only; final shows the time", () => {
  assert.equal(
    renderTtyLine({ label: "snapshot x.db", doneBytes: 3 * MIB, elapsedMs: 2_000 }, 80),
    "snapshot x.db  3.0 MiB  1.5 MiB/s",
  );
  assert.equal(
    renderTtyLine(
      { label: "r", doneBytes: 2 * MIB, totalBytes: 2 * MIB, elapsedMs: 500 },
      80,
      true,
    ),
    `r [${"█".repeat(31)}] 100%  2.0/2.0 MiB  4.0 MiB/s  in 500ms`,
  );
});

Deno.test("renderTtyLine shows 100% and a full bar only on the final line", () => {
  const state = { label: "r", doneBytes: 2 * MIB, totalBytes: 2 * MIB, elapsedMs: 500 };
  assert.equal(
    renderTtyLine(state, 80),
    `r [${"█".repeat(30)}░]  99%  2.0/2.0 MiB  4.0 MiB/s`,
  );
  assert.match(renderTtyLine(state, 80, true), /\] 100% {2}/);
});

Deno.test("plain lines show percent and bytes; the final line adds time, rate and summary", () => {
  const state = {
    label: "restore app.db",
    doneBytes: 61.2 * MIB,
    totalBytes: 117 * MIB,
    elapsedMs: 2_400,
  };
  assert.equal(renderPlainLine(state), "restore app.db: 52% (61.2 of 117.0 MiB)");
  assert.equal(
    renderPlainLine({ ...state, totalBytes: undefined }),
    "restore app.db: 61.2 MiB",
  );
  assert.equal(
    renderPlainFinal({ ...state, doneBytes: 117 * MIB }, "verified"),
    "restore app.db: 100% (117.0 of 117.0 MiB) in 2.4s, 48.8 MiB/s; verified",
  );
});

Deno.test("plain progress prints once per quarter, on the interval, and a final line", () => {
  const h = harness();
  const progress = createProgress({
    label: "restore app.db",
    totalBytes: 100 * MIB,
    tty: false,
    write: h.write,
    now: h.now,
    intervalMs: 5_000,
  });
  progress.update(0);
  progress.update(10 * MIB);
  assert.deepEqual(h.writes, []);
  h.advance(1_000);
  progress.update(26 * MIB); // first quarter
  progress.update(30 * MIB);
  h.advance(5_000);
  progress.update(40 * MIB); // interval
  h.advance(1_000);
  progress.update(50 * MIB); // second quarter
  progress.update(99 * MIB); // third quarter, skipping ahead
  progress.update(100 * MIB); // all done: left to the final line
  h.advance(1_000);
  progress.done();
  progress.done();
  progress.update(100 * MIB);
  assert.deepEqual(h.writes, [
    "restore app.db: 26% (26.0 of 100.0 MiB)\n",
    "restore app.db: 40% (40.0 of 100.0 MiB)\n",
    "restore app.db: 50% (50.0 of 100.0 MiB)\n",
    "restore app.db: 99% (99.0 of 100.0 MiB)\n",
    "restore app.db: 100% (100.0 of 100.0 MiB) in 8.0s, 12.5 MiB/s\n",
  ]);
});

Deno.test("plain progress without a total prints only on the interval", () => {
  const h = harness();
  const progress = createProgress({
    label: "snapshot x.db",
    tty: false,
    write: h.write,
    now: h.now,
    intervalMs: 5_000,
  });
  h.advance(4_999);
  progress.update(MIB);
  h.advance(1);
  progress.update(2 * MIB);
  progress.print("a log line");
  progress.done("done");
  assert.deepEqual(h.writes, [
    "snapshot x.db: 2.0 MiB\n",
    "a log line\n",
    "snapshot x.db: 2.0 MiB in 5.0s, 409.6 KiB/s; done\n",
  ]);
});

Deno.test("the terminal bar redraws in place at most every 100ms and ends with a newline", () => {
  const h = harness();
  const progress = createProgress({
    label: "r",
    totalBytes: 4 * MIB,
    tty: true,
    columns: 60,
    write: h.write,
    now: h.now,
  });
  progress.update(0);
  h.advance(50);
  progress.update(MIB); // too soon: not drawn
  h.advance(50);
  progress.update(2 * MIB);
  progress.print("INFO a log line\n");
  h.advance(100);
  progress.done();
  progress.cancel();
  // 60 columns: 59 usable, less "r", " [", "] " and 43 kept for the numbers.
  const bar = (filled: number) => "█".repeat(filled) + "░".repeat(11 - filled);
  assert.deepEqual(h.writes, [
    `\r\x1b[Kr [${bar(0)}]   0%  0.0/4.0 MiB`,
    `\r\x1b[Kr [${bar(5)}]  50%  2.0/4.0 MiB  20.0 MiB/s  ETA 1s`,
    `\r\x1b[KINFO a log line\nr [${bar(5)}]  50%  2.0/4.0 MiB  20.0 MiB/s  ETA 1s`,
    `\r\x1b[Kr [${bar(5)}]  50%  2.0/4.0 MiB  10.0 MiB/s  in 200ms\n`,
  ]);
});

Deno.test("a cancelled bar ends its line; a cancelled plain progress prints nothing more", () => {
  const tty = harness();
  const bar = createProgress({
    label: "r",
    tty: true,
    columns: 80,
    write: tty.write,
    now: tty.now,
  });
  bar.cancel();
  assert.deepEqual(tty.writes, []);
  const drawn = harness();
  const drawnBar = createProgress({
    label: "r",
    tty: true,
    columns: 80,
    write: drawn.write,
    now: drawn.now,
  });
  drawnBar.update(1);
  drawnBar.cancel();
  drawnBar.done();
  assert.deepEqual(drawn.writes.slice(1), ["\n"]);
  const plain = harness();
  const lines = createProgress({ label: "r", tty: false, write: plain.write, now: plain.now });
  lines.cancel();
  lines.done();
  assert.deepEqual(plain.writes, []);
});
