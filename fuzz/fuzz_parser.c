/* fuzz_parser.c -- libFuzzer harness for the frame parser. The entry point and its checks
 * live in tests/c/test_fuzz_parser.c (the bounded fuzzer of the test suite), compiled here
 * with BF_LIBFUZZER so that LLVMFuzzerTestOneInput replaces its main: one source for both.
 * Build and run: ./dev fuzz parser (see docs/fuzzing.md).
 * fuzz-flags: -max_len=4096
 */
#define BF_LIBFUZZER 1
#include "../tests/c/test_fuzz_parser.c"

/* The entry point keeps its queues in /tmp/binfeed-fuzz-XXXXXX: remove them at exit. */
static void fp_cleanup(void) {
    lf_close();
    const char *dirs[] = {lf_dir, lf_sub_dir};
    for (size_t i = 0; i < 2; i++) {
        if (!dirs[i][0]) continue;
        lf_empty_dir(dirs[i]);
        rmdir(dirs[i]);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    atexit(fp_cleanup);
    return 0;
}
