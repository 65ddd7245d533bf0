/* animeface serve, from the outside: each test starts the server ($AF_CLI
 * serve --port 0, the port read from its first log line) on loopback and
 * talks to it with curl (every endpoint and error) or over raw sockets (16
 * concurrent clients, malformed and slow requests, shutdown with requests in
 * flight). Detections are compared with `animeface predict --json` on the
 * same images; the page is checked in headless Chromium by
 * tests/serve_page.py. Artefacts (the page's screenshot) go to $AF_BUILD
 * (default build/release). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "io/image.h"
#include "testutil.h"

#define NSAMPLES 4
static const char *const samples[NSAMPLES] = {
    "samples/personai_icartoonface_detval_00346.jpg",
    "samples/personai_icartoonface_detval_00552.jpg",
    "samples/personai_icartoonface_detval_00706.jpg",
    "samples/personai_icartoonface_detval_00880.jpg",
};

static char tmpdir[256];
static int have_curl;

static const char *cli(void)
{
    const char *p = getenv("AF_CLI");
    return p && *p ? p : "build/release/animeface";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the server process ---- */

typedef struct server {
    pid_t pid;
    int port;
    char log[300];
} server;

/* Starts `animeface serve --port 0 ARGS`; 0 when it listens. */
static int server_start(server *s, const char *args)
{
    static int n;
    memset(s, 0, sizeof s[0]);
    snprintf(s->log, sizeof s->log, "%s/serve%d.log", tmpdir, n++);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec %s serve --port 0 %s 2>%s", cli(), args, s->log);
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* the model loads in well under a second; ASan and a busy machine take longer */
    for (int i = 0; i < 1200; i++) {
        FILE *f = fopen(s->log, "r");
        if (f) {
            char line[512];
            while (fgets(line, sizeof line, f)) {
                const char *p = strstr(line, "http://127.0.0.1:");
                if (p && sscanf(p, "http://127.0.0.1:%d/", &s->port) == 1) {
                    fclose(f);
                    return 0;
                }
            }
            fclose(f);
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        usleep(50 * 1000);
    }
    return -1;
}

/* SIGTERM, then the exit status (-1: killed or did not stop in time). */
static int server_stop(server *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 1200; i++) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(50 * 1000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    return -1;
}

#define REQUIRE_MSG_START(s, args)                                                                 \
    do {                                                                                           \
        if (server_start(s, args)) {                                                               \
            CHECK_MSG(0, "serve %s did not start (log %s)", args, (s)->log);                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static long server_peak_rss_kb(const server *s)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int server_alive(const server *s)
{
    int st;
    return s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == 0;
}

/* ---- files ---- */

/* A whole file, NUL-terminated (for text). */
static unsigned char *read_file(const char *path, size_t *len)
{
    unsigned char *b = t_read_file(path, len);
    unsigned char *t = b ? realloc(b, *len + 1) : NULL;
    if (!t) {
        free(b);
        return NULL;
    }
    t[*len] = 0;
    return t;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int bad = fwrite(data, 1, len, f) != len;
    return fclose(f) || bad ? -1 : 0;
}

/* ---- a shell command's output ---- */

static char *sh_out(int *rc, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t k;
    while (out && (k = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (n + 1 == cap) {
            char *q = realloc(out, cap *= 2);
            if (!q) {
                free(out);
                out = NULL;
            }
            out = q;
        }
    }
    int st = pclose(p);
    if (rc)
        *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (out)
        out[n] = 0;
    return out;
}

/* curl ARGS against the server: the status code, the body in *body (malloc'd),
 * the headers in *headers (malloc'd) when asked. */
static int curl(const server *s, char **body, char **headers, const char *path, const char *fmt,
                ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char bf[300], hf[300];
    snprintf(bf, sizeof bf, "%s/curl.body", tmpdir);
    snprintf(hf, sizeof hf, "%s/curl.head", tmpdir);
    unlink(bf);
    unlink(hf);
    int rc;
    char *code = sh_out(&rc,
                        "curl -s -m 120 -o %s -D %s -w '%%{http_code}' %s "
                        "'http://127.0.0.1:%d%s'",
                        bf, hf, args, s->port, path);
    int status = code ? atoi(code) : -1;
    free(code);
    size_t n;
    if (body)
        *body = (char *)read_file(bf, &n);
    if (headers)
        *headers = (char *)read_file(hf, &n);
    return status;
}

/* ---- raw HTTP over a socket (the tests' client for malformed requests and load) ---- */

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {120, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

typedef struct response {
    int status; /* 0: the connection closed with no answer */
    char *raw;  /* headers and body, NUL-terminated */
    size_t len;
    const char *body;
} response;

/* Reads until the server closes the connection (requests say Connection: close). */
static void read_response(int fd, response *r)
{
    size_t cap = 1 << 14;
    r->raw = malloc(cap);
    r->len = 0;
    r->status = 0;
    r->body = NULL;
    for (;;) {
        if (r->len + 1 == cap)
            r->raw = realloc(r->raw, cap *= 2);
        ssize_t k = recv(fd, r->raw + r->len, cap - r->len - 1, 0);
        if (k <= 0)
            break;
        r->len += (size_t)k;
    }
    r->raw[r->len] = 0;
    if (r->len > 12 && !strncmp(r->raw, "HTTP/1.1 ", 9))
        r->status = atoi(r->raw + 9);
    char *e = strstr(r->raw, "\r\n\r\n");
    r->body = e ? e + 4 : r->raw + r->len;
}

static void response_free(response *r)
{
    free(r->raw);
    r->raw = NULL;
}

/* POST path with body (raw); Connection: close. */
static int post_raw(int port, const char *path, const void *body, size_t len, response *r)
{
    int fd = connect_to(port);
    if (fd < 0)
        return -1;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     path, len);
    if (send_all(fd, head, (size_t)n) || send_all(fd, body, len)) {
        close(fd);
        return -1;
    }
    read_response(fd, r);
    close(fd);
    return 0;
}

static int get_raw(int port, const char *path, response *r)
{
    int fd = connect_to(port);
    if (fd < 0)
        return -1;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (send_all(fd, head, (size_t)n)) {
        close(fd);
        return -1;
    }
    read_response(fd, r);
    close(fd);
    return 0;
}

/* ---- what predict --json says (the reference) ---- */

typedef struct reference {
    int w, h;
    char *detections; /* the "detections": [...] text of the JSON line */
} reference;

static reference ref640[NSAMPLES], ref160[NSAMPLES], ref_opts[NSAMPLES];

/* The `"detections": [...]` part of a JSON object's text (NULL if absent):
 * up to the bracket that closes the array, strings skipped. */
static char *detections_text(const char *json)
{
    const char *p = strstr(json, "\"detections\": [");
    if (!p)
        return NULL;
    const char *e = strchr(p, '[');
    int depth = 0, in_str = 0;
    for (; *e; e++) {
        if (in_str) {
            if (*e == '\\' && e[1])
                e++;
            else if (*e == '"')
                in_str = 0;
        } else if (*e == '"') {
            in_str = 1;
        } else if (*e == '[') {
            depth++;
        } else if (*e == ']' && --depth == 0) {
            break;
        }
    }
    if (!*e)
        return NULL;
    size_t n = (size_t)(e + 1 - p);
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static int load_reference(reference *ref, const char *opts)
{
    int rc;
    char *out = sh_out(&rc, "%s predict %s %s %s %s --quiet --json - 2>/dev/null", cli(),
                       samples[0], samples[1], samples[2], samples[3]);
    (void)opts;
    if (opts && *opts) {
        free(out);
        out = sh_out(&rc, "%s predict %s %s %s %s %s --quiet --json - 2>/dev/null", cli(),
                     samples[0], samples[1], samples[2], samples[3], opts);
    }
    if (!out || rc)
        return -1;
    int found = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        if (!j)
            continue;
        const char *img = cJSON_GetStringValue(cJSON_GetObjectItem(j, "image"));
        for (int i = 0; i < NSAMPLES && img; i++)
            if (!strcmp(img, samples[i])) {
                ref[i].w = cJSON_GetObjectItem(j, "width")->valueint;
                ref[i].h = cJSON_GetObjectItem(j, "height")->valueint;
                ref[i].detections = detections_text(line);
                found += ref[i].detections != NULL;
            }
        cJSON_Delete(j);
    }
    free(out);
    return found == NSAMPLES ? 0 : -1;
}

/* A /v1/detect answer equals predict's line for the same image: same size,
 * same detections, number for number (one JSON writer, %.9g). */
static int same_as_reference(const char *body, const reference *ref, char *why, size_t cap)
{
    cJSON *j = cJSON_Parse(body);
    if (!j) {
        snprintf(why, cap, "not JSON: %.200s", body);
        return 0;
    }
    int ok = cJSON_IsNumber(cJSON_GetObjectItem(j, "width")) &&
             cJSON_GetObjectItem(j, "width")->valueint == ref->w &&
             cJSON_GetObjectItem(j, "height")->valueint == ref->h &&
             cJSON_IsString(cJSON_GetObjectItem(j, "model")) &&
             cJSON_IsNumber(cJSON_GetObjectItem(j, "time_ms")) &&
             cJSON_IsArray(cJSON_GetObjectItem(j, "detections"));
    cJSON_Delete(j);
    char *d = detections_text(body);
    ok = ok && d && !strcmp(d, ref->detections);
    if (!ok)
        snprintf(why, cap, "%.300s\n  predict: %.300s", body, ref->detections);
    free(d);
    return ok;
}

/* ---- the tests ---- */

static server main_srv; /* --workers 2 --queue 64 --timeout 2, shared by most tests */

static int need_main(void)
{
    return main_srv.pid > 0 && ref640[0].detections && server_alive(&main_srv);
}

static void test_endpoints(void)
{
    if (!have_curl)
        SKIP("no curl (Debian package curl; scripts/install-deps.sh installs it)");
    REQUIRE(need_main());
    char *body, *head;
    int code = curl(&main_srv, &body, &head, "/healthz", "");
    CHECK_MSG(code == 200 && body && strstr(body, "\"status\": \"ok\""), "%d %s", code, body);
    free(body);
    free(head);

    code = curl(&main_srv, &body, &head, "/v1/models", "");
    CHECK(code == 200 && head && strstr(head, "Content-Type: application/json"));
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    cJSON *m = j ? cJSON_GetArrayItem(cJSON_GetObjectItem(j, "models"), 0) : NULL;
    REQUIRE(m);
    CHECK(cJSON_GetObjectItem(m, "imgsz")->valueint == 640);
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "classes"), 0)),
                  "face"));
    /* the content hash is the bundled file's, as sha256sum computes it */
    int rc;
    char *sum = sh_out(&rc, "sha256sum models/default.safetensors");
    const char *h = cJSON_GetStringValue(cJSON_GetObjectItem(m, "sha256"));
    CHECK_MSG(sum && h && strlen(h) == 64 && !strncmp(sum, h, 64), "%s vs %s", h, sum);
    free(sum);
    cJSON_Delete(j);
    free(body);
    free(head);

    code = curl(&main_srv, &body, &head, "/", "");
    CHECK(code == 200 && head && strstr(head, "Content-Type: text/html"));
    CHECK(body && strstr(body, "<title>animeface</title>") && strstr(body, "/v1/detect") &&
          !strstr(body, "src=\"http") && !strstr(body, "href=\"http"));
    free(body);
    free(head);

    code = curl(&main_srv, &body, NULL, "/healthz", "-I");
    CHECK(code == 200);
    free(body);

    /* a detect first, so that the metrics have a detect line and a latency histogram */
    code = curl(&main_srv, &body, NULL, "/v1/detect", "--data-binary @%s", samples[0]);
    CHECK(code == 200);
    free(body);
    code = curl(&main_srv, &body, &head, "/metrics", "");
    CHECK(code == 200 && head && strstr(head, "Content-Type: text/plain"));
    CHECK_MSG(
        body &&
            strstr(body, "animeface_http_requests_total{endpoint=\"/v1/detect\",code=\"200\"}") &&
            strstr(body, "animeface_http_requests_total{endpoint=\"/healthz\",code=\"200\"}") &&
            strstr(body, "animeface_http_request_duration_seconds_bucket{endpoint=\"/v1/"
                         "detect\",le=\"+Inf\"}") &&
            strstr(body, "animeface_queue_depth 0") && strstr(body, "animeface_queue_capacity 64"),
        "%s", body);
    free(body);
    free(head);
}

static void test_detect_matches_predict(void)
{
    if (!have_curl)
        SKIP("no curl");
    REQUIRE(need_main());
    char why[800];
    for (int i = 0; i < NSAMPLES; i++) {
        char *body;
        /* the raw body */
        int code = curl(&main_srv, &body, NULL, "/v1/detect",
                        "--data-binary @%s -H 'Content-Type: image/jpeg'", samples[i]);
        CHECK_MSG(code == 200 && body && same_as_reference(body, &ref640[i], why, sizeof why),
                  "%s raw: %d %s", samples[i], code, why);
        free(body);
        /* multipart, curl's default Content-Type for --data-binary (form-urlencoded) too */
        code = curl(&main_srv, &body, NULL, "/v1/detect", "-F image=@%s", samples[i]);
        CHECK_MSG(code == 200 && body && same_as_reference(body, &ref640[i], why, sizeof why),
                  "%s multipart: %d %s", samples[i], code, why);
        free(body);
        code = curl(&main_srv, &body, NULL, "/v1/detect", "--data-binary @%s", samples[i]);
        CHECK_MSG(code == 200 && body && same_as_reference(body, &ref640[i], why, sizeof why),
                  "%s urlencoded label: %d %s", samples[i], code, why);
        free(body);
        /* options as query and as form fields, against predict with the same ones */
        code = curl(&main_srv, &body, NULL,
                    "/v1/detect?conf=0.1&iou=0.5&imgsz=320&max_det=3&classes=0",
                    "--data-binary @%s", samples[i]);
        CHECK_MSG(code == 200 && body && same_as_reference(body, &ref_opts[i], why, sizeof why),
                  "%s query options: %d %s", samples[i], code, why);
        free(body);
        code = curl(&main_srv, &body, NULL, "/v1/detect?conf=0.9",
                    "-F image=@%s -F conf=0.1 -F iou=0.5 -F imgsz=320 -F max_det=3 -F classes=0",
                    samples[i]);
        CHECK_MSG(code == 200 && body && same_as_reference(body, &ref_opts[i], why, sizeof why),
                  "%s form options (over the query's): %d %s", samples[i], code, why);
        free(body);
    }
}

static void expect_error(const server *s, int want, const char *needle, const char *path,
                         const char *args_fmt, const char *arg)
{
    char *body, *head, args[1024];
    snprintf(args, sizeof args, args_fmt, arg);
    int code = curl(s, &body, &head, path, "%s", args);
    CHECK_MSG(code == want && body && strstr(body, "\"error\": ") && strstr(body, needle),
              "%s %s: want %d '%s', got %d %s", path, args, want, needle, code, body);
    free(body);
    free(head);
}

static void test_errors(void)
{
    if (!have_curl)
        SKIP("no curl");
    REQUIRE(need_main());
    char big[300], big15[300], half[300], text[300];
    snprintf(big, sizeof big, "%s/big.bin", tmpdir);
    snprintf(big15, sizeof big15, "%s/big15.bin", tmpdir);
    snprintf(half, sizeof half, "%s/half.jpg", tmpdir);
    snprintf(text, sizeof text, "%s/text.txt", tmpdir);
    size_t n;
    unsigned char *jpg = read_file(samples[0], &n);
    REQUIRE(jpg);
    CHECK(!write_file(half, jpg, n / 2));
    free(jpg);
    unsigned char *zeros = calloc(3 << 20, 1);
    CHECK(zeros && !write_file(big, zeros, 3 << 20));
    CHECK(zeros && !write_file(big15, zeros, 3 << 19));
    free(zeros);
    CHECK(!write_file(text, "hello, not an image\n", 20));

    server lim;
    REQUIRE_MSG_START(&lim, "--workers 1 --max-upload 1 --max-pixels 100000 --max-imgsz 640");
    /* 413: over --max-upload, told by Content-Length or found while reading a chunked body */
    expect_error(&lim, 413, "upload limit", "/v1/detect", "--data-binary @%s", big);
    expect_error(&lim, 413, "upload limit", "/v1/detect", "-F image=@%s", big);
    /* (a chunked body is read to its end, up to twice the limit, so that the client
     * gets its 413; past that the connection is closed) */
    expect_error(&lim, 413, "upload limit", "/v1/detect",
                 "-H 'Transfer-Encoding: chunked' --data-binary @%s", big15);
    /* 400: the decoder's reason, the pixel limit, bad options, no image */
    expect_error(&lim, 400, "not a recognised image", "/v1/detect", "--data-binary @%s", text);
    expect_error(&main_srv, 400, "truncated JPEG data", "/v1/detect", "--data-binary @%s", half);
    expect_error(&lim, 400, "over the limit of 100000 pixels", "/v1/detect", "--data-binary @%s",
                 samples[0]);
    expect_error(&main_srv, 400, "conf: '2' is not a number", "/v1/detect?conf=2",
                 "--data-binary @%s", samples[0]);
    expect_error(&main_srv, 400, "imgsz", "/v1/detect", "-F imgsz=99999 -F image=@%s", samples[0]);
    expect_error(&lim, 400, "imgsz", "/v1/detect?imgsz=1280", "--data-binary @%s", samples[0]);
    expect_error(&main_srv, 400, "max_det", "/v1/detect?max_det=x", "--data-binary @%s",
                 samples[0]);
    expect_error(&main_srv, 400, "at most 300 faces", "/v1/crop?max_det=1000",
                 "--data-binary @%s", samples[0]);
    expect_error(&main_srv, 400, "format", "/v1/crop?format=gif", "--data-binary @%s", samples[0]);
    expect_error(&main_srv, 400, "no image", "/v1/detect", "-X POST%s", "");
    expect_error(&main_srv, 400, "no file field 'image'", "/v1/detect", "-F conf=0.5%s", "");
    /* 404, 405 with Allow */
    expect_error(&main_srv, 404, "no such path", "/v2/detect", "%s", "");
    expect_error(&main_srv, 404, "no such path", "/../../etc/passwd", "--path-as-is%s", "");
    char *body, *head;
    int code = curl(&main_srv, &body, &head, "/v1/detect", "");
    CHECK_MSG(code == 405 && head && strstr(head, "Allow: POST"), "%d %s", code, head);
    free(body);
    free(head);
    code = curl(&main_srv, &body, &head, "/healthz", "-X POST -d x=1");
    CHECK_MSG(code == 405 && head && strstr(head, "Allow: GET, HEAD"), "%d %s", code, head);
    free(body);
    free(head);
    code = curl(&main_srv, &body, &head, "/v1/models", "-X DELETE");
    CHECK(code == 405);
    free(body);
    free(head);
    /* the errors are counted by endpoint and code */
    code = curl(&lim, &body, NULL, "/metrics", "");
    CHECK_MSG(
        body &&
            strstr(body, "animeface_http_errors_total{endpoint=\"/v1/detect\",code=\"413\"} 3") &&
            strstr(body, "animeface_http_errors_total{endpoint=\"/v1/detect\",code=\"400\"} 3"),
        "%s", body);
    free(body);
    CHECK(server_alive(&lim) && server_alive(&main_srv));
    CHECK(server_stop(&lim) == 0);
}

/* 503 + Retry-After when the queue is full: one worker, one place in the queue,
 * eight requests at once. */
typedef struct client_arg {
    int port, index, nreq, ok, failed, s503, retry_after;
    const char *path;
    const reference *ref;
    char why[600];
} client_arg;

static unsigned char *sample_bytes[NSAMPLES];
static size_t sample_len[NSAMPLES];

static void *client_main(void *p)
{
    client_arg *a = p;
    for (int k = 0; k < a->nreq; k++) {
        int i = (a->index + k) % NSAMPLES;
        response r;
        if (post_raw(a->port, a->path, sample_bytes[i], sample_len[i], &r)) {
            a->failed++;
            snprintf(a->why, sizeof a->why, "cannot connect or send");
            continue;
        }
        if (r.status == 503) {
            a->s503++;
            a->retry_after += strstr(r.raw, "Retry-After: 1\r\n") != NULL;
        } else if (r.status == 200 &&
                   (!a->ref || same_as_reference(r.body, &a->ref[i], a->why, sizeof a->why))) {
            a->ok++;
        } else {
            a->failed++;
            if (r.status != 200)
                snprintf(a->why, sizeof a->why, "status %d: %.300s", r.status, r.raw);
        }
        response_free(&r);
    }
    return NULL;
}

static void start_clients(client_arg *a, pthread_t *t, int n, int port, int nreq, const char *path,
                          const reference *ref)
{
    for (int i = 0; i < n; i++) {
        a[i] = (client_arg){.port = port, .index = i, .nreq = nreq, .path = path, .ref = ref};
        pthread_create(&t[i], NULL, client_main, &a[i]);
    }
}

/* Waits for the clients; the sums of their counts in *sum (why: unused). */
static void join_clients(client_arg *a, pthread_t *t, int n, client_arg *sum)
{
    memset(sum, 0, sizeof *sum);
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        sum->ok += a[i].ok;
        sum->failed += a[i].failed;
        sum->s503 += a[i].s503;
        sum->retry_after += a[i].retry_after;
        if (a[i].failed)
            fprintf(stderr, "  client %d: %d failed, %d 503: %s\n", i, a[i].failed, a[i].s503,
                    a[i].why);
    }
}

static void test_queue_full_503(void)
{
    REQUIRE(ref640[0].detections);
    server s;
    REQUIRE_MSG_START(&s, "--workers 1 --threads 1 --queue 1");
    enum { N = 8 };
    client_arg a[N];
    pthread_t t[N];
    start_clients(a, t, N, s.port, 1, "/v1/detect", ref640);
    client_arg sum;
    join_clients(a, t, N, &sum);
    int ok = sum.ok, s503 = sum.s503, retry = sum.retry_after, failed = sum.failed;
    /* at least the first is answered (a second may wait in the queue, if the worker has
     * taken the first by then); every other one gets 503 at once */
    CHECK_MSG(ok >= 1 && s503 >= 1 && ok + s503 == N && retry == s503 && failed == 0,
              "%d ok, %d 503 (%d with Retry-After), %d failed", ok, s503, retry, failed);
    CHECK(server_stop(&s) == 0);
}

#ifdef __SANITIZE_ADDRESS__
#define RSS_LIMIT_MIB 1200 /* shadow memory, and up to 256 MiB of freed blocks in quarantine */
#else
#define RSS_LIMIT_MIB 400
#endif

/* 16 clients, 400 requests in all, every answer equal to predict's; the
 * server's peak RSS stays bounded. */
static void test_concurrent_clients(void)
{
    REQUIRE(need_main());
    enum { NC = 16, PER = 25 };
    client_arg a[NC];
    pthread_t t[NC];
    double t0 = now_s();
    start_clients(a, t, NC, main_srv.port, PER, "/v1/detect?imgsz=160", ref160);
    client_arg sum;
    join_clients(a, t, NC, &sum);
    int ok = sum.ok, failed = sum.failed, s503 = sum.s503;
    double dt = now_s() - t0;
    long rss = server_peak_rss_kb(&main_srv);
    fprintf(stderr, "  %d answers in %.1f s (%.1f/s), server peak RSS %ld MiB\n", ok, dt, ok / dt,
            rss >> 10);
    CHECK_MSG(ok == NC * PER && failed == 0 && s503 == 0, "%d ok, %d failed, %d 503", ok, failed,
              s503);
    /* two workers' contexts at 640 and 160, the model, 16 bodies: ~120 MiB (~500 MiB
     * under ASan); an unbounded leak or queue would be far over */
    CHECK_MSG(rss > 0 && rss < RSS_LIMIT_MIB * 1024, "peak RSS %ld KiB", rss);
}

/* Sends raw bytes, then waits for the server's answer or its closing the
 * connection; returns the status (0: closed without one) and the seconds taken. */
static int raw_exchange(int port, const char *data, size_t len, double *secs)
{
    int fd = connect_to(port);
    if (fd < 0)
        return -1;
    double t0 = now_s();
    send_all(fd, data, len);
    response r;
    read_response(fd, &r);
    close(fd);
    if (secs)
        *secs = now_s() - t0;
    int st = r.status;
    response_free(&r);
    return st;
}

static int still_answers(void)
{
    response r;
    if (get_raw(main_srv.port, "/healthz", &r))
        return 0;
    int ok = r.status == 200;
    response_free(&r);
    if (post_raw(main_srv.port, "/v1/detect", sample_bytes[1], sample_len[1], &r))
        return 0;
    char why[800];
    ok = ok && r.status == 200 && same_as_reference(r.body, &ref640[1], why, sizeof why);
    response_free(&r);
    return ok;
}

static void test_malformed_requests(void)
{
    REQUIRE(need_main());
    int port = main_srv.port;
    char buf[4096];
    double secs;
    /* a multipart body whose closing boundary never comes (Content-Length fits what is sent) */
    const char *part =
        "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n";
    size_t plen = strlen(part), jl = sample_len[0] / 2;
    char *mp = malloc(plen + jl + 512);
    memcpy(mp, part, plen);
    memcpy(mp + plen, sample_bytes[0], jl);
    int n =
        snprintf(buf, sizeof buf,
                 "POST /v1/detect HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: %zu\r\n\r\n",
                 plen + jl);
    char *req = malloc((size_t)n + plen + jl);
    memcpy(req, buf, (size_t)n);
    memcpy(req + n, mp, plen + jl);
    int st = raw_exchange(port, req, (size_t)n + plen + jl, &secs);
    CHECK_MSG(st == 400, "truncated multipart: %d", st);
    /* the same, the client gone half way */
    int fd = connect_to(port);
    if (fd >= 0) {
        n = snprintf(
            buf, sizeof buf,
            "POST /v1/detect HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: %zu\r\n\r\n",
            plen + sample_len[0] + 8);
        send_all(fd, buf, (size_t)n);
        send_all(fd, mp, plen + jl);
        close(fd);
    }
    free(req);
    free(mp);
    CHECK(still_answers());

    /* huge headers: refused by MHD's per-connection memory limit */
    size_t hl = 200 * 1024;
    char *huge = malloc(hl + 256);
    n = snprintf(huge, 256, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ");
    memset(huge + n, 'a', hl);
    memcpy(huge + n + hl, "\r\n\r\n", 4);
    st = raw_exchange(port, huge, (size_t)n + hl + 4, &secs);
    CHECK_MSG(st == 431 || st == 413 || st == 0, "huge header: %d", st);
    /* many header lines */
    size_t k = 0;
    k += (size_t)sprintf(huge + k, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    while (k < hl)
        k += (size_t)sprintf(huge + k, "X-H%zu: v\r\n", k);
    k += (size_t)sprintf(huge + k, "\r\n");
    st = raw_exchange(port, huge, k, &secs);
    CHECK_MSG(st == 431 || st == 413 || st == 0, "many headers: %d", st);
    free(huge);
    CHECK(still_answers());

    /* wrong Content-Length: not a number; shorter than the body (the rest is garbage
     * for the next request); longer than what comes (the connection times out) */
    n = snprintf(buf, sizeof buf,
                 "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n"
                 "Connection: close\r\n\r\nxyz");
    st = raw_exchange(port, buf, (size_t)n, &secs);
    CHECK_MSG(st == 400 || st == 0, "Content-Length abc: %d", st);
    n = snprintf(buf, sizeof buf,
                 "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
                 "0123456789 garbage that is no request \r\n\r\n");
    st = raw_exchange(port, buf, (size_t)n, &secs);
    CHECK_MSG(st == 400, "Content-Length too short: %d", st);
    n = snprintf(buf, sizeof buf,
                 "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                 "Connection: close\r\n\r\nonly this");
    st = raw_exchange(port, buf, (size_t)n, &secs);
    CHECK_MSG(st == 0 && secs < 10, "Content-Length too long: %d after %.1f s", st, secs);
    CHECK(still_answers());

    /* a slow body, one byte every 200 ms: cut at the request deadline (--timeout 2) */
    fd = connect_to(port);
    REQUIRE(fd >= 0);
    n = snprintf(buf, sizeof buf,
                 "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n"
                 "Connection: close\r\n\r\n");
    send_all(fd, buf, (size_t)n);
    double t0 = now_s();
    int sent = 0, broke = 0;
    while (sent < 200 && now_s() - t0 < 20) {
        if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) {
            broke = 1;
            break;
        }
        sent++;
        /* the server closes its end; see it as soon as it happens */
        struct timeval tv = {0, 200 * 1000};
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(fd, &rs);
        if (select(fd + 1, &rs, NULL, NULL, &tv) > 0) {
            char c;
            if (recv(fd, &c, 1, MSG_DONTWAIT) <= 0) {
                broke = 1;
                break;
            }
        }
    }
    close(fd);
    CHECK_MSG(broke && now_s() - t0 < 8, "slow body: %d bytes sent over %.1f s, closed %d", sent,
              now_s() - t0, broke);
    /* a stalled client: headers, then nothing */
    n = snprintf(buf, sizeof buf,
                 "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
    st = raw_exchange(port, buf, (size_t)n, &secs);
    CHECK_MSG(st == 0 && secs < 10, "stalled: %d after %.1f s", st, secs);
    /* half a request line */
    st = raw_exchange(port, "GET /hea", 8, &secs);
    CHECK_MSG(st == 0 && secs < 10, "half a request line: %d after %.1f s", st, secs);
    /* not HTTP at all */
    st = raw_exchange(port, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 binary\r\n\r\n", 20,
                      &secs);
    CHECK_MSG(st == 400 || st == 0, "binary: %d", st);
    CHECK(still_answers());
    CHECK(server_alive(&main_srv));
    /* the dropped ones are counted */
    response r;
    if (!get_raw(port, "/metrics", &r)) {
        CHECK_MSG(
            strstr(r.body, "animeface_http_errors_total{endpoint=\"/v1/detect\",code=\"none\"}"),
            "%s", r.body);
        response_free(&r);
    }
}

static void test_crop_zip(void)
{
    if (!have_curl)
        SKIP("no curl");
    REQUIRE(need_main());
    char zpath[300];
    snprintf(zpath, sizeof zpath, "%s/crops.zip", tmpdir);
    char args[600];
    /* grown by half the box on each side, square, 128 px */
    snprintf(args, sizeof args, "-F image=@%s -F margin=0.5 -F square=1 -F size=128 -o %s",
             samples[0], zpath);
    int rc;
    char *code = sh_out(&rc,
                        "curl -s -m 120 -w '%%{http_code} %%{content_type}' %s "
                        "'http://127.0.0.1:%d/v1/crop'",
                        args, main_srv.port);
    CHECK_MSG(code && !strcmp(code, "200 application/zip"), "%s", code);
    free(code);
    int zerr;
    zip_t *z = zip_open(zpath, ZIP_RDONLY, &zerr);
    REQUIRE(z);
    zip_stat_t zs;
    REQUIRE(zip_stat(z, "manifest.jsonl", 0, &zs) == 0);
    char *man = calloc(zs.size + 1, 1);
    zip_file_t *zf = zip_fopen(z, "manifest.jsonl", 0);
    REQUIRE(zf && zip_fread(zf, man, zs.size) == (zip_int64_t)zs.size);
    zip_fclose(zf);
    /* predict's boxes for this image, conf 0.25 */
    cJSON *ref = cJSON_Parse(strchr(ref640[0].detections, '['));
    REQUIRE(ref);
    int nref = cJSON_GetArraySize(ref), nrec = 0;
    CHECK(zip_get_num_entries(z, 0) == nref + 1);
    for (char *line = strtok(man, "\n"); line; line = strtok(NULL, "\n"), nrec++) {
        cJSON *j = cJSON_Parse(line);
        REQUIRE(j);
        cJSON *d = cJSON_GetArrayItem(ref, nrec);
        REQUIRE(d);
        double b[4], r[4];
        for (int k = 0; k < 4; k++) {
            b[k] = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "box"), k)->valuedouble;
            r[k] = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rect"), k)->valuedouble;
            CHECK(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "box"), k)->valuedouble == b[k]);
        }
        /* by hand: side = ceil(max(2w, 2h)) (margin 0.5 twice), centred on the box,
         * rounded, inside the 640x417 image */
        double w = b[2] - b[0], h = b[3] - b[1];
        int side = (int)ceil(2 * (w > h ? w : h));
        if (side > 417)
            side = 417;
        int x0 = (int)lround((b[0] + b[2]) / 2 - side / 2.0);
        int y0 = (int)lround((b[1] + b[3]) / 2 - side / 2.0);
        x0 = x0 < 0 ? 0 : x0 > 640 - side ? 640 - side : x0;
        y0 = y0 < 0 ? 0 : y0 > 417 - side ? 417 - side : y0;
        CHECK_MSG(r[0] == x0 && r[1] == y0 && r[2] == x0 + side && r[3] == y0 + side,
                  "rect %g %g %g %g, by hand %d %d %d %d", r[0], r[1], r[2], r[3], x0, y0,
                  x0 + side, y0 + side);
        if (nrec == 0) /* worked on paper: box 261.75,96.75-394.32,187.76 */
            CHECK(r[0] == 195 && r[1] == 9 && r[2] == 461 && r[3] == 275);
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(j, "crop"));
        REQUIRE(file && zip_stat(z, file, 0, &zs) == 0);
        unsigned char *img = malloc(zs.size);
        zf = zip_fopen(z, file, 0);
        REQUIRE(zf && zip_fread(zf, img, zs.size) == (zip_int64_t)zs.size);
        zip_fclose(zf);
        af_image im = {0};
        CHECK(af_image_decode(img, zs.size, file, NULL, &im, NULL) == AF_OK && im.w == 128 &&
              im.h == 128);
        af_image_free(&im);
        free(img);
        cJSON_Delete(j);
    }
    CHECK(nrec == nref);
    cJSON_Delete(ref);
    free(man);
    zip_close(z);

    /* no margin, no resize, PNG: the crop's pixels are the image's own */
    snprintf(args, sizeof args, "-F image=@%s -F format=png -o %s", samples[1], zpath);
    code = sh_out(&rc, "curl -s -m 120 -w '%%{http_code}' %s 'http://127.0.0.1:%d/v1/crop'", args,
                  main_srv.port);
    CHECK(code && !strcmp(code, "200"));
    free(code);
    z = zip_open(zpath, ZIP_RDONLY, &zerr);
    REQUIRE(z);
    af_image src = {0};
    REQUIRE(af_image_load(samples[1], NULL, &src, NULL) == AF_OK);
    REQUIRE(zip_stat(z, "manifest.jsonl", 0, &zs) == 0);
    man = calloc(zs.size + 1, 1);
    zf = zip_fopen(z, "manifest.jsonl", 0);
    REQUIRE(zf && zip_fread(zf, man, zs.size) == (zip_int64_t)zs.size);
    zip_fclose(zf);
    int checked = 0;
    for (char *line = strtok(man, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        REQUIRE(j);
        int r[4];
        for (int k = 0; k < 4; k++)
            r[k] = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rect"), k)->valueint;
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(j, "crop"));
        REQUIRE(file && zip_stat(z, file, 0, &zs) == 0);
        unsigned char *img = malloc(zs.size);
        zf = zip_fopen(z, file, 0);
        REQUIRE(zf && zip_fread(zf, img, zs.size) == (zip_int64_t)zs.size);
        zip_fclose(zf);
        af_image im = {0};
        REQUIRE(af_image_decode(img, zs.size, file, NULL, &im, NULL) == AF_OK);
        CHECK(im.w == r[2] - r[0] && im.h == r[3] - r[1]);
        int same = 1;
        for (int y = 0; y < im.h && same; y++)
            same = !memcmp(im.data + (size_t)y * im.w * 3,
                           src.data + ((size_t)(r[1] + y) * src.w + r[0]) * 3, (size_t)im.w * 3);
        CHECK_MSG(same, "%s: pixels differ from the source's rect", file);
        checked++;
        af_image_free(&im);
        free(img);
        cJSON_Delete(j);
    }
    CHECK(checked > 0);
    af_image_free(&src);
    free(man);
    zip_close(z);
}

/* SIGTERM while requests are in flight: each is answered in full, then exit 0. */
static void test_graceful_shutdown(void)
{
    REQUIRE(ref640[0].detections);
    server s;
    REQUIRE_MSG_START(&s, "--workers 1 --queue 8");
    enum { N = 4 };
    client_arg a[N];
    pthread_t t[N];
    start_clients(a, t, N, s.port, 1, "/v1/detect", ref640);
    /* wait until all four are in (in flight: the four + this metrics request) */
    int in = 0;
    for (int k = 0; k < 400 && in < N + 1; k++) {
        response r;
        if (!get_raw(s.port, "/metrics", &r)) {
            const char *p = strstr(r.body, "\nanimeface_requests_in_flight ");
            in = p ? atoi(p + 30) : 0;
            response_free(&r);
        }
        if (in < N + 1)
            usleep(5 * 1000);
    }
    CHECK_MSG(in >= N + 1, "only %d in flight", in);
    kill(s.pid, SIGTERM);
    client_arg sum;
    join_clients(a, t, N, &sum);
    int ok = sum.ok, failed = sum.failed + sum.s503;
    CHECK_MSG(ok == N && failed == 0, "%d answered, %d failed", ok, failed);
    int port = s.port;
    int st = -1;
    for (int k = 0; k < 600; k++) {
        int w;
        if (waitpid(s.pid, &w, WNOHANG) == s.pid) {
            st = WIFEXITED(w) ? WEXITSTATUS(w) : -1;
            s.pid = 0;
            break;
        }
        usleep(50 * 1000);
    }
    CHECK_MSG(st == 0, "exit status %d", st);
    if (s.pid)
        server_stop(&s);
    int fd = connect_to(port);
    CHECK(fd < 0);
    if (fd >= 0)
        close(fd);
    size_t n;
    char *log = (char *)read_file(s.log, &n);
    CHECK_MSG(log && strstr(log, "stopping: finishing") && strstr(log, "stopped"), "%s", log);
    free(log);
}

static void test_page_in_chromium(void)
{
    REQUIRE(need_main());
    const char *b = getenv("AF_BUILD");
    char shot[512], url[64];
    snprintf(shot, sizeof shot, "%s/serve-page.png", b && *b ? b : "build/release");
    snprintf(url, sizeof url, "http://127.0.0.1:%d", main_srv.port);
    if (access("/usr/bin/python3", X_OK))
        SKIP("no /usr/bin/python3 (Debian's python3, for selenium)");
    int rc;
    char *out =
        sh_out(&rc, "/usr/bin/python3 tests/serve_page.py %s %s %s 2>&1", url, samples[0], shot);
    if (rc == 77) {
        char why[300];
        snprintf(why, sizeof why, "%s", out ? out : "");
        free(out);
        SKIP("%s", why);
    }
    CHECK_MSG(rc == 0, "%s", out);
    if (!rc)
        fprintf(stderr, "  %s", out);
    struct stat st;
    CHECK(stat(shot, &st) == 0 && st.st_size > 10000);
    free(out);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/af_test_serve_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "cannot create a temporary folder\n");
        return 1;
    }
    int rc;
    free(sh_out(&rc, "command -v curl >/dev/null 2>&1"));
    have_curl = rc == 0;
    for (int i = 0; i < NSAMPLES; i++)
        sample_bytes[i] = read_file(samples[i], &sample_len[i]);
    if (load_reference(ref640, "") || load_reference(ref160, "--imgsz 160") ||
        load_reference(ref_opts, "--conf 0.1 --iou 0.5 --imgsz 320 --max-det 3 --classes 0"))
        fprintf(stderr, "animeface predict --json on the samples failed (%s)\n", cli());
    if (server_start(&main_srv, "--workers 2 --queue 64 --timeout 2"))
        fprintf(stderr, "animeface serve did not start (%s)\n", main_srv.log);
    RUN(test_endpoints);
    RUN(test_detect_matches_predict);
    RUN(test_errors);
    RUN(test_crop_zip);
    RUN(test_concurrent_clients);
    RUN(test_malformed_requests);
    RUN(test_queue_full_503);
    RUN(test_page_in_chromium);
    RUN(test_graceful_shutdown);
    int st = server_stop(&main_srv);
    if (st != 0)
        fprintf(stderr, "the shared server stopped with status %d\n", st);
    free(sh_out(&rc, "rm -rf %s", tmpdir));
    for (int i = 0; i < NSAMPLES; i++) {
        free(sample_bytes[i]);
        free(ref640[i].detections);
        free(ref160[i].detections);
        free(ref_opts[i].detections);
    }
    return t_summary();
}
