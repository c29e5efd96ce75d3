// A node:test reporter that prints nothing while the suite runs and, at the end, every failed test again with
// its file and error. It runs beside the TAP reporter so that the last lines of a long run (all a CI log
// may keep) name what failed instead of only counting it.
import { inspect } from "node:util";

const MAX_ERROR_LINES = 40;

export default async function* failuresReporter(source) {
  const failures = [];
  for await (const event of source) {
    if (event.type !== "test:fail") continue;
    const { name, file, details } = event.data;
    if (details?.type === "suite" && isOnlyChildFailures(details.error)) continue;
    failures.push({ name, file, error: details?.error });
  }
  if (failures.length === 0) return;
  yield `\n# ${failures.length} failed test${failures.length === 1 ? "" : "s"}:\n`;
  for (const failure of failures) {
    yield `# FAILED: ${failure.name}${failure.file ? ` (${failure.file})` : ""}\n`;
    const text = inspect(failure.error?.cause ?? failure.error, { depth: 4, breakLength: 120 });
    const lines = text.split("\n").filter((line) => !/^\s+at .*node:(internal|async_hooks)/.test(line));
    for (const line of lines.slice(0, MAX_ERROR_LINES)) yield `#   ${line}\n`;
    if (lines.length > MAX_ERROR_LINES) yield `#   ... (${lines.length - MAX_ERROR_LINES} more lines)\n`;
  }
}

/** A suite fails when one of its tests fails; that is already listed under the test's own name. */
function isOnlyChildFailures(error) {
  return error?.failureType === "subtestsFailed";
}
