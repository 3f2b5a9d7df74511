#pragma once

namespace ferry::endpoint {

// Runs `ferry-agent` and returns the process exit code: 0 success, 1 verification refused
// something (or, with run --once, an install failed), 2 usage, 3 I/O or relay unreachable
// (docs/ferry-agent.md).
int RunAgentCli(int argc, char** argv);

}  // namespace ferry::endpoint
