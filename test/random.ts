// The project's deterministic generator, re-exported for tests and scripts (no test-runner
// imports here, so that scripts can use it).
export { rng, randn } from "../runtime/random.js";
