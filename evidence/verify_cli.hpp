#pragma once

namespace ferry::evidence {

// Runs `ferry-verify` and returns its exit code: 0 the evidence holds, 1 it is tampered,
// incomplete, rolled back or forked (the first fault named), 2 usage, 3 I/O
// (docs/auditor-guide.md).
int RunVerifyCli(int argc, char** argv);

}  // namespace ferry::evidence
