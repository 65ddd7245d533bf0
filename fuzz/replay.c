/*
 * Replays fuzz inputs through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, so CI can check the corpora with gcc + ASan/UBSan (no clang).
 *
 *   replay_<name> [FILE|DIR]...   (default: fuzz/corpus/<name>, FUZZ_NAME at compile time)
 *
 * Each input runs in a forked child (a crash names its file and the others still
 * run) under a 60 s alarm; its stderr is shown only when it fails. Prints "ok FILE" /
 * "FAIL FILE (...)" per input and the closing "N passed, N failed, 0 skipped" of
 * tests/run.sh; exit status 1 if any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FUZZ_NAME
#error "compile with -DFUZZ_NAME=\"name\""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int passed, failed;

static int run_one(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    /* an exact-size copy, so ASan sees reads past the input's end */
    uint8_t *in = malloc(n ? n : 1);
    if (!in) {
        free(buf);
        return 1;
    }
    memcpy(in, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    return 0;
}

/* Copies the child's stderr (a parser's messages, a sanitizer report) to ours. */
static void show_log(FILE *log)
{
    char buf[4096];
    size_t n;
    rewind(log);
    while ((n = fread(buf, 1, sizeof buf, log)) > 0)
        fwrite(buf, 1, n, stderr);
}

static void replay_file(const char *path)
{
    fflush(stdout);
    fflush(stderr);
    FILE *log = tmpfile(); /* the child's stderr, shown only when it fails */
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        if (log)
            dup2(fileno(log), 2);
        alarm(60);
        _exit(run_one(path));
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            exit(2);
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("ok %s\n", path);
        passed++;
    } else {
        if (WIFSIGNALED(status))
            printf("FAIL %s (signal %d%s)\n", path, WTERMSIG(status),
                   WTERMSIG(status) == SIGALRM ? ": timeout" : "");
        else
            printf("FAIL %s (exit %d)\n", path, WEXITSTATUS(status));
        failed++;
        if (log)
            show_log(log);
    }
    if (log)
        fclose(log);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_path(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("FAIL %s (cannot stat: %s)\n", path, strerror(errno));
        failed++;
        return;
    }
    if (!S_ISDIR(sb.st_mode)) {
        replay_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        printf("FAIL %s (cannot open folder)\n", path);
        failed++;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn)
                exit(2);
            names = nn;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len)))
            exit(2);
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        replay_path(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        replay_path("fuzz/corpus/" FUZZ_NAME);
    for (int i = 1; i < argc; i++)
        replay_path(argv[i]);
    printf("%d passed, %d failed, 0 skipped\n", passed, failed);
    return failed ? 1 : 0;
}
