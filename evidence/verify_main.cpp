#include "evidence/verify_cli.hpp"

int main(int argc, char** argv) { return ferry::evidence::RunVerifyCli(argc, argv); }
