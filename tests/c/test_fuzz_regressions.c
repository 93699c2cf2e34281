/* Replays the saved fuzz inputs of tests/data/fuzz/ through the fuzz harnesses' own checks,
 * so that the test suite runs them under -Werror and ASan+UBSan (see docs/fuzzing.md):
 *
 *   tests/data/fuzz/segment/  fuzz/queue_checks.h's fq_run (fuzz/fuzz_segment.c): the
 *                             reader, the one judge, bf_verify_queue, the writer's recovery
 *   tests/data/fuzz/parser/   test_fuzz_parser.c's LLVMFuzzerTestOneInput (fuzz/fuzz_parser.c)
 *                             (it holds the found bugs' reproducers too: symbol ids up to
 *                             2^32 once made readers, verify and recovery allocate tables
 *                             of up to ~140 GB; ids are now bounded by BF_SYMBOL_ID_MAX)
 *
 * A failed check aborts naming the input file. Gets the scratch directory as argv[1] and
 * tests/data as BINFEED_TEST_DATA.
 */
#include "../../fuzz/queue_checks.h"

#define BF_LIBFUZZER 1
#include "test_fuzz_parser.c"

#define FR_MAX_INPUT (1u << 20)

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Calls fn(path, bytes, len) for every regular file of dir, in name order; returns the
 * count (0 if dir does not exist). */
static size_t each_input(const char *dir, void (*fn)(const char *, const uint8_t *, size_t)) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = realloc(names, cap * sizeof *names);
            if (!names) abort();
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_names);
    static uint8_t buf[FR_MAX_INPUT];
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *fp = fopen(path, "rb");
        if (!fp) {
            fprintf(stderr, "cannot open %s\n", path);
            exit(2);
        }
        size_t len = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        fn(path, buf, len);
        free(names[i]);
    }
    free(names);
    return n;
}

static char queue_dir[4096];

static void replay_segment(const char *path, const uint8_t *data, size_t len) {
    fq_context = path;
    fq_run(data, len, queue_dir);
}

static void replay_parser(const char *path, const uint8_t *data, size_t len) {
    fq_context = path;
    LLVMFuzzerTestOneInput(data, len);
}

int main(int argc, char **argv) {
    const char *scratch = argc > 1 ? argv[1] : ".";
    const char *data = getenv("BINFEED_TEST_DATA");
    if (!data || !*data) data = "tests/data";
    snprintf(queue_dir, sizeof queue_dir, "%s/fuzz-queue", scratch);
    char dir[4096];

    snprintf(dir, sizeof dir, "%s/fuzz/segment", data);
    size_t segments = each_input(dir, replay_segment);
    snprintf(dir, sizeof dir, "%s/fuzz/parser", data);
    size_t frames = each_input(dir, replay_parser);

    /* the parser harness keeps a queue in a directory of its own: remove it */
    if (lf_parser) bf_parser_free(lf_parser);
    if (lf_writer) bf_writer_close(lf_writer);
    if (lf_dir[0]) fq_remove_tree(lf_dir);
    if (c_locale != (locale_t)0) freelocale(c_locale);

    printf("fuzz regressions: %zu queue inputs, %zu parser inputs replayed\n", segments,
           frames);
    CHECK(segments >= 5 && frames >= 5); /* the data is there */
    TEST_MAIN_END();
}
