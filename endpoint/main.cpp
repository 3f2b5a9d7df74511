#include "endpoint/cli.hpp"

int main(int argc, char** argv) { return ferry::endpoint::RunAgentCli(argc, argv); }
