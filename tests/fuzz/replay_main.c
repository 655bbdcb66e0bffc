/* Replays inputs through a fuzz harness without libFuzzer: the regression inputs and corpora
 * under gcc + ASan/UBSan (build-asan/), or natively. Arguments are files or directories (their
 * regular files, sorted). Exit 0 when every input ran; a harness check aborts. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
    if (!data || (size > 0 && fread(data, 1, (size_t)size, f) != (size_t)size)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        fclose(f);
        free(data);
        return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, (size_t)size);
    free(data);
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    int failures = 0;
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat info;
        if (stat(argv[i], &info) != 0) {
            fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
            failures++;
            continue;
        }
        if (!S_ISDIR(info.st_mode)) {
            failures += run_file(argv[i]);
            count++;
            continue;
        }
        struct dirent **entries;
        int n = scandir(argv[i], &entries, NULL, NULL);
        if (n < 0) {
            fprintf(stderr, "replay: cannot list %s\n", argv[i]);
            failures++;
            continue;
        }
        char **paths = calloc((size_t)n + 1, sizeof *paths);
        int m = 0;
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], entries[k]->d_name);
            if (stat(path, &info) == 0 && S_ISREG(info.st_mode)) paths[m++] = strdup(path);
            free(entries[k]);
        }
        free(entries);
        qsort(paths, (size_t)m, sizeof *paths, by_name);
        for (int k = 0; k < m; k++) {
            failures += run_file(paths[k]);
            count++;
            free(paths[k]);
        }
        free(paths);
    }
    printf("replayed %zu inputs, %d unreadable\n", count, failures);
    return failures ? 1 : 0;
}
