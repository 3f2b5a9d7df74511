#pragma once

namespace ferry::relay {

// Runs `ferry-relay` and returns the process exit code: 0 success, 1 the input failed
// verification (or fsck found a fault), 2 usage, 3 I/O or environment (docs/ferry-relay.md).
int RunRelayCli(int argc, char** argv);

}  // namespace ferry::relay
