'use strict';
// Spec output for people, plus a JSON file of results that .ci/run turns into the summary line.
const fs = require('node:fs');
const Mocha = require('mocha');

const { EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_RUN_END } = Mocha.Runner.constants;

class StepUpReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const results = { passed: 0, failed: 0, skipped: 0, failures: [] };
    runner.on(EVENT_TEST_PASS, () => { results.passed += 1; });
    runner.on(EVENT_TEST_PENDING, () => { results.skipped += 1; });
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      results.failed += 1;
      results.failures.push({ title: test.fullTitle(), message: String(err && err.message) });
    });
    runner.once(EVENT_RUN_END, () => {
      const file = process.env.TEST_RESULTS_FILE || '.test-results.json';
      fs.writeFileSync(file, JSON.stringify(results, null, 2));
    });
  }
}

module.exports = StepUpReporter;
