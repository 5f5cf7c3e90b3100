// libFuzzer's entry for programs with their own main (https://llvm.org/docs/LibFuzzer.html): it
// parses libFuzzer's flags from argv and runs `callback` on every input. Only declared here: it is
// linked in by `-sanitize=fuzzer` (scripts/fuzz.sh), and only called when GATEWAY_FUZZ is defined.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
