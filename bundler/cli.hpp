#pragma once

namespace ferry::bundler {

// Runs `ferry-bundle` with its arguments and returns the process exit code: 0 success, 1 the input
// failed verification, 2 usage, 3 I/O or environment (docs/ferry-bundle.md).
int RunBundleCli(int argc, char** argv);

}  // namespace ferry::bundler
