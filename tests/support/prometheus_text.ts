/**
 * A strict check of the Prometheus text exposition format 0.0.4, beside the npm parser the
 * tests use (which is lenient: it skips lines it does not understand). Every line is a
 * `# HELP`, a `# TYPE` before the family's first sample, or a sample whose name belongs to
 * the declared family, with well-formed labels and a float value.
 */
import assert from "node:assert/strict";

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const VALUE = "(?:[+-]?(?:\\d+(?:\\.\\d*)?(?:[eE][+-]?\\d+)?|\\.\\d+)|[+-]Inf|NaN)";
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}(?:,${LABEL})*)?\\})? ${VALUE}$`);
const HELP = new RegExp(`^# HELP (${NAME}) .*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

export function assertStrictExposition(text: string): void {
  assert.ok(text.endsWith("\n"), "the page ends with a newline");
  const typed = new Map<string, string>();
  const seen = new Set<string>();
  for (const [i, line] of text.slice(0, -1).split("\n").entries()) {
    const where = `line ${i + 1}: ${line}`;
    const type = TYPE.exec(line);
    if (type) {
      assert.ok(!typed.has(type[1]), `${where}: a second TYPE`);
      assert.ok(!seen.has(type[1]), `${where}: TYPE after samples`);
      typed.set(type[1], type[2]);
      continue;
    }
    if (HELP.test(line)) continue;
    const sample = SAMPLE.exec(line);
    assert.ok(sample, `${where}: not a sample`);
    const name = sample[1];
    const base = typed.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(typed.has(base), `${where}: no TYPE for ${base}`);
    if (base !== name) assert.equal(typed.get(base), "histogram", where);
    seen.add(base);
  }
}
