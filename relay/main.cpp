#include "relay/cli.hpp"

int main(int argc, char** argv) { return ferry::relay::RunRelayCli(argc, argv); }
