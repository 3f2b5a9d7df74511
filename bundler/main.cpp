#include "bundler/cli.hpp"

int main(int argc, char** argv) { return ferry::bundler::RunBundleCli(argc, argv); }
