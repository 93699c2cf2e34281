/* fuzz_parser.c -- libFuzzer harness for the frame parser. The entry point and its checks
 * live in tests/c/test_fuzz_parser.c (the bounded fuzzer of the test suite), compiled here
 * with BF_LIBFUZZER so that LLVMFuzzerTestOneInput replaces its main: one source for both.
 * Build and run: ./dev fuzz parser (see docs/fuzzing.md).
 * fuzz-flags: -max_len=4096
 */
#define BF_LIBFUZZER 1
#include "../tests/c/test_fuzz_parser.c"

/* The entry point keeps its queue in /tmp/binfeed-fuzz-XXXXXX: remove it at exit. */
static void fp_cleanup(void) {
    if (lf_parser) bf_parser_free(lf_parser);
    if (lf_writer) bf_writer_close(lf_writer);
    lf_parser = NULL;
    lf_writer = NULL;
    if (!lf_dir[0]) return;
    DIR *d = opendir(lf_dir);
    struct dirent *e;
    char path[600];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.')) continue;
        snprintf(path, sizeof path, "%s/%s", lf_dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(lf_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    atexit(fp_cleanup);
    return 0;
}
